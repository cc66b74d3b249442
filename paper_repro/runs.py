r"""The run shared by the pruning experiments (E1, E3-E7): a freshly initialized
network, pruned at initialization (and rescaled), optionally trained.

One frozen configuration, :class:`PruneRun`, composes the specs of
:mod:`paper_repro.config`: the network (:class:`~paper_repro.config.NetworkSpec`), its
initialization (:class:`~paper_repro.config.InitSpec`), the pruning and rescaling
(:class:`~paper_repro.config.PruneSpec`) and, optionally, the training
(:class:`~paper_repro.config.TrainSpec`), with the dataset and one seed.
:func:`run_pruned` carries it out and returns a JSON-able record; :func:`sweep` runs a
list of configurations through the run cache of a
:class:`~paper_repro.registry.Context`, where a run is identified by its non-default
fields and the fingerprint of its data.

A fully pruned layer (layer collapse) is an outcome, not an error: the
:class:`~eoc.nn.LayerCollapseWarning` of :func:`eoc.nn.prune_at_init` is silenced and
the record lists the fully pruned layers and whether they cut every path from the
input to the output (:func:`disconnected`).  A disconnected network is not trained:
its output does not depend on its input, and it is reported at chance accuracy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .config import InitSpec, NetworkSpec, PruneSpec, TrainSpec

if TYPE_CHECKING:  # torch is imported where it is used
    import torch
    from torch import nn

    from .batches import TensorData
    from .registry import Context

__all__ = [
    "PruneRun",
    "build_model",
    "prune_model",
    "collapse_record",
    "disconnected",
    "run_pruned",
    "sweep",
]


@dataclass(frozen=True, kw_only=True)
class PruneRun:
    """One run: build, initialize, prune (and rescale), optionally train.

    Hashed into the run cache (:mod:`paper_repro.cache`), where only the fields that
    differ from their defaults count; every default means "no effect".

    Attributes
    ----------
    dataset : str
        A name of :data:`eoc.datasets.DATASETS`: input shape, classes, scoring batch
        and training data.
    network : NetworkSpec
    init : InitSpec
    prune : PruneSpec
        ``sparsity`` 0 is the dense network (no scoring batch, no mask).
    train : TrainSpec or None
        Train the pruned network with :func:`paper_repro.train.train`; None prunes only.
    seed : int
        Seeds one CPU generator that draws, in this order, the weights, the scoring
        batch and the random scores (at one seed every method, sparsity, rescaling and
        ResNet variant starts from the same weights), and seeds the training.
    detail : bool
        Also record the kept fraction of every neuron (output channel) and the
        critical sparsity of the scores (:func:`eoc.nn.measured_critical_sparsity_details`).
    """

    dataset: str
    network: NetworkSpec
    init: InitSpec = field(default_factory=InitSpec)
    prune: PruneSpec = field(default_factory=PruneSpec)
    train: TrainSpec | None = None
    seed: int = 0
    detail: bool = False

    def __post_init__(self) -> None:
        net = self.network
        if net.arch == "ffnn" and (net.depth < 1 or (net.depth > 1 and net.width < 1)):
            raise ValueError(f"an FFNN needs depth >= 1 and width >= 1, got depth={net.depth}, width={net.width}")
        if net.arch == "resnet" and (net.depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2, got depth={net.depth}")
        if self.detail and self.prune.sparsity == 0:
            raise ValueError("detail needs a pruned network (prune.sparsity > 0)")

    @property
    def sigma_w(self) -> float:
        """The weight scale of :attr:`init` for the network's activation."""
        return self.init.sigma_w(self.network.activation)


def build_model(net: NetworkSpec, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """The network ``net`` with torch's default initialization (see :func:`prune_model`)."""
    from eoc.nn import FFNN, VGG, resnet

    if net.arch == "ffnn":
        widths = [int(np.prod(input_shape))] + [net.width] * (net.depth - 1) + [num_classes]
        return FFNN(widths, net.activation)
    if net.arch == "vgg":
        return VGG(net.vgg, input_shape[0], num_classes, net.activation, net.batch_norm, net.width_multiplier)
    return resnet(net.depth, num_classes, net.stable, input_shape[0], net.width_multiplier)


def _scoring_batch(data: TensorData, spec: PruneSpec, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images (and labels) the pruning scores, drawn with ``generator``."""
    import torch

    if not spec.balanced:
        idx = torch.randperm(len(data.x_train), generator=generator)[: spec.batch]
    else:
        picks = []
        for c in range(data.num_classes):
            of_class = torch.nonzero(data.y_train == c).flatten()
            picks.append(of_class[torch.randperm(len(of_class), generator=generator)[: spec.batch]])
        idx = torch.cat(picks)
    return data.x_train[idx], data.y_train[idx]


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


def prune_model(config: PruneRun, data: TensorData, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Build, initialize, prune and rescale the network of ``config``; return it with its record.

    The weights are drawn by :func:`eoc.nn.init_` on a CPU generator seeded with
    ``config.seed`` (so they do not depend on ``device``), which then draws the
    scoring batch and the random scores; :func:`eoc.nn.prune_at_init` runs on
    ``device``, SNIP and GraSP scoring with BatchNorm in ``config.prune.bn_mode``
    (default "eval": running statistics) and GraSP at :data:`eoc.nn.GRASP_TEMPERATURE`.

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
        init_,
        measured_critical_sparsity_details,
        prune_at_init,
        rescale_,
        rescale_factors,
    )

    net, spec = config.network, config.prune
    gen = torch.Generator().manual_seed(config.seed)
    model = build_model(net, data.input_shape, data.num_classes)
    init_(model, net.activation, config.sigma_w, config.init.sigma_b, generator=gen)
    model.to(device)
    record: dict[str, Any] = {"chance": 1.0 / data.num_classes, "density": 1.0, "rho_mean": 1.0}
    if spec.sparsity > 0:
        x, y = (t.to(device) for t in _scoring_batch(data, spec, gen))
        # GraSP at eoc.nn's temperature (GRASP_TEMPERATURE = 200, Wang et al.'s code)
        scoring = {"input_shape": data.input_shape, "bn_mode": spec.bn_mode}
        if config.detail:
            # A copy of the generator: the random scores diagnosed are those the pruning draws.
            copy = torch.Generator().set_state(gen.get_state())
            scores = compute_scores(model, spec.method, x, y, generator=copy, **scoring)
            record["critical_sparsity"], _, record["critical_layer"] = measured_critical_sparsity_details(scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LayerCollapseWarning)
            masks = prune_at_init(
                model, spec.method, spec.sparsity, x, y, scope=spec.scope, rounds=spec.rounds, generator=gen, **scoring
            )
        record["density"] = float(sum(m.sum() for m in masks.values()) / sum(m.numel() for m in masks.values()))
        if spec.rescale is not None:
            factors = rescale_factors(model, spec.rescale, method=spec.method)
            record["rho_mean"] = _mean_factor(factors, masks)
            rescale_(model, spec.rescale, method=spec.method)
    return model, {**record, **collapse_record(model, config.detail)}


def run_pruned(
    config: PruneRun, *, data_dir: str | None = None, device: str = "cpu", progress: bool = False, loader_workers: int = 0
) -> dict[str, Any]:
    """The run function of :func:`sweep`: :func:`prune_model`, then train if ``config.train``.

    ``loader_workers`` is passed to :func:`paper_repro.train.train` (how batches are
    produced; the batches, and so the result, are the same for every value).

    Returns
    -------
    dict
        The record of :func:`prune_model`; with ``config.train`` also ``trained`` and
        the result of :func:`paper_repro.train.train` without its ``config`` (the cache
        stores it next to the result): ``final_test_acc``, ``best_test_acc``,
        ``diverged``, ``history``, ``seconds``, ..., and ``device``.  A disconnected
        network is not trained (``trained`` False, accuracies at chance, empty history).
    """
    from .batches import load_tensors
    from .train import count_parameters, train

    data = load_tensors(config.dataset, data_dir)
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
    desc = f"{config.network.label} {config.prune.method} s={config.prune.sparsity:g}"
    result = train(
        model, data, config.train, seed=config.seed, device=device, progress=progress, desc=desc,
        loader_workers=loader_workers,
    )  # fmt: skip
    result.pop("config")
    result.pop("seed")
    return {**record, **result, "trained": True, "device": device}


def sweep(configs: Sequence[PruneRun], ctx: Context, desc: str) -> list[dict[str, Any]]:
    """:func:`run_pruned` over ``configs`` through the run cache of ``ctx``, results in order.

    ``ctx.jobs`` worker processes (one torch thread each) or ``ctx.executor``,
    ``ctx.device``, ``ctx.data_dir``, ``ctx.loader_workers``; per-epoch progress bars
    only in a single-process sweep.  The fingerprint of each run's dataset is part of
    its id.
    """
    fn = partial(
        run_pruned,
        data_dir=str(ctx.data_dir) if ctx.data_dir else None,
        device=ctx.device,
        progress=ctx.progress and ctx.jobs == 1 and ctx.executor is None,
        loader_workers=ctx.loader_workers,
    )
    return ctx.sweep(configs, fn, desc, dataset=lambda c: c.dataset)
