"""Activations: registry, derivatives, and closed forms against the quadrature route.

Special cases are built from general ones and the identity is tested: ReLU is
leaky_relu(0) and linear is leaky_relu(1).
"""

import numpy as np
import pytest

import eoc
from eoc import _expect as ex
from eoc._activations import arc_gap
from strategies import ALL

X = np.concatenate([np.linspace(-6, -0.05, 40), np.linspace(0.05, 6, 40)])


@pytest.mark.parametrize("name", ALL + ("gelu_tanh", "elu_half", "softplus_2", "silu_2"))
def test_derivative_matches_central_differences(name):
    """phi' (closed form) equals a 4th-order central difference away from the kink."""
    variants = {
        "gelu_tanh": ("gelu", {"approximate": "tanh"}),
        "elu_half": ("elu", {"alpha": 0.5}),
        "softplus_2": ("softplus", {"beta": 2.0}),
        "silu_2": ("silu", {"beta": 2.0}),
    }
    base, params = variants.get(name, (name, {}))
    act = eoc.get_activation(base, **params)
    h = 1e-3
    fd = (8 * (act.fn(X + h) - act.fn(X - h)) - (act.fn(X + 2 * h) - act.fn(X - 2 * h))) / (12 * h)
    np.testing.assert_allclose(act.derivative(X), fd, rtol=1e-9, atol=1e-10)


def test_registry_names_aliases_and_labels():
    assert set(eoc.available_activations()) == set(ALL)
    assert {"relu", "tanh", "erf", "selu", "gelu", "silu"} <= set(eoc.available_activations())
    assert eoc.get_activation("swish") == eoc.get_activation("silu")
    assert eoc.get_activation("identity") == eoc.get_activation("linear")
    assert eoc.get_activation("leaky_relu", negative_slope=0.1).label == "leaky_relu(negative_slope=0.1)"
    act = eoc.get_activation("tanh")
    assert eoc.get_activation(act) is act


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: eoc.get_activation("mish"), "unknown activation 'mish'"),
        (lambda: eoc.get_activation("elu", alpha=-1.0), "alpha=-1.0"),
        (lambda: eoc.get_activation("softplus", beta=0.0), "beta=0.0"),
        (lambda: eoc.get_activation("gelu", approximate="erf"), "approximate='erf'"),
        (lambda: eoc.get_activation("tanh", slope=2.0), "bad parameters"),
        (lambda: eoc.get_activation(3.0), "name or a callable"),
        (lambda: eoc.get_activation(lambda x: np.ones(2)), "same shape"),
    ],
)
def test_bad_activation_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


Q = np.array([1e-3, 0.2, 1.0, 3.0, 40.0])
C = np.array([-1.0, -0.6, 0.0, 0.3, 0.9, 0.999, 1.0])


@pytest.mark.parametrize("name,params", [("relu", {}), ("leaky_relu", {"negative_slope": 0.3}), ("linear", {}), ("erf", {})])
def test_closed_forms_agree_with_quadrature(name, params):
    act = eoc.get_activation(name, **params)
    for fn in (ex.moment2, ex.deriv_moment2, ex.dq_moment2):
        np.testing.assert_allclose(fn(act, Q), fn(act, Q, method="quadrature"), rtol=1e-13, err_msg=fn.__name__)
    q1, c = np.meshgrid(Q, C)
    q2 = 0.5 * q1 + 0.1
    q12 = c * np.sqrt(q1 * q2)
    # Absolute tolerance at the kernel's own scale sqrt(q1 q2) (it vanishes at c = 0 for odd phi).
    for fn in (ex.kernel, ex.deriv_kernel):
        got, want = fn(act, q1, q2, q12), fn(act, q1, q2, q12, method="quadrature")
        assert np.all(np.abs(got - want) <= 1e-13 * np.abs(want) + 1e-15 * np.sqrt(q1 * q2)), fn.__name__
    np.testing.assert_allclose(
        ex.half_sq_diff(act, q1, c), ex.half_sq_diff(act, q1, c, method="quadrature"), rtol=1e-12, atol=1e-16
    )


def test_relu_and_linear_are_leaky_relu_special_cases():
    q1, q2, c = 0.7, 1.9, np.linspace(-1, 1, 9)
    q12 = c * np.sqrt(q1 * q2)
    for special_name, slope in (("relu", 0.0), ("linear", 1.0)):
        a, b = eoc.get_activation(special_name), eoc.get_activation("leaky_relu", negative_slope=slope)
        np.testing.assert_array_equal(a(np.linspace(-2, 2, 7)), b(np.linspace(-2, 2, 7)))
        np.testing.assert_allclose(ex.kernel(a, q1, q2, q12), ex.kernel(b, q1, q2, q12), rtol=1e-15)
        np.testing.assert_allclose(ex.deriv_kernel(a, q1, q2, q12), ex.deriv_kernel(b, q1, q2, q12), rtol=1e-15)


def test_half_sq_diff_keeps_relative_accuracy_near_c_equal_1():
    """1 - f(c) must not be computed as a difference: compare with the leading-order expansion."""
    for name in ("relu", "erf", "tanh"):
        act = eoc.get_activation(name)
        eps = 1e-10
        d = ex.half_sq_diff(act, 0.8, 1.0 - eps)
        # leading order: (1 - c) q E[phi'(u)^2]
        lead = eps * 0.8 * ex.deriv_moment2(act, 0.8)
        assert abs(d / lead - 1) < 1e-3, (name, d, lead)
    # The arc gap T(c) = pi/2 - sqrt(1-c^2) - c arcsin c, stable form versus the direct one.
    c = np.linspace(-0.5, 0.9, 15)
    np.testing.assert_allclose(arc_gap(c), np.pi / 2 - np.sqrt(1 - c * c) - c * np.arcsin(c), rtol=1e-13)
    c = 1 - np.array([1e-6, 1e-9, 1e-12])
    eps = 1 - c  # exact (Sterbenz): the gap actually represented by c
    np.testing.assert_allclose(arc_gap(c), np.pi / 2 * eps - 2 * np.sqrt(2) / 3 * eps**1.5, rtol=2e-6)


def test_user_defined_activation_with_numerical_derivative():
    custom = eoc.get_activation(lambda x: np.tanh(x))
    np.testing.assert_allclose(custom.derivative(X), 1 - np.tanh(X) ** 2, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(eoc.edge_of_chaos(custom, 0.3), eoc.edge_of_chaos("tanh", 0.3), rtol=1e-10)

    def kinked(x):
        return np.where(x > 0, x, 0.2 * x)

    act = eoc.Activation.from_callable(kinked, name="my_leaky")
    # One-sided stencils never straddle the kink: exact slopes right next to 0.
    np.testing.assert_allclose(act.derivative(np.array([-1e-9, 1e-9])), [0.2, 1.0], rtol=1e-10)
    # chi_1 = sigma_w^2 (1 + a^2) / 2 for a leaky ReLU of slope a.
    np.testing.assert_allclose(eoc.chi_1(act, 1.2, 0.0, q=1.0), 1.2**2 * (1 + 0.2**2) / 2, rtol=1e-11)
