r"""Fast tabulated laws of the finite-width SNIP model (docs/theory.md §8).

The finite model needs, for every layer of every virtual network, the law of one
score :math:`|Z_1Z_2|\sqrt V` (:class:`eoc._laws.LowRankProductNormal`, effective rank
:math:`n`) and the law of the layer's maximum.  Evaluating the exact mixtures there
would cost ~100 product-normal evaluations per point, so both are tabulated once on a
grid of :math:`(\log n, \log x)` and interpolated:

* the marginal law, stored as :math:`\log(-\log F_n(x))` (smooth over the whole range,
  and it keeps the relative accuracy of :math:`1 - F_n` in the upper tail);
* the *row model* of the maximum of an :math:`n_r\times n_c` layer (the rows the
  smaller side): conditionally on its Gamma variance :math:`V_i` a row holds
  :math:`n_c` iid product-normal scores, rows are independent, so

  .. math::

      P(\max \le t) = \Bigl(\mathbb E_V\bigl[F_{\rm PN}(t/\sqrt V)^{n_c}\bigr]\Bigr)^{n_r},

  stored as :math:`\log(-\log\mathbb E_V[F_{\rm PN}(t/\sqrt V)^{n_c}])` per :math:`n_c`.
  It is exact for each row and neglects the dependence between rows through the shared
  column factors, which makes the maximum stochastically larger (Jensen); measured
  against direct simulation of low-rank layers the mean maximum is within 1 % for
  ranks :math:`\ge 3` and 2.5 % high for rank 1 (``bench/validate_critical_sparsity.py``).

The product-normal law itself enters through :math:`\log F_{\rm PN}` and
:math:`\log\bar F_{\rm PN}` tabulated on a uniform grid of :math:`\log x` (step
:math:`2.5\times10^{-4}`, linear interpolation), so building a table costs some ten million
interpolations, once per process (marginal) or per column count (maxima); the Gamma
mixing uses 48 nodes there (tabulated values within 1e-4 relative of the 96-node ones).  Between the
ranks of the grid the tables are interpolated by 4-point Lagrange polynomials in
:math:`\log n`, along :math:`\log x` linearly.
Table error (tested against the exact mixtures): below :math:`10^{-4}` in
:math:`\log(1 - F)` wherever :math:`1 - F > 10^{-30}`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._laws import ProductNormal, gamma_mixing_nodes

__all__ = ["RANK_GRID", "X_GRID", "marginal_cdf", "marginal_sf", "sample_row_maxima", "row_max_log_cdf"]

_PN = ProductNormal()

#: Effective ranks of the tables (log-spaced; above the last one the law is that of the last).
RANK_GRID = np.exp(np.linspace(0.0, np.log(4096.0), 49))
#: Abscissae of the tables, in log x.
X_GRID = np.linspace(np.log(1e-6), np.log(600.0), 1200)
_DN = RANK_GRID.size
_DU = X_GRID[1] - X_GRID[0]
_DL = np.log(RANK_GRID[1]) - np.log(RANK_GRID[0])
_TINY = 1e-300
#: Step of the uniform log-x grid of the product-normal law's log cdf / log sf.
_PN_DU = 2.5e-4


@lru_cache(maxsize=1)
def _pn_grid():
    """log F_PN and log(1 - F_PN) on a fine uniform grid of log x (linear interpolation error < 1e-6)."""
    u = np.log(1e-14) + _PN_DU * np.arange(int(np.ceil((np.log(3000.0) - np.log(1e-14)) / _PN_DU)) + 1)
    x = np.exp(u)
    return u, np.log(_PN.cdf(x)), _PN.logsf(x)


def _pn_log_cdf_sf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log F_PN(x), log(1 - F_PN(x))) by interpolation, with the series / tail asymptotes outside."""
    u_grid, lcdf, lsf = _pn_grid()
    u = np.log(np.maximum(x, _TINY))
    # linear interpolation on the uniform grid by index arithmetic (np.interp's bisection is 10x slower)
    g = np.clip((u - u_grid[0]) / _PN_DU, 0.0, u_grid.size - 1.0)
    j = np.minimum(g.astype(np.intp), u_grid.size - 2)
    f = g - j
    a = lcdf[j] + f * (lcdf[j + 1] - lcdf[j])
    b = lsf[j] + f * (lsf[j + 1] - lsf[j])
    # below the grid: F ~ (2x/pi)(1 - gamma + log 2 - log x); above: logsf ~ -x + log(sqrt(2/(pi x))).
    small = u < u_grid[0]
    if small.any():
        xs = np.maximum(x[small], _TINY)
        a[small] = np.log(xs * (2 / np.pi)) + np.log(1 - np.euler_gamma + np.log(2) - np.log(xs))
        b[small] = -np.exp(a[small])
    big = u > u_grid[-1]
    if big.any():
        xb = x[big]
        b[big] = -xb + 0.5 * np.log(2 / (np.pi * xb))
        a[big] = -np.exp(b[big])
    return a, b


def _loglog(log_f: np.ndarray, log_1mf: np.ndarray) -> np.ndarray:
    """log(-log F) from log F and log(1 - F), accurate at both ends."""
    with np.errstate(divide="ignore"):
        neg_log_f = np.where(log_1mf < np.log(0.5), -np.log1p(-np.exp(log_1mf)), -log_f)
    return np.log(np.maximum(neg_log_f, _TINY))


@lru_cache(maxsize=1)
def _marginal_table() -> np.ndarray:
    v, w = gamma_mixing_nodes(RANK_GRID, 48)  # (n, k)
    x = np.exp(X_GRID)[None, :, None] / np.sqrt(v)[:, None, :]  # (n, u, k)
    la, lb = _pn_log_cdf_sf(x)
    f = np.einsum("nuk,nk->nu", np.exp(la), w)
    s = np.einsum("nuk,nk->nu", np.exp(lb), w)
    with np.errstate(divide="ignore"):
        return _loglog(np.log(np.maximum(f, _TINY)), np.log(np.maximum(s, _TINY)))


@lru_cache(maxsize=32)
def _max_table(n_cols: int) -> np.ndarray:
    v, w = gamma_mixing_nodes(RANK_GRID, 48)
    x = np.exp(X_GRID)[None, :, None] / np.sqrt(v)[:, None, :]
    la, _ = _pn_log_cdf_sf(x)
    col = n_cols * la  # log F^{n_c}, per node
    g = np.einsum("nuk,nk->nu", np.exp(col), w)  # E_V F^{n_c}
    with np.errstate(over="ignore"):
        d = np.einsum("nuk,nk->nu", -np.expm1(col), w)  # 1 - E_V F^{n_c}
    with np.errstate(divide="ignore"):
        return _loglog(np.log(np.maximum(g, _TINY)), np.log(np.maximum(d, _TINY)))


def _rank_weights(rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Base index i (rows i-1..i+2 used) and the 4 Lagrange weights in log rank."""
    g = np.clip(np.log(np.maximum(rank, 1.0)) / _DL, 0.0, _DN - 1.0)
    i = np.clip(np.floor(g).astype(np.intp), 1, _DN - 3)
    f = g - i  # in [-1, 2]
    w = np.stack([-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2, -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6])
    return i, w


def _rows(table: np.ndarray, i: np.ndarray, w: np.ndarray, j: np.ndarray) -> np.ndarray:
    return w[0] * table[i - 1, j] + w[1] * table[i, j] + w[2] * table[i + 1, j] + w[3] * table[i + 2, j]


def _interp(table: np.ndarray, rank: np.ndarray, x: np.ndarray) -> np.ndarray:
    i, w = _rank_weights(rank)
    gj = (np.log(np.maximum(x, _TINY)) - X_GRID[0]) / _DU
    gj = np.clip(gj, 0.0, X_GRID.size - 1 - 1e-9)
    j0 = gj.astype(np.intp)
    fj = gj - j0
    return (1 - fj) * _rows(table, i, w, j0) + fj * _rows(table, i, w, j0 + 1)


def marginal_cdf(x, rank) -> np.ndarray:
    r""":math:`F_n(x)` of :class:`~eoc._laws.LowRankProductNormal` (tabulated; broadcasts ``x`` and ``rank``)."""
    x, rank = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(rank, dtype=np.float64))
    return np.exp(-np.exp(_interp(_marginal_table(), rank, x)))


def marginal_sf(x, rank) -> np.ndarray:
    r""":math:`1 - F_n(x)` (tabulated, relative-accurate in the tail)."""
    x, rank = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(rank, dtype=np.float64))
    return -np.expm1(-np.exp(_interp(_marginal_table(), rank, x)))


def row_max_log_cdf(t, rank, n_rows: int, n_cols: int) -> np.ndarray:
    r""":math:`\log P(\max\le t)` of an ``n_rows`` x ``n_cols`` layer with unit-scale scores (row model)."""
    t, rank = np.broadcast_arrays(np.asarray(t, dtype=np.float64), np.asarray(rank, dtype=np.float64))
    return -n_rows * np.exp(_interp(_max_table(int(n_cols)), rank, t))


#: Grid of y = log(-log G) on which the inverse of the row-model maximum is tabulated.
_Y_GRID = np.linspace(-48.0, 9.0, 2400)
_DY = _Y_GRID[1] - _Y_GRID[0]


@lru_cache(maxsize=32)
def _inverse_max_table(n_cols: int) -> np.ndarray:
    """log t as a function of y = log(-log E_V F^{n_c}(t)), per rank of the grid (rows decrease in t)."""
    table = _max_table(int(n_cols))
    out = np.empty((RANK_GRID.size, _Y_GRID.size))
    for i, row in enumerate(table):
        # row is non-increasing in u; np.interp needs increasing abscissae
        y, keep = np.unique(row[::-1], return_index=True)
        out[i] = np.interp(_Y_GRID, y, X_GRID[::-1][keep])
    return out


def sample_row_maxima(rank, n_rows: int, n_cols: int, uniform) -> np.ndarray:
    r"""Maxima of unit-scale layers by inversion: the ``t`` with :math:`P(\max\le t) = U`.

    ``rank`` and ``uniform`` broadcast; ``n_rows <= n_cols`` should hold (the rows are the
    side conditioned exactly).  The inverse of the row model is tabulated per rank of the
    grid on :math:`y = \log(-\log G)` and interpolated like the forward tables.
    """
    rank, u = np.broadcast_arrays(np.asarray(rank, dtype=np.float64), np.asarray(uniform, dtype=np.float64))
    inv = _inverse_max_table(int(n_cols))
    i, w = _rank_weights(rank)
    with np.errstate(divide="ignore"):
        y = np.log(-np.log(np.clip(u, 1e-300, 1 - 1e-16)) / n_rows)  # log(-log G) at the root
    gj = np.clip((y - _Y_GRID[0]) / _DY, 0.0, _Y_GRID.size - 1 - 1e-9)
    j0 = gj.astype(np.intp)
    fj = gj - j0
    return np.exp((1 - fj) * _rows(inv, i, w, j0) + fj * _rows(inv, i, w, j0 + 1))
