"""Gaussian initialization: W ~ N(0, sigma_w^2 / fan_in), b ~ N(0, sigma_b^2) (docs/theory.md §1).

Sampling tolerance: the sample variance of n iid N(0, v) draws has standard error
v sqrt(2 / (n - 1)) and the sample mean sqrt(v / n); checks allow 5 standard errors.
"""

import math

import pytest
import torch
from torch import nn

import eoc
from eoc.nn import FFNN, init_, init_edge_of_chaos_

pytestmark = pytest.mark.torch


def _layers():
    return nn.ModuleDict(
        {
            "linear": nn.Linear(500, 400),
            "conv": nn.Conv2d(32, 64, 3, groups=4),  # fan-in 32 / 4 * 9 = 72
            "bias": nn.Linear(3, 5000),
            "bn": nn.BatchNorm2d(64),
        }
    )


def _assert_normal(sample: torch.Tensor, var: float):
    n = sample.numel()
    x = sample.detach().double()
    assert abs(float(x.mean())) < 5 * math.sqrt(var / n)
    assert abs(float(x.var()) - var) < 5 * var * math.sqrt(2 / (n - 1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_weight_and_bias_variances_match_fan_in(dtype):
    """Var W = sigma_w^2 / fan_in (fan_in = in_channels / groups * kernel area), Var b = sigma_b^2."""
    model = _layers().to(dtype)
    init_(model, "tanh", 1.7, 0.3, generator=torch.Generator().manual_seed(0))
    _assert_normal(model["linear"].weight, 1.7**2 / 500)
    _assert_normal(model["conv"].weight, 1.7**2 / 72)
    _assert_normal(model["bias"].bias, 0.3**2)
    assert all(p.dtype == dtype for p in model.parameters())


def test_batch_norm_is_untouched_and_zero_sigma_b_gives_zero_biases():
    model = _layers()
    nn.init.constant_(model["bn"].weight, 3.0)
    assert init_(model, "relu", 1.0, generator=torch.Generator().manual_seed(1)) is model
    assert torch.all(model["bn"].weight == 3.0) and torch.all(model["bn"].bias == 0.0)
    assert torch.all(model["linear"].bias == 0.0)


def test_same_generator_seed_same_weights():
    a, b = FFNN((5, 6, 2)), FFNN((5, 6, 2))
    init_(a, "tanh", 1.0, 0.1, generator=torch.Generator().manual_seed(3))
    init_(b, "tanh", 1.0, 0.1, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_edge_of_chaos_tanh_uses_the_core_sigma_w():
    """init_edge_of_chaos_(tanh, 0.2) == init_ with sigma_w = eoc.edge_of_chaos('tanh', 0.2), recorded."""
    sigma_w = float(eoc.edge_of_chaos("tanh", 0.2))
    a = init_edge_of_chaos_(FFNN((5, 6, 2)), "tanh", 0.2, generator=torch.Generator().manual_seed(4))
    b = init_(FFNN((5, 6, 2)), "tanh", sigma_w, 0.2, generator=torch.Generator().manual_seed(4))
    assert a.eoc_init == {"act": "tanh", "sigma_w": sigma_w, "sigma_b": 0.2}
    assert sigma_w == pytest.approx(1.3041, abs=1e-4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_relu_edge_of_chaos_is_sqrt2_at_zero_bias():
    model = init_edge_of_chaos_(FFNN((3, 4, 2), "relu"), "relu", generator=torch.Generator().manual_seed(5))
    assert model.eoc_init["sigma_w"] == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError):
        init_edge_of_chaos_(FFNN((3, 4, 2), "relu"), "relu", 0.2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"act": "tanh", "sigma_w": -1.0}, "sigma_w=-1.0"),
        ({"act": "tanh", "sigma_w": 1.0, "sigma_b": -0.5}, "sigma_b=-0.5"),
        ({"act": "tanh", "sigma_w": [1.0, 2.0]}, "sigma_w must be a scalar"),
        ({"act": "nope", "sigma_w": 1.0}, "'nope'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_(FFNN((2, 2)), **kwargs)


def test_init_of_a_pruned_model_redraws_weight_orig_and_keeps_the_mask():
    model = FFNN((5, 6, 2))
    layer = model.linears[0]
    mask = (torch.arange(30).view(6, 5) % 3 == 0).float()
    torch.nn.utils.prune.custom_from_mask(layer, "weight", mask)
    before = layer.weight_orig.detach().clone()
    init_(model, "tanh", 1.0, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(layer.weight_orig, before) and torch.equal(layer.weight_mask, mask)
    assert torch.equal(layer.weight, layer.weight_orig * mask)
