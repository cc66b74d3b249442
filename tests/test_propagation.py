"""Forward and backward layer profiles of finite-depth FFNNs (docs/theory.md §3)."""

import numpy as np
import pytest

import eoc
from eoc._propagation import gradient_variances


def test_linear_network_closed_form():
    """phi = identity: q^l = sb^2 + sw^2 q^{l-1}, qt^l = qt^{l+1} sw^2 N_{l+1}/N_l exactly."""
    widths = (10, 20, 40, 5)
    sw, sb = 1.3, 0.4
    p = gradient_variances(widths, "linear", sw, sb, input_q=2.0, output_grad=3.0)
    q1 = sb**2 + sw**2 * 2.0
    q2 = sb**2 + sw**2 * q1
    q3 = sb**2 + sw**2 * q2
    np.testing.assert_allclose(p.q, [q1, q2, q3], rtol=1e-15)
    np.testing.assert_allclose(p.grad_q, [3.0 * sw**4 * (5 / 20), 3.0 * sw**2 * (5 / 40), 3.0], rtol=1e-15)
    np.testing.assert_allclose(p.weight_grad, p.grad_q * np.array([2.0, q1, q2]), rtol=1e-15)


def test_weight_gradients_flat_on_eoc_and_exponential_off_it():
    """Equal widths: E[(dL/dW^l)^2] scales like chi_1^{L-l}: flat on the EOC, vanishing towards
    the input in the ordered phase, exploding towards it in the chaotic phase."""
    sb = 0.2
    sw_eoc = float(eoc.edge_of_chaos("tanh", sb))
    q_star = float(eoc.q_star("tanh", sw_eoc, sb))
    widths = (100,) + (100,) * 30 + (10,)
    # Start the input at q* so every layer sits at the fixed point.
    input_q = (q_star - sb**2) / sw_eoc**2
    prof = gradient_variances(widths, "tanh", sw_eoc, sb, input_q=input_q)
    inner = prof.weight_grad[1:-1]
    np.testing.assert_allclose(inner / inner[-1], 1.0, rtol=1e-10)
    for sw, sign in ((0.8 * sw_eoc, -1), (1.5 * sw_eoc, +1)):
        qs = float(eoc.q_star("tanh", sw, sb))
        prof = gradient_variances(widths, "tanh", sw, sb, input_q=(qs - sb**2) / sw**2)
        ratio = np.log(prof.weight_grad[5] / prof.weight_grad[25])
        chi = float(eoc.chi_1("tanh", sw, sb))
        # 20 layers apart, every layer at the fixed point: ratio = 20 log chi_1.
        np.testing.assert_allclose(ratio, 20 * np.log(chi), rtol=1e-10)
        assert np.sign(ratio) == sign


def test_per_layer_sigmas_and_validation():
    prof = gradient_variances((4, 8, 8, 2), "relu", [1.0, 2.0, 0.5], 0.0, input_q=1.0)
    np.testing.assert_allclose(prof.q, [1.0, 2.0, 0.25], rtol=1e-15)
    with pytest.raises(ValueError, match="one entry per weight layer"):
        gradient_variances((4, 8, 2), "relu", [1.0, 2.0, 3.0], 0.0)
    with pytest.raises(ValueError, match=r"widths\[1\] must be a positive integer"):
        gradient_variances((4, 0, 2), "relu", 1.0, 0.0)
    with pytest.raises(ValueError, match="at least two entries"):
        gradient_variances((4,), "relu", 1.0, 0.0)
