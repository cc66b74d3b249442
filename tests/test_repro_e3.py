"""E3 (trainability grid) at tiny size: outputs, manifest, summary, collapsed runs recorded at
chance rather than raised, and a rerun served entirely from the run cache."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.cache import RunCache  # noqa: E402

# Sparsity 0.999 keeps round(0.001 M) = 1 weight of M < 1500: every layer but one collapses.
TINY = {"depths": (2, 3), "width": 8, "sparsities": (0.0, 0.5, 0.999), "epochs": 1, "batch_size": 512, "seeds": 1}


def test_tiny_grid_records_collapse_and_resumes_from_the_cache(tmp_path, monkeypatch):
    kw = {"figures_root": tmp_path / "figs", "cache_dir": tmp_path / "cache", "progress": False}
    run_experiment("E3", "quick", overrides=TINY, **kw)
    out = tmp_path / "figs" / "E3"
    for stem in ("accuracy_heatmaps", "accuracy_differences"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["depths"] == [2, 3] and man["verdict"]
    cells = list(csv.DictReader((out / "accuracy_grid.csv").read_text().splitlines()))
    assert len(cells) == 4 * 2 * 3
    for c in cells:
        if float(c["sparsity"]) == 0.999:
            assert c["collapsed"] == "1" and float(c["acc_mean"]) == pytest.approx(0.1)
        else:
            assert c["collapsed"] == "0"
    # The dense run is shared by both rescaling panels.
    dense = [c for c in cells if float(c["sparsity"]) == 0]
    by = {(c["init"], c["depth"]): c["acc_mean"] for c in dense if c["rescale"] == "False"}
    assert all(c["acc_mean"] == by[(c["init"], c["depth"])] for c in dense)
    summary = (out / "summary.md").read_text()
    assert "**Claim tested.**" in summary and "**Verdict.**" in summary and "Dense baselines" in summary
    # 2 inits x 2 depths x (1 dense + 2 sparsities x 2 rescalings) distinct runs.
    assert len(list((tmp_path / "cache").iterdir())) == 2 * 2 * 5

    stored = []
    original = RunCache.put
    monkeypatch.setattr(RunCache, "put", lambda self, cfg, res: stored.append(cfg) or original(self, cfg, res))
    run_experiment("E3", "quick", overrides=TINY, **kw)
    assert stored == [], "the second run must execute no training run"
    assert (out / "summary.md").read_text() == summary
