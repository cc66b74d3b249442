"""E4: test accuracy with and without the rescaling trick, for an FFNN and a VGG-like CNN.

THEORY.md sections 5 and 7.  Every network is initialized on the edge of chaos of its
activation, pruned at initialization by SNIP (global scope, one batch of training
images), then trained twice from the same weights and mask: as pruned, and after
the rescaling trick (:func:`eoc.nn.rescale_`, ``mode="neuron"``: the kept weights of
every neuron / output channel are multiplied by
:math:`\\rho_i = \\|W_i\\| / \\|W_i \\odot \\delta_i\\|`).  The dense network (sparsity 0)
is trained as a reference.  Runs with a fully pruned layer are not trained and count
at chance accuracy; diverged runs count at chance too (both flagged in the table).
The accuracy is the test accuracy after the last epoch.

Models (:class:`ModelSpec`):

* FFNN: tanh, sigma_b = 0.2, sigma_w = :func:`eoc.edge_of_chaos` ``("tanh", 0.2)`` = 1.3041.
* VGG-like CNN (:class:`eoc.nn.VGG`: 3x3 convolutions, max-pools, global average
  pooling, linear classifier), ReLU on its EOC (sigma_w = sqrt 2, sigma_b = 0, i.e.
  He initialization), without and with BatchNorm.  With BatchNorm after every
  convolution the forward pass is invariant to a positive factor per output channel,
  so the rescaling trick cannot change the signal propagation at initialization and
  acts only through the optimizer (the effective step size of each channel); without
  BatchNorm it restores the variance the theory is about.  Both are reported.

Profiles
--------
quick
    digits (1x8x8).  FFNN depth 20 (19 hidden layers of width 64), lr 0.005 (as E3),
    weight decay 1e-4; VGG ``(16, 16, M, 32, 32, M, 64, 64)`` without BatchNorm (lr 0.01)
    and with it (lr 0.1), weight decay 5e-4.  Sparsities (0.5, 0.8, 0.9), 10 epochs,
    batch 64, SGD momentum 0.9, step decay /10 at 50 % and 75 %, SNIP batch 128,
    3 seeds.
full
    The usual protocol: 160 epochs, batch 128, momentum 0.9, step decay /10 at 50 %
    and 75 %, 3 seeds, sparsities (0.9, 0.95, 0.98).  FFNN on MNIST: depth 50, width
    300, lr 0.005 as in E3 (not the protocol's 0.1: on digits a dense tanh FFNN of depth
    40 already fails to train at lr 0.02), weight decay 1e-4.  VGG19 on CIFAR-10 with
    the standard augmentation (random crop with padding 4, horizontal flip), weight
    decay 5e-4: with BatchNorm at lr 0.1, and without BatchNorm at lr 0.01 (the rate
    of the original VGG, trained without normalization).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import eoc

from ..registry import Context, register
from ..runs import PruneRun, sweep
from ..style import new_figure
from ..train import TrainConfig

#: The quick profile's VGG for 1x8x8 digits: 6 convolutions, 8x8 -> 4x4 -> 2x2.
SMALL_VGG = (16, 16, "M", 32, 32, "M", 64, 64)
#: (key, legend, colour) of the two bars of every sparsity.
BARS = (("without", "pruned", "#7f7f7f"), ("with", "pruned + rescaled", "#2ca02c"))

CLAIM = (
    "Pruning moves a network initialized on the edge of chaos into the ordered phase; the rescaling trick puts "
    "it back on the EOC and improves the test accuracy of pruned FFNNs and CNNs."
)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the table and how it is trained.

    Attributes
    ----------
    label : str
        Row label.
    dataset : str
    arch : {"ffnn", "vgg"}
    activation : str
        Initialized on its EOC at ``sigma_b``.
    sigma_b : float
    lr, weight_decay : float
        SGD.
    depth, width : int
        FFNN only.
    vgg : tuple or str
        VGG only: channel counts and "M", or a name of :data:`eoc.nn.VGG_CONFIGS`.
    batch_norm : bool
        VGG only.
    augment : bool
        Random crop and flip of training batches.
    """

    label: str
    dataset: str
    arch: str
    activation: str
    sigma_b: float
    lr: float
    weight_decay: float
    depth: int = 0
    width: int = 0
    vgg: tuple | str = ()
    batch_norm: bool = False
    augment: bool = False


@dataclass(frozen=True)
class Config:
    """Settings of E4 (module docstring).

    Attributes
    ----------
    models : tuple of ModelSpec
    sparsities : tuple of float
        Pruned sparsities; the dense network is always trained as a reference.
    epochs, batch_size : int
    momentum : float
    milestones : tuple of float
        Fractions of training where the learning rate is divided by 10.
    prune_batch : int
    method : str
        Pruning method (SNIP by default).
    seeds : int
        ``ctx.seeds`` overrides.
    """

    models: tuple = (
        ModelSpec("FFNN", "digits", "ffnn", "tanh", 0.2, lr=0.005, weight_decay=1e-4, depth=20, width=64),
        ModelSpec("VGG (no BN)", "digits", "vgg", "relu", 0.0, lr=0.01, weight_decay=5e-4, vgg=SMALL_VGG),
        ModelSpec("VGG (BN)", "digits", "vgg", "relu", 0.0, lr=0.1, weight_decay=5e-4, vgg=SMALL_VGG, batch_norm=True),
    )
    sparsities: tuple = (0.5, 0.8, 0.9)
    epochs: int = 10
    batch_size: int = 64
    momentum: float = 0.9
    milestones: tuple = (0.5, 0.75)
    prune_batch: int = 128
    method: str = "snip"
    seeds: int = 3


PROFILES = {
    "quick": Config(),
    "full": Config(
        models=(
            ModelSpec("FFNN (MNIST)", "mnist", "ffnn", "tanh", 0.2, lr=0.005, weight_decay=1e-4, depth=50, width=300),
            ModelSpec("VGG19 (no BN)", "cifar10", "vgg", "relu", 0.0, lr=0.01, weight_decay=5e-4, vgg="vgg19",
                      augment=True),
            ModelSpec("VGG19 (BN)", "cifar10", "vgg", "relu", 0.0, lr=0.1, weight_decay=5e-4, vgg="vgg19",
                      batch_norm=True, augment=True),
        ),
        sparsities=(0.9, 0.95, 0.98),
        epochs=160,
        batch_size=128,
    ),
}  # fmt: skip


def _run_config(cfg: Config, spec: ModelSpec, sparsity: float, rescale: bool, seed: int) -> PruneRun:
    tc = TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=spec.lr, momentum=cfg.momentum,
        weight_decay=spec.weight_decay, milestones=tuple(cfg.milestones), augment=spec.augment,
        eval_every_epoch=False, seed=seed,
    )  # fmt: skip
    return PruneRun(
        spec.dataset, spec.arch, seed, depth=spec.depth, width=spec.width, vgg=spec.vgg, batch_norm=spec.batch_norm,
        activation=spec.activation, sigma_b=spec.sigma_b, method=cfg.method, sparsity=sparsity,
        batch=cfg.prune_batch, rescale="neuron" if rescale else None, train=tc,
    )  # fmt: skip


def _stats(rs: list[dict]) -> dict:
    acc = np.array([r["final_test_acc"] for r in rs])
    return {
        "mean": float(acc.mean()),
        "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        "flags": sum(bool(r["collapsed"]) for r in rs) + sum(bool(r["diverged"]) for r in rs),
    }


@register(
    "E4",
    title="The rescaling trick: accuracy with and without it, FFNN and VGG-like CNN",
    claim=CLAIM,
    profiles=PROFILES,
    needs_torch=True,
)
def run(cfg: Config, ctx: Context) -> None:
    seeds = ctx.seeds or cfg.seeds
    keys, configs = [], []
    for spec in cfg.models:
        for seed in range(seeds):
            keys.append((spec.label, 0.0, False, seed))
            configs.append(_run_config(cfg, spec, 0.0, False, seed))
            for sparsity in cfg.sparsities:
                for rescale in (False, True):
                    keys.append((spec.label, sparsity, rescale, seed))
                    configs.append(_run_config(cfg, spec, sparsity, rescale, seed))
    results = dict(zip(keys, sweep(configs, ctx, "E4 runs")))
    ctx.csv(
        [
            {"model": label, "sparsity": sparsity, "rescale": rescale, "seed": seed, "test_acc": r["final_test_acc"],
             "collapsed": len(r["collapsed"]), "diverged": r["diverged"], "rho_mean": r["rho_mean"]}
            for (label, sparsity, rescale, seed), r in results.items()
        ],  # fmt: skip
        "runs",
        "every run: model, sparsity, rescaling, seed, final test accuracy, fully pruned layers, divergence",
    )
    rows = []
    for spec in cfg.models:
        dense = _stats([results[(spec.label, 0.0, False, s)] for s in range(seeds)])
        for sparsity in cfg.sparsities:
            plain = [results[(spec.label, sparsity, False, s)] for s in range(seeds)]
            scaled = [results[(spec.label, sparsity, True, s)] for s in range(seeds)]
            a, b = _stats(plain), _stats(scaled)
            diff = np.array([y["final_test_acc"] - x["final_test_acc"] for x, y in zip(plain, scaled)])
            rows.append(
                {
                    "model": spec.label, "sparsity": sparsity, "dense_acc": dense["mean"],
                    "acc_without": a["mean"], "std_without": a["std"],
                    "acc_with": b["mean"], "std_with": b["std"],
                    "gain": float(diff.mean()), "gain_std": float(diff.std(ddof=1)) if seeds > 1 else 0.0,
                    "gain_positive_seeds": int(np.sum(diff > 0)), "seeds": seeds,
                    "flagged_without": a["flags"], "flagged_with": b["flags"],
                    "rho_mean": float(np.mean([r["rho_mean"] for r in scaled])),
                }
            )  # fmt: skip
    ctx.table(
        rows,
        "rescaling",
        f"test accuracy (mean, std over {seeds} seeds) after SNIP at each sparsity, without and with the rescaling "
        "trick (same initial weights and mask); gain: paired difference with - without; flagged: seeds with a "
        "fully pruned layer or a diverged run (counted at chance); rho_mean: mean rescaling factor",
    )
    _plot(cfg, ctx, rows, results, seeds)
    _summarize(cfg, ctx, rows, seeds)


def _plot(cfg: Config, ctx: Context, rows: list[dict], results: dict, seeds: int) -> None:
    fig, axes = new_figure(ncols=len(cfg.models), width=3.0, height=2.8, sharey=True)
    x = np.arange(len(cfg.sparsities))
    for ax, spec in zip(axes[0], cfg.models):
        sel = [r for r in rows if r["model"] == spec.label]
        for k, (key, label, color) in enumerate(BARS):
            pos = x + (k - 0.5) * 0.38
            ax.bar(
                pos, [r[f"acc_{key}"] for r in sel], 0.38, yerr=[r[f"std_{key}"] for r in sel], color=color,
                capsize=2, label=label,
            )  # fmt: skip
            for p, sparsity in zip(pos, cfg.sparsities):
                accs = [results[(spec.label, sparsity, key == "with", s)]["final_test_acc"] for s in range(seeds)]
                ax.plot([p] * seeds, accs, "o", color="k", ms=2, label="seeds" if k == 0 and p == pos[0] else None)
        ax.axhline(sel[0]["dense_acc"], color="k", ls="--", lw=0.8, label="dense")
        ax.set_xticks(x, [f"{s:g}" for s in cfg.sparsities])
        ax.set_xlabel("sparsity")
        ax.set_title(spec.label)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].set_ylim(0, 1.05)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, bbox_to_anchor=(0.5, -0.13))
    ctx.figure(
        fig,
        "rescaling",
        f"test accuracy after SNIP without and with the rescaling trick (bars: mean +- std over seeds, dots: "
        f"seeds), {cfg.epochs} epochs; dashed: dense network",
    )


def _summarize(cfg: Config, ctx: Context, rows: list[dict], seeds: int) -> None:
    findings = [
        f"Protocol: {cfg.method} (global) at sparsities {list(cfg.sparsities)}, {cfg.epochs} epochs SGD (batch "
        f"{cfg.batch_size}, momentum {cfg.momentum}, /10 at {list(cfg.milestones)} of training), {seeds} seeds; "
        + "; ".join(
            f"{m.label}: {m.dataset}, {m.activation} on its EOC, lr {m.lr}, weight decay {m.weight_decay}"
            for m in cfg.models
        )
        + "."
    ]
    verdicts = {}
    for spec in cfg.models:
        sel = [r for r in rows if r["model"] == spec.label]
        findings.append(
            f"{spec.label} (dense {sel[0]['dense_acc']:.3f}): "
            + "; ".join(
                f"s={r['sparsity']:g}: {r['acc_without']:.3f} +- {r['std_without']:.3f} without, {r['acc_with']:.3f} "
                f"+- {r['std_with']:.3f} with (gain {r['gain']:+.3f} +- {r['gain_std']:.3f}, positive in "
                f"{r['gain_positive_seeds']}/{seeds} seeds, rho {r['rho_mean']:.2f})"
                for r in sel
            )
            + "."
        )
        # A gain counts when its mean exceeds twice its standard error over the paired seeds.
        se = [r["gain_std"] / np.sqrt(seeds) for r in sel]
        up = sum(r["gain"] > max(2 * e, 0.01) for r, e in zip(sel, se))
        down = sum(r["gain"] < -max(2 * e, 0.01) for r, e in zip(sel, se))
        verdicts[spec.label] = (up, down, len(sel))
    flagged = sum(r["flagged_without"] + r["flagged_with"] for r in rows)
    findings.append(f"Runs with a fully pruned layer or a diverged loss (counted at chance): {flagged}.")
    if any(m.activation == "relu" and m.sigma_b == 0 for m in cfg.models):
        findings.append(
            "Context for the ReLU rows (a property of the theory, not a fit): with sigma_b = 0 the ReLU correlation "
            f"map does not depend on sigma_w (f(0.5) = {float(eoc.correlation_map(0.5, 'relu', 1.0, 0.0)):.6f} at "
            f"sigma_w = 1 and {float(eoc.correlation_map(0.5, 'relu', np.sqrt(2.0), 0.0)):.6f} at sqrt 2), so in the "
            "mean-field picture pruning without rescaling only shrinks the signal variance layer by layer and "
            "leaves the correlation propagation of THEORY.md section 5 unchanged; with BatchNorm even the variance "
            "is renormalized."
        )
    parts = [
        f"{label}: rescaling better in {up}, worse in {down}, indistinguishable in {n - up - down} of {n} sparsities"
        for label, (up, down, n) in verdicts.items()
    ]
    helps = [label for label, (up, down, _) in verdicts.items() if up > 0 and down == 0]
    hurts = [label for label, (up, down, _) in verdicts.items() if down > 0]
    if len(helps) == len(verdicts):
        head = "Supported"
    elif helps:
        head = "Partly supported"
    else:
        head = "Not supported by these numbers"
    verdict = (
        f"{head}. A difference counts when the mean paired gain exceeds 2 standard errors and 0.01: "
        + "; ".join(parts)
        + "."
        + (f" Rescaling hurts {', '.join(hurts)} somewhere; see the findings." if hurts else "")
    )
    ctx.summary(CLAIM, findings, verdict)
