r"""The building blocks of an :class:`eoc.Architecture`: weight layers, signal-flow nodes, and
the structure of the graph they form (residual blocks, roles, branch scales).

docs/theory.md §1.  :class:`Layer` is one prunable weight layer (dense or convolution),
validated at construction so that its weight count follows from its shape;
:class:`Node` is one operation of the signal-flow graph (the table of operations is in
:mod:`eoc._arch`).  :func:`analyze` finds the residual blocks of a graph (the sum
node that dominates each branch), gives every layer its role (``"main"``,
``"branch"`` or ``"shortcut"``) and branch scale, and records what follows each
layer.  :func:`chain_graph` and :func:`resnet_graph` build the graphs of the paper's
three families.
"""

from __future__ import annotations

from __future__ import annotations
import math
import numbers
from dataclasses import dataclass
import numpy as np
from ._validate import check_nonnegative, check_positive

ARCH_KINDS = ("ffnn", "cnn", "resnet")
LAYER_KINDS = ("dense", "conv")
#: Operations of :class:`Node` (see the module table).
NODE_OPS = ("input", "layer", "act", "norm", "pool", "reshape", "scale", "add", "concat", "identity", "uncovered")
#: Where a layer sits: on the main path, in a residual branch, or on a shortcut.
ROLES = ("main", "branch", "shortcut")
_NORM_MODES = ("train", "eval")


class TheoryCoverageWarning(UserWarning):
    """A prediction is made for a network with parts the theory does not cover
    (:attr:`Architecture.notes`: BatchNorm, attention, grouped convolutions, ...)."""


def _name(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {where}={value!r}")
    return value


def _int_tuple(value, where: str, *, minimum: int = 1) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        seq = tuple(value)
    except TypeError:
        raise ValueError(f"{where} must be a tuple of integers >= {minimum}, got {where}={value!r}") from None
    for v in seq:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            raise ValueError(f"{where} must be a tuple of integers >= {minimum}, got {where}={value!r}")
    return tuple(int(v) for v in seq)


def _positive_int(value, where: str, attr: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {attr} must be a positive integer, got {attr}={value!r}")
    return int(value)


def _optional_float(value, where: str, check) -> float | None:
    if value is None:
        return None
    arr = check(value, where)
    if arr.ndim:
        raise ValueError(f"{where} must be a scalar, got {where}={value!r}")
    return float(arr)


@dataclass(frozen=True)
class Layer:
    r"""One prunable weight layer (``nn.Linear`` or ``nn.Conv{1,2,3}d``).

    Attributes
    ----------
    name : str
        The layer's name (for a PyTorch model, its name in ``named_modules()``).
    kind : {"dense", "conv"}
    in_channels, out_channels : int
        Input and output features (dense) or channels (convolution).
    kernel : tuple of int
        The kernel shape, ``()`` for a dense layer.
    groups : int
        Convolution groups (1 for dense layers); must divide both channel counts.
    n_weights : int, optional
        :math:`M_l`.  Computed from the shape when omitted; when given it must equal
        ``out_channels * in_channels / groups * prod(kernel)``.
    bias : bool
    in_spatial, out_spatial : tuple of int
        Spatial size of the input and output feature maps (``()`` when unknown or
        dense).
    stride : tuple of int
        Convolution stride (``()`` when unknown or dense).
    sigma_w, sigma_b : float, optional
        The initialization's :math:`\sigma_w` (weights :math:`\mathcal N(0, \sigma_w^2/v_l)`)
        and :math:`\sigma_b`, where known (inferred by :func:`eoc.nn.describe`).

    Raises
    ------
    ValueError
        On a field of the wrong type or value, naming it; on an ``n_weights`` that does
        not follow from the shape.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple = ()
    groups: int = 1
    n_weights: int | None = None
    bias: bool = True
    in_spatial: tuple = ()
    out_spatial: tuple = ()
    stride: tuple = ()
    sigma_w: float | None = None
    sigma_b: float | None = None

    def __post_init__(self) -> None:
        name = _name(self.name, "Layer.name")
        where = f"layer {name!r}"
        if self.kind not in LAYER_KINDS:
            raise ValueError(f"{where}: kind must be one of {LAYER_KINDS}, got kind={self.kind!r}")
        _positive_int(self.in_channels, where, "in_channels")
        _positive_int(self.out_channels, where, "out_channels")
        groups = _positive_int(self.groups, where, "groups")
        kernel = _int_tuple(self.kernel, f"{where}: kernel")
        if self.kind == "dense" and (kernel or groups != 1):
            raise ValueError(f"{where}: a dense layer has kernel=() and groups=1, got kernel={self.kernel!r}, groups={groups}")
        if self.kind == "conv" and not kernel:
            raise ValueError(f"{where}: a convolution needs a kernel shape, got kernel={self.kernel!r}")
        if self.in_channels % groups or self.out_channels % groups:
            raise ValueError(
                f"{where}: groups={groups} must divide in_channels={self.in_channels} and out_channels={self.out_channels}"
            )
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ValueError(f"{where}: bias must be True or False, got bias={self.bias!r}")
        object.__setattr__(self, "kernel", kernel)
        for attr in ("in_spatial", "out_spatial", "stride"):
            object.__setattr__(self, attr, _int_tuple(getattr(self, attr), f"{where}: {attr}"))
        expected = self.out_channels * (self.in_channels // groups) * math.prod(kernel)
        if self.n_weights is None:
            object.__setattr__(self, "n_weights", expected)
        else:
            given = _positive_int(self.n_weights, where, "n_weights")
            if given != expected:
                raise ValueError(
                    f"{where}: n_weights={given} does not follow from the shape: out_channels * in_channels / groups "
                    f"* kernel area = {self.out_channels} * {self.in_channels}/{groups} * {math.prod(kernel)} = {expected}"
                )
        object.__setattr__(self, "sigma_w", _optional_float(self.sigma_w, f"{where}: sigma_w", check_positive))
        object.__setattr__(self, "sigma_b", _optional_float(self.sigma_b, f"{where}: sigma_b", check_nonnegative))

    @property
    def fan_in(self) -> int:
        """:math:`v_l`: inputs of one output unit (``in_channels / groups * kernel area``)."""
        return (self.in_channels // self.groups) * math.prod(self.kernel)

    @property
    def kernel_size(self):
        """The kernel side ``k`` of a (hyper)cubic kernel, 1 for a dense layer, else the kernel tuple."""
        if not self.kernel:
            return 1
        return self.kernel[0] if len(set(self.kernel)) == 1 else self.kernel


@dataclass(frozen=True)
class Node:
    """One operation of an :class:`Architecture`'s signal-flow graph (module table).

    Attributes
    ----------
    op : str
        One of :data:`NODE_OPS`.
    inputs : tuple of int
        Indices of earlier nodes (``()`` for the input node, one for most operations,
        two or more for ``"add"`` and ``"concat"``).
    width : int
        Features (dense) or channels (convolutional) of the output; 0 means "as the
        input" (or ``out_channels`` for a layer, the sum for a concatenation).
    layer : int, optional
        For ``"layer"``: index into :attr:`Architecture.layers`.
    layers : tuple of int
        For ``"uncovered"``: the prunable layers inside the part (attention, ...).
    value : float
        ``"scale"``: the factor :math:`c`; ``"norm"``: :math:`\\overline{\\gamma^2}` in train
        mode, :math:`\\overline{\\gamma^2/(v_{run}+\\epsilon)}` in eval mode.
    shift : float
        ``"norm"``: :math:`\\overline{\\beta^2}`.
    mode : str
        ``"norm"``: ``"train"`` (batch statistics) or ``"eval"`` (running statistics).
    name, detail : str
        Where the node comes from (a module or function name) and what it is (``"relu"``,
        ``"BatchNorm2d"``, ``"max 2x2"``).  ``detail`` of an ``"act"`` node is the
        activation's :func:`eoc.get_activation` label when known.
    """

    op: str
    inputs: tuple = ()
    width: int = 0
    layer: int | None = None
    layers: tuple = ()
    value: float = 1.0
    shift: float = 0.0
    mode: str = ""
    name: str = ""
    detail: str = ""


def _bits(mask: int):
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass(frozen=True)
class _Structure:
    role: tuple  # per layer
    block: tuple  # per layer: index of its residual block (add node) or -1
    branch_scale: np.ndarray  # per layer: product of scales on its branch (1 off branches)
    rejoin: tuple  # per layer: node where q, grad_q are read
    node_of: tuple  # per layer: its node (layer or uncovered)
    blocks: tuple  # add-node indices of residual blocks, in graph order
    block_scales: tuple  # branch scale of each block
    after: tuple  # per layer: the operations between it and the next layer / junction
    normed: tuple  # per layer: whether a normalization node directly consumes it


def analyze(graph: tuple, n_layers: int) -> _Structure:
    """Residual blocks (dominator of each sum), roles, branch scales and what follows each layer."""
    n = len(graph)
    # Ancestor and dominator sets as bitsets: O(n^2) bits, so only built where a sum needs them
    # (a chain of 10^5 layers would otherwise take gigabytes).
    has_sums = any(node.op == "add" and len(node.inputs) >= 2 for node in graph)
    anc = [0] * n if has_sums else None
    dom = [0] * n if has_sums else None
    consumers: list[list[int]] = [[] for _ in range(n)]
    for k, node in enumerate(graph):
        a = 0
        d = -1
        for j in node.inputs:
            consumers[j].append(k)
            if has_sums:
                a |= anc[j] | (1 << j)
                d &= dom[j]
        if has_sums:
            anc[k] = a
            dom[k] = (d if node.inputs else 0) | (1 << k)
    node_of = [-1] * n_layers
    for k, node in enumerate(graph):
        for i in (node.layer,) if node.op == "layer" else node.layers:
            node_of[i] = k
    layer_bits = sum(1 << k for k in set(node_of)) if has_sums else 0
    role = ["main"] * n_layers
    block = [-1] * n_layers
    scale = np.ones(n_layers)
    rejoin = list(node_of)
    sums = []
    for k, node in enumerate(graph):
        if node.op != "add" or len(node.inputs) < 2:
            continue
        fork = (dom[k] & ~(1 << k)).bit_length() - 1  # immediate dominator: the latest strict dominator
        outside = anc[fork] | (1 << fork)
        paths = [(anc[j] | (1 << j)) & ~outside if j != fork else 0 for j in node.inputs]
        counts = [bin(p & layer_bits).count("1") for p in paths]
        has_scale = [any(graph[x].op == "scale" for x in _bits(p)) for p in paths]
        # The shortcut: fewest weight layers, then the path without a constant scale, then the last input.
        short = min(range(len(paths)), key=lambda i: (counts[i], has_scale[i], -i))
        sums.append((sum(bin(p).count("1") for p in paths), k, paths, short))
    blocks = tuple(k for _, k, _, _ in sums)
    members = []  # all nodes of each block's paths
    for _, k, paths, short in sums:
        union = 0
        for p in paths:
            union |= p
        members.append(union)
    block_scales = []
    for b, (_, k, paths, short) in enumerate(sums):
        branch = 0
        for i, p in enumerate(paths):
            if i != short:
                branch |= p
        for other, nodes in enumerate(members):  # scales inside a nested block belong to that block
            if other != b and nodes & branch == nodes and nodes != branch:
                branch &= ~nodes
        block_scales.append(float(np.prod([graph[x].value for x in _bits(branch) if graph[x].op == "scale"])))
    # Innermost block wins: assign the largest blocks first.
    layers_at: dict[int, list[int]] = {}
    for li, nk in enumerate(node_of):
        layers_at.setdefault(nk, []).append(li)
    block_index = {k: b for b, k in enumerate(blocks)}
    for size, k, paths, short in sorted(sums, key=lambda t: -t[0]):
        b = block_index[k]
        for i, p in enumerate(paths):
            for nk in _bits(p & layer_bits):
                for li in layers_at[nk]:
                    role[li] = "shortcut" if i == short else "branch"
                    block[li] = b
                    scale[li] = 1.0 if i == short else block_scales[b]
                    rejoin[li] = k
    after, normed = [], []
    for nk in node_of:
        normed.append(any(graph[c].op == "norm" for c in consumers[nk]))
        ops, k = [], nk
        while len(consumers[k]) == 1:
            k = consumers[k][0]
            node = graph[k]
            if node.op in ("layer", "add", "concat", "uncovered", "reshape") or len(node.inputs) != 1:
                break
            ops.append(node.detail or node.op)
        after.append(tuple(ops))
    return _Structure(tuple(role), tuple(block), scale, tuple(rejoin), tuple(node_of), blocks, tuple(block_scales), tuple(after), tuple(normed))


def chain_graph(layers: tuple, pool_before_last: bool) -> tuple:
    """input -> layer 0 -> act -> layer 1 -> ... (with a global pooling before the read-out if asked)."""
    graph = [Node("input", (), layers[0].in_channels, name="input")]
    for i, layer in enumerate(layers):
        if i:
            graph.append(Node("act", (len(graph) - 1,)))
            if pool_before_last and i == len(layers) - 1:
                graph.append(Node("pool", (len(graph) - 1,), detail="global average"))
        graph.append(Node("layer", (len(graph) - 1,), layer=i, name=layer.name))
    return tuple(graph)


def resnet_graph(layers: tuple, alpha: float) -> tuple:
    """input projection, residual branches y + alpha W phi(y), read-out of phi(y)."""
    graph = [Node("input", (), layers[0].in_channels, name="input"), Node("layer", (0,), layer=0, name=layers[0].name)]
    stream = 1
    for i in range(1, len(layers) - 1):
        graph.append(Node("act", (stream,)))
        graph.append(Node("layer", (len(graph) - 1,), layer=i, name=layers[i].name))
        graph.append(Node("scale", (len(graph) - 1,), value=alpha, detail=f"alpha={alpha:.6g}"))
        graph.append(Node("add", (stream, len(graph) - 1)))
        stream = len(graph) - 1
    graph.append(Node("act", (stream,)))
    graph.append(Node("layer", (len(graph) - 1,), layer=len(layers) - 1, name=layers[-1].name))
    return tuple(graph)
