"""E1 (layer-collapse heatmaps under SNIP) at tiny size: outputs, manifest, numbers and the
summary rendered from them.  The pruning itself is tested in test_repro_runs.py."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.executor import SerialExecutor  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402


class PicklingExecutor(SerialExecutor):
    """Runs every task after a pickle round trip, as a process pool or a cluster would."""

    def __init__(self) -> None:
        self.tasks = 0

    def map(self, tasks, on_done):
        import pickle

        self.tasks += len(tasks)
        super().map([pickle.loads(pickle.dumps(t)) for t in tasks], on_done)

TINY = {"network.depth": 12, "width": 16, "prune.batch": 64}


def test_tiny_run_writes_heatmaps_tables_numbers_and_summary(tmp_path):
    executor = PicklingExecutor()
    ctx = run_experiment(
        "E1", "quick", figures_root=tmp_path, cache_dir=tmp_path / "cache", overrides=TINY, seeds=2, progress=False,
        executor=executor,
    )  # fmt: skip
    assert executor.tasks == 3 * 2, "every run went through the executor as a picklable task"
    out = tmp_path / "E1"
    assert ctx.outdir == out
    for stem in ("keep_heatmaps", "layer_keep"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["profile"] == "quick" and man["config"]["network"]["depth"] == 12 and man["verdict"]
    assert man["seeds"] == [0, 1] and man["data"]["digits"].startswith("digits:")
    assert {o["kind"] for o in man["outputs"]} == {"figure", "data", "table", "summary"}
    rows = list(csv.DictReader((out / "collapse.csv").read_text().splitlines()))
    assert [(r["phase"], r["seed"]) for r in rows] == [
        (p, s) for p in ("ordered", "edge_of_chaos", "chaotic") for s in ("0", "1")
    ]
    heat = json.loads((out / "keep_heatmaps.json").read_text())
    assert [len(col) for col in heat["edge_of_chaos"]["neuron_keep"]] == [16] * 11 + [10]
    numbers = json.loads((out / "numbers.json").read_text())
    assert [len(p["collapsed_layers"]) for p in numbers["phases"].values()] == [2, 2, 2]
    assert len(numbers["verdict"]["expectations"]) == 3
    summary = (out / "summary.md").read_text()
    assert "**Claim tested.**" in summary and "## Verdict" in summary and "depth L = 12" in summary
    assert unsourced_numbers(summary, numbers) == []
    assert "E1" in (tmp_path / "README.md").read_text()
