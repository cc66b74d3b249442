"""E4 (rescaling table) at tiny size: outputs, manifest, summary from numbers, and the pairing
of runs with and without the rescaling trick (same weights and mask, scaled rows)."""

from __future__ import annotations

import csv
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.config import InitSpec, ModelSpec, NetworkSpec, PruneSpec, TrainSpec  # noqa: E402
from paper_repro.runs import PruneRun, run_pruned  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {
    "models": (
        ModelSpec(label="FFNN", dataset="digits", network=NetworkSpec(arch="ffnn", depth=3, width=8, activation="tanh"),
                  init=InitSpec(sigma_b=0.2), train=TrainSpec(epochs=1, lr=0.005, weight_decay=1e-4)),
        ModelSpec(label="VGG", dataset="digits", network=NetworkSpec(arch="vgg", vgg=(4, "M", 8)),
                  train=TrainSpec(epochs=1, lr=0.01)),
    ),
    "sparsities": (0.5, 0.8),
    "seeds": 2,
}  # fmt: skip


def test_tiny_table_writes_outputs_and_summary(tmp_path):
    run_experiment("E4", "quick", figures_root=tmp_path, cache_dir=tmp_path / "cache", overrides=TINY, progress=False)
    out = tmp_path / "E4"
    assert (out / "rescaling.png").stat().st_size > 1000 and (out / "rescaling.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert [m["label"] for m in man["config"]["models"]] == ["FFNN", "VGG"] and man["verdict"]
    rows = list(csv.DictReader((out / "rescaling.csv").read_text().splitlines()))
    assert [(r["model"], r["sparsity"]) for r in rows] == [(m, s) for m in ("FFNN", "VGG") for s in ("0.5", "0.8")]
    for r in rows:
        assert float(r["gain"]) == pytest.approx(float(r["acc_with"]) - float(r["acc_without"]))
        assert float(r["rho_mean"]) > 1
    runs = list(csv.DictReader((out / "runs.csv").read_text().splitlines()))
    assert len(runs) == 2 * 2 * (1 + 2 * 2)
    numbers = json.loads((out / "numbers.json").read_text())
    assert [e["n"] for e in numbers["verdict"]["expectations"]] == [4, 4], "paired gains of 2 sparsities x 2 seeds"
    summary = (out / "summary.md").read_text()
    assert "FFNN (dense" in summary and unsourced_numbers(summary, numbers) == []


def test_rescaled_run_starts_from_the_same_weights_and_mask(monkeypatch):
    """With and without the trick, one seed prunes the same weights; the trick multiplies each
    neuron's kept weights by rho_i >= 1 (docs/theory.md §5), nothing else."""
    import paper_repro.train as train_module

    seen = {}

    def capture(model, data, config, **kw):
        seen[len(seen)] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        raise StopIteration

    monkeypatch.setattr(train_module, "train", capture)
    for rescale in (None, "neuron"):
        run = PruneRun(
            dataset="digits", network=NetworkSpec(arch="ffnn", depth=3, width=8, activation="tanh"),
            init=InitSpec(sigma_b=0.2), prune=PruneSpec(sparsity=0.7, rescale=rescale),
            train=TrainSpec(epochs=1, batch_size=64),
        )  # fmt: skip
        with pytest.raises(StopIteration):
            run_pruned(run)
    plain, scaled = seen[0], seen[1]
    for key in plain:
        if key.endswith("weight_mask"):
            assert torch.equal(plain[key], scaled[key])
        elif key.endswith("weight_orig"):
            mask = plain[key.replace("_orig", "_mask")]
            alive = mask.any(1)  # a neuron with no kept weight is left alone (rho = 1)
            ratio = (scaled[key] * mask).sum(1)[alive] / (plain[key] * mask).sum(1)[alive]
            norms = (plain[key].square().sum(1) / (plain[key] * mask).square().sum(1)).sqrt()[alive]
            assert torch.allclose(ratio, norms, rtol=1e-5) and bool((norms >= 1).all())
        else:
            assert torch.equal(plain[key], scaled[key])
