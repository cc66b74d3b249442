r"""E5: standard ResNet against Stable ResNet under SNIP (``docs/theory.md`` §6 and §7).

The paper's claim: sensitivity-based pruning (SBP, SNIP) of a standard ResNet at high
sparsity leaves a network that trains badly, increasingly so with depth, while the
same pruning of a *Stable ResNet* (every residual branch multiplied by
:math:`1/\sqrt{L}`, :math:`L = 3n` blocks) keeps it trainable (SBP-SR).  For each depth
and sparsity we prune both variants with SNIP, from the same initial weights (same
seed: the convolutions of the two variants are identical, only the branch scale
differs), train them with the same protocol and compare test accuracy.

Protocol (both profiles).  He initialization :math:`W \sim \mathcal N(0, 2/v)` (the
ReLU edge of chaos; BatchNorm at weight 1 and bias 0); SNIP scores on one
class-balanced batch of ``prune.batch`` training images per class, with the network in
train mode; global pruning of every convolution and the classifier, 1x1 shortcuts
included; SGD (``train``); the reported accuracy is the *final* test accuracy.  A run
whose loss becomes non-finite is reported at chance accuracy, and so is a run whose
mask disconnects the input from the output (it is not trained).

Expectations: the Stable ResNet reaches higher accuracy (paired by seed, pooled over
depths and sparsities); and its advantage grows with depth (per seed, the advantage
at the deepest depth minus the advantage at the shallowest, averaged over sparsities).

The mechanism, SNIP's critical sparsity (docs/theory.md §8.3; claim
``stable-resnet-sbp-scr``): on the one-layer-branch ReLU ResNet of the theory (width
``scr_width``, 10 classes, Gaussian inputs, random labels, a batch of ``scr_batch``) at
depths ``scr_depths``, the measured :math:`s_{cr}` of R networks per depth, standard and
Stable on the same weights (:func:`proofs_check.claims.resnet.measure_resnet_critical_sparsity`),
against the finite-width model and the paper's iid model
(:func:`~proofs_check.claims.resnet.predict_resnet_critical_sparsity`), in the panel
``scr_standard_vs_stable``.  Expectation: at every such depth the Stable ResNet's
:math:`s_{cr}` is higher (paired by network).  The predictions are reported, not judged
here (the claim judges them).

* ``full``: CIFAR-10 (``--data-dir``), ResNet32/50/104 at width 1, sparsities
  90/95/98 %, 160 epochs with random-crop and flip augmentation, 3 seeds.  GPU.
* ``quick``: the embedded 8x8 digits, ResNet8 and ResNet32 at width 0.5, sparsities
  90/95/98 %, 8 epochs without augmentation, 3 seeds.  A scaled-down check of the
  pipeline and of the depth dependence: digits are easy enough that both variants may
  saturate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import ClassVar

import numpy as np

from .. import verdicts
from ..config import NetworkSpec, PruneSpec, TrainSpec
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import RESNET_COLORS, RESNET_LABELS, new_figure
from ..summary import num, nums, pm, training

__all__ = ["Config", "PROFILES", "run"]

_VARIANTS = (("standard", False), ("stable", True))
_LABELS = {"standard": "SNIP, standard ResNet", "stable": "SBP-SR (SNIP, Stable ResNet)"}


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E5 (module docstring); ``network.depth`` and ``network.stable`` are swept."""

    SWEPT: ClassVar[dict[str, str]] = {
        "network.depth": "depths",
        "network.stable": "(both variants)",
        "prune.sparsity": "sparsities",
    }

    dataset: str = "digits"
    network: NetworkSpec = field(default_factory=lambda: NetworkSpec(arch="resnet", width_multiplier=0.5))
    depths: tuple[int, ...] = (8, 32)
    sparsities: tuple[float, ...] = (0.9, 0.95, 0.98)
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(method="snip", batch=10, balanced=True))
    train: TrainSpec = field(default_factory=lambda: TrainSpec(epochs=8, lr=0.1, weight_decay=1e-4))
    seeds: int = 3
    scr_depths: tuple[int, ...] = (10, 30, 100)
    scr_width: int = 100
    scr_batch: int = 128
    scr_replicas: int = 24


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="cifar10",
        network=NetworkSpec(arch="resnet"),
        depths=(32, 50, 104),
        train=TrainSpec(epochs=160, lr=0.1, weight_decay=1e-4, augment=True),
        scr_depths=(10, 30, 60, 100),
        scr_replicas=128,
    ),
}


@dataclass(frozen=True, kw_only=True)
class ScrPoint:
    """One cached measurement: SNIP's s_cr of R standard and R Stable ResNets (same weights) of one depth and seed."""

    depth: int
    width: int
    batch: int
    replicas: int
    seed: int


def measure_scr_point(point: ScrPoint, *, device: str = "cpu") -> dict:
    """``{variant: s_cr per network}`` (:func:`proofs_check.claims.resnet.measure_resnet_critical_sparsity`)."""
    from proofs_check.claims.resnet import measure_resnet_critical_sparsity

    return measure_resnet_critical_sparsity(depth=point.depth, width=point.width, replicas=point.replicas,
                                            batch=point.batch, seed=point.seed, device=device)  # fmt: skip


def _scr(cfg: Config, ctx: Context) -> tuple[list[dict], list]:
    """The s_cr rows (measured, finite and iid predictions per depth and variant) and the paired differences."""
    from proofs_check.claims.resnet import RESNET_VARIANTS, predict_resnet_critical_sparsity

    points = [ScrPoint(depth=d, width=cfg.scr_width, batch=cfg.scr_batch, replicas=cfg.scr_replicas, seed=9000 + 10 * i + seed)
              for i, d in enumerate(cfg.scr_depths) for seed in range(cfg.seeds)]  # fmt: skip
    results = ctx.sweep(points, partial(measure_scr_point, device=ctx.device), "E5 s_cr points")
    pooled: dict[int, dict[str, list]] = {}
    for point, res in zip(points, results):
        cell = pooled.setdefault(point.depth, {v: [] for v in RESNET_VARIANTS})
        for v in RESNET_VARIANTS:
            cell[v].extend(np.asarray(res[v], dtype=float).tolist())
    rows, diffs = [], []
    for depth, cell in pooled.items():
        pred = {m: predict_resnet_critical_sparsity(depth=depth, width=cfg.scr_width, batch=cfg.scr_batch, model=m)
                for m in ("finite", "iid")}  # fmt: skip
        for v in RESNET_VARIANTS:
            m, se = verdicts.mean_se(cell[v])
            rows.append({"depth": depth, "variant": v, "measured": m, "measured_se": se,
                         "finite": pred["finite"][v].s_cr, "finite_se": pred["finite"][v].s_cr_se,
                         "iid": pred["iid"][v].s_cr, "networks": len(cell[v])})  # fmt: skip
        diffs.append((depth, np.asarray(cell["stable"]) - np.asarray(cell["standard"])))
    return rows, diffs


def _scr_figure(cfg: Config, rows: list[dict], ctx: Context) -> None:
    fig, ax = new_figure(width=4.0, height=3.0)
    ax = ax[0, 0]
    for v in ("standard", "stable"):
        sel = [r for r in rows if r["variant"] == v]
        x = np.array([r["depth"] for r in sel])
        color = RESNET_COLORS[v]
        ax.plot(x, [r["finite"] for r in sel], color=color, label=f"{RESNET_LABELS[v]}: finite-width model")
        ax.plot(x, [r["iid"] for r in sel], color=color, ls="--", lw=1.0, label=f"{RESNET_LABELS[v]}: paper's iid model")
        ax.errorbar(x, [r["measured"] for r in sel], yerr=[2 * r["measured_se"] for r in sel], fmt="o", ms=3.5,
                    capsize=2, color=color, label=f"{RESNET_LABELS[v]}: measured")  # fmt: skip
    ax.set_xscale("log")
    ax.minorticks_off()
    xs = sorted({r["depth"] for r in rows})
    ax.set_xticks(xs, [str(d) for d in xs])
    ax.set_xlabel("residual layers L")
    ax.set_ylabel("SNIP critical sparsity $s_{cr}$")
    ax.set_title(f"one-layer-branch ReLU ResNet, width {cfg.scr_width}, batch {cfg.scr_batch}")
    ax.legend(loc="lower left")
    ctx.figure(
        fig, "scr_standard_vs_stable",
        "SNIP's critical sparsity of the standard and the Stable ResNet against depth: measured (mean +- 2 s.e., same "
        "weights for both), the finite-width model (solid, docs/theory.md §8.3) and the paper's iid model (dashed)",
    )  # fmt: skip


def _runs(cfg: Config) -> list[PruneRun]:
    return [
        PruneRun(
            dataset=cfg.dataset, network=replace(cfg.network, depth=depth, stable=stable),
            prune=replace(cfg.prune, sparsity=sparsity), train=cfg.train, seed=seed,
        )
        for depth in cfg.depths
        for sparsity in cfg.sparsities
        for _, stable in _VARIANTS
        for seed in range(cfg.seeds)
    ]  # fmt: skip


def _figure(cfg: Config, acc: dict, ctx: Context) -> None:
    fig, axes = new_figure(ncols=len(cfg.depths), width=3.2, height=2.8, sharey=True)
    x = np.asarray(cfg.sparsities)
    step = float(np.min(np.diff(x))) if len(x) > 1 else 0.01
    for ax, depth in zip(axes[0], cfg.depths):
        for k, (variant, _) in enumerate(_VARIANTS):
            vals = [np.asarray(acc[depth, s, variant]) for s in cfg.sparsities]
            stats = [verdicts.mean_se(v) for v in vals]
            errs = [0.0 if not np.isfinite(se) else 2 * se for _, se in stats]
            shift = (k - 0.5) * 0.15 * step  # side by side
            ax.errorbar(x + shift, [m for m, _ in stats], yerr=errs, marker="o", ms=4, capsize=3,
                        color=RESNET_COLORS[variant], label=_LABELS[variant])  # fmt: skip
            for xi, v in zip(x, vals):
                ax.plot(np.full(len(v), xi + shift), v, ".", color=RESNET_COLORS[variant], ms=3, alpha=0.6)
        ax.set_xticks(x, [f"{s:g}" for s in x])
        ax.set_xlabel("sparsity")
        ax.set_title(f"ResNet{depth} (width x{cfg.network.width_multiplier:g})")
    axes[0, 0].set_ylabel("final test accuracy")
    axes[0, 0].legend(loc="lower left")
    ctx.figure(
        fig,
        "accuracy_standard_vs_stable",
        f"Final test accuracy on {cfg.dataset} after SNIP pruning, standard ResNet vs Stable ResNet (line: mean, "
        "error bars: 2 standard errors over seeds, dots: seeds)",
    )


def summarize(n: dict) -> Summary:
    s = n["setting"]
    t = s["train"]
    setting = [
        f"{s['dataset']}, ResNet depths {nums(s['depths'])} at width x{num(s['network']['width_multiplier'])}; "
        f"SNIP on a class-balanced batch of {s['prune']['batch']} images per class at sparsities "
        f"{nums(s['sparsities'])}; {training(t)}; {s['seeds']} seeds; final test accuracy (not the best epoch)."
    ]
    findings = []
    for c in n["cells"]:
        findings.append(
            f"ResNet{c['depth']} at sparsity {num(c['sparsity'])}: standard {pm(c['standard_mean'], c['standard_se'])}, "
            f"stable {pm(c['stable_mean'], c['stable_se'])}, paired difference {pm(c['diff_mean'], c['diff_se'])}; fully "
            f"pruned layers per run: standard {num(c['standard_collapsed'])}, stable {num(c['stable_collapsed'])}; "
            f"disconnected runs: standard {c['standard_cut']}, stable {c['stable_cut']}; diverged runs: standard "
            f"{c['standard_diverged']}, stable {c['stable_diverged']}."
        )
    findings.append(
        "Advantage of the Stable ResNet averaged over sparsities, per depth: "
        + ", ".join(f"ResNet{d}: {num(v)}" for d, v in n["advantage_by_depth"].items())
        + "."
    )
    findings.append(
        f"SNIP's critical sparsity of the one-layer-branch ReLU ResNet (width {s['scr_width']}, batch {s['scr_batch']}, "
        f"{s['scr_replicas']} networks per depth and seed), measured / finite-width model / paper's iid model: "
        + "; ".join(
            f"L = {r['depth']} {r['variant']}: {pm(r['measured'], r['measured_se'])} / {num(r['finite'])} / {num(r['iid'])}"
            for r in n["scr"]
        )
        + "."
    )
    return Summary(setting, findings)


@register("E5", profiles=PROFILES, summarize=summarize, runs=_runs)
def run(cfg: Config, ctx: Context) -> dict:
    runs = _runs(cfg)
    results = sweep(runs, ctx, "E5 runs")
    acc: dict[tuple, list[float]] = {}
    per_run, cells = [], {}
    for r, res in zip(runs, results):
        variant = "stable" if r.network.stable else "standard"
        key = (r.network.depth, r.prune.sparsity, variant)
        acc.setdefault(key, []).append(res["final_test_acc"])
        cell = cells.setdefault(key, {"collapsed": [], "diverged": 0, "cut": 0})
        cell["collapsed"].append(len(res["collapsed"]))
        cell["diverged"] += bool(res["diverged"])
        cell["cut"] += bool(res["disconnected"])
        per_run.append(
            {
                "model": f"resnet{r.network.depth}", "variant": variant, "sparsity": r.prune.sparsity, "seed": r.seed,
                "final_test_acc": res["final_test_acc"], "best_test_acc": res["best_test_acc"],
                "diverged": res["diverged"], "layers_fully_pruned": len(res["collapsed"]),
                "disconnected": res["disconnected"], "min_layer_keep": min(layer["keep"] for layer in res["layers"]),
                "seconds": round(res["seconds"], 1),
            }
        )  # fmt: skip
    scr_rows, scr_diffs = _scr(cfg, ctx)
    rows, out_cells, pooled = [], [], []
    advantage = {d: np.zeros(cfg.seeds) for d in cfg.depths}  # per seed, mean over sparsities
    for depth in cfg.depths:
        for s in cfg.sparsities:
            std_acc, st_acc = acc[depth, s, "standard"], acc[depth, s, "stable"]
            diff = [b - a for a, b in zip(std_acc, st_acc)]  # paired: same seed, same weights
            pooled += diff
            advantage[depth] += np.asarray(diff) / len(cfg.sparsities)
            (m_std, se_std), (m_st, se_st), (m_d, se_d) = (verdicts.mean_se(v) for v in (std_acc, st_acc, diff))
            c_std, c_st = cells[depth, s, "standard"], cells[depth, s, "stable"]
            out_cells.append(
                {
                    "depth": depth, "sparsity": s, "standard_mean": m_std, "standard_se": se_std, "stable_mean": m_st,
                    "stable_se": se_st, "diff_mean": m_d, "diff_se": se_d,
                    "standard_collapsed": float(np.mean(c_std["collapsed"])),
                    "stable_collapsed": float(np.mean(c_st["collapsed"])), "standard_cut": c_std["cut"],
                    "stable_cut": c_st["cut"], "standard_diverged": c_std["diverged"],
                    "stable_diverged": c_st["diverged"],
                }
            )  # fmt: skip
            rows.append(
                {
                    "model": f"ResNet{depth}", "sparsity": s, "SNIP standard": m_std, "SNIP standard SE": se_std,
                    "SBP-SR stable": m_st, "SBP-SR stable SE": se_st, "stable - standard": m_d,
                    "stable - standard SE": se_d, "fully pruned layers standard": float(np.mean(c_std["collapsed"])),
                    "fully pruned layers stable": float(np.mean(c_st["collapsed"])), "seeds": len(st_acc),
                }
            )  # fmt: skip
    ctx.table(
        rows,
        "accuracy",
        f"E5: final test accuracy (mean and standard error over {cfg.seeds} seed(s)) on {cfg.dataset} after SNIP at the "
        f"given sparsity, standard ResNet vs Stable ResNet (width x{cfg.network.width_multiplier:g}, "
        f"{cfg.train.epochs} epochs); 'fully pruned layers' = mean number of layers whose mask is all zero.",
    )
    ctx.csv(per_run, "runs", "one row per training run (final and best test accuracy, layer collapse)")
    _figure(cfg, acc, ctx)
    ctx.csv(scr_rows, "scr", "SNIP s_cr per depth and variant: measured (mean, s.e.), finite-width and iid predictions")
    _scr_figure(cfg, scr_rows, ctx)
    expectations = [
        verdicts.expect_sign(
            "the Stable ResNet (SBP-SR) reaches higher test accuracy than the standard ResNet under SNIP",
            "paired accuracy difference stable - standard, pooled", pooled, sense="greater",
        )
    ]  # fmt: skip
    if len(cfg.depths) > 1:
        deep, shallow = max(cfg.depths), min(cfg.depths)
        expectations.append(
            verdicts.expect_sign(
                "the Stable ResNet's advantage grows with depth",
                f"advantage at ResNet{deep} minus at ResNet{shallow}, per seed", advantage[deep] - advantage[shallow],
                sense="greater",
            )
        )  # fmt: skip
    for depth, diff in scr_diffs:
        expectations.append(
            verdicts.expect_sign(
                "SNIP keeps a higher critical sparsity on the Stable ResNet than on the standard ResNet",
                f"paired s_cr difference stable - standard, one-layer-branch ResNet L={depth}", diff, sense="greater",
            )
        )  # fmt: skip
    return {
        "setting": asdict(cfg),
        "scr": scr_rows,
        "cells": out_cells,
        "advantage_by_depth": {str(d): float(v.mean()) for d, v in advantage.items()},
        "verdict": verdicts.verdict(expectations),
    }
