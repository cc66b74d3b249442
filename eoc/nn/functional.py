r"""Tensor-level pruning primitives, batched over leading replica dimensions.

The one implementation of the operations that :mod:`eoc.nn` applies to a model and
:mod:`eoc.sim` applies to a stack of ``R`` simulated networks at once:

* importances from weights and gradients (:func:`magnitude_importance`,
  :func:`snip_importance`, :func:`grasp_importance`, :func:`synflow_importance`);
* the kept count :math:`\mathrm{round}((1-s)M)` (:func:`kept_count`) and the
  selection of the largest importances, globally over the layers of a network
  (:func:`select_global`) or layer by layer (:func:`select_per_layer`), with the
  documented deterministic tie rule;
* the empirical critical sparsity of global pruning (:func:`critical_sparsity`);
* the factors of the rescaling trick (:func:`rescale_factors`).

Every function takes ``batch_dims``: the number of leading dimensions that index
independent networks (0 for one model, 1 for the ``(R, ...)`` stacks of
:mod:`eoc.sim`).  The remaining dimensions are a layer's weight shape, output
neurons (channels) first, as in ``torch.nn.Linear`` / ``Conv``.

Tie rule (docs/theory.md §4).  The layers of one network are flattened row-major
and concatenated in module order; among equal importances the one with the
smallest flat index is kept.  Exactly ``k`` entries are kept (fewer only if fewer
are alive).  Dead entries (``alive == 0``, weights pruned before) are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

__all__ = [
    "magnitude_importance",
    "snip_importance",
    "grasp_importance",
    "synflow_importance",
    "kept_count",
    "topk_mask",
    "select_global",
    "select_per_layer",
    "CriticalSparsityResult",
    "critical_sparsity",
    "rescale_factors",
]


# ----------------------------------------------------------------------------- importances


def magnitude_importance(weight: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Magnitude pruning (MBP): :math:`|W\odot\delta|`."""
    w = weight.detach()
    return (w if mask is None else w * mask).abs()


def snip_importance(weight: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""SNIP / SBP (Lee et al. 2019): :math:`|W\odot\delta\odot\partial L/\partial W|`."""
    w = weight.detach()
    return ((w if mask is None else w * mask) * grad.detach()).abs()


def grasp_importance(weight: torch.Tensor, hess_grad: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""GraSP (Wang et al. 2020), as an importance to keep: :math:`+W\odot\delta\odot Hg`.

    Wang et al. score :math:`S = -W\odot Hg` and remove the largest S; keeping the
    largest :math:`-S` keeps the same weights.
    """
    w = weight.detach()
    return (w if mask is None else w * mask) * hess_grad.detach()


def synflow_importance(weight: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""SynFlow (Tanaka et al. 2020): :math:`|W\odot\delta\odot\partial R/\partial W|` on :math:`|W|`."""
    return snip_importance(weight, grad, mask)


# ----------------------------------------------------------------------------- selection


def kept_count(total: int, sparsity: float) -> int:
    r"""Number of weights kept at ``sparsity``: :math:`\mathrm{round}((1-s)M)` (half to even)."""
    return round((1.0 - float(sparsity)) * int(total))


def _check_batch(tensors: Sequence[torch.Tensor], batch_dims: int, what: str) -> torch.Size:
    if isinstance(batch_dims, bool) or not isinstance(batch_dims, int) or batch_dims < 0:
        raise ValueError(f"batch_dims must be an integer >= 0, got batch_dims={batch_dims!r}")
    if len(tensors) == 0:
        raise ValueError(f"{what} must be a non-empty sequence of tensors")
    shape = tensors[0].shape[:batch_dims]
    for i, t in enumerate(tensors):
        if t.dim() <= batch_dims:
            raise ValueError(f"{what}[{i}] has shape {tuple(t.shape)}: no weight dimensions after batch_dims={batch_dims}")
        if t.shape[:batch_dims] != shape:
            raise ValueError(
                f"{what}[{i}] has batch shape {tuple(t.shape[:batch_dims])}, expected {tuple(shape)} like {what}[0]"
            )
    return shape


def _flat(t: torch.Tensor, batch_dims: int) -> torch.Tensor:
    return t.reshape(*t.shape[:batch_dims], -1)


def _check_finite_scores(flats: Sequence[torch.Tensor], names: Sequence[str] | None) -> None:
    for i, f in enumerate(flats):
        if torch.isnan(f).any():
            label = repr(names[i]) if names is not None else str(i)
            raise ValueError(f"the scores of layer {label} contain NaN")


def topk_mask(scores: torch.Tensor, k, alive: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries along the last dimension (tie rule above).

    ``scores`` has shape ``batch + (n,)``; ``k`` is an int or an integer tensor of
    the batch shape.  Entries with ``alive == 0`` are never kept, so at most the
    number of alive entries is kept.
    """
    if alive is not None:
        scores = torch.where(alive != 0, scores, torch.full_like(scores, -torch.inf))
        n_alive = (alive != 0).sum(dim=-1)
    else:
        n_alive = torch.full(scores.shape[:-1], scores.shape[-1], dtype=torch.long, device=scores.device)
    k = torch.as_tensor(k, dtype=torch.long, device=scores.device)
    k = torch.minimum(k.expand(scores.shape[:-1]), n_alive)
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    rank_kept = torch.arange(scores.shape[-1], device=scores.device) < k[..., None]
    keep = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    keep.scatter_(-1, order, rank_kept.expand(order.shape))
    return keep


def select_global(
    scores: Sequence[torch.Tensor],
    keep: int,
    *,
    batch_dims: int = 0,
    alive: Sequence[torch.Tensor] | None = None,
    names: Sequence[str] | None = None,
) -> list[torch.Tensor]:
    """Keep the ``keep`` largest importances over all layers of each network.

    Parameters
    ----------
    scores : sequence of Tensor
        One tensor per layer, shape ``batch + weight_shape``.
    keep : int
        Number of weights kept per network (:func:`kept_count`).
    batch_dims : int
        Leading dimensions indexing independent networks.
    alive : sequence of Tensor, optional
        Masks of an earlier pruning (same shapes): dead weights stay dead.
    names : sequence of str, optional
        Layer names for error messages.

    Returns
    -------
    list of Tensor
        Boolean masks, one per layer, shaped like ``scores``.
    """
    _check_batch(scores, batch_dims, "scores")
    flats = [_flat(s, batch_dims) for s in scores]
    _check_finite_scores(flats, names)
    flat = torch.cat(flats, dim=-1)
    live = None if alive is None else torch.cat([_flat(a, batch_dims) for a in alive], dim=-1)
    kept = topk_mask(flat, int(keep), live)
    parts = kept.split([f.shape[-1] for f in flats], dim=-1)
    return [p.reshape(s.shape) for p, s in zip(parts, scores)]


def select_per_layer(
    scores: Sequence[torch.Tensor],
    keep_fraction: float,
    *,
    batch_dims: int = 0,
    alive: Sequence[torch.Tensor] | None = None,
    names: Sequence[str] | None = None,
) -> list[torch.Tensor]:
    """Keep ``round(keep_fraction * M_l)`` of the largest importances in every layer."""
    _check_batch(scores, batch_dims, "scores")
    flats = [_flat(s, batch_dims) for s in scores]
    _check_finite_scores(flats, names)
    out = []
    for i, (f, s) in enumerate(zip(flats, scores)):
        live = None if alive is None else _flat(alive[i], batch_dims)
        out.append(topk_mask(f, round(float(keep_fraction) * f.shape[-1]), live).reshape(s.shape))
    return out


# ----------------------------------------------------------------------------- critical sparsity


@dataclass(frozen=True)
class CriticalSparsityResult:
    r"""Empirical critical sparsity of global pruning, per network (docs/theory.md §4).

    Attributes
    ----------
    s_cr : Tensor
        Fraction of all scores strictly below :math:`t_{cr}`, float64, batch shape.
    t_cr : Tensor
        :math:`t_{cr} = \min_l \max_{ij} g^l_{ij}`, batch shape.
    layer : Tensor
        Index of the layer attaining :math:`t_{cr}` (the first on ties), batch shape.
    layer_max : Tensor
        Every layer's maximum score, shape ``batch + (L,)``.
    """

    s_cr: torch.Tensor
    t_cr: torch.Tensor
    layer: torch.Tensor
    layer_max: torch.Tensor


def critical_sparsity(
    scores: Sequence[torch.Tensor], *, batch_dims: int = 0, names: Sequence[str] | None = None
) -> CriticalSparsityResult:
    r"""Critical sparsity of global pruning with these importances.

    A layer is emptied as soon as its largest score is pruned, so with
    :math:`t_{cr} = \min_l\max_{ij} g^l_{ij}` the largest sparsity at which no layer
    is fully pruned is :math:`s_{cr} = \#\{g < t_{cr}\}/M` (up to ties at
    :math:`t_{cr}`).
    """
    _check_batch(scores, batch_dims, "scores")
    flats = [_flat(s.detach(), batch_dims) for s in scores]
    _check_finite_scores(flats, names)
    for i, f in enumerate(flats):
        if f.shape[-1] == 0:
            label = repr(names[i]) if names is not None else str(i)
            raise ValueError(f"layer {label} has no scores")
    layer_max = torch.stack([f.max(dim=-1).values for f in flats], dim=-1)
    t_cr, layer = layer_max.min(dim=-1)
    below = sum((f < t_cr[..., None]).sum(dim=-1) for f in flats)
    total = sum(f.shape[-1] for f in flats)
    return CriticalSparsityResult(below.to(torch.float64) / total, t_cr, layer, layer_max)


# ----------------------------------------------------------------------------- rescaling

RESCALE_SUM_MODES = ("neuron", "layer")


def rescale_factors(
    weight: torch.Tensor, mask: torch.Tensor, mode: str = "neuron", *, batch_dims: int = 0
) -> torch.Tensor:
    r"""Factors of the rescaling trick (docs/theory.md §5), in float64.

    .. math::

        \rho^l_i = \sqrt{\frac{\sum_j (W^l_{ij})^2}{\sum_j (W^l_{ij}\delta^l_{ij})^2}}

    with ``mode="neuron"`` one factor per output neuron/channel (shape
    ``batch + (out,)``; j runs over inputs and kernel positions), with ``"layer"``
    one per layer (batch shape; sums over the whole layer).  A neuron (layer) with
    no kept weight gets 1: it stays zero.
    """
    if mode not in RESCALE_SUM_MODES:
        raise ValueError(f"mode must be one of {RESCALE_SUM_MODES}, got mode={mode!r}")
    _check_batch([weight], batch_dims, "weight")
    if mask.shape != weight.shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, weight has {tuple(weight.shape)}")
    w = weight.detach().double()
    m = mask.detach().double()
    first = batch_dims + 1 if mode == "neuron" else batch_dims
    dims = tuple(range(first, w.dim()))
    full = w.square().sum(dims)
    kept = (w * m).square().sum(dims)
    return torch.where(kept > 0, (full / torch.where(kept > 0, kept, 1.0)).sqrt(), torch.ones_like(kept))
