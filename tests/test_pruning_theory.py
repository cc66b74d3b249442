"""The theory of pruning at initialization (docs/theory.md §4-§6): properties, closed forms,
and the critical-sparsity estimator against a direct simulation of the iid score model."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

import eoc
from strategies import floats

METHODS = ("random", "magnitude", "snip")
W50 = [784] + [100] * 49 + [10]


@given(
    method=st.sampled_from(METHODS),
    scales=st.lists(floats(0.05, 20.0), min_size=2, max_size=6),
    factor=floats(1e-3, 1e3),
)
def test_critical_sparsity_is_scale_invariant(method, scales, factor):
    """s_cr depends only on the ratios a_l / a_l': multiplying every scale by c changes nothing."""
    sizes = np.array([500, 2000, 80, 1000, 300, 40])[: len(scales)]
    a = eoc.critical_sparsity_from_scales(method, scales, sizes)
    b = eoc.critical_sparsity_from_scales(method, np.array(scales) * factor, sizes)
    assert b.s_cr == pytest.approx(a.s_cr, abs=1e-12)
    assert b.first_layer == a.first_layer


@given(method=st.sampled_from(METHODS), s=st.lists(floats(0.0, 0.999), min_size=2, max_size=5))
def test_keep_fractions_are_probabilities_averaging_to_one_minus_s_and_monotone(method, s):
    """Keep fractions lie in [0, 1], their size-weighted mean is 1 - s, and they decrease with s."""
    s = np.sort(np.array(s))
    arch = eoc.as_architecture([64, 128, 128, 32, 10])
    scales = eoc.score_scales(method, arch, "tanh", 1.3, 0.2)
    keep = eoc.keep_fractions_from_scales(method, s, scales, arch.n_weights)
    assert keep.shape == (s.size, 4)
    assert np.all((keep >= 0) & (keep <= 1))
    np.testing.assert_allclose(keep @ arch.n_weights / arch.n_weights.sum(), 1 - s, atol=1e-9)
    assert np.all(np.diff(keep, axis=0) <= 1e-12)


@given(method=st.sampled_from(METHODS), k=st.lists(floats(0.001, 1.0), min_size=2, max_size=8), sw=floats(0.2, 3.0))
def test_effective_sigma_is_increasing_and_exact_at_keep_one(method, k, sw):
    """sigma_w,eff(k) increases with the keep fraction and equals sigma_w at k = 1; rho = sigma_w / sigma_eff."""
    k = np.sort(np.array(k))
    eff = eoc.effective_sigma_w(method, k, sw)
    assert np.all(np.diff(eff) >= -1e-12)
    assert eoc.effective_sigma_w(method, 1.0, sw) == pytest.approx(sw, rel=1e-15)
    np.testing.assert_allclose(eoc.rescale_factor(method, k) * eff, sw, rtol=1e-12)


def test_effective_variance_closed_forms():
    """random: k sigma^2; magnitude: sigma^2 (k + 2 tau phi(tau)) with tau = Phi^{-1}(1 - k/2) (scipy.stats)."""
    k = np.array([0.01, 0.1, 0.5, 0.9])
    np.testing.assert_allclose(eoc.effective_sigma_w("random", k, 2.0) ** 2, 4 * k, rtol=1e-14)
    tau = stats.norm.isf(k / 2)
    np.testing.assert_allclose(eoc.effective_sigma_w("magnitude", k, 1.0) ** 2, k + 2 * tau * stats.norm.pdf(tau), rtol=1e-13)
    # SNIP under the product-normal model, by direct quadrature of E[Z1^2; |Z1 Z2| > t]:
    from scipy import integrate, special

    t = eoc.ProductNormal().isf(0.3)
    direct = 2 * integrate.quad(lambda z: z * z * special.erfc(t / (z * np.sqrt(2))) * stats.norm.pdf(z), 0, 40, limit=200)[0]
    assert eoc.effective_sigma_w("snip", 0.3, 1.0) ** 2 == pytest.approx(direct, rel=1e-10)


def _simulate_iid_scr(law, scales, sizes, n_rep, rng):
    out = np.empty(n_rep)
    for r in range(n_rep):
        layers = [a * law.rvs(m, rng) for a, m in zip(scales, sizes)]
        t = min(x.max() for x in layers)
        out[r] = sum((x < t).sum() for x in layers) / sum(sizes)
    return out


@pytest.mark.parametrize("method", ["magnitude", "snip"])
def test_expected_estimator_matches_simulation_of_the_iid_model(method):
    """The 'expected' estimator is the exact mean of s_cr under iid scores: check it against 2,000
    simulated networks of iid scores (reference by simulation, tolerance 4 standard errors)."""
    law = eoc.law_for_method(method)
    scales = np.array([0.05, 0.1, 0.12, 0.1])
    sizes = np.array([3000, 1000, 1000, 200])
    sim = _simulate_iid_scr(law, scales, sizes, 2000, np.random.default_rng(3))
    pred = eoc.critical_sparsity_from_scales(method, scales, sizes)
    se = sim.std(ddof=1) / np.sqrt(sim.size)
    assert abs(pred.s_cr - sim.mean()) < 4 * se + 1e-4, (pred.s_cr, sim.mean(), se)
    ev = eoc.critical_sparsity_from_scales(method, scales, sizes, estimator="extreme_value")
    # The extreme-value estimate uses Q(1 - 1/M), below the mean of a maximum: it is biased low.
    assert ev.s_cr < pred.s_cr


def test_magnitude_critical_sparsity_depends_only_on_the_architecture():
    """MBP: s_cr is the same for any (activation, sigma_w, sigma_b); with equal widths it tends to 1 as N grows,
    and the layer with the largest fan-in collapses first."""
    ref = eoc.predict_critical_sparsity("magnitude", W50, "tanh", 1.3, 0.2)
    for act, sw, sb in (("relu", 1.0, 0.0), ("selu", 0.7, 1.1), ("erf", 2.5, 0.4)):
        assert eoc.predict_critical_sparsity("magnitude", W50, act, sw, sb) == pytest.approx(ref, abs=1e-12)
    assert eoc.collapse_order("magnitude", W50, "tanh", 1.3, 0.2)[0] == 0  # fan-in 784
    s = [eoc.predict_critical_sparsity("magnitude", [n] * 11, "tanh", 1.0, 0.0) for n in (20, 100, 500)]
    assert s[0] < s[1] < s[2] and s[2] > 0.99


def test_snip_phases_qualitative_claims():
    """SBP: s_cr near 1 on the EOC at every depth; falling with depth in the ordered and chaotic phases,
    input-side layers first (ordered) and output-side layers first (chaotic) — under both models
    (the finite model puts the EOC a little lower: 0.97-0.99 at depths 10-100, as measured)."""
    sb = 0.2
    w = float(eoc.edge_of_chaos("tanh", sb))
    depths = (10, 30, 60, 100)
    for model, eoc_floor in (("iid", 0.98), ("finite", 0.97)):
        for L in depths:
            widths = [784] + [100] * (L - 1) + [10]
            assert eoc.predict_critical_sparsity("snip", widths, "tanh", w, sb, model=model) > eoc_floor
        for factor, side in ((0.8, "input"), (1.5, "output")):
            scr = [eoc.predict_critical_sparsity("snip", [784] + [100] * (L - 1) + [10], "tanh", factor * w, sb, model=model)
                   for L in depths]
            assert np.all(np.diff(scr) < 0) and scr[-1] < 0.5, scr
            first = eoc.critical_sparsity("snip", [784] + [100] * 99 + [10], "tanh", factor * w, sb, model=model).first_layer
            assert (first < 50) == (side == "input"), first


def test_pruned_network_leaves_the_eoc_and_rescaling_restores_it():
    sb = 0.2
    w = float(eoc.edge_of_chaos("tanh", sb))
    widths = [200] * 21
    for method in METHODS:
        pruned = eoc.post_pruning_phase(method, 0.8, widths, "tanh", w, sb)
        assert pruned.phase == "ordered" and pruned.chi_1_mean < 1
        assert np.all(pruned.sigma_w_eff < w)
    # Random pruning at keep k scales chi_1 by k (closed form, at the same q).
    q = float(eoc.q_star("tanh", w, sb))
    k = 0.3
    np.testing.assert_allclose(eoc.chi_1("tanh", eoc.effective_sigma_w("random", k, w), sb, q=q), k, rtol=1e-12)
    # Rescaled by the population factor, sigma_eff is sigma_w again: chi_1 = 1.
    rho = eoc.rescale_factor("magnitude", 0.2)
    np.testing.assert_allclose(eoc.chi_1("tanh", eoc.effective_sigma_w("magnitude", 0.2, w) * rho, sb), 1.0, rtol=1e-12)


def test_resnet_recursions_match_closed_forms():
    """ReLU, sigma_b = 0: q^l = q^0 (1 + alpha^2 sigma_w^2 / 2)^l, the same factor for gradients;
    Stable ResNet growth (1 + sigma_w^2/(2L))^L is below exp(sigma_w^2/2) and tends to it."""
    sw = 1.7
    for alpha in (1.0, 0.3):
        q = eoc.resnet_variances(12, "relu", sw, 0.0, alpha, q0=2.0)
        np.testing.assert_allclose(q, 2.0 * (1 + alpha**2 * sw**2 / 2) ** np.arange(13), rtol=1e-13)
        g = eoc.resnet_gradient_variances(12, "relu", sw, 0.0, alpha, q0=2.0)
        np.testing.assert_allclose(g[::-1], (1 + alpha**2 * sw**2 / 2) ** np.arange(13), rtol=1e-13)
    growth = [eoc.resnet_variances(L, "relu", sw, 0.0, "stable")[-1] for L in (10, 100, 1000, 10000)]
    assert np.all(np.diff(growth) > 0) and growth[-1] < np.exp(sw**2 / 2)
    assert growth[-1] == pytest.approx(np.exp(sw**2 / 2), rel=1e-3)
    # Standard ResNet correlations go to 1; Stable ones keep a non-degenerate limit.
    c_std = eoc.resnet_correlations(200, 0.2, "relu", np.sqrt(2), 0.0, 1.0)[-1]
    c_stb = [eoc.resnet_correlations(L, 0.2, "relu", np.sqrt(2), 0.0, "stable")[-1] for L in (50, 200)]
    assert c_std > 0.99 and c_stb[0] < 0.9 and abs(c_stb[1] - c_stb[0]) < 0.02


def test_stable_resnet_keeps_snip_critical_sparsity_near_one():
    for L in (10, 50, 200):
        widths = [100] * (L + 2) + [10]
        assert eoc.predict_critical_sparsity("snip", widths, "relu", np.sqrt(2), 0.0, arch="resnet", alpha="stable") > 0.99


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: eoc.predict_keep_fractions("snip", 1.0, W50, "tanh", 1.3, 0.2), r"sparsity must lie in \[0, 1\).*sparsity=1\.0"),
        (lambda: eoc.predict_keep_fractions("snip", -0.1, W50, "tanh", 1.3, 0.2), r"sparsity=-0\.1"),
        (lambda: eoc.predict_critical_sparsity("grasp", W50, "tanh", 1.3, 0.2), r"unknown pruning method 'grasp'"),
        (lambda: eoc.predict_critical_sparsity("snip", [784], "tanh", 1.3, 0.2), r"at least two entries"),
        (lambda: eoc.predict_critical_sparsity("snip", [784, 0, 10], "tanh", 1.3, 0.2), r"widths\[1\] must be a positive integer"),
        (lambda: eoc.predict_critical_sparsity("snip", [8, 4, 4, 2], "relu", 1.0, 0.0, arch="resnet", alpha=0.0), r"alpha=0\.0"),
        (lambda: eoc.predict_critical_sparsity("snip", [8, 4, 4, 2], "relu", 1.0, 0.0, arch="resnet", alpha=-1), r"alpha=-1"),
        (lambda: eoc.predict_critical_sparsity("snip", [8, 4, 4, 2], "relu", 1.0, 0.0, arch="mlp"), r"arch='mlp'"),
        (lambda: eoc.effective_sigma_w("magnitude", 1.5, 1.0), r"keep_fraction=1\.5"),
        (lambda: eoc.critical_sparsity_from_scales("snip", [1.0, 2.0], [10, 10], estimator="mode"), r"estimator='mode'"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# The iid estimator at the extremes (issue 8): tiny layers, sizes, O(L) depth, scalar outputs
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("m", [1, 2, 3, 10])
def test_one_layer_network_gives_m_over_m_plus_one(method, m):
    """Exact value under the iid model: with one layer t_cr is its maximum, F(max) ~ Beta(M, 1), so
    E[s(t_cr)] = M/(M+1) (0.5, 0.667, 0.75 for [1,1], [2,1], [3,1])."""
    got = eoc.predict_critical_sparsity(method, [m, 1], "tanh", 1.0, 0.0, model="iid")
    assert got == pytest.approx(m / (m + 1), rel=1e-10)


def test_two_layer_expected_estimator_against_direct_quadrature():
    """E[s(t_cr)] = int s(t) dP(t_cr <= t) for two small magnitude layers, by scipy quad of the
    density of the minimum of two maxima (an independent route to the panel quadrature)."""
    law = eoc.HalfNormal()
    a, m = np.array([1.0, 2.5]), np.array([3.0, 5.0])
    F = lambda t, i: law.cdf(t / a[i])  # noqa: E731
    f = lambda t, i: law.pdf(t / a[i]) / a[i]  # noqa: E731
    s = lambda t: (m[0] * F(t, 0) + m[1] * F(t, 1)) / m.sum()  # noqa: E731
    dens = lambda t: sum(m[i] * F(t, i) ** (m[i] - 1) * f(t, i) * (1 - F(t, 1 - i) ** m[1 - i]) for i in (0, 1))  # noqa: E731
    ref = integrate.quad(lambda t: s(t) * dens(t), 0, 40, limit=400, epsabs=1e-14)[0]
    assert eoc.critical_sparsity_from_scales("magnitude", a, m).s_cr == pytest.approx(ref, rel=1e-10)


def test_identical_layers_are_merged_and_more_of_them_collapse_earlier():
    """Identical layers are merged, so a network described layer by layer equals its description with
    one extra identical layer split off; and more identical layers lower s_cr (the minimum of more
    layer maxima is lower): [100-weight layers] x 2000 above x 4000."""
    a = eoc.critical_sparsity_from_scales("magnitude", np.full(2000, 0.3), np.full(2000, 100.0)).s_cr
    b = eoc.critical_sparsity_from_scales("magnitude", np.full(4000, 0.3), np.full(4000, 100.0)).s_cr
    c = eoc.critical_sparsity_from_scales("magnitude", np.r_[np.full(1999, 0.3), 0.3], np.full(2000, 100.0)).s_cr
    assert 0 < b < a < 1 and c == a


def test_fully_pruned_layer_raises_in_post_pruning_phase():
    """Above s_cr some layer keeps fewer than one weight in expectation: a ValueError naming the layer,
    not a phase computed from a keep fraction of 1e-11."""
    sw = float(eoc.edge_of_chaos("tanh", 0.2))
    for model in ("finite", "iid"):
        with pytest.raises(ValueError, match="fully pruned"):
            eoc.post_pruning_phase("snip", 0.9999, [200] * 21, "tanh", sw, 0.2, model=model)


def test_n_weights_must_be_positive_integers():
    for bad in (0.5, 2.7, 0.0):
        with pytest.raises(ValueError, match="n_weights"):
            eoc.critical_sparsity_from_scales("snip", [1.0, 2.0], [100, bad])


def test_scalar_in_numpy_scalar_out():
    """numpy's convention: scalar arguments give numpy scalars, arrays give arrays."""
    assert isinstance(eoc.predict_critical_sparsity("magnitude", W50, "tanh", 1.0, 0.0), np.float64)
    assert isinstance(eoc.effective_sigma_w("snip", 0.3, 1.0), np.float64)
    assert isinstance(eoc.rescale_factor("magnitude", 0.3), np.float64)
    assert eoc.effective_sigma_w("magnitude", [0.2, 0.4], 1.0).shape == (2,)
