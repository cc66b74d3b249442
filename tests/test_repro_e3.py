"""E3 (trainability grid) at tiny size: outputs, manifest, summary from numbers, collapsed runs
recorded at chance rather than raised, and a rerun served entirely from the run cache."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.cache import RunCache  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

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
    assert man["config"]["depths"] == [2, 3] and man["config"]["train"]["epochs"] == 1 and man["verdict"]
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
    numbers = json.loads((out / "numbers.json").read_text())
    summary = (out / "summary.md").read_text()
    assert "Dense baselines" in summary and unsourced_numbers(summary, numbers) == []
    assert [e["n"] for e in numbers["verdict"]["expectations"]] == [4, 4, 4], "paired over 2 depths x 2 sparsities"
    # 2 inits x 2 depths x (1 dense + 2 sparsities x 2 rescalings) distinct runs.
    assert len(list((tmp_path / "cache").iterdir())) == 2 * 2 * 5

    stored = []
    original = RunCache.put
    monkeypatch.setattr(RunCache, "put", lambda self, *a, **k: stored.append(a) or original(self, *a, **k))
    run_experiment("E3", "quick", overrides=TINY, **kw)
    assert stored == [], "the second run must execute no training run"
    assert (out / "summary.md").read_text() == summary
