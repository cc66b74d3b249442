"""Root finding over whole parameter boxes: a verified root or a ValueError, never another exception.

The fixed points q*, c* and the EOC are found by bracketing (docs/theory.md §9).  For
every (activation, sigma_w, sigma_b, q0) in the boxes below the answer must be either a
root that satisfies its defining equation to rounding, or a ValueError naming the
point.  The boxes include the inputs that used to break the solvers: sigma_b = 0 and
tiny sigma_b (c* = 0 exactly, or within rounding of it), sigma_w up to 1e150
(q* up to 1e300), and vectors mixing good and bad points.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import eoc
from strategies import ALL, SMOOTH, floats

log_sigma_w = st.floats(min_value=-3.0, max_value=150.0).map(lambda e: 10.0**e)
tiny_or_some_bias = st.one_of(
    st.just(0.0), st.sampled_from([1e-300, 1e-100, 1e-12, 1e-9, 1e-6]), floats(1e-6, 10.0)
)
log_q0 = st.floats(min_value=-6.0, max_value=6.0).map(lambda e: 10.0**e)


def _q_star_or_value_error(act, sw, sb, q0):
    try:
        return float(eoc.q_star(act, sw, sb, q0=q0))
    except ValueError:
        return None


@given(act=st.sampled_from(ALL), sw=log_sigma_w, sb=tiny_or_some_bias, q0=log_q0)
def test_q_star_is_a_verified_root_or_a_value_error(act, sw, sb, q0):
    """Over sigma_w in [1e-3, 1e150]: F(q*) = q* to rounding, or a ValueError; nothing else."""
    q = _q_star_or_value_error(act, sw, sb, q0)
    if q is None:
        return
    assert np.isfinite(q) and q >= 0
    F = float(eoc.variance_map(q, act, sw, sb))
    assert abs(F - q) <= 1e-12 * max(F, q) + 1e-300, (act, sw, sb, q0, q, F)


@given(act=st.sampled_from(("tanh", "erf", "sigmoid", "elu", "selu")), sw=floats(0.3, 4.0), sb=tiny_or_some_bias)
def test_monotone_q_star_is_the_limit_of_the_iterates(act, sw, sb):
    """For increasing F the iterates from q0 go monotonically to q* (checked where they converge fast)."""
    q = _q_star_or_value_error(act, sw, sb, 1.0)
    if q is None or q < 1e-8:
        return
    if abs(float(eoc.chi_q(act, sw, sb, q=q))) > 0.8:
        return
    it = eoc.variance_iterates(1.0, 200, act, sw, sb)
    np.testing.assert_allclose(it[-1], q, rtol=1e-11)


@given(act=st.sampled_from(("tanh", "erf", "sigmoid", "elu", "gelu")), sw=floats(0.3, 5.0), sb=tiny_or_some_bias)
def test_c_star_is_a_verified_root_or_a_value_error(act, sw, sb):
    """c* in [0, 1] with f(c*) = c* (absolute 1e-14), c* = 1 when chi_1 <= 1, or a ValueError."""
    try:
        c = float(eoc.c_star(act, sw, sb))
    except ValueError:
        assert _q_star_or_value_error(act, sw, sb, 1.0) is None  # only where q* itself is missing
        return
    chi = float(eoc.chi_1(act, sw, sb))
    assert 0.0 <= c <= 1.0
    if chi <= 1.0 + 1e-12:
        assert c == 1.0
    elif c < 1.0:
        f = float(eoc.correlation_map(c, act, sw, sb))
        assert abs(f - c) <= 1e-14, (act, sw, sb, c, f)


TANH_FAILURES = [1.5, 1.65, 2.2, 2.25, 2.7, 3.1, 3.4, 3.9]  # issue 8: "root finding failed" at sigma_b = 0


@pytest.mark.parametrize("sb", [0.0, 1e-300, 1e-12, 1e-9])
def test_tanh_c_star_and_depth_scales_where_they_used_to_fail(sb):
    """c* of odd tanh with sigma_b ~ 0 is 0 (to 2e-15), depth scales are finite, vector = scalar calls."""
    sw = np.array(TANH_FAILURES)
    c = eoc.c_star("tanh", sw, sb)
    assert np.all(np.abs(c) < 2e-15), c
    xi_q, xi_c = eoc.depth_scales("tanh", sw, sb)
    assert np.all(np.isfinite(xi_q)) and np.all(np.isfinite(xi_c)) and np.all(xi_c > 0)
    scalar = np.array([eoc.c_star("tanh", w, sb) for w in TANH_FAILURES])
    np.testing.assert_allclose(c, scalar, atol=2e-15)
    # chi_c = f'(c*) < 1 at the stable fixed point.
    assert np.all(eoc.chi_c("tanh", sw, sb) < 1)


def test_huge_sigma_w_gives_huge_q_star_not_no_fixed_point():
    """q* ~ sigma_w^2 for bounded phi: 1e20 at sigma_w = 1e10, 1e300 at 1e150; overflow says so."""
    for sw in (1e10, 1e50, 1e150):
        q = float(eoc.q_star("tanh", sw, 0.0))
        assert q == pytest.approx(sw**2, rel=1e-9)
        assert float(eoc.variance_map(q, "tanh", sw, 0.0)) == pytest.approx(q, rel=1e-14)
    with pytest.raises(ValueError, match="overflow.*sigma_w=1.5e\\+154"):
        eoc.q_star("tanh", 1.5e154, 0.0)


def test_a_vector_with_one_bad_point_names_it_and_good_points_still_solve():
    """One point without a fixed point raises a ValueError naming it; the others alone are fine."""
    sw = np.array([0.5, 1.2, 1.6, 1.3])
    with pytest.raises(ValueError, match="sigma_w=1.6"):
        eoc.q_star("relu", sw, 0.1)
    good = eoc.q_star("relu", sw[[0, 1, 3]], 0.1)
    np.testing.assert_allclose(good, 0.01 / (1 - sw[[0, 1, 3]] ** 2 / 2), rtol=1e-14)
    # Vectorized c* over a grid straddling the ordered/chaotic border never raises.
    grid_w, grid_b = np.meshgrid(np.linspace(0.5, 4.0, 15), [0.0, 1e-10, 0.3, 1.0])
    c = eoc.c_star("tanh", grid_w, grid_b)
    assert c.shape == grid_w.shape and np.all((c >= 0) & (c <= 1))


@given(act=st.sampled_from(SMOOTH + ("elu", "selu")), sb=st.one_of(st.just(0.0), floats(1e-6, 3.0)))
def test_edge_of_chaos_is_a_verified_valid_point_or_a_value_error(act, sb):
    """chi_1 = 1 at the fixed point reached from q0 = 1, or a ValueError saying why not."""
    try:
        sw = float(eoc.edge_of_chaos(act, sb))
    except ValueError as exc:
        assert "no edge of chaos" in str(exc) and f"sigma_b={sb!r}" in str(exc)
        return
    q = float(eoc.q_star(act, sw, sb, q0=1.0))
    assert float(eoc.chi_1(act, sw, sb, q=q)) == pytest.approx(1.0, rel=1e-11)
