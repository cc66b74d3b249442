"""Validation of the scoring batch of :mod:`eoc.nn`'s entry points, before any scoring.

:func:`eoc.nn.compute_scores`, :func:`eoc.nn.prune_at_init`,
:func:`eoc.nn.check_layer_collapse` and :func:`eoc.nn.layer_gradient_norms` check
their ``inputs`` and ``targets`` here, and run the forward pass and the loss through
:func:`checked_forward` / :func:`checked_loss`, so that a bad batch is a
``ValueError`` naming the argument and its value, not a torch error deep in the
model or silently NaN scores:

* ``inputs``: a non-empty tensor, finite, whose per-example size matches
  ``model.input_shape`` when the model declares one, and that the model accepts
  (a failing forward pass is reported with the shape of ``inputs``);
* ``targets``: as many as ``inputs``; for the default cross-entropy, class indices
  (an integer tensor) in ``[0, C)`` for ``C`` outputs (``-100``, cross-entropy's
  ``ignore_index``, is allowed), or class probabilities shaped like the outputs;
* outputs, loss and gradients finite: a float32 forward pass that overflows (deep
  standard ResNets grow exponentially with depth, docs/theory.md §6) says so.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

__all__ = [
    "check_inputs",
    "check_targets",
    "checked_forward",
    "checked_loss",
    "check_finite_gradients",
    "overflow_hint",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _describe_nonfinite(t: torch.Tensor) -> str:
    n_nan = int(torch.isnan(t).sum())
    n_inf = int(torch.isinf(t).sum())
    parts = [f"{n} {what}" for n, what in ((n_nan, "NaN"), (n_inf, "inf")) if n]
    return f"{' and '.join(parts)} of {t.numel()} entries"


def check_inputs(model: nn.Module, inputs) -> torch.Tensor:
    """``inputs`` as given, after the checks of the module docstring (shape against
    ``model.input_shape`` if the model has one)."""
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"inputs must be a torch.Tensor (a batch, examples first), got {type(inputs).__name__}")
    if inputs.dim() == 0:
        raise ValueError(f"inputs must have a batch dimension, got a 0-d tensor inputs={inputs!r}")
    if inputs.shape[0] == 0:
        raise ValueError(f"inputs is an empty batch: shape {_shape(inputs)} (scores of an empty batch are all zero)")
    if inputs.is_floating_point() or inputs.is_complex():
        if not bool(torch.isfinite(inputs).all()):
            raise ValueError(f"inputs contain {_describe_nonfinite(inputs)} (shape {_shape(inputs)})")
    declared = getattr(model, "input_shape", None)
    if declared is not None and math.prod(inputs.shape[1:]) != math.prod(declared):
        raise ValueError(
            f"inputs of shape {_shape(inputs)} do not match {type(model).__name__}.input_shape={tuple(declared)}: "
            f"each example must have {math.prod(declared)} entries, got {math.prod(inputs.shape[1:])}"
        )
    return inputs


def check_targets(inputs: torch.Tensor, targets, loss_fn: LossFn | None) -> torch.Tensor:
    """``targets`` as given: a tensor with one entry per example of ``inputs``; for the
    default cross-entropy, integer class indices or floating class probabilities."""
    if not isinstance(targets, torch.Tensor):
        raise ValueError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if targets.dim() == 0 or targets.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"targets of shape {_shape(targets)} do not match inputs of shape {_shape(inputs)}: "
            f"one target per example is needed ({inputs.shape[0]})"
        )
    if loss_fn is None:
        if targets.dtype == torch.bool or targets.is_complex():
            raise ValueError(f"targets has dtype {targets.dtype}: cross-entropy needs class indices (torch.long)")
        if targets.is_floating_point():
            if targets.dim() == 1:
                raise ValueError(
                    f"targets has dtype {targets.dtype} and shape {_shape(targets)}: cross-entropy needs class "
                    "indices (an integer tensor, e.g. targets.long()) or class probabilities of shape (N, C)"
                )
            if not bool(torch.isfinite(targets).all()):
                raise ValueError(f"targets contain {_describe_nonfinite(targets)}")
    return targets


def overflow_hint(model: nn.Module) -> str:
    """The advice given when a forward or backward pass overflows."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return (
        f"the network overflows in {str(dtype).replace('torch.', '')} "
        "(a deep standard ResNet grows exponentially with depth, docs/theory.md §6): "
        "use float64 (model.double() and double inputs) or a Stable ResNet (eoc.nn.resnet(..., stable=True))"
    )


def checked_forward(model: nn.Module, run: Callable[[], torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    """``run()`` (the forward pass on ``inputs``), with a failure reported as a
    ValueError naming the shape of ``inputs``, and non-finite outputs as an overflow."""
    try:
        outputs = run()
    except RuntimeError as exc:
        raise ValueError(
            f"the forward pass of {type(model).__name__} failed on inputs of shape {_shape(inputs)} "
            f"(dtype {inputs.dtype}): {exc}"
        ) from exc
    if not isinstance(outputs, torch.Tensor):
        raise ValueError(f"{type(model).__name__} returned {type(outputs).__name__}: scoring needs a tensor of outputs")
    if outputs.is_floating_point() and not bool(torch.isfinite(outputs).all()):
        raise ValueError(f"the outputs contain {_describe_nonfinite(outputs)}: {overflow_hint(model)}")
    return outputs


def checked_loss(outputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn | None, model: nn.Module) -> torch.Tensor:
    """The scalar loss, after checking ``targets`` against ``outputs`` for the default
    cross-entropy; a non-finite loss is a ValueError."""
    if loss_fn is None:
        if outputs.dim() < 2:
            raise ValueError(
                f"cross-entropy needs outputs of shape (N, C), {type(model).__name__} returned {_shape(outputs)}"
            )
        classes = outputs.shape[1]
        if targets.is_floating_point():
            if targets.shape != outputs.shape:
                raise ValueError(
                    f"targets of shape {_shape(targets)} are class probabilities but the outputs have shape "
                    f"{_shape(outputs)}"
                )
        else:
            bad = (targets != -100) & ((targets < 0) | (targets >= classes))
            if bool(bad.any()):
                value = int(targets[bad][0])
                raise ValueError(
                    f"targets must be class indices in [0, {classes}) for the {classes} outputs of "
                    f"{type(model).__name__}, got a target {value} ({int(bad.sum())} out of range)"
                )
        loss = torch.nn.functional.cross_entropy(outputs, targets)
    else:
        loss = loss_fn(outputs, targets)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {loss!r:.80}")
        loss = loss.reshape(())
    if not bool(torch.isfinite(loss)):
        name = "cross-entropy" if loss_fn is None else f"loss_fn={getattr(loss_fn, '__name__', loss_fn)!r}"
        raise ValueError(f"the loss ({name}) is {float(loss.detach())} on this batch: scores would be NaN")
    return loss


def check_finite_gradients(grads: Sequence[torch.Tensor], names: Sequence[str], model: nn.Module) -> None:
    """Non-finite gradients (an overflow in the backward pass) as a ValueError naming the layer."""
    for g, name in zip(grads, names):
        if not bool(torch.isfinite(g.sum())) and not bool(torch.isfinite(g).all()):
            raise ValueError(f"the gradient of layer {name!r} contains {_describe_nonfinite(g)}: {overflow_hint(model)}")
