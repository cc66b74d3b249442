"""E2 at tiny size: theory (finite and iid models) and measured critical sparsity of all five
methods and of the CNN, cached points, verdict from the comparisons, and the summary's
numbers found in numbers.json."""

import csv
import json

import pytest

pytest.importorskip("torch")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {"depths": (4, 8), "width": 16, "width_sweep": (8, 16), "width_sweep_depth": 6, "input_dim": 16, "batch": 16,
        "replicas": 3, "profile_depth": 8, "cnn_channels": 8, "side_depth": 8, "cnn_depths": (3, 5), "cnn_replicas": 3,
        "cnn_image_size": 4}  # fmt: skip
METHODS = ("random", "magnitude", "snip", "grasp", "synflow")


def test_e2_tiny_run_and_seeds_add_networks(tmp_path):
    kw = {"figures_root": tmp_path / "fig", "cache_dir": tmp_path / "cache", "overrides": TINY, "progress": False}
    first = run_experiment("E2", "quick", **kw)
    out = tmp_path / "fig" / "E2"
    for stem in ("scr_vs_depth", "scr_vs_width", "keep_profiles", "scr_methods", "scr_cnn"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").exists()
    rows = list(csv.DictReader((out / "critical_sparsity.csv").read_text().splitlines()))
    assert len(rows) == (2 + 2) * 3 and {r["networks"] for r in rows} == {"3"}
    for r in rows:
        for key in [f"{m}_measured" for m in METHODS] + ["snip_predicted", "snip_predicted_iid", "magnitude_predicted"]:
            assert 0.0 < float(r[key]) <= 1.0, key
        assert "grasp_predicted" not in r and "synflow_predicted" not in r  # no theory for them
    _check_snip_series(rows, batch=16)
    cnn = list(csv.DictReader((out / "critical_sparsity_cnn.csv").read_text().splitlines()))
    assert sorted((int(r["depth"]), r["phase"]) for r in cnn) == sorted(
        (d, p) for d in (3, 5) for p in ("ordered", "edge_of_chaos", "chaotic")
    ) and {r["networks"] for r in cnn} == {"3"}
    numbers = json.loads((out / "numbers.json").read_text())
    # magnitude and SNIP at 2 depths x 3 phases, the side of collapse off the EOC at depth 8, SNIP on the CNN
    assert numbers["verdict"]["count"] == 2 * 2 * 3 + 2 + 2 * 3
    tally = numbers["iid"]
    assert tally["comparisons"] == 2 * 3 + 2 * 3 and 0 <= tally["passes"] <= tally["comparisons"]
    summary = (out / "summary.md").read_text()
    assert "## Verdict" in summary and unsourced_numbers(summary, numbers) == []
    second = run_experiment("E2", "quick", seeds=2, **kw)
    assert (first.runs["executed"], second.runs) == (18, {"executed": 18, "cached": 18}), "seed 0 is reused"
    rows = list(csv.DictReader((out / "critical_sparsity.csv").read_text().splitlines()))
    assert {r["networks"] for r in rows} == {"6"}
    assert json.loads((out / "manifest.json").read_text())["seeds"] == [0, 1]


def _check_snip_series(rows, *, batch):
    """The SNIP theory series are eoc's finite-width (batch-aware) and iid predictions."""
    import eoc

    for r in rows:
        widths = [16] + [int(r["width"])] * (int(r["depth"]) - 1) + [10]
        for key, model in (("snip_predicted", "finite"), ("snip_predicted_iid", "iid")):
            expected = eoc.predict_critical_sparsity("snip", widths, "tanh", float(r["sigma_w"]), 0.2, model=model,
                                                     batch_size=batch)  # fmt: skip
            assert float(r[key]) == pytest.approx(float(expected), rel=1e-9), (key, r["depth"], r["phase"])
