r"""High-precision reference values for the mean-field numerics of :mod:`eoc`, with mpmath.

Regenerates ``tests/data/mpmath_references.json`` (read by ``tests/test_references.py``)
or, with ``--bench``, ``bench/data/tanh_eoc_mpmath.json`` (the tanh edge of chaos at
200 values of sigma_b, read by the benchmarks).  Run from anywhere, one core::

    .venv/bin/python tests/_precompute/mpmath_references.py           # ~20 CPU-minutes
    .venv/bin/python tests/_precompute/mpmath_references.py --bench   # ~3 CPU-minutes

(Measured with mpmath's pure-Python backend; the 2-D integrals, the K, K' table and
c*, take ~90% of the time, GELU's erfc being the slowest integrand.  The JSON header
records each run's time.)

The outputs are generated, never edited by hand.  This script is an independent
implementation: it does not import :mod:`eoc`, and it integrates with mpmath's own
adaptive rules (tanh-sinh and Gauss-Legendre), not with the sinh-mapped
Gauss-Legendre rules of ``eoc/_quad.py``.

Quantities (docs/theory.md §2-§3; :math:`Z, Z_1, Z_2` iid standard normal)
-----------------------------------------------------------------------------
1-D, with :math:`u = \sqrt q Z` and every integral split at the kink :math:`z = 0`,

.. math::

    M_2(q) = \mathbb E[\phi(u)^2],\quad D_2(q) = \mathbb E[\phi'(u)^2],\quad
    \frac{dM_2}{dq} = \frac{\mathbb E[u\,\phi(u)\phi'(u)]}{q}\ \text{(Stein's lemma)},

    \mathbb E[g(\sqrt q Z)] = \int_0^\infty \big(g(\sqrt q z) + g(-\sqrt q z)\big)\,\varphi(z)\,dz.

2-D, with :math:`u_1 = \sqrt{q_1}z_1`, :math:`u_2 = \sqrt{q_2}(c z_1 + s z_2)`,
:math:`s = \sqrt{1-c^2}`, as an iterated integral whose inner integral is split at
the kink :math:`z_2 = -c z_1/s` of :math:`g_2` and at the Gaussian's centre 0, and
whose outer integral is split at the kink :math:`z_1 = 0` of :math:`g_1`:

.. math::

    \mathbb E[g_1(u_1)g_2(u_2)] = \int g_1(\sqrt{q_1}z_1)\,\varphi(z_1)
        \int g_2\big(\sqrt{q_2}(c z_1 + s z_2)\big)\,\varphi(z_2)\,dz_2\,dz_1,

for :math:`K = \mathbb E[\phi(u_1)\phi(u_2)]` and :math:`K' = \mathbb E[\phi'(u_1)\phi'(u_2)]`.

Fixed points: the edge of chaos solves :math:`q - M_2(q)/D_2(q) = \sigma_b^2` for
:math:`q^*` and sets :math:`\sigma_w = D_2(q^*)^{-1/2}`; the variance fixed point
solves :math:`\sigma_b^2 + \sigma_w^2 M_2(q) = q`; the correlation fixed point solves
:math:`(\sigma_b^2 + \sigma_w^2 K(q^*, q^*, c))/q^* = c` on [0, 1), and
:math:`\chi_c = \sigma_w^2 K'(q^*, q^*, c^*)`.  Every root is bracketed, solved by
the Anderson-Bjoerck method and then certified by a sign change of the function
across :math:`x(1 \pm 10^{4-\mathrm{dps}})`.

Accuracy
--------
Every quadrature's error estimate is checked (the script stops if one is not below
the working epsilon), and a second, independent evaluation (a different rule,
different split points, more digits) of all 1-D values and of the hardest 2-D
values is compared with the first; the largest relative differences are recorded
in the JSON header (``verification``).  Inputs (q, c, sigma_b, ...) are the IEEE
doubles written in the JSON, converted exactly; constants (SELU's, sqrt(2/pi) of
the tanh-approximate GELU) are exact.  Values are decimal strings with
``DIGITS`` significant digits: parse them with ``float``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mpmath as mp
from mpmath import mpf

REPO = Path(__file__).resolve().parents[2]
TESTS_OUT = REPO / "tests" / "data" / "mpmath_references.json"
BENCH_OUT = REPO / "bench" / "data" / "tanh_eoc_mpmath.json"

DPS_1D = 30  # 1-D expectations and the roots built on them
DPS_2D = 20  # 2-D expectations and the correlation fixed point
DPS_CHECK_1D = 45  # independent re-evaluation of every 1-D value
DPS_CHECK_2D = 26  # independent re-evaluation of a subset of 2-D values
DPS_BENCH = 25
DIGITS = 20  # significant digits written to the JSON

SELU_ALPHA = "1.6732632423543772848170429916717"
SELU_SCALE = "1.0507009873554804934193349852946"
GELU_TANH_COEF = "0.044715"

MpFn = Callable[[mpf], mpf]


# ------------------------------------------------------------------------ activations


@dataclass(frozen=True)
class MpActivation:
    """An activation written with mpmath: name and parameters as ``eoc.get_activation`` takes them."""

    name: str
    fn: MpFn = field(repr=False)
    derivative: MpFn = field(repr=False)
    params: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({inner})" if inner else self.name


def _sigmoid(x: mpf) -> mpf:
    return 1 / (1 + mp.exp(-x))


def _tanh() -> MpActivation:
    return MpActivation("tanh", mp.tanh, lambda x: mp.sech(x) ** 2)


def _erf() -> MpActivation:
    return MpActivation("erf", mp.erf, lambda x: 2 / mp.sqrt(mp.pi) * mp.exp(-x * x))


def _sigmoid_act() -> MpActivation:
    def derivative(x: mpf) -> mpf:
        s = _sigmoid(x)
        return s * (1 - s)

    return MpActivation("sigmoid", _sigmoid, derivative)


def _softplus(beta: float) -> MpActivation:
    b = mpf(beta)
    return MpActivation(
        "softplus", lambda x: mp.log1p(mp.exp(b * x)) / b, lambda x: _sigmoid(b * x), {"beta": beta}
    )


def _elu(alpha: float | str, scale: str | int = 1, *, name: str = "elu", params: dict | None = None) -> MpActivation:
    a, s = mpf(alpha), mpf(scale)

    def fn(x: mpf) -> mpf:
        return s * (x if x > 0 else a * mp.expm1(x))

    def derivative(x: mpf) -> mpf:
        return s * (1 if x > 0 else a * mp.exp(x))

    return MpActivation(name, fn, derivative, {"alpha": alpha} if params is None else params)


def _gelu() -> MpActivation:
    def cdf(x: mpf) -> mpf:
        return mp.erfc(-x / mp.sqrt(2)) / 2

    return MpActivation("gelu", lambda x: x * cdf(x), lambda x: cdf(x) + x * gauss_density(x))


def _gelu_tanh() -> MpActivation:
    a = mpf(GELU_TANH_COEF)

    def fn(x: mpf) -> mpf:
        return x * (1 + mp.tanh(mp.sqrt(2 / mp.pi) * (x + a * x**3))) / 2

    def derivative(x: mpf) -> mpf:
        k = mp.sqrt(2 / mp.pi)
        t = mp.tanh(k * (x + a * x**3))
        return (1 + t) / 2 + x * (1 - t * t) * k * (1 + 3 * a * x * x) / 2

    return MpActivation("gelu", fn, derivative, {"approximate": "tanh"})


def _silu() -> MpActivation:
    def derivative(x: mpf) -> mpf:
        s = _sigmoid(x)
        return s + x * s * (1 - s)

    return MpActivation("silu", lambda x: x * _sigmoid(x), derivative)


def _leaky_relu(slope: float, *, name: str = "leaky_relu", params: dict | None = None) -> MpActivation:
    a = mpf(slope)
    return MpActivation(
        name,
        lambda x: x if x > 0 else a * x,
        lambda x: mpf(1) if x > 0 else a,
        {"negative_slope": slope} if params is None else params,
    )


def activations_1d() -> list[MpActivation]:
    """The activations of the 1-D table (the functions are evaluated at the current precision)."""
    return [
        _tanh(),
        _erf(),
        _sigmoid_act(),
        _softplus(1.0),
        _elu(1.0),
        _elu(0.5),
        _elu(SELU_ALPHA, SELU_SCALE, name="selu", params={}),
        _gelu(),
        _gelu_tanh(),
        _silu(),
        _leaky_relu(0.0, name="relu", params={}),
        _leaky_relu(0.2),
        _leaky_relu(1.0, name="linear", params={}),
    ]


def activations_2d() -> list[MpActivation]:
    """The activations of the 2-D table."""
    return [
        _tanh(),
        _elu(SELU_ALPHA, SELU_SCALE, name="selu", params={}),
        _gelu(),
        _elu(1.0),
        _erf(),
        _leaky_relu(0.0, name="relu", params={}),
    ]


# ------------------------------------------------------------------------ quadrature


class QuadratureError(RuntimeError):
    """A quadrature's error estimate exceeds the working tolerance."""


@dataclass
class ErrorLog:
    """Largest error estimate returned by ``mp.quad`` (relative to max(1, |value|))."""

    worst: mpf = field(default_factory=lambda: mpf(0))

    def record(self, value: mpf, err: mpf, what: str) -> None:
        rel = err / max(1, abs(value))
        if rel > 64 * mp.eps:
            raise QuadratureError(f"{what}: error estimate {mp.nstr(err, 3)} for value {mp.nstr(value, 10)}")
        self.worst = max(self.worst, rel)


QUAD_ERRORS = ErrorLog()


def _quad(f: MpFn, points: Sequence, method: str, what: str) -> mpf:
    value, err = mp.quad(f, points, method=method, error=True)
    QUAD_ERRORS.record(value, err, what)
    return value


def gauss_density(z: mpf) -> mpf:
    """The standard normal density (faster than ``mp.npdf``, which handles a general mean and scale)."""
    return mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)


def _truncation() -> mpf:
    """|z| beyond which the normal density times a polynomial is below the working epsilon."""
    return mp.sqrt(2 * (mp.mp.dps + 4) * mp.log(10))


def expect_1d(g: MpFn, q: mpf, *, check: bool = False) -> mpf:
    r"""Compute :math:`\mathbb E[g(\sqrt q Z)]`, split at z = 0 (see the module docstring).

    The primary rule is tanh-sinh on :math:`[0, w, \infty)`, :math:`w = \min(1, q^{-1/2})`
    the scale of the activation's transition; ``check=True`` uses Gauss-Legendre on a
    truncated range with other split points instead (the independent re-evaluation).
    """
    sq = mp.sqrt(q)
    w = min(mpf(1), 1 / sq)

    def f(z: mpf) -> mpf:
        return (g(sq * z) + g(-sq * z)) * gauss_density(z)

    if check:
        points = sorted({mpf(0), w / 3, 2 * w, mpf(3), mpf(6), _truncation()})
        return _quad(f, points, "gauss-legendre", "1-D check")
    return _quad(f, [0, w, mp.inf], "tanh-sinh", "1-D")


def _times_density(v: mpf, z: mpf) -> mpf:
    """``v`` times the normal density at ``z``, skipping the exponential where ``v = 0`` (ReLU)."""
    return v * gauss_density(z) if v else v


def expect_2d(g1: MpFn, g2: MpFn, q1: mpf, q2: mpf, c: mpf, *, check: str | None = None) -> mpf:
    r"""Compute :math:`\mathbb E[g_1(u_1)g_2(u_2)]` as the iterated integral of the module docstring.

    Primary rule (``check=None``): Gauss-Legendre, the normal truncated at :math:`\pm Z`
    (density below the working epsilon), the outer integral split at 0, the inner one
    at its kink and at 0.  ``check="tanh-sinh"`` or ``"gauss-legendre"``: that rule,
    with the extra split points :math:`z_1 = \pm 1` and :math:`z_2 = z_2^{kink} \pm 1`
    (the independent re-evaluation).
    """
    s1, s2 = mp.sqrt(q1), mp.sqrt(q2)
    sigma = s2 * mp.sqrt(1 - c * c)
    zmax = _truncation()
    method = check or "gauss-legendre"

    def inner(z1: mpf) -> mpf:
        m = s2 * c * z1
        kink = -m / sigma
        cuts = {kink, mpf(0), kink - 1, kink + 1} if check else {kink, mpf(0)}
        points = [-zmax, *sorted(x for x in cuts if -zmax < x < zmax), zmax]
        return _quad(lambda z2: _times_density(g2(m + sigma * z2), z2), points, method, "2-D inner")

    def outer(z1: mpf) -> mpf:
        a = g1(s1 * z1)
        return _times_density(a * inner(z1), z1) if a else a

    points = [-zmax, -1, 0, 1, zmax] if check else [-zmax, 0, zmax]
    return _quad(outer, points, method, "2-D outer")


def moment2(act: MpActivation, q: mpf, **kw) -> mpf:
    """:math:`M_2(q) = E[phi(sqrt q Z)^2]`."""
    return expect_1d(lambda u: act.fn(u) ** 2, q, **kw)


def deriv_moment2(act: MpActivation, q: mpf, **kw) -> mpf:
    """:math:`D_2(q) = E[phi'(sqrt q Z)^2]`."""
    return expect_1d(lambda u: act.derivative(u) ** 2, q, **kw)


def dq_moment2(act: MpActivation, q: mpf, **kw) -> mpf:
    """:math:`dM_2/dq = E[u phi(u) phi'(u)]/q` (Stein's lemma)."""
    return expect_1d(lambda u: u * act.fn(u) * act.derivative(u), q, **kw) / q


def kernel(act: MpActivation, q1: mpf, q2: mpf, c: mpf, **kw) -> mpf:
    """:math:`K = E[phi(u_1) phi(u_2)]`, variances q1, q2, correlation c."""
    return expect_2d(act.fn, act.fn, q1, q2, c, **kw)


def deriv_kernel(act: MpActivation, q1: mpf, q2: mpf, c: mpf, **kw) -> mpf:
    """:math:`K' = E[phi'(u_1) phi'(u_2)]`."""
    return expect_2d(act.derivative, act.derivative, q1, q2, c, **kw)


# ------------------------------------------------------------------------ roots


def certified_root(f: MpFn, a: mpf, b: mpf) -> mpf:
    """Root of ``f`` in the bracket [a, b], certified by a sign change at x(1 -+ 10^(4-dps))."""
    if f(a) * f(b) > 0:
        raise ValueError(f"[{mp.nstr(a, 8)}, {mp.nstr(b, 8)}] does not bracket a root")
    x = mp.findroot(f, (a, b), solver="anderson")
    delta = mpf(10) ** (4 - mp.mp.dps)
    if f(x * (1 - delta)) * f(x * (1 + delta)) > 0:
        raise ArithmeticError(f"root {mp.nstr(x, 20)} not certified to relative {mp.nstr(delta, 2)}")
    return x


#: q grid on which the EOC condition is tabulated to bracket its roots.
EOC_Q_GRID = [mpf(10) ** (k / mpf(4)) for k in range(-32, 33)]


def eoc_sigma_b2(act: MpActivation, q: mpf) -> mpf:
    r""":math:`\sigma_b^2(q) = q - M_2(q)/D_2(q)`: the bias variance whose EOC fixed point is q."""
    return q - moment2(act, q) / deriv_moment2(act, q)


def edge_of_chaos(act: MpActivation, sigma_bs: Iterable[float]) -> list[dict]:
    """EOC points ``{"sigma_b", "sigma_w", "q_star", ...}`` of ``act``, one per sigma_b.

    The smallest q* with :math:`\\sigma_b^2(q^*) = \\sigma_b^2` is taken: the first
    upward crossing on :data:`EOC_Q_GRID` (1e-8 .. 1e8) brackets it.  Entries where no
    crossing exists have ``"exists": False`` and the range of sigma_b reached.
    """
    grid = [(q, eoc_sigma_b2(act, q)) for q in EOC_Q_GRID]
    out = []
    for sb in sigma_bs:
        target = mpf(sb) ** 2
        ups = [i for i in range(len(grid) - 1) if grid[i][1] < target <= grid[i + 1][1]]
        if not ups:
            lo, hi = min(v for _, v in grid), max(v for _, v in grid)
            out.append({"sigma_b": sb, "exists": False, "sigma_b2_range_on_grid": [_s(lo), _s(hi)]})
            continue
        i = ups[0]
        q = certified_root(lambda x: eoc_sigma_b2(act, x) - target, grid[i][0], grid[i + 1][0])
        entry = {"sigma_b": sb, "sigma_w": _s(1 / mp.sqrt(deriv_moment2(act, q))), "q_star": _s(q)}
        if len(ups) > 1:
            entry["upward_crossings_on_grid"] = len(ups)
        out.append(entry)
    return out


def variance_fixed_point(act: MpActivation, sw: mpf, sb: mpf) -> mpf:
    r"""The root of :math:`\sigma_b^2 + \sigma_w^2 M_2(q) - q` (sigma_b > 0, bounded phi^2 <= 1).

    It lies in :math:`[\sigma_b^2, \sigma_b^2 + \sigma_w^2]`, where the function goes from
    positive to negative.
    """
    return certified_root(lambda q: sb**2 + sw**2 * moment2(act, q) - q, sb**2, sb**2 + sw**2)


#: Correlations at which f(c) - c is probed to bracket the chaotic fixed point c*.
C_LADDER = ["0", "0.5", "0.8", "0.9", "0.95", "0.99", "0.999"]


def correlation_fixed_point(act: MpActivation, sw: mpf, sb: mpf, q: mpf) -> mpf:
    r"""The first root in [0, 1) of :math:`f(c) - c = (\sigma_b^2 + \sigma_w^2 K(q, q, c))/q - c`."""

    def h(c: mpf) -> mpf:
        return (sb**2 + sw**2 * kernel(act, q, q, c)) / q - c

    ladder = [mpf(c) for c in C_LADDER]
    for lo, hi in zip(ladder, ladder[1:]):
        if h(hi) < 0:
            return certified_root(h, lo, hi)
    raise ValueError("f(c) - c has no sign change on the ladder: not in the chaotic phase?")


# ------------------------------------------------------------------------ tables

Q_1D = [1e-3, 0.1, 0.5, 1.0, 2.5, 10.0, 100.0]
Q_EQUAL_2D = [0.3, 1.0, 5.0]
C_2D = [-0.9, -0.3, 0.0, 0.5, 0.9, 0.999]
UNEQUAL_2D = [(0.5, 2.0, 0.7), (3.0, 0.2, -0.4)]
#: 2-D points re-evaluated independently (per activation, both K and K'), and the rule used;
#: tanh-sinh is the more independent check but ~10x slower than Gauss-Legendre.
CHECK_2D = {(5.0, 5.0, 0.999): "tanh-sinh", (0.3, 0.3, -0.9): "gauss-legendre", (3.0, 0.2, -0.4): "gauss-legendre"}
TANH_EOC_SIGMA_B = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0]
TANH_Q_STAR = [(1.0, 0.3), (1.5, 0.2), (2.5, 0.5), (3.0, 1.0)]
TANH_C_STAR = [(2.5, 0.5), (3.0, 0.1)]
OTHER_EOC_SIGMA_B = [0.1, 0.5, 1.0]


def _s(x: mpf) -> str:
    return mp.nstr(x, DIGITS, min_fixed=-5, max_fixed=6)


def _rel(a: mpf, b: mpf) -> mpf:
    return abs(a - b) / abs(b) if b else abs(a - b)


@dataclass
class Check:
    """Largest relative difference between the primary and the independent evaluation."""

    dps: int
    worst: mpf = field(default_factory=lambda: mpf(0))
    worst_at: str = ""
    count: int = 0

    def add(self, primary: mpf, independent: mpf, where: str) -> None:
        self.count += 1
        r = _rel(primary, independent)
        if r >= self.worst:
            self.worst, self.worst_at = r, where

    def as_dict(self, method: str) -> dict:
        return {
            "values_compared": self.count,
            "independent_dps": self.dps,
            "independent_method": method,
            "max_rel_diff": mp.nstr(self.worst, 3),
            "at": self.worst_at,
        }


def table_1d(log: Callable[[str], None]) -> tuple[list[dict], dict]:
    """M2, D2, dM2/dq at DPS_1D for every activation and q, each re-evaluated at DPS_CHECK_1D."""
    rows, check, dq_check = [], Check(DPS_CHECK_1D), Check(DPS_1D + 10)
    funcs = {"moment2": moment2, "deriv_moment2": deriv_moment2, "dq_moment2": dq_moment2}
    for act in activations_1d():
        for q in Q_1D:
            where = f"{act.label} q={q!r}"
            with mp.workdps(DPS_1D):
                vals = {k: f(act, mpf(q)) for k, f in funcs.items()}
            with mp.workdps(DPS_CHECK_1D):
                for k, f in funcs.items():
                    check.add(vals[k], f(act, mpf(q), check=True), f"{k} {where}")
            rows.append({"activation": act.name, "params": act.params, "q": q, **{k: _s(v) for k, v in vals.items()}})
        log(f"1-D {act.label} done")
    # dM2/dq by Stein's lemma against numerical differentiation of M2 (smooth activations).
    for act in activations_1d()[:4]:
        for q in (0.1, 2.5):
            row = next(r for r in rows if r["activation"] == act.name and r["params"] == act.params and r["q"] == q)
            with mp.workdps(DPS_1D + 10):
                numeric = mp.diff(lambda x: moment2(act, x), mpf(q))
                dq_check.add(mpf(row["dq_moment2"]), numeric, f"{act.label} q={q!r}")
    return rows, {
        "1d_all_values": check.as_dict("gauss-legendre, truncated at |z| = sqrt(2 (dps+4) ln 10), other split points"),
        "dq_moment2_vs_mp_diff": dq_check.as_dict("mp.diff of M2 (numerical differentiation) for tanh, erf, sigmoid, softplus"),
    }


def table_2d(log: Callable[[str], None]) -> tuple[list[dict], dict]:
    """K and K' at DPS_2D; the CHECK_2D points re-evaluated at DPS_CHECK_2D."""
    points = [(q, q, c) for q in Q_EQUAL_2D for c in C_2D] + UNEQUAL_2D
    rows, check = [], Check(DPS_CHECK_2D)
    for act in activations_2d():
        t0 = time.perf_counter()
        for q1, q2, c in points:
            with mp.workdps(DPS_2D):
                args = (mpf(q1), mpf(q2), mpf(c))
                k, kd = kernel(act, *args), deriv_kernel(act, *args)
            if (q1, q2, c) in CHECK_2D:
                with mp.workdps(DPS_CHECK_2D):
                    args = (mpf(q1), mpf(q2), mpf(c))
                    where = f"{act.label} q1={q1!r} q2={q2!r} c={c!r}"
                    rule = CHECK_2D[q1, q2, c]
                    check.add(k, kernel(act, *args, check=rule), f"kernel {where} ({rule})")
                    check.add(kd, deriv_kernel(act, *args, check=rule), f"deriv_kernel {where} ({rule})")
            rows.append(
                {"activation": act.name, "params": act.params, "q1": q1, "q2": q2, "c": c,
                 "kernel": _s(k), "deriv_kernel": _s(kd)}
            )
        log(f"2-D {act.label} done in {time.perf_counter() - t0:.0f} s")
    method = "extra split points z1 = +-1, z2 = kink +- 1; rule per point: " + ", ".join(
        f"{p}: {r}" for p, r in CHECK_2D.items()
    )
    return rows, {"2d_subset": check.as_dict(method)}


def fixed_points(log: Callable[[str], None]) -> dict:
    """The tanh EOC, q*, c* and chi_c tables and the EOC of erf and GELU."""
    tanh = _tanh()
    with mp.workdps(DPS_1D):
        tanh_eoc = edge_of_chaos(tanh, TANH_EOC_SIGMA_B)
        log("tanh EOC done")
        q_stars = [
            {"sigma_w": sw, "sigma_b": sb, "q_star": _s(variance_fixed_point(tanh, mpf(sw), mpf(sb)))}
            for sw, sb in TANH_Q_STAR
        ]
        others = [
            {"activation": act.name, "params": act.params, **point}
            for act in (_erf(), _gelu())
            for point in edge_of_chaos(act, OTHER_EOC_SIGMA_B)
        ]
        log("q*, erf and gelu EOC done")
    c_stars = []
    for sw, sb in TANH_C_STAR:
        with mp.workdps(DPS_1D):
            q = variance_fixed_point(tanh, mpf(sw), mpf(sb))
        with mp.workdps(DPS_2D):
            c = correlation_fixed_point(tanh, mpf(sw), mpf(sb), q)
            chi = mpf(sw) ** 2 * deriv_kernel(tanh, q, q, c)
        c_stars.append({"sigma_w": sw, "sigma_b": sb, "q_star": _s(q), "c_star": _s(c), "chi_c": _s(chi)})
        log(f"tanh c* at ({sw}, {sb}) done")
    return {"tanh_eoc": tanh_eoc, "tanh_q_star": q_stars, "tanh_c_star": c_stars, "eoc_other": others}


# ------------------------------------------------------------------------ driver


FORMULAS = {
    "moment2": "M2(q) = E[phi(sqrt(q) Z)^2] = int_0^inf (phi(sqrt(q) z)^2 + phi(-sqrt(q) z)^2) npdf(z) dz",
    "deriv_moment2": "D2(q) = E[phi'(sqrt(q) Z)^2], split at z = 0 likewise",
    "dq_moment2": "dM2/dq = E[u phi(u) phi'(u)] / q, u = sqrt(q) Z (Stein's lemma), split at z = 0",
    "kernel": "K(q1, q2, c) = int g(sqrt(q1) z1) npdf(z1) int g(sqrt(q2) (c z1 + sqrt(1-c^2) z2)) npdf(z2) dz2 dz1, "
    "g = phi; outer split at z1 = 0, inner at z2 = -c z1 / sqrt(1-c^2) and 0; eoc's q12 = c sqrt(q1 q2)",
    "deriv_kernel": "K'(q1, q2, c): the same with g = phi'",
    "tanh_eoc": "q* solves q - M2(q)/D2(q) = sigma_b^2 (smallest root), sigma_w = 1/sqrt(D2(q*))",
    "tanh_q_star": "q* solves sigma_b^2 + sigma_w^2 M2(q) = q",
    "tanh_c_star": "c* solves (sigma_b^2 + sigma_w^2 K(q*, q*, c))/q* = c in [0, 1); chi_c = sigma_w^2 K'(q*, q*, c*)",
    "activations": "gelu = x Phi(x); gelu(approximate='tanh') = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))/2; "
    "silu = x sigmoid(x); elu(alpha) = x (x > 0), alpha (e^x - 1) (x <= 0); selu = scale elu(alpha); "
    "softplus(beta) = log(1 + e^(beta x))/beta",
}


def provenance(dps: dict, started: float) -> dict:
    return {
        "generated_by": f"tests/_precompute/{Path(__file__).name}",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mpmath_version": mp.__version__,
        "mpmath_backend": mp.libmp.BACKEND,
        "python": platform.python_version(),
        "dps": dps,
        "digits_written": DIGITS,
        "runtime_s": round(time.perf_counter() - started, 1),
        "cpu_time_s": round(time.process_time(), 1),
        "selu": {"alpha": SELU_ALPHA, "scale": SELU_SCALE},
        "note": "Generated file: do not edit. Values are decimal strings; inputs are the IEEE doubles shown.",
    }


def _write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n")


def _logger() -> Callable[[str], None]:
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f} s] {msg}", flush=True)

    return log


def run_tests_references() -> None:
    """Compute every table and write :data:`TESTS_OUT`."""
    started, log = time.perf_counter(), _logger()
    one_d, check_1d = table_1d(log)
    fixed = fixed_points(log)
    two_d, check_2d = table_2d(log)
    dps = {"1d": DPS_1D, "2d": DPS_2D, "roots_1d": DPS_1D, "c_star": DPS_2D,
           "check_1d": DPS_CHECK_1D, "check_2d": DPS_CHECK_2D}
    header = provenance(dps, started)
    header["formulas"] = FORMULAS
    header["verification"] = {
        **check_1d,
        **check_2d,
        "max_quad_error_estimate_rel": mp.nstr(QUAD_ERRORS.worst, 3),
        "roots": "each root certified by a sign change across x (1 -+ 10^(4 - dps))",
    }
    _write(TESTS_OUT, {"provenance": header, "one_d": one_d, "two_d": two_d, **fixed})
    log(f"wrote {TESTS_OUT.relative_to(REPO)}")


def run_bench() -> None:
    """The tanh EOC at sigma_b = linspace(0.01, 2.0, 200), dps 25; writes :data:`BENCH_OUT`."""
    started, log = time.perf_counter(), _logger()
    step = (2.0 - 0.01) / 199
    sigma_b = [i * step + 0.01 for i in range(199)] + [2.0]  # numpy.linspace's arithmetic
    with mp.workdps(DPS_BENCH):
        points = edge_of_chaos(_tanh(), sigma_b)
    if not all("sigma_w" in p for p in points):
        raise ArithmeticError("the tanh EOC should exist at every sigma_b > 0")
    header = provenance({"eoc": DPS_BENCH}, started)
    header["formulas"] = {"tanh_eoc": FORMULAS["tanh_eoc"]}
    header["sigma_b"] = "numpy.linspace(0.01, 2.0, 200)"
    _write(
        BENCH_OUT,
        {
            "provenance": header,
            "activation": "tanh",
            "sigma_b": sigma_b,
            "sigma_w": [p["sigma_w"] for p in points],
            "q_star": [p["q_star"] for p in points],
        },
    )
    log(f"wrote {BENCH_OUT.relative_to(REPO)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", action="store_true", help=f"write {BENCH_OUT.relative_to(REPO)} instead")
    args = parser.parse_args(argv)
    run_bench() if args.bench else run_tests_references()


if __name__ == "__main__":
    main()
