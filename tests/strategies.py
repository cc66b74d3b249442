"""Bounded hypothesis strategies shared by the property tests (no NaN, no inf, explicit ranges)."""

from hypothesis import strategies as st

#: Activations with a numerical (quadrature) route, and the closed-form ones.
SMOOTH = ("tanh", "erf", "sigmoid", "softplus", "gelu", "silu")
KINKED = ("relu", "leaky_relu", "elu", "selu")
ALL = SMOOTH + KINKED + ("linear",)
#: Monotone activations (phi' >= 0), for which the correlation map is increasing.
MONOTONE = ("tanh", "erf", "sigmoid", "softplus", "relu", "leaky_relu", "elu", "selu", "linear")
#: Activations whose chi_1 increases with sigma_w at fixed sigma_b, so the EOC splits phases cleanly.
PHASE_SPLIT = ("tanh", "erf", "elu", "selu")


def floats(lo: float, hi: float):
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


sigma_w = floats(0.3, 2.5)
#: sigma_b = 0 exactly, or at least 1e-6: below ~1e-9 the EOC condition is under rounding
#: (documented in eoc.edge_of_chaos).
sigma_b = st.one_of(st.just(0.0), floats(1e-6, 1.5))
correlation = floats(-1.0, 1.0)
variance = floats(1e-3, 30.0)
activation = st.sampled_from(ALL)
bounded_activation = st.sampled_from(("tanh", "erf", "sigmoid"))
