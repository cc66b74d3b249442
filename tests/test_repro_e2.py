"""E2 at tiny size: theory and measured critical sparsity, written with figures and a summary."""

import csv
import json

import pytest

pytest.importorskip("torch")

from paper_repro import run_experiment  # noqa: E402


def test_e2_tiny_run(tmp_path):
    overrides = {"depths": (4, 8), "width": 32, "width_sweep": (16, 32), "width_sweep_depth": 6, "input_dim": 32,
                 "batch": 32, "replicas": 3, "profile_depth": 8, "cnn_channels": 8}
    run_experiment("E2", "quick", figures_root=tmp_path / "fig", cache_dir=tmp_path / "cache", overrides=overrides, progress=False)
    out = tmp_path / "fig" / "E2"
    for stem in ("scr_vs_depth", "scr_vs_width", "keep_profiles", "scr_cnn_theory"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").exists()
    rows = list(csv.DictReader((out / "critical_sparsity.csv").read_text().splitlines()))
    assert len(rows) == (2 + 2) * 3
    for r in rows:
        for key in ("snip_predicted", "snip_measured", "magnitude_predicted", "magnitude_measured"):
            assert 0.0 <= float(r[key]) <= 1.0
    assert json.loads((out / "manifest.json").read_text())["config"]["replicas"] == 3
    assert "Verdict" in (out / "summary.md").read_text()
