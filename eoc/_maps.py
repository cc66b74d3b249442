r"""Forward variance and covariance maps, the variance fixed points and deep variance orbits.

docs/theory.md §2 and §9; Poole et al. (2016), eqs. (3)-(5).

.. math::

    F(q) = \sigma_b^2 + \sigma_w^2\,\mathbb E[\phi(\sqrt q Z)^2],\qquad
    F_{12}(q_1, q_2, q_{12}) = \sigma_b^2 + \sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)].

Arguments follow the order ``(..., act, sigma_w, sigma_b)`` and broadcast like numpy
arrays; scalars in give numpy scalars out (:func:`eoc._validate.scalar_out`).

Which fixed point
-----------------
:math:`F` can have several fixed points (GELU and SiLU with small :math:`\sigma_b` have a
stable one near 0 and an unstable one above it; above the unstable one the variance
grows without bound).  :func:`q_star` returns the one **reached by iterating F from**
``q0``, the limit of :math:`q^l` in a network whose first pre-activations have variance
``q0``; :func:`variance_fixed_points` returns all of them with their slopes
:math:`\chi_q = F'(q^*)` and stability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._activations import Activation, get_activation
from ._expect import Numerics, resolve_numerics
from ._interp import octave_table
from ._roots import solve_bracketed
from ._validate import (
    check_finite,
    check_int,
    check_nonnegative,
    check_positive,
    check_squares_finite,
    scalar_out,
)

__all__ = [
    "parse_params",
    "variance_map",
    "covariance_map",
    "variance_iterates",
    "variance_orbit",
    "moment_function",
    "q_star",
    "variance_fixed_points",
    "FixedPoints",
    "HOMOGENEOUS_TOL",
]

#: |chi - 1| below which a homogeneous activation with sigma_b = 0 counts as critical.
HOMOGENEOUS_TOL = 1e-12
_EPS = np.finfo(np.float64).eps
#: |F(q) - q| below NOISE * eps * (|F| + q) is rounding, not a sign.
_NOISE = 16.0
_Q_MIN = 1e-300  # the downward ladder stops here (then the bracket is closed by q = 0)
#: Depth above which the variance recursions iterate an interpolant of E[phi^2] (eoc._interp).
DIRECT_DEPTH = 64
#: Iterations of F tried when F is not monotone between q0 and the first fixed point.
_ORBIT_ITER = 20000


def parse_params(act, sigma_w, sigma_b) -> tuple[Activation, np.ndarray, np.ndarray]:
    """Validate ``(act, sigma_w, sigma_b)``: known activation, sigma_w > 0, sigma_b >= 0, squares finite."""
    act = get_activation(act)
    sw = check_squares_finite(check_positive(sigma_w, "sigma_w"), "sigma_w")
    sb = check_squares_finite(check_nonnegative(sigma_b, "sigma_b"), "sigma_b")
    return act, sw, sb


def _overflow_guard(value: np.ndarray, what: str, **where) -> np.ndarray:
    if not np.all(np.isfinite(value)):
        i = np.flatnonzero(~np.isfinite(value))[0]
        at = ", ".join(f"{k}={float(np.broadcast_to(v, value.shape).flat[i])!r}" for k, v in where.items())
        raise ValueError(f"overflow: {what} exceeds the float64 range at {at}")
    return value


def variance_map(q, act, sigma_w, sigma_b, *, numerics: Numerics | None = None):
    r"""The variance map :math:`F(q) = \sigma_b^2 + \sigma_w^2 \mathbb E[\phi(\sqrt q Z)^2]`.

    Parameters
    ----------
    q : array_like
        Pre-activation variance of the previous layer, ``q >= 0``.
    act : str or Activation
    sigma_w, sigma_b : array_like
        Weight and bias standard deviations (weights have variance sigma_w^2 / fan-in).

    Returns
    -------
    numpy scalar or ndarray
        :math:`F(q)`, broadcast over all arguments.

    Raises
    ------
    ValueError
        Bad arguments, an activation that is not finite on the integration range, or
        a result beyond the float64 range ("overflow").
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q = check_nonnegative(q, "q")
    with np.errstate(over="ignore"):
        out = sb**2 + sw**2 * resolve_numerics(numerics).moment2(act, q)
    return scalar_out(_overflow_guard(out, "F(q)", q=q, sigma_w=sw, sigma_b=sb))


def covariance_map(q1, q2, q12, act, sigma_w, sigma_b, *, numerics: Numerics | None = None):
    r"""Covariance map :math:`\sigma_b^2 + \sigma_w^2\mathbb E[\phi(u_1)\phi(u_2)]`.

    :math:`(u_1, u_2)` is centred Gaussian with variances ``q1, q2`` and covariance
    ``q12`` (``|q12| <= sqrt(q1 q2)``).  With ``q1 = q2 = q12 = q`` it equals
    :func:`variance_map`.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q1 = check_nonnegative(q1, "q1")
    q2 = check_nonnegative(q2, "q2")
    q12 = check_finite(q12, "q12")
    bound = np.sqrt(q1 * q2) * (1.0 + 1e-12) + 1e-300
    bad = ~(np.abs(q12) <= bound)
    if bad.any():
        raise ValueError(
            "q12 must satisfy |q12| <= sqrt(q1 q2) (a valid covariance), "
            f"got q12={float(np.broadcast_to(q12, bad.shape)[bad].flat[0])!r}"
        )
    with np.errstate(over="ignore"):
        out = sb**2 + sw**2 * resolve_numerics(numerics).kernel(act, q1, q2, q12)
    return scalar_out(_overflow_guard(out, "F12", q1=q1, q2=q2))


# ---------------------------------------------------------------- deep orbits


def moment_function(act: Activation, num: Numerics, quantity: str = "moment2"):
    """A plain-Python ``float -> float`` for ``E[phi^2]`` (or ``deriv_moment2``) at q, fast per call.

    Positively homogeneous activations get their exact linear closed form; all others
    the lazily built :class:`eoc._interp.OctaveTable` (relative error ~1e-16 on top of
    the quadrature's), shared by every call with the same activation and numerics.
    """
    if act.homogeneous and quantity == "moment2":
        m2 = float(num.moment2(act, 1.0))
        return lambda q: m2 * q
    if act.homogeneous and quantity == "deriv_moment2":
        d2 = float(num.deriv_moment2(act, 1.0))
        return lambda q: d2
    return _table(act, num, quantity).scalar()


def _table(act: Activation, num: Numerics, quantity: str):
    fun = getattr(num, quantity)
    return octave_table((act, num, quantity), lambda q: fun(act, q, overflow="inf"))


def moment_array(act: Activation, num: Numerics, q: np.ndarray, quantity: str = "moment2") -> np.ndarray:
    """``E[phi^2]`` (or ``deriv_moment2``) at many q: quadrature when few, the octave table when many."""
    q = np.asarray(q, dtype=np.float64)
    if q.size <= 4 * DIRECT_DEPTH or act.homogeneous:
        return getattr(num, quantity)(act, q)
    return _table(act, num, quantity)(q)


def variance_orbit(
    act: Activation,
    num: Numerics,
    q0: float,
    gain,
    offset,
    *,
    residual: bool = False,
    what: str = "the variance",
) -> np.ndarray:
    r"""One orbit :math:`q^l = r\,q^{l-1} + b_l + a_l\,\mathbb E[\phi(\sqrt{q^{l-1}}Z)^2]`, l = 1..L.

    ``gain`` (:math:`a_l = \sigma_{w,l}^2`) and ``offset`` (:math:`b_l = \sigma_{b,l}^2`) are
    arrays of length L (or scalars with ``gain`` giving L through ``len``); ``residual``
    sets :math:`r = 1` (ResNet stream) instead of 0 (FFNN).  Short orbits use the
    quadrature at every layer; longer ones a Python loop over an interpolant of
    :math:`\mathbb E[\phi^2]` (:func:`moment_function`), stopping early once a constant-
    parameter orbit is stationary in floating point.

    Raises
    ------
    ValueError
        "overflow" (naming the layer) if the orbit leaves the float64 range.
    """
    a = np.asarray(gain, dtype=np.float64).reshape(-1)
    b = np.asarray(offset, dtype=np.float64).reshape(-1)
    n = max(a.size, b.size)
    a = np.broadcast_to(a, (n,))
    b = np.broadcast_to(b, (n,))
    out = np.empty(n + 1)
    out[0] = q0
    r = 1.0 if residual else 0.0
    if n <= DIRECT_DEPTH:
        return variance_orbit_direct(act, num, q0, a, b, r, what)
    m2 = moment_function(act, num)
    table = None if act.homogeneous else _table(act, num, "moment2")
    built = len(table) if table is not None else 0
    constant = bool(np.all(a == a[0]) and np.all(b == b[0]))
    al, bl = a.tolist(), b.tolist()
    q = float(q0)
    for l in range(n):
        nq = r * q + bl[l] + al[l] * m2(q)
        if not math.isfinite(nq):
            raise _orbit_overflow(what, l + 1, q)
        out[l + 1] = nq
        if constant and nq == q and not residual:
            out[l + 2 :] = nq
            break
        q = nq
        # An orbit that enters a new octave at most layers (a variance doubling per layer)
        # gains nothing from the table: finish it with the quadrature.
        if table is not None and l >= 64 and len(table) - built > (l + 1) // 2:
            out[l + 1 :] = variance_orbit_direct(act, num, q, a[l + 1 :], b[l + 1 :], r, what, l + 1)
            break
    return out


def variance_orbit_direct(act, num, q0, a, b, r, what, first_layer=0) -> np.ndarray:
    """The orbit of :func:`variance_orbit` by quadrature at every layer (``out[0] = q0``)."""
    out = np.empty(len(a) + 1)
    out[0] = q = float(q0)
    for l in range(len(a)):
        m = float(num.moment2(act, q, overflow="inf"))
        q = r * q + b[l] + a[l] * m
        if not math.isfinite(q):
            raise _orbit_overflow(what, first_layer + l + 1, out[l])
        out[l + 1] = q
    return out


def _orbit_overflow(what: str, layer: int, last: float) -> ValueError:
    return ValueError(
        f"overflow: {what} exceeds the float64 range at layer {layer} (it was {last:.4g} one layer before)"
    )


def variance_iterates(q0, depth: int, act, sigma_w, sigma_b, *, numerics: Numerics | None = None) -> np.ndarray:
    r"""Iterate the variance map: :math:`q^0 = q_0`, :math:`q^{l} = F(q^{l-1})`.

    Deep orbits (depth > 64) iterate an interpolant of :math:`\mathbb E[\phi^2]` with a
    relative error ~1e-16 over the quadrature (:mod:`eoc._interp`), so depth
    :math:`10^5` costs about a microsecond per layer per point (``bench/bench_eoc_deep.py``).

    Returns
    -------
    ndarray
        Shape ``(depth + 1,) + broadcast shape``; row ``l`` is :math:`q^l`.

    Raises
    ------
    ValueError
        "overflow" (naming the layer) when the variance leaves the float64 range, as it
        does where no finite fixed point exists.
    """
    depth = check_int(depth, "depth")
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q = check_nonnegative(q0, "q0")
    num = resolve_numerics(numerics)
    q, sw, sb = np.broadcast_arrays(q, sw, sb)
    shape = q.shape
    flat = [v.reshape(-1).astype(np.float64) for v in (q, sw, sb)]
    n = flat[0].size
    if depth <= DIRECT_DEPTH or n > DIRECT_DEPTH:
        out = [flat[0]]
        for l in range(depth):
            with np.errstate(over="ignore"):
                nxt = flat[2] ** 2 + flat[1] ** 2 * num.moment2(act, out[-1], overflow="inf")
            if not np.all(np.isfinite(nxt)):
                i = int(np.flatnonzero(~np.isfinite(nxt))[0])
                raise _orbit_overflow(
                    f"the variance (sigma_w={float(flat[1][i])!r}, sigma_b={float(flat[2][i])!r})", l + 1, out[-1][i]
                )
            out.append(nxt)
        res = np.stack(out)
    else:
        res = np.empty((depth + 1, n))
        for i in range(n):
            what = f"the variance (sigma_w={float(flat[1][i])!r}, sigma_b={float(flat[2][i])!r})"
            res[:, i] = variance_orbit(act, num, flat[0][i], np.full(depth, flat[1][i] ** 2), flat[2][i] ** 2, what=what)
    return res.reshape((depth + 1,) + shape)


# ---------------------------------------------------------------- fixed points


def _no_fixed_point(act: Activation, sw: float, sb: float, q0: float | None = None, extra: str = "") -> ValueError:
    start = f" from q0={float(q0)!r}" if q0 is not None else ""
    return ValueError(
        f"no finite variance fixed point reached{start} for activation {act.label!r} at sigma_w={float(sw)!r}, "
        f"sigma_b={float(sb)!r}: the variance grows without bound with depth{extra}"
    )


def _beyond_range(act: Activation, sw: float, sb: float) -> ValueError:
    return ValueError(
        f"overflow: the variance fixed point of activation {act.label!r} at sigma_w={float(sw)!r}, "
        f"sigma_b={float(sb)!r} lies beyond the float64 range (F(q) = sigma_b^2 + sigma_w^2 E[phi^2] overflows)"
    )


def q_star(act, sigma_w, sigma_b, *, q0=1.0, numerics: Numerics | None = None):
    r"""The variance fixed point :math:`q^* = F(q^*)` reached by iterating F from ``q0``.

    Parameters
    ----------
    act : str or Activation
    sigma_w, sigma_b : array_like
    q0 : array_like
        Starting variance (> 0), the variance of the first layer's pre-activations;
        where F has several fixed points the answer depends on it (module docstring).

    Returns
    -------
    numpy scalar or ndarray
        :math:`\lim_l F^l(q_0)`.

    Notes
    -----
    Found by bracketing, not by iteration (which is slow where :math:`\chi_q = F'(q^*)`
    is close to 1): a geometric ladder :math:`q_0 2^{\pm k}` walks from ``q0`` in the
    direction the iteration moves (the sign of :math:`F(q_0) - q_0`), over the whole
    float64 range, to the first sign change of :math:`F(q) - q`, which Chandrupatla's
    method then solves to a few ulps.  When F is increasing on the way (every
    activation of this package; checked on the rungs) the iterates move monotonically
    to that first fixed point, so it is their limit.  A local minimum of
    :math:`|F(q) - q|` between rungs is searched for a pair of fixed points the ladder
    stepped over.  Where F is not monotone on the way, F is iterated from ``q0`` and the
    limit polished by bracketing; an orbit that does not settle raises.

    Special cases: positively homogeneous activations (ReLU, leaky ReLU, linear), where
    :math:`F(q) = \sigma_b^2 + \chi q`: :math:`q^* = \sigma_b^2/(1-\chi)` for
    :math:`\chi < 1`; with :math:`\sigma_b = 0` and :math:`\chi = 1` (within 1e-12, e.g.
    ReLU at sigma_w = sqrt 2) every q is fixed and ``q0`` is returned.  When
    :math:`F(0) = 0` and :math:`F(q) < q` all the way down, the variance decays to 0.

    Raises
    ------
    ValueError
        When the iterates from ``q0`` grow without bound (ReLU with
        :math:`\sigma_w^2 > 2`; GELU above its unstable fixed point), when the fixed
        point lies beyond the float64 range ("overflow"), or when the orbit does not
        converge; the message names the offending (sigma_w, sigma_b).
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q0 = check_positive(q0, "q0")
    num = resolve_numerics(numerics)
    q0, sw, sb = np.broadcast_arrays(q0, sw, sb)
    shape = q0.shape
    q0, sw, sb = (a.reshape(-1).astype(np.float64) for a in (q0, sw, sb))
    if act.homogeneous:
        out = _q_star_homogeneous(act, q0, sw, sb, num)
    else:
        out = _q_star_general(act, q0, sw, sb, num)
    return scalar_out(out.reshape(shape))


def _q_star_homogeneous(act, q0, sw, sb, num):
    chi = sw**2 * num.moment2(act, np.ones_like(sw))  # F(q) = sb^2 + chi q
    critical = np.abs(chi - 1.0) <= HOMOGENEOUS_TOL
    bad = (chi > 1.0) & ~(critical & (sb == 0))
    bad |= critical & (sb > 0)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise _no_fixed_point(act, sw[i], sb[i])
    out = np.where(critical, q0, 0.0)
    sub = ~critical
    out[sub] = sb[sub] ** 2 / (1.0 - chi[sub])
    return out


class _Excess:
    """F(q) - q and F(q) for flat parameter arrays, evaluated on index subsets."""

    def __init__(self, act, sw, sb, num):
        self.act, self.sw2, self.sb2, self.num = act, sw**2, sb**2, num

    def F(self, q, idx):
        with np.errstate(over="ignore", invalid="ignore"):
            m = self.num.moment2(self.act, q, overflow="inf")
            return self.sb2[idx] + self.sw2[idx] * m

    def __call__(self, q, idx):
        return self.F(q, idx) - q

    def noise(self, F, q):
        return _NOISE * _EPS * (np.abs(F) + np.abs(q))


def _golden_min(fun, lo, hi, iters: int = 40):
    """Vectorized golden-section search for the minimum of ``fun`` on [lo, hi] (in log q)."""
    a, b = np.log(lo), np.log(hi)
    inv = 0.5 * (np.sqrt(5.0) - 1.0)
    for _ in range(iters):
        c, d = b - inv * (b - a), a + inv * (b - a)
        left = fun(np.exp(c)) < fun(np.exp(d))
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    x = np.exp(0.5 * (a + b))
    return x, fun(x)


def _walk(ex: _Excess, q0, idx, direction: int):
    """Walk the ladder q0 * 2^(direction k) from q0 for the points ``idx`` (see q_star's Notes).

    Returns ``brackets`` (flat index -> (lo, hi, g(lo), g(hi)) around the first sign change
    of g = F - q), ``ends`` (flat index -> (reason, last q, F/q at the last two rungs) for
    points that reached the end of the float64 range without one) and ``mono`` (F was
    monotone on the rungs walked).  Rungs where |g| is at rounding level are undecided:
    they neither make nor end a bracket.
    """
    n = idx.size
    q_now = q0.copy()
    F_now = ex.F(q_now, idx)
    dec_q, dec_g = q_now.copy(), F_now - q_now  # last decided rung
    old_q, old_g = q_now.copy(), np.full(n, np.nan)  # the decided rung before it
    mono = np.ones(n, dtype=bool)
    brackets: dict[int, tuple] = {}
    ends: dict[int, tuple] = {}
    ratio, ratio_old = F_now / q_now, np.full(n, np.inf)
    quiet = np.zeros(n, dtype=int)
    active = np.arange(n)
    step = 2.0 if direction > 0 else 0.5
    while active.size:
        q = q_now[active] * step
        ids = idx[active]
        stop = ~np.isfinite(q) if direction > 0 else q < _Q_MIN
        with np.errstate(invalid="ignore"):
            F = np.where(stop, np.nan, ex.F(np.where(stop, 1.0, q), ids))
            g = F - q
        inf_F = ~stop & ~np.isfinite(F)
        noise = ex.noise(np.where(np.isfinite(F), F, 0.0), q)
        with np.errstate(invalid="ignore"):
            decided = np.abs(g) > noise
            mono[active] &= ~(direction * (F - F_now[active]) < -noise)
        flipped = decided & (np.sign(g) == -direction)
        # Downwards, once F(q)/q has settled below 1 (F is linear near 0) or F - q has stayed
        # at rounding level for 64 rungs, no fixed point lies below: stop the walk there.
        if direction < 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                r_now = F / q
                linear = decided & (np.abs(r_now - ratio[active]) <= 1e-13 * np.abs(r_now)) & (r_now < 1 - 1e-10)
            quiet[active] = np.where(decided, 0, quiet[active] + 1)
            stop = stop | ((linear | (quiet[active] >= 64)) & ~flipped)
        # A sampled local minimum of direction * g may hide a pair of fixed points between rungs.
        with np.errstate(invalid="ignore"):
            dip = (
                decided
                & ~flipped
                & np.isfinite(old_g[active])
                & (direction * dec_g[active] < direction * old_g[active])
                & (direction * dec_g[active] < direction * g)
            )
        for j in np.flatnonzero(dip):
            k = active[j]
            lo, hi = sorted((old_q[k], q[j]))
            sub = idx[k : k + 1]
            xm, gm = _golden_min(lambda x: direction * ex(x, sub), np.array([lo]), np.array([hi]))
            if gm[0] < -ex.noise(xm, xm)[0]:
                brackets[int(idx[k])] = (float(old_q[k]), float(xm[0]), float(old_g[k]), float(-direction * abs(gm[0])))
                flipped[j] = True
        done = flipped | stop | inf_F
        for j in np.flatnonzero(done):
            k = active[j]
            key = int(idx[k])
            if flipped[j]:
                brackets.setdefault(key, (float(dec_q[k]), float(q[j]), float(dec_g[k]), float(g[j])))
            else:
                ends[key] = ("inf" if inf_F[j] else "top", float(dec_q[k]), float(ratio[k]), float(ratio_old[k]))
        keep = ~done
        upd = active[keep]
        dec = decided[keep]
        old_q[upd] = np.where(dec, dec_q[upd], old_q[upd])
        old_g[upd] = np.where(dec, dec_g[upd], old_g[upd])
        dec_q[upd] = np.where(dec, q[keep], dec_q[upd])
        dec_g[upd] = np.where(dec, g[keep], dec_g[upd])
        ratio_old[upd] = ratio[upd]
        ratio[upd] = F[keep] / q[keep]
        F_now[upd] = F[keep]
        q_now[upd] = q[keep]
        active = upd
    return brackets, ends, mono


def _q_star_general(act, q0, sw, sb, num):
    ex = _Excess(act, sw, sb, num)
    everyone = np.arange(q0.size)
    F0 = ex.F(q0, everyone)
    g0 = F0 - q0
    out = np.full(q0.size, np.nan)
    if not np.all(np.isfinite(F0)):
        i = int(np.flatnonzero(~np.isfinite(F0))[0])
        raise _beyond_range(act, sw[i], sb[i])
    settled = np.abs(g0) <= ex.noise(F0, q0)
    out[settled] = q0[settled]
    brackets: dict[int, tuple] = {}
    nonmono = np.zeros(q0.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        phi0 = float(np.asarray(act.fn(np.zeros(1)), dtype=np.float64)[0])
    for direction in (+1, -1):
        sel = np.flatnonzero(~settled & (np.sign(g0) == direction))
        if sel.size == 0:
            continue
        br, ends, mono = _walk(ex, q0[sel], sel, direction)
        brackets.update(br)
        nonmono[sel] = ~mono
        for key, (reason, last_q, r1, r2) in ends.items():
            if direction > 0:
                if reason == "inf" and r1 < 0.75 * r2:
                    raise _beyond_range(act, sw[key], sb[key])
                raise _no_fixed_point(act, sw[key], sb[key], q0[key])
            # Downward without a sign change: F(0) > 0 closes the bracket at 0; F(0) = 0 means q* = 0.
            F_zero = sb[key] ** 2 + sw[key] ** 2 * phi0 * phi0
            if F_zero > 0:
                brackets[key] = (0.0, last_q, F_zero, float(ex(np.array([last_q]), np.array([key]))[0]))
            else:
                out[key] = 0.0
    if brackets:
        keys = np.array(sorted(brackets))
        lo, hi, glo, ghi = (np.array([brackets[k][j] for k in keys]) for j in range(4))
        out[keys] = solve_bracketed(
            lambda x, i: ex(x, i), lo, hi, (keys,), f_lo=glo, f_hi=ghi, xrtol=num.xrtol
        )
    # Where F was not monotone on the way the first fixed point need not be the limit, and
    # where F decreases at it the iterates oscillate around it: follow the orbit itself.
    # (F decreasing at the fixed point shows on the rungs around it too.)
    todo = np.flatnonzero(nonmono)
    if todo.size:
        out[todo] = _orbit_limit(act, ex, q0[todo], todo, sw, sb, num)
    return out


def _orbit_limit(act, ex: _Excess, q0, idx, sw, sb, num):
    """The limit of F^l(q0) by iteration, polished to a root of F(q) - q; raises if it does not settle."""
    q = q0.copy()
    out = np.full(idx.size, np.nan)
    active = np.arange(idx.size)
    for _ in range(_ORBIT_ITER):
        nq = ex.F(q[active], idx[active])
        if not np.all(np.isfinite(nq)):
            j = active[np.flatnonzero(~np.isfinite(nq))[0]]
            raise _no_fixed_point(act, sw[idx[j]], sb[idx[j]], q0[j])
        conv = np.abs(nq - q[active]) <= 1e-13 * np.maximum(np.abs(nq), 1e-300)
        q[active] = nq
        out[active[conv]] = nq[conv]
        active = active[~conv]
        if active.size == 0:
            break
    if active.size:
        j = active[0]
        raise ValueError(
            f"the variance iteration of activation {act.label!r} from q0={float(q0[j])!r} does not converge at "
            f"sigma_w={float(sw[idx[j]])!r}, sigma_b={float(sb[idx[j]])!r} (F is not monotone there and the "
            f"iterates keep moving, e.g. on a cycle); q* is undefined"
        )
    # Polish: the nearest sign change of F(q) - q around the converged iterate.
    lo, hi = out * (1 - 1e-9), out * (1 + 1e-9) + 1e-300
    glo, ghi = ex(lo, idx), ex(hi, idx)
    sign_change = np.sign(glo) * np.sign(ghi) < 0
    if sign_change.any():
        s = np.flatnonzero(sign_change)
        out[s] = solve_bracketed(lambda x, i: ex(x, i), lo[s], hi[s], (idx[s],), f_lo=glo[s], f_hi=ghi[s], xrtol=num.xrtol)
    return out


@dataclass(frozen=True)
class FixedPoints:
    """Every variance fixed point of one (activation, sigma_w, sigma_b), ascending.

    Attributes
    ----------
    q : ndarray
        The fixed points :math:`F(q) = q` found on ``[0, q_max]`` (0 included when F(0) = 0).
    chi_q : ndarray
        :math:`F'(q)` at each.
    stable : ndarray of bool
        ``|chi_q| < 1``: iterates started nearby converge to it exponentially.
    attracting : ndarray of bool
        Iterates started next to it on at least one side approach it (true for stable
        points and for one-sided neutral ones, such as q = 0 of tanh at sigma_w = 1,
        sigma_b = 0, which the variance reaches like 1/l).
    """

    q: np.ndarray
    chi_q: np.ndarray
    stable: np.ndarray
    attracting: np.ndarray

    def __len__(self) -> int:
        return int(self.q.size)


def variance_fixed_points(
    act,
    sigma_w: float,
    sigma_b: float,
    *,
    q_max: float = 1e30,
    per_octave: int = 8,
    numerics: Numerics | None = None,
) -> FixedPoints:
    r"""All fixed points of the variance map on :math:`[0, q_{\max}]` (module docstring).

    A log-spaced grid with ``per_octave`` points per factor of 2 from :math:`10^{-30}` to
    ``q_max`` is scanned for sign changes of :math:`F(q) - q` (fixed points closer than a
    grid step are resolved only if :math:`F - q` changes sign on the grid), each of which
    is solved to a few ulps.  ``sigma_w`` and ``sigma_b`` are scalars.

    Examples
    --------
    GELU at sigma_b = 0.1 with the sigma_w where chi_1 = 1 at an unstable fixed point
    (why it has no edge of chaos there): a stable fixed point below it, none above.

    >>> fp = variance_fixed_points("gelu", 1.727, 0.1)
    >>> fp.stable.tolist()
    [True, False]
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    if sw.ndim or sb.ndim:
        raise ValueError(f"variance_fixed_points takes scalar sigma_w and sigma_b, got shapes {sw.shape} and {sb.shape}")
    q_max = float(check_positive(q_max, "q_max"))
    per_octave = check_int(per_octave, "per_octave", minimum=1)
    num = resolve_numerics(numerics)
    sw, sb = float(sw), float(sb)
    if act.homogeneous:
        chi = sw**2 * float(num.moment2(act, 1.0))
        if sb == 0 and abs(chi - 1) <= HOMOGENEOUS_TOL:
            raise ValueError(
                f"every q is a fixed point of activation {act.label!r} at sigma_w={sw!r}, sigma_b=0.0 (F(q) = q)"
            )
        if chi < 1:
            q = np.array([sb**2 / (1 - chi)])
            return FixedPoints(q, np.array([chi]), np.array([True]), np.array([True]))
        q = np.array([0.0]) if sb == 0 else np.empty(0)
        return FixedPoints(q, np.full(q.size, chi), np.zeros(q.size, bool), np.zeros(q.size, bool))
    n = int(np.ceil(np.log2(q_max / 1e-30) * per_octave)) + 1
    grid = np.geomspace(1e-30, q_max, n)
    F = sb**2 + sw**2 * num.moment2(act, grid, overflow="inf")
    g = F - grid
    noise = _NOISE * _EPS * (np.abs(F) + grid)
    sgn = np.where(np.abs(g) <= noise, 0.0, np.sign(g))
    # Sign changes between consecutive decided points.
    dec = np.flatnonzero(sgn != 0)
    roots = []
    lo_list, hi_list, glo, ghi = [], [], [], []
    for a, b in zip(dec[:-1], dec[1:]):
        if sgn[a] != sgn[b]:
            lo_list.append(grid[a])
            hi_list.append(grid[b])
            glo.append(g[a])
            ghi.append(g[b])
    if lo_list:
        ex = _Excess(act, np.full(len(lo_list), sw), np.full(len(lo_list), sb), num)
        idx = np.arange(len(lo_list))
        roots = list(
            solve_bracketed(lambda x, i: ex(x, i), np.array(lo_list), np.array(hi_list), (idx,), f_lo=glo, f_hi=ghi, xrtol=num.xrtol)
        )
    with np.errstate(invalid="ignore"):
        phi0 = float(np.asarray(act.fn(np.zeros(1)), dtype=np.float64)[0])
    if sb**2 + sw**2 * phi0 * phi0 == 0:
        roots = [0.0] + roots
    q = np.array(sorted(roots))
    chi = sw**2 * num.dq_moment2(act, np.maximum(q, 1e-200))
    stable = np.abs(chi) < 1
    attracting = stable.copy()
    for i, r in enumerate(q):
        if stable[i]:
            continue
        right = sgn[np.flatnonzero((grid > r * (1 + 1e-9)) & (sgn != 0))[:1]]
        left = sgn[np.flatnonzero((grid < r * (1 - 1e-9)) & (sgn != 0))[-1:]]
        attracting[i] = bool((right.size and right[0] < 0) or (left.size and left[0] > 0))
    return FixedPoints(q, chi, stable, attracting)
