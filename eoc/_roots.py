"""Vectorized bracketing root finding over parameter grids.

Roots are found in two steps, both vectorized over every grid point at once:

1. :func:`ladder_bracket` walks a geometric ladder of abscissae until the function
   changes sign (a Python loop over ladder rungs, never over grid points);
2. :func:`solve_bracketed` runs Chandrupatla's method
   (:func:`scipy.optimize.elementwise.find_root`) on all brackets together.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import elementwise

__all__ = ["ladder_bracket", "solve_bracketed", "XRTOL"]

#: Default relative tolerance on roots (a few ulps).
XRTOL = 4.0 * np.finfo(np.float64).eps


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


def solve_bracketed(
    fun: Callable[..., np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    args: tuple = (),
    *,
    xrtol: float = XRTOL,
    xatol: float | None = None,
) -> np.ndarray:
    """Solve ``fun(x, *args) = 0`` elementwise for ``x`` between ``lo`` and ``hi``.

    ``lo`` and ``hi`` may come in either order; ``fun`` must change sign (or vanish)
    between them.  Raises ``RuntimeError`` if the solver fails, which signals a bug
    in the bracketing, not bad user input.
    """
    a = np.minimum(lo, hi)
    b = np.maximum(lo, hi)
    if a.size == 0:
        return a.copy()
    tol = {"xrtol": xrtol}
    if xatol is not None:
        tol["xatol"] = xatol
    res = elementwise.find_root(fun, (a, b), args=args, tolerances=tol)
    if not np.all(res.success):
        bad = np.flatnonzero(~np.asarray(res.success))[0]
        raise RuntimeError(
            f"root finding failed (status {int(np.asarray(res.status).flat[bad])}) on bracket "
            f"[{a.flat[bad]!r}, {b.flat[bad]!r}]"
        )
    return np.asarray(res.x, dtype=np.float64)
