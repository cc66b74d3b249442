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

Algorithm (:func:`topk_mask`).  No sort: the k-th largest alive importance
:math:`t` is found by selection (``numpy.partition`` on the CPU, ``torch.kthvalue``
elsewhere; both :math:`O(n)`), every entry above :math:`t` is kept, and of the
entries equal to :math:`t` the first :math:`k - \#\{g > t\}` in flat order are kept.
This is exactly the stable-sort rule above (tested against a sort on scores with
many ties) in :math:`O(n)` time, in the scores' own dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
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


def _label(names: Sequence[str] | None, i: int) -> str:
    return repr(names[i]) if names is not None else str(i)


def _check_finite_scores(flats: Sequence[torch.Tensor], names: Sequence[str] | None) -> None:
    for i, f in enumerate(flats):
        if f.is_floating_point() and bool(torch.isnan(f).any()):
            raise ValueError(f"the scores of layer {_label(names, i)} contain NaN")


# The selection kernel works on rows: ``v`` of shape (rows, n) and one ``k`` per row.  On
# the CPU it runs in numpy (partition, comparisons and counts are several times faster
# there than torch's single-threaded kernels); elsewhere in torch.  The two functions
# below implement the same rule line by line (tested against each other and a sort).

_NUMPY_DTYPES = {torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8}


def _uses_numpy(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in _NUMPY_DTYPES


def _lowest(dtype) -> float | int:
    """The fill value of dead entries: below every alive score (ties with it are resolved by ``live``)."""
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _topk_numpy(a: np.ndarray, k: np.ndarray, live: np.ndarray | None, owned: bool) -> np.ndarray:
    rows, n = a.shape
    n_alive = np.full(rows, n) if live is None else np.count_nonzero(live, axis=-1)
    if live is not None and (n_alive < n).any():
        a = a if owned else a.copy()
        np.putmask(a, ~live, _lowest(a.dtype))
    k = np.minimum(np.maximum(k, 0), n_alive)
    partial = np.flatnonzero((k > 0) & (k < n_alive))
    if len(partial) == rows and (k == k[0]).all():  # the common case: one selection over every row
        return _above_or_first_ties(a, int(k[0]), live)
    keep = np.zeros((rows, n), dtype=bool)
    for r in np.flatnonzero((k == n_alive) & (k > 0)):
        keep[r] = True if live is None else live[r]
    for kk in np.unique(k[partial]):
        sel = partial[k[partial] == kk]
        keep[sel] = _above_or_first_ties(a[sel], int(kk), None if live is None else live[sel])
    return keep


def _above_or_first_ties(a: np.ndarray, k: int, live: np.ndarray | None) -> np.ndarray:
    """Rows of ``a`` (dead entries already at the lowest value): every entry above the
    k-th largest ``t``, and the first ``k - #{a > t}`` entries equal to ``t``."""
    n = a.shape[-1]
    t = np.partition(a, n - k, axis=-1)[:, n - k : n - k + 1].copy()  # frees the partitioned copy
    above, eq = a > t, a == t
    if live is not None and (t == _lowest(a.dtype)).any():
        eq &= live
    need = k - np.count_nonzero(above, axis=-1)
    for r in np.flatnonzero(np.count_nonzero(eq, axis=-1) > need):  # more ties than places left
        eq[r, np.flatnonzero(eq[r])[need[r] :]] = False
    above |= eq
    return above


def _topk_torch(v: torch.Tensor, k: torch.Tensor, live: torch.Tensor | None, owned: bool) -> torch.Tensor:
    rows, n = v.shape
    n_alive = torch.full((rows,), n, device=v.device) if live is None else live.count_nonzero(dim=-1)
    low = -torch.inf if v.is_floating_point() else torch.iinfo(v.dtype).min
    if live is not None and bool((n_alive < n).any()):
        v = v.masked_fill_(~live, low) if owned else v.masked_fill(~live, low)
    k = torch.minimum(k.to(v.device).clamp(min=0), n_alive)
    keep = torch.zeros((rows, n), dtype=torch.bool, device=v.device)
    for r in ((k == n_alive) & (k > 0)).nonzero().squeeze(1).tolist():
        keep[r] = True if live is None else live[r]
    partial = ((k > 0) & (k < n_alive)).nonzero().squeeze(1)
    for kk in torch.unique(k[partial]).tolist():
        sel = partial[k[partial] == kk]
        sub = v if len(sel) == rows else v[sel]
        t = torch.kthvalue(sub, n - kk + 1, dim=-1, keepdim=True).values
        above, eq = sub > t, sub == t
        if live is not None and bool((t == low).any()):
            eq &= live[sel]
        need = kk - above.count_nonzero(dim=-1)
        for r in (eq.count_nonzero(dim=-1) > need).nonzero().squeeze(1).tolist():
            eq[r, eq[r].nonzero().squeeze(1)[int(need[r]) :]] = False
        keep[sel] = above | eq
    return keep


def _topk(v: torch.Tensor, k, live: torch.Tensor | None, *, owned: bool = False) -> torch.Tensor:
    """:func:`topk_mask` on rows ``v`` of shape (rows, n), ``live`` boolean or None;
    ``owned``: ``v`` may be overwritten."""
    rows = v.shape[0]
    k = torch.as_tensor(k, dtype=torch.long).reshape(-1).expand(rows)
    if _uses_numpy(v) and (live is None or live.device.type == "cpu"):
        keep = _topk_numpy(v.numpy(), k.cpu().numpy(), None if live is None else live.numpy(), owned)
        return torch.from_numpy(keep)
    return _topk_torch(v, k, live, owned)


def _compress(t: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``t[keep]`` for 1-d ``t`` and boolean ``keep`` (numpy on the CPU: several times faster)."""
    if _uses_numpy(t) and keep.device.type == "cpu":
        return torch.from_numpy(t.numpy()[keep.numpy()])
    return t[keep]


def _count(keep: torch.Tensor) -> int:
    """Number of True entries of a boolean tensor (numpy on the CPU: several times faster)."""
    if keep.device.type == "cpu":
        return int(np.count_nonzero(keep.numpy()))
    return int(keep.count_nonzero())


def _is_alive(mask: torch.Tensor) -> torch.Tensor:
    """``mask != 0`` as a boolean tensor (numpy on the CPU: several times faster)."""
    if mask.dtype == torch.bool:
        return mask
    if _uses_numpy(mask):
        return torch.from_numpy(mask.detach().numpy() != 0)
    return mask != 0


def topk_mask(scores: torch.Tensor, k, alive: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries along the last dimension (tie rule above).

    ``scores`` has shape ``batch + (n,)``; ``k`` is an int or an integer tensor of
    the batch shape.  Entries with ``alive == 0`` are never kept, so at most the
    number of alive entries is kept.  Runs in :math:`O(n)` per row (module docstring).
    """
    n = scores.shape[-1]
    rows = scores.detach().reshape(-1, n)
    live = None if alive is None else _is_alive(alive.reshape(-1, n))
    return _topk(rows, k, live).reshape(scores.shape)


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
        One tensor per layer, shape ``batch + weight_shape``.  Compared in their own
        dtype (the layers are concatenated in their promoted dtype).
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
    flats = [_flat(s.detach(), batch_dims) for s in scores]
    _check_finite_scores(flats, names)
    flat = torch.cat(flats, dim=-1)
    n = flat.shape[-1]
    live = None if alive is None else torch.cat([_is_alive(_flat(a, batch_dims)) for a in alive], dim=-1).reshape(-1, n)
    kept = _topk(flat.reshape(-1, n), int(keep), live, owned=True).reshape(flat.shape)
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
    flats = [_flat(s.detach(), batch_dims) for s in scores]
    _check_finite_scores(flats, names)
    out = []
    for i, (f, s) in enumerate(zip(flats, scores)):
        n = f.shape[-1]
        live = None if alive is None else _is_alive(_flat(alive[i], batch_dims)).reshape(-1, n)
        k = round(float(keep_fraction) * n)
        out.append(_topk(f.reshape(-1, n), k, live).reshape(s.shape))
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
            raise ValueError(f"layer {_label(names, i)} has no scores")
    layer_max = torch.stack([f.max(dim=-1).values for f in flats], dim=-1)
    t_cr, layer = layer_max.min(dim=-1)
    below = sum((f < t_cr[..., None]).count_nonzero(dim=-1) for f in flats)
    total = sum(f.shape[-1] for f in flats)
    return CriticalSparsityResult(below.to(torch.float64) / total, t_cr, layer, layer_max)


# ----------------------------------------------------------------------------- rescaling

RESCALE_SUM_MODES = ("neuron", "layer")


def rescale_factors(
    weight: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "neuron",
    *,
    batch_dims: int = 0,
    unpruned: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Factors of the rescaling trick (docs/theory.md §5), in float64.

    .. math::

        \rho^l_i = \sqrt{\frac{\sum_j (W^l_{ij})^2}{\sum_j (W^l_{ij}\delta^l_{ij})^2}}

    with ``mode="neuron"`` one factor per output neuron/channel (shape
    ``batch + (out,)``; j runs over inputs and kernel positions), with ``"layer"``
    one per layer (batch shape; sums over the whole layer).  A neuron (layer) with
    no kept weight gets 1: it stays zero.  ``unpruned``: the numerator (the squared
    norms of the weights before pruning, of the output's shape) when ``weight`` no
    longer holds the pruned values; default from ``weight``.
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
    full = w.square().sum(dims) if unpruned is None else unpruned.detach().double()
    kept = (w * m).square().sum(dims)
    if full.shape != kept.shape:
        raise ValueError(f"unpruned has shape {tuple(full.shape)}, expected {tuple(kept.shape)} for mode={mode!r}")
    return torch.where(kept > 0, (full / torch.where(kept > 0, kept, 1.0)).sqrt(), torch.ones_like(kept))
