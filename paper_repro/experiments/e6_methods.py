r"""E6: pruning methods compared: Random, Magnitude, SNIP, GraSP, SynFlow and SBP-SR.

The paper's methods table (THEORY.md section 7): test accuracy after pruning at
initialization and training, for ResNet32, ResNet50 and VGG19 on CIFAR-10,
CIFAR-100 and Tiny ImageNet at 90/95/98 % sparsity.  SBP-SR is SNIP applied to
the Stable ResNet and trained as a Stable ResNet; the other methods prune the
standard network.  SBP-SR is defined for ResNets only, so the VGG rows have no
SBP-SR entry.

Every run (a :class:`paper_repro.runs.PruneRun`) starts from the same initial
weights at a given seed (the seed fixes the initialization, the scoring batch and
the random scores); pruning is global over every convolution and the classifier
(1x1 shortcuts included); SNIP and GraSP score one class-balanced batch of
``samples_per_class`` images per class; GraSP divides the logits by 200 as its
reference code does; SynFlow is iterated over ``synflow_rounds`` rounds with the
exponential schedule of Tanaka et al. 2020.  Training: SGD with momentum 0.9,
batch 128, learning rate 0.1 divided by 10 at 50 % and 75 % of training, weight
decay 1e-4 for ResNets and 5e-4 for VGG; the reported accuracy is the final test
accuracy, mean ± sample std over seeds.

Layer collapse is recorded, not hidden: a run whose mask empties a layer is
marked in the table (a mask that disconnects the input from the output is not
trained and counts at chance accuracy), and a mask-only sweep prunes the Stable
ResNet with *every* method at every sparsity to show which methods empty layers
of it (SynFlow's scores of a residual branch shrink with the branch scale
:math:`1/\sqrt L`, so at high sparsity it empties whole branch convolutions of
the Stable ResNet).

* ``full``: CIFAR-10, CIFAR-100, Tiny ImageNet (64x64 inputs to the same CIFAR
  networks) from ``ctx.data_dir``; ResNet32, ResNet50, VGG19 at width 1;
  sparsities 90/95/98 %; 160 epochs with crop and flip augmentation; SynFlow
  with 100 rounds; 3 seeds.  GPU.
* ``quick``: digits; ResNet32 at width 0.5 and VGG19 at width 0.125 (8 to 64
  channels); sparsities 90/98 %; 8 epochs without augmentation; SynFlow with 20
  rounds; 2 seeds.  The ResNet32 SNIP and SBP-SR runs are the same runs as E5's
  quick profile at seeds 0 and 1 (shared through the run cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..registry import Context, register
from ..runs import PruneRun, named_network, sweep
from ..stats import format_acc, mean_std, se_diff
from ..style import METHOD_COLORS, METHOD_LABELS, new_figure

__all__ = ["Config", "PROFILES", "run"]

CLAIM = (
    "SBP-SR (SNIP on a Stable ResNet) matches or outperforms Random, Magnitude, SNIP, GraSP and SynFlow "
    "pruning at initialization on ResNets, with the largest gains at the highest sparsities (CIFAR-10, "
    "CIFAR-100, Tiny ImageNet; 90/95/98 %)."
)

@dataclass(frozen=True)
class Config:
    """Settings of E6 (module docstring).  ``models`` lists ``(name, width multiplier)``."""

    datasets: tuple[str, ...] = ("digits",)
    models: tuple[tuple[str, float], ...] = (("resnet32", 0.5), ("vgg19", 0.125))
    methods: tuple[str, ...] = ("random", "magnitude", "snip", "grasp", "synflow", "sbp_sr")
    sparsities: tuple[float, ...] = (0.9, 0.98)
    seeds: int = 2
    synflow_rounds: int = 20
    samples_per_class: int = 10
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay_resnet: float = 1e-4
    weight_decay_vgg: float = 5e-4
    milestones: tuple[float, ...] = (0.5, 0.75)
    augment: bool = False


PROFILES = {
    "quick": Config(),
    "full": Config(
        datasets=("cifar10", "cifar100", "tinyimagenet"),
        models=(("resnet32", 1.0), ("resnet50", 1.0), ("vgg19", 1.0)),
        sparsities=(0.9, 0.95, 0.98),
        seeds=3,
        synflow_rounds=100,
        epochs=160,
        augment=True,
    ),
}


def _is_resnet(model: str) -> bool:
    return model.startswith("resnet")


def _setup(cfg: Config, dataset: str, model: str, width: float, method: str, sparsity: float, seed: int,
           stable: bool) -> PruneRun:  # fmt: skip
    """The mask-only run of one method (train it with ``dataclasses.replace(run, train=...)``)."""
    return PruneRun(
        dataset, seed=seed, **named_network(model, width), stable=stable, method=method, sparsity=sparsity,
        rounds=cfg.synflow_rounds if method == "synflow" else 1, batch=cfg.samples_per_class, balanced=True,
    )  # fmt: skip


def _train_runs(cfg: Config, seeds: int) -> list[tuple[str, str, str, float, PruneRun]]:
    """``(dataset, model, method key, sparsity, run)`` of every training run of the table."""
    from ..train import TrainConfig

    out = []
    for dataset in cfg.datasets:
        for model, width in cfg.models:
            decay = cfg.weight_decay_resnet if _is_resnet(model) else cfg.weight_decay_vgg
            for key in cfg.methods:
                if key == "sbp_sr" and not _is_resnet(model):
                    continue
                method, stable = ("snip", True) if key == "sbp_sr" else (key, False)
                for sparsity in cfg.sparsities:
                    for seed in range(seeds):
                        train = TrainConfig(
                            cfg.epochs, cfg.batch_size, cfg.lr, cfg.momentum, decay, "step", cfg.milestones,
                            cfg.augment, seed=seed,
                        )  # fmt: skip
                        masked = _setup(cfg, dataset, model, width, method, sparsity, seed, stable)
                        out.append((dataset, model, key, sparsity, replace(masked, train=train)))
    return out


def _stable_masks(cfg: Config, seeds: int) -> list[PruneRun]:
    """Every method on the Stable version of every ResNet (SNIP there is SBP-SR)."""
    methods = dict.fromkeys("snip" if k == "sbp_sr" else k for k in cfg.methods)
    return [
        _setup(cfg, dataset, model, width, method, sparsity, seed, True)
        for dataset in cfg.datasets
        for model, width in cfg.models
        if _is_resnet(model)
        for method in methods
        for sparsity in cfg.sparsities
        for seed in range(seeds)
    ]


def _figure(cfg: Config, stats: dict, ctx: Context) -> None:
    fig, axes = new_figure(
        ncols=len(cfg.models), nrows=len(cfg.datasets), width=3.2, height=2.8, layout="constrained"
    )
    panels = [(ax, d, m) for row, d in zip(axes, cfg.datasets) for ax, (m, _) in zip(row, cfg.models)]
    for ax, dataset, model in panels:
        for key in cfg.methods:
            pts = [(s, stats[dataset, model, key, s]) for s in cfg.sparsities if (dataset, model, key, s) in stats]
            if not pts:
                continue
            xs = [100 * s for s, _ in pts]
            means = [100 * st["mean"] for _, st in pts]
            errs = [0.0 if math.isnan(st["std"]) else 100 * st["std"] for _, st in pts]
            lw = 2.0 if key in ("snip", "sbp_sr") else 1.0
            ax.errorbar(xs, means, yerr=errs, marker="o", ms=3, lw=lw, capsize=2, color=METHOD_COLORS[key],
                        label=METHOD_LABELS[key])  # fmt: skip
            for (s, st), x in zip(pts, xs):
                if st["collapsed_runs"]:
                    ax.plot([x], [100 * st["mean"]], "x", color="k", ms=7, mew=1.5)
        ax.set_xticks([100 * s for s in cfg.sparsities])
        ax.set_xlabel("sparsity (%)")
        ax.set_title(f"{model} on {dataset}")
    for row in axes:
        row[0].set_ylabel("final test accuracy (%)")
    handles = {}
    for ax, *_ in panels:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    axes[0, -1].legend(handles.values(), handles.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ctx.figure(
        fig,
        "accuracy_vs_sparsity",
        "Final test accuracy against sparsity for every method (mean, error bars: std over seeds); "
        "a black x marks a point where some seed's mask emptied a layer",
    )


@register("E6", title="Pruning methods table (Random, Magnitude, SNIP, GraSP, SynFlow, SBP-SR)", claim=CLAIM,
          profiles=PROFILES, needs_torch=True)  # fmt: skip
def run(cfg: Config, ctx: Context) -> None:
    seeds = ctx.seeds if ctx.seeds is not None else cfg.seeds
    tagged = _train_runs(cfg, seeds)
    results = sweep([t[-1] for t in tagged], ctx, "E6 runs")
    stable_setups = _stable_masks(cfg, seeds)
    stable_masks = sweep(stable_setups, ctx, "E6 stable masks")

    groups: dict[tuple, list[dict[str, Any]]] = {}
    per_run = []
    for (dataset, model, key, sparsity, r), res in zip(tagged, results):
        groups.setdefault((dataset, model, key, sparsity), []).append(res)
        per_run.append(
            {
                "dataset": dataset,
                "model": model,
                "method": METHOD_LABELS[key],
                "sparsity": sparsity,
                "seed": r.seed,
                "final_test_acc": res["final_test_acc"],
                "best_test_acc": res["best_test_acc"],
                "diverged": res["diverged"],
                "layers_fully_pruned": len(res["collapsed"]),
                "disconnected": res["disconnected"],
                "fully_pruned": " ".join(res["collapsed"]),
            }
        )
    stats = {}
    for k, rs in groups.items():
        accs = [r["final_test_acc"] for r in rs]
        mean, std = mean_std(accs)
        stats[k] = {
            "accs": accs,
            "mean": mean,
            "std": std,
            "collapsed_runs": sum(bool(r["collapsed"]) for r in rs),
            "disconnected_runs": sum(bool(r["disconnected"]) for r in rs),
            "diverged_runs": sum(bool(r["diverged"]) for r in rs),
            "layers": sorted({n for r in rs for n in r["collapsed"]}),
        }

    wide, long = [], []
    for dataset in cfg.datasets:
        for model, width in cfg.models:
            for key in cfg.methods:
                if (dataset, model, key, cfg.sparsities[0]) not in stats:
                    continue
                row = {"dataset": dataset, "model": f"{model} (x{width:g})", "method": METHOD_LABELS[key]}
                for s in cfg.sparsities:
                    st = stats[dataset, model, key, s]
                    mark = "‡" if st["disconnected_runs"] else "†" if st["collapsed_runs"] else ""
                    row[f"{100 * s:g} %"] = format_acc(st["accs"]) + mark
                    long.append(
                        {
                            "dataset": dataset,
                            "model": model,
                            "width_multiplier": width,
                            "method": METHOD_LABELS[key],
                            "sparsity": s,
                            "mean_acc": st["mean"],
                            "std_acc": st["std"],
                            "seeds": len(st["accs"]),
                            "runs_with_fully_pruned_layer": st["collapsed_runs"],
                            "runs_disconnected": st["disconnected_runs"],
                            "runs_diverged": st["diverged_runs"],
                            "fully_pruned_layers": " ".join(st["layers"]),
                        }
                    )
                wide.append(row)
    ctx.table(
        wide,
        "methods",
        f"E6: final test accuracy (%, mean ± std over {seeds} seed(s), {cfg.epochs} epochs). "
        "† some seed's mask empties a layer without cutting the network (a residual branch or a 1x1 shortcut "
        "of a ResNet); "
        "‡ some seed's mask disconnects the input from the output.",
    )
    ctx.csv(long, "methods_long", "the methods table in numbers (one row per dataset, model, method, sparsity)")
    ctx.csv(per_run, "runs", "one row per training run")
    collapse_rows = _stable_collapse_rows(stable_setups, stable_masks)
    ctx.table(
        collapse_rows,
        "stable_resnet_collapse",
        "Masks of every method on the Stable ResNet (pruning only, no training): runs (of the seeds) whose mask "
        "empties at least one layer, mean number of such layers, and the layers.",
    )
    _figure(cfg, stats, ctx)
    findings, verdict = _findings(cfg, stats, collapse_rows, seeds)
    ctx.summary(CLAIM, findings, verdict)


def _stable_collapse_rows(setups: list[PruneRun], masks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for s, m in zip(setups, masks):
        cells.setdefault((s.dataset, f"resnet{s.depth}", s.method, s.sparsity), []).append(m)
    rows = []
    for (dataset, model, method, sparsity), ms in cells.items():
        rows.append(
            {
                "dataset": dataset,
                "model": f"{model} (stable)",
                "method": METHOD_LABELS["sbp_sr" if method == "snip" else method],
                "sparsity": sparsity,
                "runs_with_fully_pruned_layer": f"{sum(bool(m['collapsed']) for m in ms)}/{len(ms)}",
                "mean_fully_pruned_layers": float(np.mean([len(m["collapsed"]) for m in ms])),
                "runs_disconnected": sum(bool(m["disconnected"]) for m in ms),
                "layers": " ".join(sorted({n for m in ms for n in m["collapsed"]})),
            }
        )
    return rows


def _findings(cfg: Config, stats: dict, collapse_rows: list[dict[str, Any]], seeds: int) -> tuple[list[str], str]:
    """Per-cell winners, SBP-SR against the best other method, collapse; the verdict.

    Decision rule, fixed in advance: SBP-SR is *competitive* in a (dataset, ResNet,
    sparsity) cell when its mean is at least the best other mean minus two standard
    errors (SE) of the difference, and *best* when its mean is the highest.
    Supported: competitive everywhere and best at the highest sparsity of every
    (dataset, ResNet); not supported: not competitive somewhere.  The verdict's
    first sentence carries no number (the figure index quotes it).
    """
    findings, competitive, best_at_top = [], [], []
    top = max(cfg.sparsities)
    for dataset in cfg.datasets:
        for model, _ in cfg.models:
            for s in cfg.sparsities:
                cell = {k: stats[dataset, model, k, s] for k in cfg.methods if (dataset, model, k, s) in stats}
                if not cell:
                    continue
                ranked = sorted(cell, key=lambda k: cell[k]["mean"], reverse=True)
                text = ", ".join(f"{METHOD_LABELS[k]} {100 * cell[k]['mean']:.2f}" for k in ranked)
                line = f"{dataset}, {model}, {100 * s:g} %: {text} (% mean over {seeds} seed(s))"
                if "sbp_sr" in cell and len(cell) > 1:
                    sbp = cell["sbp_sr"]
                    rival = max((k for k in cell if k != "sbp_sr"), key=lambda k: cell[k]["mean"])
                    other = cell[rival]
                    se = se_diff(sbp["accs"], other["accs"])
                    gap = sbp["mean"] - other["mean"]
                    competitive.append(math.isfinite(se) and gap >= -2 * se)
                    if s == top:
                        best_at_top.append(gap >= 0)
                    line += (
                        f"; SBP-SR rank {ranked.index('sbp_sr') + 1}/{len(ranked)}, "
                        f"{100 * gap:+.2f} pts vs best other ({METHOD_LABELS[rival]}"
                        + (f", 2 SE = {200 * se:.2f} pts)" if math.isfinite(se) else ")")
                    )
                findings.append(line + ".")
    collapsed = [
        f"{ds}/{m}/{METHOD_LABELS[k]}/{100 * s:g} % ({st['collapsed_runs']}/{len(st['accs'])} runs, "
        f"{'disconnected' if st['disconnected_runs'] else 'input still connected'}: {' '.join(st['layers'])})"
        for (ds, m, k, s), st in stats.items()
        if st["collapsed_runs"]
    ]
    findings.append(
        "Trained runs whose mask empties a layer: " + ("; ".join(collapsed) if collapsed else "none") + "."
    )
    stable_collapse = [
        f"{r['method']} on {r['dataset']}/{r['model']} at {100 * r['sparsity']:g} %: "
        f"{r['runs_with_fully_pruned_layer']} runs, {r['mean_fully_pruned_layers']:.1f} layers on average"
        for r in collapse_rows
        if not r["runs_with_fully_pruned_layer"].startswith("0/")
    ]
    findings.append(
        "Masks on the Stable ResNet that empty a layer: "
        + ("; ".join(stable_collapse) if stable_collapse else "none")
        + " (see stable_resnet_collapse)."
    )
    findings.append(
        f"Setting: {', '.join(cfg.datasets)}; {', '.join(f'{m} x{w:g}' for m, w in cfg.models)}; "
        f"{cfg.epochs} epochs; SynFlow {cfg.synflow_rounds} rounds; final test accuracy."
    )
    if not competitive:
        return findings, "Not tested: no ResNet cell with SBP-SR and another method."
    if seeds < 2:
        return findings, "Not tested: one seed per cell gives no standard error; rerun with --seeds >= 2."
    n_comp = sum(competitive)
    if n_comp < len(competitive):
        verdict = (
            "Not supported: SBP-SR is more than 2 SE below the best method in some ResNet cells. "
            f"Within 2 SE of the best or better in {n_comp} of {len(competitive)} cells."
        )
    elif all(best_at_top):
        verdict = (
            "Supported: SBP-SR is within 2 SE of the best method or better in every ResNet cell and has the "
            f"highest mean at the highest sparsity. {len(competitive)} cells; highest sparsity {100 * top:g} %."
        )
    else:
        verdict = (
            "Partly supported: SBP-SR is within 2 SE of the best method in every ResNet cell but not always "
            f"the highest mean at the highest sparsity. Highest at {100 * top:g} % in {sum(best_at_top)} of "
            f"{len(best_at_top)} (dataset, ResNet) pairs."
        )
    return findings, verdict
