r"""Diagnostics of pruning at initialization: keep fractions, critical sparsity,
gradient norms per layer, and layer collapse before training.

THEORY.md sections 3 and 4.  With global pruning, a layer is fully pruned as soon as
its largest score is pruned, so

.. math::

    t_{cr} = \min_l \max_{ij} g^l_{ij},\qquad
    s_{cr} = \frac{1}{M}\,\#\{\text{scores} < t_{cr}\}

is the largest sparsity at which no layer collapses (up to ties at :math:`t_{cr}`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from . import functional as F
from ._layers import layer_mask, prunable_layers
from ._prune import select_masks, warn_collapse
from ._scores import LossFn, loss_gradients

__all__ = [
    "keep_fractions",
    "critical_sparsity",
    "critical_sparsity_details",
    "layer_gradient_norms",
    "check_layer_collapse",
]


def keep_fractions(model: nn.Module) -> dict[str, float]:
    """Fraction of the weights kept by the mask of every prunable layer (1.0 if unmasked)."""
    masks = {name: layer_mask(module) for name, module in prunable_layers(model)}
    return {name: int(m.count_nonzero()) / m.numel() for name, m in masks.items()}


def critical_sparsity_details(scores: Mapping[str, torch.Tensor]) -> tuple[float, float, str]:
    r"""``(s_cr, t_cr, layer)``: critical sparsity, critical threshold and the layer
    attaining :math:`\min_l\max g^l` (the first in order on ties).

    Parameters
    ----------
    scores : dict
        ``{layer name: scores}`` as returned by :func:`compute_scores`.

    Raises
    ------
    ValueError
        Empty dict, a layer with no scores, or NaN scores.
    """
    if not scores:
        raise ValueError("scores must be a non-empty dict {layer name: tensor}, got scores={}")
    names = list(scores)
    res = F.critical_sparsity([s.detach() for s in scores.values()], names=names)
    return float(res.s_cr), float(res.t_cr), names[int(res.layer)]


def critical_sparsity(scores: Mapping[str, torch.Tensor]) -> float:
    r"""Critical sparsity :math:`s_{cr}` of global pruning with these scores (module docstring)."""
    return critical_sparsity_details(scores)[0]


def layer_gradient_norms(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
) -> dict[str, float]:
    r"""Frobenius norm :math:`\|\partial L/\partial W^l\|_F` of every prunable layer.

    :math:`L` = ``loss_fn(model(inputs), targets)`` (default cross-entropy), in the
    model's current mode; for a pruned layer the derivative is with respect to the
    kept weights (zero off the mask).  The model is not modified (no ``.grad``, no
    BatchNorm statistics update).  THEORY.md section 3: on the EOC the norms are flat
    across layers, in the ordered (chaotic) phase they vanish (explode) towards the
    input.
    """
    layers = prunable_layers(model)
    masks = [layer_mask(m) for _, m in layers]
    _, grads = loss_gradients(model, layers, masks, inputs, targets, loss_fn)
    return {name: float(torch.linalg.vector_norm(g)) for (name, _), g in zip(layers, grads)}


def check_layer_collapse(
    model: nn.Module,
    method: str,
    sparsity: float,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    scope: str = "global",
    loss_fn: LossFn | None = None,
    rounds: int = 100,
    generator: torch.Generator | None = None,
    input_shape: Sequence[int] | None = None,
) -> list[str]:
    """The layers :func:`prune_at_init` with these arguments would prune entirely.

    The masks are computed but not applied: the model is left untouched (parameters,
    buffers, modes, hooks, ``.grad``).  All prunable layers are checked, 1x1 shortcut
    convolutions and the classifier included (SynFlow is known to empty ResNet
    shortcuts in other tools).  Arguments as for :func:`prune_at_init`; with the same
    ``generator`` state "random" gives the same masks.

    Warns
    -----
    LayerCollapseWarning
        If the returned list is not empty.
    """
    layers, masks = select_masks(
        model,
        method,
        sparsity,
        inputs,
        targets,
        scope=scope,
        loss_fn=loss_fn,
        rounds=rounds,
        generator=generator,
        input_shape=input_shape,
    )
    collapsed = [name for (name, _), m in zip(layers, masks) if not m.any()]
    warn_collapse(collapsed, method, float(sparsity), 2)
    return collapsed
