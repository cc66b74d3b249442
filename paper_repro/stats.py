"""Statistics over seeds: mean and sample standard deviation, their text form, and
the standard error of a difference of means."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["mean_std", "format_acc", "se_diff"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN for a single value)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), (float(arr.std(ddof=1)) if len(arr) > 1 else math.nan)


def format_acc(values: Sequence[float]) -> str:
    """Accuracies (fractions) as ``"mean ± std"`` in percent, or ``"mean"`` for one seed."""
    mean, std = mean_std(values)
    return f"{100 * mean:.2f}" if math.isnan(std) else f"{100 * mean:.2f} ± {100 * std:.2f}"


def se_diff(a: Sequence[float], b: Sequence[float]) -> float:
    r"""Standard error of ``mean(a) - mean(b)`` for independent samples.

    .. math:: \mathrm{SE} = \sqrt{s_a^2/n_a + s_b^2/n_b}

    with :math:`s` the sample standard deviations; NaN with fewer than two values on a side.
    """
    (_, sa), (_, sb) = mean_std(a), mean_std(b)
    return math.sqrt(sa**2 / len(a) + sb**2 / len(b))
