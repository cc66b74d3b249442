r"""The rescaling trick: put a pruned network back on the edge of chaos.

THEORY.md section 5.  Pruning layer :math:`l` with mask :math:`\delta^l` shrinks its
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
        layer) with no kept weight gets 1: it stays zero.
    """
    if mode not in RESCALE_MODES:
        raise ValueError(f"mode must be one of {RESCALE_MODES}, got mode={mode!r}")
    if mode == "population":
        if method not in _POPULATION_METHODS:
            raise ValueError(
                f"mode='population' needs method in {_POPULATION_METHODS} (THEORY.md section 5), "
                f"got method={method!r}"
            )
        from .. import effective_sigma_w
    factors = {}
    for name, module in _masked_layers(model):
        w = module.weight_orig.detach().double()
        mask = module.weight_mask.detach().double()
        if mode == "population":
            keep = int(mask.count_nonzero()) / mask.numel()
            rho = 1.0 / float(effective_sigma_w(method, keep, 1.0)) if keep > 0 else 1.0
            factors[name] = torch.tensor(rho, dtype=torch.float64, device=w.device)
        else:
            factors[name] = F.rescale_factors(w, mask, mode)
    return factors


@torch.no_grad()
def rescale_(model: nn.Module, mode: str = "neuron", *, method: str | None = None) -> nn.Module:
    r"""Apply the rescaling trick in place; return ``model``.

    ``weight_orig`` of every masked layer is multiplied by the factors of
    :func:`rescale_factors` (row by row for "neuron"), so the effective weight
    ``weight_orig * weight_mask`` keeps its zeros and each kept weight of neuron
    :math:`i` is multiplied by :math:`\rho_i`.  Apply it once, right after pruning:
    the factors are recomputed from the current ``weight_orig``, so a second call
    would rescale again.
    """
    factors = rescale_factors(model, mode, method=method)
    for name, module in _masked_layers(model):
        w = module.weight_orig
        rho = factors[name].to(w.dtype)
        w.mul_(rho.view(-1, *(1,) * (w.ndim - 1)) if rho.ndim else rho)
        refresh_weight(module)
    return model
