"""Which modules are prunable, and how to read their weights and masks.

A prunable layer is an ``nn.Linear`` or an ``nn.Conv1d/2d/3d``.  Once pruned with
``torch.nn.utils.prune``, its parameter is ``weight_orig``, its mask the buffer
``weight_mask``, and ``weight`` is the plain attribute ``weight_orig * weight_mask``
recomputed by a forward pre-hook (the *effective* weight).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "PRUNABLE",
    "prunable_layers",
    "qualified",
    "is_masked",
    "weight_param",
    "layer_mask",
    "refresh_weight",
]

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of ``model``, in module order.

    Shortcut 1x1 convolutions and the classifier are included.  Names are those of
    ``model.named_modules()`` (``""`` when ``model`` itself is a layer).

    Raises
    ------
    ValueError
        If there is none.
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, PRUNABLE)]
    if not layers:
        raise ValueError(f"model has no prunable layer (Linear/Conv): {type(model).__name__}")
    return layers


def qualified(name: str, attr: str) -> str:
    """The ``state_dict`` key of attribute ``attr`` of the module named ``name``."""
    return f"{name}.{attr}" if name else attr


def is_masked(module: nn.Module) -> bool:
    """Whether ``module.weight`` is pruned by ``torch.nn.utils.prune``."""
    return hasattr(module, "weight_mask") and hasattr(module, "weight_orig")


def weight_param(module: nn.Module) -> nn.Parameter:
    """The trained weight tensor: ``weight_orig`` if masked, else ``weight``."""
    return module.weight_orig if is_masked(module) else module.weight


def layer_mask(module: nn.Module) -> torch.Tensor:
    """The mask of ``module`` (all ones if it is not masked), in the weight's dtype."""
    w = weight_param(module)
    return module.weight_mask.to(w.dtype) if is_masked(module) else torch.ones_like(w)


def refresh_weight(module: nn.Module) -> None:
    """Recompute the effective ``weight = weight_orig * weight_mask`` of a masked layer
    after ``weight_orig`` or the mask changed.

    The value is stored without autograd graph (the pruning pre-hook recomputes it,
    with graph, at every forward), which keeps the module ``copy.deepcopy``-able:
    deepcopy refuses tensors that are not graph leaves.
    """
    if is_masked(module):
        module.weight = (module.weight_orig * module.weight_mask).detach()
