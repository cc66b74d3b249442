r"""Per-network statistics of simulated networks (every function keeps the replica axis).

* :func:`second_moments`: :math:`\hat q^l = \frac1{N_l}\sum_i (y^l_i)^2` per network, input and layer;
* :func:`pair_correlations`: :math:`\hat c^l` of input pairs (rows ``2k``, ``2k+1``);
* :func:`mean_square`: the mean square of each layer's tensor (weight gradients, weights);
* :func:`perturbation_chi`: the per-layer growth :math:`\|\delta y^{l+1}\|^2/\|\delta y^l\|^2` of a tiny
  input perturbation, an estimate of :math:`\chi_1` (docs/theory.md §2);
* :func:`score_shape`: :math:`\mathbb E|g|/\sqrt{\mathbb E g^2}` of each layer's scores, which is
  :math:`2/\pi` for the product-normal law :math:`|Z_1Z_2|` of the SNIP model (docs/theory.md §4).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = [
    "second_moments",
    "pair_correlations",
    "mean_square",
    "perturbation_chi",
    "score_shape",
    "layer_second_moment",
    "layer_pair_correlation",
]


def layer_second_moment(y: torch.Tensor) -> torch.Tensor:
    """``(R, B)``: mean of squares over the last axis, squared in float64 (float32 activations
    do not overflow here long before they do themselves)."""
    return y.double().square().mean(dim=-1)


def layer_pair_correlation(y: torch.Tensor) -> torch.Tensor:
    """``(R, P)``: empirical correlation of rows ``2k`` and ``2k+1`` of ``y`` ``(R, 2P, N)``."""
    a, b = y[:, 0::2], y[:, 1::2]
    return (a * b).sum(-1) / torch.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def second_moments(pre: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""``(R, B, L)``: :math:`\hat q^l` of every network, input and layer."""
    return torch.stack([layer_second_moment(y) for y in pre], dim=-1)


def pair_correlations(pre: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(R, P, L)``: empirical correlation of each input pair (rows 2k, 2k+1) per layer."""
    return torch.stack([layer_pair_correlation(y) for y in pre], dim=-1)


def mean_square(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(R, L)``: mean of squares of each layer's tensor, per network."""
    return torch.stack([(t * t).flatten(1).mean(dim=1) for t in tensors], dim=1)


def perturbation_chi(
    net, x: torch.Tensor, layers: slice, *, generator: torch.Generator, eps: float = 1e-6
) -> np.ndarray:
    r"""Per-network estimate of :math:`\chi_1`: the mean over ``layers`` (and over the inputs)
    of :math:`\|y^{l+1}(x + \epsilon v) - y^{l+1}(x)\|^2 / \|y^l(x + \epsilon v) - y^l(x)\|^2`.

    ``v`` is a Gaussian direction with :math:`|v| = |x|` per input, drawn from the CPU
    ``generator``; ``eps`` must be small enough for the linear response and large
    enough above rounding (1e-6 in float64).  Index ``j`` of the ratios is the factor
    from pre-activation layer ``j`` to ``j + 1``, i.e. :attr:`eoc.LayerProfile.chi` ``[j]``.
    Returns ``(R,)``.
    """
    v = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    v = v / v.norm(dim=-1, keepdim=True) * x.norm(dim=-1, keepdim=True)
    _, pre0 = net.forward(x)
    _, pre1 = net.forward(x + eps * v)
    d = torch.stack([((b - a) ** 2).sum(-1) for a, b in zip(pre0, pre1)], dim=-1)  # (R, B, L)
    ratio = d[..., 1:] / d[..., :-1]
    return ratio[..., layers].mean(dim=(1, 2)).cpu().numpy()


def score_shape(scores: torch.Tensor) -> torch.Tensor:
    r"""``(R,)``: :math:`\mathbb E|g|/\sqrt{\mathbb E g^2}` within one layer's scores, per network.

    Lower than :math:`2/\pi` means heavier tails than the product-normal law of the
    SNIP model.
    """
    flat = scores.flatten(1).abs().double()
    return flat.mean(dim=1) / flat.square().mean(dim=1).sqrt()
