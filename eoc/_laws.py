r"""Score laws of pruning at initialization (docs/theory.md §4).

The theory models the scores of layer :math:`l` as iid :math:`a_l G`, where the law
of :math:`G` depends only on the pruning method:

=============  =====================  ==============================================
method         law (:func:`get_law`)  :math:`G`
=============  =====================  ==============================================
``magnitude``  ``half_normal``        :math:`|Z|` (MBP, :math:`g = |W|`)
``snip``       ``product_normal``     :math:`|Z_1 Z_2|` (SBP, gradient independence)
``random``     ``uniform``            :math:`U \sim \mathrm{Uniform}(0, 1)`
=============  =====================  ==============================================

and, for SNIP under the finite-width model (docs/theory.md §8), the family
:class:`LowRankProductNormal` of the score :math:`|Z_1 Z_2|\sqrt V` of a layer whose
gradient matrix has effective rank ``rank`` (a parametrized family, built directly
rather than looked up by name; rank :math:`\infty` is ``product_normal``), with :math:`Z, Z_1, Z_2` iid :math:`\mathcal N(0, 1)`.  Each law is a small frozen
dataclass following the :class:`ScoreLaw` protocol: vectorized ``pdf``, ``cdf``,
``sf``, ``logsf``, ``ppf``, ``isf``, the moments, ``rvs`` and the truncated second
moment :math:`\mathbb E[W^2; G > t]` of the standardized weight :math:`W` whose
score is :math:`G` (used by the variance of pruned networks, docs/theory.md §5).

Accuracy (double precision, against mpmath at 30 digits in ``tests/test_laws.py``;
worst observed with scipy 1.17): ``cdf``, ``sf``, ``logsf`` and the truncated moments
within 3 ulps relative over the whole support (``sf`` until it underflows, near
:math:`x \approx 38.5` for :math:`|Z|` and :math:`x \approx 745` for :math:`|Z_1 Z_2|`;
``logsf`` stays finite beyond), ``ppf`` and ``isf`` within 2 ulps for :math:`p` from
:math:`10^{-300}` to :math:`1 - 10^{-12}` (and sensible down to the smallest subnormal),
the product-normal ``pdf`` (scipy's ``k0``) within 4 ulps.  See :class:`ProductNormal`
for the numerics of the product-normal law.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._roots import solve_bracketed
from ._validate import as_float_array, check_closed_interval, check_positive

__all__ = [
    "ScoreLaw",
    "HalfNormal",
    "ProductNormal",
    "Uniform01",
    "LowRankProductNormal",
    "get_law",
    "available_laws",
    "law_for_method",
    "LAW_OF_METHOD",
]

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LN2 = math.log(2.0)


# ----------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------


@runtime_checkable
class ScoreLaw(Protocol):
    """A law on :math:`[0, \\infty)` for the normalized pruning score :math:`G`.

    All functions are vectorized: they take array_like input (``x`` any real or
    ``±inf``, ``p`` in :math:`[0, 1]`), reject NaN with a :class:`ValueError`, and
    return a float64 ndarray of the broadcast shape (0-d for scalar input).
    """

    @property
    def name(self) -> str:
        """Registry name (see :func:`get_law`)."""
        ...

    @property
    def mean(self) -> float:
        """:math:`\\mathbb E[G]`."""
        ...

    @property
    def second_moment(self) -> float:
        """:math:`\\mathbb E[G^2]`."""
        ...

    def pdf(self, x: ArrayLike) -> np.ndarray:
        """Density of :math:`G` (zero for ``x < 0``)."""
        ...

    def cdf(self, x: ArrayLike) -> np.ndarray:
        """:math:`P(G \\le x)`."""
        ...

    def sf(self, x: ArrayLike) -> np.ndarray:
        """:math:`P(G > x)`, relative-accurate in the far tail."""
        ...

    def logsf(self, x: ArrayLike) -> np.ndarray:
        """:math:`\\log P(G > x)`, finite far beyond the underflow of ``sf``."""
        ...

    def ppf(self, p: ArrayLike) -> np.ndarray:
        """Lower quantile: the ``x`` with ``cdf(x) = p``."""
        ...

    def isf(self, p: ArrayLike) -> np.ndarray:
        """Upper quantile: the ``x`` with ``sf(x) = p``."""
        ...

    def truncated_second_moment(self, t: ArrayLike) -> np.ndarray:
        """:math:`\\mathbb E[W^2 \\mathbb 1\\{G > t\\}]`, ``W`` the unit-variance weight scored ``G``."""
        ...

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int) -> np.ndarray:
        """Samples of :math:`G`."""
        ...


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------


def _as_x(x: ArrayLike, name: str = "x") -> np.ndarray:
    """A float64 array of abscissae: any real value or ±inf, never NaN."""
    return as_float_array(x, name)


def _as_p(p: ArrayLike, name: str = "p") -> np.ndarray:
    """A float64 array of probabilities in [0, 1]."""
    return check_closed_interval(p, name, 0.0, 1.0)


def _rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or an integer seed, got rng={rng!r}")


def _size(size) -> tuple[int, ...]:
    shape = (size,) if isinstance(size, numbers.Integral) else size
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"size must be a non-negative integer or a tuple of them, got size={size!r}") from None
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"size must be a non-negative integer or a tuple of them, got size={size!r}")
    return tuple(int(n) for n in shape)


def _exp_half_square(x: np.ndarray) -> np.ndarray:
    r""":math:`e^{-x^2/2}` to a few ulps for every ``x`` (plain ``exp(-x*x/2)`` loses :math:`x^2` ulps).

    :math:`x^2` is split exactly as ``hi + lo`` (Dekker's product), and
    :math:`e^{-x^2/2} = e^{-hi/2} e^{-lo/2}` with ``hi/2`` exact.
    """
    x = np.minimum(np.abs(np.asarray(x, dtype=np.float64)), 40.0)  # e^{-800} underflows to 0
    c = x * 134217729.0  # 2**27 + 1
    xh = c - (c - x)
    xl = x - xh
    hi = xh * xh
    lo = (2.0 * xh) * xl + xl * xl
    return np.exp(-0.5 * hi) * np.exp(-0.5 * lo)


def _quantiles(p: np.ndarray, lower_branch: np.ndarray, lower_q: np.ndarray, upper_p: np.ndarray,
               solve_lower, solve_upper) -> np.ndarray:
    """Assemble quantiles from a lower-tail solver (``cdf = q``) and an upper-tail one (``sf = p``).

    Each solver receives a flat array of probabilities in ``(0, 1)`` and only sees the
    elements routed to it, so that no probability is formed by a cancelling ``1 - p``.
    """
    out = np.empty(p.shape, dtype=np.float64)
    lb = lower_branch
    if lb.any():
        out[lb] = solve_lower(lower_q[lb])
    ub = ~lb
    if ub.any():
        out[ub] = solve_upper(upper_p[ub])
    return out


# ----------------------------------------------------------------------------------------------
# Half-normal: magnitude pruning
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HalfNormal:
    r"""The half-normal law of :math:`G = |Z|`, the magnitude-pruning score (MBP).

    .. math::

        f(x) = \sqrt{2/\pi}\, e^{-x^2/2}, \qquad
        F(x) = \operatorname{erf}(x/\sqrt2), \qquad
        \bar F(x) = \operatorname{erfc}(x/\sqrt2) = 2\Phi(-x), \qquad x \ge 0,

    :math:`\mathbb E G = \sqrt{2/\pi}`, :math:`\mathbb E G^2 = 1`.  ``logsf`` uses
    :func:`scipy.special.log_ndtr` and ``isf`` uses :func:`scipy.special.ndtri_exp`
    on :math:`\log(p/2)` below ``p = 1e-300`` (``ndtri(p/2)`` above, ``erfinv(1 - p)``
    for ``p >= 1/2``), so both stay relative-accurate for ``p`` down to the smallest
    subnormal.  ``pdf`` and ``sf`` take :math:`e^{-x^2/2}` from an exact split of
    :math:`x^2`, which keeps them at a few ulps where the plain formula loses
    :math:`x^2` ulps.
    """

    @property
    def name(self) -> str:
        return "half_normal"

    @property
    def mean(self) -> float:
        return _SQRT_2_OVER_PI

    @property
    def second_moment(self) -> float:
        return 1.0

    def pdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        return np.where(x >= 0, _SQRT_2_OVER_PI * _exp_half_square(x), 0.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        return special.erf(np.maximum(x, 0.0) / _SQRT2)

    def sf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        return self._sf(np.maximum(x, 0.0))

    @staticmethod
    def _sf(x: np.ndarray) -> np.ndarray:
        # erfc(x / sqrt 2) for x >= 0; for x >= 1 as erfcx(x / sqrt 2) e^{-x^2/2}: erfcx is
        # insensitive to the rounding of x / sqrt 2, and the exponential is taken exactly.
        with np.errstate(under="ignore"):
            tail = special.erfcx(x / _SQRT2) * _exp_half_square(x)
        return np.where(x < 1.0, special.erfc(x / _SQRT2), tail)

    def logsf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        # log(2 Phi(-x)); near x = 0 use log1p(-erf) to avoid log of a number near 1.
        xp = np.maximum(x, 0.0)
        with np.errstate(divide="ignore"):
            small = np.log1p(-special.erf(np.minimum(xp, 1.0) / _SQRT2))
        return np.where(xp < 1.0, small, _LN2 + special.log_ndtr(-xp))

    @staticmethod
    def _isf(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Upper quantile from ``p`` and its exact complement ``q = 1 - p``."""
        # sf(x) = erfc(x / sqrt 2) = p: for p >= 1/2 invert erf(x / sqrt 2) = q (q exact, small);
        # otherwise x = -Phi^{-1}(p/2), with p/2 exact unless subnormal, where log(p/2) is used.
        with np.errstate(divide="ignore"):
            tiny = -special.ndtri_exp(np.log(p) - _LN2)
        mid = -special.ndtri(0.5 * p)
        big = _SQRT2 * special.erfinv(q)
        return np.where(p >= 0.5, big, np.where(p > 1e-300, mid, tiny))

    def ppf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        return self._isf(1.0 - p, p)

    def isf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        return self._isf(p, 1.0 - p)

    def truncated_second_moment(self, t: ArrayLike) -> np.ndarray:
        r"""Truncated second moment :math:`\mathbb E[Z^2; |Z| > t]`.

        .. math::

            \mathbb E[Z^2 \mathbb 1\{|Z| > t\}] = \bar F(t) + t f(t)
            = \operatorname{erfc}(t/\sqrt2) + 2 t \varphi(t), \qquad t \ge 0,

        (integration by parts), and 1 for :math:`t \le 0`.  Decreasing, with
        derivative :math:`-t^2 f(t)`.
        """
        t = _as_x(t, "t")
        tp = np.maximum(t, 0.0)
        with np.errstate(invalid="ignore"):
            tail = tp * _SQRT_2_OVER_PI * _exp_half_square(tp)
        tail = np.where(np.isinf(tp), 0.0, tail)
        return self._sf(tp) + tail

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int) -> np.ndarray:
        return np.abs(_rng(rng).standard_normal(_size(size)))


# ----------------------------------------------------------------------------------------------
# Product-normal: SNIP
# ----------------------------------------------------------------------------------------------

#: Abscissa switching the product-normal numerics from the lower-tail series to the
#: upper-tail quadrature; just above the median 0.36516801..., so each side computes the
#: smaller of (cdf, sf) directly and the complement loses at most a factor ~1.3.
_PN_SWITCH = 0.375

#: Terms of the power series of the cdf (the term k is below (x^2/4)^k / (k!)^2; 24 terms
#: leave < 1e-40 relative at x = 0.375).
_PN_SERIES_K = np.arange(24)
_PN_SERIES_U = np.exp(-2.0 * special.gammaln(_PN_SERIES_K + 1.0) - np.log(2.0 * _PN_SERIES_K + 1.0))
_PN_SERIES_B = (
    np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, _PN_SERIES_K.size))]) + 1.0 / (2.0 * _PN_SERIES_K + 1.0)
)

#: Trapezoid nodes for the scaled tail integral; 24 already reach 2 ulps for all x >= 0.3.
_PN_TRAP_N = 32
#: Cut-off of the tail integrand: x (cosh s - 1) <= 42, i.e. integrand >= e^-42 relative.
_PN_TRAP_CUT = 42.0
_CHUNK = 1 << 14


def _pn_cdf_series(x: np.ndarray) -> np.ndarray:
    r"""Product-normal cdf for ``0 < x <= 3`` from the term-wise integrated series of :math:`K_0`.

    .. math::

        F(x) = \frac{2x}{\pi} \sum_{k \ge 0} \frac{(x^2/4)^k}{(k!)^2 (2k+1)}
               \Bigl[H_k + \frac{1}{2k+1} - \gamma - \log\frac x2\Bigr],

    :math:`H_k` the harmonic numbers.  Every term is positive for :math:`x < 2 e^{1-\gamma}`,
    so the sum has no cancellation.
    """
    x = np.asarray(x, dtype=np.float64)
    y = 0.25 * x * x
    # Horner in y over both sums: S2 = sum u_k y^k, S1 = sum u_k B_k y^k.
    s1 = np.zeros_like(x)
    s2 = np.zeros_like(x)
    for u, b in zip(_PN_SERIES_U[::-1], _PN_SERIES_B[::-1]):
        s1 = s1 * y + u * b
        s2 = s2 * y + u
    with np.errstate(divide="ignore", invalid="ignore"):
        ell = (np.euler_gamma - _LN2) + np.log(x)  # not log(x / 2): x / 2 underflows for subnormal x
        out = (2.0 / math.pi) * x * (s1 - ell * s2)
    return np.where(x > 0, out, 0.0)


def _pn_scaled_tail(x: np.ndarray) -> np.ndarray:
    r""":math:`J(x) = e^{x} \bar F(x)` for ``x > 0.2`` finite, by the trapezoid rule.

    .. math::

        J(x) = \frac 2\pi \int_0^\infty \frac{e^{-2x \sinh^2(s/2)}}{\cosh s}\, ds,

    from :math:`K_0(t) = \int_0^\infty e^{-t\cosh s} ds` and
    :math:`\int_x^\infty K_0 = \int_0^\infty e^{-x \cosh s}/\cosh s\, ds`.  The integrand is
    even and analytic in the strip :math:`|\Im s| < \pi/2`, so the trapezoid rule on
    :math:`[0, s_{max}]`, :math:`x(\cosh s_{max} - 1) = 42`, converges geometrically;
    with a step :math:`h = s_{max}/31` the error is below 2 ulps for every
    :math:`x \ge 0.3` (the step shrinks like :math:`x^{-1/2}` as the integrand narrows).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    out = np.empty_like(x)
    j = np.arange(_PN_TRAP_N)
    w = np.where(j == 0, 0.5, 1.0)
    for a in range(0, x.size, _CHUNK):
        xc = x[a : a + _CHUNK, None]
        # s_max = acosh(1 + C/x), written without the rounding of 1 + C/x at large x.
        h = 2.0 * np.arcsinh(np.sqrt(0.5 * _PN_TRAP_CUT / xc)) / (_PN_TRAP_N - 1)
        s = j * h
        sh = np.sinh(0.5 * s)
        f = np.exp(-(xc * sh) * (2.0 * sh)) / np.cosh(s)  # no overflow of 2x near the float max
        # a row-wise numpy sum, not f @ w: BLAS may round differently with the number of rows,
        # and a value must not depend on the other elements of the batch.
        out[a : a + _CHUNK] = (2.0 / math.pi) * h[:, 0] * np.sum(f * w, axis=1)
    return out


#: Below this lower-tail probability the quantile comes from the leading term of the series.
_PN_TINY_Q = 1e-100
_PN_C0 = 1.0 - np.euler_gamma + _LN2


def _pn_ppf_tiny(q: np.ndarray) -> np.ndarray:
    r"""Solve :math:`F(x) = q` for :math:`q < 10^{-100}` from :math:`F(x) = \frac{2x}{\pi}(c - \log x)(1 + O(x^2))`.

    :math:`c = 1 - \gamma + \log 2`.  With :math:`v = c - \log x` the equation
    :math:`\frac 2\pi x v = q` is the fixed point :math:`v = c - \log(\pi q/2) + \log v`
    (contraction factor :math:`1/v < 1/200`), and :math:`x = q \cdot \pi/(2v)`.  Works in
    logarithms, so subnormal ``q`` are fine (where a bracketed solver cannot resolve the root).
    """
    base = _PN_C0 - (np.log(q) + math.log(0.5 * math.pi))
    v = base.copy()
    for _ in range(6):
        v = base + np.log(v)
    return q * ((0.5 * math.pi) / v)


@dataclass(frozen=True)
class ProductNormal:
    r"""The product-normal law of :math:`G = |Z_1 Z_2|`, the SNIP score under gradient independence.

    The signed product :math:`Z_1 Z_2` has density :math:`K_0(|x|)/\pi` on
    :math:`\mathbb R` (:math:`K_0` the modified Bessel function of the second kind), so

    .. math::

        f(x) = \frac 2\pi K_0(x), \qquad
        F(x) = \frac 2\pi \int_0^x K_0(t)\,dt
             = x\,\bigl[K_0(x) \mathbf L_{-1}(x) + K_1(x) \mathbf L_0(x)\bigr], \qquad x > 0,

    (:math:`\mathbf L_\nu` the modified Struve functions; Abramowitz & Stegun 11.1.8).
    The founding notes (docs/theory.md §10) wrote the density of :math:`|Z_1 Z_2|` as :math:`K_0(x)/\pi`;
    that is the density of the *signed* product and integrates to 1/2 on
    :math:`x > 0`; the factor 2 here is the correct one (tested: the pdf integrates to 1).

    Moments: :math:`\mathbb E G = (\mathbb E|Z|)^2 = 2/\pi`, :math:`\mathbb E G^2 = 1`.

    Numerics (the Struve form is only a test route: its terms grow like :math:`e^x`):

    * ``cdf`` for :math:`x \le 0.375` (just above the median 0.3652): the term-wise
      integrated power series of :math:`K_0` (all terms positive, no cancellation);
    * ``sf`` for :math:`x > 0.375`: :math:`\bar F(x) = e^{-x} J(x)` with the scaled tail
      :math:`J(x) = \frac 2\pi\int_0^\infty e^{-2x\sinh^2(s/2)}/\cosh s\,ds` by a 32-node
      trapezoid rule (exponentially convergent, see ``_pn_scaled_tail``); ``logsf`` is
      :math:`-x + \log J(x)`, finite far beyond the underflow of ``sf``;
    * the complements (``sf`` below the switch, ``cdf`` above) are ``1 - `` the other,
      which costs at most a factor 1.3 in relative error because the switch sits at
      the median;
    * ``ppf``/``isf``: Chandrupatla's bracketed method (vectorized,
      :func:`scipy.optimize.elementwise.find_root`) on ``cdf(x) = q`` when the lower
      tail probability :math:`q \le 1/2`, and on ``logsf(x) = log p`` otherwise, with
      the brackets :math:`[q/1000, \min(q, 0.375)]` (as :math:`x \le F(x) \le 500 x`
      there) and :math:`[0, -\log p]` (as :math:`\bar F(x) \le e^{-x}`); for
      :math:`q < 10^{-100}` the leading term of the series is inverted by a fixed
      point instead (see ``_pn_ppf_tiny``), which also covers subnormal ``q``.
    """

    @property
    def name(self) -> str:
        return "product_normal"

    @property
    def mean(self) -> float:
        return 2.0 / math.pi

    @property
    def second_moment(self) -> float:
        return 1.0

    def pdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        with np.errstate(divide="ignore"):
            return np.where(x >= 0, (2.0 / math.pi) * special.k0(np.maximum(x, 0.0)), 0.0)

    # The two direct routes, each on its own side of the switch; the rest is assembled.
    def _split(self, x: np.ndarray):
        low = (x > 0) & (x <= _PN_SWITCH)
        high = (x > _PN_SWITCH) & np.isfinite(x)
        return low, high

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        out = np.where(x > _PN_SWITCH, 1.0, 0.0)
        low, high = self._split(x)
        out[low] = _pn_cdf_series(x[low])
        xh = x[high]
        out[high] = 1.0 - np.exp(-xh) * _pn_scaled_tail(xh)
        return out

    def sf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        out = np.where(x > _PN_SWITCH, 0.0, 1.0)
        low, high = self._split(x)
        out[low] = 1.0 - _pn_cdf_series(x[low])
        xh = x[high]
        out[high] = np.exp(-xh) * _pn_scaled_tail(xh)
        return out

    def logsf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        out = np.where(x > _PN_SWITCH, -np.inf, 0.0)
        low, high = self._split(x)
        out[low] = np.log1p(-_pn_cdf_series(x[low]))
        xh = x[high]
        out[high] = -xh + np.log(_pn_scaled_tail(xh))
        return out

    # Quantiles ---------------------------------------------------------------------------
    def _solve_lower(self, q: np.ndarray) -> np.ndarray:
        """Solve cdf(x) = q for 0 < q <= 1/2 (then 0 < x <= median < 0.375)."""
        out = np.empty_like(q)
        tiny = q < _PN_TINY_Q
        out[tiny] = _pn_ppf_tiny(q[tiny])
        qb = q[~tiny]
        # Relative residual, so that the default absolute f-tolerance never stops it early.
        out[~tiny] = solve_bracketed(
            lambda x, qq: _pn_cdf_series(x) / qq - 1.0, qb / 1000.0, np.minimum(qb, _PN_SWITCH), (qb,), xatol=0.0
        )
        return out

    def _solve_upper(self, p: np.ndarray) -> np.ndarray:
        """Solve logsf(x) = log p for 0 < p < 1/2 (then x > median)."""
        lp = np.log(p)
        return solve_bracketed(lambda x, l: self.logsf(x) - l, np.zeros_like(p), -lp, (lp,), xatol=0.0)

    def ppf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        out = np.where(p >= 1.0, np.inf, 0.0)
        inner = (p > 0) & (p < 1)
        pi = p[inner]
        out[inner] = _quantiles(pi, pi <= 0.5, pi, 1.0 - pi, self._solve_lower, self._solve_upper)
        return out

    def isf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        out = np.where(p <= 0.0, np.inf, 0.0)
        inner = (p > 0) & (p < 1)
        pi = p[inner]
        out[inner] = _quantiles(pi, pi >= 0.5, 1.0 - pi, pi, self._solve_lower, self._solve_upper)
        return out

    def truncated_second_moment(self, t: ArrayLike) -> np.ndarray:
        r"""Truncated second moment :math:`\mathbb E[Z_1^2; |Z_1 Z_2| > t]` of the weight :math:`Z_1`.

        .. math::

            \mathbb E[Z_1^2 \mathbb 1\{|Z_1 Z_2| > t\}]
            = \mathbb E\Bigl[Z_1^2 \operatorname{erfc}\Bigl(\frac{t}{|Z_1|\sqrt2}\Bigr)\Bigr]
            = \bar F(t) + t f(t) = \bar F(t) + \frac{2t}{\pi} K_0(t), \qquad t \ge 0.

        Derivation: conditionally on :math:`|Z_2| = y` the inner expectation is the
        half-normal one, :math:`\bar\Phi_2(t/y) + 2 (t/y)\varphi(t/y)`; the first term
        averages to :math:`\bar F(t)`, the second to
        :math:`\frac{2t}{\pi}\int_0^\infty e^{-(t^2/y^2 + y^2)/2} dy/y = \frac{2t}{\pi}K_0(t)`.
        Same form as :meth:`HalfNormal.truncated_second_moment`; equals 1 at
        :math:`t \le 0` and decreases with derivative :math:`-\frac{2t}{\pi} K_1(t)`.
        For :math:`t > 0.375` it is evaluated as
        :math:`e^{-t}[J(t) + \frac{2t}{\pi}\,\mathrm{k0e}(t)]` (no cancellation).
        """
        t = _as_x(t, "t")
        out = np.where(t > _PN_SWITCH, 0.0, 1.0)
        low, high = self._split(t)
        tl = t[low]
        out[low] = 1.0 - _pn_cdf_series(tl) + (2.0 / math.pi) * tl * special.k0(tl)
        th = t[high]
        out[high] = np.exp(-th) * (_pn_scaled_tail(th) + (2.0 / math.pi) * th * special.k0e(th))
        return out

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int) -> np.ndarray:
        g = _rng(rng)
        shape = _size(size)
        return np.abs(g.standard_normal(shape) * g.standard_normal(shape))


# ----------------------------------------------------------------------------------------------
# Uniform: random pruning
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uniform01:
    r"""The uniform law on :math:`[0, 1]`, the random-pruning score.

    .. math::

        f(x) = \mathbb 1\{0 \le x \le 1\}, \qquad F(x) = \min(\max(x, 0), 1),

    :math:`\mathbb E U = 1/2`, :math:`\mathbb E U^2 = 1/3`.  Random pruning keeps a
    weight independently of its value, so :meth:`truncated_second_moment` is
    :math:`\mathbb E[Z^2]\,P(U > t) = 1 - t` (clipped to :math:`[0, 1]`), which is *not*
    :math:`\mathbb E[U^2; U > t]`.
    """

    @property
    def name(self) -> str:
        return "uniform"

    @property
    def mean(self) -> float:
        return 0.5

    @property
    def second_moment(self) -> float:
        return 1.0 / 3.0

    def pdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        return np.where((x >= 0) & (x <= 1), 1.0, 0.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return np.clip(_as_x(x), 0.0, 1.0)

    def sf(self, x: ArrayLike) -> np.ndarray:
        return 1.0 - np.clip(_as_x(x), 0.0, 1.0)

    def logsf(self, x: ArrayLike) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log1p(-np.clip(_as_x(x), 0.0, 1.0))

    def ppf(self, p: ArrayLike) -> np.ndarray:
        return _as_p(p).copy()

    def isf(self, p: ArrayLike) -> np.ndarray:
        return 1.0 - _as_p(p)

    def truncated_second_moment(self, t: ArrayLike) -> np.ndarray:
        r""":math:`\mathbb E[Z^2 \mathbb 1\{U > t\}] = P(U > t)` with :math:`Z \sim \mathcal N(0,1)` independent of :math:`U`."""
        return self.sf(_as_x(t, "t"))

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int) -> np.ndarray:
        return _rng(rng).random(_size(size))


# ----------------------------------------------------------------------------------------------
# Low-rank product-normal: SNIP scores of a finite layer (docs/theory.md §8)
# ----------------------------------------------------------------------------------------------

#: Probabilists' Gauss-Hermite rules of the Gamma mixing variable (in its normal score), by size.
_GH_RULES = {}


def _gh_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    if nodes not in _GH_RULES:
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        _GH_RULES[nodes] = (x, w / w.sum())
    return _GH_RULES[nodes]


def gamma_mixing_nodes(rank, nodes: int = 96) -> tuple[np.ndarray, np.ndarray]:
    r"""Quadrature nodes and weights of :math:`V\sim\mathrm{Gamma}(n/2, \mathrm{rate}\ n/2)`.

    :math:`\mathbb E[g(V)] = \int g(Q_V(\Phi(s)))\,\varphi(s)\,ds`, integrated with ``nodes``
    probabilists' Gauss-Hermite nodes in the normal score :math:`s` (:math:`Q_V` the Gamma
    quantile, from ``gammaincinv`` below the median and ``gammainccinv`` above, so both
    tails are relative-accurate).  The substitution makes the integrand smooth for every
    shape, including :math:`n/2 < 1` where the Gamma density is singular at 0.  ``rank``
    may be an array; the nodes have shape ``np.shape(rank) + (nodes,)``.  ``rank = inf``
    gives :math:`V = 1`.
    """
    gx, gw = _gh_rule(int(nodes))
    n = np.asarray(rank, dtype=np.float64)[..., None]
    a = 0.5 * np.where(np.isinf(n), 1.0, n)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        lo = special.gammaincinv(a, special.ndtr(gx))
        hi = special.gammainccinv(a, special.ndtr(-gx))
    v = np.where(gx < 0, lo, hi) / a
    v = np.where(np.isinf(n), 1.0, v)
    return v, np.broadcast_to(gw, v.shape)


@dataclass(frozen=True)
class LowRankProductNormal:
    r"""Law of :math:`G = |Z_1 Z_2|\sqrt V`, :math:`V\sim\mathrm{Gamma}(n/2,\ \mathrm{rate}\ n/2)`: SNIP scores of a low-rank layer.

    The SNIP score of weight :math:`(i, j)` is :math:`|W_{ij}\,G_{ij}|` with the batch
    gradient :math:`G = \sum_b \delta_b h_b^\top = \sum_k \sigma_k u_k v_k^\top`.  With
    delocalized singular vectors, row :math:`i` of :math:`G` is Gaussian with variance
    :math:`R_i \propto \sum_k \sigma_k^2 \xi_{ik}^2`, a weighted :math:`\chi^2`, which is
    matched by :math:`\mathrm{Gamma}(n/2, n/2)` with the participation ratio
    :math:`n = (\sum_k\sigma_k^2)^2/\sum_k\sigma_k^4` (docs/theory.md §8).  So

    .. math::

        F_n(x) = \mathbb E_V\bigl[F_{\rm PN}(x/\sqrt V)\bigr],\qquad
        \mathbb E G = \frac2\pi\,\frac{\Gamma(\frac{n+1}2)}{\Gamma(\frac n2)\sqrt{n/2}},\qquad
        \mathbb E G^2 = 1,

    with :math:`F_{\rm PN}` the :class:`ProductNormal` law.  ``rank = inf`` is the
    product-normal law of the paper (iid scores); ``rank = 1`` (a rank-one gradient)
    is the law of :math:`|Z_1Z_2Z_3|`, whose tail is much heavier.  The expectation over
    :math:`V` uses :func:`gamma_mixing_nodes`; ``sf`` and ``logsf`` are mixtures of the
    product-normal ``sf``/``logsf``, so they stay relative-accurate in the far tail.
    ``ppf``/``isf`` solve ``cdf = q`` / ``logsf = log p`` by bracketed root finding.
    Accuracy against adaptive quadrature of the definition (``tests/_precompute/low_rank_law.py``):
    ``sf`` within 1e-6 relative, ``cdf`` within 3e-7 absolute, worst at rank 1 and small x
    (this law serves a model whose own error is at the percent level, docs/theory.md §8).

    Parameters
    ----------
    rank : float
        Effective rank :math:`n \ge 1` (any real, ``inf`` allowed).
    """

    rank: float = math.inf

    def __post_init__(self):
        r = float(check_positive(self.rank, "rank", allow_inf=True))
        if r < 1.0:
            raise ValueError(f"rank must be >= 1 (a participation ratio), got rank={self.rank!r}")
        object.__setattr__(self, "rank", r)

    @property
    def name(self) -> str:
        return "low_rank_product_normal"

    @property
    def mean(self) -> float:
        if math.isinf(self.rank):
            return 2.0 / math.pi
        h = 0.5 * self.rank
        return (2.0 / math.pi) * math.exp(special.gammaln(h + 0.5) - special.gammaln(h)) / math.sqrt(h)

    @property
    def second_moment(self) -> float:
        return 1.0

    def _nodes(self):
        v, w = gamma_mixing_nodes(self.rank)
        return np.sqrt(v), w

    def pdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        sv, w = self._nodes()
        return (_PN.pdf(x[..., None] / sv) / sv) @ w

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        sv, w = self._nodes()
        return np.minimum(_PN.cdf(x[..., None] / sv) @ w, 1.0)

    def sf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        sv, w = self._nodes()
        return np.minimum(_PN.sf(x[..., None] / sv) @ w, 1.0)

    def logsf(self, x: ArrayLike) -> np.ndarray:
        x = _as_x(x)
        sv, w = self._nodes()
        return np.minimum(special.logsumexp(_PN.logsf(x[..., None] / sv) + np.log(w), axis=-1), 0.0)

    def ppf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        return self._quantile(p, 1.0 - p)

    def isf(self, p: ArrayLike) -> np.ndarray:
        p = _as_p(p)
        return self._quantile(1.0 - p, p)

    def _quantile(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """x with cdf(x) = q (lower branch, q <= 1/2) or sf(x) = p (upper branch)."""
        out = np.where(p <= 0.0, np.inf, 0.0)
        inner = (p > 0) & (q > 0)
        if not inner.any():
            return out
        qi, pi = q[inner], p[inner]
        low = qi <= 0.5
        res = np.empty(qi.shape)
        sv_max = float(self._nodes()[0].max())
        if low.any():
            qq = qi[low]
            # x <= x_q <= sqrt(V_max) x_{PN}(q / w_min) is bracketed by [PN quantile at V_min, at V_max]
            hi = sv_max * _PN.ppf(np.minimum(qq / _gh_rule(96)[1].min(), 0.5)) + 1e-300
            res[low] = solve_bracketed(lambda x, t: self.cdf(x) / t - 1.0, np.zeros_like(qq), hi, (qq,), xatol=0.0)
        if (~low).any():
            lp = np.log(pi[~low])
            hi = sv_max * _PN.isf(np.maximum(pi[~low] * 1e-3, 1e-300)) + 1.0
            res[~low] = solve_bracketed(lambda x, t: self.logsf(x) - t, np.zeros_like(lp), hi, (lp,), xatol=0.0)
        out[inner] = res
        return out

    def truncated_second_moment(self, t: ArrayLike) -> np.ndarray:
        r""":math:`\mathbb E[W^2; G > t] = \mathbb E_V[\mathbb E(Z_1^2; |Z_1Z_2| > t/\sqrt V)]` (weight :math:`W = Z_1`)."""
        t = _as_x(t, "t")
        sv, w = self._nodes()
        return _PN.truncated_second_moment(t[..., None] / sv) @ w

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator | int) -> np.ndarray:
        g = _rng(rng)
        shape = _size(size)
        z = np.abs(g.standard_normal(shape) * g.standard_normal(shape))
        if math.isinf(self.rank):
            return z
        return z * np.sqrt(g.gamma(0.5 * self.rank, 2.0 / self.rank, shape))


_PN = ProductNormal()


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------

_LAWS: Mapping[str, ScoreLaw] = MappingProxyType(
    {"half_normal": HalfNormal(), "product_normal": ProductNormal(), "uniform": Uniform01()}
)

#: Pruning method -> name of its score law (docs/theory.md §4).
LAW_OF_METHOD: Mapping[str, str] = MappingProxyType(
    {"magnitude": "half_normal", "snip": "product_normal", "random": "uniform"}
)


def available_laws() -> tuple[str, ...]:
    """Names accepted by :func:`get_law`."""
    return tuple(_LAWS)


def get_law(name: str | ScoreLaw) -> ScoreLaw:
    """Look up a score law by name (``"half_normal"``, ``"product_normal"``, ``"uniform"``).

    A :class:`ScoreLaw` instance is returned as is.

    Raises
    ------
    ValueError
        Unknown name.
    """
    if isinstance(name, ScoreLaw) and not isinstance(name, str):
        return name
    if not isinstance(name, str):
        raise ValueError(f"law must be a name or a ScoreLaw, got {name!r}")
    key = name.lower().replace("-", "_")
    if key not in _LAWS:
        raise ValueError(f"unknown score law {name!r}; available: {', '.join(_LAWS)}")
    return _LAWS[key]


def law_for_method(method: str) -> ScoreLaw:
    """The score law of a pruning method: ``magnitude``, ``snip`` or ``random``.

    Raises
    ------
    ValueError
        Unknown method (the message names it and lists the known ones).
    """
    if not isinstance(method, str) or method.lower() not in LAW_OF_METHOD:
        raise ValueError(
            f"no score law for pruning method {method!r}; known methods: {', '.join(LAW_OF_METHOD)}"
        )
    return _LAWS[LAW_OF_METHOD[method.lower()]]
