r"""The correlation map, its fixed point c* and its iterates.

THEORY.md section 2; Poole et al. (2016), eq. (5); Schoenholz et al. (2017), eq. (4).

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
"""

from __future__ import annotations

import numpy as np

from ._expect import Numerics, resolve_numerics
from ._maps import parse_params, q_star
from ._roots import ladder_bracket, solve_bracketed
from ._validate import check_closed_interval, check_int, check_nonnegative, check_positive

__all__ = [
    "resolve_q",
    "correlation_map",
    "correlation_map_derivative",
    "correlation_iterates",
    "c_star",
]

# Correlations are scale-free for homogeneous activations and degenerate at q = 0;
# evaluating at a tiny positive q gives the q -> 0 limit without 0/0.
_Q_FLOOR = 1e-200
_C_LADDER = 1.0 - 2.0 ** -np.arange(1, 53, dtype=np.float64)
_CHI_TOL = 1e-12


def resolve_q(act, sw, sb, q, num: Numerics) -> np.ndarray:
    """``q`` validated, or q* when ``q`` is None; floored at 1e-200 (see module notes)."""
    if q is None:
        q = q_star(act, sw, sb, numerics=num)
    else:
        q = check_nonnegative(q, "q")
    return np.maximum(q, _Q_FLOOR)


def _f(c, act, sw, sb, q, num):
    # 1 - f(c) = sigma_w^2 E[(phi(u1) - phi(u2))^2] / (2 F(q)): exact f(1) = 1 and full
    # relative accuracy of 1 - c^l near 1, where c^l converges on the EOC.
    gap = sw**2 * num.half_sq_diff(act, q, c) / (sb**2 + sw**2 * num.moment2(act, q))
    return 1.0 - gap


def correlation_map(c, act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None) -> np.ndarray:
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
    ndarray
        Output correlation, broadcast over all arguments.  Accuracy: ~1e-16 absolute
        for every c, and ~1e-14 relative on :math:`1 - f(c)` as :math:`c\to1`.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c, "c", -1.0, 1.0)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return _f(c, act, sw, sb, q, num)


def correlation_map_derivative(
    c, act, sigma_w, sigma_b, q=None, *, numerics: Numerics | None = None
) -> np.ndarray:
    r""":math:`f_q'(c) = \sigma_w^2\, q\,\mathbb E[\phi'(u_1)\phi'(u_2)] / F(q)` (Price's theorem)."""
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c, "c", -1.0, 1.0)
    num = resolve_numerics(numerics)
    q = resolve_q(act, sw, sb, q, num)
    return sw**2 * q * num.deriv_kernel(act, q, q, c * q) / (sb**2 + sw**2 * num.moment2(act, q))


def correlation_iterates(
    c0,
    depth: int,
    act,
    sigma_w,
    sigma_b,
    *,
    q=None,
    q0=None,
    numerics: Numerics | None = None,
) -> np.ndarray:
    r"""Correlations :math:`c^0 = c_0, c^1, \dots, c^{\text{depth}}` through ``depth`` layers.

    By default each layer applies the map at the fixed point, :math:`c^l = f(c^{l-1})`
    (the usual mean-field assumption that variances have converged).  With ``q0``
    the variances are propagated too: two inputs of variance ``q0`` and correlation
    ``c0`` give :math:`q^l = F(q^{l-1})`, :math:`c^l = f_{q^{l-1}}(c^{l-1})`, exact in
    the infinite-width limit at every depth.

    Returns
    -------
    ndarray
        Shape ``(depth + 1,) + broadcast shape``.
    """
    depth = check_int(depth, "depth")
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    c = check_closed_interval(c0, "c0", -1.0, 1.0)
    num = resolve_numerics(numerics)
    if q0 is not None and q is not None:
        raise ValueError("give either q (fixed variance) or q0 (propagated variance), not both")
    if q0 is None:
        qq = resolve_q(act, sw, sb, q, num)
        c, qq, sw, sb = np.broadcast_arrays(c, qq, sw, sb)
        out = [c.astype(np.float64)]
        for _ in range(depth):
            out.append(np.clip(_f(out[-1], act, sw, sb, qq, num), -1.0, 1.0))
        return np.stack(out)
    qq = check_positive(q0, "q0")
    c, qq, sw, sb = np.broadcast_arrays(c, qq, sw, sb)
    out = [c.astype(np.float64)]
    qq = qq.astype(np.float64)
    for _ in range(depth):
        qf = np.maximum(qq, _Q_FLOOR)
        out.append(np.clip(_f(out[-1], act, sw, sb, qf, num), -1.0, 1.0))
        qq = sb**2 + sw**2 * num.moment2(act, qf)
    return np.stack(out)


def c_star(act, sigma_w, sigma_b, *, q=None, numerics: Numerics | None = None) -> np.ndarray:
    r"""The stable fixed point :math:`c^*` of the correlation map at q*.

    :math:`c^* = 1` in the ordered phase and on the EOC (:math:`\chi_1 \le 1`).  In the
    chaotic phase (:math:`\chi_1 > 1`) :math:`f(c) - c` is negative just below 1 and
    :math:`f(0) = (\sigma_b^2 + \sigma_w^2\mathbb E[\phi]^2)/q^* \ge 0`, so a root lies in
    [0, 1): a ladder :math:`c_k = 1 - 2^{-k}` brackets the first sign change, which is
    then solved to a few ulps.  When :math:`\chi_1 - 1 < 10^{-12}` (the EOC up to
    rounding), or so small that c* is within rounding of 1, 1 is returned.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    num = resolve_numerics(numerics)
    qq = resolve_q(act, sw, sb, q, num)
    qq, sw, sb = np.broadcast_arrays(qq, sw, sb)
    shape = qq.shape
    qq, sw, sb = (a.reshape(-1).astype(np.float64) for a in (qq, sw, sb))
    chi1 = sw**2 * num.deriv_moment2(act, qq)
    out = np.ones(qq.size)
    # chi_1 within 1e-12 of 1 is the EOC (e.g. ReLU at sigma_w = sqrt 2 in floating point).
    idx = np.flatnonzero(chi1 > 1.0 + _CHI_TOL)
    if idx.size:
        swi, sbi, qi = sw[idx], sb[idx], qq[idx]

        def h(c, sw_, sb_, q_):
            return _f(c, act, sw_, sb_, q_, num) - c

        rungs = np.repeat(_C_LADDER[:, None], idx.size, axis=1)
        found, prev, hit, _ = ladder_bracket(
            lambda x, i: h(x, swi[i], sbi[i], qi[i]), np.zeros(idx.size), rungs, -np.ones(idx.size)
        )
        res = np.ones(idx.size)
        f = np.flatnonzero(found)
        if f.size:
            res[f] = solve_bracketed(h, prev[f], hit[f], (swi[f], sbi[f], qi[f]), xrtol=num.xrtol)
        out[idx] = res
    return out.reshape(shape)
