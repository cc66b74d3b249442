"""Every claim of proofs_check, at its tiny fixed-seed size, must PASS (and the CLI must work)."""

import json

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from proofs_check import get_claim, list_claims, run_claim  # noqa: E402
from proofs_check.__main__ import main  # noqa: E402
from proofs_check.registry import Comparison, verdict_of  # noqa: E402
from proofs_check.report import format_table  # noqa: E402

CLAIMS = [c.id for c in list_claims()]
REQUIRED = {
    "forward-maps",
    "relu-eoc-asymptotics",
    "gradient-maps",
    "mbp-critical-sparsity",
    "sbp-critical-sparsity-phases",
    "pruned-leaves-eoc",
    "rescaling-restores-eoc",
    "resnet-explodes",
    "stable-resnet-bounded",
    "synflow-no-collapse",
}


def test_registry_has_every_required_claim():
    assert REQUIRED <= set(CLAIMS)


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIMS)
def test_claim_passes_at_tiny_size(claim_id):
    torch.set_num_threads(1)
    result = run_claim(get_claim(claim_id), "tiny", device=torch.device("cpu"), seed=0)
    assert result.verdict == "PASS", format_table([result]) + "\n" + "\n".join(
        f"{c.quantity}: predicted {c.predicted:.5g}, measured {c.measured:.5g} +- {c.tolerance:.3g}"
        f"{'' if c.passed else '  <-- MISS'}{'' if c.informative else '  (uninformative)'}"
        for c in result.comparisons
    )
    assert result.seed == 0 and result.device == "cpu" and result.seconds > 0 and result.sizes


def test_verdict_rules():
    ok = Comparison("a", 1.0, 1.01, 0.01, 0.05, 0.1)
    miss = Comparison("b", 1.0, 1.2, 0.01, 0.05)
    vague = Comparison("c", 1.0, 1.01, 0.1, 0.4, 0.1)
    assert verdict_of([ok], []) == "PASS"
    assert verdict_of([ok, miss], []) == "FAIL"
    assert verdict_of([ok, vague], []) == "INCONCLUSIVE"
    assert verdict_of([ok], ["overflow"]) == "INCONCLUSIVE"
    assert verdict_of([vague, miss], []) == "FAIL"


def test_cli_writes_reports_and_errors(tmp_path, capsys):
    code = main(["--claims", "synflow-no-collapse", "--profile", "tiny", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "synflow-no-collapse" in out and "PASS" in out
    report = json.loads((tmp_path / "report.json").read_text())
    (entry,) = report["claims"]
    assert {"id", "verdict", "comparisons", "sizes", "seed", "device", "seconds"} <= set(entry)
    assert entry["comparisons"][0]["predicted"] == 0.0
    assert "## synflow-no-collapse: PASS" in (tmp_path / "report.md").read_text()
    assert main(["--claims", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown claim 'nope'" in capsys.readouterr().err
    assert main(["--profile", "tiny"]) == 2
