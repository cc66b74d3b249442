"""E4: test accuracy with and without the rescaling trick, for an FFNN and a VGG-like CNN.

``docs/theory.md`` §5 and §7.  Every network is initialized on the edge of chaos of its
activation, pruned at initialization by SNIP (global scope, one batch of training
images), then trained twice from the same weights and mask: as pruned, and after
the rescaling trick (:func:`eoc.nn.rescale_`, ``mode="neuron"``: the kept weights of
every neuron / output channel are multiplied by
:math:`\\rho_i = \\|W_i\\| / \\|W_i \\odot \\delta_i\\|`).  The dense network (sparsity 0)
is trained as a reference.  Runs with a fully pruned layer are not trained and count
at chance accuracy; diverged runs count at chance too (both flagged in the table).
The accuracy is the test accuracy after the last epoch.

Expectations: for every model, the paired gain (with minus without the trick, same
weights and mask) pooled over sparsities and seeds is positive.

Models (:class:`~paper_repro.config.ModelSpec`: a label, a dataset, and the network,
initialization and training specs of :mod:`paper_repro.config`):

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
    300, lr 0.005 as in E3 (a deep tanh FFNN does not train at the protocol's 0.1),
    weight decay 1e-4.  VGG19 on CIFAR-10 with
    the standard augmentation (random crop with padding 4, horizontal flip), weight
    decay 5e-4: with BatchNorm at lr 0.1, and without BatchNorm at lr 0.01 (the rate
    of the original VGG, trained without normalization).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

import eoc

from .. import verdicts
from ..config import InitSpec, ModelSpec, NetworkSpec, PruneSpec, TrainSpec
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import new_figure
from ..summary import num, nums, pm, training

#: The quick profile's VGG for 1x8x8 digits: 6 convolutions, 8x8 -> 4x4 -> 2x2.
SMALL_VGG = (16, 16, "M", 32, 32, "M", 64, 64)
#: (key, legend, colour) of the two bars of every sparsity.
BARS = (("without", "pruned", "#7f7f7f"), ("with", "pruned + rescaled", "#2ca02c"))


def _train(**kw) -> TrainSpec:
    """The training of every quick-profile model: 10 epochs, batch 64, final accuracy only."""
    return TrainSpec(epochs=10, batch_size=64, eval_every_epoch=False, **kw)


def _train_full(**kw) -> TrainSpec:
    """The usual protocol of the full profile: 160 epochs, batch 128."""
    return TrainSpec(epochs=160, batch_size=128, eval_every_epoch=False, **kw)


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E4 (module docstring).

    Attributes
    ----------
    models : tuple of ModelSpec
    sparsities : tuple of float
        Pruned sparsities; the dense network is always trained as a reference.
    prune : PruneSpec
        Method and scoring batch (sparsity and rescaling swept).
    rescale_mode : str
    seeds : int
    """

    SWEPT = {"prune.sparsity": "sparsities", "prune.rescale": "rescale_mode"}

    models: tuple = (
        ModelSpec(label="FFNN", dataset="digits", network=NetworkSpec(arch="ffnn", depth=20, width=64, activation="tanh"),
                  init=InitSpec(sigma_b=0.2), train=_train(lr=0.005, weight_decay=1e-4)),
        ModelSpec(label="VGG (no BN)", dataset="digits", network=NetworkSpec(arch="vgg", vgg=SMALL_VGG),
                  train=_train(lr=0.01, weight_decay=5e-4)),
        ModelSpec(label="VGG (BN)", dataset="digits", network=NetworkSpec(arch="vgg", vgg=SMALL_VGG, batch_norm=True),
                  train=_train(lr=0.1, weight_decay=5e-4)),
    )
    sparsities: tuple = (0.5, 0.8, 0.9)
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(method="snip", batch=128))
    rescale_mode: str = "neuron"
    seeds: int = 3


PROFILES = {
    "quick": Config(),
    "full": Config(
        models=(
            ModelSpec(label="FFNN (MNIST)", dataset="mnist",
                      network=NetworkSpec(arch="ffnn", depth=50, width=300, activation="tanh"),
                      init=InitSpec(sigma_b=0.2), train=_train_full(lr=0.005, weight_decay=1e-4)),
            ModelSpec(label="VGG19 (no BN)", dataset="cifar10", network=NetworkSpec(arch="vgg", vgg="vgg19"),
                      train=_train_full(lr=0.01, weight_decay=5e-4, augment=True)),
            ModelSpec(label="VGG19 (BN)", dataset="cifar10", network=NetworkSpec(arch="vgg", vgg="vgg19", batch_norm=True),
                      train=_train_full(lr=0.1, weight_decay=5e-4, augment=True)),
        ),
        sparsities=(0.9, 0.95, 0.98),
    ),
}  # fmt: skip


def _run_config(cfg: Config, spec: ModelSpec, sparsity: float, rescale: bool, seed: int) -> PruneRun:
    prune = replace(cfg.prune, sparsity=sparsity, rescale=cfg.rescale_mode if rescale else None)
    return PruneRun(dataset=spec.dataset, network=spec.network, init=spec.init, prune=prune, train=spec.train, seed=seed)


def _stats(rs: list[dict]) -> dict:
    mean, se = verdicts.mean_se([r["final_test_acc"] for r in rs])
    return {
        "mean": mean,
        "se": se,
        "flags": sum(bool(r["collapsed"]) for r in rs) + sum(bool(r["diverged"]) for r in rs),
    }


def _plot(cfg: Config, ctx: Context, rows: list[dict], results: dict) -> None:
    fig, axes = new_figure(ncols=len(cfg.models), width=3.0, height=2.8, sharey=True)
    x = np.arange(len(cfg.sparsities))
    for ax, spec in zip(axes[0], cfg.models):
        sel = [r for r in rows if r["model"] == spec.label]
        for k, (key, label, color) in enumerate(BARS):
            pos = x + (k - 0.5) * 0.38
            ax.bar(
                pos, [r[f"acc_{key}"] for r in sel], 0.38, yerr=[2 * r[f"se_{key}"] for r in sel], color=color,
                capsize=2, label=label,
            )  # fmt: skip
            for p, sparsity in zip(pos, cfg.sparsities):
                accs = [results[(spec.label, sparsity, key == "with", s)]["final_test_acc"] for s in range(cfg.seeds)]
                ax.plot([p] * cfg.seeds, accs, "o", color="k", ms=2, label="seeds" if k == 0 and p == pos[0] else None)
        ax.axhline(sel[0]["dense_acc"], color="k", ls="--", lw=0.8, label="dense")
        ax.set_xticks(x, [f"{s:g}" for s in cfg.sparsities])
        ax.set_xlabel("sparsity")
        ax.set_title(spec.label)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].set_ylim(0, 1.05)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.13))
    ctx.figure(
        fig,
        "rescaling",
        "test accuracy after SNIP without and with the rescaling trick (bars: mean +- 2 standard errors over seeds, "
        "dots: seeds); dashed: dense network",
    )


def summarize(n: dict) -> Summary:
    s = n["setting"]
    setting = [
        f"{s['prune']['method']} (global, batch {s['prune']['batch']}) at sparsities {nums(s['sparsities'])}, "
        f"rescaling mode {s['rescale_mode']}, {s['seeds']} seeds.",
        *[
            f"{m['label']}: {m['dataset']}, {m['network']['arch']} ({m['network']['activation']}, sigma_b = "
            f"{num(m['init']['sigma_b'])}, on its EOC), {training(m['train'])}."
            for m in s["models"]
        ],
    ]
    findings = []
    for label, rows in n["models"].items():
        findings.append(
            f"{label} (dense {num(rows[0]['dense_acc'])}): "
            + "; ".join(
                f"s={num(r['sparsity'])}: {pm(r['acc_without'], r['se_without'])} without, "
                f"{pm(r['acc_with'], r['se_with'])} with (paired gain {pm(r['gain'], r['gain_se'])}, positive in "
                f"{r['gain_positive_seeds']} of {r['seeds']} seeds, mean rescaling factor {num(r['rho_mean'])})"
                for r in rows
            )
            + "."
        )
    findings.append(f"Runs with a fully pruned layer or a diverged loss (counted at chance): {n['flagged']}.")
    relu = n.get("relu_context")
    if relu:
        findings.append(
            "Context for the ReLU rows (a property of the theory, not a fit): with sigma_b = 0 the ReLU correlation "
            f"map does not depend on sigma_w (f({num(relu['c'])}) = {relu['f_at_sigma_w'][0]:.6f} at sigma_w = "
            f"{num(relu['sigma_w'][0])} and {relu['f_at_sigma_w'][1]:.6f} at {num(relu['sigma_w'][1])}), so in the "
            "mean-field picture pruning without rescaling only shrinks the signal variance layer by layer; with "
            "BatchNorm even the variance is renormalized."
        )
    return Summary(setting, findings)


def _tagged(cfg: Config) -> tuple[list[tuple], list[PruneRun]]:
    """``(keys, runs)``: every (model, sparsity, rescale, seed), the dense reference first, and its run."""
    keys, configs = [], []
    for spec in cfg.models:
        for seed in range(cfg.seeds):
            keys.append((spec.label, 0.0, False, seed))
            configs.append(_run_config(cfg, spec, 0.0, False, seed))
            for sparsity in cfg.sparsities:
                for rescale in (False, True):
                    keys.append((spec.label, sparsity, rescale, seed))
                    configs.append(_run_config(cfg, spec, sparsity, rescale, seed))
    return keys, configs


@register("E4", profiles=PROFILES, summarize=summarize, runs=lambda cfg: _tagged(cfg)[1])
def run(cfg: Config, ctx: Context) -> dict:
    keys, configs = _tagged(cfg)
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
    rows, expectations, by_model = [], [], {}
    for spec in cfg.models:
        dense = _stats([results[(spec.label, 0.0, False, s)] for s in range(cfg.seeds)])
        gains = []
        for sparsity in cfg.sparsities:
            plain = [results[(spec.label, sparsity, False, s)] for s in range(cfg.seeds)]
            scaled = [results[(spec.label, sparsity, True, s)] for s in range(cfg.seeds)]
            a, b = _stats(plain), _stats(scaled)
            diff = [y["final_test_acc"] - x["final_test_acc"] for x, y in zip(plain, scaled)]
            gains += diff
            gain, gain_se = verdicts.mean_se(diff)
            rows.append(
                {
                    "model": spec.label, "sparsity": sparsity, "dense_acc": dense["mean"],
                    "acc_without": a["mean"], "se_without": a["se"], "acc_with": b["mean"], "se_with": b["se"],
                    "gain": gain, "gain_se": gain_se, "gain_positive_seeds": int(np.sum(np.array(diff) > 0)),
                    "seeds": cfg.seeds, "flagged_without": a["flags"], "flagged_with": b["flags"],
                    "rho_mean": float(np.mean([r["rho_mean"] for r in scaled])),
                }
            )  # fmt: skip
        by_model[spec.label] = [r for r in rows if r["model"] == spec.label]
        expectations.append(
            verdicts.expect_sign(
                f"{spec.label}: the rescaling trick raises the test accuracy of the pruned network",
                f"paired gain, {spec.label}, pooled over sparsities and seeds", gains, sense="greater",
            )
        )  # fmt: skip
    ctx.table(
        rows,
        "rescaling",
        f"test accuracy (mean and standard error over {cfg.seeds} seeds) after SNIP at each sparsity, without and "
        "with the rescaling trick (same initial weights and mask); gain: paired difference with - without; flagged: "
        "seeds with a fully pruned layer or a diverged run (counted at chance); rho_mean: mean rescaling factor",
    )
    _plot(cfg, ctx, rows, results)
    numbers = {
        "setting": asdict(cfg),
        "models": by_model,
        "flagged": int(sum(r["flagged_without"] + r["flagged_with"] for r in rows)),
        "verdict": verdicts.verdict(expectations),
    }
    if any(m.network.activation == "relu" and m.init.sigma_b == 0 for m in cfg.models):
        sws = (1.0, float(np.sqrt(2.0)))
        numbers["relu_context"] = {
            "c": 0.5, "sigma_w": sws, "f_at_sigma_w": [float(eoc.correlation_map(0.5, "relu", w, 0.0)) for w in sws],
        }  # fmt: skip
    return numbers
