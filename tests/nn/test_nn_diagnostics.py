"""Diagnostics: keep fractions, critical sparsity (docs/theory.md §4), gradient
norms per layer, and the layer-collapse check before training."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from eoc.nn import (
    FFNN,
    LayerCollapseWarning,
    check_layer_collapse,
    compute_scores,
    init_,
    keep_fractions,
    layer_gradient_norms,
    measured_critical_sparsity,
    measured_critical_sparsity_details,
    prunable_layers,
    prune_at_init,
    resnet,
)

pytestmark = pytest.mark.torch


def _model(seed=0):
    return init_(FFNN((20, 20, 20, 5)), "tanh", 1.2, 0.1, generator=torch.Generator().manual_seed(seed))


def _batch():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(8, 20, generator=gen), torch.randint(0, 5, (8,), generator=gen)


def test_keep_fractions():
    model = _model()
    assert keep_fractions(model) == {"linears.0": 1.0, "linears.1": 1.0, "linears.2": 1.0}
    prune_at_init(model, "magnitude", 0.75, scope="layer")
    assert keep_fractions(model) == {"linears.0": 0.25, "linears.1": 0.25, "linears.2": 0.25}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"a": [1.0, 2.0, 3.0], "b": [0.5, 2.5]}, (3 / 5, 2.5, "b")),  # below 2.5: 1, 2, 0.5
        ({"a": [1.0, 1.0, 1.0], "b": [1.0, 0.0]}, (1 / 5, 1.0, "a")),  # tie at the min: first layer
        ({"a": [4.0, 0.0, 0.0, 0.0]}, (3 / 4, 4.0, "a")),
    ],
)
def test_critical_sparsity_on_hand_made_scores(scores, expected):
    scores = {k: torch.tensor(v) for k, v in scores.items()}
    s_cr, t_cr, layer = measured_critical_sparsity_details(scores)
    assert (s_cr, t_cr, layer) == (pytest.approx(expected[0]), expected[1], expected[2])
    assert measured_critical_sparsity(scores) == s_cr


def test_critical_sparsity_is_the_last_sparsity_without_collapse():
    """Global magnitude pruning at s_cr keeps every layer; at s_cr + 1/M the argmin layer collapses."""
    model = _model()
    s_cr, _, layer = measured_critical_sparsity_details(compute_scores(model, "magnitude"))
    total = sum(m.weight.numel() for _, m in prunable_layers(model))
    prune_at_init(copy.deepcopy(model), "magnitude", s_cr)
    with pytest.warns(LayerCollapseWarning, match=repr(layer)):
        prune_at_init(copy.deepcopy(model), "magnitude", s_cr + 1 / total)


def test_critical_sparsity_rejects_bad_scores():
    with pytest.raises(ValueError, match="non-empty"):
        measured_critical_sparsity({})
    with pytest.raises(ValueError, match="'b'"):
        measured_critical_sparsity({"a": torch.ones(2), "b": torch.tensor([float("nan")])})


def test_layer_gradient_norms_match_autograd_and_leave_grad_alone():
    model = _model()
    x, y = _batch()
    norms = layer_gradient_norms(model, x, y)
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), [m.weight for m in model.linears])
    assert list(norms) == ["linears.0", "linears.1", "linears.2"]
    for got, g in zip(norms.values(), grads):
        assert got == pytest.approx(float(g.norm()), rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def _snapshot(model):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [m.training for m in model.modules()],
        [(len(m._forward_pre_hooks), len(m._forward_hooks)) for m in model.modules()],
    )


def _assert_untouched(model, snapshot):
    state, modes, hooks = snapshot
    now = model.state_dict()
    assert now.keys() == state.keys() and all(torch.equal(now[k], v) for k, v in state.items())
    assert [m.training for m in model.modules()] == modes
    assert [(len(m._forward_pre_hooks), len(m._forward_hooks)) for m in model.modules()] == hooks
    assert all(p.grad is None for p in model.parameters())
    assert not any(hasattr(m, "weight_mask") for m in model.modules())


def test_check_layer_collapse_flags_a_layer_of_tiny_weights_and_leaves_the_model_alone():
    """Layer 1 scaled by 1e-6: magnitude at s = 0.5 removes its 400 weights first."""
    model = _model()
    with torch.no_grad():
        model.linears[1].weight.mul_(1e-6)
    snapshot = _snapshot(model)
    with pytest.warns(LayerCollapseWarning, match="'linears.1'"):
        assert check_layer_collapse(model, "magnitude", 0.5) == ["linears.1"]
    _assert_untouched(model, snapshot)


@pytest.mark.parametrize("method", ["snip", "grasp", "synflow"])
def test_check_layer_collapse_on_a_batch_norm_resnet_leaves_it_alone(method):
    """Train-mode BatchNorm statistics are not updated by scoring (SNIP/GraSP), nor is the mode (SynFlow)."""
    model = resnet(8, num_classes=4, in_channels=1, width_multiplier=0.25)
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(4, 1, 8, 8, generator=gen), torch.arange(4)
    snapshot = _snapshot(model)
    assert check_layer_collapse(model, method, 0.5, x, y, rounds=2) == []
    _assert_untouched(model, snapshot)


def test_check_layer_collapse_sees_shortcut_convolutions():
    """A 1x1 shortcut whose scores are all tiny is reported like any other layer."""
    model = resnet(8, in_channels=1, width_multiplier=0.25)
    shortcut = model.layer3[0].shortcut[0]
    with torch.no_grad():
        shortcut.weight.mul_(1e-6)
    assert isinstance(shortcut, nn.Conv2d)
    with pytest.warns(LayerCollapseWarning, match="'layer3.0.shortcut.0'"):
        collapsed = check_layer_collapse(model, "magnitude", 0.5)
    assert collapsed == ["layer3.0.shortcut.0"]


def test_old_critical_sparsity_names_are_deprecated_aliases():
    """eoc.nn.critical_sparsity (a measurement) is renamed measured_critical_sparsity; the old
    names warn for one release and return the same values."""
    import eoc.nn

    scores = {"a": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([0.5, 2.5])}
    with pytest.warns(DeprecationWarning, match="measured_critical_sparsity"):
        assert eoc.nn.critical_sparsity(scores) == measured_critical_sparsity(scores)
    with pytest.warns(DeprecationWarning, match="measured_critical_sparsity_details"):
        assert eoc.nn.critical_sparsity_details(scores) == measured_critical_sparsity_details(scores)
