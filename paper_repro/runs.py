r"""The run shared by the pruning experiments (E1, E3-E7): a freshly initialized
network, pruned at initialization (and rescaled), optionally trained.

One frozen configuration, :class:`PruneRun`, names the network (FFNN, VGG, ResNet or
Stable ResNet), its Gaussian initialization (a multiple of the edge-of-chaos
:math:`\sigma_w`, He initialization for ReLU), the pruning (method, sparsity, scope,
scoring batch, SynFlow rounds), the rescaling trick and, optionally, the training
(a nested :class:`paper_repro.train.TrainConfig`).  :func:`run_pruned` carries it out
and returns a JSON-able record; :func:`sweep` runs a list of configurations through
the run cache of a :class:`~paper_repro.registry.Context` (:func:`paper_repro.cache.run_sweep`),
where a run is identified by the hash of its non-default fields.

A fully pruned layer (layer collapse) is an outcome, not an error: the
:class:`~eoc.nn.LayerCollapseWarning` of :func:`eoc.nn.prune_at_init` is silenced and
the record lists the fully pruned layers and whether they cut every path from the
input to the output (:func:`disconnected`).  A disconnected network is not trained:
its output does not depend on its input, and it is reported at chance accuracy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

import eoc

from .cache import RunCache, run_sweep

if TYPE_CHECKING:  # torch is imported where it is used
    import torch
    from torch import nn

    from .data import Dataset
    from .registry import Context
    from .train import TrainConfig

__all__ = [
    "ARCHS",
    "GRASP_TEMPERATURE",
    "PruneRun",
    "named_network",
    "build_model",
    "prune_model",
    "collapse_record",
    "disconnected",
    "run_pruned",
    "sweep",
]

ARCHS = ("ffnn", "vgg", "resnet")
#: GraSP's reference code divides the logits by 200 in the loss it scores with
#: (Wang et al. 2020); so do we.
GRASP_TEMPERATURE = 200.0


@dataclass(frozen=True)
class PruneRun:
    r"""One run: build, initialize, prune (and rescale), optionally train.

    Hashed into the run cache by :func:`paper_repro.cache.config_hash`, where only the
    fields that differ from their defaults count; every default means "no effect".

    Attributes
    ----------
    dataset : str
        A name of :data:`paper_repro.data.DATASETS`: input shape, classes, scoring
        batch and training data.
    arch : {"ffnn", "vgg", "resnet"}
        :class:`eoc.nn.FFNN` ``(d, width x (depth - 1), classes)``, :class:`eoc.nn.VGG`
        of config ``vgg``, or the CIFAR ResNet :func:`eoc.nn.resnet` of depth ``depth``.
    seed : int
        Seeds one CPU generator that draws, in this order, the weights, the scoring
        batch and the random scores: at one seed every method, sparsity, rescaling
        and ResNet variant starts from the same weights.  Training is seeded by
        ``train.seed``.
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
        ResNet: Stable ResNet, every residual branch scaled by :math:`1/\sqrt{L}`.
    activation : str
        The activation of an FFNN or VGG (``"relu"`` for a ResNet), and the one whose
        edge of chaos scales the initialization.
    sigma_b : float
        Standard deviation of the biases.
    sigma_w_factor : float
        :math:`\sigma_w` over the edge-of-chaos :math:`\sigma_w` of ``(activation,
        sigma_b)`` (:func:`eoc.edge_of_chaos`): 1 is the EOC (He initialization for
        ReLU at sigma_b = 0), below 1 the ordered phase, above 1 the chaotic phase.
    method : str
        A method of :func:`eoc.nn.prune_at_init`; GraSP scores with the logits divided
        by :data:`GRASP_TEMPERATURE`.
    sparsity : float
        Fraction of the prunable weights removed, in [0, 1); 0 is the dense network
        (no scoring batch, no mask).
    scope : {"global", "layer"}
        Rank all prunable weights together, or prune every layer to ``sparsity``.
    rounds : int
        SynFlow rounds (1: single shot; no effect on the other methods).
    batch : int
        The scoring batch: ``batch`` random training images with their labels.
    balanced : bool
        Draw ``batch`` random training images of every class instead (all of a
        smaller class), as the reference code of SNIP and GraSP does.
    rescale : str or None
        Mode of the rescaling trick (:func:`eoc.nn.rescale_`) applied after pruning;
        None leaves the pruned weights as they are.
    detail : bool
        Also record the kept fraction of every neuron (output channel) and the
        critical sparsity of the scores (:func:`eoc.nn.critical_sparsity_details`).
    train : TrainConfig or None
        Train the pruned network with :func:`paper_repro.train.train`; None prunes only.
    """

    dataset: str
    arch: str
    seed: int
    depth: int = 0
    width: int = 0
    vgg: tuple | str = ()
    width_multiplier: float = 1.0
    batch_norm: bool = False
    stable: bool = False
    activation: str = "relu"
    sigma_b: float = 0.0
    sigma_w_factor: float = 1.0
    method: str = "snip"
    sparsity: float = 0.0
    scope: str = "global"
    rounds: int = 1
    batch: int = 128
    balanced: bool = False
    rescale: str | None = None
    detail: bool = False
    train: TrainConfig | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got arch={self.arch!r}")
        if self.stable and self.arch != "resnet":
            raise ValueError(f"stable=True applies to arch='resnet' only, got arch={self.arch!r}")
        if self.arch == "resnet" and self.activation != "relu":
            raise ValueError(f"a ResNet has ReLU activations, got activation={self.activation!r}")
        if self.arch == "ffnn" and (self.depth < 1 or (self.depth > 1 and self.width < 1)):
            raise ValueError(f"an FFNN needs depth >= 1 and width >= 1, got depth={self.depth}, width={self.width}")
        if not 0 <= self.sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1), got sparsity={self.sparsity!r}")
        if self.sparsity == 0 and (self.rescale is not None or self.detail):
            raise ValueError("rescale and detail need a pruned network (sparsity > 0)")
        if self.batch < 1 or self.rounds < 1:
            raise ValueError(f"batch and rounds must be >= 1, got batch={self.batch}, rounds={self.rounds}")

    @property
    def sigma_w(self) -> float:
        """The weight scale: ``sigma_w_factor`` times the EOC sigma_w of ``(activation, sigma_b)``."""
        return self.sigma_w_factor * float(eoc.edge_of_chaos(self.activation, self.sigma_b))


def named_network(name: str, width_multiplier: float = 1.0) -> dict[str, Any]:
    """The :class:`PruneRun` fields of a named CIFAR network.

    ``"resnet<6n+2>"`` is the ResNet of that depth; ``"vgg11"`` ... ``"vgg19"`` the VGG
    of :data:`eoc.nn.VGG_CONFIGS` with BatchNorm.  ReLU, He initialization.
    """
    if name.startswith("resnet") and name[len("resnet") :].isdigit():
        return {"arch": "resnet", "depth": int(name[len("resnet") :]), "width_multiplier": width_multiplier}
    if name.startswith("vgg"):
        return {"arch": "vgg", "vgg": name, "batch_norm": True, "width_multiplier": width_multiplier}
    raise ValueError(f"unknown network name={name!r}: use 'resnet<6n+2>' or 'vgg11' ... 'vgg19'")


def build_model(config: PruneRun, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """The network of ``config`` with torch's default initialization (see :func:`prune_model`)."""
    from eoc.nn import FFNN, VGG, resnet

    if config.arch == "ffnn":
        widths = [int(np.prod(input_shape))] + [config.width] * (config.depth - 1) + [num_classes]
        return FFNN(widths, config.activation)
    if config.arch == "vgg":
        return VGG(
            config.vgg, input_shape[0], num_classes, config.activation, config.batch_norm, config.width_multiplier
        )
    return resnet(config.depth, num_classes, config.stable, input_shape[0], config.width_multiplier)


def _scoring_batch(data: Dataset, config: PruneRun, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images (and labels) the pruning scores, drawn with ``generator``."""
    import torch

    if not config.balanced:
        idx = torch.randperm(len(data.x_train), generator=generator)[: config.batch]
    else:
        picks = []
        for c in range(data.num_classes):
            of_class = torch.nonzero(data.y_train == c).flatten()
            picks.append(of_class[torch.randperm(len(of_class), generator=generator)[: config.batch]])
        idx = torch.cat(picks)
    return data.x_train[idx], data.y_train[idx]


def _grasp_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from torch.nn import functional as F

    return F.cross_entropy(outputs / GRASP_TEMPERATURE, targets)


def disconnected(model: nn.Module, collapsed: Sequence[str]) -> bool:
    """Whether the fully pruned layers ``collapsed`` cut every path from input to output.

    In an FFNN or a VGG every layer is on the only path.  In a ResNet a fully pruned
    branch convolution only reduces its block to the shortcut; the network is cut
    when the stem or the classifier is empty, or when a block loses both its branch
    and its (1x1 convolution) shortcut.
    """
    from eoc.nn import BasicBlock, ResNet

    gone = set(collapsed)
    if not isinstance(model, ResNet):
        return bool(gone)
    if {"conv1", "fc"} & gone:
        return True
    for name, block in model.named_modules():
        if isinstance(block, BasicBlock):
            branch_cut = bool({f"{name}.conv1", f"{name}.conv2"} & gone)
            if branch_cut and f"{name}.shortcut.0" in gone:
                return True
    return False


def collapse_record(model: nn.Module, detail: bool = False) -> dict[str, Any]:
    """What the masks of ``model`` keep, layer by layer.

    Returns
    -------
    dict
        ``layers``: per prunable layer in module order, ``name``, ``numel`` and
        ``keep`` (kept fraction of its weights; 1 if unmasked), with ``detail`` also
        ``neuron_keep`` (kept fraction of every output neuron's incoming weights);
        ``collapsed``: names of the fully pruned layers; ``disconnected``
        (:func:`disconnected`).
    """
    from eoc.nn import keep_fractions, prunable_layers

    keep = keep_fractions(model)
    layers = []
    for name, module in prunable_layers(model):
        layer: dict[str, Any] = {"name": name, "numel": module.weight.numel(), "keep": keep[name]}
        if detail:
            layer["neuron_keep"] = module.weight_mask.flatten(1).mean(1).tolist()
        layers.append(layer)
    collapsed = [layer["name"] for layer in layers if layer["keep"] == 0]
    return {"layers": layers, "collapsed": collapsed, "disconnected": disconnected(model, collapsed)}


def _mean_factor(factors: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> float:
    """Mean rescaling factor over the neurons (or layers, for a 0-d factor) that keep a weight."""
    import torch

    rho, alive = [], []
    for name, r in factors.items():
        rho.append(r.flatten())
        alive.append(masks[name].flatten(1).any(1) if r.ndim else masks[name].any().reshape(1))
    return float(torch.cat(rho)[torch.cat(alive)].mean())


def prune_model(config: PruneRun, data: Dataset, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Build, initialize, prune and rescale the network of ``config``; return it with its record.

    The weights are drawn by :func:`eoc.nn.init_` on a CPU generator seeded with
    ``config.seed`` (so they do not depend on ``device``), which then draws the
    scoring batch and the random scores; :func:`eoc.nn.prune_at_init` runs on
    ``device`` with the model in train mode (BatchNorm on batch statistics).

    Returns
    -------
    model : nn.Module
        On ``device``, pruned (unless ``sparsity`` is 0) and rescaled if asked.
    record : dict
        :func:`collapse_record` and ``chance`` (1 / classes), ``density`` (kept
        fraction of the prunable weights), ``rho_mean`` (mean rescaling factor over the
        neurons, or layers, that keep a weight; 1 without rescaling); with ``detail``
        also ``critical_sparsity`` and ``critical_layer`` (the layer that empties
        first as the sparsity grows) of the single-shot scores of ``method``.
    """
    import torch

    from eoc.nn import (
        LayerCollapseWarning,
        compute_scores,
        critical_sparsity_details,
        init_,
        prune_at_init,
        rescale_,
        rescale_factors,
    )

    gen = torch.Generator().manual_seed(config.seed)
    model = build_model(config, data.input_shape, data.num_classes)
    init_(model, config.activation, config.sigma_w, config.sigma_b, generator=gen)
    model.to(device)
    record: dict[str, Any] = {"chance": 1.0 / data.num_classes, "density": 1.0, "rho_mean": 1.0}
    if config.sparsity > 0:
        x, y = (t.to(device) for t in _scoring_batch(data, config, gen))
        scoring = {
            "loss_fn": _grasp_loss if config.method == "grasp" else None,
            "input_shape": data.input_shape,
        }
        if config.detail:
            # A copy of the generator: the random scores diagnosed are those the pruning draws.
            copy = torch.Generator().set_state(gen.get_state())
            scores = compute_scores(model, config.method, x, y, generator=copy, **scoring)
            record["critical_sparsity"], _, record["critical_layer"] = critical_sparsity_details(scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LayerCollapseWarning)
            masks = prune_at_init(
                model, config.method, config.sparsity, x, y, scope=config.scope, rounds=config.rounds, generator=gen,
                **scoring,
            )  # fmt: skip
        record["density"] = float(sum(m.sum() for m in masks.values()) / sum(m.numel() for m in masks.values()))
        if config.rescale is not None:
            factors = rescale_factors(model, config.rescale, method=config.method)
            record["rho_mean"] = _mean_factor(factors, masks)
            rescale_(model, config.rescale, method=config.method)
    return model, {**record, **collapse_record(model, config.detail)}


def run_pruned(
    config: PruneRun, *, data_dir: str | None = None, device: str = "cpu", progress: bool = False
) -> dict[str, Any]:
    """The run function of :func:`sweep`: :func:`prune_model`, then train if ``config.train``.

    Returns
    -------
    dict
        The record of :func:`prune_model`; with ``config.train`` also ``trained`` and
        the result of :func:`paper_repro.train.train` without its ``config`` (the cache
        stores it next to the result): ``final_test_acc``, ``best_test_acc``,
        ``diverged``, ``history``, ``seconds``, ..., and ``device``.  A disconnected
        network is not trained (``trained`` False, accuracies at chance, empty history).
    """
    from .data import load_dataset
    from .train import count_parameters, train

    data = load_dataset(config.dataset, data_dir)
    model, record = prune_model(config, data, device)
    if config.train is None:
        return record
    if record["disconnected"]:
        kept, total = count_parameters(model)
        chance = record["chance"]
        result = {
            "final_test_acc": chance, "final_test_loss": None, "best_test_acc": chance, "diverged": False,
            "epochs_run": 0, "history": [], "seconds": 0.0, "params_kept": kept, "params_total": total,
        }  # fmt: skip
        return {**record, **result, "trained": False, "device": device}
    desc = f"{config.arch} {config.method} s={config.sparsity:g}"
    result = train(model, data, config.train, device=device, progress=progress, desc=desc)
    result.pop("config")
    return {**record, **result, "trained": True, "device": device}


def sweep(configs: Sequence[PruneRun], ctx: Context, desc: str) -> list[dict[str, Any]]:
    """:func:`run_pruned` over ``configs`` through the run cache of ``ctx``, results in order.

    ``ctx.jobs`` worker processes (one torch thread each), ``ctx.device``,
    ``ctx.data_dir``; per-epoch progress bars only in a single-process sweep.
    """
    fn = partial(
        run_pruned,
        data_dir=str(ctx.data_dir) if ctx.data_dir else None,
        device=ctx.device,
        progress=ctx.progress and ctx.jobs == 1,
    )
    cache = RunCache(ctx.cache_dir) if ctx.cache_dir is not None else None
    return list(run_sweep(configs, fn, cache, jobs=ctx.jobs, progress=ctx.progress, desc=desc))
