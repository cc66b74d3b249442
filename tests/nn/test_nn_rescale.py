"""The rescaling trick (docs/theory.md §5).

Per neuron: sum_j (rho_i W_ij delta_ij)^2 == sum_j W_ij^2 for every neuron with a
kept weight (Linear rows, Conv output channels over input channels x kernel);
per layer: the same for the whole layer; population: rho = sigma_w / sigma_w,eff.
"""

import math

import pytest
import torch
from scipy import stats
from torch import nn
from torch.nn.utils import prune

import eoc
from eoc.nn import FFNN, init_, prune_at_init, rescale_, rescale_factors

pytestmark = pytest.mark.torch


def _pruned_layer(layer: nn.Module, keep: float, seed: int) -> nn.Module:
    """Random mask with keep fraction ``keep``, and output unit 0 fully pruned."""
    gen = torch.Generator().manual_seed(seed)
    mask = (torch.rand(layer.weight.shape, generator=gen) < keep).float()
    mask[0] = 0
    prune.custom_from_mask(layer, "weight", mask)
    return layer


LAYERS = {
    "linear": lambda: nn.Linear(12, 7),
    "conv": lambda: nn.Conv2d(3, 5, 3),
    "grouped_conv": lambda: nn.Conv2d(4, 6, 3, groups=2),
}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_neuron_rescaling_restores_every_row_norm(kind):
    torch.manual_seed(0)
    layer = _pruned_layer(LAYERS[kind](), keep=0.4, seed=1)
    original = layer.weight_orig.detach().clone()
    rescale_(layer)
    row_before = original.square().flatten(1).sum(1)
    row_after = layer.weight.detach().square().flatten(1).sum(1)
    alive = layer.weight_mask.flatten(1).any(1)
    assert not alive[0] and alive[1:].all()
    torch.testing.assert_close(row_after[alive], row_before[alive])
    assert torch.all(layer.weight[layer.weight_mask == 0] == 0)


def test_layer_rescaling_restores_the_layer_norm():
    torch.manual_seed(0)
    layer = _pruned_layer(nn.Conv2d(3, 5, 3), keep=0.3, seed=2)
    before = layer.weight_orig.detach().square().sum()
    factors = rescale_factors(layer, "layer")
    assert factors[""].shape == ()
    rescale_(layer, "layer")
    torch.testing.assert_close(layer.weight.detach().square().sum(), before)


def test_factors_do_not_modify_the_model_and_dead_neurons_get_one():
    torch.manual_seed(0)
    layer = _pruned_layer(nn.Linear(10, 4), keep=0.5, seed=3)
    before = layer.weight_orig.detach().clone()
    rho = rescale_factors(layer)[""]
    assert rho.shape == (4,) and rho.dtype == torch.float64 and rho[0] == 1.0 and (rho[1:] >= 1).all()
    assert torch.equal(layer.weight_orig, before)


def test_rescale_returns_the_model_and_skips_unmasked_layers():
    model = init_(FFNN((8, 16, 16, 4)), "tanh", 1.3, generator=torch.Generator().manual_seed(0))
    prune.custom_from_mask(model.linears[1], "weight", torch.rand(16, 16) < 0.5)
    untouched = model.linears[0].weight.detach().clone()
    assert rescale_(model) is model
    assert torch.equal(model.linears[0].weight, untouched)
    assert list(rescale_factors(model)) == ["linears.1"]


@pytest.mark.parametrize("method", ["random", "magnitude"])
def test_population_factor_is_sigma_w_over_sigma_w_eff(method):
    """random: rho = 1/sqrt(k); magnitude: rho = 1/sqrt(k + 2 tau phi(tau)), tau = Phi^-1(1 - k/2)."""
    model = init_(FFNN((20, 30, 30, 5), "tanh"), "tanh", 1.3, generator=torch.Generator().manual_seed(0))
    prune_at_init(model, method, 0.7, scope="layer", generator=torch.Generator().manual_seed(1))
    for name, rho in rescale_factors(model, "population", method=method).items():
        module = dict(model.named_modules())[name]
        k = int(module.weight_mask.sum()) / module.weight_mask.numel()
        tau = stats.norm.ppf(1 - k / 2)
        var = k if method == "random" else k + 2 * tau * stats.norm.pdf(tau)
        assert float(rho) == pytest.approx(1 / math.sqrt(var), rel=1e-8)
    rescale_(model, "population", method=method)


def test_population_factor_for_snip_uses_the_product_normal_model():
    model = init_(FFNN((20, 30, 30, 5), "tanh"), "tanh", 1.3, generator=torch.Generator().manual_seed(0))
    x, y = torch.randn(16, 20, generator=torch.Generator().manual_seed(2)), torch.arange(16) % 5
    prune_at_init(model, "snip", 0.6, x, y, scope="layer")
    for name, rho in rescale_factors(model, "population", method="snip").items():
        module = dict(model.named_modules())[name]
        k = int(module.weight_mask.sum()) / module.weight_mask.numel()
        assert float(rho) == pytest.approx(float(eoc.rescale_factor("snip", k)), rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "bogus"}, "mode='bogus'"),
        ({"mode": "population"}, "method=None"),
        ({"mode": "population", "method": "grasp"}, "method='grasp'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    layer = _pruned_layer(nn.Linear(3, 2), keep=0.5, seed=0)
    with pytest.raises(ValueError, match=match):
        rescale_factors(layer, **kwargs)


def test_unpruned_model_raises():
    with pytest.raises(ValueError, match="no pruned layer"):
        rescale_(FFNN((3, 2)))


def test_population_mode_calls_the_core_with_unit_sigma_w(monkeypatch):
    """Contract with eoc.effective_sigma_w(method, keep_fraction, sigma_w): rho = 1 / value at sigma_w = 1."""
    calls = []

    def fake(method, keep_fraction, sigma_w):
        calls.append((method, keep_fraction, sigma_w))
        return 0.5

    monkeypatch.setattr(eoc, "effective_sigma_w", fake, raising=False)
    layer = _pruned_layer(nn.Linear(10, 4), keep=0.5, seed=3)
    rho = rescale_factors(layer, "population", method="magnitude")[""]
    assert float(rho) == 2.0
    assert calls == [("magnitude", int(layer.weight_mask.sum()) / 40, 1.0)]


def _pruned_ffnn(seed=0):
    model = init_(FFNN((20, 30, 30, 5), "tanh"), "tanh", 1.3, generator=torch.Generator().manual_seed(seed))
    prune_at_init(model, "magnitude", 0.8)
    return model


def _effective(model):
    return [(m.weight_orig * m.weight_mask).detach().clone() for m in model.linears]


@pytest.mark.parametrize("mode", ["neuron", "layer", "population"])
def test_rescale_is_idempotent(mode):
    """A second rescale_ changes nothing: the target is the unpruned norm, remembered."""
    model = _pruned_ffnn()
    rescale_(model, mode, method="magnitude")
    once = _effective(model)
    rescale_(model, mode, method="magnitude")
    assert all(torch.equal(a, b) for a, b in zip(once, _effective(model)))
    assert torch.equal(model.linears[0].weight, once[0])


def test_a_second_mode_replaces_the_first_instead_of_compounding():
    """rescale_(neuron) then rescale_(layer) == rescale_(layer) alone; factors are those of the pruned weights."""
    a, b = _pruned_ffnn(), _pruned_ffnn()
    factors = rescale_factors(a, "layer")
    rescale_(a, "neuron")
    rescale_(a, "layer")
    rescale_(b, "layer")
    for x, y in zip(_effective(a), _effective(b)):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=0)
    for k, v in rescale_factors(a, "layer").items():  # still the factors of the pruned weights
        torch.testing.assert_close(v, factors[k], rtol=1e-6, atol=0)


def test_rescale_restores_the_unpruned_row_norms_even_after_masking_in_place():
    """Kept row norms = unpruned row norms; whole rows of weight_orig are scaled (as eoc.sim does);
    the remembered unpruned norms keep rescale_ idempotent after inplace_masks_ zeroed the pruned entries."""
    from eoc.nn import inplace_masks_

    model = _pruned_ffnn()
    before = [m.weight_orig.detach().clone() for m in model.linears]
    rho = rescale_factors(model)
    rescale_(model)
    for w0, m, r in zip(before, model.linears, rho.values()):
        rows = m.weight_mask.bool().any(1)
        torch.testing.assert_close(
            (m.weight_orig * m.weight_mask).square().sum(1)[rows], w0.square().sum(1)[rows], rtol=1e-5, atol=0
        )
        torch.testing.assert_close(m.weight_orig.double(), w0.double() * r[:, None], rtol=1e-6, atol=0)
    assert "linears.0.weight_rescale" not in model.state_dict()
    once = _effective(model)
    inplace_masks_(model)
    rescale_(model)
    assert all(torch.equal(a, b) for a, b in zip(once, _effective(model)))
    rescale_(model, "layer")  # a change of mode still works: the unpruned norms are remembered
    fresh = _pruned_ffnn()
    rescale_(fresh, "layer")
    for a, b in zip(_effective(fresh), _effective(model)):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
