"""numpy's convention for results: scalar in, numpy scalar out; array in, array out (eoc._validate.scalar_out)."""

from __future__ import annotations

import numpy as np
import pytest

import eoc
from eoc._validate import scalar_out

SW, SB = 1.3, 0.2

FUNCTIONS = {
    "variance_map": lambda sw, sb: eoc.variance_map(0.7, "tanh", sw, sb),
    "covariance_map": lambda sw, sb: eoc.covariance_map(0.7, 0.7, 0.3, "tanh", sw, sb),
    "q_star": lambda sw, sb: eoc.q_star("tanh", sw, sb),
    "correlation_map": lambda sw, sb: eoc.correlation_map(0.4, "tanh", sw, sb),
    "correlation_map_derivative": lambda sw, sb: eoc.correlation_map_derivative(0.4, "tanh", sw, sb),
    "c_star": lambda sw, sb: eoc.c_star("tanh", sw, sb),
    "chi_1": lambda sw, sb: eoc.chi_1("tanh", sw, sb),
    "chi_q": lambda sw, sb: eoc.chi_q("tanh", sw, sb),
    "chi_c": lambda sw, sb: eoc.chi_c("tanh", sw, sb),
    "edge_of_chaos": lambda sw, sb: eoc.edge_of_chaos("tanh", sb),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_scalars_give_numpy_scalars_and_arrays_give_arrays(name):
    fn = FUNCTIONS[name]
    out = fn(SW, SB)
    assert isinstance(out, np.float64) and not isinstance(out, np.ndarray), type(out)
    assert isinstance(fn(np.float64(SW), np.asarray(SB)), np.float64)  # 0-d arrays count as scalars
    arr = fn(np.array([SW, 1.1]), np.array([SB, SB]))
    assert isinstance(arr, np.ndarray) and arr.shape == (2,)
    np.testing.assert_allclose(arr[0], out, rtol=1e-14)


def test_depth_scales_and_phase():
    xi_q, xi_c = eoc.depth_scales("tanh", SW, SB)
    assert isinstance(xi_q, np.float64) and isinstance(xi_c, np.float64)
    xi_q, xi_c = eoc.depth_scales("tanh", [SW, 1.1], SB)
    assert xi_q.shape == xi_c.shape == (2,)
    assert isinstance(eoc.phase("tanh", SW, SB), str)
    assert eoc.phase("tanh", [SW, 3.0], SB).tolist() == ["ordered", "chaotic"]


def test_scalar_out_is_numpys_rule():
    assert scalar_out(np.asarray(2.5)) == 2.5 and isinstance(scalar_out(np.asarray(2.5)), np.float64)
    a = np.ones((2, 1))
    assert scalar_out(a) is a
    pair = scalar_out((np.asarray(1.0), np.ones(2)))
    assert isinstance(pair[0], np.float64) and pair[1].shape == (2,)
    # The same as what a numpy ufunc returns for a 0-d input.
    assert type(scalar_out(np.sin(np.asarray(0.5)))) is type(np.sin(np.asarray(0.5)))
