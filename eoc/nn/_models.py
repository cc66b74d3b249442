r"""Reference networks of docs/theory.md §1, made of ``nn.Linear`` / ``nn.Conv2d``.

* :class:`FFNN`: :math:`y^1 = W^1x + B^1,\ y^l = W^l\phi(y^{l-1}) + B^l`, linear read-out.
* :class:`VGG`: VGG-like CNN (3x3 convolutions, max-pools, global average pooling,
  one linear classifier), usable on 8x8 digits as on 32x32 CIFAR.
* :class:`OneLayerResNet`: :math:`y^l = y^{l-1} + \alpha(W^l\phi(y^{l-1}) + B^l)`,
  the residual network of the theory (section 6); ``alpha="stable"`` is
  :math:`1/\sqrt L`.
* :class:`ResNet` / :func:`resnet`: CIFAR ResNets of BasicBlocks (He et al. 2016,
  section 4.2), depth :math:`6n + 2`; the *Stable ResNet* multiplies every residual
  branch by :math:`1/\sqrt{3n}` (Hayou et al. 2021).

Initialization is left to :func:`eoc.nn.init_` / :func:`eoc.nn.init_edge_of_chaos_`;
the constructors use torch's default initialization.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

import torch
from torch import nn

from .. import Activation
from .._validate import check_int, check_positive, check_widths
from ._activations import torch_activation

__all__ = [
    "FFNN",
    "VGG",
    "VGG_CONFIGS",
    "OneLayerResNet",
    "ResNet",
    "BasicBlock",
    "resnet",
    "resnet32",
    "resnet50",
    "resnet104",
]


class FFNN(nn.Module):
    r"""Fully connected network with one activation between consecutive linear layers.

    .. math::

        y^1 = W^1 x + B^1,\qquad y^l = W^l\phi(y^{l-1}) + B^l,\quad l = 2, \dots, L,

    the output being :math:`y^L` (no activation after the last layer).  The input is
    flattened, so images can be fed directly.

    Parameters
    ----------
    widths : sequence of int
        ``(input_dim, hidden_1, ..., output_dim)``, at least two entries.
    activation : str or eoc.Activation
        A name of :func:`eoc.available_activations`, or an activation of the registry
        with parameters (``eoc.get_activation("leaky_relu", negative_slope=0.1)``).
    bias : bool
        Whether the linear layers have biases.

    Attributes
    ----------
    linears : nn.ModuleList
        The linear layers, named ``linears.0``, ``linears.1``, ...
    input_shape : tuple of int
        ``(input_dim,)``, the data-free input shape used by SynFlow.
    """

    def __init__(self, widths: Sequence[int], activation: str | Activation = "tanh", bias: bool = True) -> None:
        super().__init__()
        widths = check_widths(widths)
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
        self.activation = torch_activation(activation)
        self.input_shape = (widths[0],)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for linear in self.linears[:-1]:
            x = self.activation(linear(x))
        return self.linears[-1](x)


VGG_CONFIGS: dict[str, tuple] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ),
}  # fmt: skip


class _MaxPoolAboveOne(nn.MaxPool2d):
    """2x2 max-pool that leaves a feature map alone when it would shrink below 1x1."""

    def __init__(self) -> None:
        super().__init__(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if min(x.shape[-2:]) < 2 else super().forward(x)


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _scaled(channels: int, width_multiplier: float) -> int:
    return max(1, round(channels * width_multiplier))


class VGG(nn.Module):
    """VGG-like CNN: 3x3 convolutions (+ BatchNorm) and max-pools, then global
    average pooling and one linear classifier (as in the SNIP/GraSP/SynFlow benchmarks).

    Parameters
    ----------
    config : str or sequence
        ``"vgg11"``, ``"vgg13"``, ``"vgg16"``, ``"vgg19"`` (:data:`VGG_CONFIGS`), or a
        sequence of channel counts and ``"M"`` (2x2 max-pool).  Max-pools that would
        shrink a feature map below 1x1 are skipped, so 8x8 inputs work with every config.
    in_channels, num_classes : int
    activation : str or eoc.Activation
        As for :class:`FFNN`.
    batch_norm : bool
        BatchNorm2d after every convolution; the convolutions then have no bias
        (BatchNorm would cancel it), and have one without BatchNorm.
    width_multiplier : float
        Every channel count is multiplied by it (rounded, at least 1).
    """

    def __init__(
        self,
        config: str | Sequence = "vgg19",
        in_channels: int = 3,
        num_classes: int = 10,
        activation: str | Activation = "relu",
        batch_norm: bool = True,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in VGG_CONFIGS:
                raise ValueError(f"unknown VGG config={config!r}; available: {', '.join(VGG_CONFIGS)}")
            config = VGG_CONFIGS[config]
        counts = [c for c in config if c != "M"]
        if not counts or not all(_is_positive_int(c) for c in counts):
            raise ValueError(f"config must list positive channel counts and 'M', got config={config!r}")
        check_int(in_channels, "in_channels", minimum=1)
        check_int(num_classes, "num_classes", minimum=1)
        width_multiplier = float(check_positive(width_multiplier, "width_multiplier"))
        layers: list[nn.Module] = []
        channels = in_channels
        for c in config:
            if c == "M":
                layers.append(_MaxPoolAboveOne())
                continue
            out = _scaled(c, width_multiplier)
            layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(torch_activation(activation))
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(-2, -1)))


def _residual_scale(alpha: float | str, depth: int) -> float:
    if alpha == "stable":
        return 1.0 / math.sqrt(depth) if depth > 0 else 1.0
    if isinstance(alpha, str):
        raise ValueError(f"alpha must be a positive number or 'stable', got alpha={alpha!r}")
    return float(check_positive(alpha, "alpha"))


class OneLayerResNet(nn.Module):
    r"""The residual network of docs/theory.md §6 (one linear layer per branch).

    .. math::

        y^0 = W^{in}x + B^{in},\qquad
        y^l = y^{l-1} + \alpha\,(W^l\phi(y^{l-1}) + B^l),\ l = 1..L,\qquad
        \text{out} = W^{out}\phi(y^L) + B^{out}.

    The read-out acts on :math:`\phi(y^L)` as in :class:`FFNN`, so ``depth=0`` is
    ``FFNN((input_dim, width, output_dim))``.  ``alpha="stable"`` is
    :math:`\alpha = 1/\sqrt{L}` (Stable ResNet); ``alpha`` is stored in the buffer
    ``alpha`` (in the ``state_dict``, never trained).

    Parameters
    ----------
    input_dim, width, depth, output_dim : int
        d, N, L (``depth >= 0`` residual layers) and the output dimension.
    activation : str or eoc.Activation
        As for :class:`FFNN`.
    alpha : float or "stable"
    bias : bool
    """

    def __init__(
        self,
        input_dim: int,
        width: int,
        depth: int,
        output_dim: int,
        activation: str | Activation = "relu",
        alpha: float | str = 1.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_widths((input_dim, width, output_dim), "(input_dim, width, output_dim)")
        depth = check_int(depth, "depth")
        self.input = nn.Linear(input_dim, width, bias=bias)
        self.blocks = nn.ModuleList(nn.Linear(width, width, bias=bias) for _ in range(depth))
        self.output = nn.Linear(width, output_dim, bias=bias)
        self.activation = torch_activation(activation)
        self.register_buffer("alpha", torch.tensor(_residual_scale(alpha, depth)))
        self.input_shape = (input_dim,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.input(x.flatten(1))
        for block in self.blocks:
            y = y + self.alpha * block(self.activation(y))
        return self.output(self.activation(y))


class BasicBlock(nn.Module):
    r"""ResNet BasicBlock (He et al. 2016), with a scaled residual branch.

    .. math::

        \mathrm{out} = \mathrm{relu}\big(s\,\mathrm{BN}_2(\mathrm{conv}_2(\mathrm{relu}(\mathrm{BN}_1(
        \mathrm{conv}_1 x)))) + \mathrm{shortcut}(x)\big).

    The branch scale :math:`s` (1, or :math:`1/\sqrt L` in a Stable ResNet) is the
    buffer ``branch_scale``: part of the ``state_dict``, never trained, never folded
    into the weights.  The shortcut is the identity, or a 1x1 convolution + BatchNorm
    (option B) when the stride or the channel count changes.
    """

    def __init__(self, in_channels: int, channels: int, stride: int, branch_scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )
        self.register_buffer("branch_scale", torch.tensor(branch_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(self.branch_scale * out + self.shortcut(x))


class ResNet(nn.Module):
    r"""CIFAR ResNet: 3x3 conv stem, 3 stages of ``n`` BasicBlocks (16, 32, 64
    channels times ``width_multiplier``, strides 1, 2, 2), global average pooling,
    linear classifier.  Depth :math:`6n + 2`.

    Parameters
    ----------
    n : int
        Blocks per stage (ResNet32: 5, ResNet50: 8, ResNet104: 17).
    num_classes, in_channels : int
    stable : bool
        Stable ResNet: every residual branch is multiplied by :math:`1/\sqrt{3n}`
        (docs/theory.md §1), the shortcuts are not scaled.
    width_multiplier : float
    """

    def __init__(
        self,
        n: int,
        num_classes: int = 10,
        stable: bool = False,
        in_channels: int = 3,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        n = check_int(n, "n", minimum=1)
        check_int(in_channels, "in_channels", minimum=1)
        check_int(num_classes, "num_classes", minimum=1)
        width_multiplier = float(check_positive(width_multiplier, "width_multiplier"))
        scale = 1.0 / math.sqrt(3 * n) if stable else 1.0
        widths = [_scaled(c, width_multiplier) for c in (16, 32, 64)]
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        channels = widths[0]
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(channels, width, stride, scale))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(-2, -1)))


def resnet(
    depth: int,
    num_classes: int = 10,
    stable: bool = False,
    in_channels: int = 3,
    width_multiplier: float = 1.0,
) -> ResNet:
    """CIFAR :class:`ResNet` of the given depth :math:`6n + 2` (8, 14, 20, 32, 50, 104, ...).

    Raises
    ------
    ValueError
        If ``depth`` is not of the form 6n + 2 with n >= 1.
    """
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (e.g. 32, 50, 104), got depth={depth!r}")
    return ResNet((depth - 2) // 6, num_classes, stable, in_channels, width_multiplier)


def resnet32(stable: bool = False, **kwargs) -> ResNet:
    """ResNet32 (3 stages of 5 blocks); ``kwargs`` as for :func:`resnet`."""
    return resnet(32, stable=stable, **kwargs)


def resnet50(stable: bool = False, **kwargs) -> ResNet:
    """ResNet50 of the CIFAR family (3 stages of 8 BasicBlocks); ``kwargs`` as for :func:`resnet`."""
    return resnet(50, stable=stable, **kwargs)


def resnet104(stable: bool = False, **kwargs) -> ResNet:
    """ResNet104 (3 stages of 17 BasicBlocks); ``kwargs`` as for :func:`resnet`."""
    return resnet(104, stable=stable, **kwargs)
