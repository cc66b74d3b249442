r"""Pruning-at-initialization scores (docs/theory.md §4).

Every method returns one *importance* per prunable entry, and pruning keeps the
largest importances (:func:`eoc.nn.prune_at_init`):

========= ================================================== ==========================
method    importance :math:`g_{ij}`                            reference
========= ================================================== ==========================
random    :math:`U_{ij}\sim\mathcal U(0, 1)` iid               --
magnitude :math:`|W_{ij}|`                                    MBP
snip      :math:`|W_{ij}\,\partial L/\partial W_{ij}|`          Lee et al. 2019 (SNIP, SBP)
grasp     :math:`+W_{ij}\,(Hg)_{ij}`, :math:`g = \nabla_W L`,     Wang et al. 2020
          :math:`L` on the logits divided by :math:`T`
synflow   :math:`|W_{ij}\,\partial R/\partial W_{ij}|`,          Tanaka et al. 2020
          :math:`R = \mathbf 1^\top f^{\rm lin}_{|\theta|}(\mathbf 1)`
========= ================================================== ==========================

GraSP sign: Wang et al. score :math:`S = -W\odot Hg` and remove the weights with
the *largest* S (those whose removal reduces gradient flow least).  The
importance returned here is :math:`-S = +W\odot Hg`, so "keep the largest
importance" keeps exactly the weights GraSP keeps.

What is scored: the weights of every Linear/Conv layer by default, or any selection
of :func:`eoc.nn.prunable_tensors` (biases, BatchNorm weights, an explicit list,
exclusions).  Derivatives are taken with respect to the *effective* tensors
:math:`W\odot\delta` of a network pruned before, so a pruned entry scores 0 (the
random score is multiplied by the mask too).  The model is never modified: the
network is evaluated with :func:`torch.func.functional_call` on detached copies of
its tensors and buffers (BatchNorm running statistics are not updated, ``.grad``
is not touched, modes are restored).

BatchNorm mode (``bn_mode``) while SNIP and GraSP score a batch:

========== ====================================================================
``"eval"`` the default: running statistics (a fresh BatchNorm is then the
           identity up to :math:`1/\sqrt{1+\epsilon}`), Dropout off.  The choice of
           Lee et al.'s SNIP code (``is_train: False`` while pruning) and of Tanaka
           et al.'s benchmark of all five methods (``model.eval()`` unless
           ``--prune-train-mode``).
``"train"`` batch statistics, Dropout active: the choice of Wang et al.'s GraSP
           code (which scores a fresh, training-mode copy of the network).
``"model"`` the model's own modes, as they are.
========== ====================================================================

The effect of the choice on layer collapse is measured by
``bench/bench_prune_bn_mode.py``.  SynFlow always scores in eval mode (its
linearized network needs BatchNorm as a per-channel scale, :mod:`._linearize`).
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from . import _batch
from ._layers import (
    PRUNABLE,
    PrunableTensor,
    is_masked,
    masked_tensor_names,
    prunable_tensors,
    qualified,
    refresh_weight,
)
from .._vocab import BN_MODES, DEFAULT_BN_MODE, PRUNING_METHODS
from ._linearize import check_homogeneous, linearized
from .functional import grasp_importance, magnitude_importance, snip_importance

__all__ = [
    "METHODS",
    "BN_MODES",
    "DEFAULT_BN_MODE",
    "GRASP_TEMPERATURE",
    "ScoringOptions",
    "compute_scores",
    "check_method",
    "score_tensors",
    "loss_gradients",
    "SynFlowNetwork",
]

METHODS = PRUNING_METHODS
_DATA_METHODS = ("snip", "grasp")
# BN_MODES and DEFAULT_BN_MODE (the mode while scoring a batch, module docstring) come from eoc._vocab.
#: GraSP's temperature: Wang et al.'s code and Tanaka et al.'s divide the logits by 200.
GRASP_TEMPERATURE = 200.0

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_method(method, inputs, targets) -> str:
    """Validate a method name, and that data come with the methods that need data."""
    if method not in METHODS:
        raise ValueError(f"unknown method={method!r}; available: {', '.join(METHODS)}")
    if method in _DATA_METHODS and (inputs is None or targets is None):
        raise ValueError(f"method={method!r} needs a batch of data: pass inputs and targets")
    return method


@dataclass(frozen=True)
class ScoringOptions:
    """How a round of scores is computed (the keyword arguments of :func:`compute_scores`)."""

    loss_fn: LossFn | None = None
    generator: torch.Generator | None = None
    input_shape: Sequence[int] | None = None
    bn_mode: str = DEFAULT_BN_MODE
    temperature: float = GRASP_TEMPERATURE

    def __post_init__(self) -> None:
        if self.bn_mode not in BN_MODES:
            raise ValueError(f"bn_mode must be one of {BN_MODES}, got bn_mode={self.bn_mode!r}")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not (0 < float(t) < float("inf")):
            raise ValueError(f"temperature must be a finite number > 0, got temperature={t!r}")
        if self.loss_fn is not None and not callable(self.loss_fn):
            raise ValueError(f"loss_fn must be callable, got loss_fn={self.loss_fn!r}")


def validate_batch(model: nn.Module, method: str, inputs, targets, loss_fn) -> None:
    """The checks of :mod:`eoc.nn._batch` on whatever part of the batch is given."""
    check_method(method, inputs, targets)
    if inputs is not None:
        _batch.check_inputs(model, inputs)
        if targets is not None:
            _batch.check_targets(inputs, targets, loss_fn)
    elif targets is not None:
        raise ValueError("targets given without inputs")


def compute_scores(
    model: nn.Module,
    method: str,
    inputs: torch.Tensor | None = None,
    targets: torch.Tensor | None = None,
    *,
    loss_fn: LossFn | None = None,
    generator: torch.Generator | None = None,
    input_shape: Sequence[int] | None = None,
    bn_mode: str = DEFAULT_BN_MODE,
    temperature: float = GRASP_TEMPERATURE,
    parameters_to_prune: Iterable | None = None,
    exclude: Iterable = (),
    prune_bias: bool = False,
    prune_batchnorm: bool = False,
) -> dict[str, torch.Tensor]:
    r"""One importance per entry of every prunable tensor (see the module table).

    Parameters
    ----------
    model : nn.Module
    method : {"random", "magnitude", "snip", "grasp", "synflow"}
    inputs, targets : Tensor, optional
        A batch, needed by "snip" and "grasp"; :math:`L` = ``loss_fn(model(inputs),
        targets)``.  Validated before any scoring (:mod:`eoc.nn._batch`): a bad
        shape, a size mismatch, targets out of range or of the wrong dtype, an empty
        batch, NaN/inf inputs, a non-finite loss or an overflowing forward pass raise
        a ValueError.
    loss_fn : callable, optional
        Defaults to ``torch.nn.functional.cross_entropy`` (mean over the batch).
    generator : torch.Generator, optional
        For "random".
    input_shape : sequence of int, optional
        For "synflow": the shape of one input; taken from ``inputs.shape[1:]`` when
        ``inputs`` is given, else from this argument, else from ``model.input_shape``
        (set by :class:`FFNN` and :class:`OneLayerResNet`).
    bn_mode : {"eval", "train", "model"}
        Modes of the model while SNIP and GraSP score the batch (module docstring);
        default "eval".  Ignored by random and magnitude (no forward pass); SynFlow
        always runs in eval mode.
    temperature : float
        GraSP only: the loss is computed on ``outputs / temperature``.  Default
        :data:`GRASP_TEMPERATURE` = 200 as in Wang et al.'s and Tanaka et al.'s code;
        1 is the untempered loss.
    parameters_to_prune, exclude, prune_bias, prune_batchnorm
        Which tensors are scored: :func:`eoc.nn.prunable_tensors`.

    Returns
    -------
    dict
        ``{key: scores}``, each of the tensor's shape, in module order; the key of a
        layer's weight is the layer's name, ``"<module>.<tensor>"`` otherwise.  In
        the model's dtype, except SynFlow on a float32 model when float32 would
        overflow (float64, below).

    Notes
    -----
    GraSP: :math:`Hg` is a Hessian-vector product by double backward,
    :math:`Hg = \nabla_W (g^\top \mathrm{sg}(g))` with ``create_graph=True``, on one
    batch.  SynFlow (:class:`SynFlowNetwork`): every floating-point parameter and
    buffer is replaced by its absolute value, BatchNorm runs in eval mode with its
    shift (bias, running mean) removed, activations act as the identity wherever and
    however they are applied, the biases of the Linear/Conv layers are zero (the
    linearized network of the path norm :math:`R = \mathbf 1^\top(\prod_l|W^l|)
    \mathbf 1`), the input is one all-ones sample and :math:`R` the sum of the
    outputs.  Tanaka et al.'s code keeps :math:`|b|`; bias paths break the
    conservation of synaptic saliency (the flow through a layer no longer equals R)
    and let SynFlow empty layers of a tanh FFNN with biases
    (``tests/nn/test_nn_synflow_path_norm.py``).  A pruned bias scores
    :math:`|b|\,\partial R/\partial b` at :math:`b = 0`, which is the same
    derivative as with the biases in place (R is affine in them).  The computation
    runs in float32 (float64 for a float64 model) and is redone in float64 when R
    or a gradient overflows or R underflows; a model that cannot be linearized
    (Euler's identity :math:`\sum x\,\partial R/\partial x = R` fails) raises a
    ValueError naming the module.  This is one round; :func:`prune_at_init`
    iterates it.
    """
    options = ScoringOptions(loss_fn, generator, input_shape, bn_mode, temperature)
    validate_batch(model, method, inputs, targets, loss_fn)
    tensors = prunable_tensors(
        model, parameters_to_prune, exclude=exclude, prune_bias=prune_bias, prune_batchnorm=prune_batchnorm
    )
    scores = score_tensors(model, tensors, [t.alive for t in tensors], method, inputs, targets, options)
    return {t.key: s for t, s in zip(tensors, scores)}


def score_tensors(
    model: nn.Module,
    tensors: Sequence[PrunableTensor],
    masks: Sequence[torch.Tensor | None],
    method: str,
    inputs: torch.Tensor | None,
    targets: torch.Tensor | None,
    options: ScoringOptions,
) -> list[torch.Tensor]:
    """Scores of the network whose prunable tensors are ``param * masks`` (a mask
    ``None``: nothing pruned in that tensor)."""
    if method == "random":
        device = options.generator.device if options.generator is not None else None
        out = []
        for t, m in zip(tensors, masks):
            u = torch.rand(t.param.shape, generator=options.generator, device=device)
            u = u.to(device=t.param.device, dtype=t.param.dtype)
            out.append(u if m is None else u * m)
        return out
    if method == "magnitude":
        return [magnitude_importance(t.param, m) for t, m in zip(tensors, masks)]
    if method == "synflow":
        net = SynFlowNetwork(model, tensors, masks, synflow_input_shape(model, inputs, options.input_shape))
        return net.scores()
    grasp = method == "grasp"
    params, grads = loss_gradients(
        model,
        tensors,
        masks,
        inputs,
        targets,
        options.loss_fn,
        bn_mode=options.bn_mode,
        temperature=options.temperature if grasp else 1.0,
        create_graph=grasp,
    )
    if not grasp:
        return [snip_importance(p, g, m) for p, m, g in zip(params, masks, grads)]
    flow = sum((g * g.detach()).sum() for g in grads)
    hg = torch.autograd.grad(flow, params)
    _batch.check_finite_gradients(hg, [f"{t.key} (Hessian-gradient product)" for t in tensors], model)
    return [grasp_importance(p, h, m) for p, m, h in zip(params, masks, hg)]


@contextmanager
def scoring_mode(model: nn.Module, bn_mode: str) -> Iterator[None]:
    """``model.train()`` / ``model.eval()`` within the block ("model": unchanged); modes restored."""
    modes = [(m, m.training) for m in model.modules()]
    if bn_mode != "model":
        model.train(bn_mode == "train")
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def _refresh_all(model: nn.Module) -> None:
    """After a functional forward: the pruning pre-hooks left our tensors in the modules."""
    for m in model.modules():
        for name in masked_tensor_names(m):
            refresh_weight(m, name)


def _forward(model: nn.Module, state: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
    try:
        return functional_call(model, state, (inputs,))
    finally:
        _refresh_all(model)


def loss_gradients(
    model: nn.Module,
    tensors: Sequence[PrunableTensor],
    masks: Sequence[torch.Tensor | None],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None,
    *,
    bn_mode: str = DEFAULT_BN_MODE,
    temperature: float = 1.0,
    create_graph: bool = False,
) -> tuple[list[torch.Tensor], tuple[torch.Tensor, ...]]:
    r"""Leaf copies :math:`W` of the prunable tensors and :math:`\partial L/\partial W` for
    the network with tensors :math:`W\odot\delta` (so the gradients vanish off the mask),
    :math:`L` = ``loss_fn(model(inputs) / temperature, targets)``.

    The forward pass, the loss and the gradients are checked (:mod:`eoc.nn._batch`;
    the callers validate the batch itself first); buffers are copied, so BatchNorm
    running statistics are not updated; modes follow ``bn_mode``.
    """
    params = [t.param.detach().requires_grad_() for t in tensors]
    state = {k: b if k.endswith("_mask") else b.clone() for k, b in model.named_buffers()}
    for t, p, m in zip(tensors, params, masks):
        state[t.state_key] = p if m is None else p * m
    with scoring_mode(model, bn_mode):
        outputs = _batch.checked_forward(model, lambda: _forward(model, state, inputs), inputs)
    if temperature != 1.0:
        outputs = outputs / temperature
    loss = _batch.checked_loss(outputs, targets, loss_fn, model)
    grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    grads = tuple(torch.zeros_like(p) if g is None else g for p, g in zip(params, grads))
    _batch.check_finite_gradients(grads, [t.key for t in tensors], model)
    return params, grads


# ----------------------------------------------------------------------------- SynFlow


def synflow_input_shape(model: nn.Module, inputs, input_shape) -> tuple[int, ...]:
    """The shape of one input of the all-ones SynFlow batch."""
    if inputs is not None:
        return tuple(inputs.shape[1:])
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError(
            "method='synflow' needs the shape of one input: pass inputs=, input_shape=, "
            f"or set model.input_shape on {type(model).__name__}"
        )
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    if not shape or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers, got input_shape={shape!r}")
    return tuple(int(n) for n in shape)


def _shift_keys(model: nn.Module) -> set[str]:
    """State keys of the additive terms removed from the linearized network: biases of
    Linear/Conv layers, BatchNorm biases and running means."""
    keys = set()
    for name, m in model.named_modules():
        if isinstance(m, PRUNABLE + (_BatchNorm,)):
            for attr in ("bias", "running_mean"):
                if isinstance(getattr(m, attr, None), torch.Tensor):
                    keys.add(qualified(name, attr + "_orig" if is_masked(m, attr) else attr))
    return keys


class SynFlowNetwork:
    r"""The linearized network of SynFlow for ``model``, prepared once for many rounds.

    Holds :math:`|\theta|` for every floating tensor of the model (shifts removed,
    see :func:`compute_scores`), and one leaf per prunable tensor: :math:`|W|\odot\delta`
    for a weight, zero for a bias (whose value :math:`|b|\odot\delta` is kept in
    :attr:`values`).  :meth:`gradients` runs one forward/backward pass;
    :meth:`prune_` zeroes entries between rounds.  Computation dtype: float32 (float64
    for a float64 model), switched to float64 for good when float32 overflows.
    """

    def __init__(
        self,
        model: nn.Module,
        tensors: Sequence[PrunableTensor],
        masks: Sequence[torch.Tensor | None],
        input_shape: Sequence[int],
    ) -> None:
        self.model = model
        self.tensors = list(tensors)
        self.input_shape = tuple(input_shape)
        first = self.tensors[0].param
        self.dtype = torch.float64 if first.dtype == torch.float64 else torch.float32
        self.device = first.device
        shifts = _shift_keys(model)
        targets = {t.state_key for t in self.tensors}
        self.state: dict[str, torch.Tensor] = {}
        for k, v in chain(model.named_parameters(), model.named_buffers()):
            if k in targets:
                continue
            if not v.is_floating_point() or k.endswith("_mask"):
                self.state[k] = v
            elif k in shifts:
                self.state[k] = torch.zeros_like(v, dtype=self.dtype)
            else:
                self.state[k] = v.detach().abs().to(self.dtype)
        with torch.no_grad():
            values = [t.param.detach().abs().to(self.dtype) for t in self.tensors]
            for v, m in zip(values, masks):
                if m is not None:
                    v.mul_(m)
        self._set_values(values)

    def _set_values(self, values: list[torch.Tensor]) -> None:
        #: :math:`|W|\odot\delta` (weights) and :math:`|b|\odot\delta` (biases), in the computation dtype.
        self.values = values
        # A weight's leaf is its value itself (updated in place by prune_); a bias's leaf is zero.
        self.leaves = [v if t.tensor == "weight" else torch.zeros_like(v) for t, v in zip(self.tensors, values)]
        for t, leaf in zip(self.tensors, self.leaves):
            self.state[t.state_key] = leaf.requires_grad_()

    def _to(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        for k, v in self.state.items():
            if v.is_floating_point() and not k.endswith("_mask"):
                self.state[k] = v.detach().to(dtype)
        self._set_values([v.detach().to(dtype) for v in self.values])

    def forward(self, x: torch.Tensor, *, _calls=None, _stack=None) -> torch.Tensor:
        """The linearized network at ``x`` (eval mode)."""
        with scoring_mode(self.model, "eval"), linearized(self.model, _calls=_calls, _stack=_stack):
            return _forward(self.model, self.state, x)

    def _try(self, finite: Callable[[list[torch.Tensor]], bool]):
        """One pass in the current dtype; None when R overflows or underflows, or the
        gradients are not finite (``finite``)."""
        x = torch.ones((1, *self.input_shape), dtype=self.dtype, device=self.device, requires_grad=True)
        try:
            R = self.forward(x).sum()
        except RuntimeError as exc:
            raise ValueError(
                f"the forward pass of {type(self.model).__name__} failed on the SynFlow input of shape "
                f"{(1, *self.input_shape)} (input_shape={self.input_shape}): {exc}"
            ) from exc
        value = float(R.detach())
        if not abs(value) < float("inf"):
            return None  # overflow
        if self.dtype != torch.float64 and 0 < value <= torch.finfo(self.dtype).tiny * 2**24:
            return None  # underflow: float32 keeps no precision there
        *grads, grad_x = torch.autograd.grad(R, [*self.leaves, x], allow_unused=True)
        grads = [torch.zeros_like(v) if g is None else g for v, g in zip(self.values, grads)]
        if not bool(torch.isfinite(grad_x.sum())) or not finite(grads):
            return None
        return R, grads, x, grad_x

    def gradients(self, finite: Callable[[list[torch.Tensor]], bool] | None = None):
        r""":math:`R` and :math:`\partial R/\partial` leaf for every prunable tensor, one pass.

        Float32 first; float64 (for good) when R overflows or underflows, or when
        ``finite(grads)`` is False (default: every gradient sums to a finite value;
        :func:`eoc.nn.prune_at_init` checks only the entries still alive).  Then
        Euler's identity is checked (:func:`check_homogeneous`).
        """
        finite = finite or (lambda grads: all(bool(torch.isfinite(g.sum())) for g in grads))
        result = self._try(finite)
        if result is None and self.dtype != torch.float64:
            self._to(torch.float64)
            result = self._try(finite)
        if result is None:
            raise ValueError(
                f"the SynFlow path norm of {type(self.model).__name__} is not finite and positive even in "
                f"float64: {_batch.overflow_hint(self.model)}"
            )
        R, grads, x, grad_x = result
        check_homogeneous(self.model, R.detach(), x.detach(), grad_x, self.forward)
        return R.detach(), grads

    def scores(self) -> list[torch.Tensor]:
        """Dense SynFlow scores :math:`|\\theta|\\odot\\delta\\odot\\partial R/\\partial\\theta` of every prunable tensor."""
        _, grads = self.gradients()
        return [v.detach() * g for v, g in zip(self.values, grads)]

    @torch.no_grad()
    def prune_(self, i: int, flat_index: torch.Tensor) -> None:
        """Zero the entries ``flat_index`` of prunable tensor ``i`` (between rounds)."""
        self.values[i].view(-1).index_fill_(0, flat_index, 0.0)  # a weight's leaf is its value
