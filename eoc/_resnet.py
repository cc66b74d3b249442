r"""Variance and gradient recursions of residual networks and Stable ResNets.

docs/theory.md §6; Hayou et al. (2021), section 4 (Stable ResNet).  A one-layer
residual branch with scale :math:`\alpha`:

.. math::

    y^l = y^{l-1} + \alpha\,(W^l\phi(y^{l-1}) + B^l),\qquad l = 1..L,

gives, in the infinite-width limit and under gradient independence,

.. math::

    q^l = q^{l-1} + \alpha^2 F(q^{l-1}),\qquad
    \tilde q^{\,l-1} = \tilde q^{\,l}\,\big(1 + \alpha^2\sigma_w^2\,\mathbb E[\phi'(\sqrt{q^{l-1}}Z)^2]\big),

and for the correlation of two inputs
:math:`q^l_{12} = q^{l-1}_{12} + \alpha^2 F_{12}(q^{l-1}_1, q^{l-1}_2, q^{l-1}_{12})`.
For ReLU with :math:`\sigma_b = 0` both factors are :math:`1 + \alpha^2\sigma_w^2/2`: the
standard ResNet (:math:`\alpha = 1`) explodes like :math:`(1+\sigma_w^2/2)^L`, the Stable
ResNet (:math:`\alpha = 1/\sqrt L`) stays bounded, :math:`(1+\sigma_w^2/(2L))^L \to e^{\sigma_w^2/2}`.
"""

from __future__ import annotations

import numpy as np

from ._expect import Numerics, resolve_numerics
from ._maps import moment_array, parse_params, variance_orbit
from ._validate import check_closed_interval, check_int, check_positive

__all__ = ["resolve_alpha", "resnet_variances", "resnet_gradient_variances", "resnet_correlations"]


def resolve_alpha(alpha, depth: int) -> float:
    """Branch scale: a positive number, ``"standard"`` (1) or ``"stable"`` (1/sqrt(depth))."""
    if isinstance(alpha, str):
        if alpha == "standard":
            return 1.0
        if alpha == "stable":
            return 1.0 / np.sqrt(depth)
        raise ValueError(f"alpha must be a positive number, 'standard' or 'stable', got alpha={alpha!r}")
    a = check_positive(alpha, "alpha")
    if a.ndim != 0:
        raise ValueError(f"alpha must be a scalar, got alpha={alpha!r}")
    return float(a)


def _scalars(act, sigma_w, sigma_b):
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    for name, v, given in (("sigma_w", sw, sigma_w), ("sigma_b", sb, sigma_b)):
        if v.ndim:
            raise ValueError(f"{name} must be a scalar for a residual network, got {name}={given!r}")
    return act, float(sw), float(sb)


def _advice(alpha) -> str:
    if isinstance(alpha, str) and alpha == "stable":
        return ""
    return "; a standard ResNet's variance grows geometrically with depth: use alpha='stable' (1/sqrt(L)) or fewer layers"


def resnet_variances(
    depth: int, act, sigma_w, sigma_b, alpha=1.0, q0=1.0, *, numerics: Numerics | None = None
) -> np.ndarray:
    r"""Pre-activation variances :math:`q^0 = q_0, q^1, \dots, q^L` of a residual stream.

    Parameters
    ----------
    depth : int
        Number of residual layers L.
    act, sigma_w, sigma_b
        Branch activation and initialization (scalars).
    alpha : float or {"standard", "stable"}
        Branch scale; ``"stable"`` is :math:`1/\sqrt L`.
    q0 : float
        Variance entering the first residual layer.

    Returns
    -------
    ndarray, shape (depth + 1,)

    Raises
    ------
    ValueError
        "overflow" naming the layer where the variance leaves the float64 range (a
        standard ReLU ResNet with sigma_w = sqrt 2 does at about L = 1020).
    """
    depth = check_int(depth, "depth", minimum=1)
    act, sw, sb = _scalars(act, sigma_w, sigma_b)
    a = resolve_alpha(alpha, depth)
    q = float(check_positive(q0, "q0"))
    num = resolve_numerics(numerics)
    try:
        return variance_orbit(act, num, q, np.full(depth, a * a * sw * sw), a * a * sb * sb, residual=True,
                              what="the ResNet variance")
    except ValueError as exc:
        raise ValueError(f"{exc}{_advice(alpha)}") from None


def resnet_gradient_variances(
    depth: int,
    act,
    sigma_w,
    sigma_b,
    alpha=1.0,
    q0=1.0,
    *,
    grad_out: float = 1.0,
    numerics: Numerics | None = None,
) -> np.ndarray:
    r"""Gradient variances :math:`\tilde q^0, \dots, \tilde q^L` of the residual stream.

    :math:`\tilde q^L` = ``grad_out``; :math:`\tilde q^{l-1} = \tilde q^l(1 + \alpha^2\sigma_w^2
    \mathbb E[\phi'(\sqrt{q^{l-1}}Z)^2])` with the forward variances of
    :func:`resnet_variances`.

    Returns
    -------
    ndarray, shape (depth + 1,)

    Raises
    ------
    ValueError
        "overflow" where the forward or the gradient variance leaves the float64 range.
    """
    g_out = float(check_positive(grad_out, "grad_out"))
    q = resnet_variances(depth, act, sigma_w, sigma_b, alpha, q0, numerics=numerics)
    act, sw, _ = _scalars(act, sigma_w, sigma_b)
    a = resolve_alpha(alpha, len(q) - 1)
    num = resolve_numerics(numerics)
    log_factor = np.log1p(a * a * sw * sw * moment_array(act, num, q[:-1], "deriv_moment2"))
    log_out = np.empty_like(q)
    log_out[-1] = np.log(g_out)
    log_out[:-1] = log_out[-1] + np.cumsum(log_factor[::-1])[::-1]
    top = np.log(np.finfo(np.float64).max)
    if np.any(log_out > top):
        layer = int(np.flatnonzero(log_out <= top)[0]) if np.any(log_out <= top) else 0
        raise ValueError(
            f"overflow: the gradient variance exceeds the float64 range below layer {layer} "
            f"(log of its value at layer 0: {log_out[0]:.6g}){_advice(alpha)}"
        )
    return np.exp(log_out)


def resnet_correlations(
    depth: int, c0, act, sigma_w, sigma_b, alpha=1.0, q0=1.0, *, numerics: Numerics | None = None
) -> np.ndarray:
    r"""Correlations :math:`c^0 = c_0, \dots, c^L` of two inputs through the residual stream.

    Both inputs enter with variance ``q0``; :math:`c^l = q^l_{12}/q^l`.  The standard
    ResNet drives :math:`c^l \to 1` (polynomially); the Stable ResNet keeps a
    non-degenerate limit as L grows.  The gap :math:`1 - c^l` is iterated directly (no
    cancellation near 1); each layer costs one 2-D quadrature.
    """
    depth = check_int(depth, "depth", minimum=1)
    act, sw, sb = _scalars(act, sigma_w, sigma_b)
    a = resolve_alpha(alpha, depth)
    c = float(check_closed_interval(c0, "c0", -1.0, 1.0))
    num = resolve_numerics(numerics)
    q = resnet_variances(depth, act, sigma_w, sigma_b, alpha, q0, numerics=numerics)
    gap = np.empty(depth + 1)
    gap[0] = 1.0 - c
    for l in range(1, depth + 1):
        qp, d = q[l - 1], gap[l - 1]
        # q12' = q12 + a^2 (sb^2 + sw^2 K) and q' = q + a^2 F(q):
        # 1 - c' = [(1 - c) q + a^2 sw^2 (M2 - K)] / q'  (M2 - K = half_sq_diff, no cancellation)
        theta = 2.0 * np.arcsin(np.sqrt(min(0.5 * d, 1.0)))
        gap[l] = min((d * qp + a * a * sw * sw * float(num.half_sq_diff(act, qp, theta=theta))) / q[l], 2.0)
    return 1.0 - gap
