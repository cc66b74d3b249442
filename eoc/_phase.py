r"""Slopes chi_1, chi_q, chi_c, depth scales, phases and the edge of chaos.

THEORY.md section 2; Schoenholz et al. (2017), eqs. (6)-(9); Hayou et al. (2019).

.. math::

    \chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}Z)^2],\qquad
    \chi_q = F'(q^*) = \sigma_w^2\,\frac{d}{dq}\mathbb E[\phi(\sqrt q Z)^2]\Big|_{q^*},\qquad
    \chi_c = \sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]\big|_{c^*},

    \xi_q = -1/\log\chi_q,\qquad \xi_c = -1/\log\chi_c.

The phase is *ordered* when :math:`\chi_1 < 1`, *chaotic* when :math:`\chi_1 > 1` and
the *edge of chaos* (EOC) when :math:`\chi_1 = 1`.  The EOC is computed through the
parametrization by the fixed point: for a given :math:`q^*`, :math:`\chi_1 = 1` fixes

.. math::

    \sigma_w^2(q^*) = 1/\mathbb E[\phi'(\sqrt{q^*}Z)^2],\qquad
    \sigma_b^2(q^*) = q^* - \sigma_w^2(q^*)\,\mathbb E[\phi(\sqrt{q^*}Z)^2],

and ``edge_of_chaos(act, sigma_b)`` solves :math:`\sigma_b^2(q) = \sigma_b^2` for q.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._activations import Activation, get_activation
from ._correlation import c_star, resolve_q
from ._expect import Numerics, resolve_numerics
from ._maps import parse_params
from ._roots import solve_bracketed
from ._validate import check_nonnegative, check_positive

__all__ = [
    "chi_1",
    "chi_q",
    "chi_c",
    "depth_scales",
    "phase",
    "PHASES",
    "edge_of_chaos",
    "eoc_curve",
    "EOCCurve",
]

PHASES = ("ordered", "edge_of_chaos", "chaotic")
#: Default |chi_1 - 1| within which a point counts as on the edge of chaos.
PHASE_TOL = 1e-8
_EOC_Q_GRID = np.geomspace(1e-12, 1e8, 161)
_Q_TINY = 1e-200  # evaluates q -> 0 limits, keeping the sides of a kink at 0 apart


def chi_1(act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None) -> np.ndarray:
    r""":math:`\chi_1 = \sigma_w^2\mathbb E[\phi'(\sqrt q Z)^2]` at ``q`` (default q*).

    The slope of the correlation map at c = 1 and the per-layer factor of the
    gradient variance (THEORY.md section 3).
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return sw**2 * num.deriv_moment2(act, q)


def chi_q(act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None) -> np.ndarray:
    r""":math:`\chi_q = F'(q)` at ``q`` (default q*): the contraction rate of the variances."""
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return sw**2 * num.dq_moment2(act, q)


def chi_c(act, sigma_w, sigma_b, *, c=None, q=None, numerics: Numerics | None = None) -> np.ndarray:
    r""":math:`\chi_c = \sigma_w^2\mathbb E[\phi'(u_1)\phi'(u_2)]` at correlation ``c`` (default c*).

    Equals :math:`\chi_1` in the ordered phase and on the EOC (c* = 1); below 1 in
    the chaotic phase, where it is the slope of f at its stable fixed point c* < 1.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    if c is None:
        c = c_star(act, sw, sb, q=q, numerics=num)
    return sw**2 * num.deriv_kernel(act, q, q, np.asarray(c, dtype=np.float64) * q)


def _scale(chi: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(chi < 1.0, -1.0 / np.log(np.minimum(chi, 1.0 - 1e-300)), np.inf)


def depth_scales(
    act, sigma_w, sigma_b, *, tol: float = PHASE_TOL, numerics: Numerics | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Depth scales :math:`(\xi_q, \xi_c) = (-1/\log\chi_q, -1/\log\chi_c)`.

    :math:`|q^l - q^*| \sim e^{-l/\xi_q}` and :math:`|c^l - c^*| \sim e^{-l/\xi_c}`
    (Schoenholz et al. 2017).  :math:`\xi_c = \infty` on the EOC (within ``tol``), where
    correlations converge only polynomially.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, None, num)
    xq = _scale(sw**2 * num.dq_moment2(act, q))
    cc = chi_c(act, sw, sb, q=q, numerics=num)
    xc = np.where(np.abs(cc - 1.0) <= tol, np.inf, _scale(cc))
    return xq, xc


def phase(act, sigma_w, sigma_b, *, tol: float = PHASE_TOL, numerics: Numerics | None = None):
    r"""``"ordered"`` (:math:`\chi_1 < 1 - tol`), ``"edge_of_chaos"`` or ``"chaotic"``.

    Returns a ``str`` for scalar input and an array of ``str`` otherwise.
    """
    chi = chi_1(act, sigma_w, sigma_b, numerics=numerics)
    labels = np.where(chi < 1.0 - tol, PHASES[0], np.where(chi > 1.0 + tol, PHASES[2], PHASES[1]))
    return str(labels) if labels.ndim == 0 else labels


@dataclass(frozen=True)
class EOCCurve:
    """Points of the edge of chaos of one activation.

    Attributes
    ----------
    activation : Activation
    sigma_b, sigma_w, q_star : ndarray
        Matching arrays: each ``(sigma_b[i], sigma_w[i])`` has chi_1 = 1 at fixed point ``q_star[i]``.
    chi_q : ndarray
        :math:`F'(q^*)` there; ``chi_q < 1`` means q* attracts the variance iteration.
    """

    activation: Activation
    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    chi_q: np.ndarray

    def as_dict(self) -> dict:
        return {
            "activation": self.activation.label,
            "sigma_b": np.asarray(self.sigma_b).tolist(),
            "sigma_w": np.asarray(self.sigma_w).tolist(),
            "q_star": np.asarray(self.q_star).tolist(),
            "chi_q": np.asarray(self.chi_q).tolist(),
        }


def _sigma_b2_of_q(act: Activation, q, num: Numerics):
    d2 = num.deriv_moment2(act, q)
    return q - num.moment2(act, q) / d2, 1.0 / d2


def _no_eoc(act: Activation, sb: float, extra: str = "") -> ValueError:
    return ValueError(f"activation {act.label!r} has no edge of chaos at sigma_b={sb!r}{extra}")


def _eoc_q(act: Activation, sb: np.ndarray, num: Numerics) -> np.ndarray:
    """Solve sigma_b^2(q) = sb^2 for q (flat arrays), general activations."""
    target = sb**2
    out = np.full(sb.size, np.nan)
    # With phi(0) = 0 and phi' not vanishing at 0, sigma_b^2(q) -> 0 as q -> 0: the curve
    # starts at sigma_b = 0 with q* = 0 and sigma_w^2 = 1 / lim E[phi'(sqrt(q) Z)^2], which
    # is 2 / (phi'(0-)^2 + phi'(0+)^2) for a kink at 0 (SELU), 1/phi'(0)^2 otherwise.
    zero_at_origin = float(act.fn(np.array(0.0))) == 0.0 and float(num.deriv_moment2(act, _Q_TINY)) > 0.0
    if zero_at_origin:
        out[target == 0] = 0.0
    todo = np.flatnonzero(np.isnan(out))
    if todo.size == 0:
        return out
    # With phi(0) = 0, sigma_b^2(0) = 0: starting the grid at q = 0 brackets tiny targets too.
    grid = np.concatenate([[0.0], _EOC_Q_GRID]) if zero_at_origin else _EOC_Q_GRID
    s_grid, _ = _sigma_b2_of_q(act, grid, num)
    diff = s_grid[None, :] - target[todo, None]  # (n, K)
    crosses = (diff[:, :-1] < 0) & (diff[:, 1:] >= 0)
    has = crosses.any(axis=1)
    if not has.all():
        i = todo[np.flatnonzero(~has)[0]]
        reach = f" (sigma_b^2(q*) = q* - E[phi^2]/E[phi'^2] stays in [{s_grid.min():.4g}, {s_grid.max():.4g}] for q* in [1e-12, 1e8])"
        raise _no_eoc(act, float(sb[i]), reach)
    k = np.argmax(crosses, axis=1)

    def fun(q, t):
        return _sigma_b2_of_q(act, q, num)[0] - t

    out[todo] = solve_bracketed(fun, grid[k], grid[k + 1], (target[todo],), xrtol=num.xrtol)
    return out


def _curve_points(act: Activation, sb: np.ndarray, num: Numerics):
    """(sigma_w, q*) on the EOC for flat sigma_b."""
    if act.homogeneous:
        sw2 = 1.0 / num.deriv_moment2(act, np.ones(1))[0]
        if np.any(sb > 0):
            i = np.flatnonzero(sb > 0)[0]
            raise _no_eoc(
                act,
                float(sb[i]),
                f": for this positively homogeneous activation the EOC is the single point "
                f"(sigma_b, sigma_w) = (0, {np.sqrt(sw2):.6g}), where every q is a fixed point",
            )
        return np.full(sb.size, np.sqrt(sw2)), np.ones(sb.size)
    q = _eoc_q(act, sb, num)
    d2 = num.deriv_moment2(act, np.maximum(q, _Q_TINY))
    sw = 1.0 / np.sqrt(d2)
    return sw, q


def edge_of_chaos(act, sigma_b=0.0, *, numerics: Numerics | None = None) -> np.ndarray:
    r"""The weight scale :math:`\sigma_w` putting ``(act, sigma_w, sigma_b)`` on the EOC.

    Parameters
    ----------
    act : str or Activation
    sigma_b : array_like
        Bias standard deviation(s), >= 0.

    Returns
    -------
    ndarray
        :math:`\sigma_w` with :math:`\chi_1 = 1` at the fixed point q*, same shape as
        ``sigma_b``.  For tanh, sigma_b = 0.2 gives 1.3041458... (q* = 0.5120785...).

    Raises
    ------
    ValueError
        If the activation has no EOC at ``sigma_b`` (ReLU: only sigma_b = 0, where
        sigma_w = sqrt 2).

    Notes
    -----
    Exactness: the EOC condition is solved to a few ulps in q*; sigma_w then follows
    from the closed expression above, so the result is as accurate as the
    quadrature (~1e-14 relative).  Where the curve sigma_b^2(q) is not monotone the
    smallest q* solving it is returned (it is the stable one for the activations of
    this package).

    Tiny biases: near the origin :math:`\sigma_b^2(q) = q - \mathbb E[\phi^2]/\mathbb E[\phi'^2]`
    is a difference of two terms of size q that cancel to :math:`O(q^3)` for smooth odd
    activations (:math:`O(q^{3/2})` with a kink), so for :math:`0 < \sigma_b \lesssim 10^{-9}`
    the condition is below the rounding of its terms and the accuracy of sigma_w
    degrades (to ~1e-8 at sigma_b = 1e-30 for tanh, whose exact value there is 1 to
    1e-20).  sigma_b = 0 itself is exact.
    """
    act = get_activation(act)
    sb = check_nonnegative(sigma_b, "sigma_b")
    num = resolve_numerics(numerics)
    sw, _ = _curve_points(act, sb.reshape(-1), num)
    return sw.reshape(sb.shape)


def eoc_curve(
    act,
    sigma_b=None,
    *,
    q_star=None,
    num: int = 101,
    sigma_b_max: float = 2.0,
    numerics: Numerics | None = None,
) -> EOCCurve:
    r"""The edge-of-chaos curve of an activation.

    Give either ``sigma_b`` (solve for sigma_w at each value), or ``q_star`` (the
    parametrization of the module docstring: no root finding, points with
    :math:`\sigma_b^2(q^*) < 0` are dropped), or neither (``num`` values of sigma_b
    in ``[0, sigma_b_max]``).  For positively homogeneous activations the curve is
    the single point (0, sigma_w).
    """
    act = get_activation(act)
    nm = resolve_numerics(numerics)
    if sigma_b is not None and q_star is not None:
        raise ValueError("give sigma_b or q_star, not both")
    if act.homogeneous:
        sb = np.zeros(1) if sigma_b is None else check_nonnegative(sigma_b, "sigma_b").reshape(-1)
        sw, q = _curve_points(act, sb, nm)  # raises for sigma_b > 0
        return EOCCurve(act, sb, sw, q, nm.dq_moment2(act, q) * sw**2)
    if q_star is not None:
        q = check_positive(q_star, "q_star").reshape(-1)
        sb2, sw2 = _sigma_b2_of_q(act, q, nm)
        keep = sb2 >= 0
        q, sb2, sw2 = q[keep], sb2[keep], sw2[keep]
        sb, sw = np.sqrt(sb2), np.sqrt(sw2)
    else:
        if sigma_b is None:
            check_positive(sigma_b_max, "sigma_b_max")
            sigma_b = np.linspace(0.0, float(sigma_b_max), int(num))
        sb = check_nonnegative(sigma_b, "sigma_b").reshape(-1)
        sw, q = _curve_points(act, sb, nm)
    return EOCCurve(act, sb, sw, q, sw**2 * nm.dq_moment2(act, np.maximum(q, _Q_TINY)))

