r"""Slopes chi_1, chi_q, chi_c, depth scales, phases and the edge of chaos.

docs/theory.md §2; Schoenholz et al. (2017), eqs. (6)-(9); Hayou et al. (2019).

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

Which points are on the EOC (docs/theory.md §2)
-----------------------------------------------
:math:`\chi_1 = 1` at a fixed point is not enough: a network initialized at
:math:`(\sigma_w, \sigma_b)` sits on the EOC only if its variance actually goes to that
fixed point.  For monotone activations (tanh, erf, ELU, ...) the fixed point is unique and
stable, but GELU and SiLU with small :math:`\sigma_b` have :math:`\chi_1 = 1` only at an
*unstable* fixed point (:math:`\chi_q > 1`): GELU at :math:`\sigma_b = 0.1` gives
:math:`\sigma_w = 1.727` with :math:`\chi_q = 1.098`, and a network initialized there has a
variance that runs away from it.  An EOC point is therefore **valid** when its fixed
point is the one reached from ``q0`` (:func:`eoc.q_star`): :math:`\chi_q < 1` (or the
neutral fixed point q* = 0 approached from above, as for tanh at (0, 1)) and no other
fixed point lies between ``q0`` and it.  :func:`edge_of_chaos` and :func:`eoc_curve`
return only valid points unless asked otherwise, and say why where there is none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._activations import Activation, get_activation
from ._correlation import c_star, resolve_q
from ._expect import Numerics, resolve_numerics
from ._interp import _barycentric, lobatto
from ._maps import parse_params, q_star as _q_star
from ._roots import solve_bracketed
from ._validate import (
    check_choice,
    check_closed_interval,
    check_int,
    check_nonnegative,
    check_positive,
    check_squares_finite,
    check_tol,
    scalar_out,
)

__all__ = [
    "chi_1",
    "chi_q",
    "chi_c",
    "depth_scales",
    "phase",
    "phase_of_chi",
    "PHASES",
    "PHASE_TOL",
    "edge_of_chaos",
    "eoc_curve",
    "EOCCurve",
    "MISSING",
]

PHASES = ("ordered", "edge_of_chaos", "chaotic")
#: Default |chi_1 - 1| within which a point counts as on the edge of chaos.
PHASE_TOL = 1e-8
#: What eoc_curve does with sigma_b values that have no valid EOC point.
MISSING = ("raise", "drop", "keep")
_EOC_Q_GRID = np.geomspace(1e-12, 1e8, 161)
_Q_TINY = 1e-200  # evaluates q -> 0 limits, keeping the sides of a kink at 0 apart
_CELL_DEGREE = 16
_EPS = np.finfo(np.float64).eps


def chi_1(act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None):
    r""":math:`\chi_1 = \sigma_w^2\mathbb E[\phi'(\sqrt q Z)^2]` at ``q`` (default q*).

    The slope of the correlation map at c = 1 and the per-layer factor of the
    gradient variance (docs/theory.md §3).
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return scalar_out(sw**2 * num.deriv_moment2(act, q))


def chi_q(act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None):
    r""":math:`\chi_q = F'(q)` at ``q`` (default q*): the contraction rate of the variances."""
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return scalar_out(sw**2 * num.dq_moment2(act, q))


def chi_c(act, sigma_w, sigma_b, *, c=None, q=None, numerics: Numerics | None = None):
    r""":math:`\chi_c = \sigma_w^2\mathbb E[\phi'(u_1)\phi'(u_2)]` at correlation ``c`` (default c*).

    Equals :math:`\chi_1` in the ordered phase and on the EOC (c* = 1); below 1 in
    the chaotic phase, where it is the slope of f at its stable fixed point c* < 1.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    if c is None:
        c = c_star(act, sw, sb, q=q, numerics=num)
    else:
        c = check_closed_interval(c, "c", -1.0, 1.0)
    return scalar_out(sw**2 * num.deriv_kernel(act, q, q, np.asarray(c, dtype=np.float64) * q))


def _scale(chi: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(chi < 1.0, -1.0 / np.log(np.minimum(chi, 1.0 - 1e-300)), np.inf)


def depth_scales(act, sigma_w, sigma_b, *, tol: float = PHASE_TOL, numerics: Numerics | None = None):
    r"""Depth scales :math:`(\xi_q, \xi_c) = (-1/\log\chi_q, -1/\log\chi_c)`.

    :math:`|q^l - q^*| \sim e^{-l/\xi_q}` and :math:`|c^l - c^*| \sim e^{-l/\xi_c}`
    (Schoenholz et al. 2017).  :math:`\xi_c = \infty` on the EOC (within ``tol``), where
    correlations converge only polynomially.

    Returns
    -------
    (xi_q, xi_c) : pair of numpy scalars or ndarrays
    """
    tol = check_tol(tol, "tol")
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, None, num)
    xq = _scale(np.abs(sw**2 * num.dq_moment2(act, q)))
    cc = np.asarray(chi_c(act, sw, sb, q=q, numerics=num))
    xc = np.where(np.abs(cc - 1.0) <= tol, np.inf, _scale(cc))
    return scalar_out((np.asarray(xq), np.asarray(xc)))


def phase_of_chi(chi, *, tol: float = PHASE_TOL):
    r"""The phase label of a slope :math:`\chi_1`: ordered below ``1 - tol``, chaotic above ``1 + tol``.

    The one place where a chi_1 becomes a phase (also used for pruned networks).
    Returns a ``str`` for scalar input and an array of ``str`` otherwise.

    Raises
    ------
    ValueError
        For a NaN chi_1 (NaN is never a phase) or a bad ``tol``.
    """
    tol = check_tol(tol, "tol")
    chi = np.asarray(chi, dtype=np.float64)
    if np.isnan(chi).any():
        raise ValueError(f"chi_1 is NaN, which is no phase: chi={chi!r}")
    labels = np.where(chi < 1.0 - tol, PHASES[0], np.where(chi > 1.0 + tol, PHASES[2], PHASES[1]))
    return str(labels) if labels.ndim == 0 else labels


def phase(act, sigma_w, sigma_b, *, tol: float = PHASE_TOL, numerics: Numerics | None = None):
    r"""``"ordered"`` (:math:`\chi_1 < 1 - tol`), ``"edge_of_chaos"`` or ``"chaotic"``.

    :math:`\chi_1` is taken at the fixed point reached from q0 = 1 (:func:`eoc.q_star`).
    Returns a ``str`` for scalar input and an array of ``str`` otherwise.
    """
    tol = check_tol(tol, "tol")
    return phase_of_chi(chi_1(act, sigma_w, sigma_b, numerics=numerics), tol=tol)


@dataclass(frozen=True)
class EOCCurve:
    """Points of the edge of chaos of one activation.

    Attributes
    ----------
    activation : Activation
    sigma_b, sigma_w, q_star : ndarray
        Matching arrays: each ``(sigma_b[i], sigma_w[i])`` has chi_1 = 1 at the fixed point ``q_star[i]``.
    chi_q : ndarray
        :math:`F'(q^*)` there; ``chi_q < 1`` means q* attracts the variance iteration.
    valid : ndarray of bool
        The fixed point is the one the variance reaches from ``q0`` (module docstring);
        only ``missing="keep"`` returns points where it is False.
    q0 : float
        The starting variance of that test.
    """

    activation: Activation
    sigma_b: np.ndarray
    sigma_w: np.ndarray
    q_star: np.ndarray
    chi_q: np.ndarray
    valid: np.ndarray
    q0: float = 1.0

    @property
    def stable(self) -> np.ndarray:
        """``chi_q < 1``: the fixed point attracts nearby variances."""
        return np.asarray(self.chi_q) < 1.0

    def __len__(self) -> int:
        return int(np.size(self.sigma_b))

    def as_dict(self) -> dict:
        return {
            "activation": self.activation.label,
            "sigma_b": np.asarray(self.sigma_b).tolist(),
            "sigma_w": np.asarray(self.sigma_w).tolist(),
            "q_star": np.asarray(self.q_star).tolist(),
            "chi_q": np.asarray(self.chi_q).tolist(),
            "valid": np.asarray(self.valid).tolist(),
            "q0": float(self.q0),
        }


def _sigma_b2_of_q(act: Activation, q, num: Numerics):
    d2 = num.deriv_moment2(act, q)
    return q - num.moment2(act, q) / d2, 1.0 / d2


def _no_eoc(act: Activation, sb: float, extra: str = "") -> ValueError:
    return ValueError(f"activation {act.label!r} has no edge of chaos at sigma_b={sb!r}{extra}")


def _zero_at_origin(act: Activation, num: Numerics) -> bool:
    # With phi(0) = 0 and phi' not vanishing at 0, sigma_b^2(q) -> 0 as q -> 0: the curve
    # starts at sigma_b = 0 with q* = 0 and sigma_w^2 = 1 / lim E[phi'(sqrt(q) Z)^2], which
    # is 2 / (phi'(0-)^2 + phi'(0+)^2) for a kink at 0 (SELU), 1/phi'(0)^2 otherwise.
    return float(act.fn(np.array(0.0))) == 0.0 and float(num.deriv_moment2(act, _Q_TINY)) > 0.0


def _cell_interpolants(act, num, lo, hi):
    """sigma_b^2(q), E[phi'^2](q) and dE[phi^2]/dq at the Lobatto points (in log q) of the cells [lo, hi]."""
    t = lobatto(_CELL_DEGREE)[0]
    llo, lhi = np.log(lo), np.log(hi)
    x = np.exp(0.5 * (llo + lhi)[:, None] + 0.5 * (lhi - llo)[:, None] * t[None, :])
    x[:, 0], x[:, -1] = lo, hi
    flat = x.ravel()
    m2, d2, dm = num.moment2(act, flat), num.deriv_moment2(act, flat), num.dq_moment2(act, flat)
    return llo, lhi, (flat - m2 / d2).reshape(x.shape), d2.reshape(x.shape), dm.reshape(x.shape)


def _cell_eval(vals, llo, lhi, q):
    t = np.clip((2.0 * np.log(q) - (llo + lhi)) / (lhi - llo), -1.0, 1.0)
    return _barycentric(vals, t)


def _solve_cells(act, num, grid, cell, target):
    """Solve sigma_b^2(q) = target in grid cells ``cell`` (flat arrays): interpolant, then a Newton polish.

    Returns q, E[phi'^2](q) and dE[phi^2]/dq(q): exact quadrature where q is polished,
    the cell interpolants (relative error ~1e-15) for the slopes.
    """
    q = np.empty(target.size)
    d2 = np.empty(target.size)
    dm = np.empty(target.size)
    lo, hi = grid[cell], grid[cell + 1]
    at_zero = lo == 0
    if at_zero.any():  # the first cell [0, grid_1]: tiny biases, solved on the exact function
        z = np.flatnonzero(at_zero)

        def fun(x, t):
            return _sigma_b2_of_q(act, x, num)[0] - t

        q[z] = solve_bracketed(fun, lo[z], hi[z], (target[z],), f_lo=-target[z], xrtol=num.xrtol)
        qz = np.maximum(q[z], _Q_TINY)
        d2[z], dm[z] = num.deriv_moment2(act, qz), num.dq_moment2(act, qz)
    rest = np.flatnonzero(~at_zero)
    if rest.size == 0:
        return q, d2, dm
    cells, inv = np.unique(cell[rest], return_inverse=True)
    inv = np.asarray(inv).reshape(-1)
    llo, lhi, s2, d2c, dmc = _cell_interpolants(act, num, grid[cells], grid[cells + 1])
    tg = target[rest]
    a, b = grid[cells][inv], grid[cells + 1][inv]
    L, H = llo[inv], lhi[inv]

    def interp(x, i, t):
        return _cell_eval(s2[i], llo[i], lhi[i], x) - t

    qt = solve_bracketed(interp, a, b, (inv, tg), f_lo=s2[inv, 0] - tg, f_hi=s2[inv, -1] - tg, xrtol=num.xrtol)
    # One Newton step on the exact function, with the slope of the interpolant.
    m2_t, d2_t = num.moment2(act, qt), num.deriv_moment2(act, qt)
    exact = qt - m2_t / d2_t - tg
    h = 1e-6
    s_t = _cell_eval(s2[inv], L, H, qt)
    slope = (_cell_eval(s2[inv], L, H, qt * (1 + h)) - s_t) / (h * qt)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(slope > 0, exact / slope, 0.0)
    step = np.where(np.abs(step) < 1e-8 * qt, step, 0.0)
    qn = np.clip(qt - step, a, b)
    # E[phi'^2] at the polished q: the exact value at qt moved by the interpolant's slope.
    dlog = np.log(_cell_eval(d2c[inv], L, H, qt * (1 + h)) / _cell_eval(d2c[inv], L, H, qt)) / h
    q[rest] = qn
    d2[rest] = d2_t * np.exp(dlog * np.log(qn / qt))
    dm[rest] = _cell_eval(dmc[inv], L, H, qn)
    return q, d2, dm


def _eoc_candidates(act: Activation, sb: np.ndarray, num: Numerics):
    """Every q with sigma_b^2(q) = sb^2 on the grid, for flat sb: (point index, q) arrays and the grid range."""
    target = sb**2
    zero = _zero_at_origin(act, num)
    grid = np.concatenate([[0.0], _EOC_Q_GRID]) if zero else _EOC_Q_GRID
    s_grid, _ = _sigma_b2_of_q(act, grid, num)
    if zero:
        s_grid[0] = 0.0
    if np.all(np.diff(s_grid) > 0):  # the usual case: one crossing, found by bisection
        k = np.searchsorted(s_grid, target, side="left") - 1
        inside = (k >= 0) & (k < s_grid.size - 1)
        point, cell = np.flatnonzero(inside), k[inside]
    else:
        pts, cls = [], []
        for start in range(0, target.size, 4096):
            diff = s_grid[None, :] - target[start : start + 4096, None]  # (n, K)
            up = (diff[:, :-1] < 0) & (diff[:, 1:] >= 0)
            down = (diff[:, :-1] > 0) & (diff[:, 1:] <= 0)
            p_, c_ = np.nonzero(up | down)
            pts.append(p_ + start)
            cls.append(c_)
        point, cell = np.concatenate(pts), np.concatenate(cls)
    if point.size:
        q, d2, dm = _solve_cells(act, num, grid, cell, target[point])
    else:
        q = d2 = dm = np.empty(0)
    if zero:  # sigma_b = 0 is exactly the point q* = 0
        z = np.flatnonzero(target == 0)
        keep = ~np.isin(point, z)
        d2z, dmz = num.deriv_moment2(act, _Q_TINY), num.dq_moment2(act, _Q_TINY)
        point = np.concatenate([point[keep], z])
        q = np.concatenate([q[keep], np.zeros(z.size)])
        d2 = np.concatenate([d2[keep], np.full(z.size, d2z)])
        dm = np.concatenate([dm[keep], np.full(z.size, dmz)])
    order = np.lexsort((q, point))
    return point[order], q[order], d2[order], dm[order], (float(s_grid.min()), float(s_grid.max()))


def _reached(act, num, sw, sb, q_fix, q0: float) -> np.ndarray:
    """Whether the variance iterated from q0 goes to the fixed point q_fix (flat arrays; module docstring).

    On the rungs q0 2^(+-k) strictly between q0 and q_fix, F(q) - q must point towards
    q_fix wherever its sign is above rounding (the caller checks that the fixed point
    attracts).  Each rung is checked only on the points it lies between.
    """
    n = q_fix.size
    ok = np.ones(n, dtype=bool)
    if n == 0:
        return ok
    order = np.argsort(q_fix, kind="stable")
    qs = q_fix[order]
    lo_k = int(np.floor(np.log2(max(float(qs[0]), 1e-30) / q0))) - 1 if qs[0] < q0 else 0
    hi_k = int(np.ceil(np.log2(float(qs[-1]) / q0))) + 1 if qs[-1] > q0 else 0
    ks = np.arange(max(lo_k, -100), hi_k + 1)
    rungs = q0 * np.exp2(ks.astype(float))
    m2 = num.moment2(act, rungs)
    for r, m in zip(rungs.tolist(), m2.tolist()):
        if r < q0:  # points with q_fix < r (ascending order: a prefix)
            sel = order[: np.searchsorted(qs, r * (1 - 1e-9), side="left")]
            towards = -1.0
        elif r > q0:  # points with q_fix > r (a suffix)
            sel = order[np.searchsorted(qs, r * (1 + 1e-9), side="right") :]
            towards = 1.0
        else:  # r = q0: every point not at q0 must move towards its fixed point
            sel = np.flatnonzero(np.abs(q_fix - q0) > 1e-9 * q0)
            towards = None
        if sel.size == 0:
            continue
        F = sb[sel] ** 2 + sw[sel] ** 2 * m
        g = F - r
        decided = np.abs(g) > 16 * _EPS * (np.abs(F) + r)
        want = np.sign(q_fix[sel] - q0) if towards is None else towards
        ok[sel] &= ~(decided & (np.sign(g) != want))
    return ok


def _where_it_goes(act, sw, sb, q0, num) -> str:
    try:
        q = float(_q_star(act, sw, sb, q0=q0, numerics=num))
    except ValueError as exc:
        return "grows without bound" if "without bound" in str(exc) else "does not settle"
    return f"goes to q = {q:.6g} instead"


def _explain(act, sb, sw, q, cq, ok, q0, num, reach) -> ValueError:
    if sw is None:
        return _no_eoc(
            act,
            float(sb),
            f" (sigma_b^2(q*) = q* - E[phi^2]/E[phi'^2] stays in [{reach[0]:.4g}, {reach[1]:.4g}] for q* in [1e-12, 1e8])",
        )
    if q == 0 and cq >= 1:
        why = "repelling (F(q) > q just above q* = 0)"
    elif cq >= 1:
        why = f"unstable (chi_q = {float(cq):.6g} > 1)"
    else:
        why = "not the one reached from q0 (another fixed point lies between)"
    return _no_eoc(
        act,
        float(sb),
        f": chi_1 = 1 holds at sigma_w={float(sw):.6g}, q*={float(q):.6g}, but that fixed point is {why}; "
        f"a network initialized there has a variance that, from q0={q0:g}, {_where_it_goes(act, sw, sb, q0, num)}",
    )


def _curve_points(act: Activation, sb: np.ndarray, num: Numerics, q0: float, missing: str):
    """(sb, sigma_w, q*, chi_q, valid) on the EOC for flat sigma_b, one point per sigma_b (or fewer)."""
    if act.homogeneous:
        sw2 = 1.0 / num.deriv_moment2(act, np.ones(1))[0]
        bad = sb > 0
        if bad.any() and missing == "raise":
            raise _no_eoc(
                act,
                float(sb[np.flatnonzero(bad)[0]]),
                f": for this positively homogeneous activation the EOC is the single point "
                f"(sigma_b, sigma_w) = (0, {np.sqrt(sw2):.6g}), where every q is a fixed point",
            )
        keep = ~bad
        n = int(keep.sum())
        chi = np.full(n, sw2 * float(num.dq_moment2(act, 1.0)))
        return sb[keep], np.full(n, np.sqrt(sw2)), np.full(n, q0), chi, np.ones(n, bool)
    point, q, d2, dm, reach = _eoc_candidates(act, sb, num)
    sw = 1.0 / np.sqrt(d2)
    cq = dm / d2
    sbp = sb[point]
    stable = (cq < 1) | (q == 0)
    valid = stable & _reached(act, num, sw, sbp, q, q0)
    # One point per sigma_b: the valid one with the smallest q*, else (for "keep") the smallest q*.
    order = np.lexsort((q, ~valid, point))
    first_pts, first = np.unique(point[order], return_index=True)
    chosen = np.full(sb.size, -1)
    chosen[first_pts] = order[first]
    has_valid = np.zeros(sb.size, dtype=bool)
    has_valid[first_pts] = valid[order[first]]
    if missing == "raise" and not has_valid.all():
        i = int(np.flatnonzero(~has_valid)[0])
        j = chosen[i]
        if j < 0:
            raise _explain(act, sb[i], None, None, None, None, q0, num, reach)
        raise _explain(act, sb[i], sw[j], q[j], cq[j], valid[j], q0, num, reach)
    take = has_valid if missing == "drop" else chosen >= 0
    idx = chosen[take]
    return sb[take], sw[idx], q[idx], cq[idx], valid[idx]


def _check_q0(q0) -> float:
    q = check_positive(q0, "q0")
    if q.ndim:
        raise ValueError(f"q0 must be a scalar, got q0={q0!r}")
    return float(q)


def edge_of_chaos(act, sigma_b=0.0, *, q0: float = 1.0, numerics: Numerics | None = None):
    r"""The weight scale :math:`\sigma_w` putting ``(act, sigma_w, sigma_b)`` on the EOC.

    Parameters
    ----------
    act : str or Activation
    sigma_b : array_like
        Bias standard deviation(s), >= 0.
    q0 : float
        Starting variance of the network's pre-activations: the EOC fixed point must be
        the one the variance reaches from it (module docstring).

    Returns
    -------
    numpy scalar or ndarray
        :math:`\sigma_w` with :math:`\chi_1 = 1` at the fixed point q* reached from
        ``q0``, same shape as ``sigma_b``.  For tanh, sigma_b = 0.2 gives 1.3041458...
        (q* = 0.5120785...).

    Raises
    ------
    ValueError
        If the activation has no valid EOC at ``sigma_b`` (ReLU: only sigma_b = 0,
        where sigma_w = sqrt 2; GELU at sigma_b = 0.1, where chi_1 = 1 only at an
        unstable fixed point); the message says which and why.

    Notes
    -----
    Exactness: the EOC condition is solved to a few ulps in q* (on an interpolant of
    :math:`\sigma_b^2(q)`, then one Newton step on the exact function); sigma_w then
    follows from the closed expression above, so the result is as accurate as the
    quadrature (~1e-15 relative).  Where several q* solve the condition the valid one
    with the smallest q* is returned.

    Tiny biases: near the origin :math:`\sigma_b^2(q) = q - \mathbb E[\phi^2]/\mathbb E[\phi'^2]`
    is a difference of two terms of size q that cancel to :math:`O(q^3)` for smooth odd
    activations (:math:`O(q^{3/2})` with a kink), so for :math:`0 < \sigma_b \lesssim 10^{-9}`
    the condition is below the rounding of its terms and the accuracy of sigma_w
    degrades (to ~1e-8 at sigma_b = 1e-30 for tanh, whose exact value there is 1 to
    1e-20).  sigma_b = 0 itself is exact.
    """
    act = get_activation(act)
    sb = check_squares_finite(check_nonnegative(sigma_b, "sigma_b"), "sigma_b")
    q0 = _check_q0(q0)
    num = resolve_numerics(numerics)
    _, sw, _, _, _ = _curve_points(act, sb.reshape(-1), num, q0, "raise")
    return scalar_out(sw.reshape(sb.shape))


def eoc_curve(
    act,
    sigma_b=None,
    *,
    q_star=None,
    num: int = 101,
    sigma_b_max: float = 2.0,
    q0: float = 1.0,
    missing: str | None = None,
    numerics: Numerics | None = None,
) -> EOCCurve:
    r"""The edge-of-chaos curve of an activation.

    Give either ``sigma_b`` (solve for sigma_w at each value), or ``q_star`` (the
    parametrization of the module docstring: no root finding, points with
    :math:`\sigma_b^2(q^*) < 0` are dropped), or neither (``num`` values of sigma_b
    in ``[0, sigma_b_max]``).  For positively homogeneous activations the curve is
    the single point (0, sigma_w).

    Parameters
    ----------
    missing : {"raise", "drop", "keep"}, optional
        What to do with a sigma_b (or q*) that has no valid EOC point (module
        docstring): raise a ValueError saying why, drop it, or keep it with
        ``valid=False`` (to draw unstable branches).  Default ``"raise"`` for an
        explicit ``sigma_b``, ``"drop"`` otherwise.
    q0 : float
        Starting variance for the validity test (module docstring).

    Returns
    -------
    EOCCurve
    """
    act = get_activation(act)
    nm = resolve_numerics(numerics)
    q0 = _check_q0(q0)
    if sigma_b is not None and q_star is not None:
        raise ValueError("give sigma_b or q_star, not both")
    if missing is None:
        missing = "raise" if sigma_b is not None else "drop"
    missing = check_choice(missing, "missing", MISSING)
    if q_star is not None:
        q = check_positive(q_star, "q_star").reshape(-1)
        if act.homogeneous:
            raise ValueError(
                f"q_star= parametrizes no curve for the positively homogeneous activation {act.label!r}: "
                f"its EOC is the single point sigma_b = 0, where every q is a fixed point"
            )
        sb2, sw2 = _sigma_b2_of_q(act, q, nm)
        keep = sb2 >= 0
        q, sb2, sw2 = q[keep], sb2[keep], sw2[keep]
        sb, sw = np.sqrt(sb2), np.sqrt(sw2)
        cq = sw2 * nm.dq_moment2(act, q)
        valid = (cq < 1) & _reached(act, nm, sw, sb, q, q0)
        if missing == "raise" and not valid.all():
            j = int(np.flatnonzero(~valid)[0])
            raise _explain(act, sb[j], sw[j], q[j], cq[j], False, q0, nm, None)
        if missing == "drop":
            sb, sw, q, cq, valid = sb[valid], sw[valid], q[valid], cq[valid], valid[valid]
        return EOCCurve(act, sb, sw, q, cq, valid, q0)
    if sigma_b is None:
        sigma_b_max = float(check_positive(sigma_b_max, "sigma_b_max"))
        n = check_int(num, "num", minimum=1)
        sigma_b = np.linspace(0.0, sigma_b_max, n)
    sb = check_squares_finite(check_nonnegative(sigma_b, "sigma_b"), "sigma_b").reshape(-1)
    sb, sw, q, cq, valid = _curve_points(act, sb, nm, q0, missing)
    if sb.size == 0:
        raise _no_eoc(act, float(np.asarray(sigma_b).reshape(-1)[0]), ": no sigma_b of the request has a valid EOC point")
    return EOCCurve(act, sb, sw, q, cq, valid, q0)
