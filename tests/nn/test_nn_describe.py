"""eoc.nn.describe: the theory's description of a PyTorch model (docs/theory.md §1, §6).

On every model kind: the weight counts equal the model's prunable parameters, the names match
prunable_layers, the inferred sigma_w lies within sampling error (and 2% for large layers) of the init's,
residual branches and shortcuts are found, and what the theory does not cover is said.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import eoc
import eoc.nn as enn


# A torchvision-style ResNet (two-conv BasicBlocks, 1x1 projection shortcuts), written here: no torchvision.
class TVBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TVResNet(nn.Module):
    def __init__(self, layers=(2, 2), width=8, num_classes=10):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(2 * width, layers[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2 * width, num_classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [TVBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [TVBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _models():
    """(label, model, input shape, activation of init, sigma_w, sigma_b)."""
    sq = math.sqrt(2.0)
    return [
        ("ffnn", enn.FFNN([64, 300, 300, 10], "tanh"), None, "tanh", 1.3, 0.2),
        ("vgg", enn.VGG("vgg11", 1, 10, width_multiplier=0.5), (1, 8, 8), "relu", sq, 0.0),
        ("vgg-no-bn", enn.VGG("vgg11", 3, 10, batch_norm=False, width_multiplier=0.25), (3, 16, 16), "relu", sq, 0.1),
        ("one-layer-resnet", enn.OneLayerResNet(16, 128, 4, 5, alpha="stable"), None, "relu", 1.2, 0.1),
        ("resnet", enn.resnet(8, width_multiplier=1.0), (3, 16, 16), "relu", sq, 0.0),
        ("resnet-stable", enn.resnet(14, stable=True), (3, 16, 16), "relu", sq, 0.0),
        ("sequential-mlp", nn.Sequential(nn.Flatten(), nn.Linear(48, 200), nn.Tanh(), nn.Linear(200, 7)), (3, 4, 4), "tanh", 1.1, 0.3),
        (
            "sequential-cnn",
            nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, padding=2),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)),
            (3, 12, 12), "relu", sq, 0.05,
        ),  # fmt: skip
        ("torchvision-resnet", TVResNet(), (3, 32, 32), "relu", sq, 0.0),
        ("bare-linear", nn.Linear(400, 300), (400,), "linear", 1.0, 0.5),
    ]


@pytest.mark.parametrize("label, model, shape, act, sw, sb", _models(), ids=[m[0] for m in _models()])
def test_describe_matches_the_model_on_every_kind(label, model, shape, act, sw, sb):
    """Names = prunable_layers, weight counts = the weights' numel, fan-in = numel of one output unit's weights,
    sigma_w and sigma_b inferred within sampling error of the init (and within 2% where a layer has >= 20,000
    weights: the relative error of sqrt(mean W^2) is 1/sqrt(2M))."""
    enn.init_(model, act, sw, sb, generator=torch.Generator().manual_seed(1))
    arch = enn.describe(model, shape)
    layers = enn.prunable_layers(model)
    assert arch.names == tuple(name for name, _ in layers)
    for layer, (_, module) in zip(arch.layers, layers):
        assert layer.n_weights == module.weight.numel()
        assert layer.fan_in == module.weight[0].numel()
        m = module.weight.numel()
        assert abs(layer.sigma_w / sw - 1) < 5 / math.sqrt(2 * m)
        if m >= 20000:
            assert abs(layer.sigma_w / sw - 1) < 0.02
        if module.bias is None:
            assert layer.sigma_b == 0.0
        elif sb > 0:
            assert abs(layer.sigma_b / sb - 1) < 5 / math.sqrt(2 * module.bias.numel())
    assert int(arch.n_weights.sum()) == sum(m.weight.numel() for _, m in layers)


def test_residual_structure_of_the_eoc_resnets():
    """eoc.nn.ResNet: stem and classifier on the main path, the two convolutions of every BasicBlock in its branch
    with the Stable scale 1/sqrt(3n), the 1x1 convolutions on the shortcuts."""
    model = enn.resnet(14, stable=True)  # n = 2 blocks per stage
    arch = enn.describe(model, (3, 16, 16))
    roles = dict(zip(arch.names, arch.roles))
    assert roles["conv1"] == roles["fc"] == "main"
    assert all(roles[f"layer{s}.{b}.conv{c}"] == "branch" for s in (1, 2, 3) for b in (0, 1) for c in (1, 2))
    assert roles["layer2.0.shortcut.0"] == roles["layer3.0.shortcut.0"] == "shortcut"
    assert arch.n_blocks == 6 and arch.kind == "resnet"
    assert arch.alpha == pytest.approx(1 / math.sqrt(6), rel=1e-7)  # the buffer is float32
    assert arch.layers[arch.index("layer3.0.conv1")].out_spatial == (4, 4)
    assert arch.layers[arch.index("layer3.0.conv1")].stride == (2, 2)
    assert any("BatchNorm" in note for note in arch.notes)


def test_residual_structure_of_a_torchvision_style_resnet():
    """The torchvision idiom (`out += identity`, an inplace ReLU module reused, downsample = conv1x1 + BN): branches,
    projection shortcuts and the (unit) branch scale are found; max-pool and adaptive pooling are recorded."""
    arch = enn.describe(TVResNet(), (3, 32, 32))
    roles = dict(zip(arch.names, arch.roles))
    assert roles["layer1.0.conv1"] == roles["layer2.1.conv2"] == "branch"
    assert roles["layer2.0.downsample.0"] == "shortcut" and roles["conv1"] == "main"
    assert arch.n_blocks == 4 and arch.alpha == 1.0
    assert arch.after[arch.index("conv1")] == ("BatchNorm2d", "relu", "max 3x3")
    assert arch.activation == "relu"


def test_the_paper_families_are_described_as_their_width_architectures():
    """An FFNN is the ffnn of its widths, a OneLayerResNet the resnet of its widths (same graph, same names)."""
    ffnn = enn.describe(enn.FFNN([20, 30, 30, 5], "tanh"))
    ref = eoc.as_architecture([20, 30, 30, 5])
    assert ffnn.names == ref.names and ffnn.graph == tuple(
        eoc.Node(n.op, n.inputs, n.width, n.layer, name=f.name, detail=f.detail) for n, f in zip(ref.graph, ffnn.graph)
    )
    res = enn.describe(enn.OneLayerResNet(20, 30, 3, 5, alpha=0.5))
    ref = eoc.as_architecture([20, 30, 30, 30, 30, 5], "resnet", alpha=0.5)
    assert res.names == ref.names and res.roles == ref.roles and res.alpha == 0.5


def test_what_the_theory_does_not_cover_is_said():
    """Attention (with the layer inside it), grouped convolutions, an activation without an eoc counterpart, dropout,
    and torch's default (uniform) initialization are listed in the notes."""

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Linear(16, 64)
            self.att = nn.MultiheadAttention(64, 4, batch_first=True)
            self.drop = nn.Dropout(0.1)
            self.act = nn.Hardtanh()
            self.out = nn.Linear(64, 5)

        def forward(self, x):
            h = self.emb(x)
            a, _ = self.att(h, h, h)
            return self.out(self.drop(self.act(h + a)).mean(1))

    arch = enn.describe(Attn(), (7, 16))  # torch's default init
    assert arch.names == ("emb", "att.out_proj", "out")
    assert [n.op for n in arch.graph if n.layers] == ["uncovered"]
    notes = " | ".join(arch.notes)
    for word in ("MultiheadAttention", "Hardtanh", "dropout", "non-Gaussian weights"):
        assert word in notes
    grouped = nn.Sequential(nn.Conv2d(8, 16, 3, groups=4), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 36, 2))
    assert any("grouped" in n and "groups=4" in n for n in enn.describe(grouped, (8, 8, 8)).notes)
    with pytest.warns(eoc.TheoryCoverageWarning, match="MultiheadAttention"):
        enn.predict_critical_sparsity(arch, "snip", activation="relu")


def test_describe_leaves_the_model_untouched():
    """Parameters, BatchNorm statistics, modes and the pruning parametrization are unchanged."""
    model = enn.resnet(8)
    model.train()
    model.layer1[0].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    enn.describe(model, (3, 8, 8))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert modes == [m.training for m in model.modules()]


def test_eval_mode_batch_norm_is_a_scale_and_pruned_layers_are_noted():
    """BatchNorm in eval mode is described with its running statistics; a pruned model says so."""
    model = enn.VGG([8, "M", 16], 1, 3, width_multiplier=1.0)
    model.eval()
    arch = enn.describe(model, (1, 8, 8))
    norms = [n for n in arch.graph if n.op == "norm"]
    assert [n.mode for n in norms] == ["eval", "eval"] and norms[0].value == pytest.approx(1 / (1 + 1e-5))
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    enn.prune_at_init(model, "magnitude", 0.5, x, y)
    assert any("pruned already" in n for n in enn.describe(model, (1, 8, 8)).notes)


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda: enn.VGG("vgg11", 1, 10), None, r"pass input_shape="),
        (lambda: enn.FFNN([4, 3]), (0,), r"input_shape must be a tuple of positive integers"),
        (lambda: enn.FFNN([4, 3]), (5,), r"fails on inputs of shape"),
        (lambda: "not a model", (3,), r"model must be a torch\.nn\.Module"),
    ],
)
def test_describe_rejects_bad_input(make, shape, match):
    with pytest.raises(ValueError, match=match):
        enn.describe(make(), shape)


def test_describe_rejects_untraceable_shared_and_unused_layers():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else x

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x):
            return self.a(torch.tanh(self.a(x)))

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return self.a(x)

    with pytest.raises(ValueError, match="cannot trace Branchy with torch.fx"):
        enn.describe(Branchy(), (4,))
    with pytest.raises(ValueError, match="'a' is called more than once"):
        enn.describe(Shared(), (4,))
    with pytest.raises(ValueError, match="'b' of Unused are never called"):
        enn.describe(Unused(), (4,))


def test_activation_labels_round_trip():
    """Labels recorded on the graph read back to the same eoc activation (parameters included)."""
    from eoc.nn._describe import activation_from_label

    for name, params in [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("gelu", {"approximate": "tanh"}),
                         ("softplus", {"beta": 2.0}), ("elu", {"alpha": 0.5}), ("silu", {"beta": 1.5})]:  # fmt: skip
        act = eoc.get_activation(name, **params)
        assert activation_from_label(act.label) == act
    arch = enn.describe(nn.Sequential(nn.Linear(5, 5), nn.LeakyReLU(0.2), nn.Linear(5, 2)), (5,))
    assert arch.activation == "leaky_relu(negative_slope=0.2)"
    with pytest.raises(ValueError, match="unknown activation"):
        activation_from_label("Hardtanh")
