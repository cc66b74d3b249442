"""eoc.sim.inputs and eoc.sim.stats against hand-computed values; bad input names the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eoc.sim import (
    MLPStack,
    gaussian_inputs,
    gaussian_pair_inputs,
    mean_square,
    pair_correlations,
    perturbation_chi,
    random_labels,
    score_shape,
    second_moments,
)


def test_gaussian_inputs_have_exactly_the_requested_norm_and_shape():
    g = torch.Generator().manual_seed(0)
    x = gaussian_inputs(7, 30, q=2.5, generator=g)
    assert x.shape == (7, 30) and x.dtype == torch.float64
    np.testing.assert_allclose((x * x).mean(dim=1).numpy(), 2.5, rtol=1e-14)
    xr = gaussian_inputs(7, 30, replicas=3, generator=g, dtype=torch.float32, device=torch.device("cpu"))
    assert xr.shape == (3, 7, 30) and xr.dtype == torch.float32
    # the same seed gives the same inputs
    a = gaussian_inputs(4, 5, generator=torch.Generator().manual_seed(3))
    b = gaussian_inputs(4, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_pair_inputs_have_exact_norms_and_correlation():
    x = gaussian_pair_inputs(5, 40, -0.3, q=0.7, generator=torch.Generator().manual_seed(1))
    assert x.shape == (10, 40)
    np.testing.assert_allclose((x * x).mean(dim=1).numpy(), 0.7, rtol=1e-14)
    a, b = x[0::2], x[1::2]
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    np.testing.assert_allclose(corr.numpy(), -0.3, atol=1e-14)


def test_random_labels_range_and_shape():
    y = random_labels(500, 7, replicas=2, generator=torch.Generator().manual_seed(2))
    assert y.shape == (2, 500) and y.dtype == torch.int64
    assert int(y.min()) == 0 and int(y.max()) == 6


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda g: gaussian_inputs(0, 3, generator=g), "n"),
        (lambda g: gaussian_inputs(2, 3, q=-1.0, generator=g), "q"),
        (lambda g: gaussian_inputs(2, 3, replicas=0, generator=g), "replicas"),
        (lambda g: gaussian_pair_inputs(2, 3, 1.5, generator=g), "c0"),
        (lambda g: gaussian_pair_inputs(2, 1, 0.5, generator=g), "dim"),
        (lambda g: random_labels(3, 0, generator=g), "classes"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}="):
        call(torch.Generator().manual_seed(0))


def test_second_moments_and_correlations_by_hand():
    y = torch.tensor([[[1.0, 2.0, 2.0], [2.0, 4.0, 4.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # R=1, B=4, N=3
    q = second_moments([y, 2 * y])
    assert q.shape == (1, 4, 2)
    np.testing.assert_allclose(q[0, :, 0].numpy(), [3.0, 12.0, 1 / 3, 1 / 3])
    np.testing.assert_allclose(q[0, :, 1].numpy(), 4 * np.array([3.0, 12.0, 1 / 3, 1 / 3]))
    c = pair_correlations([y])
    np.testing.assert_allclose(c[0, :, 0].numpy(), [1.0, 0.0], atol=1e-15)  # parallel pair, orthogonal pair
    np.testing.assert_allclose(mean_square([y]).numpy(), [[(9 + 36 + 1 + 1) / 12]])


def test_score_shape_by_hand():
    s = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0]])
    np.testing.assert_allclose(score_shape(s).numpy(), [1.0, 0.5])


def test_perturbation_chi_of_a_scaled_identity_network_is_the_squared_scale():
    """With W = a I and a linear activation a perturbation grows by exactly a^2 per layer."""
    n, a = 6, 1.7
    w = [a * torch.eye(n, dtype=torch.float64).expand(2, n, n).clone() for _ in range(4)]
    b = [torch.zeros(2, n, dtype=torch.float64) for _ in range(4)]
    net = MLPStack(w, b, "linear")
    x = gaussian_inputs(3, n, generator=torch.Generator().manual_seed(0))
    chi = perturbation_chi(net, x, slice(0, 3), generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(chi, a * a, rtol=1e-8)
    assert math.isclose(float(np.mean(chi)), a * a, rel_tol=1e-8)
