r"""Batched Monte-Carlo simulation of many random networks at once.

``R`` independent networks of the same shape live in stacked tensors: the weights
of layer l have shape ``(R, N_l, N_{l-1})`` and a forward pass is one batched
matrix product per layer (:func:`torch.baddbmm`), on the GPU when there is one.
Everything the claims measure is computed per network, so the R replicates give
honest standard errors:

* per-layer pre-activation second moments :math:`\hat q^l = \frac1{N_l}\sum_i (y^l_i)^2`,
  per input, and correlations :math:`\hat c^l` between pairs of inputs;
* per-layer weight gradients (autograd through the stacked weights), their mean
  squares :math:`\widehat{\mathbb E}[(\partial\mathcal L/\partial W^l)^2]`;
* scores (magnitude :math:`|W|`, SNIP :math:`|W\odot\nabla_W\mathcal L|`), their per-layer
  maxima and the empirical critical sparsity of each network (THEORY.md section 4);
* global pruning masks per network, the rescaling trick, and propagation through
  the pruned / rescaled networks.

Networks: :class:`MLPStack` (FFNN, THEORY.md section 1) and :class:`ResNetStack`
(input projection, one-layer residual branches scaled by alpha, read-out; THEORY.md
section 6).  Default dtype is float64 so that measured quantities are limited by
sampling, not by rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from eoc.nn import resolve_device, torch_activation

__all__ = [
    "MLPStack",
    "ResNetStack",
    "Scores",
    "gaussian_pair_inputs",
    "resolve_device",
    "second_moments",
    "pair_correlations",
    "streamed_forward_stats",
    "device_generator",
    "mean_square",
]


def gaussian_pair_inputs(
    n_pairs: int, dim: int, c0: float, *, q: float = 1.0, generator: torch.Generator, dtype=torch.float64, device="cpu"
) -> torch.Tensor:
    """``2 n_pairs`` inputs of dimension ``dim``: pairs with |x|^2/d = q and exact correlation c0.

    Rows ``2k`` and ``2k+1`` form a pair.  Built by Gram-Schmidt on Gaussian
    vectors, so the empirical norms and correlation are exact, not sampled.
    """
    if not -1.0 <= c0 <= 1.0:
        raise ValueError(f"c0 must lie in [-1, 1], got c0={c0!r}")
    g = torch.randn(n_pairs, 2, dim, generator=generator, dtype=dtype, device="cpu").to(device)
    u = g[:, 0] / g[:, 0].norm(dim=1, keepdim=True)
    v = g[:, 1] - (g[:, 1] * u).sum(1, keepdim=True) * u
    v = v / v.norm(dim=1, keepdim=True)
    scale = math.sqrt(q * dim)
    x1 = scale * u
    x2 = scale * (c0 * u + math.sqrt(max(1.0 - c0 * c0, 0.0)) * v)
    return torch.stack([x1, x2], dim=1).reshape(2 * n_pairs, dim)


def device_generator(generator: torch.Generator, device) -> torch.Generator:
    """A generator on ``device`` seeded from the CPU ``generator``: weights are drawn where
    they live (drawing on the CPU and copying would dominate a GPU run).  Reproducible for
    a given seed and device type; CPU draws are the CPU generator itself."""
    device = torch.device(device)
    if device.type == "cpu":
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _gaussian_layer(replicas, n_out, n_in, sw, sb, generator, device, dtype):
    """Weights N(0, sw^2 / n_in) of shape (R, n_out, n_in) and biases N(0, sb^2), drawn on ``device``."""
    w = torch.randn(replicas, n_out, n_in, generator=generator, dtype=dtype, device=device)
    b = torch.randn(replicas, n_out, generator=generator, dtype=dtype, device=device)
    return w.mul_(sw / math.sqrt(n_in)), b.mul_(sb)


def _per_layer(value, n: int, name: str) -> list[float]:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.size == 1:
        return [float(arr[0])] * n
    if arr.size != n:
        raise ValueError(f"{name} must be a scalar or have {n} entries, got {arr.size}")
    return [float(v) for v in arr]


@dataclass
class Scores:
    """Per-layer scores of R networks: list of tensors ``(R, N_l, N_{l-1})``."""

    layers: list[torch.Tensor]

    @property
    def n_weights(self) -> np.ndarray:
        return np.array([s[0].numel() for s in self.layers], dtype=np.float64)

    def layer_max(self) -> torch.Tensor:
        """``(R, L)``: the maximum score of each layer of each network."""
        return torch.stack([s.flatten(1).max(dim=1).values for s in self.layers], dim=1)

    def critical_sparsity(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Empirical s_cr of each network and the layer attaining t_cr (THEORY.md section 4).

        :math:`t_{cr} = \\min_l \\max_{ij} g^l_{ij}`, :math:`s_{cr}` = fraction of scores
        strictly below :math:`t_{cr}`.  Returns ``(s_cr (R,), argmin layer (R,))``.
        """
        mx = self.layer_max()
        t_cr, first = mx.min(dim=1)
        below = sum((s.flatten(1) < t_cr[:, None]).sum(dim=1) for s in self.layers)
        total = sum(s[0].numel() for s in self.layers)
        return below.to(torch.float64) / total, first

    def global_masks(self, sparsity: float) -> list[torch.Tensor]:
        """Masks keeping the ``round((1 - s) M)`` largest scores of each network (ties: lowest index)."""
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must lie in [0, 1), got sparsity={sparsity!r}")
        flat = torch.cat([s.flatten(1) for s in self.layers], dim=1)
        keep = int(round((1.0 - sparsity) * flat.shape[1]))
        idx = torch.topk(flat, keep, dim=1, sorted=False).indices
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask.scatter_(1, idx, True)
        out, start = [], 0
        for s in self.layers:
            n = s[0].numel()
            out.append(mask[:, start : start + n].reshape(s.shape))
            start += n
        return out


@dataclass
class _Stack:
    """Shared machinery of the stacked networks."""

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    act_name: str
    masks: list[torch.Tensor] | None = None
    act: torch.nn.Module = field(init=False, repr=False)

    def __post_init__(self):
        self.act = torch_activation(self.act_name)

    @property
    def replicas(self) -> int:
        return self.weights[0].shape[0]

    @property
    def depth(self) -> int:
        return len(self.weights)

    def effective_weights(self) -> list[torch.Tensor]:
        if self.masks is None:
            return list(self.weights)
        return [w * m for w, m in zip(self.weights, self.masks)]

    def magnitude_scores(self) -> Scores:
        return Scores([w.abs() for w in self.effective_weights()])

    def apply_masks(self, masks: list[torch.Tensor]) -> None:
        """Prune: keep the weights where ``masks`` is True (replaces earlier masks)."""
        if len(masks) != self.depth:
            raise ValueError(f"expected {self.depth} masks, got {len(masks)}")
        self.masks = [m.to(self.weights[0].dtype) for m in masks]

    def keep_fractions(self) -> torch.Tensor:
        """``(R, L)`` kept fraction of each layer."""
        if self.masks is None:
            return torch.ones(self.replicas, self.depth, dtype=torch.float64)
        return torch.stack([m.flatten(1).mean(dim=1).to(torch.float64) for m in self.masks], dim=1)

    def rescale_(self, mode: str = "neuron") -> None:
        """The rescaling trick (THEORY.md section 5) on the kept weights.

        ``"neuron"``: :math:`\\rho_i = \\sqrt{\\sum_j W_{ij}^2/\\sum_j (W_{ij}\\delta_{ij})^2}` per
        output neuron; ``"layer"``: one factor per layer.  Rows with no kept weight stay zero.
        """
        if self.masks is None:
            raise ValueError("rescale_ needs a pruned network (apply_masks first)")
        if mode not in ("neuron", "layer"):
            raise ValueError(f"mode must be 'neuron' or 'layer', got mode={mode!r}")
        dims = (2,) if mode == "neuron" else (1, 2)
        new = []
        for w, m in zip(self.weights, self.masks):
            full = (w * w).sum(dim=dims, keepdim=True)
            kept = (w * w * m).sum(dim=dims, keepdim=True)
            rho = torch.where(kept > 0, torch.sqrt(full / torch.where(kept > 0, kept, torch.ones_like(kept))), torch.ones_like(kept))
            new.append(w * rho)
        self.weights = new

    def snip_scores(self, inputs: torch.Tensor, labels: torch.Tensor) -> Scores:
        grads = self.weight_gradients(inputs, labels)
        return Scores([(w * g).abs() for w, g in zip(self.effective_weights(), grads)])

    def weight_gradients(self, inputs: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        """Gradients of the mean cross-entropy of each network w.r.t. its (effective) weights."""
        ws = [w.detach().requires_grad_(True) for w in self.effective_weights()]
        out = self._forward(inputs, ws, record=False)[0]
        logp = torch.log_softmax(out, dim=-1)
        loss = -logp.gather(-1, labels.expand(out.shape[0], -1)[..., None]).mean(dim=(1, 2)).sum()
        grads = torch.autograd.grad(loss, ws)
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
                logp = torch.log_softmax(out, dim=-1)
                loss = -logp.gather(-1, labels.expand(out.shape[0], -1)[..., None]).mean(dim=(1, 2)).sum()
                grads = torch.autograd.grad(loss, pre)
            else:
                grads = torch.autograd.grad(out, pre, grad_outputs=output_grad.expand_as(out))
        return torch.stack([(g * g).mean(dim=(1, 2)) for g in grads], dim=1).detach()

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output ``(R, B, N_L)`` and the pre-activations of every layer (list of ``(R, B, N_l)``)."""
        with torch.no_grad():
            return self._forward(inputs, self.effective_weights(), record=True)


@dataclass
class MLPStack(_Stack):
    """R independent FFNNs (THEORY.md section 1): ``y^1 = W^1 x + B^1``, ``y^l = W^l phi(y^{l-1}) + B^l``."""

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
        """Gaussian initialization: :math:`W^l_{ij}\\sim\\mathcal N(0, \\sigma_{w,l}^2/N_{l-1})`, :math:`B\\sim\\mathcal N(0,\\sigma_{b,l}^2)`."""
        widths = [int(w) for w in widths]
        L = len(widths) - 1
        sw, sb = _per_layer(sigma_w, L, "sigma_w"), _per_layer(sigma_b, L, "sigma_b")
        gen = device_generator(generator, device)
        ws, bs = [], []
        for l in range(L):
            w, b = _gaussian_layer(replicas, widths[l + 1], widths[l], sw[l], sb[l], gen, device, dtype)
            ws.append(w)
            bs.append(b)
        return cls(ws, bs, act)

    def _forward(self, inputs, weights, record, track=False):
        h = inputs if inputs.dim() == 3 else inputs.expand(self.replicas, *inputs.shape)
        pre = []
        for l, (w, b) in enumerate(zip(weights, self.biases)):
            y = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            if track:
                y.requires_grad_(True)
            if record:
                pre.append(y)
            h = self.act(y) if l < len(weights) - 1 else y
        return h, pre


@dataclass
class ResNetStack(_Stack):
    """R one-layer-branch ResNets (THEORY.md section 6).

    Layer 0 projects the input (``y^0 = W^0 x + B^0``), layers 1..L-2 are residual
    branches ``y <- y + alpha (W phi(y) + B)``, the last layer reads out ``W phi(y) + B``.
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
        widths = [input_dim] + [width] * (n_residual + 1) + [output_dim]
        mlp = MLPStack.init(widths, act, sigma_w, sigma_b, replicas, generator=generator, device=device, dtype=dtype)
        return cls(mlp.weights, mlp.biases, act, alpha=float(alpha))

    def _forward(self, inputs, weights, record, track=False):
        h = inputs if inputs.dim() == 3 else inputs.expand(self.replicas, *inputs.shape)
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

    Each layer's weights are drawn, applied and discarded, so memory is
    O(R N^2) instead of O(R N^2 L); the draws are those of :meth:`MLPStack.init`
    with the same generator state.  Returns :func:`second_moments` ``(R, B, L)`` and
    :func:`pair_correlations` ``(R, P, L)`` of the pre-activations.
    """
    widths = [int(w) for w in widths]
    L = len(widths) - 1
    sw, sb = _per_layer(sigma_w, L, "sigma_w"), _per_layer(sigma_b, L, "sigma_b")
    phi = torch_activation(act)
    h = inputs if inputs.dim() == 3 else inputs.expand(replicas, *inputs.shape)
    gen = device_generator(generator, device)
    moments, corrs = [], []
    with torch.no_grad():
        for l in range(L):
            w, b = _gaussian_layer(replicas, widths[l + 1], widths[l], sw[l], sb[l], gen, device, dtype)
            y = torch.baddbmm(b[:, None, :], h, w.transpose(1, 2))
            moments.append(y.double().square().mean(dim=-1))
            a, c = y[:, 0::2], y[:, 1::2]
            corrs.append((a * c).sum(-1) / torch.sqrt((a * a).sum(-1) * (c * c).sum(-1)))
            h = phi(y)
    return torch.stack(moments, dim=-1), torch.stack(corrs, dim=-1)


def second_moments(pre: list[torch.Tensor]) -> torch.Tensor:
    """``(R, B, L)``: :math:`\\hat q^l` of every network, input and layer (squared in float64,
    so that float32 activations do not overflow here long before they do themselves)."""
    return torch.stack([y.double().square().mean(dim=-1) for y in pre], dim=-1)


def pair_correlations(pre: list[torch.Tensor]) -> torch.Tensor:
    """``(R, P, L)``: empirical correlation of each input pair (rows 2k, 2k+1) per layer."""
    out = []
    for y in pre:
        a, b = y[:, 0::2], y[:, 1::2]
        out.append((a * b).sum(-1) / torch.sqrt((a * a).sum(-1) * (b * b).sum(-1)))
    return torch.stack(out, dim=-1)


def mean_square(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``(R, L)``: mean of squares of each layer's tensor, per network."""
    return torch.stack([(t * t).flatten(1).mean(dim=1) for t in tensors], dim=1)

