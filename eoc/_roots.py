"""Vectorized bracketing root finding over parameter grids (docs/theory.md §9).

Roots are found in two steps, both vectorized over every grid point at once:

1. :func:`ladder_bracket` walks a geometric ladder of abscissae until the function
   changes sign (a Python loop over ladder rungs, never over grid points);
2. :func:`solve_bracketed` runs Chandrupatla's method on all brackets together.

Why our own Chandrupatla
------------------------
A bracketing solver cannot fail once it holds a sign change: every step keeps one
end of each sign, so the bracket shrinks to a point where the *computed* function
changes sign.  What makes a library solver fail in practice is the evaluation of
the function at the bracket's ends: at a root that sits exactly on an end (c* = 0
for an odd activation with sigma_b = 0) rounding gives either sign, the bracket
"has no sign change" and the solver gives up.  :func:`solve_bracketed` therefore
takes the end values from the caller (``f_lo``, ``f_hi``) when the caller knows
them better than rounding does, returns an end whose value is exactly 0, and never
raises for a valid bracket.  It forces a bisection step whenever three steps have
not halved the bracket, so it needs at most ~3 log2(width / tolerance) steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["ladder_bracket", "solve_bracketed", "XRTOL"]

#: Default relative tolerance on roots (a few ulps).
XRTOL = 4.0 * np.finfo(np.float64).eps
_XATOL_DEFAULT = 4.0 * np.finfo(np.float64).tiny


def ladder_bracket(
    fun: Callable[[np.ndarray, np.ndarray], np.ndarray],
    start: np.ndarray,
    rungs: np.ndarray,
    want_sign: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Find, for every element, the first rung at which ``fun`` takes ``want_sign``.

    Parameters
    ----------
    fun : callable
        ``fun(x, idx)`` evaluates the function at abscissae ``x`` for the flat
        element indices ``idx`` (same shape as ``x``).
    start : ndarray
        Flat array of starting abscissae (the "previous rung" of rung 0).
    rungs : ndarray
        Array of shape ``(K, n)``: rung k's abscissa for each element.
    want_sign : ndarray
        Flat array of +1 / -1: the sign to look for at each element.

    Returns
    -------
    found : bool array
        Whether a rung with the wanted sign (or an exact zero) was found.
    prev, hit : float arrays
        Abscissae of the last rung without and the first rung with the wanted sign.
    f_hit : float array
        Function value at ``hit``.
    """
    n = start.size
    found = np.zeros(n, dtype=bool)
    prev = start.astype(np.float64).copy()
    hit = np.full(n, np.nan)
    f_hit = np.full(n, np.nan)
    active = np.arange(n)
    for k in range(rungs.shape[0]):
        if active.size == 0:
            break
        x = rungs[k, active]
        fx = np.asarray(fun(x, active), dtype=np.float64)
        ok = (np.sign(fx) == want_sign[active]) | (fx == 0)
        done = active[ok]
        found[done] = True
        hit[done] = x[ok]
        f_hit[done] = fx[ok]
        keep = ~ok
        prev[active[keep]] = x[keep]
        active = active[keep]
    return found, prev, hit, f_hit


def _flat_args(args: tuple, shape: tuple, n: int) -> list[np.ndarray]:
    out = []
    for a in args:
        arr = np.asarray(a)
        out.append(np.broadcast_to(arr, shape).reshape(n) if arr.shape != (n,) else arr)
    return out


def solve_bracketed(
    fun: Callable[..., np.ndarray],
    lo,
    hi,
    args: tuple = (),
    *,
    f_lo=None,
    f_hi=None,
    xrtol: float = XRTOL,
    xatol: float | None = None,
    maxiter: int = 400,
) -> np.ndarray:
    """Solve ``fun(x, *args) = 0`` elementwise for ``x`` between ``lo`` and ``hi``.

    Parameters
    ----------
    fun : callable
        Vectorized; called as ``fun(x, *args_subset)`` with the elements still active.
    lo, hi : array_like
        Bracket ends, in either order, same shape.
    args : tuple of array_like
        Extra arguments broadcastable to the shape of ``lo``.
    f_lo, f_hi : array_like, optional
        Function values at ``lo`` and ``hi`` (evaluated when omitted).  Pass them when
        the caller knows the sign at an end better than rounding does.
    xrtol, xatol : float
        Converged when the bracket is narrower than ``xatol + xrtol |x|``.
    maxiter : int
        Safety cap; a valid bracket converges long before it.

    Returns
    -------
    ndarray
        Roots, same shape as ``lo``.

    Raises
    ------
    RuntimeError
        If ``f_lo`` and ``f_hi`` have the same (nonzero) sign somewhere: the caller
        passed something that is not a bracket, which is a bug, not bad user input.
    """
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    shape = np.broadcast(lo, hi).shape
    n = int(np.prod(shape))
    x1 = np.broadcast_to(lo, shape).reshape(n).copy()
    x2 = np.broadcast_to(hi, shape).reshape(n).copy()
    if n == 0:
        return x1.reshape(shape)
    fargs = _flat_args(args, shape, n)
    xatol = _XATOL_DEFAULT if xatol is None else float(xatol)

    def call(x, idx):
        return np.asarray(fun(x, *(a[idx] for a in fargs)), dtype=np.float64).reshape(x.shape)

    everyone = np.arange(n)
    f1 = call(x1, everyone) if f_lo is None else np.broadcast_to(np.asarray(f_lo, float), shape).reshape(n).copy()
    f2 = call(x2, everyone) if f_hi is None else np.broadcast_to(np.asarray(f_hi, float), shape).reshape(n).copy()
    out = np.full(n, np.nan)
    z1, z2 = f1 == 0, f2 == 0
    out[z2] = x2[z2]
    out[z1] = x1[z1]
    active = ~(z1 | z2)
    bad = active & ~(np.sign(f1) * np.sign(f2) < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RuntimeError(
            f"solve_bracketed was given no sign change: f({x1[i]!r}) = {f1[i]!r}, f({x2[i]!r}) = {f2[i]!r}"
        )
    idx = np.flatnonzero(active)
    a, b, fa, fb = x1[idx], x2[idx], f1[idx], f2[idx]  # a: newest point, b: the other end
    c, fc = b.copy(), fb.copy()  # the discarded point (for inverse quadratic interpolation)
    t = np.full(idx.size, 0.5)
    width_hist = [np.abs(b - a)] * 3
    for it in range(maxiter):
        if idx.size == 0:
            break
        xt = a + t * (b - a)
        ft = call(xt, idx)
        same = np.sign(ft) == np.sign(fa)
        # Keep a sign change between (a, b): xt replaces a if it has a's sign, else a moves to b.
        c = np.where(same, a, b)
        fc = np.where(same, fa, fb)
        b = np.where(same, b, a)
        fb = np.where(same, fb, fa)
        a, fa = xt, ft
        take_a = np.abs(fa) <= np.abs(fb)
        xm = np.where(take_a, a, b)
        fm = np.where(take_a, fa, fb)
        width = np.abs(b - a)
        tol = xatol + xrtol * np.abs(xm)
        done = (width <= tol) | (fm == 0) | ~np.isfinite(xm)
        if done.any():
            out[idx[done]] = xm[done]
            keep = ~done
            idx, a, b, c, fa, fb, fc, width = (v[keep] for v in (idx, a, b, c, fa, fb, fc, width))
            width_hist = [h[keep] for h in width_hist]
            if idx.size == 0:
                break
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = (a - b) / (c - b)
            ph = (fa - fb) / (fc - fb)
            iqi = (ph * ph < xi) & ((1.0 - ph) ** 2 < 1.0 - xi)
            t_iqi = fa / (fb - fa) * fc / (fb - fc) + (c - a) / (b - a) * fa / (fc - fa) * fb / (fc - fb)
        t = np.where(iqi & np.isfinite(t_iqi), t_iqi, 0.5)
        # Bisect when three steps have not halved the bracket (Chandrupatla's worst case).
        slow = width > 0.5 * width_hist[0]
        t = np.where(slow, 0.5, t)
        tl = np.minimum(0.5, 0.5 * (xatol + xrtol * np.abs(a)) / np.where(width > 0, width, 1.0))
        t = np.clip(t, tl, 1.0 - tl)
        width_hist = width_hist[1:] + [width]
    if idx.size:  # maxiter reached (cannot happen for a finite bracket): best point so far
        out[idx] = np.where(np.abs(fa) <= np.abs(fb), a, b)
    return out.reshape(shape)
