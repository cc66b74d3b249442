r"""E7: layer-wise density of the masks of every pruning method (no training).

For one sparsity, the fraction of weights each method keeps in every prunable
layer (convolutions in module order, then the classifier; ResNet 1x1 shortcut
convolutions included, after the branch of their block) is plotted against the
layer index, for the standard ResNet, the Stable ResNet and a VGG.  SNIP on the
standard ResNet and SBP-SR (SNIP on the Stable ResNet) are highlighted.

Theory (``docs/theory.md`` §3, §4 and §6): SNIP's score of layer :math:`l` scales
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

Expectations: the SBP-SR masks empty no layer (an exact count); per seed, SBP-SR's
smallest layer density exceeds SNIP's on the standard ResNet, and its densities are
more even (a smaller coefficient of variation over layers); SNIP on the standard
ResNet keeps less of the last stage than of the first.

BatchNorm mode while scoring (issue 11).  SNIP and GraSP score with BatchNorm in
``prune.bn_mode`` (default "eval": running statistics, as Lee et al.'s SNIP code and
Tanaka et al.'s benchmark; docs/theory.md §4.1); the methods of ``bn_methods`` are
also pruned with the scores of the other mode ``bn_compare`` (default "train": batch
statistics, as Wang et al.'s GraSP code) on all three networks, and the table
``bn_mode`` and the figure ``bn_mode_density`` compare the layers emptied and the
densities.  Expected (``bench/bench_prune_bn_mode.py``: SNIP in train mode empties
branch convolutions of ResNet32 at 98 %, in eval mode none): per seed, SNIP in train
mode empties more layers of the standard ResNet than in eval mode; and SBP-SR empties
no layer in the other mode either (an exact count).

* ``full``: CIFAR-10 (``--data-dir``), ResNet32 and VGG19 at width 1, 95 %
  sparsity, SynFlow with 100 rounds, 3 seeds.
* ``quick``: digits, ResNet32 at width 0.5 and VGG19 at width 0.125, 95 %
  sparsity, SynFlow with 20 rounds, 3 seeds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from .. import verdicts
from ..config import BN_MODES, NetworkSpec, PruneSpec, named_network
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import METHOD_COLORS, METHOD_LABELS, RESNET_LABELS, new_figure
from ..summary import num

__all__ = ["Config", "PROFILES", "run"]


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E7 (module docstring); ``prune.rounds`` applies to SynFlow only."""

    SWEPT: ClassVar[dict[str, str]] = {"prune.method": "methods", "resnet.stable": "(both variants)"}

    dataset: str = "digits"
    resnet: NetworkSpec = field(default_factory=lambda: named_network("resnet32", 0.5))
    vgg: NetworkSpec = field(default_factory=lambda: named_network("vgg19", 0.125))
    methods: tuple[str, ...] = ("random", "magnitude", "snip", "grasp", "synflow")
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(sparsity=0.95, batch=10, balanced=True, rounds=20))
    seeds: int = 3
    #: The BatchNorm mode compared with ``prune.bn_mode`` (None: no comparison) for these methods.
    bn_compare: str | None = "train"
    bn_methods: tuple[str, ...] = ("snip", "grasp")

    def __post_init__(self) -> None:
        if self.bn_compare is not None and (self.bn_compare not in BN_MODES or self.bn_compare == self.prune.bn_mode):
            raise ValueError(
                f"bn_compare must be None or one of {BN_MODES} other than prune.bn_mode={self.prune.bn_mode!r}, "
                f"got bn_compare={self.bn_compare!r}"
            )
        bad = [m for m in self.bn_methods if m not in ("snip", "grasp") or m not in self.methods]
        if bad:
            raise ValueError(f"bn_methods are data-dependent methods (snip, grasp) among methods, got {bad}")


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="cifar10", resnet=named_network("resnet32"), vgg=named_network("vgg19"),
        prune=PruneSpec(sparsity=0.95, batch=10, balanced=True, rounds=100),
    ),
}  # fmt: skip
#: The three networks of the experiment: (key, title, stable); "vgg" uses ``Config.vgg``, the others ``Config.resnet``.
_NETWORKS = (("resnet", RESNET_LABELS["standard"], False), ("stable", RESNET_LABELS["stable"], True), ("vgg", "VGG", False))


def _key(network: str, method: str) -> str:
    """The method's key in :data:`METHOD_LABELS` / :data:`METHOD_COLORS` (SNIP on the Stable ResNet is SBP-SR)."""
    return "sbp_sr" if network == "stable" and method == "snip" else method


def _label(network: str, method: str) -> str:
    return METHOD_LABELS[_key(network, method)]


def _setups(cfg: Config) -> list[tuple[str, str, str, PruneRun]]:
    """``(network key, method, bn_mode, run)``: every method in the main BatchNorm mode, then the
    methods of ``bn_methods`` in ``bn_compare``."""
    out = []
    modes = [(cfg.prune.bn_mode, cfg.methods)] + ([(cfg.bn_compare, cfg.bn_methods)] if cfg.bn_compare else [])
    for mode, methods in modes:
        for network, _, stable in _NETWORKS:
            net = cfg.vgg if network == "vgg" else replace(cfg.resnet, stable=stable)
            for method in methods:
                prune = replace(cfg.prune, method=method, rounds=cfg.prune.rounds if method == "synflow" else 1, bn_mode=mode)
                for seed in range(cfg.seeds):
                    out.append((network, method, mode, PruneRun(dataset=cfg.dataset, network=net, prune=prune, seed=seed)))
    return out


def _stage(name: str) -> str:
    """``stem``, ``layer1``..``layer3`` or ``fc`` for a ResNet layer name."""
    return name.split(".")[0] if name.startswith("layer") else ("stem" if name == "conv1" else name)


def _stages(names: list[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        out.setdefault(_stage(n), []).append(i)
    return out


def _aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-layer mean/min/max keep over seeds, per-seed summaries, collapse counts and ResNet stage densities."""
    names = [layer["name"] for layer in records[0]["layers"]]
    numel = np.array([layer["numel"] for layer in records[0]["layers"]])
    keep = np.array([[layer["keep"] for layer in r["layers"]] for r in records])  # (seeds, layers)
    mean = keep.mean(axis=0)
    stages = _stages(names)
    per_seed_stage = {s: (keep[:, idx] * numel[idx]).sum(axis=1) / numel[idx].sum() for s, idx in stages.items()}
    alive = mean[mean > 0]
    return {
        "names": names,
        "numel": numel,
        "mean": mean,
        "lo": keep.min(axis=0),
        "hi": keep.max(axis=0),
        "seed_min": keep.min(axis=1),
        "seed_cv": keep.std(axis=1) / keep.mean(axis=1),
        "seed_stage": per_seed_stage,
        "collapsed_lists": [r["collapsed"] for r in records],
        "collapsed_per_seed": float(np.mean([len(r["collapsed"]) for r in records])),
        "collapsed_networks": sum(bool(r["collapsed"]) for r in records),
        "collapsed": sorted({n for r in records for n in r["collapsed"]}, key=names.index),
        "disconnected": sum(bool(r["disconnected"]) for r in records),
        "min": float(mean.min()),
        "argmin": names[int(mean.argmin())],
        "max": float(mean.max()),
        "argmax": names[int(mean.argmax())],
        "ratio": float(mean.max() / alive.min()) if len(alive) == len(mean) else math.inf,
        "stages": {s: float(v.mean()) for s, v in per_seed_stage.items()},
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


def _reference_lines(ax, agg: dict[str, Any], title: str, sparsity: float, floor: float) -> None:
    """Axes, title, and the labelled reference lines: overall keep fraction, 1x1 shortcuts, emptied layers."""
    ax.set_yscale("log")
    ax.axhline(1 - sparsity, color="k", lw=0.7, ls=":", label=f"overall keep fraction {1 - sparsity:.2g}")
    ax.set_xlabel("layer index (module order; classifier last)")
    ax.set_ylabel("fraction of weights kept")
    ax.set_title(title)
    shortcut = [i for i, n in enumerate(agg["names"]) if "shortcut" in n]
    for k, i in enumerate(shortcut):
        ax.axvline(i, color="0.6", lw=0.5, ls="--", label="1x1 shortcut convolution" if k == 0 else None)
    ax.plot([], [], "v", color="0.3", ms=6, mew=0, label=f"layer emptied at every seed (drawn at {floor:.1e})")


def _figures(cfg: Config, aggs: dict[tuple[str, str], dict[str, Any]], ctx: Context) -> None:
    sparsity = cfg.prune.sparsity
    positive = [v for a in aggs.values() for v in a["mean"] if v > 0]
    floor = min(positive) / 3
    note = f"at sparsity {sparsity:g} (global) on {cfg.dataset}, mean over seeds; reference lines as in the legend"
    name = f"resnet{cfg.resnet.depth} x{cfg.resnet.width_multiplier:g}"
    fig, axes = new_figure(ncols=2, width=4.6, height=3.4, sharey=True)
    for ax, network, title in zip(axes[0], ("resnet", "stable"), (RESNET_LABELS["standard"], RESNET_LABELS["stable"])):
        for method in cfg.methods:
            agg = aggs[network, method]
            key = _key(network, method)
            _plot(ax, agg, METHOD_LABELS[key], METHOD_COLORS[key], floor, method == "snip")
        _reference_lines(ax, aggs[network, cfg.methods[0]], f"{name}, {title}", sparsity, floor)
        ax.legend(loc="lower left")
    ctx.figure(fig, "resnet_layer_density", f"Per-layer keep fraction of every method, standard vs Stable ResNet, {note}")

    if "snip" in cfg.methods:
        fig, axes = new_figure(width=5.0, height=3.4)
        ax = axes[0, 0]
        _plot(ax, aggs["resnet", "snip"], "SNIP (standard ResNet)", METHOD_COLORS["snip"], floor, True)
        _plot(ax, aggs["stable", "snip"], "SBP-SR (Stable ResNet)", METHOD_COLORS["sbp_sr"], floor, True)
        _reference_lines(ax, aggs["resnet", "snip"], f"SNIP vs SBP-SR, {name}", sparsity, floor)
        ax.legend(loc="lower left")
        ctx.figure(fig, "snip_vs_sbp_sr", f"Per-layer keep fraction, SNIP vs SBP-SR (bands: min-max over seeds), {note}")

    fig, axes = new_figure(width=5.0, height=3.4)
    ax = axes[0, 0]
    for method in cfg.methods:
        _plot(ax, aggs["vgg", method], METHOD_LABELS[method], METHOD_COLORS[method], floor, method == "snip")
    _reference_lines(ax, aggs["vgg", cfg.methods[0]], f"{cfg.vgg.label}", sparsity, floor)
    ax.legend(loc="lower left")
    ctx.figure(fig, "vgg_layer_density", f"Per-layer keep fraction of every method on the VGG, {note}")


def _bn_mode_report(cfg: Config, by_mode: dict[tuple[str, str, str], dict[str, Any]], ctx: Context):
    """Table, figure, numbers and expectations of the BatchNorm-mode comparison (module docstring)."""
    modes = (cfg.prune.bn_mode, cfg.bn_compare)
    rows, networks = [], {}
    for network, title, _ in _NETWORKS:
        networks[title] = []
        for method in cfg.bn_methods:
            entry: dict[str, Any] = {"label": _label(network, method)}
            for mode in modes:
                agg = by_mode[network, method, mode]
                rows.append(
                    {
                        "network": title, "method": entry["label"], "bn_mode": mode, "min keep": agg["min"],
                        "min at": agg["argmin"], "max/min": agg["ratio"], "cv over layers": float(agg["seed_cv"].mean()),
                        "fully pruned layers per seed": agg["collapsed_per_seed"],
                        "seeds with a fully pruned layer": agg["collapsed_networks"], "seeds disconnected": agg["disconnected"],
                        "fully pruned": " ".join(agg["collapsed"]),
                    }
                )  # fmt: skip
                entry[mode] = {
                    "collapsed_per_seed": agg["collapsed_per_seed"], "collapsed_networks": agg["collapsed_networks"],
                    "collapsed": agg["collapsed"], "min": agg["min"], "argmin": agg["argmin"],
                    "cv": float(agg["seed_cv"].mean()),
                }  # fmt: skip
            networks[title].append(entry)
    ctx.table(
        rows,
        "bn_mode",
        f"E7: BatchNorm mode while SNIP/GraSP score the batch ({' vs '.join(modes)}), sparsity {cfg.prune.sparsity:g}, "
        f"{cfg.seeds} seed(s): smallest layer density, its ratio to the largest, coefficient of variation over layers, "
        "and the layers fully pruned.",
    )
    fig, axes = new_figure(ncols=len(_NETWORKS), width=3.4, height=3.0, sharey=True)
    positive = [v for a in by_mode.values() for v in a["mean"] if v > 0]
    floor = min(positive) / 3
    for ax, (network, title, _) in zip(axes[0], _NETWORKS):
        for method in cfg.bn_methods:
            key = _key(network, method)
            for mode, ls in zip(modes, ("-", "--")):
                agg = by_mode[network, method, mode]
                x = np.arange(len(agg["mean"]))
                ax.plot(x, np.maximum(agg["mean"], floor), ls=ls, lw=1.4, color=METHOD_COLORS[key],
                        label=f"{METHOD_LABELS[key]}, {mode} mode")  # fmt: skip
                zero = agg["mean"] == 0
                if zero.any():
                    ax.plot(x[zero], np.full(zero.sum(), floor), "v", color=METHOD_COLORS[key], ms=6, mew=0)
        ax.set_yscale("log")
        ax.axhline(1 - cfg.prune.sparsity, color="k", lw=0.7, ls=":")
        ax.set_title(title)
        ax.set_xlabel("layer index (module order)")
        ax.legend(loc="lower left")
    axes[0, 0].set_ylabel("fraction of weights kept")
    ctx.figure(
        fig,
        "bn_mode_density",
        f"Per-layer keep fraction of {', '.join(cfg.bn_methods)} scored with BatchNorm in {modes[0]} (solid) and "
        f"{modes[1]} (dashed) mode, sparsity {cfg.prune.sparsity:g} (dotted: overall keep fraction), mean over seeds; "
        f"a triangle marks a layer emptied at every seed (drawn at {floor:.1e})",
    )
    expectations = []
    if "snip" in cfg.bn_methods:
        if set(modes) == {"eval", "train"}:
            train, ev = by_mode["resnet", "snip", "train"], by_mode["resnet", "snip", "eval"]
            counts = {m: np.array([len(r) for r in a["collapsed_lists"]]) for m, a in (("train", train), ("eval", ev))}
            expectations.append(
                verdicts.expect_sign(
                    "SNIP scored in train mode empties more layers of the standard ResNet than in eval mode",
                    "layers fully pruned, train - eval mode, SNIP, standard ResNet, per seed", counts["train"] - counts["eval"],
                    sense="greater",
                )
            )  # fmt: skip
        other = by_mode["stable", "snip", cfg.bn_compare]
        expectations.append(
            verdicts.expect_exact(f"SBP-SR empties no layer in {cfg.bn_compare} mode either",
                                  f"networks with a fully pruned layer, SBP-SR, {cfg.bn_compare} mode", 0.0,
                                  other["collapsed_networks"], model_error=0.0)  # fmt: skip
        )
    return {"modes": list(modes), "networks": networks}, expectations


def summarize(n: dict) -> Summary:
    s = n["setting"]
    setting = [
        f"{s['dataset']}; ResNet depth {s['resnet']['depth']} at width x{num(s['resnet']['width_multiplier'])} "
        f"(standard and Stable), {s['vgg']['vgg']} at width x{num(s['vgg']['width_multiplier'])}; sparsity "
        f"{num(s['prune']['sparsity'])} (global), class-balanced batch of {s['prune']['batch']} images per class "
        f"(BatchNorm in {s['prune']['bn_mode']} mode while scoring), "
        f"SynFlow {s['prune']['rounds']} rounds; {s['seeds']} seeds."
    ]
    findings = []
    for title, methods in n["networks"].items():
        parts = [
            f"{m['label']} {num(m['min'])} ({m['argmin']}) to {num(m['max'])} ({m['argmax']})"
            + (f", {num(m['collapsed_per_seed'])} layers emptied per seed ({' '.join(m['collapsed'])})" if m["collapsed"] else "")
            for m in methods
        ]
        findings.append(f"{title}: layer density min to max: " + "; ".join(parts) + ".")
    c = n.get("snip_vs_sbp_sr")
    if c:
        findings.append(
            "Stage densities, SNIP vs SBP-SR: "
            + ", ".join(f"{k} {num(a)} vs {num(b)}" for k, (a, b) in c["stages"].items())
            + f"; coefficient of variation over layers {num(c['cv'][0])} vs {num(c['cv'][1])}."
        )
    bn = n.get("bn_mode")
    if bn:
        parts = [
            f"{title} {m['label']}: "
            + ", ".join(f"{mode} {num(m[mode]['collapsed_per_seed'])} layers emptied per seed"
                        + (f" ({' '.join(m[mode]['collapsed'])})" if m[mode]["collapsed"] else "")
                        + f", smallest density {num(m[mode]['min'])}" for mode in bn["modes"])  # fmt: skip
            for title, methods in bn["networks"].items()
            for m in methods
        ]
        findings.append(f"BatchNorm mode while scoring ({' vs '.join(bn['modes'])}; see bn_mode): " + "; ".join(parts) + ".")
    return Summary(setting, findings)


@register("E7", profiles=PROFILES, summarize=summarize, runs=lambda cfg: [r for *_, r in _setups(cfg)])
def run(cfg: Config, ctx: Context) -> dict:
    tagged = _setups(cfg)
    records = sweep([r for *_, r in tagged], ctx, "E7 masks")
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for (network, method, mode, _), rec in zip(tagged, records):
        grouped.setdefault((network, method, mode), []).append(rec)
    by_mode = {k: _aggregate(v) for k, v in grouped.items()}
    aggs = {(network, method): agg for (network, method, mode), agg in by_mode.items() if mode == cfg.prune.bn_mode}

    long, summary, networks = [], [], {}
    for network, title, _ in _NETWORKS:
        networks[title] = []
        for method in cfg.methods:
            agg = aggs[network, method]
            label = _label(network, method)
            for i, name in enumerate(agg["names"]):
                long.append(
                    {
                        "network": title, "method": label, "layer_index": i, "layer": name,
                        "weights": int(agg["numel"][i]), "keep_mean": float(agg["mean"][i]),
                        "keep_min": float(agg["lo"][i]), "keep_max": float(agg["hi"][i]),
                    }
                )  # fmt: skip
            row = {
                "network": title, "method": label, "min keep": agg["min"], "min at": agg["argmin"],
                "max keep": agg["max"], "max at": agg["argmax"], "max/min": agg["ratio"],
                "fully pruned layers per seed": agg["collapsed_per_seed"], "seeds disconnected": agg["disconnected"],
                "fully pruned": " ".join(agg["collapsed"]),
            }  # fmt: skip
            if network != "vgg":
                row |= {f"{s} keep": v for s, v in agg["stages"].items()}
            summary.append(row)
            networks[title].append(
                {"label": label, **{k: agg[k] for k in ("min", "argmin", "max", "argmax", "collapsed_per_seed", "collapsed")}}
            )
    ctx.table(
        summary,
        "density_summary",
        f"E7: per-layer keep fractions at sparsity {cfg.prune.sparsity:g} ({cfg.dataset}, mean over {cfg.seeds} "
        "seed(s)): smallest and largest layer density, their ratio (inf when a layer is emptied), layers fully "
        "pruned, and for the ResNets the density of the stem, of each stage and of the classifier.",
    )
    ctx.csv(long, "layer_density", "keep fraction of every layer, network and method (mean/min/max over seeds)")
    _figures(cfg, aggs, ctx)
    numbers: dict[str, Any] = {"setting": asdict(cfg), "networks": networks}
    expectations = []
    if "snip" in cfg.methods:
        snip, sbp = aggs["resnet", "snip"], aggs["stable", "snip"]
        stages = [k for k in snip["stages"] if k.startswith("layer")]
        numbers["snip_vs_sbp_sr"] = {
            "stages": {k: [snip["stages"][k], sbp["stages"][k]] for k in snip["stages"]},
            "cv": [float(snip["seed_cv"].mean()), float(sbp["seed_cv"].mean())],
        }
        expectations = [
            verdicts.expect_exact("SBP-SR empties no layer", "networks with a fully pruned layer, SBP-SR", 0.0,
                                  sbp["collapsed_networks"], model_error=0.0),
            verdicts.expect_sign("SBP-SR's smallest layer density exceeds SNIP's on the standard ResNet",
                                 "smallest layer density SBP-SR - SNIP, per seed", sbp["seed_min"] - snip["seed_min"],
                                 sense="greater"),
            verdicts.expect_sign("SBP-SR's layer densities are more even than SNIP's",
                                 "coefficient of variation SNIP - SBP-SR, per seed", snip["seed_cv"] - sbp["seed_cv"],
                                 sense="greater"),
            verdicts.expect_sign(
                "SNIP on the standard ResNet prunes the layers near the output most",
                f"density of {stages[-1]} minus {stages[0]}, SNIP, per seed",
                snip["seed_stage"][stages[-1]] - snip["seed_stage"][stages[0]], sense="less",
            ),
        ]  # fmt: skip
    if cfg.bn_compare is not None:
        bn_numbers, bn_expectations = _bn_mode_report(cfg, by_mode, ctx)
        numbers["bn_mode"] = bn_numbers
        expectations += bn_expectations
    numbers["verdict"] = verdicts.verdict(expectations)
    return numbers
