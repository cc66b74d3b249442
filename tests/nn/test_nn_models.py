"""Reference networks and the torch activation factory.

The factory is checked pointwise against the numpy activations of :mod:`eoc`, so a
network built from a name is the network whose mean-field maps eoc computes.
"""

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

import eoc
from eoc.nn import (
    FFNN,
    VGG,
    BasicBlock,
    OneLayerResNet,
    prunable_layers,
    resnet,
    resnet32,
    resnet50,
    resnet104,
    torch_activation,
)

pytestmark = pytest.mark.torch

VARIANTS = [(name, {}) for name in eoc.available_activations()] + [
    ("leaky_relu", {"negative_slope": 0.2}),
    ("softplus", {"beta": 2.0}),
    ("elu", {"alpha": 0.5}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {"beta": 2.0}),
]


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=lambda v: str(v))
def test_torch_activation_equals_eoc_activation(name, params):
    """torch_activation(name, **p)(x) == eoc.get_activation(name, **p)(x) on a grid."""
    x = np.linspace(-5.0, 5.0, 201)
    module = torch_activation(name, **params)
    got = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, eoc.get_activation(name, **params)(x), rtol=1e-12, atol=1e-12)


def test_torch_activation_rejects_unknown_name():
    with pytest.raises(ValueError, match="'nope'"):
        torch_activation("nope")
    with pytest.raises(ValueError, match="user-defined"):
        torch_activation(np.tanh)  # a callable named "tanh" is not the registry's tanh
    assert isinstance(torch_activation(eoc.get_activation("leaky_relu", negative_slope=0.3)), nn.LeakyReLU)


def test_ffnn_structure_and_forward():
    """Linear layers (d, N1, ..., out); flattens images; activation between layers only."""
    model = FFNN((12, 7, 5, 3), "linear", bias=False)
    assert [m.weight.shape for _, m in prunable_layers(model)] == [(7, 12), (5, 7), (3, 5)]
    assert model.input_shape == (12,)
    x = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    w1, w2, w3 = (m.weight for m in model.linears)
    torch.testing.assert_close(model(x), x.flatten(1) @ (w3 @ w2 @ w1).T)


def test_ffnn_rejects_bad_widths():
    with pytest.raises(ValueError, match="widths"):
        FFNN((5,))


def test_vgg19_runs_on_digits_and_cifar_sizes():
    """16 convolutions + classifier; max-pools below 1x1 are skipped (8x8 input)."""
    model = VGG("vgg19", in_channels=1, num_classes=10, width_multiplier=1 / 16)
    layers = prunable_layers(model)
    assert len(layers) == 17 and isinstance(layers[-1][1], nn.Linear)
    assert all(m.bias is None for _, m in layers[:-1])  # BatchNorm follows every conv
    gen = torch.Generator().manual_seed(0)
    assert model(torch.randn(2, 1, 8, 8, generator=gen)).shape == (2, 10)
    assert model(torch.randn(2, 1, 32, 32, generator=gen)).shape == (2, 10)


def test_vgg_custom_config_without_batch_norm():
    model = VGG([4, "M", 6], in_channels=3, num_classes=5, activation="tanh", batch_norm=False)
    convs = [m for _, m in prunable_layers(model)][:-1]
    assert [c.out_channels for c in convs] == [4, 6] and all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.zeros(1, 3, 5, 5)).shape == (1, 5)


@pytest.mark.parametrize("config", ["vgg7", [4, "X"], ["M"]])
def test_vgg_rejects_bad_config(config):
    with pytest.raises(ValueError, match="config"):
        VGG(config)


def test_one_layer_resnet_recursion_and_stable_alpha():
    """y <- y + alpha (W phi(y) + b); alpha='stable' is 1/sqrt(depth), a state_dict buffer."""
    model = OneLayerResNet(3, 6, depth=4, output_dim=2, activation="tanh", alpha="stable")
    assert float(model.alpha) == pytest.approx(0.5) and "alpha" in model.state_dict()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    y = model.input(x)
    for block in model.blocks:
        y = y + 0.5 * block(torch.tanh(y))
    torch.testing.assert_close(model(x), model.output(torch.tanh(y)))


def test_one_layer_resnet_of_depth_zero_is_an_ffnn():
    resnet0 = OneLayerResNet(4, 8, depth=0, output_dim=3, activation="relu")
    ffnn = FFNN((4, 8, 3), "relu")
    ffnn.linears[0].load_state_dict(resnet0.input.state_dict())
    ffnn.linears[1].load_state_dict(resnet0.output.state_dict())
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(resnet0(x), ffnn(x))


def test_one_layer_resnet_rejects_bad_alpha():
    with pytest.raises(ValueError, match="alpha='steady'"):
        OneLayerResNet(2, 3, 2, 1, alpha="steady")
    with pytest.raises(ValueError, match="alpha"):
        OneLayerResNet(2, 3, 2, 1, alpha=-1.0)


def _blocks(model):
    return [m for m in model.modules() if isinstance(m, BasicBlock)]


def test_resnet32_blocks_and_prunable_layers():
    """ResNet32: 3 x 5 blocks; stem + 2 convs per block + 2 shortcut 1x1 convs + fc = 34 layers."""
    model = resnet32()
    assert len(_blocks(model)) == 15
    layers = dict(prunable_layers(model))
    assert len(layers) == 34
    shortcuts = [n for n, m in layers.items() if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert shortcuts == ["layer2.0.shortcut.0", "layer3.0.shortcut.0"]
    assert list(layers)[-1] == "fc"


@pytest.mark.parametrize(("factory", "blocks"), [(resnet50, 24), (resnet104, 51)])
def test_resnet_family_block_counts(factory, blocks):
    assert len(_blocks(factory(width_multiplier=0.25))) == blocks


@pytest.mark.parametrize("stable", [False, True])
def test_stable_resnet_branch_scale_is_a_saved_buffer(stable):
    """Stable: every branch scaled by 1/sqrt(3n) through a state_dict buffer, not a parameter."""
    model = resnet32(stable=stable, width_multiplier=0.25)
    expected = 1 / math.sqrt(15) if stable else 1.0
    assert all(float(b.branch_scale) == pytest.approx(expected, rel=1e-7) for b in _blocks(model))
    assert not any("branch_scale" in n for n, _ in model.named_parameters())
    state = model.state_dict()
    assert float(state["layer3.4.branch_scale"]) == pytest.approx(expected, rel=1e-7)
    fresh = resnet32(stable=not stable, width_multiplier=0.25)
    fresh.load_state_dict(state)
    assert all(float(b.branch_scale) == pytest.approx(expected, rel=1e-7) for b in _blocks(fresh))
    assert float(_blocks(copy.deepcopy(model))[0].branch_scale) == pytest.approx(expected, rel=1e-7)


def test_basic_block_scales_the_branch_not_the_shortcut():
    torch.manual_seed(0)
    block = BasicBlock(2, 4, stride=2, branch_scale=0.25).eval()
    x = torch.randn(3, 2, 6, 6)
    branch = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
    torch.testing.assert_close(block(x), torch.relu(0.25 * branch + block.shortcut(x)))


def test_tiny_resnet_forward_on_digits():
    model = resnet(8, num_classes=10, stable=True, in_channels=1, width_multiplier=0.25)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("depth", [33, 2, 7, 8.0])
def test_resnet_rejects_depths_not_6n_plus_2(depth):
    with pytest.raises(ValueError, match=f"depth={depth!r}"):
        resnet(depth)
