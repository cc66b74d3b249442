r"""Training a pruned network cheaply: masks applied in place instead of on every forward.

``torch.nn.utils.prune`` keeps a pruned tensor ``t`` as ``t_orig`` and ``t_mask`` and
recomputes ``t = t_orig * t_mask`` in a forward pre-hook on every forward pass (and
its gradient on every backward).  :func:`inplace_masks_` keeps the same parameters,
buffers and ``state_dict`` keys but stores the product once: the pruned entries of
``t_orig`` are set to zero and ``t`` *is* ``t_orig``.  A forward pass then costs what
the dense one costs.

What keeps the pruned entries at zero is then the training loop: the gradient of a
zero weight is not zero, so every optimizer step moves them.  :func:`apply_masks_`
zeroes them again (and the optimizer's per-entry state: SGD's momentum buffer,
Adam's moments), and :func:`register_mask_hook` calls it after every
``optimizer.step()``::

    eoc.nn.prune_at_init(model, "snip", 0.98, x, y)
    eoc.nn.inplace_masks_(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    eoc.nn.register_mask_hook(opt, model)
    ...  # the usual loop: every forward sees exact zeros at the pruned entries

For SGD (momentum, Nesterov, weight decay) and Adam-type optimizers the kept
entries then follow exactly the trajectory they follow with the pruning pre-hook
(tested bit for bit): their gradients and updates are the same, and the pruned
entries are zero at every forward pass either way.  The measured cost of each form,
against the dense step, is in ``bench/bench_prune_train.py``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.hooks import RemovableHandle

from ._layers import InplaceMask, inplace_hook, is_inplace_masked, masked_tensor_names, refresh_weight

__all__ = ["inplace_masks_", "apply_masks_", "register_mask_hook"]


def _masked(model: nn.Module) -> list[tuple[nn.Module, str]]:
    pairs = [(m, t) for m in model.modules() for t in masked_tensor_names(m)]
    if not pairs:
        raise ValueError(f"model {type(model).__name__} has no pruned tensor: prune it first (prune_at_init)")
    return pairs


@torch.no_grad()
def inplace_masks_(model: nn.Module) -> nn.Module:
    """Mask every pruned tensor of ``model`` in place; return ``model``.

    For every tensor ``t`` pruned with ``torch.nn.utils.prune`` (or by
    :func:`prune_at_init`): the pruning pre-hook is removed, the pruned entries of
    ``t_orig`` are set to zero (their initial values are discarded), and ``t``
    becomes ``t_orig`` itself, kept so by a pre-hook that only re-binds the
    attribute (after ``model.to(...)`` for instance).  Parameters, buffers and
    ``state_dict`` keys (``t_orig``, ``t_mask``) are unchanged, so
    :func:`load_pruned_state_dict_` and ``torch.nn.utils.prune`` read the saved
    state.  Call :func:`apply_masks_` after every optimizer step
    (:func:`register_mask_hook`).  Tensors already masked in place are left alone.

    Raises
    ------
    ValueError
        If ``model`` has no pruned tensor.
    """
    for module, name in _masked(model):
        if is_inplace_masked(module, name):
            continue
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == name:  # containers too
                del module._forward_pre_hooks[key]
        hook = inplace_hook(module)
        if hook is None:
            module.register_forward_pre_hook(InplaceMask([name]))
        else:
            hook.names = hook.names + (name,)
        refresh_weight(module, name)
    return model


@torch.no_grad()
def apply_masks_(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> nn.Module:
    """Set the pruned entries of every masked ``t_orig`` to zero; return ``model``.

    ``t_orig`` is multiplied by ``t_mask`` (one fused ``torch._foreach_mul_`` over all
    masked tensors).  With ``optimizer``, its per-entry state of those parameters
    (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ... -- any state tensor of the
    parameter's shape) is multiplied by the mask too, so momentum does not carry the
    gradient of pruned entries into later steps.  Works for both mask forms
    (pre-hook or in place).  (A NaN in a pruned entry stays NaN -- it can only come
    from a NaN gradient, which has then reached every entry.)
    """
    pairs = _masked(model)
    origs = [getattr(m, t + "_orig") for m, t in pairs]
    masks = [getattr(m, t + "_mask") for m, t in pairs]
    masks = [k if k.dtype == o.dtype else k.to(o.dtype) for k, o in zip(masks, origs)]
    torch._foreach_mul_(origs, masks)
    if optimizer is not None:
        state, factors = [], []
        for orig, mask in zip(origs, masks):
            for value in optimizer.state.get(orig, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == orig.shape:
                    state.append(value)
                    factors.append(mask if mask.dtype == value.dtype else mask.to(value.dtype))
        if state:
            torch._foreach_mul_(state, factors)
    for (module, name), orig in zip(pairs, origs):
        if is_inplace_masked(module, name):
            module.__dict__[name] = orig
    return model


def register_mask_hook(optimizer: torch.optim.Optimizer, model: nn.Module) -> RemovableHandle:
    """Call :func:`apply_masks_` ``(model, optimizer)`` after every ``optimizer.step()``.

    Returns the handle of ``optimizer.register_step_post_hook`` (``.remove()`` undoes
    it).  The masks are applied once right away, so the first forward pass already
    sees zeros.
    """
    apply_masks_(model, optimizer)
    return optimizer.register_step_post_hook(lambda opt, args, kwargs: apply_masks_(model, opt))
