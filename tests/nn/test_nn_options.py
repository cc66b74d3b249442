"""Scoring options: the BatchNorm mode, GraSP's temperature, and what is prunable.

Defaults are tested against their documented values (eval mode: Lee et al.'s SNIP
code and Tanaka et al.'s benchmark; temperature 200: Wang et al.'s GraSP code), and
every option against scores computed by hand with plain autograd.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import eoc.nn
from eoc.nn import (
    BN_MODES,
    DEFAULT_BN_MODE,
    GRASP_TEMPERATURE,
    VGG,
    check_layer_collapse,
    compute_scores,
    init_,
    keep_fractions,
    load_pruned_state_dict_,
    prunable_tensors,
    prune_at_init,
)


def _bn_model(seed=0):
    model = VGG([4, "M", 6], in_channels=1, num_classes=3)  # conv-BN-relu, pool, conv-BN-relu, linear
    init_(model, "relu", 2**0.5, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():  # non-trivial BatchNorm state, as after some training
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5, generator=torch.Generator().manual_seed(seed + 1))
                m.running_var.uniform_(0.5, 2.0, generator=torch.Generator().manual_seed(seed + 2))
                m.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(seed + 3))
                m.bias.uniform_(-0.2, 0.2, generator=torch.Generator().manual_seed(seed + 4))
    return model


def _batch(n=6):
    g = torch.Generator().manual_seed(7)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def _weights(model):
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _snip_by_hand(model, x, y, train):
    model.train(train)
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), _weights(model))
    return [(w * g).abs().detach() for w, g in zip(_weights(model), grads)]


def _grasp_by_hand(model, x, y, temperature, train=False):
    model.train(train)
    w = _weights(model)
    g = torch.autograd.grad(F.cross_entropy(model(x) / temperature, y), w, create_graph=True)
    hg = torch.autograd.grad(sum((a * a.detach()).sum() for a in g), w)
    return [(p * h).detach() for p, h in zip(w, hg)]


def test_documented_defaults():
    assert DEFAULT_BN_MODE == "eval" and BN_MODES == ("eval", "train", "model")
    assert GRASP_TEMPERATURE == 200.0
    for fn in (compute_scores, prune_at_init, check_layer_collapse):
        params = inspect.signature(fn).parameters
        assert params["bn_mode"].default == "eval" and params["temperature"].default == 200.0
    assert inspect.signature(eoc.nn.layer_gradient_norms).parameters["bn_mode"].default == "model"


@pytest.mark.parametrize(("bn_mode", "train"), [("eval", False), ("train", True)])
def test_snip_scores_in_the_requested_batchnorm_mode(bn_mode, train):
    """eval: running statistics; train: batch statistics -- equal to plain autograd in that mode."""
    model = _bn_model()
    x, y = _batch()
    got = compute_scores(model, "snip", x, y, bn_mode=bn_mode)
    for g, e in zip(got.values(), _snip_by_hand(_bn_model(), x, y, train)):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-7)


def test_the_two_modes_differ_and_model_mode_follows_the_model():
    model = _bn_model()
    x, y = _batch()
    ev = compute_scores(model, "snip", x, y)
    tr = compute_scores(model, "snip", x, y, bn_mode="train")
    assert not all(torch.allclose(a, b) for a, b in zip(ev.values(), tr.values()))
    model.train()
    as_model = compute_scores(model, "snip", x, y, bn_mode="model")
    assert all(torch.equal(a, b) for a, b in zip(as_model.values(), tr.values()))
    assert model.training and all(m.training for m in model.modules())  # modes restored
    model.eval()
    compute_scores(model, "snip", x, y, bn_mode="train")
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("temperature", [None, 1.0, 7.5])
def test_grasp_temperature_divides_the_logits(temperature):
    """Default T = 200; importances = +W Hg of cross_entropy(outputs / T)."""
    model = _bn_model()
    x, y = _batch()
    kwargs = {} if temperature is None else {"temperature": temperature}
    got = compute_scores(model, "grasp", x, y, **kwargs)
    want = _grasp_by_hand(_bn_model(), x, y, 200.0 if temperature is None else temperature)
    for g, e in zip(got.values(), want):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-9 * float(e.abs().max()))


def test_temperature_does_not_change_snip():
    model = _bn_model()
    x, y = _batch()
    a = compute_scores(model, "snip", x, y, temperature=3.0)
    b = compute_scores(model, "snip", x, y)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_prune_bias_and_batchnorm_select_what_synaptic_flow_selects():
    """--prune-bias adds the biases of Linear/Conv (and BN with --prune-batchnorm), keyed '<module>.bias'."""
    model = _bn_model()
    keys = lambda **kw: [t.key for t in prunable_tensors(model, **kw)]  # noqa: E731
    assert keys() == ["features.0", "features.4", "classifier"]
    assert keys(prune_bias=True) == ["features.0", "features.4", "classifier", "classifier.bias"]
    assert keys(prune_batchnorm=True) == ["features.0", "features.1", "features.4", "features.5", "classifier"]
    assert keys(prune_bias=True, prune_batchnorm=True) == [
        "features.0", "features.1", "features.1.bias", "features.4", "features.5", "features.5.bias",
        "classifier", "classifier.bias",
    ]  # fmt: skip


def test_parameters_to_prune_and_exclude_like_global_unstructured():
    model = _bn_model()
    conv2 = model.features[4]
    explicit = [(model.classifier, "bias"), (conv2, "weight"), "features.0"]
    assert [t.key for t in prunable_tensors(model, explicit)] == ["features.0", "features.4", "classifier.bias"]
    assert [t.key for t in prunable_tensors(model, exclude=["classifier"])] == ["features.0", "features.4"]
    assert [t.key for t in prunable_tensors(model, exclude=conv2)] == ["features.0", "classifier"]
    assert [t.key for t in prunable_tensors(model, exclude=["classifier.bias"], prune_bias=True)] == [
        "features.0", "features.4", "classifier",
    ]  # fmt: skip


def test_pruning_biases_and_batchnorm_weights_end_to_end():
    """Global SNIP over weights, biases and BN weights: exact count, masks in the torch
    prune format on every selected tensor, unselected tensors untouched, state_dict reloads."""
    model = _bn_model()
    x, y = _batch()
    scores = compute_scores(model, "snip", x, y, prune_bias=True, prune_batchnorm=True)
    masks = prune_at_init(model, "snip", 0.6, x, y, prune_bias=True, prune_batchnorm=True)
    assert list(masks) == list(scores)
    total = sum(s.numel() for s in scores.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.4 * total)
    kept = torch.cat([s[m.bool()] for s, m in zip(scores.values(), masks.values())])
    pruned = torch.cat([s[~m.bool()] for s, m in zip(scores.values(), masks.values())])
    assert kept.min() >= pruned.max()
    bn = model.features[1]
    assert hasattr(bn, "weight_mask") and hasattr(bn, "bias_mask") and torch.equal(bn.weight_mask, masks["features.1"])
    assert torch.all(bn.weight[masks["features.1"] == 0] == 0)
    assert set(keep_fractions(model)) == set(masks)
    fresh = load_pruned_state_dict_(VGG([4, "M", 6], in_channels=1, num_classes=3), model.state_dict())
    model.eval(), fresh.eval()
    torch.testing.assert_close(fresh(x), model(x))


def test_biases_do_not_count_as_layer_collapse():
    model = _bn_model()
    x, y = _batch()
    explicit = [(model.classifier, "bias"), "features.0"]
    with torch.no_grad():
        model.classifier.bias.mul_(1e-9)  # magnitude prunes the 3 biases first (36 conv weights kept)
    assert check_layer_collapse(model, "magnitude", 3 / 39, x, y, parameters_to_prune=explicit) == []
    masks = prune_at_init(model, "magnitude", 3 / 39, parameters_to_prune=explicit)
    assert not masks["classifier.bias"].any() and masks["features.0"].all()


def test_excluding_a_container_excludes_everything_below_it():
    from eoc.nn import resnet

    model = resnet(8, in_channels=1, width_multiplier=0.25)
    keys = [t.key for t in prunable_tensors(model, exclude=["layer3", model.fc])]
    assert keys and not any(k.startswith("layer3") or k == "fc" for k in keys)
    assert "layer2.0.shortcut.0" in keys
