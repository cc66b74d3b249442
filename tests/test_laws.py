"""Score laws of pruning at initialization (eoc._laws; docs/theory.md §4).

Routes to the same numbers:

* mpmath at 30 digits (tests/data/mpmath_laws.json, written by
  tests/_precompute/mpmath_laws.py: Struve closed form, cosh-integral and Bessel
  quadrature for the product-normal law, quadrature of the definitions for the
  truncated moments);
* scipy: adaptive quadrature of the pdf, the Struve closed form with
  ``scipy.special.modstruve``, ``scipy.special.iti0k0``, and Gauss-Laguerre on ``k0e``;
* Monte Carlo (KS test, tail frequency, moments within 5 standard errors).

Accuracy achieved against mpmath with scipy 1.17 (worst relative error): cdf, sf, logsf,
isf, ppf and the truncated moments within 3 ulps (7e-16), the product-normal pdf (scipy
``k0``) within 4 ulps.  The tolerance asserted is ``RTOL_MP = 5e-15`` (~20 ulps), which
leaves room for other libm/scipy builds while still catching any loss of digits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special, stats

from eoc._laws import (
    LAW_OF_METHOD,
    HalfNormal,
    ProductNormal,
    ScoreLaw,
    Uniform01,
    available_laws,
    get_law,
    law_for_method,
)
from strategies import floats

EPS = np.finfo(np.float64).eps
RTOL_MP = 5e-15
DATA = json.loads((Path(__file__).parent / "data" / "mpmath_laws.json").read_text())
LAWS = {name: get_law(name) for name in available_laws()}
CONTINUOUS_TAIL = ("half_normal", "product_normal")

#: Bounded strategies local to this module (x on the bulk and tail, p over 300 decades).
x_bulk = floats(0.0, 50.0)
log10_p = floats(-300.0, 0.0)
law_name = st.sampled_from(tuple(LAWS))


def assert_rel(got, ref, rtol, what, at):
    """Relative comparison that reports the worst points (after scipy's FuncData)."""
    got, ref, at = (np.asarray(a, dtype=np.float64) for a in (got, ref, at))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(got == ref, 0.0, np.abs(got - ref) / np.abs(ref))
    bad = ~(err <= rtol)
    if bad.any():
        order = np.argsort(-np.where(np.isnan(err), np.inf, err))[: min(5, int(bad.sum()))]
        rows = "\n".join(f"  at {at[i]!r}: got {got[i]!r}, want {ref[i]!r}, rel err {err[i]:.3e}" for i in order)
        raise AssertionError(f"{what}: {int(bad.sum())} of {err.size} points beyond rtol={rtol:g}; worst:\n{rows}")


# ---------------------------------------------------------------------------------------------
# Against mpmath
# ---------------------------------------------------------------------------------------------

MP_CASES = [(law, fn) for law in ("half_normal", "product_normal") for fn in DATA[law]]


@pytest.mark.parametrize(("law", "fn"), MP_CASES, ids=[f"{a}-{b}" for a, b in MP_CASES])
def test_matches_mpmath(law, fn):
    """cdf, sf, logsf, pdf, isf, ppf and the truncated moment agree with mpmath to ~20 ulps."""
    table = np.array(DATA[law][fn])
    at, ref = table[:, 0], table[:, 1]
    got = getattr(LAWS[law], fn)(at)
    assert got.shape == at.shape
    assert_rel(got, ref, RTOL_MP, f"{law}.{fn} vs mpmath", at)


def test_reference_data_spans_the_requested_ranges():
    """The mpmath tables cover x in [1e-6, 40] (and beyond) and p down to 1e-300."""
    sf_x = np.array(DATA["product_normal"]["sf"])[:, 0]
    isf_p = np.array(DATA["product_normal"]["isf"])[:, 0]
    assert sf_x.min() <= 1e-6 and sf_x.max() >= 40
    assert isf_p.min() <= 1e-300 and isf_p.max() >= 1 - 1e-9
    assert "mpmath" in DATA["provenance"]


# ---------------------------------------------------------------------------------------------
# Product normal: closed forms and independent scipy routes
# ---------------------------------------------------------------------------------------------

PN = ProductNormal()
HN = HalfNormal()
U01 = Uniform01()


def test_product_normal_cdf_equals_struve_closed_form():
    """F(x) = x [K0(x) L_{-1}(x) + K1(x) L0(x)] (A&S 11.1.8 times 2/pi), with scipy's modstruve."""
    x = np.geomspace(1e-4, 5.0, 40)
    closed = x * (special.k0(x) * special.modstruve(-1, x) + special.k1(x) * special.modstruve(0, x))
    assert_rel(PN.cdf(x), closed, 4e-15, "cdf vs Struve form", x)


def test_product_normal_cdf_equals_iti0k0():
    """F(x) = (2/pi) int_0^x K0, with scipy.special.iti0k0 (specfun; good to ~1e-14)."""
    x = np.geomspace(1e-4, 3.0, 30)
    assert_rel(PN.cdf(x), 2 / np.pi * special.iti0k0(x)[1], 5e-14, "cdf vs iti0k0", x)


def test_product_normal_sf_equals_gauss_laguerre_on_k0e():
    """sf(x) = (2/pi) e^-x int_0^inf k0e(x+u) e^-u du, by 80-node Gauss-Laguerre, for x >= 1."""
    u, w = special.roots_laguerre(80)
    x = np.array([1.0, 2.0, 3.0, 5.0, 10.0, 40.0, 150.0, 600.0])
    gl = 2 / np.pi * np.exp(-x) * (special.k0e(x[:, None] + u) @ w)
    assert_rel(PN.sf(x), gl, 4e-15, "sf vs Gauss-Laguerre", x)


def test_product_normal_density_of_signed_product_is_half():
    """The founding notes' K0(x)/pi on x > 0 integrates to 1/2: it is the density of the signed product."""
    half = integrate.quad(lambda x: special.k0(x) / np.pi, 0, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    half += integrate.quad(lambda x: special.k0(x) / np.pi, 1, np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    assert half == pytest.approx(0.5, rel=1e-13)


def test_switch_point_is_continuous():
    """The series (x <= 0.375) and the tail quadrature (x > 0.375) meet to a few ulps."""
    x0 = 0.375
    xs = np.array([np.nextafter(x0, 0), x0, np.nextafter(x0, 1)])
    for fn in (PN.cdf, PN.sf, PN.logsf, PN.truncated_second_moment):
        v = fn(xs)
        assert np.all(np.abs(np.diff(v)) <= 4 * EPS * np.abs(v[1])), (fn.__name__, v)


# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAWS)
def test_cdf_plus_sf_is_one_and_logsf_is_log_sf(name):
    """cdf + sf = 1 (to 2 ulps of 1), and logsf = log(sf) wherever sf is normal."""
    law = LAWS[name]
    x = np.concatenate([np.linspace(0, 1, 41), np.geomspace(1e-8, 60, 80)])
    np.testing.assert_allclose(law.cdf(x) + law.sf(x), 1.0, rtol=0, atol=2 * EPS)
    sf = law.sf(x)
    ok = sf > 1e-300
    np.testing.assert_allclose(law.logsf(x[ok]), np.log(sf[ok]), rtol=4 * EPS, atol=4 * EPS)


@pytest.mark.parametrize("name", CONTINUOUS_TAIL)
def test_quantiles_invert_the_tails(name):
    """isf(sf(x)) = x and ppf(cdf(x)) = x, to the precision the conditioning allows.

    A relative error e in sf moves the root by e * kappa(x), kappa = sf / (x pdf), so the
    round trip is asserted to 8 eps (1 + kappa); ppf(cdf) uses kappa = cdf / (x pdf) and
    is checked where cdf <= 0.99 (beyond, cdf rounds towards 1 and the lower tail is the
    wrong representation).
    """
    law = LAWS[name]
    x = np.geomspace(1e-6, 37.0, 120)
    pdf = law.pdf(x)
    kappa_up = law.sf(x) / (x * pdf)
    np.testing.assert_array_less(np.abs(law.isf(law.sf(x)) / x - 1), 8 * EPS * (1 + kappa_up))
    lo = x[law.cdf(x) <= 0.99]
    kappa_lo = law.cdf(lo) / (lo * law.pdf(lo))
    np.testing.assert_array_less(np.abs(law.ppf(law.cdf(lo)) / lo - 1), 8 * EPS * (1 + kappa_lo))


@pytest.mark.parametrize("name", CONTINUOUS_TAIL)
def test_isf_of_tiny_p_is_consistent_with_logsf(name):
    """logsf(isf(p)) = log p for p from 1e-12 down to 1e-300 and a subnormal (8 ulps of log p)."""
    law = LAWS[name]
    p = np.array([1e-12, 1e-50, 1e-100, 1e-200, 1e-300, 1e-310])
    assert_rel(law.logsf(law.isf(p)), np.log(p), 8 * EPS, "logsf(isf(p))", p)


@pytest.mark.parametrize("name", LAWS)
def test_pdf_integrates_to_one_and_gives_the_moments(name):
    """int pdf = 1, int x pdf = mean, int x^2 pdf = second_moment (scipy quad, 1e-13)."""
    law = LAWS[name]
    pieces = [(0.0, 1.0)] + ([(1.0, np.inf)] if name != "uniform" else [])

    def quad(g):
        return sum(
            integrate.quad(lambda x: g(x) * law.pdf(x), a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
            for a, b in pieces
        )

    assert quad(lambda x: 1.0) == pytest.approx(1.0, rel=1e-12)
    assert quad(lambda x: x) == pytest.approx(law.mean, rel=1e-12)
    assert quad(lambda x: x * x) == pytest.approx(law.second_moment, rel=1e-12)


def test_closed_form_moments():
    """E|Z| = sqrt(2/pi), E|Z1 Z2| = (E|Z|)^2 = 2/pi, E G^2 = 1 for both Gaussian laws."""
    assert HN.mean == math.sqrt(2 / math.pi) and HN.second_moment == 1.0
    assert PN.mean == 2 / math.pi and PN.second_moment == 1.0
    assert PN.mean == pytest.approx(HN.mean**2, rel=1e-15)
    assert U01.mean == 0.5 and U01.second_moment == pytest.approx(1 / 3, rel=1e-15)


@pytest.mark.parametrize("name", CONTINUOUS_TAIL)
def test_cdf_is_the_integral_of_the_pdf(name):
    """cdf(x) = int_0^x pdf (scipy quad, handles the log singularity of K0 at 0)."""
    law = LAWS[name]
    for x in (1e-3, 0.2, 0.375, 1.0, 4.0):
        val = integrate.quad(law.pdf, 0, x, epsabs=0, epsrel=1e-13, limit=200)[0]
        assert val == pytest.approx(float(law.cdf(x)), rel=1e-12), x


# ---------------------------------------------------------------------------------------------
# Truncated second moment
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAWS)
def test_truncated_second_moment_at_zero_is_the_weight_variance(name):
    """E[W^2; G > 0] = E[W^2] = 1 (the unit-variance weight); = second_moment for |Z|, |Z1 Z2|."""
    law = LAWS[name]
    assert float(law.truncated_second_moment(0.0)) == 1.0
    assert float(law.truncated_second_moment(-3.0)) == 1.0
    if name in CONTINUOUS_TAIL:
        assert float(law.truncated_second_moment(0.0)) == law.second_moment


@pytest.mark.parametrize("name", LAWS)
def test_truncated_second_moment_decreases_to_zero(name):
    """t -> E[W^2; G > t] is non-increasing and vanishes at the top of the support."""
    law = LAWS[name]
    t = np.concatenate([np.linspace(0, 1, 101), np.linspace(1, 60, 300)])
    v = law.truncated_second_moment(t)
    assert np.all(np.diff(v) <= 4 * EPS * v[:-1])
    assert float(law.truncated_second_moment(np.inf)) == 0.0


@pytest.mark.parametrize("name", CONTINUOUS_TAIL)
def test_truncated_second_moment_is_sf_plus_t_pdf(name):
    """Both Gaussian laws share E[W^2; G > t] = sf(t) + t pdf(t) (derived in the docstrings)."""
    law = LAWS[name]
    t = np.geomspace(1e-4, 30, 50)
    assert_rel(law.truncated_second_moment(t), law.sf(t) + t * law.pdf(t), 4 * EPS, "T = sf + t pdf", t)


def test_product_normal_truncated_moment_matches_its_definition_by_quadrature():
    """E[Z1^2 erfc(t / (|Z1| sqrt 2))] by scipy quad over z1 equals the closed form (1e-11)."""
    for t in (0.05, 0.5, 2.0, 8.0):
        f = lambda z: 2 * z * z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi) * special.erfc(t / (z * np.sqrt(2)))  # noqa: E731
        r = np.sqrt(t)
        val = sum(
            integrate.quad(f, a, b, epsabs=0, epsrel=1e-13, limit=200)[0]
            for a, b in ((0, r), (r, 2 * r + 2), (2 * r + 2, 2 * r + 40))
        )
        assert val == pytest.approx(float(PN.truncated_second_moment(t)), rel=1e-11), t


def test_product_normal_truncated_moment_derivative():
    """d/dt E[Z1^2; |Z1 Z2| > t] = -(2t/pi) K1(t) (central differences, h = 1e-5 t)."""
    t = np.array([0.1, 0.3, 0.375, 0.6, 1.0, 3.0, 10.0])
    h = 1e-5 * t
    fd = (PN.truncated_second_moment(t + h) - PN.truncated_second_moment(t - h)) / (2 * h)
    np.testing.assert_allclose(fd, -2 * t / np.pi * special.k1(t), rtol=1e-8)


def test_uniform_truncated_moment_is_keep_probability():
    """Random pruning keeps a weight independently of it: E[Z^2 1{U > t}] = 1 - t on [0, 1]."""
    t = np.array([-1.0, 0.0, 0.25, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(U01.truncated_second_moment(t), [1.0, 1.0, 0.75, 0.5, 0.0, 0.0])


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------


@given(law_name, x_bulk, x_bulk)
def test_cdf_is_monotone(name, a, b):
    """x1 <= x2 implies cdf(x1) <= cdf(x2) and sf(x1) >= sf(x2) (to the 4-ulp accuracy)."""
    law = LAWS[name]
    x1, x2 = min(a, b), max(a, b)
    assert float(law.cdf(x1)) <= float(law.cdf(x2)) + 4 * EPS
    assert float(law.sf(x1)) >= float(law.sf(x2)) * (1 - 4 * EPS)


@given(law_name, log10_p, log10_p)
def test_isf_is_decreasing(name, a, b):
    """p1 <= p2 implies isf(p1) >= isf(p2) (to the root solver's 4-ulp tolerance)."""
    law = LAWS[name]
    p1, p2 = 10.0 ** min(a, b), 10.0 ** max(a, b)
    assert float(law.isf(p1)) >= float(law.isf(p2)) * (1 - 8 * EPS)


@given(law_name, st.lists(floats(-30.0, 0.0), min_size=1, max_size=20))
def test_isf_and_ppf_are_vectorized_and_complementary(name, logs):
    """ppf(p) = isf(1 - p) elementwise on arrays (1 - p exact for p >= 1/2) and equals the scalar calls."""
    law = LAWS[name]
    p = np.minimum(10.0 ** np.array(logs), 1.0)
    vec = law.isf(p)
    assert vec.shape == p.shape
    np.testing.assert_array_equal(vec, [float(law.isf(q)) for q in p])
    big = p[p >= 0.5]
    np.testing.assert_allclose(law.ppf(1.0 - big), law.isf(big), rtol=8 * EPS, atol=0)


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAWS)
def test_rvs_follows_cdf_ks(name):
    """KS test of 20000 samples (seed 1234) against cdf: p-value > 0.001 (level 0.1 %)."""
    law = LAWS[name]
    sample = law.rvs(20_000, np.random.default_rng(1234))
    assert sample.shape == (20_000,) and np.all(sample >= 0)
    assert stats.kstest(sample, law.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", LAWS)
def test_rvs_tail_frequency_matches_isf(name):
    """Of 10^6 samples, the fraction above isf(1e-3) is within 4 sigma of 1e-3."""
    law = LAWS[name]
    n, p = 1_000_000, 1e-3
    frac = np.mean(law.rvs(n, np.random.default_rng(99)) > law.isf(p))
    assert abs(frac - p) <= 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("name", LAWS)
def test_rvs_moments_within_five_standard_errors(name):
    """Sample mean and second moment of 2*10^5 draws agree with mean, second_moment (5 s.e.)."""
    law = LAWS[name]
    g = law.rvs((400, 500), 7)
    assert g.shape == (400, 500)
    n = g.size
    assert abs(g.mean() - law.mean) <= 5 * g.std() / math.sqrt(n)
    assert abs((g**2).mean() - law.second_moment) <= 5 * (g**2).std() / math.sqrt(n)


def test_truncated_moment_monte_carlo():
    """E[W^2; G > t] vs the sample mean of W^2 1{G > t} (5 s.e.), for the SNIP and magnitude scores."""
    rng = np.random.default_rng(5)
    w, z2 = rng.standard_normal((2, 400_000))
    for law, score in ((PN, np.abs(w * z2)), (HN, np.abs(w))):
        for t in (0.2, 1.0, 3.0):
            y = w**2 * (score > t)
            se = y.std() / math.sqrt(y.size)
            assert abs(y.mean() - float(law.truncated_second_moment(t))) <= 5 * se, (law.name, t)


# ---------------------------------------------------------------------------------------------
# Edges, shapes, registry and errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAWS)
def test_edges_of_the_support(name):
    """Values at -inf, 0, +inf and at p = 0, 1; scalars give 0-d arrays, shapes are kept."""
    law = LAWS[name]
    top = 1.0 if name == "uniform" else np.inf
    assert float(law.cdf(-np.inf)) == 0.0 and float(law.sf(-1.0)) == 1.0 and float(law.logsf(-1.0)) == 0.0
    assert float(law.cdf(np.inf)) == 1.0 and float(law.sf(np.inf)) == 0.0 and float(law.logsf(np.inf)) == -np.inf
    assert float(law.pdf(-1.0)) == 0.0 and float(law.pdf(np.inf)) == 0.0
    assert float(law.isf(1.0)) == 0.0 and float(law.isf(0.0)) == top
    assert float(law.ppf(0.0)) == 0.0 and float(law.ppf(1.0)) == top
    assert np.ndim(law.cdf(0.5)) == 0 and np.ndim(law.isf(0.5)) == 0
    grid = np.full((3, 4), 0.25)
    for fn in (law.pdf, law.cdf, law.sf, law.logsf, law.ppf, law.isf, law.truncated_second_moment):
        assert fn(grid).shape == (3, 4)


def test_product_normal_pdf_is_infinite_at_zero():
    """f(x) = (2/pi) K0(x) has a log singularity at 0; the cdf there is 0 and the sf 1."""
    assert float(PN.pdf(0.0)) == np.inf
    assert float(PN.cdf(0.0)) == 0.0 and float(PN.sf(0.0)) == 1.0


def test_extreme_arguments():
    """Subnormal and huge arguments: no NaN/inf where the value is representable.

    Near 0, F(x) = (2x/pi)(1 - gamma + log 2 - log x) (1 + O(x^2)); at huge x,
    logsf(x) = -x + O(log x) rounds to -x; the lower quantile of a subnormal q is subnormal.
    """
    c0 = 1 - np.euler_gamma + math.log(2)
    x = np.array([5e-324, 1e-310, 1e-200])
    assert_rel(PN.cdf(x), 2 * x / np.pi * (c0 - np.log(x)), 4 * EPS, "cdf near 0", x)
    big = np.array([1e18, 1e300, 1.7e308])
    np.testing.assert_array_equal(PN.logsf(big), -big)
    assert float(PN.ppf(1e-310)) > 0 and float(PN.cdf(PN.ppf(1e-310))) == pytest.approx(1e-310, rel=1e-10)
    assert np.all(np.isfinite(PN.isf([5e-324, 1e-310]))) and np.all(np.isfinite(HN.isf([5e-324, 1e-310])))


def test_product_normal_lower_quantile_branches_agree():
    """ppf switches from the series-inverting fixed point (q < 1e-100) to Chandrupatla at 1e-100."""
    q = np.array([np.nextafter(1e-100, 0), 1e-100])
    x = PN.ppf(q)
    assert abs(x[1] / x[0] - 1) <= 8 * EPS
    assert_rel(PN.cdf(x), q, 4 * EPS, "cdf(ppf(q))", q)


def test_registry_and_methods():
    """get_law by name (case/dash-insensitive), pass-through, and the method -> law map."""
    assert set(available_laws()) == {"half_normal", "product_normal", "uniform"}
    for law in LAWS.values():
        assert isinstance(law, ScoreLaw)
        assert get_law(law) is law and get_law(law.name) is law
    assert get_law("Half-Normal") is LAWS["half_normal"]
    assert dict(LAW_OF_METHOD) == {"magnitude": "half_normal", "snip": "product_normal", "random": "uniform"}
    assert law_for_method("magnitude") == HalfNormal()
    assert law_for_method("snip") == ProductNormal()
    assert law_for_method("random") == Uniform01()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: law_for_method("grasp"), "'grasp'"),
        (lambda: get_law("cauchy"), "'cauchy'.*half_normal"),
        (lambda: get_law(3), "3"),
        (lambda: PN.cdf([0.1, np.nan]), "x contains NaN"),
        (lambda: HN.sf(np.nan), "x contains NaN"),
        (lambda: PN.isf(1.5), "p=1.5"),
        (lambda: HN.ppf(-0.1), r"p=-0\.1"),
        (lambda: U01.isf([0.5, np.nan]), "p contains NaN"),
        (lambda: PN.truncated_second_moment(np.nan), "t contains NaN"),
        (lambda: PN.cdf("abc"), "x must be a real number"),
        (lambda: PN.rvs(3, None), "rng"),
        (lambda: HN.rvs(-1, 0), "size"),
        (lambda: U01.rvs(2.5, 0), "size"),
    ],
)
def test_bad_input_raises_value_error_naming_it(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# The low-rank product-normal family (finite-width SNIP model, docs/theory.md §8)
# ----------------------------------------------------------------------------------------------

from eoc._laws import LowRankProductNormal  # noqa: E402

MP_LOW_RANK = json.loads((Path(__file__).parent / "data" / "low_rank_law.json").read_text())["points"]


@pytest.mark.parametrize("point", MP_LOW_RANK, ids=[f"n{p['rank']:g}-x{p['x']:g}" for p in MP_LOW_RANK])
def test_low_rank_law_against_reference_quadrature(point):
    """sf and cdf of |Z1 Z2| sqrt(V), V ~ Gamma(n/2, n/2), against adaptive quadrature of the definition
    (tests/_precompute/low_rank_law.py, two partitions agreeing to 1e-11): the 96 Gauss-Hermite nodes in
    the Gamma's normal score give 1e-6 relative on sf down to 1e-13 and 3e-7 absolute on the cdf (the
    hardest point is rank 1 at small x, where the Gamma density is singular and the integrand sharp)."""
    law = LowRankProductNormal(point["rank"])
    assert law.sf(point["x"]) == pytest.approx(point["sf"], rel=1e-6, abs=0)
    assert law.cdf(point["x"]) == pytest.approx(point["cdf"], rel=0, abs=3e-7)


def test_low_rank_law_limits():
    """Rank infinity is the product-normal law; rank one is |Z1 Z2 Z3| (scipy quadrature over Z3)."""
    x = np.array([0.01, 0.5, 2.0, 9.0, 30.0])
    pn = ProductNormal()
    np.testing.assert_allclose(LowRankProductNormal(math.inf).sf(x), pn.sf(x), rtol=1e-14)
    one = LowRankProductNormal(1.0)
    for xi in (0.5, 9.0):
        ref = 2 * integrate.quad(lambda z: pn.sf(xi / z) * stats.norm.pdf(z), 0, np.inf, limit=400, epsrel=1e-12)[0]
        assert one.sf(xi) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("rank", [1.0, 1.7, 6.0, 80.0])
def test_low_rank_law_is_a_probability_law_with_unit_second_moment(rank):
    """The pdf integrates to 1 and x^2 to E V = 1; the mean is (2/pi) Gamma((n+1)/2) / (Gamma(n/2) sqrt(n/2));
    ppf and isf invert cdf and sf; the truncated second moment falls from 1."""
    law = LowRankProductNormal(rank)
    assert integrate.quad(law.pdf, 0, np.inf, limit=400)[0] == pytest.approx(1.0, abs=1e-8)
    assert integrate.quad(lambda x: x * x * law.pdf(x), 0, np.inf, limit=400)[0] == pytest.approx(1.0, rel=1e-7)
    assert integrate.quad(lambda x: x * law.pdf(x), 0, np.inf, limit=400)[0] == pytest.approx(law.mean, rel=1e-8)
    p = np.array([1e-30, 1e-6, 0.01, 0.4, 0.5, 0.9])
    np.testing.assert_allclose(law.sf(law.isf(p)), p, rtol=1e-10)
    np.testing.assert_allclose(law.cdf(law.ppf(p)), p, rtol=1e-10)
    t = law.truncated_second_moment(np.array([0.0, 0.5, 3.0, 12.0]))
    assert t[0] == pytest.approx(1.0, rel=1e-12) and np.all(np.diff(t) < 0)


@given(x=floats(3.0, 40.0), lo=floats(1.0, 20.0), factor=floats(1.5, 50.0))
def test_lower_rank_means_a_heavier_tail(x, lo, factor):
    """Property: at fixed second moment the tail P(G > x) decreases with the rank for x beyond the bulk
    (a rank-one gradient puts the mass of a row into few entries)."""
    assert LowRankProductNormal(lo).sf(x) > LowRankProductNormal(lo * factor).sf(x)


def test_low_rank_rvs_follow_the_law():
    """Monte Carlo: 20,000 samples pass a KS test against the cdf (seeded) and have E G^2 = 1 within 5 s.e."""
    law = LowRankProductNormal(2.5)
    z = law.rvs(20_000, 11)
    assert stats.kstest(z, law.cdf).pvalue > 1e-3
    assert abs(np.mean(z * z) - 1) < 5 * np.std(z * z) / math.sqrt(z.size)


def test_low_rank_rank_must_be_at_least_one():
    with pytest.raises(ValueError, match="rank"):
        LowRankProductNormal(0.5)
