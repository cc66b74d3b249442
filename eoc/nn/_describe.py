r"""From a PyTorch model to the theory's description of it: :func:`describe`.

The model is traced with :mod:`torch.fx` (Linear/Conv layers, activations,
normalizations, poolings, ``nn.Flatten``, ``nn.Identity``, dropout and every other
``torch.nn`` module are kept whole), run once on a random input of the given shape
to record every tensor's shape, and translated node by node into an
:class:`eoc.Architecture` (docs/theory.md §1, §6):

=====================================================  ================================================
traced operation                                       node of the description
=====================================================  ================================================
``nn.Linear``, ``nn.Conv1d/2d/3d``                     ``"layer"`` (its :class:`eoc.Layer`)
activation module or function (``torch.relu``, ...)    ``"act"``, labelled with its :mod:`eoc` name
``nn.BatchNorm*``, ``LayerNorm``, ``GroupNorm``         ``"norm"`` (train or eval mode, as the model is)
max/avg/adaptive pooling, ``x.mean(dim=(-2, -1))``     ``"pool"``
``flatten``, ``view``, ``reshape``, ``permute``        ``"reshape"``
``x * c``, ``c * x``, ``x / c`` with a constant        ``"scale"`` (the branch scale of a ResNet)
``x + y`` of two signals                               ``"add"`` (a residual connection)
``torch.cat`` along the channels                       ``"concat"``
``nn.Identity``, dropout, ``contiguous``               dropped
anything else (attention, ``x * y``, ...)              ``"uncovered"``, with its prunable layers inside
=====================================================  ================================================

Residual branches, shortcuts and branch scales follow from the graph
(:attr:`eoc.Architecture.roles`).  Each layer's :math:`\sigma_w` and :math:`\sigma_b`
are inferred from its weights as they are now (the initialization):

.. math::

    \hat\sigma_w = \sqrt{v_l\,\overline{W^2}},\qquad \hat\sigma_b = \sqrt{\overline{B^2}},

whose relative error is about :math:`1/\sqrt{2M_l}` for Gaussian weights.  What
the theory does not cover is written in :attr:`eoc.Architecture.notes`:
normalizations, uncovered operations, grouped convolutions, activations without an
:mod:`eoc` counterpart, and weights that are not Gaussian (an excess kurtosis
beyond sampling error, e.g. torch's default uniform initialization, kurtosis 1.8).
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from typing import Any, Sequence

import torch
import torch.fx as fx
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm
from torch.nn.modules.pooling import _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd, _AvgPoolNd, _MaxPoolNd

from .. import Activation, get_activation
from .._arch import Architecture
from .._graph import Layer, Node
from ._activations import ACTIVATION_MODULES, Erf, ScaledSiLU
from ._layers import PRUNABLE, is_masked, prunable_layers, weight_param

__all__ = ["describe", "activation_from_label"]

_NORMS = (_BatchNorm, nn.LayerNorm, nn.GroupNorm, _InstanceNorm)
_POOLS = (_MaxPoolNd, _AvgPoolNd, _AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_LEAVES = PRUNABLE + ACTIVATION_MODULES + _NORMS + _POOLS + _DROPOUTS + (nn.Flatten, nn.Identity)

#: Activation functions and tensor methods, by eoc name.
_ACT_FUNCTIONS = {
    torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid", torch.erf: "erf", F.gelu: "gelu", F.silu: "silu", F.elu: "elu", F.selu: "selu",
    torch.selu: "selu", F.leaky_relu: "leaky_relu", F.softplus: "softplus",
}  # fmt: skip
_ACT_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid", "erf": "erf"}
_ADD = {operator.add, operator.iadd, torch.add, operator.sub, operator.isub, torch.sub}
_MUL = {operator.mul, operator.imul, torch.mul}
_DIV = {operator.truediv, operator.itruediv, torch.div}
_RESHAPE_FUNCTIONS = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.permute, torch.transpose}
_RESHAPE_METHODS = {"flatten", "view", "reshape", "squeeze", "unsqueeze", "permute", "transpose", "t", "view_as"}
_IDENTITY_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout}
_IDENTITY_METHODS = {"contiguous", "clone", "detach", "float", "double", "to", "type_as"}
_POOL_FUNCTIONS = {
    F.max_pool1d: "max", F.max_pool2d: "max", F.max_pool3d: "max", F.avg_pool1d: "average",
    F.avg_pool2d: "average", F.avg_pool3d: "average", F.adaptive_avg_pool1d: "average",
    F.adaptive_avg_pool2d: "average", F.adaptive_avg_pool3d: "average", F.adaptive_max_pool1d: "max",
    F.adaptive_max_pool2d: "max", torch.mean: "average", torch.amax: "max",
}  # fmt: skip
_POOL_METHODS = {"mean": "average", "amax": "max"}
_CAT = {torch.cat, torch.concat}

#: |excess kurtosis| above this many standard errors (sqrt(24/M)) flags non-Gaussian weights.
_KURTOSIS_Z = 6.0


class _Tracer(fx.Tracer):
    """Keeps layers, activations, norms, pools and every torch.nn module whole (not traced through)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _activation_of_module(module: nn.Module) -> Activation | None:
    """The eoc activation computed by an activation module, or None if it has none."""
    if isinstance(module, nn.ReLU):
        return get_activation("relu")
    if isinstance(module, nn.LeakyReLU):
        return get_activation("leaky_relu", negative_slope=float(module.negative_slope))
    if isinstance(module, nn.Tanh):
        return get_activation("tanh")
    if isinstance(module, Erf):
        return get_activation("erf")
    if isinstance(module, nn.Sigmoid):
        return get_activation("sigmoid")
    if isinstance(module, nn.Softplus):
        return get_activation("softplus", beta=float(module.beta))
    if isinstance(module, nn.ELU):
        return get_activation("elu", alpha=float(module.alpha))
    if isinstance(module, nn.SELU):
        return get_activation("selu")
    if isinstance(module, nn.GELU):
        return get_activation("gelu", approximate=module.approximate)
    if isinstance(module, ScaledSiLU):
        return get_activation("silu", beta=float(module.beta))
    if isinstance(module, nn.SiLU):
        return get_activation("silu")
    return None


def _activation_of_call(name: str, args, kwargs) -> Activation:
    params: dict[str, Any] = {}
    if name == "leaky_relu":
        params["negative_slope"] = float(kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01))
    elif name == "gelu":
        params["approximate"] = kwargs.get("approximate", "none")
    elif name == "softplus":
        params["beta"] = float(kwargs.get("beta", args[1] if len(args) > 1 else 1.0))
    elif name == "elu":
        params["alpha"] = float(kwargs.get("alpha", args[1] if len(args) > 1 else 1.0))
    return get_activation(name, **params)


def activation_from_label(label: str) -> Activation:
    """The :class:`eoc.Activation` of a label such as ``"leaky_relu(negative_slope=0.1)"``.

    Raises
    ------
    ValueError
        If the label names no activation of :func:`eoc.available_activations`.
    """
    match = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", label)
    if not match:
        raise ValueError(f"cannot read an activation from the label {label!r}")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
        key, _, value = item.partition("=")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            params[key.strip()] = value.strip()
    return get_activation(match.group(1), **params)


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


class _Recorder(fx.Interpreter):
    """Runs the traced graph once and keeps each node's output shape and small constant values."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.shapes: dict[fx.Node, tuple[int, ...] | None] = {}
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        tensors = _tensors(out)
        # A module returning a tuple (attention: output and weights) counts as its first tensor.
        self.shapes[n] = tuple(tensors[0].shape) if tensors and (isinstance(out, torch.Tensor) or n.op == "call_module") else None
        if isinstance(out, torch.Tensor):
            self.values[n] = out.detach() if out.numel() <= 1 else None
        else:
            self.values[n] = out
        return out


def _scalar(value) -> float | None:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return None


def _infer_sigmas(module: nn.Module, fan_in: int) -> tuple[float | None, float, float]:
    """(sigma_w, sigma_b, excess kurtosis of the weights) as the weights are now."""
    w = weight_param(module).detach().double()
    m2 = float((w * w).mean())
    kurt = float((w**4).mean() / m2**2 - 3.0) if m2 > 0 else 0.0
    sigma_w = math.sqrt(m2 * fan_in) if m2 > 0 else None
    b = getattr(module, "bias", None)
    sigma_b = math.sqrt(float((b.detach().double() ** 2).mean())) if b is not None else 0.0
    return sigma_w, sigma_b, kurt


class _Builder:
    """Translates the recorded fx graph into Nodes and Layers."""

    def __init__(self, gm: fx.GraphModule, rec: _Recorder, names: dict[str, int], rename, training: dict) -> None:
        self.gm, self.rec, self.names, self.rename, self.training = gm, rec, names, rename, training
        self.nodes: list[Node] = []
        self.layout: list[str] = []  # "first": channels in dim 1; "last": features in the last dim
        self.index: dict[fx.Node, int] = {}  # fx node -> graph node (signal nodes only)
        self.layers: dict[int, Layer] = {}
        self.notes: list[str] = []
        self.uncovered: dict[str, list[str]] = {}

    # -- helpers
    def width(self, shape: tuple[int, ...], layout: str) -> int:
        if len(shape) < 2:
            return 1
        return shape[1] if layout == "first" or len(shape) == 2 else shape[-1]

    def add(self, node: Node, layout: str) -> int:
        self.nodes.append(node)
        self.layout.append(layout)
        return len(self.nodes) - 1

    def signals(self, n: fx.Node) -> list[int]:
        out = []
        for a in n.all_input_nodes:
            if a in self.index and self.index[a] not in out:
                out.append(self.index[a])
        return out

    def note_uncovered(self, kind: str, where: str) -> None:
        self.uncovered.setdefault(kind, []).append(where)

    def passthrough(self, n: fx.Node, src: int) -> None:
        self.index[n] = src

    def emit(self, n: fx.Node, op: str, inputs: list[int], **kw) -> None:
        """Add a width-preserving node (or a reshape if the width changed)."""
        shape = self.rec.shapes[n]
        layout = self.layout[inputs[0]]
        width = self.width(shape, layout)
        if op not in ("add", "concat", "uncovered") and width != self.nodes[inputs[0]].width:
            op, kw = "reshape", {"name": kw.get("name", ""), "detail": kw.get("detail", "")}
        self.index[n] = self.add(Node(op, tuple(inputs), width, **kw), layout)

    # -- translation
    def run(self) -> None:
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if self.index:
                    raise ValueError(f"describe handles one input; forward has a second argument {n.target!r}")
                shape = self.rec.shapes[n]
                self.index[n] = self.add(Node("input", (), self.width(shape, "first"), name="input"), "first")
            elif n.op == "output":
                found: list[fx.Node] = []
                fx.node.map_arg(n.args[0], found.append)
                outs = [a for a in found if a in self.index]
                if not outs:
                    raise ValueError("model output does not depend on its input")
                if len(outs) > 1:
                    self.notes.append(f"the model has {len(outs)} outputs; the theory follows the first")
                last = self.index[outs[0]]
                if last != len(self.nodes) - 1:
                    self.add(Node("identity", (last,), name="output"), self.layout[last])
            elif self.rec.shapes.get(n) is None or not self.signals(n):
                continue  # constants, shapes and sizes
            elif n.op == "call_module":
                self.module(n, self.gm.get_submodule(n.target))
            else:
                self.function(n)

    def module(self, n: fx.Node, mod: nn.Module) -> None:
        ins = self.signals(n)
        src = ins[0]
        name = self.rename(n.target)
        shape_in = self.rec.shapes[n.args[0]] if n.args and isinstance(n.args[0], fx.Node) else None
        if isinstance(mod, PRUNABLE):
            self.layer(n, mod, name, src, shape_in)
        elif isinstance(mod, ACTIVATION_MODULES):
            act = _activation_of_module(mod)
            if act is None:
                self.note_uncovered("activation without an eoc counterpart", f"{type(mod).__name__} {name!r}")
            self.emit(n, "act", [src], name=name, detail=act.label if act else type(mod).__name__)
        elif isinstance(mod, _NORMS):
            self.norm(n, mod, name, src)
        elif isinstance(mod, _POOLS):
            if self.rec.shapes[n] == shape_in:
                self.passthrough(n, src)
            else:
                kind = "max" if isinstance(mod, (_MaxPoolNd, _AdaptiveMaxPoolNd)) else "average"
                size = getattr(mod, "output_size", None)
                what = f"adaptive {kind} -> {size}" if size is not None else f"{kind} {_window(mod.kernel_size)}"
                self.emit(n, "pool", [src], name=name, detail=what)
        elif isinstance(mod, (nn.Flatten,)):
            self.emit(n, "reshape", [src], name=name, detail="flatten")
        elif isinstance(mod, (nn.Identity,) + _DROPOUTS):
            if isinstance(mod, _DROPOUTS) and mod.p > 0:
                self.note_uncovered("dropout, treated as the identity", repr(name))
            self.passthrough(n, src)
        else:
            inner = [(f"{n.target}.{sub}" if sub else n.target, m) for sub, m in mod.named_modules() if isinstance(m, PRUNABLE)]
            layer_ids = []
            for full, m in inner:
                fan_in = _fan_in(m)
                layer_ids.append(self.new_layer(m, self.rename(full), fan_in, (), ()))
            self.note_uncovered(
                "operations the theory does not cover (second moments passed through; the weight layers inside get "
                "the moments at the part's input and output)",
                f"{type(mod).__name__} {name!r}",
            )
            width = self.width(self.rec.shapes[n], self.layout[src])
            self.index[n] = self.add(Node("uncovered", tuple(ins), width, layers=tuple(layer_ids), name=name,
                                          detail=type(mod).__name__), self.layout[src])  # fmt: skip

    def new_layer(self, mod: nn.Module, name: str, fan_in: int, in_spatial, out_spatial) -> int:
        i = self.names[name]
        if i in self.layers:
            raise ValueError(f"layer {name!r} is called more than once by forward: shared weights are outside the theory")
        sigma_w, sigma_b, kurt = _infer_sigmas(mod, fan_in)
        if sigma_w is None:
            self.note_uncovered("weights initialized to zero (their scores vanish; pass sigma_w to predict)", repr(name))
        m = weight_param(mod).numel()
        if abs(kurt) > _KURTOSIS_Z * math.sqrt(24.0 / m) + 0.05:
            self.note_uncovered("non-Gaussian weights (the score laws assume N(0, sigma_w^2/fan-in))", f"{name!r} (kurtosis {kurt + 3:.2f})")
        if is_masked(mod):
            self.note_uncovered("layers pruned already (described by their unpruned weights)", repr(name))
        if isinstance(mod, nn.Linear):
            layer = Layer(name, "dense", mod.in_features, mod.out_features, bias=mod.bias is not None,
                          sigma_w=sigma_w, sigma_b=sigma_b)  # fmt: skip
        else:
            if mod.groups > 1:
                self.note_uncovered("grouped convolutions (fan-in in_channels/groups * k^2; mean field needs it large)",
                                    f"{name!r} (groups={mod.groups}, fan-in {fan_in})")  # fmt: skip
            layer = Layer(name, "conv", mod.in_channels, mod.out_channels, tuple(mod.kernel_size), mod.groups,
                          bias=mod.bias is not None, in_spatial=in_spatial, out_spatial=out_spatial,
                          stride=tuple(mod.stride), sigma_w=sigma_w, sigma_b=sigma_b)  # fmt: skip
        self.layers[i] = layer
        return i

    def layer(self, n: fx.Node, mod: nn.Module, name: str, src: int, shape_in) -> None:
        shape_out = self.rec.shapes[n]
        dense = isinstance(mod, nn.Linear)
        spatial_in = tuple(shape_in[2:]) if not dense and shape_in else ()
        spatial_out = tuple(shape_out[2:]) if not dense else ()
        i = self.new_layer(mod, name, _fan_in(mod), spatial_in, spatial_out)
        layout = "last" if dense else "first"
        need = self.layers[i].in_channels
        if self.nodes[src].width != need:  # e.g. a Linear acting on the last dim of a channels-first tensor
            src = self.add(Node("reshape", (src,), need, detail="layout"), layout)
        self.index[n] = self.add(Node("layer", (src,), self.layers[i].out_channels, layer=i, name=name), layout)

    def norm(self, n: fx.Node, mod: nn.Module, name: str, src: int) -> None:
        kind = type(mod).__name__
        affine = getattr(mod, "weight", None) is not None
        gamma2 = mod.weight.detach().double() ** 2 if affine else torch.ones(1, dtype=torch.float64)
        beta2 = float((mod.bias.detach().double() ** 2).mean()) if getattr(mod, "bias", None) is not None else 0.0
        train = self.training.get(n.target, True) or getattr(mod, "running_var", None) is None
        if train:
            value, mode = float(gamma2.mean()), "train"
        else:
            var = mod.running_var.detach().double() + mod.eps
            value, mode = float((gamma2 / var).mean()), "eval"
        self.note_uncovered("normalization layers (BatchNorm: variance reset in train mode, a scale in eval mode)",
                            f"{kind} {name!r} ({mode})")  # fmt: skip
        self.emit(n, "norm", [src], value=value, shift=beta2, mode=mode, name=name, detail=kind)

    def function(self, n: fx.Node) -> None:
        ins = self.signals(n)
        src = ins[0]
        target = n.target
        method = n.op == "call_method"
        label = f"{target}" if method else getattr(target, "__name__", str(target))
        act_name = _ACT_METHODS.get(target) if method else _ACT_FUNCTIONS.get(target)
        consts = [self.rec.values.get(a) if isinstance(a, fx.Node) else a for a in n.args if not (isinstance(a, fx.Node) and a in self.index)]
        if act_name is not None:
            args = [None] + [self.rec.values.get(a) if isinstance(a, fx.Node) else a for a in n.args[1:]]
            act = _activation_of_call(act_name, args, n.kwargs)
            self.emit(n, "act", [src], name=n.name, detail=act.label)
        elif (target in _ADD) or (method and target in ("add", "add_", "sub", "sub_")):
            if len(ins) >= 2:
                self.emit(n, "add", ins, name=n.name, detail="sum")
            else:
                self.note_uncovered("constants added to a signal (ignored)", repr(n.name))
                self.passthrough(n, src)
        elif (target in _MUL) or (target in _DIV) or (method and target in ("mul", "mul_", "div", "div_")):
            divide = target in _DIV or target in ("div", "div_")
            c = _scalar(consts[0]) if len(ins) == 1 and len(consts) == 1 else None
            if c is None or c == 0:
                self.uncovered_call(n, ins, f"{label} of two signals or by a tensor")
            else:
                c = 1.0 / c if divide else c
                self.emit(n, "scale", [src], value=c, name=n.name, detail=f"x{c:.4g}")
        elif target is operator.neg or target == "neg":
            self.emit(n, "scale", [src], value=-1.0, name=n.name, detail="x-1")
        elif (target in _RESHAPE_FUNCTIONS) or (method and target in _RESHAPE_METHODS):
            shape = self.rec.shapes[n]
            layout = "last" if len(shape) > 2 and target in ("permute", "transpose", "t", torch.permute, torch.transpose) else self.layout[src]
            width = self.width(shape, layout)
            if width == self.nodes[src].width:
                self.passthrough(n, src)
            else:
                self.index[n] = self.add(Node("reshape", (src,), width, name=n.name, detail=label), layout)
        elif (target in _IDENTITY_FUNCTIONS) or (method and target in _IDENTITY_METHODS):
            self.passthrough(n, src)
        elif target is operator.getitem:
            arg = n.args[0]
            if self.rec.shapes.get(arg) is not None and self.rec.values.get(arg) is not None and not isinstance(
                self.rec.values[arg], torch.Tensor
            ):  # an element of a module's tuple output
                self.passthrough(n, src)
            else:  # indexing a tensor (a token, a slice): per-unit moments are kept
                width = self.width(self.rec.shapes[n], self.layout[src])
                if width == self.nodes[src].width:
                    self.passthrough(n, src)
                else:
                    self.index[n] = self.add(Node("reshape", (src,), width, name=n.name, detail="indexing"), self.layout[src])
        elif (target in _POOL_FUNCTIONS) or (method and target in _POOL_METHODS):
            kind = _POOL_METHODS[target] if method else _POOL_FUNCTIONS[target]
            if self.rec.shapes[n] == self.rec.shapes[n.args[0]]:
                self.passthrough(n, src)
            else:
                self.emit(n, "pool", [src], name=n.name, detail=f"{kind} ({label})")
        elif target in _CAT and len(ins) >= 2:
            dim = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)
            if dim in (1, -3) or (dim == -1 and len(self.rec.shapes[n]) == 2):
                self.emit(n, "concat", ins, name=n.name, detail="concatenation")
            else:
                self.uncovered_call(n, ins, f"concatenation along dim {dim}")
        else:
            self.uncovered_call(n, ins, label)

    def uncovered_call(self, n: fx.Node, ins: list[int], what: str) -> None:
        self.note_uncovered("operations the theory does not cover (second moments passed through)", f"{what} ({n.name})")
        width = self.width(self.rec.shapes[n], self.layout[ins[0]])
        self.index[n] = self.add(Node("uncovered", tuple(ins), width, name=n.name, detail=what), self.layout[ins[0]])


def _window(size) -> str:
    size = size if isinstance(size, tuple) else (size, size)
    return "x".join(map(str, size))


def _fan_in(mod: nn.Module) -> int:
    w = weight_param(mod)
    return int(w[0].numel())


def describe(model: nn.Module, input_shape: Sequence[int] | None = None) -> Architecture:
    r"""The theory's description of ``model``: its weight layers and how signals flow through them.

    Parameters
    ----------
    model : nn.Module
        Any model :mod:`torch.fx` can trace (no control flow on tensor values;
        modules of ``torch.nn`` and the reference models of :mod:`eoc.nn` are kept
        whole).  It is run once on a random input in eval mode; its parameters,
        buffers and modes are unchanged afterwards.
    input_shape : sequence of int, optional
        Shape of one input, e.g. ``(3, 32, 32)`` or ``(784,)``; default
        ``model.input_shape`` (set by :class:`FFNN` and :class:`OneLayerResNet`).

    Returns
    -------
    eoc.Architecture
        One :class:`eoc.Layer` per prunable layer, named and ordered as
        :func:`prunable_layers`, with ``sigma_w`` and ``sigma_b`` inferred from the
        weights (module docstring); the graph; ``notes`` listing what the theory does
        not cover.  Print ``arch.table()`` for a per-layer summary.

    Raises
    ------
    ValueError
        No prunable layer, a missing or bad ``input_shape``, a model fx cannot trace
        or run on that shape, a layer called twice (shared weights) or never.

    Examples
    --------
    >>> import eoc.nn
    >>> arch = eoc.nn.describe(eoc.nn.resnet32(), (3, 32, 32))
    >>> arch.kind, arch.depth, arch.n_blocks, arch.roles.count("shortcut")
    ('resnet', 34, 15, 2)
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError(f"describe needs the shape of one input: pass input_shape= (e.g. (3, 32, 32)) for {type(model).__name__}")
    try:
        entries = tuple(shape)
    except TypeError:
        entries = ()
    if not entries or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in entries):
        raise ValueError(f"input_shape must be a tuple of positive integers, got input_shape={shape!r}")
    shape = tuple(int(s) for s in entries)
    layers = prunable_layers(model)
    root, rename = model, (lambda name: name)
    if isinstance(model, PRUNABLE):  # a bare layer: trace it inside a container
        root = nn.Sequential(model)
        rename = lambda name: name[2:] if name.startswith("0.") else ("" if name == "0" else name)  # noqa: E731
    try:
        graph = _Tracer().trace(root)
    except Exception as exc:  # fx raises TraceError, TypeError, NotImplementedError, ...
        raise ValueError(
            f"cannot trace {type(model).__name__} with torch.fx ({type(exc).__name__}: {exc}); describe needs a forward "
            "without control flow on tensor values"
        ) from None
    gm = fx.GraphModule(root, graph)
    training = {name: m.training for name, m in root.named_modules()}
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn((2, *shape), generator=gen, dtype=dtype, device=device)
    rec = _Recorder(gm)
    try:
        root.eval()
        with torch.no_grad():
            rec.run(x)
    except Exception as exc:
        raise ValueError(f"{type(model).__name__} fails on inputs of shape input_shape={shape}: {type(exc).__name__}: {exc}") from None
    finally:
        for name, m in root.named_modules():
            m.training = training[name]
    builder = _Builder(gm, rec, {name: i for i, (name, _) in enumerate(layers)}, rename, training)
    builder.run()
    missing = [name for i, (name, _) in enumerate(layers) if i not in builder.layers]
    if missing:
        raise ValueError(f"layer(s) {', '.join(map(repr, missing))} of {type(model).__name__} are never called by forward")
    notes = list(builder.notes)
    for kind, where in builder.uncovered.items():
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        notes.append(f"{kind}: {shown}")
    acts = list(dict.fromkeys(n.detail for n in builder.nodes if n.op == "act"))
    if len(acts) > 1:
        notes.append(f"several activations ({', '.join(acts)}); the predictions use one")
    return Architecture(
        tuple(builder.layers[i] for i in range(len(layers))),
        tuple(builder.nodes),
        name=type(model).__name__,
        input_shape=shape,
        notes=tuple(notes),
    )
