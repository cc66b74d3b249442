"""Every experiment's *full* profile, end to end on the CPU, for a handful of steps.

The datasets are tiny files the test writes in the real formats (MNIST IDX, CIFAR-10
and CIFAR-100 pickles, Tiny ImageNet JPEG folders, with 10 classes instead of 200 to
keep its class-balanced scoring batches small), read through ``--data-dir`` by the real
loaders.  The models keep their full depth (ResNet32/50/104,
VGG19, FFNNs of 50 and 100 layers); only widths, epochs, seeds and some sweeps are
reduced through ``--set`` (the overrides below), so the full profile's datasets,
networks, pruning methods (SynFlow with its 100 rounds), augmentation, training loop,
run cache, summaries and index all run.  A full profile that cannot start fails here.

Besides, for every experiment with a run list (:attr:`paper_repro.registry.Experiment.runs`)
the runs its sweeps executed are exactly those the cost plan counts; E4 trains
through the DataLoader path (``loader_workers=1``) and E5 under bfloat16 autocast in
channels-last memory format, the GPU settings, on the CPU.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

from _datasets import class_colors, write_cifar, write_mnist, write_tinyimagenet  # noqa: E402

from paper_repro import get_experiment, run_many  # noqa: E402
from paper_repro.cost import StepProbe, cost_plan  # noqa: E402
from paper_repro.executor import SerialExecutor  # noqa: E402
from paper_repro.runs import PruneRun  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

pytestmark = pytest.mark.slow

#: What each full profile is reduced to (a handful of steps; full depth and every model,
#: dataset and method kept; sparsity sweeps cut to one point).
SMOKE = {
    "E1": {"network.width": 8},
    "E2": {"width": 8, "width_sweep": (4, 8), "replicas": 2, "batch": 16},
    "E3": {"network.width": 8, "depths": (10, 100), "sparsities": (0.0, 0.98), "epochs": 1},
    "E4": {"width": 8, "width_multiplier": 0.125, "sparsities": (0.98,), "epochs": 1},
    "E5": {"width_multiplier": 0.125, "sparsities": (0.98,), "epochs": 1, "amp": "bfloat16", "channels_last": True,
           "scr_width": 16, "scr_batch": 16, "scr_replicas": 4},
    # E6: the BatchNorm-mode comparison (train-mode scoring) on GraSP only, at one sparsity
    "E6": {"width_multiplier": 0.125, "sparsities": (0.98,), "bn_sparsities": (0.98,), "bn_methods": ("grasp",),
           "epochs": 1, "batch_size": 64, "prune.batch": 1, "prune.rounds": 4},
    "E7": {"width_multiplier": 0.125, "prune.rounds": 4},
    "E8": {"width": 8, "replicas": 2, "resnet_width": 16, "overflow_replicas": 2},
    "E9": {},
}
LOADER_WORKERS = {"E4": 1}


class Recording(SerialExecutor):
    """The serial executor, keeping the configuration of every run it executes."""

    def __init__(self) -> None:
        self.configs: list = []

    def map(self, tasks, on_done) -> None:
        self.configs += [t.config for t in tasks]
        super().map(tasks, on_done)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_mnist(root / "mnist", n_train=40, n_test=20)
    write_cifar(root, per_batch=8)  # 40 training images
    write_cifar(root, hundred=True, per_batch=200)  # 2 per class
    write_tinyimagenet(root, colors=class_colors(10), per_class=1)  # 10 of its 200 classes: a twentieth of the cost
    return root


@pytest.mark.parametrize("exp_id", sorted(SMOKE))
def test_full_profile_runs_end_to_end(exp_id, data_dir, tmp_path):
    exp = get_experiment(exp_id)
    overrides = {f"{exp_id}.{k}": v for k, v in SMOKE[exp_id].items()}
    recording = Recording()
    [ctx] = run_many(
        [exp_id], "full", data_dir=data_dir, seeds=1, figures_root=tmp_path / "figs", cache_dir=tmp_path / "cache",
        overrides=overrides, progress=False, verbose=False, executor=recording,
        loader_workers=LOADER_WORKERS.get(exp_id, 0),
    )  # fmt: skip
    out = tmp_path / "figs" / exp_id
    manifest = json.loads((out / "manifest.json").read_text())
    numbers = json.loads((out / "numbers.json").read_text())
    summary = (out / "summary.md").read_text()
    assert manifest["profile"] == "full" and manifest["verdict"] and numbers["verdict"]
    assert unsourced_numbers(summary, numbers) == []
    assert (tmp_path / "figs" / "README.md").exists()
    for item in manifest["outputs"]:
        for name in item["files"]:
            assert (out / name).stat().st_size > 0, name
    datasets = {name.split(":")[0] for name in manifest["data"].values()}
    assert datasets == set(ctx.data) and all(d != "digits" for d in datasets)
    if exp.runs is None:
        return
    planned = exp.runs(ctx_config(exp_id, overrides))
    # the plan counts the pruning and training runs; simulation points (E5's s_cr) are not planned
    pruned = [c for c in recording.configs if isinstance(c, PruneRun)]
    assert set(pruned) == set(planned), "the sweeps ran exactly the planned runs"
    assert len(pruned) == len(set(planned)) and manifest["runs"]["executed"] == len(recording.configs)
    trained = [c for c in pruned if c.train is not None]
    fixed = StepProbe(0.5, 0.001, 1, 1, 0, 1)
    plan = cost_plan([exp_id], "full", overrides=overrides, seeds=1, measure=lambda *a, **k: fixed)
    [cost] = plan.experiments
    assert cost.training_runs == len(set(trained))
    assert cost.pruning_runs == len(set(planned)) - len(set(trained))
    if exp_id == "E6":
        assert {r.dataset for r in cost.rows} == {"cifar10", "cifar100", "tinyimagenet"}
        assert {r.model for r in cost.rows} >= {"resnet32x0.125", "resnet50x0.125", "vgg19-bnx0.125"}


def ctx_config(exp_id: str, overrides: dict):
    """The full configuration with the smoke overrides and one seed (as :func:`run_many` builds it)."""
    from paper_repro.runner import plan

    [p] = plan([exp_id], "full", overrides=overrides, seeds=1)
    return p.config
