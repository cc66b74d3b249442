"""E7 (layer-wise mask densities) at tiny size: one density per layer, network and method,
kept fractions consistent with the global sparsity, figures, numbers and summary."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.config import named_network  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {"resnet": named_network("resnet8", 0.25), "vgg": named_network("vgg11", 0.125), "rounds": 2, "sparsity": 0.9}


def test_tiny_run_writes_densities_figures_and_summary(tmp_path):
    run_experiment(
        "E7", "quick", figures_root=tmp_path, cache_dir=tmp_path / "cache", seeds=2, overrides=TINY, progress=False
    )
    out = tmp_path / "E7"
    for stem in ("resnet_layer_density", "snip_vs_sbp_sr", "vgg_layer_density"):
        assert (out / f"{stem}.png").stat().st_size > 1000 and (out / f"{stem}.pdf").exists()
    rows = list(csv.DictReader((out / "layer_density.csv").read_text().splitlines()))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["network"], r["method"]), []).append(r)
    assert len(groups) == 3 * 5 and ("Stable ResNet", "SBP-SR") in groups and ("VGG", "SNIP") in groups
    for layers in groups.values():
        kept = sum(float(r["keep_mean"]) * int(r["weights"]) for r in layers)
        total = sum(int(r["weights"]) for r in layers)
        assert kept == pytest.approx(0.1 * total, abs=1), "global pruning keeps 1 - sparsity of all weights"
        assert all(float(r["keep_min"]) <= float(r["keep_mean"]) <= float(r["keep_max"]) for r in layers)
    resnet_layers = [r["layer"] for r in groups["standard ResNet", "SNIP"]]
    assert resnet_layers[0] == "conv1" and resnet_layers[-1] == "fc" and "layer2.0.shortcut.0" in resnet_layers
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["resnet"]["depth"] == 8 and man["verdict"]
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["verdict"]["count"] == 4 + 2
    summary = (out / "summary.md").read_text()
    assert "SNIP vs SBP-SR" in summary and unsourced_numbers(summary, numbers) == []

    # BatchNorm mode: SNIP (SBP-SR on the Stable ResNet) and GraSP scored in both modes on every network;
    # the eval rows are the masks of the density summary
    assert (out / "bn_mode_density.png").stat().st_size > 1000
    bn_rows = list(csv.DictReader((out / "bn_mode.csv").read_text().splitlines()))
    assert len(bn_rows) == 3 * 2 * 2 and {r["bn_mode"] for r in bn_rows} == {"eval", "train"}
    main = {(r["network"], r["method"]): r for r in csv.DictReader((out / "density_summary.csv").read_text().splitlines())}
    for r in bn_rows:
        if r["bn_mode"] == "eval":
            m = main[r["network"], r["method"]]
            assert (r["min keep"], r["min at"], r["fully pruned layers per seed"]) == (
                m["min keep"], m["min at"], m["fully pruned layers per seed"]
            )
    statements = [e["statement"] for e in numbers["verdict"]["expectations"]]
    assert statements[-2:] == [
        "SNIP scored in train mode empties more layers of the standard ResNet than in eval mode",
        "SBP-SR empties no layer in train mode either",
    ]
    assert "BatchNorm mode while scoring" in summary
