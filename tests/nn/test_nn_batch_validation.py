"""Every eoc.nn entry point validates its batch and options before any scoring.

Each bad input is a ValueError whose message names the argument and the bad value,
for every entry point that takes it (compute_scores, prune_at_init,
check_layer_collapse, layer_gradient_norms); the model is left untouched.  A float32
forward pass that overflows (a deep standard ResNet) says so and suggests float64 or
a Stable ResNet.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from eoc.nn import (
    FFNN,
    VGG,
    OneLayerResNet,
    check_layer_collapse,
    compute_scores,
    init_,
    layer_gradient_norms,
    prune_at_init,
)

IN, OUT, N = 20, 5, 8


def _model():
    return init_(FFNN((IN, 16, OUT)), "tanh", 1.2, 0.1, generator=torch.Generator().manual_seed(0))


def _x(*shape):
    return torch.randn(*(shape or (N, IN)), generator=torch.Generator().manual_seed(1))


def _y(n=N):
    return torch.arange(n) % OUT


def _nan_loss(outputs, targets):
    return outputs.sum() * float("nan")


def _vector_loss(outputs, targets):
    return outputs.sum(-1)


def _nan_inputs():
    x = _x()
    x[2, 3] = float("nan")
    return x


def _inf_inputs():
    x = _x()
    x[0, 0] = float("inf")
    x[1, 1] = -float("inf")
    return x


BATCH_CASES = {
    "feature_shape": (lambda: (_x(N, IN + 1), _y()), {}, "inputs of shape (8, 21) do not match FFNN.input_shape=(20,)"),
    "not_a_tensor": (lambda: (_x().tolist(), _y()), {}, "inputs must be a torch.Tensor"),
    "0d_inputs": (lambda: (torch.tensor(1.0), _y()), {}, "inputs must have a batch dimension"),
    "empty_batch": (lambda: (_x(0, IN), _y(0)), {}, "inputs is an empty batch: shape (0, 20)"),
    "nan_inputs": (lambda: (_nan_inputs(), _y()), {}, "inputs contain 1 NaN of 160 entries"),
    "inf_inputs": (lambda: (_inf_inputs(), _y()), {}, "inputs contain 2 inf of 160 entries"),
    "size_mismatch": (lambda: (_x(), _y(N - 1)), {}, "targets of shape (7,) do not match inputs of shape (8, 20)"),
    "targets_not_a_tensor": (lambda: (_x(), [0] * N), {}, "targets must be a torch.Tensor, got list"),
    "target_too_large": (lambda: (_x(), _y().index_fill(0, torch.tensor([3]), OUT)), {}, "got a target 5"),
    "target_negative": (lambda: (_x(), _y().index_fill(0, torch.tensor([0]), -3)), {}, "got a target -3"),
    "float_class_indices": (lambda: (_x(), _y().float()), {}, "targets has dtype torch.float32 and shape (8,)"),
    "bool_targets": (lambda: (_x(), _y() > 1), {}, "targets has dtype torch.bool"),
    "probabilities_shape": (lambda: (_x(), torch.full((N, OUT + 1), 1 / 6)), {}, "class probabilities"),
    "nan_probabilities": (lambda: (_x(), torch.full((N, OUT), float("nan"))), {}, "targets contain 40 NaN"),
    "nan_loss": (lambda: (_x(), _y()), {"loss_fn": _nan_loss}, "the loss (loss_fn='_nan_loss') is nan"),
    "vector_loss": (lambda: (_x(), _y()), {"loss_fn": _vector_loss}, "loss_fn must return a scalar tensor"),
    "loss_not_callable": (lambda: (_x(), _y()), {"loss_fn": 3}, "loss_fn must be callable, got loss_fn=3"),
}

ENTRY_POINTS = {
    "compute_scores": lambda m, x, y, kw: compute_scores(m, "snip", x, y, **kw),
    "compute_scores_grasp": lambda m, x, y, kw: compute_scores(m, "grasp", x, y, **kw),
    "prune_at_init": lambda m, x, y, kw: prune_at_init(m, "snip", 0.5, x, y, **kw),
    "check_layer_collapse": lambda m, x, y, kw: check_layer_collapse(m, "grasp", 0.5, x, y, **kw),
    "layer_gradient_norms": lambda m, x, y, kw: layer_gradient_norms(m, x, y, **kw),
}


@pytest.mark.parametrize("case", list(BATCH_CASES))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_bad_batch_raises_naming_the_argument_and_value(entry, case):
    make, kwargs, match = BATCH_CASES[case]
    x, y = make()
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(match)):
        ENTRY_POINTS[entry](model, x, y, kwargs)
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not any(hasattr(m, "weight_mask") for m in model.modules())


@pytest.mark.parametrize("method", ["random", "magnitude", "synflow"])
def test_data_free_methods_validate_a_batch_they_are_given(method):
    with pytest.raises(ValueError, match=re.escape("inputs contain 1 NaN")):
        prune_at_init(_model(), method, 0.5, _nan_inputs())
    with pytest.raises(ValueError, match="targets given without inputs"):
        compute_scores(_model(), method, None, _y())


def test_a_forward_pass_that_fails_reports_the_shape_of_inputs():
    """VGG has no input_shape: a wrong channel count fails in conv2d, reported with the shape."""
    model = VGG([4, "M", 4], in_channels=1, num_classes=3, batch_norm=False)
    with pytest.raises(ValueError, match=re.escape("failed on inputs of shape (4, 2, 8, 8)")):
        compute_scores(model, "snip", torch.zeros(4, 2, 8, 8), torch.zeros(4, dtype=torch.long))


OPTION_CASES = [
    ({"bn_mode": "bogus"}, "bn_mode='bogus'"),
    ({"bn_mode": None}, "bn_mode=None"),
    ({"temperature": 0}, "temperature=0"),
    ({"temperature": -1.0}, "temperature=-1.0"),
    ({"temperature": math.nan}, "temperature=nan"),
    ({"temperature": math.inf}, "temperature=inf"),
    ({"temperature": "200"}, "temperature='200'"),
    ({"temperature": True}, "temperature=True"),
    ({"parameters_to_prune": ["nope"]}, "parameters_to_prune entry 'nope'"),
    ({"parameters_to_prune": ["linears.0.gamma"]}, "'linears.0.gamma'"),
    ({"parameters_to_prune": [3]}, "got 3"),
    ({"parameters_to_prune": [(nn.Linear(2, 2), "weight")]}, "not part of the model"),
    ({"parameters_to_prune": ["linears.0", "linears.0"]}, "lists 'linears.0' more than once"),
    ({"parameters_to_prune": ["linears.0"], "prune_bias": True}, "prune_bias/prune_batchnorm"),
    ({"parameters_to_prune": []}, "nothing to prune"),
    ({"exclude": ["linears.7"]}, "exclude entry 'linears.7'"),
    ({"exclude": ["linears.0", "linears.1"]}, "nothing to prune"),
    ({"prune_bias": "yes"}, "prune_bias='yes'"),
    ({"prune_batchnorm": 1}, "prune_batchnorm=1"),
]


@pytest.mark.parametrize(("kwargs", "match"), OPTION_CASES, ids=[str(k) for k, _ in OPTION_CASES])
@pytest.mark.parametrize("entry", ["compute_scores", "prune_at_init", "check_layer_collapse"])
def test_a_bad_option_raises_naming_it(entry, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        ENTRY_POINTS[entry](_model(), _x(), _y(), kwargs)


def test_layer_gradient_norms_rejects_a_bad_bn_mode():
    with pytest.raises(ValueError, match="bn_mode='nope'"):
        layer_gradient_norms(_model(), _x(), _y(), bn_mode="nope")


def _deep_resnet(dtype=torch.float32, alpha=1.0):
    model = OneLayerResNet(8, 16, depth=400, output_dim=4, activation="relu", alpha=alpha)
    return init_(model, "relu", math.sqrt(2.0), generator=torch.Generator().manual_seed(4)).to(dtype)


@pytest.mark.parametrize("entry", ["compute_scores", "prune_at_init", "layer_gradient_norms"])
def test_a_float32_overflow_says_so_and_suggests_float64_or_a_stable_resnet(entry):
    """A standard ResNet of depth 400 grows like 2^(l/2): inf in float32 (max 3.4e38) near l = 255."""
    with pytest.raises(ValueError, match=r"overflows in float32.*float64.*Stable ResNet"):
        ENTRY_POINTS[entry](_deep_resnet(), _x(4, 8), torch.arange(4), {})


def test_the_suggested_remedies_work():
    """The same network in float64, and the Stable ResNet (alpha = 1/sqrt(L)) in float32, score finitely."""
    x, y = _x(4, 8), torch.arange(4)
    for model, inputs in ((_deep_resnet(torch.float64), x.double()), (_deep_resnet(alpha="stable"), x)):
        scores = compute_scores(model, "snip", inputs, y)
        assert all(bool(torch.isfinite(s).all()) for s in scores.values())
