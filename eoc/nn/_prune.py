r"""Pruning at initialization: keep the largest scores, globally or layer by layer.

THEORY.md section 4.  Global pruning at sparsity :math:`s` keeps the
:math:`\mathrm{round}((1-s)M)` largest importances among all :math:`M` prunable
weights; layer-wise pruning keeps :math:`\mathrm{round}((1-s)M_l)` in each layer
(Python's ``round``, half to even).  Ties are broken deterministically: weights are
ranked by a stable sort of the importances, descending, over the layers
concatenated in module order (flattened row-major), so among equal scores the
smallest flat index is kept.

The masks are applied with ``torch.nn.utils.prune.custom_from_mask``: every
prunable layer gets the parameter ``weight_orig``, the buffer ``weight_mask``
and a forward pre-hook setting ``weight = weight_orig * weight_mask``, so pruned
weights stay exactly 0 through any optimizer step, ``copy.deepcopy`` and
``state_dict`` round trips (:func:`load_pruned_state_dict_`).

``copy.deepcopy`` caveat (torch, not this package): after a forward pass *with*
autograd, the pre-hook leaves a non-leaf tensor in ``module.weight`` and deepcopy
refuses it.  A freshly pruned model copies fine, and so does a model after any
forward under ``torch.no_grad()`` (e.g. an evaluation pass); otherwise copy through
``state_dict`` and :func:`load_pruned_state_dict_`.
"""

from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune

from .._validate import check_int, check_sparsity
from . import functional as F
from ._layers import is_masked, layer_mask, prunable_layers, qualified, refresh_weight
from ._scores import Layers, LossFn, check_method, score_layers

__all__ = [
    "LayerCollapseWarning",
    "prune_at_init",
    "select_masks",
    "remove_masks_",
    "load_pruned_state_dict_",
    "warn_collapse",
]

SCOPES = ("global", "layer")


class LayerCollapseWarning(UserWarning):
    """Some layer has every weight pruned (THEORY.md section 4, layer collapse).

    In a feed-forward network the output then no longer depends on the input and
    the network cannot train; a fully pruned layer of a residual branch reduces its
    block to the shortcut.
    """


def warn_collapse(names: Sequence[str], method: str, sparsity: float, stacklevel: int) -> None:
    """Emit a :class:`LayerCollapseWarning` naming the fully pruned layers, if any."""
    if names:
        warnings.warn(
            f"method={method!r} at sparsity={sparsity:g} prunes every weight of layer(s) "
            f"{', '.join(map(repr, names))} (layer collapse: no signal passes through them)",
            LayerCollapseWarning,
            stacklevel=stacklevel + 1,
        )


def _masks_from_scores(
    layers: Layers, scores: Sequence[torch.Tensor], alive: Sequence[torch.Tensor], keep: float, scope: str
) -> list[torch.Tensor]:
    """Keep the round(keep * M) largest scores among the weights still alive (at most
    all of them: early SynFlow rounds on a model pruned before may ask for more)."""
    names = [name for name, _ in layers]
    flats = [s.double() for s in scores]
    if scope == "layer":
        kept = F.select_per_layer(flats, keep, alive=alive, names=names)
    else:
        kept = F.select_global(flats, round(keep * sum(s.numel() for s in flats)), alive=alive, names=names)
    return [k.to(a.dtype) for k, a in zip(kept, alive)]


def _check_feasible(
    layers: Layers, alive: Sequence[torch.Tensor], keep: float, scope: str, sparsity: float
) -> None:
    groups = [("", alive)]
    if scope == "layer":
        groups = [(f" in layer {name!r}", [a]) for (name, _), a in zip(layers, alive)]
    for where, masks in groups:
        wanted = round(keep * sum(a.numel() for a in masks))
        n_alive = int(sum((a != 0).sum() for a in masks))
        if wanted > n_alive:
            raise ValueError(
                f"sparsity={sparsity!r} keeps {wanted} weights{where} but an earlier pruning left only "
                f"{n_alive}; pruning cannot revive weights"
            )


def select_masks(
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
) -> tuple[Layers, list[torch.Tensor]]:
    """The prunable layers and the masks :func:`prune_at_init` would apply; the model
    is left untouched."""
    arr = check_sparsity(sparsity)
    if arr.ndim:
        raise ValueError(f"sparsity must be a scalar, got sparsity={sparsity!r}")
    check_method(method, inputs, targets)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got scope={scope!r}")
    rounds = check_int(rounds, "rounds", minimum=1)
    layers = prunable_layers(model)
    masks = [layer_mask(m) for _, m in layers]
    keep = 1.0 - float(arr)
    _check_feasible(layers, masks, keep, scope, float(arr))
    schedule = [keep ** (k / rounds) for k in range(1, rounds + 1)] if method == "synflow" else [keep]
    for fraction in schedule:
        scores = score_layers(model, layers, masks, method, inputs, targets, loss_fn, generator, input_shape)
        masks = _masks_from_scores(layers, scores, masks, fraction, scope)
    return layers, masks


def prune_at_init(
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
) -> dict[str, torch.Tensor]:
    r"""Prune ``model`` in place at initialization; return ``{layer name: mask}``.

    Parameters
    ----------
    model : nn.Module
        Its Linear/Conv layers are pruned (:func:`prunable_layers`).
    method : {"random", "magnitude", "snip", "grasp", "synflow"}
        The importance of :func:`compute_scores`; the largest importances are kept.
    sparsity : float
        Fraction of weights removed, in [0, 1).
    inputs, targets : Tensor, optional
        A batch, required by "snip" and "grasp".
    scope : {"global", "layer"}
        Rank all prunable weights together, or keep ``1 - sparsity`` of every layer.
    loss_fn, generator, input_shape
        As for :func:`compute_scores`.
    rounds : int
        SynFlow only (Tanaka et al. 2020, Algorithm 1): round :math:`k = 1..n`
        keeps the fraction :math:`(1-s)^{k/n}` of the weights, with the scores
        recomputed on the network masked by round :math:`k-1`.  ``rounds=1`` is
        single-shot SynFlow.

    Returns
    -------
    dict
        ``{name: mask}`` (copies of the layers' ``weight_mask`` buffers, 0/1 in the
        weight's dtype), in module order.

    Raises
    ------
    ValueError
        ``sparsity`` outside [0, 1), unknown ``method`` or ``scope``, "snip"/"grasp"
        without data, no prunable layer, or (on a model pruned before) a sparsity
        keeping more weights than are left: the new masks are always contained in
        the old ones.

    Warns
    -----
    LayerCollapseWarning
        If some layer is pruned entirely.

    Notes
    -----
    Exactly ``round((1 - sparsity) * M)`` weights are kept, ``M`` being the number of
    prunable weights (per layer for ``scope="layer"``): the smallest kept importance
    is >= the largest pruned one.  To save and reload a pruned model, see
    :func:`load_pruned_state_dict_`; :func:`remove_masks_` makes the pruning permanent.
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
    for (_, module), mask in zip(layers, masks):
        prune.custom_from_mask(module, "weight", mask)
        refresh_weight(module)
    warn_collapse([name for (name, _), m in zip(layers, masks) if not m.any()], method, float(sparsity), 2)
    return {name: module.weight_mask.detach().clone() for name, module in layers}


def remove_masks_(model: nn.Module) -> nn.Module:
    """Make the pruning permanent: ``torch.nn.utils.prune.remove`` on every masked layer.

    Each masked layer gets back a plain parameter ``weight`` equal to the effective
    weight ``weight_orig * weight_mask`` (pruned entries 0, but no longer held at 0
    by training).  Layers without a mask are left alone.  Returns ``model``.
    """
    for _, module in prunable_layers(model):
        if is_masked(module):
            prune.remove(module, "weight")
    return model


def load_pruned_state_dict_(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], strict: bool = True
) -> nn.Module:
    """Load the ``state_dict`` of a pruned model into a freshly built one; return ``model``.

    A pruned layer saves ``<name>.weight_orig`` and ``<name>.weight_mask`` instead of
    ``<name>.weight``.  Every layer of ``model`` whose mask is in ``state_dict`` is
    first given the pruning parametrization (``torch.nn.utils.prune.identity``), then
    ``model.load_state_dict(state_dict, strict)`` fills in the weights and masks::

        torch.save(pruned.state_dict(), path)
        model = load_pruned_state_dict_(FFNN(widths), torch.load(path))
    """
    layers = prunable_layers(model)
    for name, module in layers:
        if qualified(name, "weight_mask") in state_dict and not is_masked(module):
            prune.identity(module, "weight")
    model.load_state_dict(state_dict, strict=strict)
    for _, module in layers:
        refresh_weight(module)
    return model
