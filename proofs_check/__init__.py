"""proofs_check: every claim of the theory confronted with Monte-Carlo simulation.

Run ``python -m proofs_check --help``.

* :mod:`proofs_check.catalog`: the static table of claims (torch-free);
* :mod:`proofs_check.verdict`: the one comparison module, tolerances and verdicts (torch-free);
* :mod:`proofs_check.claims`: the checks, with their ``measure_*`` / ``predict_*`` functions;
* :mod:`proofs_check.registry`: running a claim (:func:`run_claim`, needs torch);
* :mod:`proofs_check.results`, :mod:`proofs_check.report`: result files and reports.

The simulator is :mod:`eoc.sim`.  Importing this package needs no torch; ``run_claim``,
``get_claim`` and ``list_claims`` import it on first use.
"""

from .catalog import CATALOG, CLAIM_IDS, PROFILES, ClaimInfo
from .results import ClaimResult
from .verdict import Comparison, compare, compare_extrapolated, mean_se, verdict_of

__all__ = [
    "CATALOG",
    "CLAIM_IDS",
    "PROFILES",
    "ClaimInfo",
    "ClaimResult",
    "Comparison",
    "compare",
    "compare_extrapolated",
    "mean_se",
    "verdict_of",
    "get_claim",
    "list_claims",
    "run_claim",
]

_LAZY = {"get_claim", "list_claims", "run_claim"}


def __getattr__(name):
    if name in _LAZY:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
