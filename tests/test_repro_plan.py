"""The cost plan (``python -m paper_repro plan``): its counts are those of the experiments'
run lists, its arithmetic is the formula of :mod:`paper_repro.cost`, every model is
probed once on seeded synthetic input of the right shape, and the command prints and
writes the plan.  Times are never asserted (a probe is replaced by a fixed one where the
arithmetic is checked)."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import get_experiment  # noqa: E402
from paper_repro.__main__ import main  # noqa: E402
from paper_repro.config import NetworkSpec, TrainSpec  # noqa: E402
from paper_repro.cost import StepProbe, cost_plan, probe  # noqa: E402

FIXED = StepProbe(seconds_per_step=0.25, eval_seconds_per_image=0.002, batch_size=128, steps=1, warmup=0, eval_images=1)


def fixed(*args, **kw) -> StepProbe:
    return FIXED


def test_e5_full_counts_and_device_hours_follow_the_formula():
    plan = cost_plan(["E5"], "full", measure=fixed)
    [e5] = plan.experiments
    cfg = get_experiment("E5").profiles["full"]
    per_row = len(cfg.sparsities) * cfg.seeds
    assert [(r.model, r.dataset, r.runs) for r in e5.rows] == [
        (f"{v}resnet{d}x1", "cifar10", per_row) for d in cfg.depths for v in ("", "stable-")
    ]
    for r in e5.rows:
        # CIFAR-10: 50,000 training and 10,000 test images; batch 128; evaluated after every epoch
        assert (r.epochs, r.batch_size, r.steps_per_epoch, r.evals_per_run, r.test_size) == (160, 128, 391, 160, 10000)
        assert r.device_hours == pytest.approx(per_row * (160 * 391 * 0.25 + 160 * 10000 * 0.002) / 3600, rel=1e-12)
    assert e5.training_runs == len(get_experiment("E5").runs(cfg)) == 54
    assert e5.epochs == 54 * 160 and e5.steps == 54 * 160 * 391 and e5.pruning_runs == 0
    assert plan.device_hours == pytest.approx(sum(r.device_hours for r in e5.rows))


def test_e6_full_counts_training_and_mask_only_runs_per_dataset():
    from paper_repro.experiments.e6_methods import _bn_runs, _stable_masks, _train_runs

    cfg = get_experiment("E6").profiles["full"]
    [e6] = cost_plan(["E6"], "full", measure=fixed).experiments
    table, compared = [t[-1] for t in _train_runs(cfg)], [t[-1] for t in _bn_runs(cfg)]
    # the BatchNorm-mode comparison adds its train-mode runs; its eval-mode runs are the table's
    assert len(set(table)) == len(table) and set(table) >= {r for r in compared if r.prune.bn_mode == cfg.prune.bn_mode}
    assert e6.training_runs == len(set(table + compared)) == len(table) + len(compared) // 2
    assert e6.pruning_runs == len(_stable_masks(cfg))
    steps = {r.dataset: r.steps_per_epoch for r in e6.rows}
    assert steps == {"cifar10": 391, "cifar100": 391, "tinyimagenet": math.ceil(100000 / 128)}
    by_model = {(r.model, r.dataset): r.runs for r in e6.rows}
    # six methods on a standard ResNet (SBP-SR on its Stable twin), five on the VGG; 3 sparsities x 3 seeds;
    # plus SNIP and GraSP (SBP-SR on the Stable twin) scored with BatchNorm in train mode
    assert by_model[("resnet32x1", "cifar10")] == (5 + 2) * 9 and by_model[("stable-resnet32x1", "tinyimagenet")] == 2 * 9
    assert by_model[("vgg19-bnx1", "cifar100")] == (5 + 2) * 9


def test_each_model_is_probed_once_across_experiments():
    calls = []

    def counting(network, dataset, train, *, sparsity):
        calls.append((network, dataset, train.batch_size, train.augment, sparsity > 0))
        return FIXED

    plan = cost_plan(["E5", "E6"], "full", measure=counting)
    keys = {(r.model, r.dataset) for e in plan.experiments for r in e.rows}
    assert len(calls) == len(set(calls)) == len(keys)  # E6's ResNet32 rows reuse E5's probes (same model and spec)


def test_runs_shared_between_experiments_are_counted_once():
    """E5's ResNet32 and ResNet50 runs (SNIP, standard and Stable) are E6's SNIP and SBP-SR runs on CIFAR-10."""
    alone = cost_plan(["E6"], "full", measure=fixed).experiments[0]
    e5, e6 = cost_plan(["E5", "E6"], "full", measure=fixed).experiments
    shared = 2 * 2 * 3 * 3  # two depths x two variants x three sparsities x three seeds
    assert (e6.shared_runs, e6.training_runs) == (shared, alone.training_runs - shared) and e5.shared_runs == 0
    rows = {(r.model, r.dataset): r.runs for r in e6.rows}
    assert rows[("resnet32x1", "cifar10")] == rows[("resnet50x1", "cifar10")] == (4 + 2) * 9
    # the Stable ResNet32's SBP-SR runs are E5's, except those scored with BatchNorm in train mode
    assert rows[("stable-resnet32x1", "cifar10")] == 9 and ("stable-resnet104x1", "cifar10") not in rows


def test_set_and_seeds_change_the_plan_as_they_change_the_runs():
    [base] = cost_plan(["E5"], "full", measure=fixed).experiments
    [fewer] = cost_plan(["E5"], "full", seeds=1, overrides={"E5.depths": (32,), "epochs": 10}, measure=fixed).experiments
    assert base.training_runs == 54 and fewer.training_runs == 2 * 3 and {r.epochs for r in fewer.rows} == {10}


def test_experiments_without_training_runs_are_noted():
    plan = cost_plan(["E1", "E9"], "full", measure=fixed)
    e1, e9 = plan.experiments
    assert e1.rows == [] and e1.pruning_runs == 3 * get_experiment("E1").profiles["full"].seeds
    assert e9.note and "not planned" in e9.note and e9.device_hours == 0
    assert "15 pruning-only runs" in plan.format()


def test_the_probe_trains_the_model_on_seeded_input_of_the_dataset_shape(monkeypatch):
    import paper_repro.train as train_mod

    seen = []
    original = train_mod.train_step

    def spy(model, opt, xb, yb, **kw):
        seen.append((tuple(xb.shape), xb.sum().item(), tuple(yb.tolist()), kw["amp"]))
        return original(model, opt, xb, yb, **kw)

    monkeypatch.setattr(train_mod, "train_step", spy)
    net = NetworkSpec(arch="resnet", depth=8, width_multiplier=0.25)
    spec = TrainSpec(batch_size=4, augment=True, weight_decay=1e-4)
    a = probe(net, "cifar100", spec, sparsity=0.9, steps=2, warmup=1, seed=3)
    b = probe(net, "cifar100", spec, sparsity=0.9, steps=2, warmup=1, seed=3)
    assert [s[0] for s in seen] == [(4, 3, 32, 32)] * 6 and seen[:3] == seen[3:]  # seeded: the same batches
    assert all(max(s[2]) < 100 for s in seen)  # CIFAR-100 labels
    for p in (a, b):
        assert (p.batch_size, p.steps, p.warmup, p.eval_images) == (4, 2, 1, 4)  # CPU: one training batch
        assert len(p.step_seconds) == 2 and p.seconds_per_step == pytest.approx(sum(p.step_seconds) / 2)
        assert p.eval_seconds_per_image > 0 and all(t > 0 and math.isfinite(t) for t in p.step_seconds)


def test_plan_command_prints_and_writes_the_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    args = ["plan", "E5", "E9", "--profile", "full", "--seeds", "1", "--set", "E5.depths=(8,)", "--set",
            "E5.width_multiplier=0.125", "--set", "E5.batch_size=4", "--probe-steps", "1", "--probe-warmup", "0",
            "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["profile"] == "full" and data["device"] == "cpu" and data["device_name"]
    [e5, e9] = data["experiments"]
    assert [r["model"] for r in e5["rows"]] == ["resnet8x0.125", "stable-resnet8x0.125"]
    for row in e5["rows"]:
        assert row["runs"] == 3 and row["steps_per_epoch"] == 12500
        assert row["device_hours"] == pytest.approx(row["runs"] * row["seconds_per_run"] / 3600)
        assert f"{row['device_hours']:.4g}" in text
    assert data["device_hours"] == pytest.approx(e5["device_hours"]) and e9["rows"] == []
    assert "E5: 6 training runs, 960 epochs" in text and "Total:" in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--probe-steps", "0"], "probe steps (--probe-steps) must be an integer >= 1"),
        (["--probe-warmup", "-1"], "probe warm-up steps (--probe-warmup) must be an integer >= 0"),
        (["--set", "E5.nope=1"], "experiment E5 has no setting 'nope'"),
    ],
)
def test_plan_bad_input_is_one_line(args, needle, capsys):
    assert main(["plan", "E5", "--set", "E5.depths=(8,)", "--set", "E5.batch_size=2", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
