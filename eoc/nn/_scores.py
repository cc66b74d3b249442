r"""Pruning-at-initialization scores (THEORY.md section 4).

Every method returns one *importance* per weight, and pruning keeps the largest
importances (:func:`eoc.nn.prune_at_init`):

======== ================================================= ==========================
method   importance :math:`g_{ij}`                           reference
======== ================================================= ==========================
random   :math:`U_{ij}\sim\mathcal U(0, 1)` iid              --
magnitude :math:`|W_{ij}|`                                  MBP
snip     :math:`|W_{ij}\,\partial L/\partial W_{ij}|`         Lee et al. 2019 (SNIP, SBP)
grasp    :math:`+W_{ij}\,(Hg)_{ij}`, :math:`g = \nabla_W L`    Wang et al. 2020
synflow  :math:`|W_{ij}\,\partial R/\partial W_{ij}|`,         Tanaka et al. 2020
         :math:`R = \mathbf 1^\top f^{\rm lin}_{|\theta|}(\mathbf 1)`
======== ================================================= ==========================

GraSP sign: Wang et al. score :math:`S = -W\odot Hg` and remove the weights with
the *largest* S (those whose removal reduces gradient flow least).  The
importance returned here is :math:`-S = +W\odot Hg`, so "keep the largest
importance" keeps exactly the weights GraSP keeps.

Only the weights of Linear/Conv layers are scored (:func:`eoc.nn.prunable_layers`);
derivatives are taken with respect to the *effective* weights
:math:`W\odot\delta` of a network pruned before, so a pruned weight scores 0 (the
random score is multiplied by the mask too).  The model is never modified: the
network is evaluated with :func:`torch.func.functional_call` on detached copies of
its weights and buffers (BatchNorm running statistics are not updated, ``.grad``
is not touched).
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager
from itertools import chain
from typing import Callable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from .functional import grasp_importance, magnitude_importance, snip_importance, synflow_importance
from ._activations import ACTIVATION_MODULES
from ._layers import is_masked, layer_mask, prunable_layers, qualified, refresh_weight, weight_param

__all__ = ["METHODS", "compute_scores", "check_method", "score_layers", "loss_gradients"]

METHODS = ("random", "magnitude", "snip", "grasp", "synflow")
_DATA_METHODS = ("snip", "grasp")

Layers = Sequence[tuple[str, nn.Module]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_method(method, inputs, targets) -> str:
    """Validate a method name, and that data come with the methods that need data."""
    if method not in METHODS:
        raise ValueError(f"unknown method={method!r}; available: {', '.join(METHODS)}")
    if method in _DATA_METHODS and (inputs is None or targets is None):
        raise ValueError(f"method={method!r} needs a batch of data: pass inputs and targets")
    return method


def compute_scores(
    model: nn.Module,
    method: str,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    loss_fn: LossFn | None = None,
    generator: torch.Generator | None = None,
    input_shape: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    r"""One importance per weight of every prunable layer (see the module table).

    Parameters
    ----------
    model : nn.Module
    method : {"random", "magnitude", "snip", "grasp", "synflow"}
    inputs, targets : Tensor, optional
        A batch, needed by "snip" and "grasp".  :math:`L` = ``loss_fn(model(inputs),
        targets)``.  The model runs in its current mode (in train mode BatchNorm uses
        batch statistics, as in the reference implementations of SNIP and GraSP);
        its running statistics are not updated.
    loss_fn : callable, optional
        Defaults to ``torch.nn.functional.cross_entropy`` (mean over the batch).
        GraSP's code divides the logits by a temperature of 200: pass
        ``loss_fn=lambda out, y: F.cross_entropy(out / 200, y)`` to reproduce it.
    generator : torch.Generator, optional
        For "random".
    input_shape : sequence of int, optional
        For "synflow": the shape of one input; taken from ``inputs.shape[1:]`` when
        ``inputs`` is given, else from this argument, else from ``model.input_shape``
        (set by :class:`FFNN` and :class:`OneLayerResNet`).

    Returns
    -------
    dict
        ``{layer name: scores}``, each of the weight's shape, in module order.

    Notes
    -----
    GraSP: :math:`Hg` is a Hessian-vector product by double backward,
    :math:`Hg = \nabla_W (g^\top \mathrm{sg}(g))` with ``create_graph=True``, on one
    batch.  SynFlow: every floating-point parameter and buffer is replaced by its
    absolute value in float64 (no overflow in deep networks), BatchNorm runs in eval
    mode, activation modules act as the identity and the biases of the prunable
    layers are zero (the linearized network of the path norm
    :math:`R = \mathbf 1^\top(\prod_l|W^l|)\mathbf 1`), the input is one all-ones sample
    and :math:`R` the sum of the outputs.  Tanaka et al.'s code keeps :math:`|b|`; bias
    paths break the conservation of synaptic saliency (the flow through a layer no
    longer equals R) and, measured, let SynFlow empty 7-8 of the 20 layers of a tanh
    FFNN with biases at 99.5% sparsity, none once they are zeroed.
    the model's parameters, buffers, dtype and modes are unchanged afterwards.  This
    is one round; :func:`prune_at_init` iterates it.
    """
    check_method(method, inputs, targets)
    layers = prunable_layers(model)
    masks = [layer_mask(m) for _, m in layers]
    scores = score_layers(model, layers, masks, method, inputs, targets, loss_fn, generator, input_shape)
    return {name: s for (name, _), s in zip(layers, scores)}


def score_layers(
    model: nn.Module,
    layers: Layers,
    masks: Sequence[torch.Tensor],
    method: str,
    inputs: torch.Tensor | None,
    targets: torch.Tensor | None,
    loss_fn: LossFn | None,
    generator: torch.Generator | None,
    input_shape: Sequence[int] | None,
) -> list[torch.Tensor]:
    """Scores of the network whose layer weights are ``weight_param * masks``."""
    if method == "random":
        device = generator.device if generator is not None else None
        return [torch.rand(m.shape, generator=generator, device=device).to(m) * m for m in masks]
    if method == "magnitude":
        return [magnitude_importance(weight_param(module), m) for (_, module), m in zip(layers, masks)]
    if method == "synflow":
        return _synflow(model, layers, masks, inputs, input_shape)
    grasp = method == "grasp"
    weights, grads = loss_gradients(model, layers, masks, inputs, targets, loss_fn, create_graph=grasp)
    if method == "snip":
        return [snip_importance(w, g, m) for w, m, g in zip(weights, masks, grads)]
    flow = sum((g * g.detach()).sum() for g in grads)
    hg = torch.autograd.grad(flow, weights)
    return [grasp_importance(w, h, m) for w, m, h in zip(weights, masks, hg)]


def loss_gradients(
    model: nn.Module,
    layers: Layers,
    masks: Sequence[torch.Tensor],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None,
    *,
    create_graph: bool = False,
) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
    r"""Leaf copies :math:`W` of the layer weights and :math:`\partial L/\partial W` for
    the network with weights :math:`W\odot\delta` (so the gradients vanish off the mask)."""
    weights = [weight_param(module).detach().requires_grad_() for _, module in layers]
    state = {k: b.clone() for k, b in model.named_buffers()}
    outputs = _forward(model, layers, weights, masks, inputs, state)
    loss = (loss_fn or F.cross_entropy)(outputs, targets)
    return weights, torch.autograd.grad(loss, weights, create_graph=create_graph)


def _forward(model, layers, weights, masks, inputs, state) -> torch.Tensor:
    """``model(inputs)`` with layer weights ``weights * masks`` and other tensors from ``state``."""
    state = dict(state)
    for (name, module), w, m in zip(layers, weights, masks):
        state[qualified(name, "weight_orig" if is_masked(module) else "weight")] = w * m
    try:
        return functional_call(model, state, (inputs,))
    finally:
        for _, module in layers:  # the pruning pre-hook left our tensor in ``module.weight``
            refresh_weight(module)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def _linear_activations(model: nn.Module) -> Iterator[None]:
    r"""Temporarily replace every activation module (:data:`ACTIVATION_MODULES`) by the identity.

    SynFlow's objective is the path norm :math:`R = \mathbf 1^\top(\prod_l|W^l|)\mathbf 1`
    of the *linearized* network (THEORY.md section 4).  For ReLU on the positive
    signals of :math:`|\theta|` this changes nothing; a saturating activation (tanh)
    would otherwise flatten the flow through deep layers and let SynFlow empty the
    early layers (measured: 3.5 of 8 layers of a tanh FFNN at 99% sparsity).
    Activations applied functionally inside ``forward`` (``torch.relu``) are left as
    they are.
    """
    swapped = []
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, ACTIVATION_MODULES):
                swapped.append((parent, name, child))
                setattr(parent, name, nn.Identity())
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _input_shape(model: nn.Module, inputs, input_shape) -> tuple[int, ...]:
    if inputs is not None:
        return tuple(inputs.shape[1:])
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError(
            "method='synflow' needs the shape of one input: pass inputs=, input_shape=, "
            f"or set model.input_shape on {type(model).__name__}"
        )
    if not shape or not all(isinstance(n, numbers.Integral) and n > 0 for n in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers, got input_shape={shape!r}")
    return tuple(int(n) for n in shape)


def _synflow(model, layers, masks, inputs, input_shape) -> list[torch.Tensor]:
    shape = _input_shape(model, inputs, input_shape)
    state = {
        k: v.detach().abs().double() if v.is_floating_point() else v
        for k, v in chain(model.named_parameters(), model.named_buffers())
    }
    # R is the path norm 1^T (prod_l |W^l|) 1: the biases of the prunable layers are set to 0.
    for name, module in layers:
        if getattr(module, "bias", None) is not None:
            state[qualified(name, "bias")] = torch.zeros_like(state[qualified(name, "bias")])
    weights = [weight_param(module).detach().abs().double().requires_grad_() for _, module in layers]
    masks = [m.double() for m in masks]
    ones = torch.ones((1, *shape), dtype=torch.float64, device=weights[0].device)
    with _eval_mode(model), _linear_activations(model):
        flow = _forward(model, layers, weights, masks, ones, state).sum()
    grads = torch.autograd.grad(flow, weights)
    return [synflow_importance(w, g, m) for w, m, g in zip(weights, masks, grads)]
