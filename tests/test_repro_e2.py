"""E2 at tiny size: theory and measured critical sparsity, cached points, verdict from the
comparisons, and the summary's numbers found in numbers.json."""

import csv
import json

import pytest

pytest.importorskip("torch")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {"depths": (4, 8), "width": 16, "width_sweep": (8, 16), "width_sweep_depth": 6, "input_dim": 16, "batch": 16,
        "replicas": 3, "profile_depth": 8, "cnn_channels": 8, "side_depth": 8}  # fmt: skip


def test_e2_tiny_run_and_seeds_add_networks(tmp_path):
    kw = {"figures_root": tmp_path / "fig", "cache_dir": tmp_path / "cache", "overrides": TINY, "progress": False}
    first = run_experiment("E2", "quick", **kw)
    out = tmp_path / "fig" / "E2"
    for stem in ("scr_vs_depth", "scr_vs_width", "keep_profiles", "scr_cnn_theory"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").exists()
    rows = list(csv.DictReader((out / "critical_sparsity.csv").read_text().splitlines()))
    assert len(rows) == (2 + 2) * 3 and {r["networks"] for r in rows} == {"3"}
    for r in rows:
        for key in ("snip_predicted", "snip_measured", "magnitude_predicted", "magnitude_measured"):
            assert 0.0 <= float(r[key]) <= 1.0
    numbers = json.loads((out / "numbers.json").read_text())
    # magnitude and SNIP at 2 depths x 3 phases, plus the side of collapse off the EOC at depth 8
    assert numbers["verdict"]["count"] == 2 * 2 * 3 + 2
    summary = (out / "summary.md").read_text()
    assert "## Verdict" in summary and unsourced_numbers(summary, numbers) == []
    second = run_experiment("E2", "quick", seeds=2, **kw)
    assert (first.runs["executed"], second.runs) == (12, {"executed": 12, "cached": 12}), "seed 0 is reused"
    rows = list(csv.DictReader((out / "critical_sparsity.csv").read_text().splitlines()))
    assert {r["networks"] for r in rows} == {"6"}
    assert json.loads((out / "manifest.json").read_text())["seeds"] == [0, 1]
