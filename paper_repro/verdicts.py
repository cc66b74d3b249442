"""Verdicts of the experiments, decided by the project's one comparison module.

Every number an experiment judges becomes a :class:`Expectation`: a statement in
words, the comparison of ``proofs_check`` that decides it (prediction or null value,
measurement, standard error, tolerance ``Z * SE + model error``), and its outcome:

* ``equal`` -- the claim predicts a value: *holds* when the measurement is within the
  tolerance of the prediction (the comparison passes), *fails* otherwise, *undecided*
  when the tolerance is wider than the comparison's resolution;
* ``greater`` / ``less`` -- the claim predicts a direction (a difference of accuracies,
  a count above zero): the comparison is against the null value (no effect); the
  expectation *holds* when the measurement exceeds the null by more than the tolerance
  in the predicted direction, *fails* when it does so in the other direction, and is
  *undecided* when it lies within the tolerance of the null (no effect resolved at
  this scale).

The experiment's verdict: **Supported** (every expectation holds), **Not supported**
(some fails), **Partly supported** (some hold, none fails, some undecided),
**Inconclusive** (none decided).  There is no threshold of our own: ``Z``,
:func:`mean_se`, :class:`~proofs_check.verdict.Comparison` and the named model errors
are those of :mod:`proofs_check.verdict` (torch-free).  The one exception is a
deterministic number's allowance measured in the same run (E9: the next-order term of
a convergence, measured from the iterates themselves), passed to :func:`expect_exact`
with its derivation stated by the experiment.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from proofs_check import verdict as _verdict

__all__ = [
    "SENSES",
    "VERDICTS",
    "Expectation",
    "z",
    "mean_se",
    "expect_equal",
    "expect_exact",
    "expect_sign",
    "expect_sign_of",
    "from_comparison",
    "verdict",
]

SENSES = ("equal", "greater", "less")
VERDICTS = ("Supported", "Partly supported", "Not supported", "Inconclusive")
OUTCOMES = ("holds", "fails", "undecided")


def z() -> float:
    """Standard errors allowed per comparison (:data:`proofs_check.verdict.Z`)."""
    return float(_verdict.Z)


def mean_se(samples: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and standard error over replicates (one convention: sample std, ddof 1, over sqrt n).

    With fewer than two samples the standard error is NaN (nothing can be decided).
    """
    arr = np.asarray(samples, dtype=np.float64)
    if arr.shape[0] < 2:
        return (float(arr.mean()) if arr.size else math.nan), math.nan
    m, se = _verdict.mean_se(arr)
    return float(m), float(se)


@dataclass(frozen=True)
class Expectation:
    """One judged statement (module docstring).

    Attributes
    ----------
    statement : str
        What the claim expects, in words.
    sense : {"equal", "greater", "less"}
    quantity : str
        The measured quantity.
    predicted : float
        The prediction (``equal``) or the null value (``greater``/``less``).
    measured, stderr, tolerance : float
        ``tolerance = Z * stderr + model_error``.
    model_error : float
    n : int
        Replicates behind ``measured``.
    outcome : {"holds", "fails", "undecided"}
    reason : str
        Why an expectation is undecided (empty otherwise).
    """

    statement: str
    sense: str
    quantity: str
    predicted: float
    measured: float
    stderr: float
    tolerance: float
    model_error: float
    n: int
    outcome: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_comparison(statement: str, comparison: Any, *, n: int = 0, model_error: float = 0.0) -> Expectation:
    """An ``equal`` expectation decided by a :class:`proofs_check.verdict.Comparison` (a claim's own)."""
    if not comparison.passed:
        outcome, reason = "fails", ""
    elif not comparison.informative:
        outcome, reason = "undecided", "the tolerance is wider than the comparison's resolution"
    else:
        outcome, reason = "holds", ""
    return Expectation(
        statement, "equal", comparison.quantity, comparison.predicted, comparison.measured, comparison.stderr,
        comparison.tolerance, model_error, n, outcome, reason,
    )  # fmt: skip


def expect_equal(
    statement: str,
    quantity: str,
    predicted: float,
    samples: Sequence[float] | np.ndarray,
    *,
    model_error: float | str = 0.0,
    resolution: float | None = None,
) -> Expectation:
    """The replicate mean of ``samples`` equals ``predicted`` within ``Z * SE + model_error``.

    ``model_error`` is 0 or a named allowance of :mod:`proofs_check.verdict` (by name,
    e.g. ``"SNIP_MODEL_ERROR"``, or by value); any other number is refused there.
    """
    arr = np.asarray(samples, dtype=np.float64)
    m, se = mean_se(arr)
    if not math.isfinite(se):
        return Expectation(statement, "equal", quantity, float(predicted), m, se, math.nan, 0.0, len(arr),
                           "undecided", "fewer than two replicates: no standard error")  # fmt: skip
    comparison = _verdict.compare(quantity, predicted, arr, model_error=model_error, resolution=resolution)
    return from_comparison(statement, comparison, n=len(arr), model_error=comparison.model_error)


def expect_exact(statement: str, quantity: str, predicted: float, measured: float, *, model_error: float) -> Expectation:
    """A deterministic number (no sampling error) equals ``predicted`` within ``model_error``."""
    comparison = _verdict.Comparison(quantity, float(predicted), float(measured), 0.0, float(model_error),
                                     basis="deterministic")  # fmt: skip
    return from_comparison(statement, comparison, n=1, model_error=float(model_error))


def expect_sign(
    statement: str,
    quantity: str,
    samples: Sequence[float] | np.ndarray,
    *,
    sense: str = "greater",
    null: float = 0.0,
    exact: bool = False,
) -> Expectation:
    """The replicate mean of ``samples`` lies beyond ``null`` in direction ``sense`` by more than ``Z * SE``.

    ``exact``: ``samples`` is one deterministic number (no sampling error, SE = 0),
    decided by its sign alone.
    """
    arr = np.asarray(samples, dtype=np.float64).reshape(-1)
    if exact:
        if arr.size != 1:
            raise ValueError(f"exact=True takes one deterministic value, got {arr.size} samples")
        m, se = float(arr[0]), 0.0
    else:
        m, se = mean_se(arr)
    return expect_sign_of(statement, quantity, m, se, int(arr.size), sense=sense, null=null)


def expect_sign_of(
    statement: str, quantity: str, mean: float, se: float, n: int, *, sense: str = "greater", null: float = 0.0
) -> Expectation:
    """:func:`expect_sign` from an estimate and its standard error (a statistic that is not a replicate mean)."""
    if sense not in ("greater", "less"):
        raise ValueError(f"sense must be 'greater' or 'less', got sense={sense!r}")
    m, se = float(mean), float(se)
    if not math.isfinite(se):
        return Expectation(statement, sense, quantity, float(null), m, se, math.nan, 0.0, n, "undecided",
                           "fewer than two replicates: no standard error")  # fmt: skip
    tol = z() * se
    excess = (m - null) if sense == "greater" else (null - m)
    if excess > tol:
        outcome, reason = "holds", ""
    elif excess < -tol:
        outcome, reason = "fails", ""
    else:
        outcome, reason = "undecided", "within the tolerance of no effect"
    return Expectation(statement, sense, quantity, float(null), m, se, tol, 0.0, n, outcome, reason)


def verdict(expectations: Sequence[Expectation]) -> dict[str, Any]:
    """The experiment's verdict (module docstring) with its expectations, as stored in ``numbers.json``."""
    outcomes = [e.outcome for e in expectations]
    if not outcomes or all(o == "undecided" for o in outcomes):
        label = "Inconclusive"
    elif "fails" in outcomes:
        label = "Not supported"
    elif all(o == "holds" for o in outcomes):
        label = "Supported"
    else:
        label = "Partly supported"
    return {
        "verdict": label,
        "z": z(),
        "count": len(outcomes),
        "holds": outcomes.count("holds"),
        "fails": outcomes.count("fails"),
        "undecided": outcomes.count("undecided"),
        "expectations": [e.as_dict() for e in expectations],
    }
