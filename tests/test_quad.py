"""The quadrature layer: three routes to the same number (closed form, scipy/Monte Carlo, our rules).

Tolerances: our rules reach ~1e-15 relative; scipy.integrate.quad is asked for 2e-14
and agrees to ~1e-13; Monte Carlo agreement is checked within 5 standard errors.
"""

import numpy as np
import pytest
from scipy import integrate, special

from eoc._quad import Z_MAX, gauss_1d, gauss_2d, gauss_2d_fn, sinh_rule

SQRT2PI = np.sqrt(2 * np.pi)


def quad_1d(g, q):
    """Reference E[g(sqrt(q) Z)] by adaptive quadrature split at 0."""
    s = np.sqrt(q)
    f = lambda z: g(s * z) * np.exp(-z * z / 2) / SQRT2PI  # noqa: E731
    return sum(integrate.quad(f, a, b, epsabs=0, epsrel=2e-14, limit=200)[0] for a, b in ((-40, 0), (0, 40)))


def test_sinh_rule_integrates_polynomials_and_handles_zero_length():
    x, w = sinh_rule(40, 0.1, 7.0)
    assert x.min() >= 0 and x.max() <= 7.0
    np.testing.assert_allclose(np.sum(w), 7.0, rtol=1e-14)
    np.testing.assert_allclose(np.sum(w * x**3), 7.0**4 / 4, rtol=1e-13)
    x0, w0 = sinh_rule(10, 0.0, 0.0)
    assert np.all(w0 == 0) and np.all(np.isfinite(x0))


@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 7.0, 150.0])
def test_gauss_1d_matches_closed_forms(q):
    # E[relu^2] = q/2, E[Z^4 q^2] = 3 q^2, E[erf^2] = (2/pi) arcsin(2q/(1+2q)).
    np.testing.assert_allclose(gauss_1d(lambda u: np.maximum(u, 0) ** 2, q), q / 2, rtol=2e-15)
    np.testing.assert_allclose(gauss_1d(lambda u: u**4, q), 3 * q * q, rtol=2e-15)
    erf2 = (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q))
    np.testing.assert_allclose(gauss_1d(lambda u: special.erf(u) ** 2, q), erf2, rtol=5e-15)


@pytest.mark.parametrize("q", [0.01, 1.0, 4.0, 40.0])
@pytest.mark.parametrize(
    "g",
    [
        lambda u: np.tanh(u) ** 2,
        lambda u: (1 - np.tanh(u) ** 2) ** 2,
        lambda u: (u * special.ndtr(u)) ** 2,
        lambda u: np.where(u > 0, u, 1.67 * np.expm1(np.minimum(u, 0))) ** 2,
    ],
    ids=["tanh2", "sech4", "gelu2", "selu_like2"],
)
def test_gauss_1d_matches_adaptive_quadrature(q, g):
    np.testing.assert_allclose(gauss_1d(g, q), quad_1d(g, q), rtol=5e-13)


def test_gauss_1d_converges_exponentially_in_the_order():
    """Rate test: for tanh at q = 10 the error falls by orders of magnitude per 8 extra nodes."""
    g = lambda u: (1 - np.tanh(u) ** 2) ** 2  # noqa: E731  (sech^4)
    ref = gauss_1d(g, 10.0, order=200)
    errs = np.array([abs(gauss_1d(g, 10.0, order=n) - ref) / ref for n in (8, 16, 24, 32)])
    slopes = np.diff(np.log10(np.maximum(errs, 1e-17)))
    assert np.all(slopes < -1.0), errs
    assert errs[-1] < 1e-12


def test_gauss_1d_broadcasts_over_grids():
    q = np.linspace(0.1, 5, 12).reshape(3, 4)
    out = gauss_1d(lambda u: np.tanh(u) ** 2, q)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[1, 2], gauss_1d(lambda u: np.tanh(u) ** 2, q[1, 2]), rtol=1e-15)


def arccos_kernel(q1, q2, c):
    return np.sqrt(q1 * q2) / (2 * np.pi) * (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c)


@pytest.mark.parametrize("c", [-1.0, -0.7, 0.0, 0.4, 0.95, 0.999999, 1.0])
@pytest.mark.parametrize("q1,q2", [(1.0, 1.0), (0.3, 4.0), (25.0, 0.02)])
def test_gauss_2d_matches_arccos_and_erf_kernels(q1, q2, c):
    relu = lambda u: np.maximum(u, 0)  # noqa: E731
    np.testing.assert_allclose(gauss_2d(relu, relu, q1, q2, c), arccos_kernel(q1, q2, c), rtol=1e-13, atol=1e-16)
    q12 = c * np.sqrt(q1 * q2)
    erf_k = (2 / np.pi) * np.arcsin(2 * q12 / np.sqrt((1 + 2 * q1) * (1 + 2 * q2)))
    np.testing.assert_allclose(gauss_2d(special.erf, special.erf, q1, q2, c), erf_k, rtol=1e-13, atol=1e-16)
    # E[sign(u1) sign(u2)] = (2/pi) arcsin c: a jump, not only a kink, at 0.
    np.testing.assert_allclose(
        gauss_2d(np.sign, np.sign, q1, q2, c), (2 / np.pi) * np.arcsin(c), rtol=1e-13, atol=1e-15
    )


def test_gauss_2d_general_integrand_and_moments():
    # E[u1^2 u2^2] = q1 q2 (1 + 2 c^2) (Isserlis).
    q1, q2, c = 0.7, 2.3, np.array([-0.5, 0.0, 0.8])
    out = gauss_2d_fn(lambda a, b: a * a * b * b, q1, q2, c)
    np.testing.assert_allclose(out, q1 * q2 * (1 + 2 * c * c), rtol=1e-14)


def test_gauss_2d_agrees_with_monte_carlo_for_tanh():
    rng = np.random.default_rng(1234)
    q1, q2, c = 2.0, 0.5, 0.6
    n = 2_000_000
    z1, z2 = rng.standard_normal((2, n))
    u1 = np.sqrt(q1) * z1
    u2 = np.sqrt(q2) * (c * z1 + np.sqrt(1 - c * c) * z2)
    samples = np.tanh(u1) * np.tanh(u2)
    se = samples.std() / np.sqrt(n)
    assert abs(gauss_2d(np.tanh, np.tanh, q1, q2, c) - samples.mean()) < 5 * se


def test_truncation_point_is_negligible():
    # P(|Z| > Z_MAX) and the fifth moment beyond it are below double precision.
    assert special.erfc(Z_MAX / np.sqrt(2)) < 1e-24
    assert Z_MAX**5 * np.exp(-Z_MAX**2 / 2) < 1e-18
