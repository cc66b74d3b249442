r"""E5: standard ResNet against Stable ResNet under SNIP (THEORY.md sections 6 and 7).

The paper's claim: sensitivity-based pruning (SBP, SNIP) of a standard ResNet at
high sparsity leaves a network that trains badly, increasingly so with depth,
while the same pruning of a *Stable ResNet* (every residual branch multiplied by
:math:`1/\sqrt{L}`, :math:`L = 3n` blocks) keeps it trainable (SBP-SR).  For each
depth and sparsity we prune both variants with SNIP, from the same initial weights
(same seed: the convolutions of the two variants are identical, only the branch
scale differs), train them with the same protocol and compare test accuracy.

Protocol (both profiles).  He initialization :math:`W \sim \mathcal N(0, 2/v)`
(the ReLU edge of chaos: sigma_w = sqrt 2, sigma_b = 0; BatchNorm at weight 1 and
bias 0); SNIP scores on one class-balanced batch of ``samples_per_class`` training
images per class, with the network in train mode (BatchNorm batch statistics);
global pruning of every convolution and the classifier, 1x1 shortcuts included;
SGD with momentum 0.9, batch 128, learning rate 0.1 divided by 10 at 50 % and 75 %
of training, weight decay 1e-4; reported accuracy is the *final* test accuracy
(no selection on the test set), mean and sample standard deviation over seeds.
A run whose loss becomes non-finite is reported at chance accuracy, and so is a run
whose mask disconnects the input from the output (it is not trained).

* ``full``: CIFAR-10 (``ctx.data_dir``), ResNet32/50/104 at width 1, sparsities
  90/95/98 %, 160 epochs with random-crop and flip augmentation, 3 seeds.  GPU.
* ``quick``: the embedded 8x8 digits (1,437 training and 360 test images),
  ResNet32 at width 0.5 (8/16/32 channels, 117k parameters), sparsities 90/95/98 %,
  8 epochs without augmentation, 3 seeds.  A scaled-down check of
  the pipeline: digits are easy enough that both variants may saturate.

Every run is a :class:`paper_repro.runs.PruneRun` (ResNet, He initialization, SNIP
on a class-balanced batch, trained), run through the run cache by
:func:`paper_repro.runs.sweep`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..registry import Context, register
from ..runs import PruneRun, sweep
from ..stats import format_acc, se_diff
from ..style import new_figure

__all__ = ["Config", "PROFILES", "run"]

CLAIM = (
    "SNIP (sensitivity-based pruning) at high sparsity breaks standard ResNets, more so as depth grows, "
    "while the same pruning applied to a Stable ResNet (residual branches scaled by 1/sqrt(L)) keeps them "
    "trainable: SBP-SR reaches higher test accuracy than SNIP on the standard ResNet at 90/95/98 % sparsity "
    "for ResNet32/50/104 on CIFAR-10."
)


@dataclass(frozen=True)
class Config:
    """Settings of E5 (module docstring); training fields as in :class:`paper_repro.train.TrainConfig`."""

    dataset: str = "digits"
    depths: tuple[int, ...] = (32,)
    width_multiplier: float = 0.5
    sparsities: tuple[float, ...] = (0.9, 0.95, 0.98)
    seeds: int = 3
    samples_per_class: int = 10
    epochs: int = 8
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[float, ...] = (0.5, 0.75)
    augment: bool = False


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="cifar10",
        depths=(32, 50, 104),
        width_multiplier=1.0,
        epochs=160,
        augment=True,
    ),
}
_VARIANTS = (("standard", False), ("stable", True))
_COLORS = {"standard": "#7f7f7f", "stable": "#2ca02c"}


def _runs(cfg: Config, seeds: int) -> list[PruneRun]:
    from ..train import TrainConfig

    runs = []
    for depth in cfg.depths:
        for sparsity in cfg.sparsities:
            for _, stable in _VARIANTS:
                for seed in range(seeds):
                    train = TrainConfig(
                        cfg.epochs, cfg.batch_size, cfg.lr, cfg.momentum, cfg.weight_decay, "step",
                        cfg.milestones, cfg.augment, seed=seed,
                    )  # fmt: skip
                    runs.append(
                        PruneRun(
                            cfg.dataset, "resnet", seed, depth=depth, width_multiplier=cfg.width_multiplier,
                            stable=stable, method="snip", sparsity=sparsity, batch=cfg.samples_per_class,
                            balanced=True, train=train,
                        )
                    )  # fmt: skip
    return runs


def _figure(cfg: Config, acc: dict, ctx: Context) -> None:
    fig, axes = new_figure(ncols=len(cfg.depths), width=3.2, height=2.8)
    x = 100 * np.asarray(cfg.sparsities)
    for ax, depth in zip(axes[0], cfg.depths):
        for k, (variant, _) in enumerate(_VARIANTS):
            vals = [100 * np.asarray(acc[depth, s, variant]) for s in cfg.sparsities]
            errs = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals]
            label = "SNIP, standard ResNet" if variant == "standard" else "SBP-SR (SNIP, Stable ResNet)"
            shift = (k - 0.5) * 0.3  # side by side, in sparsity percentage points
            ax.errorbar(x + shift, [v.mean() for v in vals], yerr=errs, marker="o", ms=4, capsize=3,
                        color=_COLORS[variant], label=label)  # fmt: skip
            for xi, v in zip(x, vals):
                ax.plot(np.full(len(v), xi + shift), v, ".", color=_COLORS[variant], ms=3, alpha=0.6)
        ax.set_xticks(x, [f"{s:g}" for s in x])
        ax.set_xlabel("sparsity (%)")
        ax.set_title(f"ResNet{depth} (width x{cfg.width_multiplier:g})")
    axes[0, 0].set_ylabel("final test accuracy (%)")
    axes[0, 0].legend(loc="lower left", fontsize=7)
    ctx.figure(
        fig,
        "accuracy_standard_vs_stable",
        f"Final test accuracy on {cfg.dataset} after SNIP pruning, standard ResNet vs Stable ResNet "
        "(line: mean, error bars: std over seeds, dots: seeds)",
    )


@register("E5", title="Standard vs Stable ResNet under SNIP", claim=CLAIM, profiles=PROFILES, needs_torch=True)
def run(cfg: Config, ctx: Context) -> None:
    seeds = ctx.seeds if ctx.seeds is not None else cfg.seeds
    runs = _runs(cfg, seeds)
    results = sweep(runs, ctx, "E5 runs")
    acc: dict[tuple, list[float]] = {}
    per_run, cells = [], {}
    for r, res in zip(runs, results):
        variant = "stable" if r.stable else "standard"
        acc.setdefault((r.depth, r.sparsity, variant), []).append(res["final_test_acc"])
        cell = cells.setdefault((r.depth, r.sparsity, variant), {"collapsed": [], "diverged": 0, "cut": 0})
        cell["collapsed"].append(len(res["collapsed"]))
        cell["diverged"] += bool(res["diverged"])
        cell["cut"] += bool(res["disconnected"])
        per_run.append(
            {
                "model": f"resnet{r.depth}",
                "variant": variant,
                "sparsity": r.sparsity,
                "seed": r.seed,
                "final_test_acc": res["final_test_acc"],
                "best_test_acc": res["best_test_acc"],
                "diverged": res["diverged"],
                "layers_fully_pruned": len(res["collapsed"]),
                "disconnected": res["disconnected"],
                "min_layer_keep": min(layer["keep"] for layer in res["layers"]),
                "seconds": round(res["seconds"], 1),
            }
        )
    rows, findings, diffs = [], [], []
    for depth in cfg.depths:
        for s in cfg.sparsities:
            std_acc, st_acc = acc[depth, s, "standard"], acc[depth, s, "stable"]
            diff = float(np.mean(st_acc) - np.mean(std_acc))
            se = se_diff(st_acc, std_acc)
            diffs.append((depth, s, diff, se))
            c_std, c_st = cells[depth, s, "standard"], cells[depth, s, "stable"]
            rows.append(
                {
                    "model": f"ResNet{depth}",
                    "sparsity": s,
                    "SNIP standard (%)": format_acc(std_acc),
                    "SBP-SR stable (%)": format_acc(st_acc),
                    "stable - standard (pts)": round(100 * diff, 2),
                    "2 SE (pts)": round(200 * se, 2) if math.isfinite(se) else None,
                    "fully pruned layers standard": float(np.mean(c_std["collapsed"])),
                    "fully pruned layers stable": float(np.mean(c_st["collapsed"])),
                    "seeds": len(st_acc),
                }
            )
            findings.append(
                f"ResNet{depth} at {100 * s:g} % sparsity: standard {format_acc(std_acc)} %, stable "
                f"{format_acc(st_acc)} %, difference {100 * diff:+.2f} pts"
                + (f" (2 SE = {200 * se:.2f} pts)" if math.isfinite(se) else "")
                + f"; fully pruned layers per run: standard {np.mean(c_std['collapsed']):.1f}, "
                f"stable {np.mean(c_st['collapsed']):.1f}; disconnected runs: standard {c_std['cut']}, "
                f"stable {c_st['cut']}; diverged runs: standard {c_std['diverged']}, stable {c_st['diverged']}."
            )
    ctx.table(
        rows,
        "accuracy",
        f"E5: final test accuracy (%, mean ± std over {seeds} seed(s)) on {cfg.dataset} after SNIP at the given "
        f"sparsity, standard ResNet vs Stable ResNet (width x{cfg.width_multiplier:g}, {cfg.epochs} epochs); "
        "'fully pruned layers' = mean number of layers whose mask is all zero.",
    )
    ctx.csv(per_run, "runs", "one row per training run (final and best test accuracy, layer collapse)")
    _figure(cfg, acc, ctx)
    findings.append(
        f"Setting: {cfg.dataset}, width x{cfg.width_multiplier:g}, {cfg.epochs} epochs, {seeds} seed(s); "
        "final test accuracy (not the best epoch)."
    )
    ctx.summary(CLAIM, findings, _verdict(diffs))


def _verdict(diffs: list[tuple[int, float, float, float]]) -> str:
    """Decision rule fixed before looking at the numbers: a cell favours one variant
    when the mean difference exceeds two standard errors (SE).  The first sentence
    carries no number (the figure index quotes it)."""
    if not all(math.isfinite(se) for *_, se in diffs):
        return "Not tested: one seed per cell gives no standard error; rerun with --seeds >= 2."
    better = [f"ResNet{d} at {100 * s:g} %" for d, s, diff, se in diffs if diff > 2 * se]
    worse = [f"ResNet{d} at {100 * s:g} %" for d, s, diff, se in diffs if diff < -2 * se]
    if worse:
        return (
            f"Not supported: the standard ResNet is better by more than 2 SE in some cell. Cells: {', '.join(worse)}."
        )
    if len(better) == len(diffs):
        return "Supported: the Stable ResNet is better by more than 2 SE in every (depth, sparsity) cell."
    if better:
        return (
            "Partly supported: the Stable ResNet is better by more than 2 SE in some cells and within 2 SE "
            f"elsewhere. Better at: {', '.join(better)}."
        )
    d, s, diff, se = max(diffs, key=lambda t: abs(t[2]))
    return (
        "Not supported at this scale: no (depth, sparsity) cell differs by more than 2 SE. Largest difference "
        f"(stable - standard): {100 * diff:+.2f} pts at ResNet{d}, {100 * s:g} % (2 SE = {200 * se:.2f} pts)."
    )
