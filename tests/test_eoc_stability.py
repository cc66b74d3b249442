"""Which fixed point, and which EOC points are real (docs/theory.md §2).

An EOC point is one where the variance fixed point that the network actually reaches
(from q0) has chi_1 = 1.  GELU and SiLU with small sigma_b have chi_1 = 1 only at an
*unstable* fixed point (chi_q > 1); there the theory says the variance runs away, and a
simulated finite network does so too.
"""

from __future__ import annotations

import numpy as np
import pytest

import eoc


def test_gelu_chi_1_one_point_at_small_bias_is_an_unstable_fixed_point():
    """GELU, sigma_b = 0.1: chi_1 = 1 at sigma_w = 1.727, q* = 0.183, where chi_q = 1.098 > 1."""
    curve = eoc.eoc_curve("gelu", sigma_b=[0.1], missing="keep")
    sw, q, cq = float(curve.sigma_w[0]), float(curve.q_star[0]), float(curve.chi_q[0])
    assert sw == pytest.approx(1.7270782753086992, rel=1e-12)  # mpmath reference (tests/data)
    assert cq == pytest.approx(float(eoc.chi_q("gelu", sw, 0.1, q=q)), rel=1e-12) and cq > 1.05
    assert not curve.valid[0] and not curve.stable[0]
    fp = eoc.variance_fixed_points("gelu", sw, 0.1)
    assert fp.stable.tolist() == [True, False]
    np.testing.assert_allclose(fp.q[1], q, rtol=1e-10)
    np.testing.assert_allclose(fp.chi_q[1], cq, rtol=1e-10)
    # From q0 = 1 (above the unstable point) the variance grows without bound; below it, it
    # goes to the stable fixed point, where chi_1 is not 1.
    with pytest.raises(ValueError, match="without bound"):
        eoc.q_star("gelu", sw, 0.1, q0=1.0)
    low = float(eoc.q_star("gelu", sw, 0.1, q0=0.1))
    np.testing.assert_allclose(low, fp.q[0], rtol=1e-12)
    assert abs(float(eoc.chi_1("gelu", sw, 0.1, q=low)) - 1) > 0.05
    with pytest.raises(ValueError, match=r"sigma_b=0\.1.*unstable.*grows without bound"):
        eoc.edge_of_chaos("gelu", 0.1)


def test_simulated_gelu_network_at_the_unstable_point_runs_away_as_predicted():
    """Simulation (numpy; 8 networks of width 600, 12 layers, seed 0): log q^l follows variance_iterates.

    The infinite-width recursion predicts q^l from q^1 = sigma_b^2 + sigma_w^2 |x|^2/d.
    Finite-width fluctuations (relative ~ sqrt(2/N) per layer) are amplified near the
    unstable fixed point, so the replicate spread grows with depth; the check is the
    mean of log q^l over replicates within 4 standard errors (+0.02 for the O(1/N)
    finite-width bias), and every network's variance ends far above the "EOC" q* = 0.183.
    """
    sw, sb, n, depth, reps = 1.7270782753086992, 0.1, 600, 12, 8
    act = eoc.get_activation("gelu")
    rng = np.random.default_rng(0)
    logs = []
    for _ in range(reps):
        x = rng.standard_normal(n)
        x *= np.sqrt(n) / np.linalg.norm(x)  # |x|^2 / d = 1
        h = sw * rng.standard_normal((n, n)) @ x / np.sqrt(n) + sb * rng.standard_normal(n)
        m = [np.mean(h**2)]
        for _ in range(depth - 1):
            h = sw * rng.standard_normal((n, n)) @ act(h) / np.sqrt(n) + sb * rng.standard_normal(n)
            m.append(np.mean(h**2))
        logs.append(np.log(m))
    logs = np.array(logs)
    theory = np.log(eoc.variance_iterates(sb**2 + sw**2, depth - 1, act, sw, sb))
    se = logs.std(axis=0, ddof=1) / np.sqrt(reps)
    assert np.all(np.abs(logs.mean(axis=0) - theory) <= 4 * se + 0.02), (logs.mean(axis=0) - theory, se)
    assert np.all(logs[:, -1] > np.log(20 * 0.1835))


@pytest.mark.parametrize(("act", "sb"), [("gelu", 1.0), ("silu", 1.0), ("tanh", 0.2), ("elu", 0.3), ("gelu", 0.6)])
def test_valid_eoc_points_are_stable_reached_and_critical(act, sb):
    """Valid points: chi_q < 1, q_star from q0 = 1 is the curve's q*, and chi_1 = 1 there."""
    curve = eoc.eoc_curve(act, sigma_b=[sb])
    assert curve.valid.all() and curve.stable.all()
    sw, q = float(curve.sigma_w[0]), float(curve.q_star[0])
    np.testing.assert_allclose(float(eoc.q_star(act, sw, sb, q0=1.0)), q, rtol=1e-11)
    np.testing.assert_allclose(float(eoc.chi_1(act, sw, sb)), 1.0, rtol=1e-11)
    assert float(eoc.edge_of_chaos(act, sb)) == pytest.approx(sw, rel=1e-14)


@pytest.mark.parametrize("act", ["gelu", "silu"])
def test_validity_is_stability_and_reachability_along_the_curve(act):
    """Every kept point: valid <=> chi_q < 1 and q* is reached from q0 = 1 (checked by q_star)."""
    curve = eoc.eoc_curve(act, num=21, sigma_b_max=2.0, missing="keep")
    assert (~curve.valid).any() and curve.valid.any()
    for sb, sw, q, cq, ok in zip(curve.sigma_b, curve.sigma_w, curve.q_star, curve.chi_q, curve.valid):
        try:
            reached = float(eoc.q_star(act, sw, sb, q0=1.0))
        except ValueError:
            reached = np.inf
        assert bool(ok) == bool(cq < 1 and abs(reached - q) <= 1e-9 * q), (sb, sw, q, cq, reached)


def test_missing_modes_of_eoc_curve():
    """raise / drop / keep on the same GELU sigma_b grid."""
    sb = [0.1, 0.3, 0.8, 1.5]
    with pytest.raises(ValueError, match="sigma_b=0.1"):
        eoc.eoc_curve("gelu", sigma_b=sb)
    dropped = eoc.eoc_curve("gelu", sigma_b=sb, missing="drop")
    kept = eoc.eoc_curve("gelu", sigma_b=sb, missing="keep")
    assert len(kept) == 4 and kept.valid.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(dropped.sigma_b, [0.8, 1.5])
    np.testing.assert_allclose(dropped.sigma_w, kept.sigma_w[2:], rtol=0)
    # The default grid drops silently (only valid points come back).
    grid = eoc.eoc_curve("gelu", num=11)
    assert grid.valid.all() and grid.sigma_b.min() > 0.3
    assert set(grid.as_dict()) >= {"sigma_b", "sigma_w", "q_star", "chi_q", "valid", "q0"}


def test_q_star_depends_on_the_start_where_there_are_several_fixed_points():
    """SiLU at (1.625, 0): stable q* = 0, unstable q* = 1.44; below it q -> 0, above it q -> infinity."""
    fp = eoc.variance_fixed_points("silu", 1.625, 0.0)
    assert fp.q[0] == 0.0 and fp.stable.tolist() == [True, False]
    q_u = float(fp.q[1])
    assert float(eoc.q_star("silu", 1.625, 0.0, q0=0.99 * q_u)) == 0.0
    with pytest.raises(ValueError, match=f"from q0={1.01 * q_u!r}"):
        eoc.q_star("silu", 1.625, 0.0, q0=1.01 * q_u)
    # The tanh map has one fixed point, and q_star finds it from anywhere.
    fp = eoc.variance_fixed_points("tanh", 2.0, 0.3)
    assert len(fp) == 1 and fp.stable[0]
    for q0 in (1e-6, 1.0, 1e6):
        np.testing.assert_allclose(float(eoc.q_star("tanh", 2.0, 0.3, q0=q0)), fp.q[0], rtol=1e-12)
    # Neutral q* = 0 of tanh at (1, 0): reached (like 1/l), so attracting but not stable.
    fp = eoc.variance_fixed_points("tanh", 1.0, 0.0)
    assert fp.q.tolist() == [0.0] and fp.attracting[0] and not fp.stable[0]
    assert float(eoc.q_star("tanh", 1.0, 0.0)) == 0.0


def test_a_decreasing_variance_map_is_followed_by_iteration():
    """phi = cos: F decreases, the iterates oscillate into q*; q_star gives their limit."""
    act = eoc.Activation.from_callable(np.cos, lambda x: -np.sin(x), name="cos")
    q = float(eoc.q_star(act, 1.5, 0.1))
    np.testing.assert_allclose(float(eoc.variance_map(q, act, 1.5, 0.1)), q, rtol=1e-13)
    np.testing.assert_allclose(eoc.variance_iterates(1.0, 400, act, 1.5, 0.1)[-1], q, rtol=1e-12)


def test_init_edge_of_chaos_refuses_an_unstable_point():
    """init_edge_of_chaos_ raises for GELU at sigma_b = 0.1 and leaves the model untouched."""
    torch = pytest.importorskip("torch")
    from eoc.nn import init_edge_of_chaos_

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="unstable"):
        init_edge_of_chaos_(model, "gelu", 0.1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    init_edge_of_chaos_(model, "gelu", 1.0)
    assert model.eoc_init["sigma_w"] == pytest.approx(float(eoc.edge_of_chaos("gelu", 1.0)), rel=1e-15)
