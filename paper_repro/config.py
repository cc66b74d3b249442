r"""The configuration vocabulary of every experiment: small keyword-only specs composed
into one run configuration, and the ``--set`` / ``show`` machinery over nested configs.

Specs (frozen, keyword-only dataclasses; every default means "no effect", so adding a
field later leaves every run id valid, :mod:`paper_repro.cache`; a new field whose
default changes what a run computes, as ``prune.bn_mode`` did, comes with a bump of
:data:`paper_repro.cache.RESULTS_SCHEMA`):

* :class:`NetworkSpec` -- which network (FFNN, VGG, CIFAR ResNet / Stable ResNet);
* :class:`InitSpec` -- its Gaussian initialization, as a multiple of the edge-of-chaos
  :math:`\sigma_w` of its activation (``docs/theory.md`` §2);
* :class:`PhaseSpec` -- the multiples that put a network in the ordered phase, on the
  EOC and in the chaotic phase (shared by E1, E2, E3, E8, E9);
* :class:`PruneSpec` -- pruning at initialization and the rescaling trick (§4-5);
* :class:`TrainSpec` -- the training loop of :func:`paper_repro.train.train`;
* :class:`ModelSpec` -- a labelled (network, init, training) of a table row (E4, E6).

An experiment's ``Config`` composes these specs (``Config.train`` is a
:class:`TrainSpec`, never a copy of its fields), and its sweeps build each run with
:func:`dataclasses.replace` on them.  A field an experiment sweeps (say
``network.depth``, swept by ``depths``) is listed in the config's ``SWEPT`` class
attribute and cannot be set on its own.

Keys.  :func:`settable_keys` lists the dotted paths of a config's leaves
(``train.epochs``, ``models.0.train.lr``); :func:`apply_overrides` sets them, a dotted
suffix naming every path it ends (``epochs`` is ``train.epochs``, or every model's
``models.<i>.train.epochs``), with the value coerced to the field's type.  Nothing
here imports torch.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Iterator, Mapping

#: BatchNorm modes while a batch is scored (the ``bn_mode`` values of :func:`eoc.nn.prune_at_init`).
from eoc._vocab import BN_MODES, DEFAULT_BN_MODE

__all__ = [
    "ARCHS",
    "SCHEDULES",
    "BN_MODES",
    "AMP_DTYPES",
    "NetworkSpec",
    "InitSpec",
    "PhaseSpec",
    "PruneSpec",
    "TrainSpec",
    "ModelSpec",
    "named_network",
    "settable_keys",
    "resolve_key",
    "apply_overrides",
    "parse_value",
    "describe",
    "as_dict",
    "leaves",
]

ARCHS = ("ffnn", "vgg", "resnet")
SCHEDULES = ("step", "cosine", "constant")
#: Mixed-precision dtypes of :attr:`TrainSpec.amp` (None: float32 throughout).
AMP_DTYPES = ("bfloat16", "float16")
SCOPES = ("global", "layer")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True, kw_only=True)
class NetworkSpec:
    """The network of a run.

    Attributes
    ----------
    arch : {"ffnn", "vgg", "resnet"}
        :class:`eoc.nn.FFNN` ``(d, width x (depth - 1), classes)``, :class:`eoc.nn.VGG`
        of config ``vgg``, or the CIFAR ResNet :func:`eoc.nn.resnet` of depth ``depth``.
    depth : int
        FFNN: number of linear layers; ResNet: :math:`6n + 2`.
    width : int
        FFNN: hidden width.
    vgg : tuple or str
        VGG: channel counts and ``"M"``, or a name of :data:`eoc.nn.VGG_CONFIGS`.
    width_multiplier : float
        VGG and ResNet: channel multiplier.
    batch_norm : bool
        VGG: BatchNorm after every convolution (a ResNet always has it).
    stable : bool
        ResNet: Stable ResNet, every residual branch scaled by :math:`1/\\sqrt{L}`.
    activation : str
        FFNN and VGG activation (a ResNet has ReLU); its edge of chaos scales the init.
    """

    arch: str
    depth: int = 0
    width: int = 0
    vgg: tuple | str = ()
    width_multiplier: float = 1.0
    batch_norm: bool = False
    stable: bool = False
    activation: str = "relu"

    def __post_init__(self) -> None:
        _check(self.arch in ARCHS, f"network.arch must be one of {ARCHS}, got arch={self.arch!r}")
        _check(not self.stable or self.arch == "resnet", f"stable=True applies to arch='resnet' only, got arch={self.arch!r}")
        _check(
            self.arch != "resnet" or self.activation == "relu",
            f"a ResNet has ReLU activations, got activation={self.activation!r}",
        )
        _check(self.width_multiplier > 0, f"width_multiplier must be > 0, got {self.width_multiplier!r}")

    @property
    def label(self) -> str:
        """A short name: ``ffnn-L50xN64``, ``resnet32x0.5`` (stable: ``stable-resnet32x0.5``), ``vgg19x0.125``."""
        if self.arch == "ffnn":
            return f"ffnn-L{self.depth}xN{self.width}"
        if self.arch == "resnet":
            return f"{'stable-' if self.stable else ''}resnet{self.depth}x{self.width_multiplier:g}"
        name = self.vgg if isinstance(self.vgg, str) else "vgg"
        return f"{name}{'-bn' if self.batch_norm else ''}x{self.width_multiplier:g}"


def named_network(name: str, width_multiplier: float = 1.0) -> NetworkSpec:
    """The :class:`NetworkSpec` of a named CIFAR network.

    ``"resnet<6n+2>"`` is the ResNet of that depth; ``"vgg11"`` ... ``"vgg19"`` the VGG of
    :data:`eoc.nn.VGG_CONFIGS` with BatchNorm.  ReLU.
    """
    if name.startswith("resnet") and name[len("resnet") :].isdigit():
        return NetworkSpec(arch="resnet", depth=int(name[len("resnet") :]), width_multiplier=width_multiplier)
    if name.startswith("vgg") and name[len("vgg") :].isdigit():
        return NetworkSpec(arch="vgg", vgg=name, batch_norm=True, width_multiplier=width_multiplier)
    raise ValueError(f"unknown network name={name!r}: use 'resnet<6n+2>' or 'vgg11' ... 'vgg19'")


@dataclass(frozen=True, kw_only=True)
class InitSpec:
    r"""Gaussian initialization :math:`W\sim\mathcal N(0,\sigma_w^2/\text{fan-in})`, :math:`B\sim\mathcal N(0,\sigma_b^2)`.

    Attributes
    ----------
    sigma_w_factor : float
        :math:`\sigma_w` over the edge-of-chaos :math:`\sigma_w` of ``(activation,
        sigma_b)`` (:func:`eoc.edge_of_chaos`): 1 is the EOC (He initialization for ReLU
        at sigma_b = 0), below 1 the ordered phase, above 1 the chaotic phase.
    sigma_b : float
        Standard deviation of the biases.
    """

    sigma_w_factor: float = 1.0
    sigma_b: float = 0.0

    def __post_init__(self) -> None:
        _check(self.sigma_w_factor > 0, f"init.sigma_w_factor must be > 0, got {self.sigma_w_factor!r}")
        _check(self.sigma_b >= 0, f"init.sigma_b must be >= 0, got {self.sigma_b!r}")

    def sigma_w(self, activation: str) -> float:
        """The weight scale: ``sigma_w_factor`` times the EOC sigma_w of ``(activation, sigma_b)``."""
        import eoc

        return self.sigma_w_factor * float(eoc.edge_of_chaos(activation, self.sigma_b))


@dataclass(frozen=True, kw_only=True)
class PhaseSpec:
    """The three initializations compared by the phase experiments, as multiples of the EOC sigma_w.

    For tanh at sigma_b = 0.2 the defaults give chi_1 = 0.82 (ordered) and 1.32 (chaotic).
    """

    ordered: float = 0.8
    edge_of_chaos: float = 1.0
    chaotic: float = 1.5

    def __post_init__(self) -> None:
        _check(
            0 < self.ordered < self.edge_of_chaos < self.chaotic,
            f"phases must satisfy 0 < ordered < edge_of_chaos < chaotic, got {self}",
        )

    def items(self) -> list[tuple[str, float]]:
        """``[(phase, factor)]`` in the order of :data:`eoc.PHASES`."""
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True, kw_only=True)
class PruneSpec:
    """Pruning at initialization (:func:`eoc.nn.prune_at_init`) and the rescaling trick.

    Attributes
    ----------
    method : str
        A method of :func:`eoc.nn.prune_at_init`; GraSP scores with the logits divided
        by :data:`eoc.nn.GRASP_TEMPERATURE` (200, as Wang et al.'s code).
    sparsity : float
        Fraction of the prunable weights removed, in [0, 1); 0 is the dense network.
    scope : {"global", "layer"}
    rounds : int
        SynFlow rounds (1: single shot; no effect on the other methods).
    batch : int
        The scoring batch: ``batch`` random training images with their labels (or, with
        ``balanced``, ``batch`` images of every class).
    balanced : bool
    bn_mode : {"eval", "train", "model"}
        BatchNorm (and Dropout) mode while SNIP and GraSP score the batch
        (:func:`eoc.nn.compute_scores`): "eval" (running statistics; the default, as
        Lee et al.'s SNIP code and Tanaka et al.'s benchmark), "train" (batch
        statistics, as Wang et al.'s GraSP code), "model" (the fresh model's own
        mode, i.e. train).  No effect on the other methods, nor on networks without
        BatchNorm or Dropout (docs/theory.md §4.1).
    rescale : str or None
        Mode of the rescaling trick (:func:`eoc.nn.rescale_`); None leaves the weights.
    """

    method: str = "snip"
    sparsity: float = 0.0
    scope: str = "global"
    rounds: int = 1
    batch: int = 128
    balanced: bool = False
    bn_mode: str = DEFAULT_BN_MODE
    rescale: str | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.sparsity < 1, f"prune.sparsity must be in [0, 1), got sparsity={self.sparsity!r}")
        _check(self.scope in SCOPES, f"prune.scope must be one of {SCOPES}, got scope={self.scope!r}")
        _check(self.bn_mode in BN_MODES, f"prune.bn_mode must be one of {BN_MODES}, got bn_mode={self.bn_mode!r}")
        _check(
            self.batch >= 1 and self.rounds >= 1,
            f"prune.batch and prune.rounds must be >= 1, got batch={self.batch}, rounds={self.rounds}",
        )
        _check(
            self.sparsity > 0 or self.rescale is None,
            f"prune.rescale needs a pruned network (sparsity > 0), got rescale={self.rescale!r}",
        )


@dataclass(frozen=True, kw_only=True)
class TrainSpec:
    r"""Hyper-parameters of :func:`paper_repro.train.train` (SGD with momentum).

    Attributes
    ----------
    epochs, batch_size : int
    lr : float
        Initial learning rate.
    momentum : float
        In [0, 1).
    weight_decay : float
        L2 penalty of SGD (every parameter).
    schedule : {"step", "cosine", "constant"}
        ``"step"``: divide the learning rate by 10 at each fraction of training in
        ``milestones``; ``"cosine"``: :math:`\eta_e = \eta (1 + \cos(\pi e/E))/2`.
    milestones : tuple of float
        Increasing fractions in (0, 1).
    augment : bool
        Random crop (padding 4, black) and horizontal flip of every training batch.
    eval_every_epoch : bool
        Evaluate on the test split after every epoch (else only after the last).
    amp : {None, "bfloat16", "float16"}
        Train and evaluate under ``torch.autocast`` to this dtype (float16 with a
        gradient scaler); None is float32 throughout.  Pruning scores and masks are
        computed before training, in float32, and the masked weights stay exactly zero
        (:func:`paper_repro.train.train`).
    channels_last : bool
        Convolutional models and their input batches in ``torch.channels_last`` memory
        format (faster convolutions on recent GPUs; the rounding may differ, so it is
        part of the run's identity).

    The run's seed (:class:`paper_repro.runs.PruneRun`) seeds the training too.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"
    milestones: tuple[float, ...] = (0.5, 0.75)
    augment: bool = False
    eval_every_epoch: bool = True
    amp: str | None = None
    channels_last: bool = False

    def __post_init__(self) -> None:
        _check(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be an integer >= 1, got epochs={self.epochs!r}")
        _check(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            f"batch_size must be an integer >= 1, got batch_size={self.batch_size!r}",
        )
        _check(self.lr > 0 and math.isfinite(self.lr), f"lr must be > 0 and finite, got lr={self.lr!r}")
        _check(0 <= self.momentum < 1, f"momentum must be in [0, 1), got momentum={self.momentum!r}")
        _check(
            self.weight_decay >= 0 and math.isfinite(self.weight_decay),
            f"weight_decay must be >= 0 and finite, got weight_decay={self.weight_decay!r}",
        )
        _check(self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got schedule={self.schedule!r}")
        _check(self.amp is None or self.amp in AMP_DTYPES, f"amp must be None or one of {AMP_DTYPES}, got amp={self.amp!r}")
        ms = tuple(self.milestones)
        _check(
            all(0 < m < 1 for m in ms) and list(ms) == sorted(ms),
            f"milestones must be increasing fractions in (0, 1), got milestones={self.milestones!r}",
        )


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model of a table row: a label with its network, initialization and training.

    ``dataset`` is the model's own dataset where an experiment gives one per model
    (E4); None where the experiment crosses its models with a list of datasets (E6).
    """

    label: str
    network: NetworkSpec
    init: InitSpec = field(default_factory=InitSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    dataset: str | None = None


# --------------------------------------------------------------------------- keys of nested configs


def as_dict(config: Any) -> Any:
    """``dataclasses.asdict`` of a config (anything else is returned as it is)."""
    return dataclasses.asdict(config) if is_dataclass(config) and not isinstance(config, type) else config


def leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every leaf of a nested config (dataclasses, tuples of dataclasses)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from leaves(getattr(obj, f.name), f"{prefix}{f.name}.")
    elif isinstance(obj, tuple) and obj and all(is_dataclass(v) for v in obj):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], obj


def _nodes(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every inner node (a spec, or a tuple of specs) below the root."""
    if is_dataclass(obj) and not isinstance(obj, type):
        children = [(f.name, getattr(obj, f.name)) for f in fields(obj)]
    elif isinstance(obj, tuple) and obj and all(is_dataclass(v) for v in obj):
        children = [(str(i), v) for i, v in enumerate(obj)]
    else:
        return
    for name, value in children:
        if (is_dataclass(value) and not isinstance(value, type)) or (
            isinstance(value, tuple) and value and all(is_dataclass(v) for v in value)
        ):
            yield f"{prefix}{name}", value
            yield from _nodes(value, f"{prefix}{name}.")


def _swept(config: Any) -> Mapping[str, str]:
    return getattr(type(config), "SWEPT", {})


def settable_keys(config: Any) -> dict[str, Any]:
    """``{dotted key: current value}`` of every leaf ``--set`` accepts (swept fields left out)."""
    swept = _swept(config)
    return {k: v for k, v in leaves(config) if k not in swept}


def resolve_key(config: Any, key: str) -> list[str]:
    """The full dotted paths ``key`` names in ``config``: itself, or every path it is a dotted suffix of.

    ``epochs`` names ``train.epochs``; in a config with several models it names every
    ``models.<i>.train.epochs``.  An empty list when the config has no such setting.

    Raises
    ------
    ValueError
        ``key`` names a field the experiment sweeps (the message says what to set).
    """
    swept = _swept(config)
    for path, by in swept.items():
        if path == key or path.endswith("." + key):
            raise ValueError(f"{path} is swept by this experiment: set {by} instead")
    keys = settable_keys(config)
    if key in keys or key in dict(_nodes(config)):  # a leaf, or a whole spec (API callers pass a dataclass)
        return [key]
    return [k for k in keys if k.endswith("." + key)]


def parse_value(raw: str) -> Any:
    """A ``--set`` value: a Python literal (``0.1``, ``(5, 10)``, ``None``, ``'x'``) or else the plain string."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _coerce(key: str, value: Any, current: Any) -> Any:
    """``value`` in the type of the field's current value (int -> float, list -> tuple); an error otherwise."""
    if isinstance(value, list):
        value = tuple(value)
    if current is None or value is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, tuple):
        if isinstance(value, tuple):
            return value
        if isinstance(value, str) and isinstance(current, (tuple, str)):
            return value  # e.g. network.vgg: a name or a tuple
    elif isinstance(current, str):
        if isinstance(value, str) or (isinstance(value, tuple)):
            return value
    raise ValueError(
        f"--set {key}={value!r}: expected a value like the current {current!r} ({type(current).__name__})"
    )


def _set_path(obj: Any, path: list[str], value: Any) -> Any:
    head, rest = path[0], path[1:]
    if isinstance(obj, tuple):
        items = list(obj)
        items[int(head)] = _set_path(items[int(head)], rest, value) if rest else value
        return tuple(items)
    if not rest:
        return replace(obj, **{head: value})
    return replace(obj, **{head: _set_path(getattr(obj, head), rest, value)})


def apply_overrides(config: Any, overrides: Mapping[str, Any], *, where: str = "") -> Any:
    """``config`` with every ``{key: value}`` of ``overrides`` set (keys as :func:`resolve_key`).

    Raises
    ------
    ValueError
        A key the config does not have (the message lists the valid keys), a swept
        key, or a value of the wrong type; and whatever the specs' validation says
        about the new value.
    """
    keys = settable_keys(config)
    for key, value in overrides.items():
        paths = resolve_key(config, key)
        if not paths:
            raise ValueError(f"{where or type(config).__name__} has no setting {key!r}; valid keys: {', '.join(keys)}")
        nodes = dict(_nodes(config))
        for path in paths:
            if path in keys:
                value_ = _coerce(path, value, keys[path])
            elif isinstance(value, type(nodes[path])):
                value_ = value
            else:
                raise ValueError(f"{path} is a {type(nodes[path]).__name__}; got {type(value).__name__} {value!r}")
            config = _set_path(config, path.split("."), value_)
    return config


def describe(config: Any) -> str:
    """The full configuration (every value, defaults included) and the keys ``--set`` accepts, as text."""
    keys = settable_keys(config)
    swept = _swept(config)
    width = max(len(k) for k in [*keys, *swept]) if keys or swept else 0
    lines = [f"{type(config).__name__} (keys accepted by --set [ID.]KEY=VALUE; a dotted suffix sets every key it ends):"]
    lines += [f"  {k.ljust(width)} = {v!r}" for k, v in keys.items()]
    if swept:
        lines.append("swept fields (set by the experiment's sweep):")
        lines += [f"  {k.ljust(width)}   <- {v}" for k, v in swept.items()]
    return "\n".join(lines)
