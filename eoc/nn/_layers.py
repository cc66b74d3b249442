"""Which tensors are prunable, and how to read their values and masks.

A prunable *layer* is an ``nn.Linear`` or an ``nn.Conv1d/2d/3d``; by default its
``weight`` is what pruning at initialization prunes.  :func:`prunable_tensors`
widens or narrows that set (biases, BatchNorm weights, an explicit list of
``(module, name)`` pairs as for ``torch.nn.utils.prune.global_unstructured``, or
exclusions), each tensor identified by a *key*: the module's name for its
``weight``, ``"<module>.<tensor>"`` for any other tensor (``"fc.bias"``).

Once pruned with ``torch.nn.utils.prune``, a tensor ``t`` of a module is the
parameter ``t_orig`` with the buffer ``t_mask``, and ``t`` is the plain attribute
``t_orig * t_mask`` recomputed by a forward pre-hook (the *effective* tensor).
:func:`eoc.nn.inplace_masks_` gives the same ``state_dict`` a cheaper form: the
pruned entries of ``t_orig`` are zero and ``t`` *is* ``t_orig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "PRUNABLE",
    "prunable_layers",
    "PrunableTensor",
    "prunable_tensors",
    "qualified",
    "is_masked",
    "is_inplace_masked",
    "weight_param",
    "layer_mask",
    "refresh_weight",
    "InplaceMask",
    "inplace_hook",
    "masked_tensor_names",
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


class InplaceMask:
    """Forward pre-hook of :func:`eoc.nn.inplace_masks_`: makes ``module.<t>`` the
    parameter ``<t>_orig`` itself (an attribute lookup, no arithmetic), for every
    tensor name ``t`` in ``names``.  ``<t>_orig`` holds zeros at the pruned entries."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def __call__(self, module: nn.Module, inputs) -> None:
        for t in self.names:
            module.__dict__[t] = getattr(module, t + "_orig")


def inplace_hook(module: nn.Module) -> InplaceMask | None:
    """The :class:`InplaceMask` pre-hook of ``module``, if it has one."""
    return next((h for h in module._forward_pre_hooks.values() if isinstance(h, InplaceMask)), None)


def masked_tensor_names(module: nn.Module) -> list[str]:
    """Names ``t`` of the masked tensors of ``module`` itself (``t_orig`` and ``t_mask`` exist)."""
    names = [b[: -len("_mask")] for b, _ in module.named_buffers(recurse=False) if b.endswith("_mask")]
    return [t for t in names if is_masked(module, t)]


def is_masked(module: nn.Module, tensor: str = "weight") -> bool:
    """Whether ``module.<tensor>`` is pruned (``<tensor>_orig`` and ``<tensor>_mask`` exist)."""
    return hasattr(module, tensor + "_mask") and hasattr(module, tensor + "_orig")


def is_inplace_masked(module: nn.Module, tensor: str = "weight") -> bool:
    """Whether ``module.<tensor>`` is masked in place (:func:`eoc.nn.inplace_masks_`)."""
    hook = inplace_hook(module)
    return hook is not None and tensor in hook.names


def weight_param(module: nn.Module, tensor: str = "weight") -> nn.Parameter:
    """The trained tensor: ``<tensor>_orig`` if masked, else ``<tensor>``."""
    return getattr(module, tensor + "_orig") if is_masked(module, tensor) else getattr(module, tensor)


def layer_mask(module: nn.Module, tensor: str = "weight") -> torch.Tensor:
    """The mask of ``module.<tensor>`` (all ones if it is not masked), in the tensor's dtype."""
    w = weight_param(module, tensor)
    return getattr(module, tensor + "_mask").to(w.dtype) if is_masked(module, tensor) else torch.ones_like(w)


def refresh_weight(module: nn.Module, tensor: str = "weight") -> None:
    """Recompute the effective ``<tensor>`` of a masked module after ``<tensor>_orig``
    or the mask changed.

    With the pruning pre-hook of ``torch.nn.utils.prune``, the value
    ``<tensor>_orig * <tensor>_mask`` is stored without autograd graph (the pre-hook
    recomputes it, with graph, at every forward), which keeps the module
    ``copy.deepcopy``-able: deepcopy refuses tensors that are not graph leaves.
    Masked in place, the pruned entries of ``<tensor>_orig`` are set to zero and
    ``<tensor>`` is ``<tensor>_orig`` again.
    """
    if not is_masked(module, tensor):
        return
    orig, mask = getattr(module, tensor + "_orig"), getattr(module, tensor + "_mask")
    if is_inplace_masked(module, tensor):
        with torch.no_grad():
            orig.masked_fill_(mask == 0, 0.0)
        module.__dict__[tensor] = orig
    else:
        module.__dict__[tensor] = (orig * mask).detach()


# ----------------------------------------------------------------------------- prunable tensors


@dataclass(frozen=True, eq=False)
class PrunableTensor:
    """One prunable tensor of a model: ``getattr(module, tensor)``.

    Attributes
    ----------
    key : str
        The module's name for a ``weight``, ``"<module>.<tensor>"`` otherwise: the
        key of this tensor in the dicts of :func:`eoc.nn.compute_scores` and
        :func:`eoc.nn.prune_at_init`.
    module_name : str
    module : nn.Module
    tensor : str
        ``"weight"`` or ``"bias"``.
    """

    key: str
    module_name: str
    module: nn.Module
    tensor: str

    @property
    def carries_signal(self) -> bool:
        """A weight (of a layer or a BatchNorm): all of it pruned cuts the signal (layer collapse)."""
        return self.tensor == "weight"

    @property
    def param(self) -> nn.Parameter:
        return weight_param(self.module, self.tensor)

    @property
    def mask(self) -> torch.Tensor:
        """The mask, in the tensor's dtype (all ones if not masked)."""
        return layer_mask(self.module, self.tensor)

    @property
    def alive(self) -> torch.Tensor | None:
        """The mask if the tensor is masked, else None (every entry alive)."""
        return layer_mask(self.module, self.tensor) if is_masked(self.module, self.tensor) else None

    @property
    def state_key(self) -> str:
        """The key of the trained tensor in ``model.state_dict()`` / ``functional_call``."""
        masked = is_masked(self.module, self.tensor)
        return qualified(self.module_name, self.tensor + ("_orig" if masked else ""))


def _key(module_name: str, tensor: str) -> str:
    return module_name if tensor == "weight" else qualified(module_name, tensor)


def _has_tensor(module: nn.Module, tensor: str) -> bool:
    if is_masked(module, tensor):
        return True
    value = module._parameters.get(tensor)
    return value is not None and value.is_floating_point()


def _resolve(model: nn.Module, entry, what: str) -> list[tuple[str, str]]:
    """``(module name, tensor)`` pairs named by one entry of ``parameters_to_prune`` / ``exclude``."""
    names = {id(m): n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], nn.Module) and isinstance(entry[1], str):
        module, tensor = entry
        if id(module) not in names:
            raise ValueError(f"{what} entry {entry!r}: the module is not part of the model")
        pairs = [(names[id(module)], tensor)]
    elif isinstance(entry, nn.Module):
        if id(entry) not in names:
            raise ValueError(f"{what} entry {type(entry).__name__}: the module is not part of the model")
        pairs = [(names[id(entry)], "weight")]
    elif isinstance(entry, str):
        if entry in modules:
            pairs = [(entry, "weight")]
        else:
            parent, _, tensor = entry.rpartition(".")
            if parent not in modules or not _has_tensor(modules[parent], tensor):
                raise ValueError(f"{what} entry {entry!r} names no module or tensor of {type(model).__name__}")
            pairs = [(parent, tensor)]
    else:
        raise ValueError(f"{what} entries must be module names, modules or (module, tensor name) pairs, got {entry!r}")
    for module_name, tensor in pairs:
        if not _has_tensor(modules[module_name], tensor):
            raise ValueError(
                f"{what} entry {entry!r}: module {module_name!r} ({type(modules[module_name]).__name__}) "
                f"has no floating-point tensor {tensor!r}"
            )
    return pairs


def prunable_tensors(
    model: nn.Module,
    parameters_to_prune: Iterable | None = None,
    *,
    exclude: Iterable = (),
    prune_bias: bool = False,
    prune_batchnorm: bool = False,
) -> list[PrunableTensor]:
    """The tensors that pruning at initialization ranks, in module order.

    Parameters
    ----------
    model : nn.Module
    parameters_to_prune : iterable, optional
        An explicit selection, as for ``torch.nn.utils.prune.global_unstructured``:
        ``(module, "weight")`` / ``(module, "bias")`` pairs, modules (their weight),
        or names (a module name for its weight, ``"<module>.<tensor>"`` for another
        tensor).  Default: the weight of every Linear/Conv layer
        (:func:`prunable_layers`), plus their biases with ``prune_bias`` and the
        BatchNorm weights (and, with ``prune_bias``, biases) with ``prune_batchnorm``,
        as the ``--prune-bias`` / ``--prune-batchnorm`` options of Tanaka et al.'s code.
    exclude : iterable
        Entries of the same forms removed from the selection; a module (or its name)
        removes all its tensors and those of its submodules (``exclude=["layer3"]``).
    prune_bias, prune_batchnorm : bool
        Only with the default selection.

    Returns
    -------
    list of PrunableTensor
        In ``model.named_modules()`` order, weight before bias within a module,
        whatever the order of ``parameters_to_prune``: the order of the tie rule.

    Raises
    ------
    ValueError
        An entry that names nothing in ``model`` or a tensor that is not a
        floating-point parameter, duplicates, ``prune_bias``/``prune_batchnorm``
        together with an explicit selection, or an empty selection.
    """
    for flag, value in (("prune_bias", prune_bias), ("prune_batchnorm", prune_batchnorm)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag} must be True or False, got {flag}={value!r}")
    if parameters_to_prune is None:
        chosen = []
        for name, m in model.named_modules():
            is_bn = prune_batchnorm and isinstance(m, _BatchNorm) and _has_tensor(m, "weight")
            if isinstance(m, PRUNABLE) or is_bn:
                chosen.append((name, "weight"))
                if prune_bias and _has_tensor(m, "bias"):
                    chosen.append((name, "bias"))
    else:
        if prune_bias or prune_batchnorm:
            raise ValueError(
                "prune_bias/prune_batchnorm apply to the default selection; with parameters_to_prune list "
                "the biases and BatchNorm weights explicitly"
            )
        if isinstance(parameters_to_prune, (str, nn.Module)):
            parameters_to_prune = [parameters_to_prune]
        chosen = [p for e in parameters_to_prune for p in _resolve(model, e, "parameters_to_prune")]
        duplicates = sorted({_key(*p) for p in chosen if chosen.count(p) > 1})
        if duplicates:
            raise ValueError(f"parameters_to_prune lists {', '.join(map(repr, duplicates))} more than once")
    if isinstance(exclude, (str, nn.Module)):
        exclude = [exclude]
    names = {id(m): n for n, m in model.named_modules()}
    dropped = set()
    for e in exclude:
        if isinstance(e, nn.Module) or (isinstance(e, str) and e in names.values()):
            if isinstance(e, nn.Module) and id(e) not in names:
                raise ValueError(f"exclude entry {type(e).__name__}: the module is not part of the model")
            prefix = names[id(e)] if isinstance(e, nn.Module) else e
            # a module excludes all its tensors and those of its submodules
            dropped |= {p for p in chosen if not prefix or p[0] == prefix or p[0].startswith(prefix + ".")}
        else:
            dropped |= set(_resolve(model, e, "exclude"))
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    chosen = sorted(set(chosen) - dropped, key=lambda p: (order[p[0]], p[1] != "weight", p[1]))
    if not chosen and parameters_to_prune is None and not dropped:
        prunable_layers(model)  # raises: no Linear/Conv layer
    if not chosen:
        raise ValueError(f"nothing to prune in {type(model).__name__}: the selection of prunable tensors is empty")
    modules = dict(model.named_modules())
    return [PrunableTensor(_key(n, t), n, modules[n], t) for n, t in chosen]
