r"""The correlation map, its fixed point c* and its iterates.

docs/theory.md §2 and §9; Poole et al. (2016), eq. (5); Schoenholz et al. (2017), eq. (4).

For two inputs whose pre-activations both have variance q and correlation c, one
layer maps the correlation to

.. math::

    f_q(c) = \frac{\sigma_b^2 + \sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)]}{F(q)},\qquad
    \operatorname{Cov}(u) = q\begin{pmatrix}1 & c\\ c & 1\end{pmatrix},

computed as :math:`1 - \sigma_w^2\,\tfrac12\mathbb E[(\phi(u_1)-\phi(u_2))^2]/F(q)` so that
:math:`f(1) = 1` holds exactly and :math:`1 - f(c)` keeps its relative accuracy as
:math:`c\to1`.  At the variance fixed point (the default, ``q = q*``) it is the map
:math:`f(c)` of the mean-field literature, with :math:`f(1) = 1` and, by Price's
theorem, :math:`f'(c) = \sigma_w^2\,q\,\mathbb E[\phi'(u_1)\phi'(u_2)]/F(q)` so that
:math:`f'(1) = \chi_1`.

Deep iterates
-------------
In the gap :math:`\delta = 1 - c` and the angle :math:`\theta = \arccos c = 2\arcsin\sqrt{\delta/2}`
one layer is :math:`\delta \mapsto \delta\,R(\theta)` with the gap ratio

.. math::

    R(\theta) = \frac{1 - f(\cos\theta)}{1 - \cos\theta},\qquad R(0) = f'(1),

which is smooth on :math:`[0, \pi]` even for kinked activations (for ReLU on the EOC,
:math:`R(\theta) = 1 - (\sin\theta - \theta\cos\theta)/(\pi(1-\cos\theta))`).
:func:`correlation_iterates` iterates :math:`\delta` itself, so :math:`1 - c^l` keeps its
relative accuracy at any depth (``gap=True`` returns it), and for deep iterations it
iterates a piecewise-polynomial interpolant of R (:mod:`eoc._interp`, relative error
below ``8 * 2e-15``, tested in ``tests/test_interp.py``), built once from about a
hundred quadratures: depth :math:`10^5` then costs a few microseconds per layer instead
of a quadrature per layer (``bench/bench_eoc_deep.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ._expect import Numerics, resolve_numerics
from ._interp import DEFAULT_TOL, Piecewise, fit_piecewise
from ._maps import parse_params, q_star
from ._roots import solve_bracketed
from ._validate import check_closed_interval, check_int, check_nonnegative, check_positive, scalar_out

__all__ = [
    "resolve_q",
    "correlation_map",
    "correlation_map_derivative",
    "correlation_iterates",
    "c_star",
    "gap_ratio",
]

# Correlations are scale-free for homogeneous activations and degenerate at q = 0;
# evaluating at a tiny positive q gives the q -> 0 limit without 0/0.
_Q_FLOOR = 1e-200
_CHI_TOL = 1e-12
_EPS = np.finfo(np.float64).eps
#: Depth from which correlation_iterates iterates the interpolant of R (when it pays).
INTERP_DEPTH = 128
#: At most this many distinct (sigma_w, sigma_b, q) get an interpolant each; more points iterate directly.
INTERP_MAX_PARAMS = 16


def resolve_q(act, sw, sb, q, num: Numerics) -> np.ndarray:
    """``q`` validated, or q* when ``q`` is None; floored at 1e-200 (see module notes)."""
    if q is None:
        q = q_star(act, sw, sb, numerics=num)
    else:
        q = check_nonnegative(q, "q")
    return np.maximum(np.asarray(q, dtype=np.float64), _Q_FLOOR)


def _variance(act, sw, sb, q, num):
    return sb**2 + sw**2 * num.moment2(act, q)


def _f(c, act, sw, sb, q, num):
    # 1 - f(c) = sigma_w^2 E[(phi(u1) - phi(u2))^2] / (2 F(q)): exact f(1) = 1 and full
    # relative accuracy of 1 - c^l near 1, where c^l converges on the EOC.
    return 1.0 - sw**2 * num.half_sq_diff(act, q, c) / _variance(act, sw, sb, q, num)


def _theta_of_gap(delta):
    return 2.0 * np.arcsin(np.sqrt(np.clip(0.5 * np.asarray(delta, dtype=np.float64), 0.0, 1.0)))


def _ratio_exact(theta, act, sw, sb, q, num, variance=None):
    """R(theta) by quadrature (module docstring), R(0) = f'(1) = sigma_w^2 q E[phi'^2] / F(q)."""
    theta = np.asarray(theta, dtype=np.float64)
    var = _variance(act, sw, sb, q, num) if variance is None else variance
    gap = 2.0 * np.sin(0.5 * theta) ** 2
    zero = theta == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sw**2 * num.half_sq_diff(act, q, theta=theta) / np.where(zero, 1.0, gap) / var
    if zero.any():
        lim = sw**2 * q * num.deriv_moment2(act, q) / var
        r = np.where(zero, lim, r)
    return r


def gap_ratio(act, sigma_w: float, sigma_b: float, q=None, *, tol: float = DEFAULT_TOL, numerics: Numerics | None = None) -> Piecewise:
    r"""The interpolant of :math:`R(\theta) = (1 - f_q(\cos\theta))/(1-\cos\theta)` on :math:`[0, \pi]`.

    Scalar ``sigma_w``, ``sigma_b`` and ``q`` (default q*).  Its :attr:`~eoc._interp.Piecewise.error`
    is the estimated relative error; evaluate it as ``R(theta)``.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    qq = float(resolve_q(act, sw, sb, q, num))
    sw, sb = float(sw), float(sb)
    return _fit_ratio(act, sw, sb, qq, num, tol)


def _fit_ratio(act, sw, sb, q, num, tol=DEFAULT_TOL) -> Piecewise:
    """Build R on few high-degree panels (few quadratures), then resample it on low-degree
    panels (cheap to evaluate in a loop over layers)."""
    var = float(_variance(act, sw, sb, q, num))
    coarse = fit_piecewise(lambda th: _ratio_exact(th, act, sw, sb, q, num, var), 0.0, np.pi, degree=32, initial=2, tol=tol)
    fine = fit_piecewise(coarse, 0.0, np.pi, degree=10, initial=8, tol=0.25 * tol)
    return Piecewise(fine.breaks, fine.values, coarse.error + fine.error)


def correlation_map(c, act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None):
    r"""The correlation map :math:`f_q(c)` (module docstring); ``q`` defaults to q*.

    Parameters
    ----------
    c : array_like
        Input correlation(s) in [-1, 1].
    act, sigma_w, sigma_b
        Activation and initialization.
    q : array_like, optional
        Common variance of the two pre-activations; default the fixed point q*.

    Returns
    -------
    numpy scalar or ndarray
        Output correlation, broadcast over all arguments.  Accuracy: ~1e-16 absolute
        for every c, and ~1e-15 relative on :math:`1 - f(c)` as :math:`c\to1`.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c, "c", -1.0, 1.0)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return scalar_out(_f(c, act, sw, sb, q, num))


def correlation_map_derivative(c, act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None):
    r""":math:`f_q'(c) = \sigma_w^2\, q\,\mathbb E[\phi'(u_1)\phi'(u_2)] / F(q)` (Price's theorem)."""
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c, "c", -1.0, 1.0)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return scalar_out(sw**2 * q * num.deriv_kernel(act, q, q, c * q) / _variance(act, sw, sb, q, num))


def _iterate_gap_interp(ratio, d0: float, depth: int, out: np.ndarray) -> None:
    """Fill ``out[0..depth]`` with the gap orbit of ``d -> d R(theta(d))`` (Python floats)."""
    asin, sqrt = math.asin, math.sqrt
    d = float(d0)
    out[0] = d
    r_prev = None
    for l in range(1, depth + 1):
        th = 2.0 * asin(sqrt(0.5 * d)) if d < 2.0 else math.pi
        r = ratio(th)
        nd = d * r
        if nd > 2.0:
            nd = 2.0
        out[l] = nd
        if nd == d:  # stationary in floating point: a fixed point c* < 1 (or c = 1)
            out[l + 1 :] = nd
            return
        if r == r_prev and r < 1.0:  # R is constant to rounding: the tail is geometric
            k = np.arange(1, depth - l + 1, dtype=np.float64)
            out[l + 1 :] = nd * np.power(r, k)
            return
        r_prev = r
        d = nd


def _iterate_gap_direct(d, depth, act, sw, sb, qq, num):
    """Layer-by-layer quadrature of the gap orbit, vectorized over points (flat arrays)."""
    out = [d]
    var = _variance(act, sw, sb, qq, num)
    for _ in range(depth):
        th = _theta_of_gap(out[-1])
        gap = out[-1] * _ratio_exact(th, act, sw, sb, qq, num, var)
        out.append(np.clip(gap, 0.0, 2.0))
    return np.stack(out)


def _iterate_fixed_q(d0, depth, act, sw, sb, qq, num, interpolate):
    """Gap orbits at fixed variance for flat arrays d0, sw, sb, qq."""
    n = d0.size
    params = np.stack([sw, sb, qq], axis=1)
    uniq, inverse = np.unique(params, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    if interpolate is None:
        interpolate = depth >= INTERP_DEPTH and uniq.shape[0] <= INTERP_MAX_PARAMS
    if not interpolate:
        return _iterate_gap_direct(d0, depth, act, sw, sb, qq, num)
    out = np.empty((depth + 1, n))
    for u, (s_w, s_b, q_) in enumerate(uniq):
        ratio = _fit_ratio(act, s_w, s_b, q_, num).scalar()
        for i in np.flatnonzero(inverse == u):
            col = np.empty(depth + 1)
            _iterate_gap_interp(ratio, float(d0[i]), depth, col)
            out[:, i] = col
    return out


def correlation_iterates(
    c0,
    depth: int,
    act,
    sigma_w,
    sigma_b,
    *,
    q=None,
    q0=None,
    gap: bool = False,
    interpolate: bool | None = None,
    numerics: Numerics | None = None,
) -> np.ndarray:
    r"""Correlations :math:`c^0 = c_0, c^1, \dots, c^{\text{depth}}` through ``depth`` layers.

    By default each layer applies the map at the fixed point, :math:`c^l = f(c^{l-1})`
    (the usual mean-field assumption that variances have converged).  With ``q0``
    the variances are propagated too: two inputs of variance ``q0`` and correlation
    ``c0`` give :math:`q^l = F(q^{l-1})`, :math:`c^l = f_{q^{l-1}}(c^{l-1})`, exact in
    the infinite-width limit at every depth.

    Parameters
    ----------
    gap : bool
        Return :math:`1 - c^l` instead of :math:`c^l`, at full relative accuracy (the
        iteration runs on the gap; ``c = 1 - gap`` rounds it to the spacing of floats near 1).
    interpolate : bool, optional
        Iterate the interpolant of the map (module docstring) instead of a quadrature
        per layer; default: when ``depth >= 128`` and there are at most 16 distinct
        parameter points.  The two agree to a relative ~1e-13 on :math:`1 - c^l`.

    Returns
    -------
    ndarray
        Shape ``(depth + 1,) + broadcast shape``.
    """
    depth = check_int(depth, "depth")
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c0, "c0", -1.0, 1.0)
    num = resolve_numerics(numerics)
    if interpolate not in (None, True, False):
        raise ValueError(f"interpolate must be None, True or False, got interpolate={interpolate!r}")
    if not isinstance(gap, (bool, np.bool_)):
        raise ValueError(f"gap must be True or False, got gap={gap!r}")
    if q0 is not None and q is not None:
        raise ValueError("give either q (fixed variance) or q0 (propagated variance), not both")
    if q0 is None:
        qq = resolve_q(act, sw, sb, q, num)
        c, qq, sw, sb = np.broadcast_arrays(c, qq, sw, sb)
        shape = c.shape
        flat = [v.reshape(-1).astype(np.float64) for v in (c, sw, sb, qq)]
        d = _iterate_fixed_q(1.0 - flat[0], depth, act, flat[1], flat[2], flat[3], num, interpolate)
    else:
        qq = check_positive(q0, "q0")
        c, qq, sw, sb = np.broadcast_arrays(c, qq, sw, sb)
        shape = c.shape
        cf, swf, sbf, qf = (v.reshape(-1).astype(np.float64) for v in (c, sw, sb, qq))
        rows = [1.0 - cf]
        # Propagate the variance with the gap until it is stationary, then fix q there.
        l = 0
        while l < depth:
            qe = np.maximum(qf, _Q_FLOOR)
            var = _variance(act, swf, sbf, qe, num)
            rows.append(np.clip(rows[-1] * _ratio_exact(_theta_of_gap(rows[-1]), act, swf, sbf, qe, num, var), 0.0, 2.0))
            l += 1
            nq = var
            if not np.all(np.isfinite(nq)):
                raise ValueError(f"overflow: the variance exceeds the float64 range at layer {l}")
            stationary = np.all(nq == qf)
            qf = nq
            if stationary and depth - l >= INTERP_DEPTH:
                tail = _iterate_fixed_q(rows[-1], depth - l, act, swf, sbf, np.maximum(qf, _Q_FLOOR), num, interpolate)
                rows += list(tail[1:])
                break
        d = np.stack(rows)
    d = d.reshape((depth + 1,) + shape)
    return d if gap else 1.0 - d


def c_star(act, sigma_w, sigma_b, *, q=None, numerics: Numerics | None = None):
    r"""The stable fixed point :math:`c^*` of the correlation map at q*.

    :math:`c^* = 1` in the ordered phase and on the EOC (:math:`\chi_1 \le 1`).  In the
    chaotic phase (:math:`\chi_1 > 1`) the gap ratio :math:`R(\theta)` (module docstring)
    is above 1 near :math:`\theta = 0` and :math:`1 - R(\pi/2) = f(0) = (\sigma_b^2 +
    \sigma_w^2\mathbb E[\phi]^2)/q^* \ge 0`, so :math:`f(c) = c` has a root in [0, 1): a ladder
    :math:`c_k = 1 - 2^{-k}` brackets the first sign change of :math:`1 - R`, which is then
    solved in :math:`\theta` to a few ulps, with the sign at c = 0 taken from the exact
    :math:`f(0)` (so a root at c* = 0, as for odd activations with sigma_b = 0, is found
    exactly instead of being lost to rounding).  When :math:`\chi_1 - 1 < 10^{-12}` (the
    EOC up to rounding), or so small that c* is within rounding of 1, 1 is returned.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    qq = resolve_q(act, sw, sb, q, num)
    qq, sw, sb = np.broadcast_arrays(qq, sw, sb)
    shape = qq.shape
    qq, sw, sb = (a.reshape(-1).astype(np.float64) for a in (qq, sw, sb))
    chi1 = sw**2 * num.deriv_moment2(act, qq)
    out = np.ones(qq.size)
    idx = np.flatnonzero(chi1 > 1.0 + _CHI_TOL)
    if idx.size:
        out[idx] = _c_star_chaotic(act, sw[idx], sb[idx], qq[idx], num)
    return scalar_out(out.reshape(shape))


def _c_star_chaotic(act, sw, sb, qq, num) -> np.ndarray:
    var = _variance(act, sw, sb, qq, num)
    f0 = (sb**2 + sw**2 * num.mean(act, qq) ** 2) / var
    out = np.ones(sw.size)
    out[f0 == 0] = 0.0

    def s(theta, i):  # sign-carrying 1 - R(theta) = (f(c) - c) / (1 - c)
        return 1.0 - _ratio_exact(theta, act, sw[i], sb[i], qq[i], num, var[i])

    todo = np.flatnonzero(f0 > 0)
    lo_th = np.full(sw.size, 0.5 * np.pi)
    lo_s = f0.copy()  # 1 - R(pi/2) = f(0), exactly
    hi_th = np.full(sw.size, np.nan)
    hi_s = np.full(sw.size, np.nan)
    for k in range(1, 53):
        if todo.size == 0:
            break
        th = np.full(todo.size, 2.0 * math.asin(math.sqrt(2.0 ** -(k + 1))))
        v = s(th, todo)
        decided = np.abs(v) > 8 * _EPS * np.maximum(1.0, np.abs(v))
        neg = decided & (v < 0)
        hi_th[todo[neg]] = th[neg]
        hi_s[todo[neg]] = v[neg]
        pos = decided & (v > 0)
        lo_th[todo[pos]] = th[pos]
        lo_s[todo[pos]] = v[pos]
        todo = todo[~neg]
    # Points without a decided negative rung have c* within rounding of 1.
    found = np.flatnonzero(np.isfinite(hi_th))
    if found.size:
        theta = solve_bracketed(
            s, lo_th[found], hi_th[found], (found,), f_lo=lo_s[found], f_hi=hi_s[found], xrtol=num.xrtol
        )
        out[found] = np.cos(theta)
    return out
