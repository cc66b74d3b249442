r"""E6: pruning methods compared: Random, Magnitude, SNIP, GraSP, SynFlow and SBP-SR.

The paper's methods table (``docs/theory.md`` §7): test accuracy after pruning at
initialization and training, for ResNet32, ResNet50 and VGG19 on CIFAR-10, CIFAR-100
and Tiny ImageNet at 90/95/98 % sparsity.  SBP-SR is SNIP applied to the Stable ResNet
and trained as a Stable ResNet; the other methods prune the standard network.  SBP-SR
is defined for ResNets only, so the VGG rows have no SBP-SR entry.

Every run (a :class:`paper_repro.runs.PruneRun`) starts from the same initial weights
at a given seed (the seed fixes the initialization, the scoring batch and the random
scores); pruning is global over every convolution and the classifier (1x1 shortcuts
included); SNIP and GraSP score one class-balanced batch of ``prune.batch`` images per
class; GraSP divides the logits by 200 as its reference code does; SynFlow is iterated
over ``prune.rounds`` rounds with the exponential schedule of Tanaka et al. 2020.  Each
model trains with its own :class:`~paper_repro.config.TrainSpec`; the reported accuracy
is the final test accuracy.

Layer collapse is recorded, not hidden: a run whose mask empties a layer is marked in
the table and the figure (a mask that disconnects the input from the output is not
trained and counts at chance accuracy), and a mask-only sweep prunes the Stable ResNet
with *every* method at every sparsity to show which methods empty layers of it
(SynFlow's scores of a residual branch shrink with the branch scale :math:`1/\sqrt L`,
so at high sparsity it empties whole branch convolutions of the Stable ResNet).

BatchNorm mode while scoring (issue 11).  SNIP and GraSP score their batch with
BatchNorm in ``prune.bn_mode`` (default "eval": running statistics, as Lee et al.'s
SNIP code and Tanaka et al.'s benchmark; docs/theory.md §4.1).  The data-dependent
methods of ``bn_methods`` (SNIP, GraSP, SBP-SR) are also trained from masks scored in
the other mode ``bn_compare`` (default "train": batch statistics, as Wang et al.'s
GraSP code) at the sparsities ``bn_sparsities``; the table ``bn_mode`` and the figure
``bn_mode`` put the collapse counts and accuracies of the two modes side by side (the
runs of the main mode are those of the methods table).

Expectations, on the ResNets (paired by seed, pooled over datasets, ResNets and
sparsities): SBP-SR is more accurate than each other method; and its advantage over
SNIP on the standard ResNet is larger at the highest sparsity than at the lowest.
BatchNorm mode (paired by seed, pooled over datasets, standard ResNets and
``bn_sparsities``; expected from ``bench/bench_prune_bn_mode.py``, where SNIP in train
mode empties branch convolutions of ResNet32 at 98 % and in eval mode none): SNIP
scored in train mode empties more layers of the standard ResNet than in eval mode,
and SNIP scored in eval mode is the more accurate.

* ``full``: CIFAR-10, CIFAR-100, Tiny ImageNet (64x64 inputs to the same CIFAR
  networks) from ``--data-dir``; ResNet32, ResNet50, VGG19 at width 1; sparsities
  90/95/98 %; 160 epochs with crop and flip augmentation; SynFlow with 100 rounds;
  3 seeds.  GPU.
* ``quick``: digits; ResNet32 at width 0.5 and VGG19 at width 0.125 (8 to 64
  channels); sparsities 90/98 %; 8 epochs without augmentation; SynFlow with 20
  rounds; 2 seeds.  The ResNet32 SNIP and SBP-SR runs are the same runs as E5's quick
  profile at seeds 0 and 1 (shared through the run cache).  The BatchNorm-mode
  comparison trains the train-mode masks at 98 % only (10 more runs; the full profile
  compares at every sparsity).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from .. import verdicts
from ..config import BN_MODES, ModelSpec, PruneSpec, TrainSpec, named_network
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import METHOD_COLORS, METHOD_LABELS, new_figure
from ..summary import num, pm, training

__all__ = ["Config", "PROFILES", "run"]

#: One marker per method, so that overlapping lines stay apart.
_MARKERS = {"random": "v", "magnitude": "s", "snip": "o", "grasp": "D", "synflow": "^", "sbp_sr": "*"}


def _resnet_train(**kw) -> TrainSpec:
    return TrainSpec(lr=0.1, weight_decay=1e-4, **kw)


def _vgg_train(**kw) -> TrainSpec:
    return TrainSpec(lr=0.1, weight_decay=5e-4, **kw)


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E6 (module docstring).  ``prune.rounds`` applies to SynFlow only."""

    SWEPT: ClassVar[dict[str, str]] = {"prune.method": "methods", "prune.sparsity": "sparsities"}

    datasets: tuple[str, ...] = ("digits",)
    models: tuple = (
        ModelSpec(label="resnet32", network=named_network("resnet32", 0.5), train=_resnet_train(epochs=8)),
        ModelSpec(label="vgg19", network=named_network("vgg19", 0.125), train=_vgg_train(epochs=8)),
    )
    methods: tuple[str, ...] = ("random", "magnitude", "snip", "grasp", "synflow", "sbp_sr")
    sparsities: tuple[float, ...] = (0.9, 0.98)
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(batch=10, balanced=True, rounds=20))
    seeds: int = 2
    #: The BatchNorm mode compared with ``prune.bn_mode`` (None: no comparison), for these
    #: method keys, at these sparsities (module docstring).
    bn_compare: str | None = "train"
    bn_methods: tuple[str, ...] = ("snip", "grasp", "sbp_sr")
    bn_sparsities: tuple[float, ...] = (0.98,)

    def __post_init__(self) -> None:
        if self.bn_compare is not None and (self.bn_compare not in BN_MODES or self.bn_compare == self.prune.bn_mode):
            raise ValueError(
                f"bn_compare must be None or one of {BN_MODES} other than prune.bn_mode={self.prune.bn_mode!r}, "
                f"got bn_compare={self.bn_compare!r}"
            )
        bad = [k for k in self.bn_methods if k not in ("snip", "grasp", "sbp_sr")]
        if bad:
            raise ValueError(f"bn_methods are data-dependent method keys (snip, grasp, sbp_sr), got {bad}")


PROFILES = {
    "quick": Config(),
    "full": Config(
        datasets=("cifar10", "cifar100", "tinyimagenet"),
        models=(
            ModelSpec(label="resnet32", network=named_network("resnet32"), train=_resnet_train(epochs=160, augment=True)),
            ModelSpec(label="resnet50", network=named_network("resnet50"), train=_resnet_train(epochs=160, augment=True)),
            ModelSpec(label="vgg19", network=named_network("vgg19"), train=_vgg_train(epochs=160, augment=True)),
        ),
        sparsities=(0.9, 0.95, 0.98),
        prune=PruneSpec(batch=10, balanced=True, rounds=100),
        seeds=3,
        bn_sparsities=(0.9, 0.95, 0.98),
    ),
}  # fmt: skip


def _is_resnet(model: ModelSpec) -> bool:
    return model.network.arch == "resnet"


def _setup(cfg: Config, dataset: str, model: ModelSpec, method: str, sparsity: float, seed: int, stable: bool) -> PruneRun:
    """The mask-only run of one method (train it with ``dataclasses.replace(run, train=...)``)."""
    prune = replace(cfg.prune, method=method, sparsity=sparsity, rounds=cfg.prune.rounds if method == "synflow" else 1)
    network = replace(model.network, stable=stable)
    return PruneRun(dataset=dataset, network=network, init=model.init, prune=prune, seed=seed)


def _trained(cfg: Config, keys, sparsities, bn_mode: str) -> list[tuple[str, str, str, float, PruneRun]]:
    """``(dataset, model label, method key, sparsity, run)`` of the training runs of these method keys and
    sparsities, scored with BatchNorm in ``bn_mode`` (SBP-SR on the ResNets only)."""
    out = []
    for dataset in cfg.datasets:
        for model in cfg.models:
            for key in keys:
                if key == "sbp_sr" and not _is_resnet(model):
                    continue
                method, stable = ("snip", True) if key == "sbp_sr" else (key, False)
                for sparsity in sparsities:
                    for seed in range(cfg.seeds):
                        run = _setup(cfg, dataset, model, method, sparsity, seed, stable)
                        run = replace(run, prune=replace(run.prune, bn_mode=bn_mode), train=model.train)
                        out.append((dataset, model.label, key, sparsity, run))
    return out


def _train_runs(cfg: Config) -> list[tuple[str, str, str, float, PruneRun]]:
    """``(dataset, model label, method key, sparsity, run)`` of every training run of the table."""
    return _trained(cfg, cfg.methods, cfg.sparsities, cfg.prune.bn_mode)


def _bn_modes(cfg: Config) -> tuple[str, ...]:
    """The BatchNorm modes compared: the main one first."""
    return (cfg.prune.bn_mode,) if cfg.bn_compare is None else (cfg.prune.bn_mode, cfg.bn_compare)


def _bn_runs(cfg: Config) -> list[tuple[str, str, str, float, str, PruneRun]]:
    """``(dataset, model label, method key, sparsity, bn_mode, run)`` of the BatchNorm-mode comparison
    (its main-mode runs are runs of :func:`_train_runs` wherever the sparsity is one of the table's)."""
    if cfg.bn_compare is None:
        return []
    return [
        (dataset, model, key, sparsity, mode, run)
        for mode in _bn_modes(cfg)
        for dataset, model, key, sparsity, run in _trained(cfg, cfg.bn_methods, cfg.bn_sparsities, mode)
    ]


def _stable_masks(cfg: Config) -> list[PruneRun]:
    """Every method on the Stable version of every ResNet (SNIP there is SBP-SR)."""
    methods = dict.fromkeys("snip" if k == "sbp_sr" else k for k in cfg.methods)
    return [
        _setup(cfg, dataset, model, method, sparsity, seed, True)
        for dataset in cfg.datasets
        for model in cfg.models
        if _is_resnet(model)
        for method in methods
        for sparsity in cfg.sparsities
        for seed in range(cfg.seeds)
    ]


def _figure(cfg: Config, stats: dict, ctx: Context) -> None:
    fig, axes = new_figure(ncols=len(cfg.models), nrows=len(cfg.datasets), width=3.4, height=2.9, layout="constrained")
    panels = [(ax, d, m) for row, d in zip(axes, cfg.datasets) for ax, m in zip(row, cfg.models)]
    x = np.asarray(cfg.sparsities)
    step = float(np.min(np.diff(x))) if len(x) > 1 else 0.02
    dodge = {k: (i - (len(cfg.methods) - 1) / 2) * 0.06 * step for i, k in enumerate(cfg.methods)}
    for ax, dataset, model in panels:
        for key in cfg.methods:
            pts = [(s, stats[dataset, model.label, key, s]) for s in cfg.sparsities if (dataset, model.label, key, s) in stats]
            if not pts:
                continue
            xs = np.array([s for s, _ in pts]) + dodge[key]
            means = [st["mean"] for _, st in pts]
            errs = [0.0 if not np.isfinite(st["se"]) else 2 * st["se"] for _, st in pts]
            ax.errorbar(xs, means, yerr=errs, marker=_MARKERS[key], ms=4, lw=1.6 if key in ("snip", "sbp_sr") else 0.9,
                        capsize=2, color=METHOD_COLORS[key], label=METHOD_LABELS[key], alpha=0.9)  # fmt: skip
            for (s, st), xp in zip(pts, xs):
                if st["collapsed_runs"]:
                    ax.plot([xp], [st["mean"]], "x", color="k", ms=8, mew=1.2, label="a seed's mask empties a layer")
        ax.set_xticks(x, [f"{s:g}" for s in x])
        ax.set_xlabel("sparsity")
        ax.set_title(f"{model.label} (x{model.network.width_multiplier:g}) on {dataset}")
    for row in axes:
        row[0].set_ylabel("final test accuracy")
    handles = {}
    for ax, *_ in panels:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(4, len(handles)))
    ctx.figure(
        fig,
        "accuracy_vs_sparsity",
        "Final test accuracy against sparsity for every method (mean, error bars: 2 standard errors over seeds; "
        "methods are drawn side by side around each sparsity so that their points do not overlap); a black x marks "
        "a point where some seed's mask emptied a layer",
    )


def _stable_collapse_rows(setups: list[PruneRun], masks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for s, m in zip(setups, masks):
        cells.setdefault((s.dataset, s.network.label, s.prune.method, s.prune.sparsity), []).append(m)
    return [
        {
            "dataset": dataset, "model": model, "method": METHOD_LABELS["sbp_sr" if method == "snip" else method],
            "sparsity": sparsity, "runs_with_fully_pruned_layer": sum(bool(m["collapsed"]) for m in ms), "runs": len(ms),
            "mean_fully_pruned_layers": float(np.mean([len(m["collapsed"]) for m in ms])),
            "runs_disconnected": sum(bool(m["disconnected"]) for m in ms),
            "layers": " ".join(sorted({n for m in ms for n in m["collapsed"]})),
        }
        for (dataset, model, method, sparsity), ms in cells.items()
    ]  # fmt: skip


def _bn_cells(bn_tagged: list, bn_results: list[dict[str, Any]]) -> dict[tuple, dict[str, dict[str, Any]]]:
    """``{(dataset, model, key, sparsity): {bn_mode: statistics over seeds}}`` of the comparison runs."""
    grouped: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    for (dataset, model, key, sparsity, mode, _), res in zip(bn_tagged, bn_results):
        grouped.setdefault((dataset, model, key, sparsity), {}).setdefault(mode, []).append(res)
    cells = {}
    for cell, by_mode in grouped.items():
        cells[cell] = {}
        for mode, rs in by_mode.items():
            accs = [r["final_test_acc"] for r in rs]
            mean, se = verdicts.mean_se(accs)
            cells[cell][mode] = {
                "accs": accs, "mean": mean, "se": se, "runs": len(rs),
                "fully_pruned": [len(r["collapsed"]) for r in rs],
                "mean_fully_pruned": float(np.mean([len(r["collapsed"]) for r in rs])),
                "collapsed_runs": sum(bool(r["collapsed"]) for r in rs),
                "disconnected_runs": sum(bool(r["disconnected"]) for r in rs),
                "layers": sorted({n for r in rs for n in r["collapsed"]}),
            }  # fmt: skip
    return cells


def _bn_figure(cfg: Config, cells: dict, ctx: Context) -> None:
    """Accuracy of each compared method and sparsity under the two modes, the layers emptied written above."""
    modes = _bn_modes(cfg)
    panels = [(d, m) for d in cfg.datasets for m in cfg.models]
    fig, axes = new_figure(ncols=len(panels), width=3.0, height=2.7, layout="constrained")
    shapes = dict(zip(modes, ("o", "s")))
    for ax, (dataset, model) in zip(axes[0], panels):
        groups = [(k, sp) for k in cfg.bn_methods for sp in cfg.bn_sparsities if (dataset, model.label, k, sp) in cells]
        for i, (key, sparsity) in enumerate(groups):
            for j, mode in enumerate(modes):
                st = cells[dataset, model.label, key, sparsity][mode]
                x = i + (j - 0.5) * 0.3
                err = 2 * st["se"] if np.isfinite(st["se"]) else 0.0
                ax.errorbar([x], [st["mean"]], yerr=[err], marker=shapes[mode], ms=5, capsize=2, color=METHOD_COLORS[key],
                            mfc=METHOD_COLORS[key] if j == 0 else "white", ls="none")  # fmt: skip
                ax.annotate(f"{st['mean_fully_pruned']:g}", (x, st["mean"] + err), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=6)  # fmt: skip
        ax.set_xticks(range(len(groups)), [f"{METHOD_LABELS[k]}\n{sp:g}" for k, sp in groups])
        ax.set_ylim(0, 1.08)
        ax.set_title(f"{model.label} on {dataset}")
    axes[0, 0].set_ylabel("final test accuracy")
    handles = [
        axes[0, 0].plot([], [], marker=shapes[mode], color="0.3", mfc="0.3" if j == 0 else "white", ls="none")[0]
        for j, mode in enumerate(modes)
    ]
    fig.legend(handles, [f"scored in {mode} mode" for mode in modes], loc="outside lower center", ncol=len(modes))
    ctx.figure(
        fig,
        "bn_mode",
        f"Final test accuracy of the data-dependent methods with masks scored in {' and '.join(modes)} mode (mean, error "
        "bars: 2 standard errors over seeds; filled: the main mode); above each point, the mean number of layers "
        "its masks empty",
    )


def _bn_mode_report(cfg: Config, bn_tagged: list, bn_results: list[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    """Table, figure, numbers and expectations of the BatchNorm-mode comparison (module docstring)."""
    if not bn_tagged:
        return {"numbers": None, "expectations": []}
    cells = _bn_cells(bn_tagged, bn_results)
    modes = _bn_modes(cfg)
    rows = [
        {
            "dataset": ds, "model": m, "method": METHOD_LABELS[k], "sparsity": sp, "bn_mode": mode,
            "mean_acc": st["mean"], "se_acc": st["se"], "seeds": st["runs"],
            "mean_fully_pruned_layers": st["mean_fully_pruned"], "runs_with_fully_pruned_layer": st["collapsed_runs"],
            "runs_disconnected": st["disconnected_runs"], "fully_pruned_layers": " ".join(st["layers"]),
        }
        for (ds, m, k, sp), by_mode in cells.items()
        for mode, st in ((mode, by_mode[mode]) for mode in modes)
    ]  # fmt: skip
    ctx.table(
        rows,
        "bn_mode",
        f"E6: BatchNorm mode while SNIP/GraSP score the batch ({' vs '.join(modes)}): final test accuracy (mean and "
        f"standard error over {cfg.seeds} seed(s)) and the layers the masks empty.",
    )
    _bn_figure(cfg, cells, ctx)
    numbers = {
        "modes": list(modes),
        "cells": [
            {"dataset": ds, "model": m, "method": k, "sparsity": sp,
             "by_mode": {mode: {f: st[f] for f in ("mean", "se", "accs", "fully_pruned", "mean_fully_pruned",
                                                     "collapsed_runs", "disconnected_runs", "layers")}
                         for mode, st in by_mode.items()}}
            for (ds, m, k, sp), by_mode in cells.items()
        ],
    }  # fmt: skip
    expectations = []
    resnets = [m.label for m in cfg.models if _is_resnet(m)]
    snip = [by for (ds, m, k, sp), by in cells.items() if k == "snip" and m in resnets]
    if {"eval", "train"} <= set(modes) and snip:

        def paired(field: str, a: str, b: str) -> list[float]:
            return [x - y for by in snip for x, y in zip(by[a][field], by[b][field])]

        expectations = [
            verdicts.expect_sign(
                "SNIP scored in train mode empties more layers of the standard ResNet than in eval mode",
                "layers fully pruned, train - eval mode, SNIP, standard ResNet, per run", paired("fully_pruned", "train", "eval"),
                sense="greater",
            ),
            verdicts.expect_sign(
                "SNIP scored in eval mode is more accurate on the standard ResNet than in train mode",
                "paired accuracy difference eval - train mode, SNIP, standard ResNet", paired("accs", "eval", "train"),
                sense="greater",
            ),
        ]  # fmt: skip
    return {"numbers": numbers, "expectations": expectations}


def summarize(n: dict) -> Summary:
    s = n["setting"]
    setting = [
        f"Datasets {', '.join(s['datasets'])}; pruning on a class-balanced batch of {s['prune']['batch']} images per "
        f"class (BatchNorm in {s['prune']['bn_mode']} mode while scoring), SynFlow {s['prune']['rounds']} rounds, "
        f"{s['seeds']} seeds; final test accuracy.",
        *[
            f"{m['label']} ({m['network']['arch']}, width x{num(m['network']['width_multiplier'])}): "
            f"{training(m['train'])}."
            for m in s["models"]
        ],
    ]
    findings = []
    for c in n["cells"]:
        ranked = ", ".join(f"{METHOD_LABELS[k]} {pm(v['mean'], v['se'])}" for k, v in c["ranked"])
        findings.append(f"{c['dataset']}, {c['model']}, sparsity {num(c['sparsity'])}: {ranked}.")
    collapsed = n["collapsed_trained"]
    findings.append(
        "Trained runs whose mask empties a layer: "
        + ("; ".join(f"{c['cell']} ({c['runs']} of {c['of']} runs, {'disconnected' if c['disconnected'] else 'still connected'}: "
                     f"{c['layers']})" for c in collapsed) if collapsed else "none")  # fmt: skip
        + "."
    )
    stable = [r for r in n["stable_collapse"] if r["runs_with_fully_pruned_layer"]]
    findings.append(
        "Masks on the Stable ResNet that empty a layer: "
        + ("; ".join(f"{r['method']} on {r['dataset']}/{r['model']} at sparsity {num(r['sparsity'])} "
                     f"({r['runs_with_fully_pruned_layer']} of {r['runs']} runs, {num(r['mean_fully_pruned_layers'])} "
                     "layers on average)" for r in stable) if stable else "none")  # fmt: skip
        + " (see stable_resnet_collapse)."
    )
    bn = n.get("bn_mode")
    if bn:
        parts = []
        for c in bn["cells"]:
            by = c["by_mode"]
            parts.append(
                f"{METHOD_LABELS[c['method']]} on {c['dataset']}/{c['model']} at sparsity {num(c['sparsity'])}: "
                + ", ".join(f"{mode} {pm(by[mode]['mean'], by[mode]['se'])} ({num(by[mode]['mean_fully_pruned'])} layers "
                            f"emptied per run)" for mode in bn["modes"])  # fmt: skip
            )
        findings.append(f"BatchNorm mode while scoring ({' vs '.join(bn['modes'])}; see bn_mode): " + "; ".join(parts) + ".")
    return Summary(setting, findings)


def _all_runs(cfg: Config) -> list[PruneRun]:
    """The runs of both sweeps of :func:`run`: the training runs (the table's, then the BatchNorm-mode
    comparison's), then the Stable ResNet masks."""
    return [t[-1] for t in _train_runs(cfg)] + [t[-1] for t in _bn_runs(cfg)] + _stable_masks(cfg)


@register("E6", profiles=PROFILES, summarize=summarize, runs=_all_runs)
def run(cfg: Config, ctx: Context) -> dict:
    tagged = _train_runs(cfg)
    bn_tagged = _bn_runs(cfg)
    # one sweep: the comparison's main-mode runs are runs of the table (counted once)
    everything = sweep([t[-1] for t in tagged] + [t[-1] for t in bn_tagged], ctx, "E6 runs")
    results, bn_results = everything[: len(tagged)], everything[len(tagged) :]
    stable_setups = _stable_masks(cfg)
    stable_masks = sweep(stable_setups, ctx, "E6 stable masks")

    groups: dict[tuple, list[dict[str, Any]]] = {}
    per_run = []
    for (dataset, model, key, sparsity, r), res in zip(tagged, results):
        groups.setdefault((dataset, model, key, sparsity), []).append(res)
        per_run.append(
            {
                "dataset": dataset, "model": model, "method": METHOD_LABELS[key], "sparsity": sparsity, "seed": r.seed,
                "final_test_acc": res["final_test_acc"], "best_test_acc": res["best_test_acc"],
                "diverged": res["diverged"], "layers_fully_pruned": len(res["collapsed"]),
                "disconnected": res["disconnected"], "fully_pruned": " ".join(res["collapsed"]),
            }
        )  # fmt: skip
    stats = {}
    for k, rs in groups.items():
        accs = [r["final_test_acc"] for r in rs]
        mean, se = verdicts.mean_se(accs)
        stats[k] = {
            "accs": accs, "mean": mean, "se": se,
            "collapsed_runs": sum(bool(r["collapsed"]) for r in rs),
            "disconnected_runs": sum(bool(r["disconnected"]) for r in rs),
            "diverged_runs": sum(bool(r["diverged"]) for r in rs),
            "layers": sorted({n for r in rs for n in r["collapsed"]}),
        }  # fmt: skip
    long = [
        {
            "dataset": ds, "model": m, "method": METHOD_LABELS[k], "sparsity": s, "mean_acc": st["mean"],
            "se_acc": st["se"], "seeds": len(st["accs"]), "runs_with_fully_pruned_layer": st["collapsed_runs"],
            "runs_disconnected": st["disconnected_runs"], "runs_diverged": st["diverged_runs"],
            "fully_pruned_layers": " ".join(st["layers"]),
        }
        for (ds, m, k, s), st in stats.items()
    ]  # fmt: skip
    ctx.table(
        long,
        "methods",
        f"E6: final test accuracy (mean and standard error over {cfg.seeds} seed(s)); runs whose mask empties a layer "
        "(a residual branch or a 1x1 shortcut of a ResNet leaves the network connected) and runs disconnected.",
    )
    ctx.csv(per_run, "runs", "one row per training run")
    collapse_rows = _stable_collapse_rows(stable_setups, stable_masks)
    ctx.table(
        collapse_rows,
        "stable_resnet_collapse",
        "Masks of every method on the Stable ResNet (pruning only, no training): runs (of the seeds) whose mask "
        "empties at least one layer, mean number of such layers, and the layers.",
    )
    _figure(cfg, stats, ctx)
    bn = _bn_mode_report(cfg, bn_tagged, bn_results, ctx)

    cells = []
    for ds in cfg.datasets:
        for model in cfg.models:
            for s in cfg.sparsities:
                cell = {k: stats[ds, model.label, k, s] for k in cfg.methods if (ds, model.label, k, s) in stats}
                ranked = sorted(cell, key=lambda k: cell[k]["mean"], reverse=True)
                cells.append(
                    {"dataset": ds, "model": model.label, "sparsity": s,
                     "ranked": [[k, {"mean": cell[k]["mean"], "se": cell[k]["se"]}] for k in ranked]}
                )  # fmt: skip
    resnets = [m.label for m in cfg.models if _is_resnet(m)]
    expectations = []
    if "sbp_sr" in cfg.methods and resnets:
        for other in (k for k in cfg.methods if k != "sbp_sr"):
            diffs = [
                a - b
                for ds in cfg.datasets
                for m in resnets
                for s in cfg.sparsities
                for a, b in zip(stats[ds, m, "sbp_sr", s]["accs"], stats[ds, m, other, s]["accs"])
            ]
            expectations.append(
                verdicts.expect_sign(
                    f"SBP-SR is more accurate than {METHOD_LABELS[other]} on ResNets",
                    f"paired accuracy difference SBP-SR - {METHOD_LABELS[other]}, pooled", diffs, sense="greater",
                )
            )  # fmt: skip
        if "snip" in cfg.methods and len(cfg.sparsities) > 1:
            top, low = max(cfg.sparsities), min(cfg.sparsities)

            def gap(s: float) -> np.ndarray:
                return np.mean(
                    [np.subtract(stats[ds, m, "sbp_sr", s]["accs"], stats[ds, m, "snip", s]["accs"])
                     for ds in cfg.datasets for m in resnets], axis=0,
                )  # fmt: skip

            expectations.append(
                verdicts.expect_sign(
                    "SBP-SR's advantage over SNIP is largest at the highest sparsity",
                    "advantage over SNIP at the highest minus at the lowest sparsity, per seed", gap(top) - gap(low),
                    sense="greater",
                )
            )  # fmt: skip
    expectations += bn["expectations"]
    collapsed = [
        {"cell": f"{ds}/{m}/{METHOD_LABELS[k]}/sparsity {s:g}", "runs": st["collapsed_runs"], "of": len(st["accs"]),
         "disconnected": bool(st["disconnected_runs"]), "layers": " ".join(st["layers"])}
        for (ds, m, k, s), st in stats.items()
        if st["collapsed_runs"]
    ]  # fmt: skip
    return {
        "setting": asdict(cfg),
        "cells": cells,
        "collapsed_trained": collapsed,
        "stable_collapse": collapse_rows,
        "bn_mode": bn["numbers"],
        "verdict": verdicts.verdict(expectations),
    }
