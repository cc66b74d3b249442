r"""E7: layer-wise density of the masks of every pruning method (no training).

For one sparsity, the fraction of weights each method keeps in every prunable
layer (convolutions in module order, then the classifier; ResNet 1x1 shortcut
convolutions included, after the branch of their block) is plotted against the
layer index, for the standard ResNet, the Stable ResNet and a VGG.  SNIP on the
standard ResNet and SBP-SR (SNIP on the Stable ResNet) are highlighted.

Theory (THEORY.md sections 3, 4 and 6): SNIP's score of layer :math:`l` scales
with the gradient reaching it.  In a standard ResNet the backward variance grows
by a factor :math:`1 + \sigma_w^2/2` per block towards the input, so the layers
near the output have the smallest scores and global pruning empties them first;
in a Stable ResNet the factor is :math:`1 + \sigma_w^2/(2L)` and the gradient
scale varies by a bounded ratio across the network, so the densities are more
even and no layer should be emptied.

Pruning as in E5/E6 (:class:`paper_repro.runs.PruneRun`, no training: He
initialization, one class-balanced scoring batch, global pruning, GraSP with
temperature 200, SynFlow iterated).  Densities are averaged over seeds (each
seed: its own initialization and batch).

* ``full``: CIFAR-10 (``ctx.data_dir``), ResNet32 and VGG19 at width 1, 95 %
  sparsity, SynFlow with 100 rounds, 3 seeds.
* ``quick``: digits, ResNet32 at width 0.5 and VGG19 at width 0.125, 95 %
  sparsity, SynFlow with 20 rounds, 3 seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..registry import Context, register
from ..runs import PruneRun, named_network, sweep
from ..style import METHOD_COLORS, METHOD_LABELS, new_figure

__all__ = ["Config", "PROFILES", "run"]

CLAIM = (
    "SNIP on a standard ResNet distributes the kept weights very unevenly across layers, the layers near the "
    "output being pruned most (up to layer collapse at high sparsity), while SNIP on a Stable ResNet (SBP-SR) "
    "keeps every layer alive with more even densities; the other methods have their own layer-wise profiles."
)


@dataclass(frozen=True)
class Config:
    """Settings of E7 (module docstring); networks as ``(name, width multiplier)``."""

    dataset: str = "digits"
    resnet: tuple[str, float] = ("resnet32", 0.5)
    vgg: tuple[str, float] = ("vgg19", 0.125)
    methods: tuple[str, ...] = ("random", "magnitude", "snip", "grasp", "synflow")
    sparsity: float = 0.95
    seeds: int = 3
    synflow_rounds: int = 20
    samples_per_class: int = 10


PROFILES = {
    "quick": Config(),
    "full": Config(dataset="cifar10", resnet=("resnet32", 1.0), vgg=("vgg19", 1.0), synflow_rounds=100),
}
#: The three networks of the experiment: (key, title, stable); "vgg" uses ``Config.vgg``, the others ``Config.resnet``.
_NETWORKS = (("resnet", "standard ResNet", False), ("stable", "Stable ResNet", True), ("vgg", "VGG", False))


def _key(network: str, method: str) -> str:
    """The method's key in :data:`METHOD_LABELS` / :data:`METHOD_COLORS` (SNIP on the Stable ResNet is SBP-SR)."""
    return "sbp_sr" if network == "stable" and method == "snip" else method


def _label(network: str, method: str) -> str:
    return METHOD_LABELS[_key(network, method)]


def _setups(cfg: Config, seeds: int) -> list[tuple[str, str, PruneRun]]:
    out = []
    for network, _, stable in _NETWORKS:
        model, width = cfg.vgg if network == "vgg" else cfg.resnet
        for method in cfg.methods:
            for seed in range(seeds):
                setup = PruneRun(
                    cfg.dataset, seed=seed, **named_network(model, width), stable=stable, method=method,
                    sparsity=cfg.sparsity, rounds=cfg.synflow_rounds if method == "synflow" else 1,
                    batch=cfg.samples_per_class, balanced=True,
                )  # fmt: skip
                out.append((network, method, setup))
    return out


def _stage(name: str) -> str:
    """``stem``, ``layer1``..``layer3`` or ``fc`` for a ResNet layer name."""
    return name.split(".")[0] if name.startswith("layer") else ("stem" if name == "conv1" else name)


def _aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-layer mean/min/max keep over seeds, collapse counts and ResNet stage densities."""
    names = [layer["name"] for layer in records[0]["layers"]]
    numel = np.array([layer["numel"] for layer in records[0]["layers"]])
    keep = np.array([[layer["keep"] for layer in r["layers"]] for r in records])  # (seeds, layers)
    mean = keep.mean(axis=0)
    stages: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        stages.setdefault(_stage(n), []).append(i)
    stage_density = {
        s: float((keep[:, idx] * numel[idx]).sum() / (numel[idx].sum() * len(keep))) for s, idx in stages.items()
    }
    alive = mean[mean > 0]
    return {
        "names": names,
        "numel": numel,
        "mean": mean,
        "lo": keep.min(axis=0),
        "hi": keep.max(axis=0),
        "collapsed_per_seed": float(np.mean([len(r["collapsed"]) for r in records])),
        "collapsed": sorted({n for r in records for n in r["collapsed"]}, key=names.index),
        "disconnected": sum(bool(r["disconnected"]) for r in records),
        "min": float(mean.min()),
        "argmin": names[int(mean.argmin())],
        "max": float(mean.max()),
        "argmax": names[int(mean.argmax())],
        "ratio": float(mean.max() / alive.min()) if len(alive) == len(mean) else math.inf,
        "stages": stage_density,
    }


def _plot(ax, agg: dict[str, Any], label: str, color: str, floor: float, highlight: bool) -> None:
    x = np.arange(len(agg["mean"]))
    y = np.maximum(agg["mean"], floor)
    ax.plot(x, y, color=color, lw=2.2 if highlight else 1.0, alpha=1.0 if highlight else 0.8, label=label,
            marker="o" if highlight else None, ms=2.5)  # fmt: skip
    if highlight:
        ax.fill_between(x, np.maximum(agg["lo"], floor), np.maximum(agg["hi"], floor), color=color, alpha=0.15, lw=0)
    zero = agg["mean"] == 0
    if zero.any():
        ax.plot(x[zero], np.full(zero.sum(), floor), "v", color=color, ms=6, mew=0)


def _axes_labels(ax, agg: dict[str, Any], title: str, sparsity: float) -> None:
    ax.set_yscale("log")
    ax.axhline(1 - sparsity, color="k", lw=0.7, ls=":")
    ax.set_xlabel("layer index (module order; classifier last)")
    ax.set_ylabel("fraction of weights kept")
    ax.set_title(title)
    for i, n in enumerate(agg["names"]):
        if "shortcut" in n:
            ax.axvline(i, color="0.6", lw=0.5, ls="--")


def _figures(cfg: Config, aggs: dict[tuple[str, str], dict[str, Any]], ctx: Context) -> None:
    positive = [v for a in aggs.values() for v in a["mean"] if v > 0]
    floor = min(positive) / 3
    note = (
        f"at {100 * cfg.sparsity:g} % global sparsity on {cfg.dataset} (mean over seeds); dotted line: the "
        f"overall keep fraction {1 - cfg.sparsity:.2g}; downward triangles: layers fully pruned at every seed "
        f"(drawn at {floor:.1e}); dashed verticals: 1x1 shortcut convolutions"
    )
    fig, axes = new_figure(ncols=2, width=4.6, height=3.2, sharey=True)
    for ax, network, title in zip(axes[0], ("resnet", "stable"), ("standard ResNet", "Stable ResNet")):
        for method in cfg.methods:
            agg = aggs[network, method]
            key = _key(network, method)
            _plot(ax, agg, METHOD_LABELS[key], METHOD_COLORS[key], floor, method == "snip")
        _axes_labels(ax, aggs[network, cfg.methods[0]], f"{cfg.resnet[0]} x{cfg.resnet[1]:g}, {title}", cfg.sparsity)
        ax.legend(fontsize=6, loc="lower left")
    caption = f"Per-layer keep fraction of every method, standard vs Stable ResNet, {note}"
    ctx.figure(fig, "resnet_layer_density", caption)

    if "snip" in cfg.methods:
        fig, axes = new_figure(width=5.0, height=3.2)
        ax = axes[0, 0]
        _plot(ax, aggs["resnet", "snip"], "SNIP (standard ResNet)", METHOD_COLORS["snip"], floor, True)
        _plot(ax, aggs["stable", "snip"], "SBP-SR (Stable ResNet)", METHOD_COLORS["sbp_sr"], floor, True)
        _axes_labels(ax, aggs["resnet", "snip"], f"SNIP vs SBP-SR, {cfg.resnet[0]} x{cfg.resnet[1]:g}", cfg.sparsity)
        ax.legend(fontsize=7, loc="lower left")
        caption = f"Per-layer keep fraction, SNIP vs SBP-SR (bands: min-max over seeds), {note}"
        ctx.figure(fig, "snip_vs_sbp_sr", caption)

    fig, axes = new_figure(width=5.0, height=3.2)
    ax = axes[0, 0]
    for method in cfg.methods:
        _plot(ax, aggs["vgg", method], METHOD_LABELS[method], METHOD_COLORS[method], floor, method == "snip")
    _axes_labels(ax, aggs["vgg", cfg.methods[0]], f"{cfg.vgg[0]} x{cfg.vgg[1]:g}", cfg.sparsity)
    ax.legend(fontsize=7, loc="lower left")
    ctx.figure(fig, "vgg_layer_density", f"Per-layer keep fraction of every method on the VGG, {note}")


@register("E7", title="Layer-wise mask density of every pruning method", claim=CLAIM, profiles=PROFILES,
          needs_torch=True)  # fmt: skip
def run(cfg: Config, ctx: Context) -> None:
    seeds = ctx.seeds if ctx.seeds is not None else cfg.seeds
    tagged = _setups(cfg, seeds)
    records = sweep([s for *_, s in tagged], ctx, "E7 masks")
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (network, method, _), rec in zip(tagged, records):
        grouped.setdefault((network, method), []).append(rec)
    aggs = {k: _aggregate(v) for k, v in grouped.items()}

    long, summary = [], []
    for network, title, _ in _NETWORKS:
        for method in cfg.methods:
            agg = aggs[network, method]
            label = _label(network, method)
            for i, name in enumerate(agg["names"]):
                long.append(
                    {
                        "network": title,
                        "method": label,
                        "layer_index": i,
                        "layer": name,
                        "weights": int(agg["numel"][i]),
                        "keep_mean": float(agg["mean"][i]),
                        "keep_min": float(agg["lo"][i]),
                        "keep_max": float(agg["hi"][i]),
                    }
                )
            row = {
                "network": title,
                "method": label,
                "min keep": agg["min"],
                "min at": agg["argmin"],
                "max keep": agg["max"],
                "max at": agg["argmax"],
                "max/min": agg["ratio"],
                "fully pruned layers per seed": agg["collapsed_per_seed"],
                "seeds disconnected": agg["disconnected"],
                "fully pruned": " ".join(agg["collapsed"]),
            }
            if network != "vgg":
                row |= {f"{s} keep": v for s, v in agg["stages"].items()}
            summary.append(row)
    ctx.table(
        summary,
        "density_summary",
        f"E7: per-layer keep fractions at {100 * cfg.sparsity:g} % sparsity ({cfg.dataset}, mean over {seeds} "
        "seed(s)): smallest and largest layer density, their ratio (inf when a layer is emptied), layers fully "
        "pruned, and for the ResNets the density of the stem, of each stage and of the classifier.",
    )
    ctx.csv(long, "layer_density", "keep fraction of every layer, network and method (mean/min/max over seeds)")
    _figures(cfg, aggs, ctx)
    findings, verdict = _findings(cfg, aggs, seeds)
    ctx.summary(CLAIM, findings, verdict)


def _findings(cfg: Config, aggs: dict[tuple[str, str], dict[str, Any]], seeds: int) -> tuple[list[str], str]:
    """Per-method extremes and collapse; the verdict compares SNIP with SBP-SR.

    Decision rule, fixed in advance: supported when the SBP-SR masks empty no layer
    at any seed and SBP-SR's smallest mean layer density exceeds SNIP's.  The
    verdict's first sentence carries no number (the figure index quotes it).
    """
    findings = []
    for network, title, _ in _NETWORKS:
        parts = []
        for method in cfg.methods:
            a = aggs[network, method]
            text = (
                f"{_label(network, method)} {a['min']:.4f} ({a['argmin']}) to {a['max']:.4f} ({a['argmax']})"
                + (f", {a['collapsed_per_seed']:.1f} layers emptied per seed" if a["collapsed"] else "")
            )
            parts.append(text)
        findings.append(f"{title}: layer density min to max: " + "; ".join(parts) + ".")
    for network, title, _ in _NETWORKS:
        for method in cfg.methods:
            a = aggs[network, method]
            if a["collapsed"]:
                findings.append(
                    f"{_label(network, method)} on the {title} empties {', '.join(a['collapsed'])} "
                    f"({a['collapsed_per_seed']:.1f} layers per seed; network disconnected at {a['disconnected']} "
                    f"of {seeds} seeds)."
                )
    if "snip" not in cfg.methods:
        return findings, "Not tested: SNIP is not among the methods."
    snip, sbp = aggs["resnet", "snip"], aggs["stable", "snip"]
    stages = [s for s in snip["stages"] if s.startswith("layer")]
    findings.append(
        "Stage densities, SNIP vs SBP-SR: "
        + ", ".join(f"{s} {snip['stages'][s]:.4f} vs {sbp['stages'][s]:.4f}" for s in stages)
        + f"; stem {snip['stages']['stem']:.4f} vs {sbp['stages']['stem']:.4f}; classifier "
        f"{snip['stages']['fc']:.4f} vs {sbp['stages']['fc']:.4f}."
    )
    findings.append(
        f"Setting: {cfg.dataset}, {cfg.resnet[0]} x{cfg.resnet[1]:g}, {cfg.vgg[0]} x{cfg.vgg[1]:g}, "
        f"{100 * cfg.sparsity:g} % sparsity, {seeds} seed(s), SynFlow {cfg.synflow_rounds} rounds."
    )
    numbers = (
        f"Smallest layer density {sbp['min']:.4f} (SBP-SR) vs {snip['min']:.4f} (SNIP); max/min ratio "
        f"{sbp['ratio']:.4g} vs {snip['ratio']:.4g}; layers emptied per seed {sbp['collapsed_per_seed']:.1f} vs "
        f"{snip['collapsed_per_seed']:.1f}."
    )
    if not sbp["collapsed"] and sbp["min"] > snip["min"]:
        verdict = "Supported: SBP-SR empties no layer and its smallest layer density exceeds SNIP's. " + numbers
    else:
        verdict = (
            "Not supported: SBP-SR empties a layer or its smallest layer density does not exceed SNIP's. " + numbers
        )
    return findings, verdict
