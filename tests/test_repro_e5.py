"""E5 (standard vs Stable ResNet under SNIP) at tiny size: two depths, the pairing of the two
variants, the depth expectation, summary from numbers, and resuming from the run cache."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.batches import load_tensors  # noqa: E402
from paper_repro.cache import RunCache  # noqa: E402
from paper_repro.config import NetworkSpec, PruneSpec  # noqa: E402
from paper_repro.runs import PruneRun, prune_model  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {"depths": (8, 14), "width_multiplier": 0.25, "sparsities": (0.9,), "epochs": 1,
        "scr_depths": (6, 12), "scr_width": 64, "scr_batch": 64, "scr_replicas": 6}  # fmt: skip


def test_quick_profile_tests_the_depth_dependence():
    from paper_repro import get_experiment

    assert len(get_experiment("E5").profiles["quick"].depths) > 1


def test_tiny_run_writes_outputs_and_resumes_from_the_cache(tmp_path, monkeypatch):
    kw = {"figures_root": tmp_path / "figs", "cache_dir": tmp_path / "cache", "seeds": 2, "progress": False}
    run_experiment("E5", "quick", overrides=TINY, **kw)
    out = tmp_path / "figs" / "E5"
    for name in ("accuracy.csv", "accuracy.md", "runs.csv", "summary.md", "manifest.json", "numbers.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy_standard_vs_stable.png").stat().st_size > 1000
    assert (out / "scr_standard_vs_stable.png").stat().st_size > 1000
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["depths"] == [8, 14] and man["seeds"] == [0, 1] and man["verdict"]
    numbers = json.loads((out / "numbers.json").read_text())
    statements = [e["statement"] for e in numbers["verdict"]["expectations"]]
    assert statements == [
        "the Stable ResNet (SBP-SR) reaches higher test accuracy than the standard ResNet under SNIP",
        "the Stable ResNet's advantage grows with depth",
    ] + ["SNIP keeps a higher critical sparsity on the Stable ResNet than on the standard ResNet"] * 2
    _check_scr_panel(numbers, out)
    summary = (out / "summary.md").read_text()
    assert "ResNet14 at sparsity 0.9" in summary and unsourced_numbers(summary, numbers) == []
    rows = list(csv.DictReader((out / "runs.csv").read_text().splitlines()))
    assert sorted((r["model"], r["variant"], r["seed"]) for r in rows) == [
        (m, v, s) for m in ("resnet14", "resnet8") for v in ("stable", "standard") for s in ("0", "1")
    ]
    assert len(list((tmp_path / "cache").iterdir())) == 8 + 2 * 2, "training runs and s_cr points (2 depths x 2 seeds)"

    stored = []
    original = RunCache.put
    monkeypatch.setattr(RunCache, "put", lambda self, *a, **k: stored.append(a) or original(self, *a, **k))
    run_experiment("E5", "quick", overrides=TINY, **kw)
    assert stored == [], "the second run must execute no training run"
    assert (out / "summary.md").read_text() == summary


def test_same_seed_gives_the_same_weights_to_both_variants():
    """Stable and standard ResNets of one seed differ only in the branch scale buffer."""
    import torch

    data = load_tensors("digits")
    nets = {}
    for stable in (False, True):
        run = PruneRun(
            dataset="digits", network=NetworkSpec(arch="resnet", depth=8, width_multiplier=0.25, stable=stable),
            prune=PruneSpec(method="magnitude", sparsity=0.5, batch=10, balanced=True), seed=3,
        )  # fmt: skip
        nets[stable], record = prune_model(run, data)
        layers = record["layers"]
        assert sum(layer["keep"] * layer["numel"] for layer in layers) == pytest.approx(
            0.5 * sum(layer["numel"] for layer in layers), abs=1
        )
    a, b = (dict(n.named_parameters()) for n in (nets[False], nets[True]))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert float(nets[True].layer1[0].branch_scale) == pytest.approx(3**-0.5)


def _check_scr_panel(numbers, out):
    """The s_cr panel's series: per depth and variant the measured mean over every network
    (2 seeds x 6), the finite-width and the iid predictions, equal to eoc's own."""
    import eoc
    from proofs_check.claims.resnet import resnet_widths

    rows = numbers["scr"]
    assert sorted((r["depth"], r["variant"]) for r in rows) == [(d, v) for d in (6, 12) for v in ("stable", "standard")]
    table = list(csv.DictReader((out / "scr.csv").read_text().splitlines()))
    assert len(table) == 4 and {r["networks"] for r in table} == {"12"}
    for r in rows:
        alpha = 1.0 if r["variant"] == "standard" else "stable"
        for model in ("finite", "iid"):
            expected = eoc.predict_critical_sparsity(
                "snip", resnet_widths(depth=r["depth"], width=64), "relu", 2**0.5, 0.0, arch="resnet", alpha=alpha,
                model=model, batch_size=64,
            )  # fmt: skip
            assert r[model] == pytest.approx(float(expected), rel=1e-12)
        assert 0.5 < r["measured"] <= 1.0 and r["measured_se"] > 0
    # the paper's iid model orders the two ResNets the other way round from the finite model and the measurement
    by = {(r["depth"], r["variant"]): r for r in rows}
    for d in (6, 12):
        assert by[d, "stable"]["finite"] > by[d, "standard"]["finite"]
        assert by[d, "stable"]["iid"] < by[d, "standard"]["iid"]
