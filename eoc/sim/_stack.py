r"""Stacks of R independent random networks, evaluated with one batched product per layer.

The weights of layer l of all R networks are one tensor of shape
``(R, N_l, N_{l-1})`` (output neurons first, as ``nn.Linear``), the biases
``(R, N_l)``, and a forward pass is one :func:`torch.baddbmm` per layer.  Replica r
is exactly the :mod:`eoc.nn` network with those weights (:meth:`to_module`; the
parity tests check forward, gradients, scores, masks and rescaling to 1e-12).

Everything that is not the forward pass is :mod:`eoc.nn`'s: the activations
(:func:`eoc.nn.torch_activation`), the importances, the global/per-layer selection with
its tie rule, the critical sparsity and the rescaling factors
(:mod:`eoc.nn.functional` with ``batch_dims=1``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as TF
from torch.nn.utils import prune

from .._propagation import per_layer
from .._validate import check_sparsity
from ..nn import FFNN, OneLayerResNet, torch_activation
from ..nn import functional as F
from .stats import layer_pair_correlation, layer_second_moment

__all__ = ["MLPStack", "ResNetStack", "Scores", "device_generator", "streamed_forward_stats"]


def device_generator(generator: torch.Generator, device) -> torch.Generator:
    """A generator on ``device`` seeded from the CPU ``generator``.

    Weights are drawn where they live (drawing on the CPU and copying would dominate a
    GPU run).  Reproducible for a given seed and device type; on the CPU it is
    ``generator`` itself.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _replicas(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"replicas must be a positive integer, got replicas={value!r}")
    return int(value)


def _gaussian_layer(replicas, n_out, n_in, sw, sb, generator, device, dtype):
    r"""Weights :math:`\mathcal N(0, \sigma_w^2/n_{in})` ``(R, n_out, n_in)`` and biases :math:`\mathcal N(0, \sigma_b^2)`."""
    w = torch.randn(replicas, n_out, n_in, generator=generator, dtype=dtype, device=device)
    b = torch.randn(replicas, n_out, generator=generator, dtype=dtype, device=device)
    return w.mul_(float(sw) / math.sqrt(n_in)), b.mul_(float(sb))


def _draw_layers(widths, sigma_w, sigma_b, replicas, generator, device, dtype):
    """Yield the Gaussian ``(W, b)`` of every layer in order (the draws of :meth:`MLPStack.init`)."""
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must hold at least two positive integers, got widths={widths!r}")
    L = len(widths) - 1
    sw = per_layer(sigma_w, L, "sigma_w", positive=True)
    sb = per_layer(sigma_b, L, "sigma_b", positive=False)
    gen = device_generator(generator, device)
    for l in range(L):
        yield _gaussian_layer(_replicas(replicas), widths[l + 1], widths[l], sw[l], sb[l], gen, device, dtype)


@dataclass
class Scores:
    """Per-layer scores of R networks: tensors ``(R, N_l, N_{l-1})``.

    ``alive`` holds the masks of an earlier pruning (dead weights are never kept),
    as ``alive`` in :func:`eoc.nn.functional.select_global`.
    """

    layers: list[torch.Tensor]
    alive: list[torch.Tensor] | None = None

    @property
    def n_weights(self) -> np.ndarray:
        """:math:`M_l`, the number of weights of each layer of one network."""
        return np.array([s[0].numel() for s in self.layers], dtype=np.float64)

    def critical(self) -> F.CriticalSparsityResult:
        """:func:`eoc.nn.functional.critical_sparsity` of every network (batch shape ``(R,)``)."""
        return F.critical_sparsity(self.layers, batch_dims=1)

    def critical_sparsity(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s_cr (R,), layer (R,))``: each network's critical sparsity and the layer attaining
        :math:`t_{cr} = \\min_l\\max_{ij} g^l_{ij}` (docs/theory.md §4)."""
        res = self.critical()
        return res.s_cr, res.layer

    def layer_max(self) -> torch.Tensor:
        """``(R, L)``: the maximum score of each layer of each network."""
        return self.critical().layer_max

    def global_masks(self, sparsity: float) -> list[torch.Tensor]:
        """Boolean masks keeping the ``round((1 - s) M)`` largest scores of each network
        (:func:`eoc.nn.functional.select_global`, the tie rule of :func:`eoc.nn.prune_at_init`)."""
        s = float(check_sparsity(sparsity))
        keep = F.kept_count(int(self.n_weights.sum()), s)
        return F.select_global(self.layers, keep, batch_dims=1, alive=self.alive)

    def per_layer_masks(self, sparsity: float) -> list[torch.Tensor]:
        """Boolean masks keeping ``round((1 - s) M_l)`` of the largest scores of every layer."""
        s = float(check_sparsity(sparsity))
        return F.select_per_layer(self.layers, 1.0 - s, batch_dims=1, alive=self.alive)


@dataclass
class _Stack:
    """Shared machinery of the stacked networks (weights ``(R, out, in)``, biases ``(R, out)``)."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    act_name: str
    masks: list[torch.Tensor] | None = None
    act: nn.Module = field(init=False, repr=False)

    def __post_init__(self):
        self.act = torch_activation(self.act_name)
        if len(self.weights) != len(self.biases):
            raise ValueError(f"got {len(self.weights)} weight tensors and {len(self.biases)} bias tensors")

    @property
    def replicas(self) -> int:
        return self.weights[0].shape[0]

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.weights)

    def effective_weights(self) -> list[torch.Tensor]:
        r""":math:`W^l\odot\delta^l` (the weights themselves when unpruned)."""
        if self.masks is None:
            return list(self.weights)
        return [w * m for w, m in zip(self.weights, self.masks)]

    # ------------------------------------------------------------------ scores and pruning

    def magnitude_scores(self) -> Scores:
        r"""Magnitude importances :math:`|W\odot\delta|` (:func:`eoc.nn.functional.magnitude_importance`)."""
        masks = self.masks or [None] * self.depth
        return Scores([F.magnitude_importance(w, m) for w, m in zip(self.weights, masks)], self.masks)

    def random_scores(self, generator: torch.Generator) -> Scores:
        """Uniform(0, 1) importances (times the mask), drawn on the weights' device."""
        gen = device_generator(generator, self.weights[0].device)
        masks = self.masks or [None] * self.depth
        out = []
        for w, m in zip(self.weights, masks):
            u = torch.rand(w.shape, generator=gen, dtype=w.dtype, device=w.device)
            out.append(u if m is None else u * m)
        return Scores(out, self.masks)

    def snip_scores(self, inputs: torch.Tensor, labels: torch.Tensor) -> Scores:
        r"""SNIP importances :math:`|W\odot\delta\odot\partial\mathcal L/\partial W|`
        (:func:`eoc.nn.functional.snip_importance`), :math:`\mathcal L` each network's mean cross-entropy."""
        grads = self.weight_gradients(inputs, labels)
        masks = self.masks or [None] * self.depth
        return Scores([F.snip_importance(w, g, m) for w, g, m in zip(self.weights, grads, masks)], self.masks)

    def apply_masks(self, masks: list[torch.Tensor]) -> None:
        """Prune: keep the weights where ``masks`` is nonzero (replaces earlier masks)."""
        if len(masks) != self.depth:
            raise ValueError(f"expected {self.depth} masks, got {len(masks)}")
        for l, (m, w) in enumerate(zip(masks, self.weights)):
            if m.shape != w.shape:
                raise ValueError(f"mask {l} has shape {tuple(m.shape)}, the weights {tuple(w.shape)}")
        self.masks = [m.to(self.weights[0].dtype) for m in masks]

    def keep_fractions(self) -> torch.Tensor:
        """``(R, L)``: kept fraction of each layer of each network."""
        if self.masks is None:
            return torch.ones(self.replicas, self.depth, dtype=torch.float64)
        return torch.stack([m.flatten(1).mean(dim=1).to(torch.float64) for m in self.masks], dim=1)

    def rescale_(self, mode: str = "neuron") -> None:
        r"""The rescaling trick (docs/theory.md §5) with :func:`eoc.nn.functional.rescale_factors`.

        Every weight of neuron i (``"neuron"``) or of the layer (``"layer"``) is multiplied
        by :math:`\rho = \sqrt{\sum W^2/\sum (W\delta)^2}`, as :func:`eoc.nn.rescale_` does to
        ``weight_orig``.  Apply once, right after pruning.
        """
        if self.masks is None:
            raise ValueError("rescale_ needs a pruned network (apply_masks first)")
        new = []
        for w, m in zip(self.weights, self.masks):
            rho = F.rescale_factors(w, m, mode, batch_dims=1).to(w.dtype)
            new.append(w * (rho[..., None] if rho.dim() == 2 else rho[:, None, None]))
        self.weights = new

    # ------------------------------------------------------------------ forward and backward

    def _loss(self, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sum over the networks of each network's mean cross-entropy (labels ``(B,)`` or ``(R, B)``)."""
        lab = labels.expand(out.shape[0], -1) if labels.dim() == 1 else labels
        return TF.cross_entropy(out.flatten(0, 1), lab.flatten(), reduction="sum") / out.shape[1]

    def weight_gradients(self, inputs: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        """Gradients of each network's mean cross-entropy w.r.t. its effective weights ``(R, out, in)``."""
        ws = [w.detach().requires_grad_(True) for w in self.effective_weights()]
        with torch.enable_grad():
            out = self._forward(inputs, ws, record=False)[0]
            grads = torch.autograd.grad(self._loss(out, labels), ws)
        return [g.detach() for g in grads]

    def preactivation_gradients(
        self, inputs: torch.Tensor, labels: torch.Tensor | None = None, *, output_grad: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(R, L)``: mean square of :math:`\\partial\\mathcal L/\\partial y^l` per layer (``qt^l``), per network.

        With ``labels`` the loss is each network's mean cross-entropy; with
        ``output_grad`` the gradient at the output is that tensor (a linear loss
        :math:`\\langle v, f(x)\\rangle`), which never saturates: exploding outputs make
        the softmax one-hot and the cross-entropy gradient exactly zero.
        """
        if (labels is None) == (output_grad is None):
            raise ValueError("give exactly one of labels and output_grad")
        ws = self.effective_weights()
        with torch.enable_grad():
            out, pre = self._forward(inputs, ws, record=True, track=True)
            if output_grad is None:
                grads = torch.autograd.grad(self._loss(out, labels), pre)
            else:
                grads = torch.autograd.grad(out, pre, grad_outputs=output_grad.expand_as(out))
        return torch.stack([(g * g).mean(dim=(1, 2)) for g in grads], dim=1).detach()

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output ``(R, B, N_L)`` and the pre-activations of every layer (list of ``(R, B, N_l)``).

        ``inputs`` is ``(B, d)`` (the same inputs for every network) or ``(R, B, d)``.
        """
        with torch.no_grad():
            return self._forward(inputs, self.effective_weights(), record=True)

    def _batched(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs if inputs.dim() == 3 else inputs.expand(self.replicas, *inputs.shape)

    # ------------------------------------------------------------------ one replica as an eoc.nn model

    def _empty_module(self) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _module_layers(self, module: nn.Module) -> list[nn.Linear]:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_module(self, replica: int) -> nn.Module:
        """Network ``replica`` as an :mod:`eoc.nn` model (same weights, dtype and device).

        A pruned stack gives a model pruned with ``torch.nn.utils.prune`` (``weight_orig``
        and ``weight_mask``), as :func:`eoc.nn.prune_at_init` leaves it.
        """
        if isinstance(replica, bool) or not isinstance(replica, numbers.Integral) or not 0 <= replica < self.replicas:
            raise ValueError(f"replica must be an integer in [0, {self.replicas}), got replica={replica!r}")
        w0 = self.weights[0]
        module = self._empty_module().to(dtype=w0.dtype, device=w0.device)
        with torch.no_grad():
            for l, linear in enumerate(self._module_layers(module)):
                linear.weight.copy_(self.weights[l][replica])
                linear.bias.copy_(self.biases[l][replica])
                if self.masks is not None:
                    prune.custom_from_mask(linear, "weight", self.masks[l][replica].to(w0.dtype))
        return module


@dataclass
class MLPStack(_Stack):
    """R independent FFNNs (docs/theory.md §1): ``y^1 = W^1 x + B^1``, ``y^l = W^l phi(y^{l-1}) + B^l``.

    Replica r is :class:`eoc.nn.FFNN` with the same weights (:meth:`to_module`).
    """

    @classmethod
    def init(
        cls,
        widths,
        act: str,
        sigma_w,
        sigma_b,
        replicas: int,
        *,
        generator: torch.Generator,
        device="cpu",
        dtype=torch.float64,
    ) -> "MLPStack":
        r"""Gaussian initialization :math:`W^l_{ij}\sim\mathcal N(0, \sigma_{w,l}^2/N_{l-1})`,
        :math:`B^l_i\sim\mathcal N(0,\sigma_{b,l}^2)`; sigmas are scalars or per-layer sequences."""
        ws, bs = zip(*_draw_layers(widths, sigma_w, sigma_b, replicas, generator, device, dtype))
        return cls(list(ws), list(bs), act)

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[2]] + [w.shape[1] for w in self.weights]

    def _forward(self, inputs, weights, record, track=False):
        h = self._batched(inputs)
        pre = []
        for l, (w, b) in enumerate(zip(weights, self.biases)):
            y = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            if track:
                y.requires_grad_(True)
            if record:
                pre.append(y)
            h = self.act(y) if l < len(weights) - 1 else y
        return h, pre

    def _empty_module(self) -> nn.Module:
        return FFNN(self.widths, activation=self.act_name)

    def _module_layers(self, module: nn.Module) -> list[nn.Linear]:
        return list(module.linears)


@dataclass
class ResNetStack(_Stack):
    """R one-layer-branch ResNets (docs/theory.md §6).

    Layer 0 projects the input (``y^0 = W^0 x + B^0``), layers 1..L-2 are residual
    branches ``y <- y + alpha (W phi(y) + B)``, the last layer reads out ``W phi(y) + B``.
    Replica r is :class:`eoc.nn.OneLayerResNet` with the same weights (:meth:`to_module`).
    """

    alpha: float = 1.0

    @classmethod
    def init(
        cls,
        input_dim: int,
        width: int,
        n_residual: int,
        output_dim: int,
        act: str,
        sigma_w,
        sigma_b,
        alpha: float,
        replicas: int,
        *,
        generator: torch.Generator,
        device="cpu",
        dtype=torch.float64,
    ) -> "ResNetStack":
        """Gaussian initialization as :meth:`MLPStack.init` of widths ``(d, N, ..., N, out)``."""
        widths = [input_dim] + [width] * (n_residual + 1) + [output_dim]
        ws, bs = zip(*_draw_layers(widths, sigma_w, sigma_b, replicas, generator, device, dtype))
        return cls(list(ws), list(bs), act, alpha=float(alpha))

    def _forward(self, inputs, weights, record, track=False):
        h = self._batched(inputs)
        y = torch.baddbmm(self.biases[0][:, None, :], h, weights[0].transpose(1, 2))
        if track:
            y.requires_grad_(True)
        pre = [y] if record else []
        for w, b in zip(weights[1:-1], self.biases[1:-1]):
            y = y + self.alpha * torch.baddbmm(b[:, None, :], self.act(y), w.transpose(1, 2))
            if record:
                pre.append(y)
        out = torch.baddbmm(self.biases[-1][:, None, :], self.act(y), weights[-1].transpose(1, 2))
        if record:
            pre.append(out)
        return out, pre

    def _empty_module(self) -> nn.Module:
        w = self.weights
        return OneLayerResNet(w[0].shape[2], w[0].shape[1], len(w) - 2, w[-1].shape[1], activation=self.act_name, alpha=self.alpha)

    def to_module(self, replica: int) -> nn.Module:
        module = super().to_module(replica)
        # OneLayerResNet stores alpha as a float32 buffer: restore the exact value in the stack's dtype.
        module.alpha.fill_(self.alpha)
        return module

    to_module.__doc__ = _Stack.to_module.__doc__

    def _module_layers(self, module: nn.Module) -> list[nn.Linear]:
        return [module.input, *module.blocks, module.output]


def streamed_forward_stats(
    widths,
    act: str,
    sigma_w,
    sigma_b,
    replicas: int,
    inputs: torch.Tensor,
    *,
    generator: torch.Generator,
    device="cpu",
    dtype=torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward statistics of R fresh random FFNNs without storing their weights.

    Each layer's weights are drawn, applied and discarded, so memory is O(R N^2)
    instead of O(R N^2 L); the draws are those of :meth:`MLPStack.init` with the same
    generator state.  Returns the :func:`~eoc.sim.second_moments` ``(R, B, L)`` and the
    :func:`~eoc.sim.pair_correlations` ``(R, P, L)`` of the pre-activations.
    """
    phi = torch_activation(act)
    h = inputs if inputs.dim() == 3 else inputs.expand(_replicas(replicas), *inputs.shape)
    moments, corrs = [], []
    with torch.no_grad():
        for w, b in _draw_layers(widths, sigma_w, sigma_b, replicas, generator, device, dtype):
            y = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            moments.append(layer_second_moment(y))
            corrs.append(layer_pair_correlation(y))
            h = phi(y)
    return torch.stack(moments, dim=-1), torch.stack(corrs, dim=-1)
