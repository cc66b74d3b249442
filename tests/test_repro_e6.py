"""E6 (methods table) at tiny size: every method runs, the table, figure, collapse
table and summary are written, and SBP-SR appears for ResNets only."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402

TINY = {
    "models": (("resnet8", 0.25), ("vgg11", 0.125)),
    "sparsities": (0.9,),
    "epochs": 1,
    "synflow_rounds": 2,
}


def test_tiny_run_writes_table_collapse_figure_and_summary(tmp_path):
    run_experiment(
        "E6", "quick", figures_root=tmp_path, cache_dir=tmp_path / "cache", seeds=1, overrides=TINY, progress=False
    )
    out = tmp_path / "E6"
    for name in ("methods.csv", "methods.md", "methods_long.csv", "runs.csv", "stable_resnet_collapse.md"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy_vs_sparsity.png").stat().st_size > 1000
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["synflow_rounds"] == 2 and man["verdict"]
    rows = list(csv.DictReader((out / "methods_long.csv").read_text().splitlines()))
    methods = {(r["model"], r["method"]) for r in rows}
    assert {m for model, m in methods if model == "resnet8"} == {
        "Random", "Magnitude", "SNIP", "GraSP", "SynFlow", "SBP-SR",
    }  # fmt: skip
    assert {m for model, m in methods if model == "vgg11"} == {"Random", "Magnitude", "SNIP", "GraSP", "SynFlow"}
    assert all(r["seeds"] == "1" and 0.0 <= float(r["mean_acc"]) <= 1.0 for r in rows)
    collapse = list(csv.DictReader((out / "stable_resnet_collapse.csv").read_text().splitlines()))
    assert {r["method"] for r in collapse} == {"Random", "Magnitude", "SBP-SR", "GraSP", "SynFlow"}
    summary = (out / "summary.md").read_text()
    assert "SBP-SR rank" in summary and "Masks on the Stable ResNet" in summary
    assert man["verdict"].startswith("Not tested: one seed"), "one seed gives no standard error to decide with"
