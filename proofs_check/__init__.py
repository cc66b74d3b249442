"""proofs_check: every claim of the theory confronted with Monte-Carlo simulation.

Run ``python -m proofs_check --help``.  Claims live in :mod:`proofs_check.claims`;
the batched simulation engine in :mod:`proofs_check.engine`.
"""

from .registry import Claim, ClaimResult, Comparison, get_claim, list_claims, run_claim

__all__ = ["Claim", "ClaimResult", "Comparison", "get_claim", "list_claims", "run_claim"]
