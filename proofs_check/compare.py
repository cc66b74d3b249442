r"""Turning replicate samples into :class:`~proofs_check.registry.Comparison` objects.

Mean-field predictions hold at infinite width; a network of width N carries a
bias of order 1/N.  Where a claim measures at two widths :math:`N_1 < N_2`, the
comparison uses the Richardson extrapolation in 1/N,

.. math::

    \hat m_\infty = \frac{N_2\hat m_2 - N_1\hat m_1}{N_2 - N_1},\qquad
    \mathrm{SE}_\infty = \frac{\sqrt{N_2^2\,\mathrm{SE}_2^2 + N_1^2\,\mathrm{SE}_1^2}}{N_2 - N_1},

which removes the O(1/N) bias exactly and leaves O(1/N^2); the tolerance is
``Z * SE_inf``.  Where a single width is measured, the claim states its bias
allowance explicitly.
"""

from __future__ import annotations

import numpy as np

from .registry import Z, Comparison, mean_se

__all__ = ["compare_single", "compare_extrapolated", "richardson"]


def richardson(widths: tuple[int, int], samples: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolated mean and standard error from replicate samples at two widths."""
    (n1, n2), (s1, s2) = widths, samples
    if not n1 < n2:
        raise ValueError(f"widths must be increasing, got {widths}")
    m1, e1 = mean_se(s1)
    m2, e2 = mean_se(s2)
    return (n2 * m2 - n1 * m1) / (n2 - n1), np.sqrt((n2 * e2) ** 2 + (n1 * e1) ** 2) / (n2 - n1)


def compare_extrapolated(
    quantity: str, predicted: float, widths: tuple[int, int], samples: tuple, *, resolution: float | None = None, z: float = Z
) -> Comparison:
    """Compare a prediction with the width-extrapolated measurement (module docstring)."""
    m, se = richardson(widths, samples)
    m, se = float(np.asarray(m)), float(np.asarray(se))
    return Comparison(quantity, float(predicted), m, se, z * se + 1e-12 * abs(predicted), resolution)


def compare_single(
    quantity: str,
    predicted: float,
    samples,
    *,
    bias: float = 0.0,
    resolution: float | None = None,
    z: float = Z,
) -> Comparison:
    """Compare with the replicate mean; tolerance ``z * SE + bias`` (``bias`` stated by the claim)."""
    m, se = mean_se(samples)
    m, se = float(np.asarray(m)), float(np.asarray(se))
    return Comparison(quantity, float(predicted), m, se, z * se + bias + 1e-12 * abs(predicted), resolution)
