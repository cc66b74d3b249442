r"""The linearized network of SynFlow, on any model, with a check that it is linear.

SynFlow's objective is the path norm :math:`R = \mathbf 1^\top(\prod_l|W^l|)\mathbf 1`
(docs/theory.md §4): the network evaluated with every parameter replaced by its
absolute value, every additive term removed, every elementwise activation replaced by
the identity, on an all-ones input.  :func:`linearized` makes a model compute that
network, whatever the way its activations are written:

* every instance of an activation module (:data:`ACTIVATION_MODULES`) acts as the
  identity -- each instance, however often and wherever it is used (a shared
  ``nn.Tanh`` in an ``nn.Sequential`` is used once per layer);
* elementwise activations called as functions in ``forward`` (``torch.tanh``,
  ``torch.relu``, ``F.relu``, ``x.sigmoid()``, ...; :data:`ELEMENTWISE_ACTIVATIONS`)
  return their input, through a :class:`torch.overrides.TorchFunctionMode`.

Anything else stays as written.  Positively homogeneous operations of degree one
(max-pooling, ``clamp(min=0)``, ReLU on the positive signals) keep the network
linear in the sense that matters: :math:`R(\lambda x) = \lambda R(x)` for
:math:`\lambda > 0`, so that Euler's identity

.. math::

    \sum_i x_i\,\frac{\partial R}{\partial x_i} = R

holds, and with it SynFlow's conservation law (in a feed-forward network, every
layer's scores :math:`|W|\odot\partial R/\partial|W|` sum to :math:`R`).
:func:`check_homogeneous` tests Euler's identity on every scoring pass; where it
fails (an activation we cannot see, a softmax, an additive constant) it names the
innermost module whose output is not homogeneous in its input and the torch
functions that module calls, and refuses to score.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ._activations import ACTIVATION_MODULES

__all__ = ["ELEMENTWISE_ACTIVATIONS", "linearized", "check_homogeneous", "NotLinearizableError"]


def _functions(*names_in: tuple[object, tuple[str, ...]]) -> frozenset:
    found = set()
    for namespace, names in names_in:
        for name in names:
            fn = getattr(namespace, name, None)
            if fn is not None:
                found.add(fn)
    return frozenset(found)


_UNARY = ("tanh", "tanh_", "relu", "relu_", "sigmoid", "sigmoid_", "erf", "erf_")

#: Elementwise activations that act as the identity in the linearized network.
ELEMENTWISE_ACTIVATIONS = _functions(
    (torch, _UNARY + ("selu", "selu_", "celu", "celu_", "rrelu", "rrelu_")),
    (torch.Tensor, _UNARY),
    (torch.special, ("erf", "expit")),
    (
        F,
        (
            "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "elu", "elu_", "selu", "celu", "gelu",
            "silu", "mish", "softplus", "hardtanh", "hardtanh_", "sigmoid", "tanh", "hardswish",
            "hardsigmoid", "softsign", "rrelu", "logsigmoid", "tanhshrink",
        ),
    ),
)  # fmt: skip


class NotLinearizableError(ValueError):
    """The model cannot be linearized for SynFlow (its output is not homogeneous in its input)."""


def _identity(x, *args, **kwargs):
    return x


class _Linearize(TorchFunctionMode):
    """Elementwise activations return their input; other torch functions run as usual
    and are recorded, by innermost running module, for the error message."""

    def __init__(self, calls: dict | None = None, stack: list | None = None) -> None:
        super().__init__()
        self.calls, self.stack = calls, stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in ELEMENTWISE_ACTIVATIONS:
            return args[0] if args else kwargs["input"]
        if self.calls is not None and self.stack:
            name = getattr(func, "__name__", repr(func))
            if not name.startswith("__get") and name not in ("size", "dim"):
                self.calls.setdefault(self.stack[-1], []).append(name)
        return func(*args, **kwargs)


@contextmanager
def linearized(model: nn.Module, *, _calls: dict | None = None, _stack: list | None = None) -> Iterator[None]:
    """Within the block, ``model`` computes its linearized network (module docstring).

    Parameters and modes are not touched (the caller passes :math:`|\\theta|` and
    chooses eval mode); activation modules get an instance ``forward`` returning its
    input, removed on exit.
    """
    patched = []
    for m in model.modules():
        if isinstance(m, ACTIVATION_MODULES):
            patched.append((m, m.__dict__.get("forward")))
            m.forward = _identity
    try:
        with _Linearize(_calls, _stack):
            yield
    finally:
        for m, previous in patched:
            if previous is None:
                del m.forward
            else:
                m.forward = previous


def _tensors(value) -> list[torch.Tensor]:
    """The tensors in a module's (nested) inputs or outputs."""
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


def _scales(a: list[torch.Tensor], b: list[torch.Tensor], rtol: float) -> bool:
    """Whether every floating tensor of ``b`` is twice the one of ``a``."""
    pairs = [(x, y) for x, y in zip(a, b) if x.is_floating_point()]
    return len(a) == len(b) and all(torch.allclose(2 * x, y, rtol=rtol, atol=0.0) for x, y in pairs)


def _locate(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], ones: torch.Tensor, rtol: float) -> str:
    """Run the linearized forward at ``ones`` and ``2 * ones`` with hooks on every module;
    describe the innermost module whose inputs double but whose output does not."""
    names = {id(m): (n or type(model).__name__) for n, m in model.named_modules()}
    records: list[list] = [[], []]
    stack: list[str] = []
    calls: dict[str, list[str]] = {}
    handles = []

    def pre(m, args):
        stack.append(names[id(m)])

    def post(m, args, out, which):
        stack.pop()
        records[which[0]].append((names[id(m)], type(m).__name__, _tensors(args), _tensors(out)))

    which = [0]
    for m in model.modules():
        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(lambda m, a, o: post(m, a, o, which)))
    try:
        with torch.no_grad():
            for i, x in enumerate((ones, 2 * ones)):
                which[0] = i
                forward(x, _calls=calls if i == 0 else None, _stack=stack)
    finally:
        for h in handles:
            h.remove()
    for (name, kind, a1, o1), (_, _, a2, o2) in zip(*records):
        if _scales(a1, a2, rtol) and not _scales(o1, o2, rtol):
            called = sorted(set(calls.get(name, [])))
            detail = f"; torch functions it calls: {', '.join(called)}" if called else ""
            return f"module {name!r} ({kind}){detail}"
    return f"the model {type(model).__name__} (no single module found)"


def check_homogeneous(
    model: nn.Module,
    R: torch.Tensor,
    ones: torch.Tensor,
    grad_ones: torch.Tensor,
    forward: Callable[..., torch.Tensor],
) -> None:
    r"""Raise :class:`NotLinearizableError` unless :math:`\sum_i x_i\,\partial R/\partial x_i = R`.

    ``forward(x, _calls=, _stack=)`` reruns the linearized network (for the error
    message only).  Tolerance: relative :math:`10^{-4}` in float32, :math:`10^{-9}`
    in float64 (the identity holds exactly in exact arithmetic; the sums are of
    positive terms, so rounding stays near machine precision).
    """
    rtol = 1e-9 if R.dtype == torch.float64 else 1e-4
    euler = (ones * grad_ones).sum()
    if abs(float(euler) - float(R)) <= rtol * abs(float(R)):
        return
    where = _locate(model, forward, ones, rtol)
    raise NotLinearizableError(
        f"SynFlow cannot linearize {where}: its output is not positively homogeneous in its input once the "
        f"known activations act as the identity (sum x dR/dx = {float(euler):.6g} but R = {float(R):.6g}). "
        "SynFlow scores the path norm R = 1^T prod|W| 1 (docs/theory.md §4): write the activation as an "
        "nn.Module of eoc.nn.ACTIVATION_MODULES or as torch.tanh/torch.relu/F.* in forward, and return logits "
        "(no softmax or additive constants in forward)"
    )
