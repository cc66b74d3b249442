"""Every claim of proofs_check, at its tiny fixed-seed size, must PASS; the catalog and the
checks agree; proofs_check has no network, mask, score or rescaling code of its own."""

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

import proofs_check  # noqa: E402
from proofs_check import get_claim, list_claims, run_claim  # noqa: E402
from proofs_check.catalog import CATALOG, CLAIM_IDS, PROFILES  # noqa: E402
from proofs_check.report import format_table  # noqa: E402

REQUIRED = {
    "forward-maps",
    "relu-eoc-asymptotics",
    "gradient-maps",
    "mbp-critical-sparsity",
    "sbp-critical-sparsity-phases",
    "sbp-critical-sparsity-cnn",
    "pruned-leaves-eoc",
    "rescaling-restores-eoc",
    "resnet-explodes",
    "stable-resnet-bounded",
    "stable-resnet-sbp-scr",
    "synflow-no-collapse",
}
PACKAGE = Path(proofs_check.__file__).parent


def test_catalog_and_registered_checks_agree():
    assert REQUIRED <= set(CLAIM_IDS)
    claims = list_claims()
    assert [c.id for c in claims] == list(CLAIM_IDS)
    for info, c in zip(CATALOG, claims):
        assert (c.title, c.statement) == (info.title, info.statement)
        assert set(c.sizes) == set(PROFILES)
    with pytest.raises(ValueError, match="unknown claim 'nope'; available: forward-maps"):
        get_claim("nope")


def test_proofs_check_has_no_simulation_code_of_its_own():
    """Networks, masks, scores and rescaling come from eoc.sim / eoc.nn (the done-when grep)."""
    pattern = re.compile(r"baddbmm|topk|sort\(|kthvalue")
    hits = [
        f"{p.relative_to(PACKAGE)}:{i}: {line.strip()}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_passes_at_tiny_size(claim_id):
    torch.set_num_threads(1)
    result = run_claim(get_claim(claim_id), "tiny", device=torch.device("cpu"), seed=0)
    assert result.verdict == "PASS", format_table([result]) + "\n" + "\n".join(
        f"{c.quantity}: predicted {c.predicted:.5g}, measured {c.measured:.5g} +- {c.tolerance:.3g} {c.verdict}"
        for c in result.comparisons
    )
    assert result.seed == 0 and result.device == "cpu" and result.dtype == "float64"
    assert result.seconds > 0 and result.sizes == get_claim(claim_id).sizes["tiny"] and result.started
