r"""Piecewise Chebyshev interpolants of the mean-field maps, for deep iterations (docs/theory.md §9).

Iterating a map to depth :math:`10^5` by quadrature costs :math:`10^5` quadratures; iterating
an interpolant of it costs one build (a few hundred quadratures) and :math:`10^5` cheap
polynomial evaluations.  Two kinds of interpolant are built here:

* :class:`Piecewise`: a function of one variable on an interval, split adaptively
  (bisection) into panels on each of which a degree-``d`` polynomial interpolates it at
  the Chebyshev-Lobatto points to a relative tolerance ``tol``.  It represents the
  correlation map through its gap ratio :math:`R(\theta) = (1 - f(\cos\theta))/(1-\cos\theta)`
  on :math:`[0, \pi]` (:mod:`eoc._correlation`).
* :class:`OctaveTable`: a function of :math:`q > 0`, one polynomial per octave
  :math:`[2^{e-1}, 2^e)`, built lazily the first time an iteration enters the octave.  It
  represents :math:`\mathbb E[\phi(\sqrt q Z)^2]` and :math:`\mathbb E[\phi'(\sqrt q Z)^2]` for the
  variance recursions (:mod:`eoc._maps`, :mod:`eoc._propagation`, :mod:`eoc._resnet`).

Error bound
-----------
A panel is accepted when its last two Chebyshev coefficients are below
``tol * max|f|`` on the panel.  For a function analytic in a Bernstein ellipse of
parameter :math:`\rho` the coefficients decay like :math:`\rho^{-k}` and the interpolation
error is at most :math:`2\sum_{k>d}|a_k| \lesssim 2|a_d|/(\rho - 1)`; the panels are refined
until :math:`\rho` is large, so the error is a small multiple of ``tol`` (tested in
``tests/test_interp.py``, where the measured error of the map interpolants stays below
``ERROR_FACTOR * tol`` and a rate test checks the :math:`h^{d+1}` convergence of the panels).
Values that carry rounding noise (every quadrature does, at ~1e-16) cannot be resolved
below it: a panel whose width falls below ``min_width`` is accepted with its measured
tail, which is reported as :attr:`Piecewise.error`.

Both kinds evaluate vectorized (numpy) and as plain Python floats (:meth:`scalar`,
about a microsecond per call), which is what a Python loop over layers needs.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import OrderedDict
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.polynomial import chebyshev as _cheb

__all__ = ["Piecewise", "OctaveTable", "fit_piecewise", "lobatto", "DEFAULT_TOL", "ERROR_FACTOR"]

#: Default relative tolerance of the interpolants (a few ulps above quadrature noise).
DEFAULT_TOL = 4e-15
#: The stated bound: measured interpolation error <= ERROR_FACTOR * tol (tests/test_interp.py).
ERROR_FACTOR = 8.0
#: Tails within NOISE_ZONE * tol that stop shrinking on a split are rounding noise of the values.
NOISE_ZONE = 64.0


@lru_cache(maxsize=None)
def lobatto(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chebyshev-Lobatto points ``t_j = -cos(j pi / d)`` on [-1, 1], and two matrices.

    Returns ``(t, to_cheb, cheb_to_mono)``: ``values @ to_cheb.T`` gives the Chebyshev
    coefficients of the degree-``d`` interpolant, ``cheb @ cheb_to_mono.T`` its
    monomial coefficients (low to high).
    """
    j = np.arange(d + 1)
    t = -np.cos(np.pi * j / d)
    # Discrete cosine transform (type I) of values at the points cos(j pi / d), reversed order.
    k = j[:, None]
    ang = np.pi * k * j[None, :] / d
    w = np.ones(d + 1)
    w[0] = w[-1] = 0.5
    mat = (2.0 / d) * np.cos(ang) * w[None, :]
    mat[0] *= 0.5
    mat[-1] *= 0.5
    # Our points are t_j = -cos(j pi / d): T_k(-x) = (-1)^k T_k(x).
    to_cheb = mat * ((-1.0) ** k)
    c2m = np.zeros((d + 1, d + 1))
    for i in range(d + 1):
        e = np.zeros(d + 1)
        e[i] = 1.0
        c2m[: i + 1, i] = _cheb.cheb2poly(e)
    for a in (t, to_cheb, c2m):
        a.setflags(write=False)
    return t, to_cheb, c2m


def _tail(cheb: np.ndarray) -> np.ndarray:
    return np.max(np.abs(cheb[..., -2:]), axis=-1)


def _horner(coef: np.ndarray, t: np.ndarray) -> np.ndarray:
    acc = coef[..., -1].copy()
    for j in range(coef.shape[-1] - 2, -1, -1):
        acc = acc * t + coef[..., j]
    return acc


@lru_cache(maxsize=None)
def _bary(d: int) -> np.ndarray:
    """Barycentric weights of the Lobatto points."""
    w = (-1.0) ** np.arange(d + 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    w.setflags(write=False)
    return w


def _barycentric(vals: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolate node values (…, d+1) at the Lobatto points to ``t``: exact at the nodes."""
    d = vals.shape[-1] - 1
    nodes = lobatto(d)[0]
    w = _bary(d)
    diff = t[..., None] - nodes
    hit = diff == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = w / diff
        out = np.sum(k * vals, axis=-1) / np.sum(k, axis=-1)
    if hit.any():
        rows = hit.any(axis=-1)
        out[rows] = vals[rows][hit[rows]]
    return out


class Piecewise:
    """A piecewise polynomial: panels ``[breaks[k], breaks[k+1]]``, values at Lobatto points of each.

    Attributes
    ----------
    breaks : ndarray, shape (K + 1,)
    values : ndarray, shape (K, d + 1)
        The interpolated function at the Chebyshev-Lobatto points of each panel; the
        polynomial is evaluated by the barycentric formula, which reproduces them exactly
        and is stable at any degree.
    error : float
        Estimated relative interpolation error (module docstring).
    """

    def __init__(self, breaks: np.ndarray, values: np.ndarray, error: float):
        self.breaks = np.asarray(breaks, dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)
        self.error = float(error)
        self._mid = 0.5 * (self.breaks[1:] + self.breaks[:-1])
        self._inv_half = 2.0 / (self.breaks[1:] - self.breaks[:-1])

    @property
    def n_panels(self) -> int:
        return self.values.shape[0]

    @property
    def degree(self) -> int:
        return self.values.shape[1] - 1

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        k = np.clip(np.searchsorted(self.breaks, x, side="right") - 1, 0, self.n_panels - 1)
        t = np.clip((x - self._mid[k]) * self._inv_half[k], -1.0, 1.0)
        return _barycentric(self.values[k], t)

    def scalar(self) -> Callable[[float], float]:
        """A plain-Python evaluator ``float -> float`` (for loops over layers).

        It runs Horner's rule on monomial coefficients fitted to the node values by a
        backward-stable solve, which reproduces them to a few ulps; meant for the low
        degrees (<= 12) of panels made for it.
        """
        vander = np.vander(lobatto(self.degree)[0], self.degree + 1, increasing=True)
        mono = np.linalg.solve(vander, self.values.T).T
        breaks = self.breaks.tolist()
        inner = breaks[1:-1]
        mids = self._mid.tolist()
        inv = self._inv_half.tolist()
        rev = [tuple(row[::-1]) for row in mono.tolist()]
        last = len(rev) - 1

        def evaluate(x: float) -> float:
            k = bisect_right(inner, x)
            if k > last:
                k = last
            t = (x - mids[k]) * inv[k]
            acc = 0.0
            for c in rev[k]:
                acc = acc * t + c
            return acc

        return evaluate


def fit_piecewise(
    fun: Callable[[np.ndarray], np.ndarray],
    a: float,
    b: float,
    *,
    degree: int = 12,
    tol: float = DEFAULT_TOL,
    initial: int = 4,
    min_width: float | None = None,
    max_panels: int = 1024,
) -> Piecewise:
    """Adaptive piecewise interpolation of a vectorized ``fun`` on ``[a, b]`` (module docstring).

    Every refinement round evaluates ``fun`` once, on the Lobatto points of all the
    panels still to be accepted.  A panel is split while its tail exceeds ``tol``,
    unless it is narrower than ``min_width`` or its tail no longer shrinks on
    splitting within ``NOISE_ZONE * tol`` (the values' own rounding noise).
    """
    t, to_cheb, c2m = lobatto(int(degree))
    min_width = (b - a) * 2.0**-40 if min_width is None else float(min_width)
    edges = np.linspace(a, b, int(initial) + 1)
    todo = [(lo, hi, np.inf) for lo, hi in zip(edges[:-1], edges[1:])]
    done: list[tuple[float, float, np.ndarray, float]] = []
    while todo:
        lo = np.array([p[0] for p in todo])
        hi = np.array([p[1] for p in todo])
        x = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * t[None, :]
        vals = np.asarray(fun(x.ravel()), dtype=np.float64).reshape(x.shape)
        cheb = vals @ to_cheb.T
        scale = np.maximum(np.max(np.abs(vals), axis=1), np.finfo(float).tiny)
        rel = _tail(cheb) / scale
        nxt = []
        for i, (l, h, parent) in enumerate(todo):
            noise = rel[i] <= NOISE_ZONE * tol and rel[i] > 0.125 * parent
            full = len(done) + len(nxt) + len(todo) >= max_panels
            if rel[i] <= tol or noise or (h - l) <= min_width or full:
                done.append((l, h, vals[i], float(rel[i])))
            else:
                m = 0.5 * (l + h)
                nxt += [(l, m, float(rel[i])), (m, h, float(rel[i]))]
        todo = nxt
    done.sort(key=lambda p: p[0])
    breaks = np.array([p[0] for p in done] + [done[-1][1]])
    coef = np.stack([p[2] for p in done])
    return Piecewise(breaks, coef, max(p[3] for p in done))


class OctaveTable:
    r"""A function of q > 0 as polynomials on quarter octaves, built lazily (module docstring).

    ``fun`` is vectorized over q.  ``math.frexp(q)`` gives :math:`q = m 2^e`,
    :math:`m\in[1/2, 1)`; the octave of exponent ``e`` is split into ``SPLIT`` equal panels
    in m, with a degree-``degree`` polynomial in the local variable on each.  ``q = 0``
    is answered by ``fun(0)`` itself.
    """

    SPLIT = 8

    def __init__(self, fun: Callable[[np.ndarray], np.ndarray], *, degree: int = 10, tol: float = DEFAULT_TOL):
        self.fun = fun
        self.degree = int(degree)
        self.tol = float(tol)
        self._rev: dict[int, list] = {}
        self._coef: dict[int, np.ndarray] = {}
        self.error = 0.0
        self._zero: float | None = None

    def _build(self, exponents) -> None:
        todo = sorted({int(e) for e in exponents} - self._rev.keys())
        if not todo:
            return
        sp = self.SPLIT
        for d in (self.degree, 2 * self.degree, 4 * self.degree):
            t, to_cheb, _ = lobatto(d)
            vander = np.vander(t, d + 1, increasing=True)
            # m on panel k of the octave: 1/2 + (k + (t + 1)/2) / (2 SPLIT)
            m = 0.5 + (np.arange(sp)[:, None] + 0.5 * (t[None, :] + 1.0)) / (2.0 * sp)  # (SPLIT, d+1)
            e = np.array(todo, dtype=int)
            q = np.ldexp(m[None, :, :], e[:, None, None])
            vals = np.asarray(self.fun(q.ravel()), dtype=np.float64).reshape(q.shape)
            cheb = vals @ to_cheb.T  # (E, SPLIT, d+1)
            scale = np.maximum(np.max(np.abs(vals), axis=(1, 2)), np.finfo(float).tiny)
            rel = np.max(_tail(cheb), axis=1) / scale
            ok = (rel <= NOISE_ZONE * self.tol) | (d == 4 * self.degree)
            for i in np.flatnonzero(ok):
                coef = np.linalg.solve(vander, vals[i].T).T  # (SPLIT, d+1), monomial in t
                self._coef[todo[i]] = coef
                self._rev[todo[i]] = [tuple(row[::-1].tolist()) for row in coef]
                self.error = max(self.error, float(rel[i]))
            todo = [todo[i] for i in np.flatnonzero(~ok)]
            if not todo:
                return

    def __call__(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        out = np.empty(q.shape)
        pos = q > 0
        if (~pos).any():
            out[~pos] = self.at_zero()
        if pos.any():
            m, e = np.frexp(q[pos])
            self._build(np.unique(e).tolist())
            u = (m - 0.5) * (2.0 * self.SPLIT)
            k = np.minimum(u.astype(int), self.SPLIT - 1)
            t = 2.0 * (u - k) - 1.0
            res = np.empty(m.shape)
            for ex in np.unique(e):
                sel = e == ex
                res[sel] = _horner(self._coef[int(ex)][k[sel]], t[sel])
            out[pos] = res
        return out

    def __len__(self) -> int:
        """Octaves built so far."""
        return len(self._rev)

    def at_zero(self) -> float:
        if self._zero is None:
            self._zero = float(np.asarray(self.fun(np.zeros(1)), dtype=np.float64)[0])
        return self._zero

    def scalar(self) -> Callable[[float], float]:
        """A plain-Python evaluator ``float -> float`` that builds octaves as it meets them."""
        rev = self._rev
        frexp = math.frexp
        build = self._build
        zero = self.at_zero
        two_split = 2.0 * self.SPLIT
        last = self.SPLIT - 1

        def evaluate(q: float) -> float:
            if q <= 0.0:
                return zero()
            m, e = frexp(q)
            panels = rev.get(e)
            if panels is None:
                build([e])
                panels = rev[e]
            u = (m - 0.5) * two_split
            k = int(u)
            if k > last:
                k = last
            t = 2.0 * (u - k) - 1.0
            acc = 0.0
            for c in panels[k]:
                acc = acc * t + c
            return acc

        return evaluate


_TABLES: "OrderedDict[tuple, OctaveTable]" = OrderedDict()
_MAX_TABLES = 64


def octave_table(key: tuple, fun: Callable[[np.ndarray], np.ndarray]) -> OctaveTable:
    """The cached :class:`OctaveTable` for ``key`` (activation, numerics, quantity), made once."""
    table = _TABLES.get(key)
    if table is None:
        table = OctaveTable(fun)
        _TABLES[key] = table
        while len(_TABLES) > _MAX_TABLES:
            _TABLES.popitem(last=False)
    else:
        _TABLES.move_to_end(key)
    return table
