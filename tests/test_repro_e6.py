"""E6 (methods table) at tiny size: every method runs, the table, figure, collapse table and
summary are written, SBP-SR appears for ResNets only, and the runs are shared with E5."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import get_experiment, run_experiment  # noqa: E402
from paper_repro.config import ModelSpec, TrainSpec, named_network  # noqa: E402
from paper_repro.experiments.e5_stable_resnet import _runs as e5_runs  # noqa: E402
from paper_repro.experiments.e6_methods import _train_runs as e6_runs  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {
    "models": (
        ModelSpec(label="resnet8", network=named_network("resnet8", 0.25), train=TrainSpec(epochs=1, weight_decay=1e-4)),
        ModelSpec(label="vgg11", network=named_network("vgg11", 0.125), train=TrainSpec(epochs=1)),
    ),
    "sparsities": (0.9,),
    "bn_sparsities": (0.9,),
    "rounds": 2,
}


def test_tiny_run_writes_table_collapse_figure_and_summary(tmp_path):
    run_experiment(
        "E6", "quick", figures_root=tmp_path, cache_dir=tmp_path / "cache", seeds=1, overrides=TINY, progress=False
    )
    out = tmp_path / "E6"
    for name in ("methods.csv", "methods.md", "runs.csv", "stable_resnet_collapse.md", "numbers.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy_vs_sparsity.png").stat().st_size > 1000
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["prune"]["rounds"] == 2 and man["verdict"]
    rows = list(csv.DictReader((out / "methods.csv").read_text().splitlines()))
    methods = {(r["model"], r["method"]) for r in rows}
    assert {m for model, m in methods if model == "resnet8"} == {
        "Random", "Magnitude", "SNIP", "GraSP", "SynFlow", "SBP-SR",
    }  # fmt: skip
    assert {m for model, m in methods if model == "vgg11"} == {"Random", "Magnitude", "SNIP", "GraSP", "SynFlow"}
    assert all(r["seeds"] == "1" and 0.0 <= float(r["mean_acc"]) <= 1.0 for r in rows)
    collapse = list(csv.DictReader((out / "stable_resnet_collapse.csv").read_text().splitlines()))
    assert {r["method"] for r in collapse} == {"Random", "Magnitude", "SBP-SR", "GraSP", "SynFlow"}
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["verdict"]["verdict"] == "Inconclusive", "one seed gives no standard error to decide with"
    assert {e["reason"] for e in numbers["verdict"]["expectations"]} == {"fewer than two replicates: no standard error"}
    summary = (out / "summary.md").read_text()
    assert "Masks on the Stable ResNet" in summary and unsourced_numbers(summary, numbers) == []

    # BatchNorm mode: every data-dependent method in both modes; the eval runs are the table's own
    assert (out / "bn_mode.png").stat().st_size > 1000 and (out / "bn_mode.md").stat().st_size > 0
    bn_rows = list(csv.DictReader((out / "bn_mode.csv").read_text().splitlines()))
    assert sorted((r["model"], r["method"], r["bn_mode"]) for r in bn_rows) == sorted(
        (m, k, mode) for m, ks in (("resnet8", ("SNIP", "GraSP", "SBP-SR")), ("vgg11", ("SNIP", "GraSP")))
        for k in ks for mode in ("eval", "train")
    )  # fmt: skip
    table = {(r["model"], r["method"]): float(r["mean_acc"]) for r in rows}
    for r in bn_rows:
        if r["bn_mode"] == "eval":
            assert float(r["mean_acc"]) == table[r["model"], r["method"]]
    assert numbers["bn_mode"]["modes"] == ["eval", "train"]
    assert man["runs"]["executed"] == len(rows) + len(collapse) + 5, "only the train-mode runs are added (1 seed each)"
    assert len(numbers["verdict"]["expectations"]) == 5 + 2 and "BatchNorm mode while scoring" in summary


def test_bn_compare_must_be_another_mode():
    from paper_repro.experiments.e6_methods import Config

    with pytest.raises(ValueError, match="bn_compare must be None or one of .* other than prune.bn_mode='eval'"):
        Config(bn_compare="eval")
    with pytest.raises(ValueError, match="bn_methods are data-dependent"):
        Config(bn_methods=("synflow",))
    assert Config(bn_compare=None).bn_compare is None


def test_e6_quick_shares_the_resnet32_snip_runs_of_e5():
    e5, e6 = (get_experiment(i).profiles["quick"] for i in ("E5", "E6"))
    shared = {r for r in e5_runs(e5)} & {t[-1] for t in e6_runs(e6)}
    # SNIP and SBP-SR on ResNet32 at the two common sparsities and the two common seeds.
    assert len(shared) == 2 * 2 * 2
