r"""The rescaling trick: put a pruned network back on the edge of chaos.

docs/theory.md §5.  Pruning layer :math:`l` with mask :math:`\delta^l` shrinks its
effective weight variance to :math:`\sigma_{w,\mathrm{eff}}^2 < \sigma_w^2`, which
moves an EOC network into the ordered phase.  Multiplying the kept weights of
output neuron (channel) :math:`i` by

.. math::

    \rho^l_i = \sqrt{\frac{\sum_j (W^l_{ij})^2}{\sum_j (W^l_{ij}\delta^l_{ij})^2}}

restores every neuron's squared weight norm, hence :math:`\sigma_{w,\mathrm{eff}} =
\sigma_w`.  For a convolution, :math:`j` runs over input channels and kernel
positions.  Variants: one factor per layer (sums over the whole layer), or the
population value :math:`\rho = \sigma_w/\sigma_{w,\mathrm{eff}}` of the theory
(:func:`eoc.effective_sigma_w`: exact for random and magnitude pruning; for SNIP
the product-normal model of the theory, an approximation).
"""

from __future__ import annotations

import torch
from torch import nn

from . import functional as F
from ._layers import is_masked, prunable_layers, refresh_weight

__all__ = ["RESCALE_MODES", "rescale_factors", "rescale_"]

RESCALE_MODES = ("neuron", "layer", "population")
_POPULATION_METHODS = ("random", "magnitude", "snip")


def _masked_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [(name, m) for name, m in prunable_layers(model) if is_masked(m)]
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no pruned layer: prune it first (prune_at_init)")
    return layers


def rescale_factors(
    model: nn.Module, mode: str = "neuron", *, method: str | None = None
) -> dict[str, torch.Tensor]:
    r"""The factors :math:`\rho` of the rescaling trick, without modifying ``model``.

    Parameters
    ----------
    model : nn.Module
        Pruned (by :func:`prune_at_init` or ``torch.nn.utils.prune``); its unmasked
        layers are skipped.
    mode : {"neuron", "layer", "population"}
        "neuron": one :math:`\rho_i` per output neuron/channel, from ``weight_orig``
        and ``weight_mask``; "layer": one per layer, with the sums over the whole
        layer; "population": :math:`\rho = 1/\sigma_{w,\mathrm{eff}}(k)` at
        :math:`\sigma_w = 1`, :math:`k` the layer's keep fraction
        (:func:`eoc.effective_sigma_w`).
    method : {"random", "magnitude", "snip"}, optional
        The pruning method, required by ``mode="population"``.

    Returns
    -------
    dict
        ``{layer name: rho}`` in float64: shape ``(out_features,)`` /
        ``(out_channels,)`` for "neuron", a 0-d tensor otherwise.  A neuron (or a
        layer) with no kept weight gets 1: it stays zero.  Computed for the weights
        as pruned, before any :func:`rescale_` (the unpruned norms and the factors
        applied are remembered by :func:`rescale_`), so these are the factors
        :func:`rescale_` applies whether or not it has run.
    """
    layers = _masked_layers(model)
    _check_mode(mode, method)
    return {name: _factor(name, m, mode, method) for name, m in layers}


def _check_mode(mode: str, method: str | None) -> None:
    if mode not in RESCALE_MODES:
        raise ValueError(f"mode must be one of {RESCALE_MODES}, got mode={mode!r}")
    if mode == "population" and method not in _POPULATION_METHODS:
        raise ValueError(
            f"mode='population' needs method in {_POPULATION_METHODS} (docs/theory.md §5), got method={method!r}"
        )


#: Non-persistent buffers of a rescaled layer: the factors applied (one per output
#: unit) and the squared norms of the unpruned weights (one per output unit).
APPLIED, UNPRUNED = "weight_rescale", "weight_unpruned_sq_norm"


def _rows(t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.view(-1, *(1,) * (ndim - 1))


def _unrescaled(module: nn.Module) -> torch.Tensor:
    """:math:`W^0` in float64: ``weight_orig`` divided row by row by the factors applied so far."""
    w = module.weight_orig.detach().double()
    applied = getattr(module, APPLIED, None)
    return w if applied is None else w / _rows(applied, w.ndim)


def _unpruned_norms(name: str, module: nn.Module) -> torch.Tensor:
    r"""Per output unit, :math:`\sum_j (W^0_{ij})^2` of the weights before pruning: remembered,
    or read from ``weight_orig`` (whose pruned entries keep their values)."""
    remembered = getattr(module, UNPRUNED, None)
    if remembered is not None:
        return remembered
    mask = module.weight_mask.bool()
    if bool((~mask).any()) and not bool(module.weight_orig[~mask].any()):
        raise ValueError(
            f"layer {name!r}: every pruned entry of weight_orig is 0, so the unpruned norm that the "
            "rescaling restores is unknown (masked in place?): call rescale_ before inplace_masks_"
        )
    return _unrescaled(module).square().flatten(1).sum(1)


def _factor(name: str, module: nn.Module, mode: str, method: str | None) -> torch.Tensor:
    mask = module.weight_mask.detach().double()
    if mode == "population":
        from .. import effective_sigma_w

        keep = int(mask.count_nonzero()) / mask.numel()
        rho = 1.0 / float(effective_sigma_w(method, keep, 1.0)) if keep > 0 else 1.0
        return torch.tensor(rho, dtype=torch.float64, device=mask.device)
    full = _unpruned_norms(name, module)
    return F.rescale_factors(_unrescaled(module), mask, mode, unpruned=full if mode == "neuron" else full.sum())


@torch.no_grad()
def rescale_(model: nn.Module, mode: str = "neuron", *, method: str | None = None) -> nn.Module:
    r"""Apply the rescaling trick in place; return ``model``.  Idempotent.

    Every masked layer's ``weight_orig`` is set to :math:`\rho\,W^0`, row by row, where
    :math:`W^0` are the weights as pruned (before any rescaling) and :math:`\rho` the
    factors of :func:`rescale_factors`: the target is the unpruned norm.  The
    effective weight ``weight_orig * weight_mask`` keeps its zeros.  The unpruned
    norms and the factors applied are remembered on the layer (non-persistent
    buffers ``weight_unpruned_sq_norm`` and ``weight_rescale``, one entry per output
    unit: not in the ``state_dict``, which keeps the ``torch.nn.utils.prune``
    format), so calling ``rescale_`` again changes nothing, calling it with another
    ``mode`` replaces the rescaling instead of compounding it, and it still works
    after :func:`eoc.nn.inplace_masks_` has discarded the pruned entries.

    Raises
    ------
    ValueError
        As :func:`rescale_factors`; and for "neuron"/"layer" on a layer never
        rescaled whose pruned entries were discarded (all zero, as after
        :func:`eoc.nn.inplace_masks_`): the unpruned norm is then lost.
    """
    layers = _masked_layers(model)
    _check_mode(mode, method)
    for name, module in layers:
        w = module.weight_orig
        rho = _factor(name, module, mode, method)
        rho = rho.expand(w.shape[0]).clone() if rho.ndim == 0 else rho
        applied = getattr(module, APPLIED, None)
        rtol = 64 * torch.finfo(w.dtype).eps  # W0 is recovered from rounded weights
        if applied is not None and torch.allclose(rho, applied, rtol=rtol, atol=0.0):
            continue  # what is applied already: a second call changes nothing
        if getattr(module, UNPRUNED, None) is None and mode != "population":
            module.register_buffer(UNPRUNED, _unpruned_norms(name, module), persistent=False)
        w.copy_((_unrescaled(module) * _rows(rho, w.ndim)).to(w.dtype))
        module.register_buffer(APPLIED, rho, persistent=False)
        refresh_weight(module)
    return model
