r"""Gaussian expectations to near machine precision, vectorized over parameters.

Two building blocks serve every map of the mean-field theory:

* :func:`gauss_1d` computes :math:`\mathbb E[g(\sqrt q Z)]`, :math:`Z\sim\mathcal N(0,1)`;
* :func:`gauss_2d` computes :math:`\mathbb E[g_1(u_1) g_2(u_2)]` for a centred Gaussian pair
  with variances :math:`q_1, q_2` and correlation :math:`c`.

Why not plain Gauss-Hermite
---------------------------
Gauss-Hermite (GH) quadrature converges exponentially for integrands analytic in a
wide strip, but the integrands here are not: ``tanh(sqrt(q) z)`` has poles at
distance :math:`\pi/(2\sqrt q)` from the real axis, so GH with 300 nodes is only
accurate to ~1e-9 at q = 3 and ~1e-4 at q = 10 (measured, see ``bench/``); and kinked
activations (ReLU, SELU, leaky ReLU, the derivative of ELU) make GH converge only
algebraically.  We therefore

1. **split at zero**, where every supported activation has its kink (if any):
   :math:`\mathbb E[g(\sqrt q Z)] = \int_0^\infty (g(\sqrt q z) + g(-\sqrt q z))\,\varphi(z)\,dz`;
2. integrate each half-line with Gauss-Legendre in the variable :math:`\tau` of the
   **sinh map** :math:`z = s\sinh\tau`, :math:`\tau\in[0, \operatorname{asinh}(Z_{\max}/s)]`,
   whose node spacing is ~s near zero and grows like z far out.  With
   :math:`s = \min(1, 1/\sqrt q)` (rounded down to a power of :math:`2^{1/8}`, so that many
   q share a rule) the map resolves both the activation's own scale and
   the Gaussian's, uniformly in q (64 nodes give ~1e-15 relative error for q from
   1e-3 to 1e3 on tanh; ``tests/test_quad.py``);
3. in two dimensions use **polar coordinates** :math:`(z_1, z_2) = r(\cos\theta, \sin\theta)`
   after the Cholesky map :math:`u_1 = \sqrt{q_1} z_1`,
   :math:`u_2 = \sqrt{q_2}(c z_1 + \sqrt{1-c^2} z_2) = \sqrt{q_2}\, r\cos(\theta-\theta_c)`,
   :math:`\theta_c = \arccos c`.  The kinks of :math:`g_1(u_1)` and :math:`g_2(u_2)` sit on
   the four rays :math:`\cos\theta = 0` and :math:`\cos(\theta-\theta_c) = 0`, so the angular
   integral is split there into four arcs on which the integrand is smooth; each arc
   is halved and each half gets a sinh map anchored at its kink end (steep
   transitions of width ~1/sqrt(q) live there).  The radial integral, with weight
   :math:`r e^{-r^2/2}`, gets a sinh map too.

Orders are parameters (:class:`eoc.Numerics`) with defaults that reach ~1e-14 relative
error on the activations of :mod:`eoc._activations` (checked against mpmath in
``tests/test_references.py``; worst 9.3e-14, see :data:`DEFAULT_ORDER_1D`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.polynomial.legendre import leggauss

__all__ = [
    "DEFAULT_ORDER_1D",
    "DEFAULT_ORDER_2D",
    "Z_MAX",
    "sinh_rule",
    "gauss_1d",
    "gauss_2d",
    "gauss_2d_fn",
    "gauss_2d_sqdiff",
]

#: Gauss-Legendre nodes per half-line in :func:`gauss_1d`: ~1e-15 relative for tanh up to
#: q = 1e3; the worst case against the mpmath references is 9.3e-14 (derivative moment of
#: the tanh-approximated GELU at q = 100), which 96 nodes bring to 3e-15.
DEFAULT_ORDER_1D = 64
#: (angular nodes per half-arc, radial nodes) in :func:`gauss_2d`.
DEFAULT_ORDER_2D = (32, 64)
#: Truncation of the standard normal: P(|Z| > 10.5) = 8.6e-26 and z^5 phi(z) < 1e-18 beyond.
Z_MAX = 10.5

#: Width, in units of the pre-activation u, beyond which activations are asymptotic (gauss_1d split).
SPLIT_U = 40.0

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
_BLOCK_NODES = 1 << 22  # node evaluations per block in gauss_2d (bounds memory to ~100 MB)

ArrayFn = Callable[[np.ndarray], np.ndarray]


def _legendre_recurrence(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:math:`P_n(x)` and :math:`P_n'(x)` by the three-term recurrence (in x's dtype)."""
    p0, p1 = np.ones_like(x), x.copy()
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    return p1, n * (x * p1 - p0) / (x * x - 1)


@lru_cache(maxsize=None)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Legendre nodes and weights on [-1, 1], refined in extended precision.

    ``numpy.polynomial.legendre.leggauss`` is accurate to a few ulps in the nodes but its
    rule misses the moments :math:`\int x^{2k}` by up to 2e-13 at n = 96; three Newton
    steps on :math:`P_n` in ``np.longdouble`` (80-bit on x86) and weights
    :math:`2/((1-x^2)P_n'(x)^2)` bring them to ~1e-16.
    """
    if n < 1:
        raise ValueError(f"quadrature order must be >= 1, got {n}")
    x = leggauss(n)[0].astype(np.longdouble)
    if n > 1:
        for _ in range(3):
            p, dp = _legendre_recurrence(x, n)
            x = x - p / dp
        _, dp = _legendre_recurrence(x, n)
        w = 2 / ((1 - x * x) * dp * dp)
    else:
        w = np.full(1, 2, dtype=np.longdouble)
    x, w = x.astype(np.float64), w.astype(np.float64)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def sinh_rule(n: int, scale, length) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights on :math:`[0, L]` clustered at 0 with resolution ~``scale``.

    Gauss-Legendre with ``n`` nodes in :math:`\tau\in[0,\operatorname{asinh}(L/s)]`,
    mapped by :math:`x = s\sinh\tau` (Jacobian :math:`s\cosh\tau`).

    Parameters
    ----------
    n : int
        Number of nodes.
    scale, length : array_like
        Broadcastable arrays; the result has their broadcast shape plus a trailing
        axis of length ``n``.  ``length`` may be 0 (all weights vanish).
    """
    x, w = _legendre(int(n))
    scale = np.asarray(scale, dtype=np.float64)[..., None]
    length = np.asarray(length, dtype=np.float64)[..., None]
    scale = np.maximum(scale, 1e-300)
    top = np.arcsinh(length / scale)
    tau = 0.5 * (x + 1.0) * top
    return scale * np.sinh(tau), (0.5 * w * top) * scale * np.cosh(tau)


def _rule_scale(sq: np.ndarray) -> np.ndarray:
    """min(1, 1/sqrt(q)), rounded down to a power of 2^(1/8) (rules then repeat across q)."""
    s = np.minimum(1.0, 1.0 / np.maximum(sq, 1e-300))
    return np.exp2(np.floor(8.0 * np.log2(s)) / 8.0)


def gauss_1d(g: ArrayFn, q, *, order: int = DEFAULT_ORDER_1D) -> np.ndarray:
    r"""Compute :math:`\mathbb E[g(\sqrt q\,Z)]` for :math:`Z\sim\mathcal N(0,1)`.

    Parameters
    ----------
    g : callable
        Vectorized function of the pre-activation :math:`u = \sqrt q z`; it may have
        a kink (or a jump) at 0 and nowhere else.
    q : array_like
        Variances, >= 0 (not checked here).
    order : int
        Gauss-Legendre nodes per half-line.

    Returns
    -------
    ndarray
        Same shape as ``q``.
    """
    q = np.asarray(q, dtype=np.float64)
    sq = np.sqrt(q)
    scale = _rule_scale(sq)
    if scale.size > 64:  # many q share a few scales: build each rule (and its weights) once
        uniq, inv = np.unique(scale, return_inverse=True)
        zu, wu = _half_line_rule(order, uniq)
        inv = inv.reshape(scale.shape)
        z, wd = zu[inv], wu[inv]
    else:
        z, wd = _half_line_rule(order, scale)
    u = sq[..., None] * z
    return np.sum(wd * (g(u) + g(-u)), axis=-1)


def _half_line_rule(order: int, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (Gaussian density included) on [0, Z_MAX] for the given sinh scales.

    Where the activation's own scale is far below the Gaussian's (``scale < 1 / SPLIT_U``,
    i.e. q > SPLIT_U^2) one sinh map cannot resolve both with ``order`` nodes (the error
    grew to 1e-9 at q = 1e20): the half-line is split at :math:`z = U s`, beyond which
    every supported activation is within e^-40 of its asymptote, into a sinh-mapped panel
    and a plain Gauss-Legendre panel of ``order`` nodes each.
    """
    scale = np.asarray(scale, dtype=np.float64)
    split = scale * SPLIT_U < 1.0
    if not split.any():
        z, w = sinh_rule(order, scale, Z_MAX)
        return z, w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI
    shape = scale.shape + (2 * order,)
    z = np.zeros(shape)
    w = np.zeros(shape)
    keep = ~split
    if keep.any():
        z[keep, :order], w[keep, :order] = sinh_rule(order, scale[keep], Z_MAX)
    a = SPLIT_U * scale[split]
    z1, w1 = sinh_rule(order, scale[split], a)
    x, wl = _legendre(order)
    half = 0.5 * (Z_MAX - a)[:, None]
    z2 = a[:, None] + half * (x + 1.0)
    w2 = half * wl
    z[split] = np.concatenate([z1, z2], axis=-1)
    w[split] = np.concatenate([w1, w2], axis=-1)
    return z, w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI


def _angular_rule(theta_c: np.ndarray, scale: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles and weights over [0, 2 pi) split at the four kink rays (shape (..., 8 n))."""
    half_pi = 0.5 * np.pi
    two_pi = 2.0 * np.pi
    kinks = np.stack(
        [
            np.full_like(theta_c, half_pi),
            np.full_like(theta_c, 3.0 * half_pi),
            np.mod(theta_c + half_pi, two_pi),
            np.mod(theta_c + 3.0 * half_pi, two_pi),
        ],
        axis=-1,
    )
    kinks = np.sort(kinks, axis=-1)
    ends = np.concatenate([kinks, kinks[..., :1] + two_pi], axis=-1)
    lo, hi = ends[..., :-1], ends[..., 1:]
    half = 0.5 * (hi - lo)
    t, wt = sinh_rule(n, np.minimum(half, scale[..., None]), half)
    theta = np.concatenate([lo[..., None] + t, hi[..., None] - t], axis=-1)
    weight = np.concatenate([wt, wt], axis=-1)
    shape = theta.shape[:-2] + (-1,)
    return theta.reshape(shape), weight.reshape(shape)


def _theta_of(c, theta):
    """Angle between the two Gaussian directions: ``theta`` if given, else arccos(c) (accurate near c = 1)."""
    if theta is not None:
        return np.clip(np.asarray(theta, dtype=np.float64), 0.0, np.pi)
    c = np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)
    # arccos loses relative accuracy as c -> 1; 2 asin(sqrt((1 - c)/2)) does not (1 - c is exact there).
    return np.where(c > 0.5, 2.0 * np.arcsin(np.sqrt(0.5 * (1.0 - c))), np.arccos(c))


def _polar_nodes(q1, q2, theta_c, n_theta, n_r):
    """Nodes (u1, u2), the combined weights, and the polar pieces, for one block of parameters."""
    s1, s2 = np.sqrt(q1), np.sqrt(q2)
    smax = np.maximum(np.maximum(s1, s2), 1e-300)
    scale = np.minimum(1.0, 1.0 / smax)
    theta, w_theta = _angular_rule(theta_c, scale, n_theta)  # (..., A)
    r, w_r = sinh_rule(n_r, scale, Z_MAX)  # (..., R)
    radial_w = w_r * r * np.exp(-0.5 * r * r)
    r = r[..., None, :]
    th = theta[..., :, None]
    u1 = s1[..., None, None] * r * np.cos(th)
    u2 = s2[..., None, None] * r * np.cos(th - theta_c[..., None, None])
    weight = w_theta[..., :, None] * radial_w[..., None, :] / (2.0 * np.pi)
    return u1, u2, weight, (s1, r, th)


def _gauss_2d_block(h, q1, q2, theta_c, n_theta, n_r):
    u1, u2, weight, _ = _polar_nodes(q1, q2, theta_c, n_theta, n_r)
    return np.sum(h(u1, u2) * weight, axis=(-2, -1))


#: Below this |u1 - u2| the difference phi(u1) - phi(u2) is integrated from phi' (no cancellation).
_DIFF_SMALL = 0.5
_DIFF_ORDER = 10  # Gauss-Legendre nodes on the segment: error ~ (0.5 / (2 radius))^20, radius >= pi/2 (tanh)
_NEAR_ANGLE = 0.25  # above this angle between u1 and u2 no node needs the segment rule


def _segment_integral(dphi, start, length):
    r""":math:`\int_0^1 \phi'(start + t\,length)\,dt` by Gauss-Legendre (for short segments)."""
    x, w = _legendre(_DIFF_ORDER)
    t = 0.5 * (x + 1.0)
    vals = dphi(start[..., None] + t * length[..., None])
    return np.sum(0.5 * w * vals, axis=-1)


def _accurate_difference(phi, dphi, u1, u2, delta, near):
    r""":math:`\phi(u_1) - \phi(u_2)` with full relative accuracy when ``delta = u1 - u2`` is small.

    Short segments (where ``near``) that do not cross the kink at 0 use the mean value
    of phi' along them; segments that cross it are split at 0.  Long segments subtract
    directly, which loses nothing there; so do all nodes of a pair whose angle is not
    small (``near`` False), where the short segments carry a negligible part of the
    integral.
    """
    d = phi(u1) - phi(u2)
    small = (np.abs(delta) <= _DIFF_SMALL) & near
    if not small.any():
        return d
    a, b, dl = u1[small], u2[small], delta[small]
    cross = (a > 0) != (b > 0)
    same = ~cross
    out = np.empty(a.shape)
    out[same] = dl[same] * _segment_integral(dphi, b[same], dl[same])
    if cross.any():
        ac, bc = a[cross], b[cross]
        out[cross] = ac * _segment_integral(dphi, np.zeros_like(ac), ac) - bc * _segment_integral(
            dphi, np.zeros_like(bc), bc
        )
    d[small] = out
    return d


def _sqdiff_block(phi, dphi, q, theta_c, n_theta, n_r):
    u1, u2, weight, (s, r, th) = _polar_nodes(q, q, theta_c, n_theta, n_r)
    # u1 - u2 = s r (cos th - cos(th - theta_c)) = -2 s r sin(th - theta_c/2) sin(theta_c/2), exactly.
    tc = theta_c[..., None, None]
    delta = -2.0 * s[..., None, None] * r * np.sin(th - 0.5 * tc) * np.sin(0.5 * tc)
    near = (theta_c < _NEAR_ANGLE)[..., None, None]
    d = _accurate_difference(phi, dphi, u1, u2, delta, near)
    return np.sum(0.5 * d * d * weight, axis=(-2, -1))


def _blocked(block, arrays, n_theta, n_r, *extra):
    """Apply ``block`` to flat parameter arrays in chunks that bound memory."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in arrays))
    shape = arrays[0].shape
    flat = [a.reshape(-1) for a in arrays]
    size = flat[0].size
    step = max(1, _BLOCK_NODES // (8 * n_theta * n_r))
    out = np.empty(size)
    for start in range(0, size, step):
        sl = slice(start, start + step)
        out[sl] = block(*extra, *(f[sl] for f in flat), n_theta, n_r)
    return out.reshape(shape)


def gauss_2d_fn(
    h: Callable[[np.ndarray, np.ndarray], np.ndarray],
    q1,
    q2,
    c,
    *,
    order: tuple[int, int] = DEFAULT_ORDER_2D,
    theta=None,
) -> np.ndarray:
    r"""Compute :math:`\mathbb E[h(u_1, u_2)]` for a centred Gaussian pair.

    :math:`\operatorname{Var} u_1 = q_1`, :math:`\operatorname{Var} u_2 = q_2`,
    :math:`\operatorname{Corr}(u_1, u_2) = c`.

    Parameters
    ----------
    h : callable
        Vectorized function of two arrays, smooth except possibly where
        :math:`u_1 = 0` or :math:`u_2 = 0`.
    q1, q2, c : array_like
        Broadcastable; ``q >= 0``, ``-1 <= c <= 1`` (not checked here).
    order : (int, int)
        Angular Gauss-Legendre nodes per half-arc (8 half-arcs) and radial nodes.
    theta : array_like, optional
        The angle :math:`\arccos c` itself, given instead of ``c`` (``c`` is then ignored)
        when it is known more accurately than ``arccos`` of a rounded c.

    Returns
    -------
    ndarray
        The broadcast shape of ``q1, q2, c``.
    """
    n_theta, n_r = (int(o) for o in order)
    return _blocked(_gauss_2d_block, (q1, q2, _theta_of(c, theta)), n_theta, n_r, h)


def gauss_2d_sqdiff(
    phi: ArrayFn,
    dphi: ArrayFn,
    q,
    c=None,
    *,
    theta=None,
    order: tuple[int, int] = DEFAULT_ORDER_2D,
) -> np.ndarray:
    r""":math:`\tfrac12\mathbb E[(\phi(u_1) - \phi(u_2))^2]`, equal variances q, correlation :math:`c = \cos\theta`.

    The difference :math:`\phi(u_1) - \phi(u_2)` is computed from :math:`\phi'` along the
    segment :math:`[u_2, u_1]` where that segment is short, and :math:`u_1 - u_2` from the
    exact identity :math:`u_1 - u_2 = -2\sqrt q\,r\sin(\vartheta - \theta/2)\sin(\theta/2)`,
    so the result keeps full relative accuracy as :math:`\theta\to 0` (it is
    :math:`O(\theta^2)`), where subtracting rounded values of phi would lose
    :math:`\log_{10}(1/\theta)` digits.
    """
    n_theta, n_r = (int(o) for o in order)
    return _blocked(_sqdiff_block, (q, _theta_of(c, theta)), n_theta, n_r, phi, dphi)


def gauss_2d(
    g1: ArrayFn,
    g2: ArrayFn,
    q1,
    q2,
    c,
    *,
    order: tuple[int, int] = DEFAULT_ORDER_2D,
) -> np.ndarray:
    r"""Compute :math:`\mathbb E[g_1(u_1)\,g_2(u_2)]` (product case of :func:`gauss_2d_fn`)."""
    return gauss_2d_fn(lambda u1, u2: g1(u1) * g2(u2), q1, q2, c, order=order)
