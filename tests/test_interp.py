"""The interpolants behind deep iterates (eoc._interp): their stated error bound and their convergence rate.

Stated bound (docs/theory.md §9, eoc._interp): the interpolation error is at most
``ERROR_FACTOR * tol`` relative to the function's scale; iterating it, the relative
error on 1 - c^l (and on q^l) grows at most like ``l * ERROR_FACTOR * tol``, since each
layer multiplies the gap by R(theta) with a relative error below that bound.
Rate test: on uniform panels of width h a degree-d interpolant converges like h^(d+1).
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

import eoc
from eoc._correlation import _ratio_exact, gap_ratio
from eoc._expect import DEFAULT_NUMERICS as NUM
from eoc._interp import DEFAULT_TOL, ERROR_FACTOR, OctaveTable, fit_piecewise
from eoc._maps import _table

BOUND = ERROR_FACTOR * DEFAULT_TOL
RNG = np.random.default_rng(8)

MAPS = [
    ("tanh", 1.3041458400565158, 0.2),  # EOC
    ("tanh", 2.5, 0.3),  # chaotic
    ("tanh", 0.9, 0.05),  # ordered
    ("relu", np.sqrt(2.0), 0.0),  # EOC, closed form
    ("elu", 1.25, 0.2),
    ("gelu", 1.4059445268384736, 1.0),  # a valid GELU EOC point
    ("erf", 1.6487514525650797, 1.0),
]


@pytest.mark.parametrize(("act", "sw", "sb"), MAPS)
def test_gap_ratio_interpolant_meets_its_stated_bound(act, sw, sb):
    """|R_interp(theta) - R(theta)| <= ERROR_FACTOR * tol * max R at random angles, and its own estimate agrees."""
    pw = gap_ratio(act, sw, sb)
    assert pw.error <= BOUND
    a = eoc.get_activation(act)
    q = float(eoc.q_star(a, sw, sb))
    theta = np.concatenate([RNG.uniform(0, np.pi, 60), np.geomspace(1e-9, 1e-1, 9), [0.0, np.pi]])
    exact = _ratio_exact(theta, a, sw, sb, q, NUM)
    scale = np.max(np.abs(exact))
    assert np.max(np.abs(pw(theta) - exact)) <= BOUND * scale
    scalar = pw.scalar()
    assert max(abs(scalar(float(t)) - e) for t, e in zip(theta, exact)) <= BOUND * scale


def test_piecewise_interpolation_converges_like_h_to_the_degree_plus_one():
    """Rate test: uniform panels, degree d = 4, of the map's own gap ratio: error ~ h^5."""
    a = eoc.get_activation("tanh")
    sw, sb = 2.5, 0.3
    q = float(eoc.q_star(a, sw, sb))
    fun = lambda th: _ratio_exact(th, a, sw, sb, q, NUM)  # noqa: E731
    theta = np.linspace(0.0, np.pi, 401)
    exact = fun(theta)
    panels = np.array([8, 16, 32, 64])
    errors = []
    for k in panels:
        pw = fit_piecewise(fun, 0.0, np.pi, degree=4, initial=int(k), tol=np.inf)
        assert pw.n_panels == k
        errors.append(np.max(np.abs(pw(theta) - exact)))
    slope = np.polyfit(np.log(np.pi / panels), np.log(errors), 1)[0]
    assert abs(slope - 5.0) < 0.5, (slope, errors)


@pytest.mark.parametrize("act", ["tanh", "gelu", "elu", "softplus", "erf"])
def test_octave_tables_meet_the_bound_from_tiny_to_huge_variance(act):
    """E[phi^2] and E[phi'^2] from the octave tables agree with the quadrature to ERROR_FACTOR * tol."""
    a = eoc.get_activation(act)
    q = np.geomspace(1e-10, 1e30, 97) * RNG.uniform(1.0, 2.0, 97)
    for quantity in ("moment2", "deriv_moment2"):
        table = _table(a, NUM, quantity)
        exact = getattr(NUM, quantity)(a, q)
        np.testing.assert_allclose(table(q), exact, rtol=BOUND, err_msg=quantity)
        f = table.scalar()
        np.testing.assert_allclose([f(float(x)) for x in q], exact, rtol=BOUND, err_msg=quantity)


def test_octave_table_scalar_builds_octaves_it_meets():
    table = OctaveTable(np.log1p)
    f = table.scalar()
    assert len(table) == 0
    assert f(3.0) == pytest.approx(np.log1p(3.0), rel=BOUND)
    assert len(table) == 1 and f(0.0) == 0.0


@pytest.mark.parametrize(("act", "sw", "sb"), MAPS)
def test_deep_correlation_iterates_agree_with_the_layer_by_layer_quadrature(act, sw, sb):
    """Interpolated and quadrature iterates: relative error on 1 - c^l within l * ERROR_FACTOR * tol."""
    depth = 120
    c0 = np.array([-0.6, 0.3, 0.99])
    fast = eoc.correlation_iterates(c0, depth, act, sw, sb, gap=True, interpolate=True)
    slow = eoc.correlation_iterates(c0, depth, act, sw, sb, gap=True, interpolate=False)
    ell = np.arange(depth + 1)[:, None]
    rel = np.abs(fast - slow) / np.maximum(slow, 1e-300)
    assert np.all(rel <= (ell + 1) * BOUND), np.max(rel / (ell + 1))


def test_relu_eoc_gap_matches_mpmath_at_depth_20000():
    """ReLU on the EOC, 1 - c^l at 40 digits (closed-form map): interpolated to 2e-11, direct to 1e-12.

    (Before issue 8 the per-layer quadrature on c itself was off by 2.6e-9 at l = 2e4:
    a rounded c near 1 carries a relative error eps / (1 - c) in 1 - c.)
    """
    depth = 20000
    mp.mp.dps = 40
    d = mp.mpf(1) - mp.mpf(0.3)
    ref = [d]
    for _ in range(depth):
        th = 2 * mp.asin(mp.sqrt(d / 2))
        d = d - (mp.sin(th) - th * mp.cos(th)) / mp.pi
        ref.append(d)
    ref = np.array([float(x) for x in ref])
    fast = eoc.correlation_iterates(0.3, depth, "relu", np.sqrt(2.0), 0.0, gap=True)
    assert np.max(np.abs(fast / ref - 1)) < 2e-11
    slow = eoc.correlation_iterates(0.3, 2000, "relu", np.sqrt(2.0), 0.0, gap=True, interpolate=False)
    assert np.max(np.abs(slow / ref[:2001] - 1)) < 1e-12


def test_deep_iterate_shortcuts_are_exact_continuations():
    """A stationary chaotic orbit is filled with its fixed point; an ordered one ends on its geometric tail."""
    chaotic = eoc.correlation_iterates(0.3, 3000, "tanh", 2.5, 0.3, gap=True)
    c_star = float(eoc.c_star("tanh", 2.5, 0.3))
    np.testing.assert_allclose(1.0 - chaotic[-1], c_star, atol=1e-15)
    ordered = eoc.correlation_iterates(0.3, 3000, "tanh", 0.9, 0.05, gap=True)
    chi = float(eoc.chi_1("tanh", 0.9, 0.05))
    tail = ordered[-200:]
    np.testing.assert_allclose(tail[1:] / tail[:-1], chi, rtol=1e-13)
    slow = eoc.correlation_iterates(0.3, 300, "tanh", 0.9, 0.05, gap=True, interpolate=False)
    np.testing.assert_allclose(ordered[:301], slow, rtol=301 * BOUND)


@pytest.mark.parametrize(("act", "sw", "sb", "q0"), [("tanh", 1.0, 0.0, 2.0), ("gelu", 1.41, 1.0, 0.1), ("elu", 1.2, 0.3, 5.0)])
def test_deep_variance_iterates_agree_with_the_quadrature(act, sw, sb, q0):
    """q^l from the octave table vs the quadrature at every layer: within l * ERROR_FACTOR * tol.

    tanh at (1, 0) is the neutral case, q^l ~ 1/(2l), which never becomes stationary.
    """
    depth = 300
    fast = eoc.variance_iterates(q0, depth, act, sw, sb)
    a = eoc.get_activation(act)
    slow = [q0]
    for _ in range(depth):
        slow.append(sb**2 + sw**2 * float(NUM.moment2(a, slow[-1])))
    ell = np.arange(depth + 1)
    assert np.all(np.abs(fast / np.array(slow) - 1) <= (ell + 1) * BOUND)


def test_deep_layer_profile_agrees_with_a_plain_loop():
    """gradient_variances at depth 300 with per-layer sigmas equals the textbook loop (module eoc._propagation)."""
    L = 300
    widths = [50] + [100, 80] * (L // 2 - 1) + [100, 10]
    sw = np.where(np.arange(L) % 3 == 0, 1.1, 1.4)
    sb = 0.2
    prof = eoc.gradient_variances(widths, "tanh", sw, sb, input_q=1.5)
    a = eoc.get_activation("tanh")
    q = [sb**2 + sw[0] ** 2 * 1.5]
    for l in range(1, L):
        q.append(sb**2 + sw[l] ** 2 * float(NUM.moment2(a, q[-1])))
    q = np.array(q)
    np.testing.assert_allclose(prof.q, q, rtol=L * BOUND)
    chi = sw[1:] ** 2 * NUM.deriv_moment2(a, q[:-1])
    log_grad = np.zeros(L)
    for l in range(L - 2, -1, -1):
        log_grad[l] = log_grad[l + 1] + np.log(widths[l + 2] / widths[l + 1] * chi[l])
    np.testing.assert_allclose(prof.log_grad_q, log_grad, atol=L * BOUND * np.max(np.abs(log_grad)) + 1e-12)
