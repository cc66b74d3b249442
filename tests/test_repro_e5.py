"""E5 (standard vs Stable ResNet under SNIP) at tiny size: outputs, manifest, summary,
the pairing of the two variants, and resuming from the run cache."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.cache import RunCache  # noqa: E402
from paper_repro.runs import PruneRun, prune_model  # noqa: E402

TINY = {"depths": (8,), "width_multiplier": 0.25, "sparsities": (0.9,), "epochs": 1}


def test_tiny_run_writes_outputs_and_resumes_from_the_cache(tmp_path, monkeypatch):
    kw = {"figures_root": tmp_path / "figs", "cache_dir": tmp_path / "cache", "seeds": 2, "progress": False}
    run_experiment("E5", "quick", overrides=TINY, **kw)
    out = tmp_path / "figs" / "E5"
    for name in ("accuracy.csv", "accuracy.md", "runs.csv", "summary.md", "manifest.json"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy_standard_vs_stable.png").stat().st_size > 1000
    assert (out / "accuracy_standard_vs_stable.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["depths"] == [8] and man["verdict"]
    summary = (out / "summary.md").read_text()
    assert "ResNet8 at 90 % sparsity" in summary and "**Verdict.**" in summary
    rows = list(csv.DictReader((out / "runs.csv").read_text().splitlines()))
    assert sorted((r["variant"], r["seed"]) for r in rows) == [
        ("stable", "0"), ("stable", "1"), ("standard", "0"), ("standard", "1"),
    ]  # fmt: skip
    assert len(list((tmp_path / "cache").iterdir())) == 4

    stored = []
    original = RunCache.put
    monkeypatch.setattr(RunCache, "put", lambda self, cfg, res: stored.append(cfg) or original(self, cfg, res))
    run_experiment("E5", "quick", overrides=TINY, **kw)
    assert stored == [], "the second run must execute no training run"
    assert (out / "summary.md").read_text() == summary


def test_same_seed_gives_the_same_weights_to_both_variants():
    """Stable and standard ResNets of one seed differ only in the branch scale buffer."""
    import torch

    from paper_repro.data import load_dataset

    data = load_dataset("digits")
    nets = {}
    for stable in (False, True):
        run = PruneRun(
            "digits", "resnet", 3, depth=8, width_multiplier=0.25, stable=stable, method="magnitude", sparsity=0.5,
            batch=10, balanced=True,
        )  # fmt: skip
        nets[stable], record = prune_model(run, data)
        layers = record["layers"]
        assert sum(layer["keep"] * layer["numel"] for layer in layers) == pytest.approx(
            0.5 * sum(layer["numel"] for layer in layers), abs=1
        )
    a, b = (dict(n.named_parameters()) for n in (nets[False], nets[True]))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert float(nets[True].layer1[0].branch_scale) == pytest.approx(3**-0.5)
