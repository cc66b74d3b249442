"""Bad input gets a ValueError naming the bad value, never a silent NaN."""

import numpy as np
import pytest

import eoc


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: eoc.q_star("tanh", 0.0, 0.1), r"sigma_w must be > 0.*sigma_w=0\.0"),
        (lambda: eoc.q_star("tanh", [1.0, -2.0], 0.1), r"sigma_w=-2\.0"),
        (lambda: eoc.chi_1("tanh", 1.0, -0.1), r"sigma_b must be >= 0.*sigma_b=-0\.1"),
        (lambda: eoc.correlation_map(1.2, "tanh", 1.0, 0.1), r"c must lie in \[-1\.0, 1\.0\].*c=1\.2"),
        (lambda: eoc.correlation_map(np.nan, "tanh", 1.0, 0.1), r"c contains NaN"),
        (lambda: eoc.variance_map(-1.0, "tanh", 1.0, 0.1), r"q must be >= 0.*q=-1\.0"),
        (lambda: eoc.variance_map(1.0, "swishy", 1.0, 0.1), r"unknown activation 'swishy'"),
        (lambda: eoc.q_star("relu", 1.5, 0.0), r"no finite variance fixed point.*relu.*sigma_w=1\.5"),
        (lambda: eoc.q_star("relu", np.sqrt(2), 0.3), r"no finite variance fixed point.*sigma_b=0\.3"),
        (lambda: eoc.q_star("elu", 2.0, 0.3), r"no finite variance fixed point.*elu"),
        (lambda: eoc.edge_of_chaos("relu", 0.2), r"no edge of chaos at sigma_b=0\.2.*single point"),
        (lambda: eoc.edge_of_chaos("softplus", 0.5), r"'softplus\(beta=1\)' has no edge of chaos at sigma_b=0\.5"),
        (lambda: eoc.variance_iterates(1.0, -3, "tanh", 1.0, 0.0), r"depth must be an integer >= 0.*depth=-3"),
        (lambda: eoc.variance_iterates(1.0, 2.5, "tanh", 1.0, 0.0), r"depth=2\.5"),
        (lambda: eoc.covariance_map(1.0, 1.0, 1.5, "tanh", 1.0, 0.0), r"q12=1\.5"),
        (lambda: eoc.Numerics(order_1d=1), r"order_1d=1"),
        (lambda: eoc.Numerics(method="magic"), r"method='magic'"),
        (lambda: eoc.chi_1("tanh", 1.0, 0.0, numerics="fast"), r"numerics must be an eoc.Numerics"),
        (lambda: eoc.eoc_curve("tanh", sigma_b=[0.1], q_star=[1.0]), r"not both"),
        (lambda: eoc.q_star("tanh", 1.0, 0.0, q0=0.0), r"q0=0\.0"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numerics_object_is_used():
    """A Numerics object reaches the quadrature: a 6-node rule is visibly coarse, the default is exact."""
    coarse = eoc.Numerics(order_1d=6, method="quadrature")
    fine = eoc.Numerics(method="quadrature")
    exact = 0.2**2 + 1.3**2 * 2.0 / 2  # relu: F(q) = sigma_b^2 + sigma_w^2 q / 2
    assert abs(eoc.variance_map(2.0, "relu", 1.3, 0.2, numerics=coarse) - exact) > 1e-3
    np.testing.assert_allclose(eoc.variance_map(2.0, "relu", 1.3, 0.2, numerics=fine), exact, rtol=1e-14)
