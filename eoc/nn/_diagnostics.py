r"""Diagnostics of pruning at initialization: keep fractions, the *measured* critical
sparsity, gradient norms per layer, and layer collapse before training.

docs/theory.md §3 and §4.  With global pruning, a layer is fully pruned as soon as
its largest score is pruned, so

.. math::

    t_{cr} = \min_l \max_{ij} g^l_{ij},\qquad
    s_{cr} = \frac{1}{M}\,\#\{\text{scores} < t_{cr}\}

is the largest sparsity at which no layer collapses (up to ties at :math:`t_{cr}`).
:func:`measured_critical_sparsity` measures it on the scores of a real network;
:func:`eoc.critical_sparsity` *predicts* it from the theory.
"""

from __future__ import annotations

import warnings
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from . import functional as F
from ._layers import layer_mask, masked_tensor_names, prunable_layers, prunable_tensors, qualified
from ._prune import collapsed, select_masks, warn_collapse
from ._scores import DEFAULT_BN_MODE, GRASP_TEMPERATURE, LossFn, ScoringOptions, loss_gradients, validate_batch

__all__ = [
    "keep_fractions",
    "measured_critical_sparsity",
    "measured_critical_sparsity_details",
    "critical_sparsity",
    "critical_sparsity_details",
    "layer_gradient_norms",
    "check_layer_collapse",
]


def keep_fractions(model: nn.Module) -> dict[str, float]:
    """Fraction of the entries kept by the mask of every prunable layer (1.0 if unmasked),
    and of every other masked tensor (keyed ``"<module>.<tensor>"``, or the module's
    name for a BatchNorm weight), in module order."""
    out = {}
    layers = {id(m) for _, m in prunable_layers(model)}
    for name, module in model.named_modules():
        tensors = masked_tensor_names(module)
        if id(module) in layers and "weight" not in tensors:
            tensors = ["weight", *tensors]
        for t in sorted(tensors, key=lambda t: t != "weight"):
            m = layer_mask(module, t)
            out[name if t == "weight" else qualified(name, t)] = int(m.count_nonzero()) / m.numel()
    return out


def measured_critical_sparsity_details(scores: Mapping[str, torch.Tensor]) -> tuple[float, float, str]:
    r"""``(s_cr, t_cr, layer)`` measured on ``scores``: critical sparsity, critical
    threshold and the layer attaining :math:`\min_l\max g^l` (the first in order on ties).

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


def measured_critical_sparsity(scores: Mapping[str, torch.Tensor]) -> float:
    r"""Critical sparsity :math:`s_{cr}` of global pruning measured on these scores
    (module docstring); :func:`eoc.critical_sparsity` is the theory's prediction."""
    return measured_critical_sparsity_details(scores)[0]


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"eoc.nn.{old} is deprecated and will be removed in the next release: use eoc.nn.{new} "
        f"(a measurement on scores; eoc.{old.split('_details')[0]} is the theory's prediction)",
        DeprecationWarning,
        stacklevel=3,
    )


def critical_sparsity_details(scores: Mapping[str, torch.Tensor]) -> tuple[float, float, str]:
    """Deprecated alias of :func:`measured_critical_sparsity_details` (one release)."""
    _deprecated("critical_sparsity_details", "measured_critical_sparsity_details")
    return measured_critical_sparsity_details(scores)


def critical_sparsity(scores: Mapping[str, torch.Tensor]) -> float:
    """Deprecated alias of :func:`measured_critical_sparsity` (one release)."""
    _deprecated("critical_sparsity", "measured_critical_sparsity")
    return measured_critical_sparsity(scores)


def layer_gradient_norms(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
    *,
    bn_mode: str = "model",
) -> dict[str, float]:
    r"""Frobenius norm :math:`\|\partial L/\partial W^l\|_F` of every prunable layer.

    :math:`L` = ``loss_fn(model(inputs), targets)`` (default cross-entropy), in the
    model's current modes (``bn_mode="model"``; "eval"/"train" as for
    :func:`compute_scores`); for a pruned layer the derivative is with respect to
    the kept weights (zero off the mask).  The batch is validated first.  The model
    is not modified (no ``.grad``, no BatchNorm statistics update).
    docs/theory.md §3: on the EOC the norms are flat across layers, in the ordered
    (chaotic) phase they vanish (explode) towards the input.
    """
    ScoringOptions(loss_fn, bn_mode=bn_mode)
    validate_batch(model, "snip", inputs, targets, loss_fn)
    tensors = prunable_tensors(model)
    masks = [t.mask for t in tensors]
    _, grads = loss_gradients(model, tensors, masks, inputs, targets, loss_fn, bn_mode=bn_mode)
    return {t.key: float(torch.linalg.vector_norm(g)) for t, g in zip(tensors, grads)}


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
    bn_mode: str = DEFAULT_BN_MODE,
    temperature: float = GRASP_TEMPERATURE,
    parameters_to_prune: Iterable | None = None,
    exclude: Iterable = (),
    prune_bias: bool = False,
    prune_batchnorm: bool = False,
) -> list[str]:
    """The layers :func:`prune_at_init` with these arguments would prune entirely.

    The masks are computed but not applied: the model is left untouched (parameters,
    buffers, modes, hooks, ``.grad``).  All prunable layers are checked, 1x1 shortcut
    convolutions and the classifier included (SynFlow is known to empty ResNet
    shortcuts in other tools), and pruned BatchNorm weights; a fully pruned bias is
    not a collapse (the signal still passes).  Arguments as for :func:`prune_at_init`
    (the batch is validated first); with the same ``generator`` state "random" gives
    the same masks.

    Warns
    -----
    LayerCollapseWarning
        If the returned list is not empty.
    """
    options = ScoringOptions(loss_fn, generator, input_shape, bn_mode, temperature)
    selection = prunable_tensors(
        model, parameters_to_prune, exclude=exclude, prune_bias=prune_bias, prune_batchnorm=prune_batchnorm
    )
    tensors, masks = select_masks(
        model, method, sparsity, inputs, targets, scope=scope, rounds=rounds, options=options, tensors=selection
    )
    names = collapsed(tensors, masks)
    warn_collapse(names, method, float(sparsity), 2)
    return names
