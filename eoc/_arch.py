r"""Architectures as the pruning theory sees them: weight layers, the signal-flow graph, and layer profiles.

docs/theory.md §1 (networks), §3 (backward maps), §6 (ResNets).  An
:class:`Architecture` is one description of a network, from which every prediction
of :mod:`eoc._pruning` is computed (neural-tangents' "describe once" principle):

* :attr:`Architecture.layers`: every prunable weight layer (:class:`Layer`: dense or
  convolution) by name, with its shape, fan-in :math:`v_l`, weight count :math:`M_l`,
  kernel, spatial sizes and, where known, the :math:`\sigma_w, \sigma_b` it was
  initialized with;
* :attr:`Architecture.graph`: how signals flow between them (:class:`Node`): layers,
  activations, BatchNorm, pooling, reshapes, constant scales (the residual branch
  scale :math:`\alpha`), sums (residual connections) and concatenations, plus
  ``"uncovered"`` parts the theory says nothing about (attention, ...), listed in
  :attr:`Architecture.notes`.

Three families are built from widths by :func:`as_architecture` (the paper's
networks): ``"ffnn"`` (dense :math:`N_{l-1}\to N_l`), ``"cnn"`` (convolutions of
kernel k, fan-in :math:`n_{l-1}k^2`, then global pooling and a dense read-out) and
``"resnet"`` (a dense input projection, one-layer residual branches scaled by
:math:`\alpha`, a dense read-out).  :func:`eoc.nn.describe` builds the description
of any traced PyTorch model.

Mean-field model of the graph (:func:`layer_profile`)
----------------------------------------------------
Every node carries the second moment :math:`m` of one of its units and, backwards,
the variance :math:`g` of the loss gradient with respect to one unit, under the
infinite-width and gradient-independence approximations (Schoenholz et al. 2017):

======================  ======================================  ==============================================
node                    forward                                 backward (to its input)
======================  ======================================  ==============================================
layer :math:`l`         :math:`\sigma_{b,l}^2 + \sigma_{w,l}^2 m`   :math:`g\,(N_{\rm out}/N_{\rm in})\,\sigma_{w,l}^2`
activation :math:`\phi`  :math:`\mathbb E[\phi(\sqrt m Z)^2]`       :math:`g\,\mathbb E[\phi'(\sqrt m Z)^2]`
scale :math:`c`         :math:`c^2 m`                            :math:`c^2 g`
sum                     :math:`\sum_i m_i`                       :math:`g` to every input
concatenation           width-weighted mean of the :math:`m_i`     :math:`g` to every input
BatchNorm (train)       :math:`\overline{\gamma^2} + \overline{\beta^2}`   :math:`g\,\overline{\gamma^2}/(m - k)`
BatchNorm (eval)        :math:`c\,m + \overline{\beta^2}`           :math:`c\,g`, :math:`c = \overline{\gamma^2/(v_{\rm run}+\epsilon)}`
pooling, identity       :math:`m`                                :math:`g`
reshape                 :math:`m`                                :math:`g\,N_{\rm out}/N_{\rm in}`
======================  ======================================  ==============================================

with :math:`N` the width of a node: features of a dense signal, *channels* of a
convolutional one.  Where the graph has a normalization in train mode, every node
also carries the covariance :math:`k` of one unit between two examples of the batch
(the covariance map of docs/theory.md §2: :math:`\sigma_b^2 + \sigma_w^2 k` through a
layer, :math:`\mathbb E[\phi(u_1)\phi(u_2)]` through an activation, :math:`\overline{\beta^2}`
after the normalization, which removes the batch mean).  BatchNorm divides by the
standard deviation over the *batch*, :math:`\sqrt{m - k}`, so its gradient grows by
:math:`m/(m - k)` against a per-unit normalization: for ReLU after BatchNorm,
:math:`k/m = 1/\pi` and the factor is :math:`\pi/(\pi - 1)` per layer, the gradient
explosion of BatchNorm networks (Yang et al. 2019, "A mean field theory of batch
normalization", large-batch limit).  A gradient arriving at a node from several consumers adds up in
variance (the branches carry independent weights), and a sum's inputs are
uncorrelated for the same reason.  Convolutions are treated as dense layers of
fan-in :math:`n_{l-1}k^2` acting on channels (the paper's CNN model, docs/theory.md
§1): positions are not resolved, so padding, strides and pooling windows leave the
moments alone.  The weight-gradient second moment of layer :math:`l` (per example,
for the gradient summed over a batch) is then

.. math::

    \mathbb E\big[(\partial\mathcal L/\partial W^l_{ij})^2\big] = g_l\, m_{l-1} + \kappa_l\, k_{l-1},

:math:`g_l` the gradient variance at the layer's output (a branch scale
:math:`\alpha` after it contributes :math:`\alpha^2`), :math:`m_{l-1}` the second
moment of its input, :math:`k_{l-1}` the covariance of its input between two
examples and :math:`\kappa_l = \lim (B-1)\,\mathrm{Cov}(\delta_a, \delta_b)` the
coherent part of its output gradient.  Without normalizations :math:`\kappa = 0`
(independent output gradients; :func:`layer_profile` takes a coherent output
gradient as ``output_grad_k``).  Below a train-mode BatchNorm the gradient sums to
zero over the batch, :math:`\kappa = -g`, so a layer feeding a BatchNorm sees only
its centred input, :math:`g\,(m - k)`.  For the three families this reproduces
:func:`eoc.gradient_variances` (FFNN, CNN) and the ResNet recursions of
:mod:`eoc._resnet` (tested).  An activation's input is treated as a centred Gaussian
of variance :math:`m` even where it is not (after a sum with a ReLU shortcut, or a
concatenation); BatchNorm and everything in :attr:`Architecture.notes` lie outside
the paper's theory.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ._activations import get_activation
from ._expect import Numerics, resolve_numerics
from ._maps import DIRECT_DEPTH, moment_function
from ._propagation import LayerProfile, per_layer
from ._resnet import resolve_alpha
from ._graph import (
    _NORM_MODES,
    ARCH_KINDS,
    LAYER_KINDS,
    NODE_OPS,
    ROLES,
    Layer,
    Node,
    TheoryCoverageWarning,
    _int_tuple,
    _name,
    analyze,
    chain_graph,
    resnet_graph,
)
from ._validate import as_float_array, check_int, check_positive, check_widths

__all__ = [
    "ARCH_KINDS",
    "LAYER_KINDS",
    "NODE_OPS",
    "ROLES",
    "Layer",
    "Node",
    "Architecture",
    "ArchitectureProfile",
    "TheoryCoverageWarning",
    "as_architecture",
    "layer_profile",
    "warn_uncovered",
]


@dataclass(frozen=True)
class ArchitectureProfile(LayerProfile):
    r""":class:`eoc.LayerProfile` of an :class:`Architecture`, per prunable layer, with names.

    ``q`` and ``grad_q`` are taken where the layer's signal joins the main path: at
    the layer's output for a layer on it, at the residual sum of its block for a layer
    in a branch or a shortcut (so for ``as_architecture(..., "resnet")`` they are the
    stream variances and stream gradients).  ``layer_q`` and ``layer_grad`` are the
    second moment and the gradient variance at the layer's own output.  ``input_k`` is
    the covariance of the layer's input between two examples and ``layer_grad_k`` the
    coherent gradient :math:`\kappa` at its output (NaN where :func:`layer_profile` did
    not track them, and then 0 in
    ``weight_grad = layer_grad * input_moment + layer_grad_k * input_k``).
    """

    names: tuple = ()
    layer_q: np.ndarray = field(default_factory=lambda: np.empty(0))
    layer_grad: np.ndarray = field(default_factory=lambda: np.empty(0))
    input_k: np.ndarray = field(default_factory=lambda: np.empty(0))
    layer_grad_k: np.ndarray = field(default_factory=lambda: np.empty(0))



@dataclass(frozen=True)
class Architecture:
    r"""The theory's description of a network: its weight layers and how signals flow between them.

    Build one from widths with :func:`as_architecture`, from a PyTorch model with
    :func:`eoc.nn.describe`, or by hand from :class:`Layer` and :class:`Node` records.
    Everything is validated at construction: weight counts follow from the shapes,
    node inputs refer to earlier nodes, channel counts match along every edge, every
    layer appears once in the graph and reaches the output.

    Parameters
    ----------
    layers : sequence of Layer
        The prunable layers, in the order the predictions use (for a PyTorch model,
        module order, as :func:`eoc.nn.prunable_layers`).
    graph : sequence of Node, optional
        The signal-flow graph; node 0 is the input and the last node the output.
        Default: the chain input -> layer 0 -> activation -> layer 1 -> ... .
    name : str
        A label (the model's class name, or the family).
    input_shape : tuple of int
        Shape of one input, where known.
    notes : sequence of str
        What the theory does not cover in this network (BatchNorm, attention,
        grouped convolutions, non-Gaussian weights, ...); predictions from
        :mod:`eoc.nn` warn with them (:class:`TheoryCoverageWarning`).

    Attributes
    ----------
    kind : {"ffnn", "cnn", "resnet"}
        "resnet" if the graph has a residual sum, else "cnn" if some layer is a
        convolution, else "ffnn".
    widths : tuple of int
        ``(in_channels of layer 0, out_channels of every layer)``: ``(N_0, ..., N_L)``
        for a chain.
    depth, fan_in, n_weights, kernel_sizes, residual, alpha, names
        See the properties.
    """

    layers: tuple
    graph: tuple | None = None
    name: str = ""
    input_shape: tuple = ()
    notes: tuple = ()

    def __post_init__(self) -> None:
        if isinstance(self.layers, str) or not hasattr(self.layers, "__iter__"):
            raise ValueError(
                f"layers must be a sequence of eoc.Layer, got layers={self.layers!r} "
                "(to build an architecture from widths use eoc.as_architecture(widths, arch))"
            )
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("layers must name at least one weight layer, got layers=()")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}] must be an eoc.Layer, got {layer!r}")
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"layer names must be unique, got {dup!r} twice in layers")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "name", _name(self.name, "name"))
        object.__setattr__(self, "input_shape", _int_tuple(self.input_shape, "input_shape"))
        if isinstance(self.notes, str):
            raise ValueError(f"notes must be a sequence of strings, got notes={self.notes!r}")
        object.__setattr__(self, "notes", tuple(_name(n, "notes[i]") for n in self.notes))
        graph = chain_graph(layers, False) if self.graph is None else tuple(self.graph)
        object.__setattr__(self, "graph", self._checked_graph(graph))
        object.__setattr__(self, "_structure", analyze(self.graph, len(layers)))

    def _checked_graph(self, graph: tuple) -> tuple:
        if not graph or not isinstance(graph[0], Node) or graph[0].op != "input":
            raise ValueError("graph[0] must be the input node, Node('input', (), width)")
        seen = [0] * len(self.layers)
        out = []
        reached = [False] * len(graph)
        for k, node in enumerate(graph):
            where = f"graph[{k}]"
            if not isinstance(node, Node):
                raise ValueError(f"{where} must be an eoc.Node, got {node!r}")
            if node.op not in NODE_OPS:
                raise ValueError(f"{where}: op must be one of {NODE_OPS}, got op={node.op!r}")
            inputs = tuple(node.inputs)
            if any(isinstance(j, bool) or not isinstance(j, numbers.Integral) or not 0 <= j < k for j in inputs):
                raise ValueError(f"{where}: inputs must be indices of earlier nodes, got inputs={node.inputs!r}")
            arity = {"input": (0, 0), "add": (2, None), "concat": (2, None), "uncovered": (1, None)}.get(node.op, (1, 1))
            if len(inputs) < arity[0] or (arity[1] is not None and len(inputs) > arity[1]):
                raise ValueError(f"{where}: op={node.op!r} takes {arity[0]}{'+' if arity[1] is None else ''} inputs, got inputs={inputs!r}")
            if k and node.op == "input":
                raise ValueError(f"{where}: only graph[0] can be the input node")
            widths = [out[j].width for j in inputs]
            width = node.width
            if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 0:
                raise ValueError(f"{where}: width must be a non-negative integer, got width={node.width!r}")
            if node.op == "layer":
                i = node.layer
                if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < len(self.layers):
                    raise ValueError(f"{where}: layer must index layers (0..{len(self.layers) - 1}), got layer={node.layer!r}")
                seen[i] += 1
                layer = self.layers[i]
                if widths[0] != layer.in_channels:
                    raise ValueError(
                        f"{where}: layer {layer.name!r} has in_channels={layer.in_channels} but its input "
                        f"graph[{inputs[0]}] has width {widths[0]}"
                    )
                width = width or layer.out_channels
                if width != layer.out_channels:
                    raise ValueError(f"{where}: width={width} differs from out_channels={layer.out_channels} of layer {layer.name!r}")
            elif node.layers:
                if node.op != "uncovered":
                    raise ValueError(f"{where}: only an 'uncovered' node holds layers, got op={node.op!r} with layers={node.layers!r}")
                for i in node.layers:
                    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < len(self.layers):
                        raise ValueError(f"{where}: layers must index layers, got layers={node.layers!r}")
                    seen[i] += 1
            if node.op == "input":
                if width < 1:
                    raise ValueError(f"{where}: the input node needs its width (features or channels), got width={width}")
            elif node.op == "concat":
                width = width or sum(widths)
                if width != sum(widths):
                    raise ValueError(f"{where}: a concatenation has the summed width {sum(widths)}, got width={width}")
            elif node.op in ("reshape", "uncovered") and width == 0:
                if len(set(widths)) != 1:
                    raise ValueError(f"{where}: give the width of op={node.op!r} (its inputs have widths {widths})")
                width = widths[0]
            elif node.op not in ("layer", "reshape", "uncovered"):
                if len(set(widths)) != 1:
                    raise ValueError(f"{where}: op={node.op!r} needs inputs of equal width, got widths {widths}")
                width = width or widths[0]
                if width != widths[0]:
                    raise ValueError(f"{where}: op={node.op!r} keeps the width {widths[0]} of its input, got width={width}")
            value = float(node.value)
            if node.op == "scale" and not (np.isfinite(value) and value != 0):
                raise ValueError(f"{where}: a scale needs a finite non-zero value, got value={node.value!r}")
            if node.op == "norm":
                if node.mode not in _NORM_MODES:
                    raise ValueError(f"{where}: a norm node has mode in {_NORM_MODES}, got mode={node.mode!r}")
                if not (np.isfinite(value) and value > 0) or not (np.isfinite(node.shift) and node.shift >= 0):
                    raise ValueError(f"{where}: a norm node needs value > 0 and shift >= 0, got value={node.value!r}, shift={node.shift!r}")
            out.append(replace(node, inputs=inputs, width=int(width), value=value, shift=float(node.shift)))
        for i, count in enumerate(seen):
            if count != 1:
                raise ValueError(
                    f"layer {self.layers[i].name!r} must appear exactly once in the graph, found {count} times"
                    + (" (shared weights are outside the theory)" if count > 1 else "")
                )
        reached[-1] = True
        for k in range(len(graph) - 1, -1, -1):
            if reached[k]:
                for j in out[k].inputs:
                    reached[j] = True
        for k, node in enumerate(out):
            if node.op in ("layer", "uncovered") and not reached[k]:
                names = [self.layers[i].name for i in ((node.layer,) if node.op == "layer" else node.layers)]
                raise ValueError(f"graph[{k}]: layer(s) {names} do not reach the output (the last node)")
        return tuple(out)

    # ----------------------------------------------------------------- per-layer arrays

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.layers)

    @property
    def names(self) -> tuple[str, ...]:
        """Layer names, in layer order (the index of a prediction is the position here)."""
        return tuple(layer.name for layer in self.layers)

    @property
    def widths(self) -> tuple[int, ...]:
        """``(in_channels of layer 0,) + out_channels of every layer``; ``(N_0, ..., N_L)`` for a chain."""
        return (self.layers[0].in_channels,) + tuple(layer.out_channels for layer in self.layers)

    @property
    def fan_in(self) -> np.ndarray:
        """:math:`v_l = n_{l-1} k^2` per layer (float64)."""
        return np.array([layer.fan_in for layer in self.layers], dtype=np.float64)

    @property
    def n_weights(self) -> np.ndarray:
        """Weights per layer :math:`M_l` (float64)."""
        return np.array([layer.n_weights for layer in self.layers], dtype=np.float64)

    @property
    def positions(self) -> np.ndarray:
        """Spatial positions of every layer's output (product of ``out_spatial``; 1 for a dense
        layer or where unknown), float64: the samples per example its weight gradient sums."""
        return np.array([math.prod(layer.out_spatial) if layer.out_spatial else 1 for layer in self.layers],
                        dtype=np.float64)

    @property
    def kernel_sizes(self) -> tuple:
        """Kernel side of every layer (1 for dense layers; the kernel tuple if not cubic)."""
        return tuple(layer.kernel_size for layer in self.layers)

    @property
    def roles(self) -> tuple[str, ...]:
        """Per layer: ``"main"``, ``"branch"`` (inside a residual branch) or ``"shortcut"``."""
        return self._structure.role

    @property
    def residual(self) -> np.ndarray:
        """Boolean mask of the layers inside residual branches."""
        return np.array([r == "branch" for r in self.roles], dtype=bool)

    @property
    def blocks(self) -> np.ndarray:
        """Per layer: index of its residual block (branch or shortcut), -1 on the main path."""
        return np.array(self._structure.block, dtype=np.int64)

    @property
    def branch_scales(self) -> np.ndarray:
        """Per layer: the constant scale of its residual branch (1 off branches)."""
        return self._structure.branch_scale.copy()

    @property
    def n_blocks(self) -> int:
        """Number of residual sums in the graph."""
        return len(self._structure.blocks)

    @property
    def alpha(self) -> float | None:
        """The residual branch scale shared by every block; None without residual blocks.

        Raises ValueError if the blocks have different scales (see :attr:`branch_scales`).
        """
        scales = set(self._structure.block_scales)
        if not scales:
            return None
        if len(scales) > 1:
            raise ValueError(f"the residual blocks have different branch scales {sorted(scales)}: use branch_scales")
        return scales.pop()

    @property
    def kind(self) -> str:
        """"resnet" with a residual sum, else "cnn" with a convolution, else "ffnn"."""
        if self._structure.blocks:
            return "resnet"
        return "cnn" if any(layer.kind == "conv" for layer in self.layers) else "ffnn"

    @property
    def batch_norm(self) -> np.ndarray:
        """Per layer: whether a normalization (BatchNorm, ...) directly consumes its output."""
        return np.array(self._structure.normed, dtype=bool)

    @property
    def after(self) -> tuple[tuple[str, ...], ...]:
        """Per layer: the operations between it and the next layer or junction (``("BatchNorm2d", "relu", "max 2x2")``)."""
        return self._structure.after

    @property
    def activations(self) -> tuple[str, ...]:
        """The distinct activation labels recorded on the graph's activation nodes."""
        return tuple(dict.fromkeys(n.detail for n in self.graph if n.op == "act" and n.detail))

    @property
    def activation(self) -> str | None:
        """The network's activation label if it has exactly one, else None."""
        acts = self.activations
        return acts[0] if len(acts) == 1 else None

    @property
    def sigma_w(self) -> np.ndarray | None:
        r"""Per-layer :math:`\sigma_w` recorded on the layers, or None if some layer has none."""
        values = [layer.sigma_w for layer in self.layers]
        return None if any(v is None for v in values) else np.array(values)

    @property
    def sigma_b(self) -> np.ndarray | None:
        r"""Per-layer :math:`\sigma_b` recorded on the layers, or None if some layer has none."""
        values = [layer.sigma_b for layer in self.layers]
        return None if any(v is None for v in values) else np.array(values)

    def index(self, name: str) -> int:
        """Position of the layer called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no layer named {name!r}; layers are {', '.join(self.names)}") from None

    # ----------------------------------------------------------------- text

    def describe(self) -> str:
        """One line: the family and its shape."""
        legacy = _legacy_graph(self) if self.name in ARCH_KINDS else None
        if legacy is not None and Architecture(self.layers, legacy).graph == self.graph:
            if self.name == "resnet":
                return (
                    f"resnet: {self.widths[0]} -> {self.widths[1]}, {self.depth - 2} residual layers "
                    f"(alpha={self.alpha:.4g}), -> {self.widths[-1]}"
                )
            return f"{self.name}: " + "-".join(str(w) for w in self.widths)
        conv = sum(layer.kind == "conv" for layer in self.layers)
        parts = [f"{self.depth} weight layers ({conv} conv, {self.depth - conv} dense)"]
        if self.n_blocks:
            scales = sorted(set(self._structure.block_scales))
            parts.append(f"{self.n_blocks} residual blocks (branch scale {', '.join(f'{s:.4g}' for s in scales)})")
            n_short = self.roles.count("shortcut")
            if n_short:
                parts.append(f"{n_short} projection shortcuts")
        if self.batch_norm.any():
            parts.append("BatchNorm")
        label = self.name or self.kind
        return f"{label} ({self.kind}): " + ", ".join(parts) + f"; {int(self.n_weights.sum())} weights"

    def as_dict(self) -> dict:
        """JSON-ready description: the summary, the notes and one record per layer."""
        s = self._structure
        layers = []
        for i, layer in enumerate(self.layers):
            layers.append(
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "in_channels": layer.in_channels,
                    "out_channels": layer.out_channels,
                    "kernel": list(layer.kernel),
                    "groups": layer.groups,
                    "fan_in": layer.fan_in,
                    "n_weights": layer.n_weights,
                    "in_spatial": list(layer.in_spatial),
                    "out_spatial": list(layer.out_spatial),
                    "role": s.role[i],
                    "block": s.block[i],
                    "branch_scale": float(s.branch_scale[i]),
                    "after": list(s.after[i]),
                    "sigma_w": layer.sigma_w,
                    "sigma_b": layer.sigma_b,
                }
            )
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.describe(),
            "input_shape": list(self.input_shape),
            "activations": list(self.activations),
            "n_weights": int(self.n_weights.sum()),
            "notes": list(self.notes),
            "layers": layers,
        }

    def table(self) -> str:
        """A plain-text table of the layers (name, kind, shape, fan-in, weights, role, what follows)."""
        rows = [("layer", "kind", "shape", "spatial", "fan-in", "weights", "role", "sigma_w", "then")]
        s = self._structure
        for i, layer in enumerate(self.layers):
            shape = f"{layer.in_channels}->{layer.out_channels}"
            if layer.kernel:
                shape += " k" + "x".join(map(str, layer.kernel)) + (f" g{layer.groups}" if layer.groups > 1 else "")
            role = s.role[i] if s.role[i] == "main" else f"{s.role[i]} {s.block[i]}"
            if s.role[i] == "branch" and s.branch_scale[i] != 1:
                role += f" (x{s.branch_scale[i]:.3g})"
            rows.append(
                (
                    layer.name or "(model)",
                    layer.kind,
                    shape,
                    "x".join(map(str, layer.out_spatial)) or "-",
                    str(layer.fan_in),
                    str(layer.n_weights),
                    role,
                    "-" if layer.sigma_w is None else f"{layer.sigma_w:.4f}",
                    ", ".join(s.after[i]) or "-",
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        head = [self.describe()] + [f"note: {n}" for n in self.notes]
        return "\n".join(head + lines)


def _legacy_graph(arch: Architecture) -> tuple | None:
    if arch.name == "ffnn":
        return chain_graph(arch.layers, False)
    if arch.name == "cnn":
        return chain_graph(arch.layers, True)
    if arch.name == "resnet" and arch._structure.block_scales:
        return resnet_graph(arch.layers, arch._structure.block_scales[0])
    return None


def warn_uncovered(arch: Architecture, stacklevel: int = 2) -> None:
    """Warn (:class:`TheoryCoverageWarning`) with the architecture's notes, if it has any."""
    if arch.notes:
        warnings.warn(
            f"{arch.name or arch.kind}: the prediction covers parts outside the theory: " + "; ".join(arch.notes),
            TheoryCoverageWarning,
            stacklevel=stacklevel + 1,
        )


def _image_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else image_size
    try:
        hw = tuple(size)
    except TypeError:
        hw = ()
    if len(hw) != 2 or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1 for v in hw):
        raise ValueError(f"image_size must be a positive integer or a pair of them, got image_size={image_size!r}")
    return int(hw[0]), int(hw[1])


def as_architecture(widths, arch: str = "ffnn", *, alpha=None, kernel_size: int = 3, image_size=None) -> Architecture:
    """Build an :class:`Architecture` from widths (or return one given as ``widths``).

    Parameters
    ----------
    widths : sequence of int or Architecture
        ``(N_0, ..., N_L)``: input dimension, hidden widths (channels for a CNN), output.
    arch : {"ffnn", "cnn", "resnet"}
        ``"ffnn"``: dense layers ``linears.0 ... linears.{L-1}`` (the names of
        :class:`eoc.nn.FFNN`).  ``"cnn"``: convolutions ``conv.0 ...`` of kernel
        ``kernel_size``, a global pooling, a dense read-out ``readout``.  ``"resnet"``:
        ``widths = (d, N, ..., N, out)``, a dense projection ``input``, ``len(widths) - 3``
        one-layer residual branches ``blocks.i`` scaled by ``alpha``, a read-out
        ``output`` (the names of :class:`eoc.nn.OneLayerResNet`).
    alpha : float or {"standard", "stable"}, optional
        Residual branch scale (ResNets only; default 1, ``"stable"`` is :math:`1/\\sqrt{L}`).
    kernel_size : int
        CNN kernel size.
    image_size : int or (int, int), optional
        CNN only: the input's spatial size ``H`` or ``(H, W)``.  The convolutions keep it
        (stride 1, "same" padding, as :class:`eoc.nn.VGG` without pooling), so every
        convolution's gradient sums over ``H * W`` positions per example, which the finite
        SNIP model counts (docs/theory.md §8.6).  None: positions unknown (one per example).

    Raises
    ------
    ValueError
        Fewer than two widths, non-positive widths, unknown ``arch``, ``alpha <= 0``,
        ``alpha`` given for a non-residual network, unequal ResNet hidden widths,
        ``image_size`` given for a non-CNN or not a positive integer (pair).
    """
    if isinstance(widths, Architecture):
        if image_size is not None:
            raise ValueError(f"image_size={image_size!r} is set when building an Architecture, not for one given as widths")
        return widths
    if arch not in ARCH_KINDS:
        raise ValueError(f"arch must be one of {ARCH_KINDS}, got arch={arch!r}")
    if image_size is not None and arch != "cnn":
        raise ValueError(f"image_size={image_size!r} is only meaningful for arch='cnn'")
    widths = check_widths(widths)
    L = len(widths) - 1
    if arch != "resnet" and alpha is not None:
        raise ValueError(f"alpha={alpha!r} is only meaningful for arch='resnet'")
    pairs = list(zip(widths[:-1], widths[1:]))
    if arch == "ffnn":
        layers = tuple(Layer(f"linears.{i}", "dense", a, b) for i, (a, b) in enumerate(pairs))
        return Architecture(layers, chain_graph(layers, False), name="ffnn")
    if arch == "cnn":
        k = check_int(kernel_size, "kernel_size", minimum=1)
        hw = () if image_size is None else _image_size(image_size)
        convs = [Layer(f"conv.{i}", "conv", a, b, (k, k), in_spatial=hw, out_spatial=hw, stride=(1, 1) if hw else ())
                 for i, (a, b) in enumerate(pairs[:-1])]
        layers = tuple(convs) + (Layer("readout", "dense", *pairs[-1]),)
        return Architecture(layers, chain_graph(layers, True), name="cnn", input_shape=(widths[0], *hw) if hw else ())
    if L < 3:
        raise ValueError(
            f"a resnet needs widths (input, N, ..., N, output) with at least one residual layer, got {widths!r}"
        )
    hidden = widths[1:-1]
    if len(set(hidden)) != 1:
        raise ValueError(f"resnet hidden widths must be equal, got {hidden!r}")
    a = resolve_alpha(1.0 if alpha is None else alpha, L - 2)
    n = hidden[0]
    layers = (
        (Layer("input", "dense", widths[0], n),)
        + tuple(Layer(f"blocks.{i}", "dense", n, n) for i in range(L - 2))
        + (Layer("output", "dense", n, widths[-1]),)
    )
    return Architecture(layers, resnet_graph(layers, a), name="resnet")


_TINY = 1e-12


def _forward(graph: tuple, act, sw, sb, q_in: float, k_in: float, num, track: bool) -> tuple[np.ndarray, np.ndarray]:
    """Second moments m of every node and, if ``track``, the covariances k between two examples."""
    n = len(graph)
    m = np.empty(n)
    k2 = np.zeros(n)
    # Deep graphs: E[phi^2] from the cached interpolant (eoc._maps.moment_function, ~1e-16 relative).
    m2 = moment_function(act, num) if n > 4 * DIRECT_DEPTH else (lambda q: float(num.moment2(act, q)))
    for i, node in enumerate(graph):
        ins = [m[j] for j in node.inputs]
        kin = [k2[j] for j in node.inputs]
        op = node.op
        if op == "input":
            m[i], k2[i] = q_in, k_in
        elif op == "layer":
            m[i] = sb[node.layer] ** 2 + sw[node.layer] ** 2 * ins[0]
            k2[i] = sb[node.layer] ** 2 + sw[node.layer] ** 2 * kin[0]
        elif op == "act":
            m[i] = m2(float(ins[0]))
            if track:
                k2[i] = float(num.kernel(act, ins[0], ins[0], np.clip(kin[0], -ins[0], ins[0])))
        elif op == "norm":
            if node.mode == "train":  # normalized over the batch: variance 1, no shared component (large batch)
                m[i], k2[i] = node.value + node.shift, node.shift
            else:
                m[i], k2[i] = node.value * ins[0] + node.shift, node.value * kin[0] + node.shift
        elif op == "scale":
            m[i], k2[i] = node.value**2 * ins[0], node.value**2 * kin[0]
        elif op == "add":
            m[i], k2[i] = sum(ins), sum(kin)
        elif op == "concat":
            w = [graph[j].width for j in node.inputs]
            m[i], k2[i] = float(np.dot(w, ins)) / sum(w), float(np.dot(w, kin)) / sum(w)
        else:  # pool, reshape, identity, uncovered: the moments of the (first) input
            m[i], k2[i] = ins[0], kin[0]
    return m, k2


def layer_profile(
    arch: Architecture,
    act,
    sigma_w,
    sigma_b,
    *,
    input_q: float = 1.0,
    input_k: float = 0.0,
    output_grad: float = 1.0,
    output_grad_k: float | None = None,
    numerics: Numerics | None = None,
) -> ArchitectureProfile:
    r"""Per-weight-layer mean-field profile: forward second moments, gradient variances, weight gradients.

    The module's table, applied to ``arch.graph`` forwards from :math:`m = q_{\rm in}` at
    the input and backwards from :math:`g` = ``output_grad`` at the output.  For the
    three families of :func:`as_architecture` this is :func:`eoc.gradient_variances`
    (FFNN, CNN) and the residual recursions of :mod:`eoc._resnet`: the weight gradient
    of a branch carries :math:`\alpha^2`,
    :math:`\partial\mathcal L/\partial W^l_{ij} = \alpha\,\delta^l_i\,\phi(y^{l-1}_j)`.

    Parameters
    ----------
    arch : Architecture
    act : str or Activation
        The activation of every ``"act"`` node.
    sigma_w, sigma_b : float or sequence of L floats
        Per-layer scales (in ``arch.layers`` order).
    input_q : float
        :math:`|x|^2/d`, the second moment of an input unit.
    input_k : float
        :math:`x_a\cdot x_b/d`, the covariance of an input unit between two examples of
        a batch (in :math:`[-q_{\rm in}, q_{\rm in}]`); it matters only through
        normalizations in train mode (module docstring).
    output_grad : float
        Gradient variance at the output; only ratios between layers are meaningful.
    output_grad_k : float, optional
        The coherent part of the output gradient, :math:`\kappa_{\rm out} = (B - 1)\,
        \mathrm{Cov}(\delta_a, \delta_b)` for two examples a, b of a batch of B (0 for
        independent output gradients, the default).  Coherent gradients :math:`\kappa`
        are propagated back like the gradient variances, with
        :math:`\mathbb E[\phi'(u_1)\phi'(u_2)]` at an activation, and are
        :math:`\kappa = -g` just below a train-mode normalization (the gradient there
        sums to zero over the batch).  They are tracked when this is given or the graph
        has a train-mode normalization, and enter the weight gradient (module docstring).

    Returns
    -------
    ArchitectureProfile
        Per layer: ``q``, ``grad_q`` (where the layer joins the main path),
        ``layer_q``, ``layer_grad`` (at its own output), ``input_moment`` (:math:`m_{l-1}`),
        ``weight_grad`` (:math:`g_l m_{l-1}`); ``chi`` (L - 1,):
        :math:`\sigma_{w,l}^2\mathbb E[\phi'(\sqrt{m}Z)^2]` of each layer after the first,
        with :math:`m` the pre-activation moment of the activation feeding it (no
        activation: :math:`\sigma_{w,l}^2`).
    """
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch must be an eoc.Architecture (see eoc.as_architecture), got {arch!r}")
    act = get_activation(act)
    num = resolve_numerics(numerics)
    L = arch.depth
    sw = per_layer(sigma_w, L, "sigma_w", positive=True)
    sb = per_layer(sigma_b, L, "sigma_b", positive=False)
    q_in = float(check_positive(input_q, "input_q"))
    g_out = float(check_positive(output_grad, "output_grad"))
    graph = arch.graph
    k_in = float(as_float_array(input_k, "input_k"))
    if not abs(k_in) <= q_in:
        raise ValueError(f"input_k must lie in [-input_q, input_q] = [{-q_in}, {q_in}], got input_k={input_k!r}")
    track = output_grad_k is not None or any(node.op == "norm" and node.mode == "train" for node in graph)
    m, k2 = _forward(graph, act, sw, sb, q_in, k_in, num, track)
    kappa_out = 0.0
    if output_grad_k is not None:
        kappa_out = float(as_float_array(output_grad_k, "output_grad_k"))
        if not np.isfinite(kappa_out):
            raise ValueError(f"output_grad_k must be finite, got output_grad_k={output_grad_k!r}")
    g, kappa, d2 = _backward(graph, act, sw, m, k2, g_out, kappa_out, num, track)
    s = arch._structure
    node_of = np.array(s.node_of)
    first_in = np.array([graph[k].inputs[0] for k in node_of])
    input_moment = m[first_in]
    layer_q = np.where([graph[k].op == "layer" for k in node_of], m[node_of], m[first_in])
    layer_grad = g[node_of]
    chi = np.empty(max(L - 1, 0))
    for i in range(1, L):
        j = first_in[i]
        while graph[j].op in ("pool", "identity", "reshape") and graph[j].inputs:
            j = graph[j].inputs[0]
        chi[i - 1] = sw[i] ** 2 * (d2[j] if graph[j].op == "act" else 1.0)
    return ArchitectureProfile(
        arch.widths,
        m[list(s.rejoin)],
        input_moment,
        g[list(s.rejoin)],
        layer_grad * input_moment + (kappa[node_of] * k2[first_in] if track else 0.0),
        chi,
        names=arch.names,
        layer_q=layer_q,
        layer_grad=layer_grad,
        input_k=k2[first_in] if track else np.full(L, np.nan),
        layer_grad_k=kappa[node_of] if track else np.full(L, np.nan),
    )


def _backward(graph: tuple, act, sw, m, k2, g_out: float, kappa_out: float, num, track: bool):
    """Gradient variances g and, if ``track``, coherent gradients kappa of every node (see :func:`layer_profile`)."""
    n = len(graph)
    acts = [i for i, node in enumerate(graph) if node.op == "act"]
    ins = [graph[i].inputs[0] for i in acts]
    d2 = dict(zip(acts, np.atleast_1d(num.deriv_moment2(act, m[ins])))) if acts else {}
    dk = {}
    if track and acts:
        dk = dict(zip(acts, np.atleast_1d(num.deriv_kernel(act, m[ins], m[ins], np.clip(k2[ins], -m[ins], m[ins])))))
    g = np.zeros(n)
    kappa = np.zeros(n)
    g[-1], kappa[-1] = g_out, kappa_out
    for i in range(n - 1, 0, -1):
        node = graph[i]
        op = node.op
        for j in node.inputs:
            kfactor = None
            if op == "layer":
                factor = node.width / graph[j].width * sw[node.layer] ** 2
            elif op == "act":
                factor, kfactor = d2[i], dk.get(i, 0.0)
            elif op == "norm":
                if node.mode == "train":  # batch statistics: the variance over the batch is m - k
                    factor = node.value / max(m[j] - k2[j], _TINY * m[j])
                    kfactor = 0.0
                    kappa[j] -= g[i] * factor  # the gradient below it sums to zero over the batch
                else:
                    factor = node.value
            elif op == "scale":
                factor = node.value**2
            elif op in ("reshape", "uncovered"):
                factor = node.width / graph[j].width
            else:  # add, concat, pool, identity
                factor = 1.0
            g[j] += g[i] * factor
            kappa[j] += kappa[i] * (factor if kfactor is None else kfactor)
    return g, kappa, d2
