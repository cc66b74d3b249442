"""Every sympy derivation has a numerical twin: the numeric core of eoc at random points."""

import numpy as np
import pytest

import eoc
from eoc import symbolic as sym

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def relu():
    return {d.name: d for d in sym.derive("relu")}


def test_relu_variance_map_and_chi(relu):
    q, sw, sb = RNG.uniform(0.1, 3, 5), RNG.uniform(0.3, 1.4, 5), RNG.uniform(0, 1, 5)
    np.testing.assert_allclose(relu["relu.variance_map"].numeric()(q, sw, sb), eoc.variance_map(q, "relu", sw, sb), rtol=1e-14)
    np.testing.assert_allclose(relu["relu.chi_1"].numeric()(sw), eoc.chi_1("relu", sw, sb, q=q), rtol=1e-14)


def test_relu_kernel_and_correlation_map(relu):
    q1, q2, c = RNG.uniform(0.1, 3, 6), RNG.uniform(0.1, 3, 6), RNG.uniform(-1, 1, 6)
    k = relu["relu.kernel"].numeric()(q1, q2, c)
    # atol: the sympy form (pi c - c acos c + sqrt(1-c^2)) cancels as c -> -1.
    np.testing.assert_allclose(
        k, eoc.covariance_map(q1, q2, c * np.sqrt(q1 * q2), "relu", 1.0, 0.0), rtol=1e-13, atol=1e-15
    )
    sw, sb = 1.2, 0.5
    qs = float(eoc.q_star("relu", sw, sb))
    # eoc computes f = 1 - gap: absolute accuracy ~1e-16 everywhere (relative accuracy of 1 - f near c = 1).
    np.testing.assert_allclose(
        relu["relu.correlation_map"].numeric()(c, qs, sw, sb), eoc.correlation_map(c, "relu", sw, sb), rtol=1e-13, atol=1e-15
    )
    np.testing.assert_allclose(
        relu["relu.eoc_correlation_map"].numeric()(c), eoc.correlation_map(c, "relu", np.sqrt(2), 0.0), rtol=1e-13, atol=1e-15
    )
    np.testing.assert_allclose(
        relu["relu.eoc_slope"].numeric()(c), eoc.correlation_map_derivative(c, "relu", np.sqrt(2), 0.0), rtol=1e-13
    )


def test_relu_eoc_point_and_asymptotic(relu):
    assert float(relu["relu.eoc_sigma_w"].rhs) == pytest.approx(float(eoc.edge_of_chaos("relu")), rel=1e-15)
    assert float(relu["relu.eoc_sigma_b"].rhs) == 0.0
    assert float(relu["relu.eoc_asymptotic"].rhs) == pytest.approx(9 * np.pi**2 / 2, rel=1e-15)
    k = float(relu["relu.eoc_contraction"].rhs)
    # Numerical twin: 1 - f(1 - eps) = eps - k eps^{3/2} + O(eps^{5/2}).
    c = 1 - np.array([1e-4, 1e-6])
    eps = 1 - c
    gap = 1 - eoc.correlation_map(c, "relu", np.sqrt(2), 0.0)
    np.testing.assert_allclose((eps - gap) / eps**1.5, k, rtol=1e-3)


def test_leaky_relu_and_linear():
    d = {x.name: x for x in sym.derive("leaky_relu") + sym.derive("linear")}
    a, q, sw = 0.3, 1.7, 1.1
    act = eoc.get_activation("leaky_relu", negative_slope=a)
    np.testing.assert_allclose(d["leaky_relu.moment2"].numeric()(q, a), eoc.variance_map(q, act, 1.0, 0.0), rtol=1e-14)
    np.testing.assert_allclose(d["leaky_relu.chi_1"].numeric()(sw, a), eoc.chi_1(act, sw, 0.0, q=q), rtol=1e-14)
    np.testing.assert_allclose(d["leaky_relu.eoc_sigma_w"].numeric()(a), eoc.edge_of_chaos(act), rtol=1e-14)
    assert float(d["linear.eoc_sigma_w"].rhs) == eoc.edge_of_chaos("linear")
    assert float(d["linear.eoc_sigma_b"].rhs) == 0.0


def test_latex_rendering_and_unknown_topic():
    text = sym.render_latex(sym.derive("relu"))
    assert text.startswith(r"\begin{align*}") and r"\frac{9 \pi^{2}}{2}" in text
    with pytest.raises(ValueError, match="unknown derivation topic 'tanh'"):
        sym.derive("tanh")


def test_mbp_effective_variance_twin():
    d = {x.name: x for x in sym.derive("mbp")}
    tau = np.array([0.1, 0.8, 2.0, 3.5])
    k = d["mbp.keep_fraction"].numeric()(tau)
    np.testing.assert_allclose(d["mbp.kept_second_moment"].numeric()(tau), eoc.effective_sigma_w("magnitude", k, 1.0) ** 2, rtol=1e-12)
    np.testing.assert_allclose(d["mbp.effective_variance"].numeric()(k, tau), d["mbp.kept_second_moment"].numeric()(tau), rtol=1e-13)


def test_resnet_and_random_pruning_twins():
    d = {x.name: x for x in sym.derive("resnet") + sym.derive("random_pruning")}
    q0, a, sw = 1.5, 0.4, 1.3
    n = np.arange(9)
    np.testing.assert_allclose(d["resnet.variance"].numeric()(q0, a, sw, n), eoc.resnet_variances(8, "relu", sw, 0.0, a, q0=q0), rtol=1e-13)
    for L in (5, 40):
        np.testing.assert_allclose(d["resnet.stable_growth"].numeric()(sw, L), eoc.resnet_variances(L, "relu", sw, 0.0, "stable")[-1], rtol=1e-12)
    assert float(d["resnet.stable_limit"].numeric()(sw)) == pytest.approx(np.exp(sw**2 / 2), rel=1e-15)
    k = 0.3
    assert float(d["random_pruning.effective_variance"].numeric()(k)) == pytest.approx(eoc.effective_sigma_w("random", k, 1.0) ** 2, rel=1e-14)
    sw_k = float(d["random_pruning.relu_eoc_sigma_w"].numeric()(k))
    assert eoc.chi_1("relu", eoc.effective_sigma_w("random", k, sw_k), 0.0, q=1.0) == pytest.approx(1.0, rel=1e-14)
