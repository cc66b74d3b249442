"""E3: trainability of pruned deep FFNNs over (depth, sparsity): EOC vs ordered, +- rescaling.

THEORY.md sections 5 and 7.  Tanh FFNNs ``d - N x (L-1) - 10`` (``L`` linear layers,
sigma_b = 0.2) are initialized on the edge of chaos (sigma_w = :func:`eoc.edge_of_chaos`
``("tanh", 0.2)`` = 1.3041) or in the ordered phase (0.8 x EOC, chi_1 = 0.82, as in E1
and E2), pruned at initialization by SNIP (global scope, one batch of training images),
optionally rescaled by the rescaling trick (:func:`eoc.nn.rescale_`, ``mode="neuron"``),
then trained with SGD.  Sparsity 0 is the dense network (not pruned, not rescaled).
A run in which some layer is fully pruned is not trained: it is recorded as collapsed,
with chance accuracy 1/10.  A run whose loss becomes non-finite is recorded as
diverged, also with chance accuracy (:func:`paper_repro.train.train`).  The accuracy
is the test accuracy after the last epoch (no selection on the test set).

Outputs: four heatmaps of mean test accuracy over (depth, sparsity), one per
(initialization, rescaling), collapsed cells marked; two difference maps (rescaling
on the EOC; EOC against ordered, both unrescaled); the table of every cell.

Profiles
--------
quick
    digits (d = 64), width 64, depths (5, 20, 40), sparsities (0, 0.5, 0.8, 0.9),
    10 epochs, batch 64, lr 0.005 (chosen on the dense EOC network of depth 40, among
    0.002-0.02, before any pruned run), momentum 0.9, weight decay 1e-4, step decay
    /10 at 50 % and 75 % of training, SNIP batch 128, 2 seeds.
full
    MNIST (d = 784), width 100, depths (10, 25, 50, 75, 100), sparsities (0, 0.5, 0.8,
    0.9, 0.95, 0.98), 20 epochs, batch 128, otherwise as quick, 3 seeds.

Every run is a :class:`paper_repro.runs.PruneRun` (prune, rescale, train one network),
run through the run cache by :func:`paper_repro.runs.sweep`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import eoc

from ..registry import Context, register
from ..runs import PruneRun, sweep
from ..style import new_figure
from ..train import TrainConfig

CLAIM = (
    "Deep FFNNs pruned at initialization by SNIP train well only when initialized on the edge of chaos and "
    "rescaled after pruning (the rescaling trick puts the pruned network back on the EOC); ordered-phase "
    "initialization, or EOC without rescaling, loses accuracy as depth and sparsity grow."
)

INITS = ("edge_of_chaos", "ordered")
#: sigma_w / sigma_w(EOC) of each initialization (chi_1 = 0.82 in the ordered phase).
INIT_FACTORS = {"edge_of_chaos": 1.0, "ordered": 0.8}


@dataclass(frozen=True)
class Config:
    """Settings of E3 (module docstring).

    Attributes
    ----------
    dataset : str
    width : int
    depths : tuple of int
        Numbers of linear layers L.
    sparsities : tuple of float
        0 is the dense baseline.
    sigma_b : float
    epochs, batch_size : int
    lr, momentum, weight_decay : float
        SGD; step decay /10 at 50 % and 75 % of training.
    prune_batch : int
        Images scored by SNIP.
    method : str
        Pruning method (SNIP by default).
    seeds : int
        Seeds per cell (``ctx.seeds`` overrides).
    """

    dataset: str = "digits"
    width: int = 64
    depths: tuple = (5, 20, 40)
    sparsities: tuple = (0.0, 0.5, 0.8, 0.9)
    sigma_b: float = 0.2
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    prune_batch: int = 128
    method: str = "snip"
    seeds: int = 2


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="mnist", width=100, depths=(10, 25, 50, 75, 100), sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98),
        epochs=20, batch_size=128, seeds=3,
    ),
}  # fmt: skip

#: The four panels: (initialization, rescaling trick).
PANELS = tuple((init, rescale) for init in INITS for rescale in (False, True))


def _label(init: str, rescale: bool) -> str:
    return f"{'EOC' if init == 'edge_of_chaos' else 'ordered'}{' + rescaling' if rescale else ''}"


@register(
    "E3",
    title="Trainability of pruned deep FFNNs: EOC vs ordered, with and without rescaling",
    claim=CLAIM,
    profiles=PROFILES,
    needs_torch=True,
)
def run(cfg: Config, ctx: Context) -> None:
    if not any(s > 0 for s in cfg.sparsities):
        raise ValueError(f"E3 needs a sparsity > 0, got sparsities={cfg.sparsities!r}")
    seeds = ctx.seeds or cfg.seeds
    w_eoc = float(eoc.edge_of_chaos("tanh", cfg.sigma_b))
    keys, configs = [], []
    for init, rescale in PANELS:
        for depth in cfg.depths:
            for sparsity in cfg.sparsities:
                for seed in range(seeds):
                    tc = TrainConfig(
                        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum,
                        weight_decay=cfg.weight_decay, eval_every_epoch=False, seed=seed,
                    )  # fmt: skip
                    keys.append((init, rescale, depth, sparsity, seed))
                    configs.append(
                        PruneRun(
                            cfg.dataset, "ffnn", seed, depth=depth, width=cfg.width, activation="tanh",
                            sigma_b=cfg.sigma_b, sigma_w_factor=INIT_FACTORS[init], method=cfg.method,
                            sparsity=sparsity, batch=cfg.prune_batch,
                            rescale="neuron" if rescale and sparsity > 0 else None, train=tc,
                        )
                    )  # fmt: skip
    results = dict(zip(keys, sweep(configs, ctx, "E3 runs")))
    ctx.csv(
        [
            {"init": init, "rescale": rescale, "depth": depth, "sparsity": sparsity, "seed": seed,
             "test_acc": r["final_test_acc"], "collapsed": len(r["collapsed"]), "diverged": r["diverged"],
             "density": r["density"], "rho_mean": r["rho_mean"]}
            for (init, rescale, depth, sparsity, seed), r in results.items()
            if not (rescale and sparsity == 0)
        ],  # fmt: skip
        "runs",
        "every run: initialization, rescaling, depth, sparsity (0: dense, shared by both rescaling panels), seed, "
        "final test accuracy, number of fully pruned layers",
    )
    cells = []
    for init, rescale in PANELS:
        for depth in cfg.depths:
            for sparsity in cfg.sparsities:
                rs = [results[(init, rescale, depth, sparsity, s)] for s in range(seeds)]
                acc = np.array([r["final_test_acc"] for r in rs])
                cells.append(
                    {
                        "init": init, "rescale": rescale, "depth": depth, "sparsity": sparsity,
                        "acc_mean": float(acc.mean()), "acc_std": float(acc.std(ddof=1)) if seeds > 1 else 0.0,
                        "seeds": seeds, "collapsed": sum(bool(r["collapsed"]) for r in rs),
                        "diverged": sum(bool(r["diverged"]) for r in rs),
                        "rho_mean": float(np.mean([r["rho_mean"] for r in rs])), "chance": rs[0]["chance"],
                    }
                )  # fmt: skip
    ctx.table(
        cells,
        "accuracy_grid",
        f"test accuracy (mean and std over {seeds} seeds) of {cfg.method}-pruned tanh FFNNs of width {cfg.width} on "
        f"{cfg.dataset}; collapsed/diverged: number of seeds with a fully pruned layer (not trained, chance "
        "accuracy) or a non-finite loss; rho_mean: mean rescaling factor",
    )
    _heatmaps(cfg, ctx, cells)
    _differences(cfg, ctx, cells)
    _summarize(cfg, ctx, cells, seeds, w_eoc)


def _grid(cfg: Config, cells: list[dict], init: str, rescale: bool, key: str = "acc_mean") -> np.ndarray:
    by = {(c["depth"], c["sparsity"]): c[key] for c in cells if c["init"] == init and c["rescale"] == rescale}
    return np.array([[by[(d, s)] for s in cfg.sparsities] for d in cfg.depths], dtype=float)


def _axes_labels(ax, cfg: Config) -> None:
    ax.set_xticks(range(len(cfg.sparsities)), [f"{s:g}" for s in cfg.sparsities])
    ax.set_yticks(range(len(cfg.depths)), [str(d) for d in cfg.depths])
    ax.set_xlabel("sparsity")
    ax.grid(False)


def _heatmaps(cfg: Config, ctx: Context, cells: list[dict]) -> None:
    fig, axes = new_figure(ncols=4, width=2.6, height=2.6, sharey=True)
    for ax, (init, rescale) in zip(axes[0], PANELS):
        acc = _grid(cfg, cells, init, rescale)
        collapsed = _grid(cfg, cells, init, rescale, "collapsed")
        im = ax.imshow(acc, origin="lower", cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for i in range(len(cfg.depths)):
            for j in range(len(cfg.sparsities)):
                text = f"{acc[i, j]:.2f}" + ("\nC" if collapsed[i, j] else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color="w" if acc[i, j] < 0.6 else "k")
        ax.set_title(_label(init, rescale))
        _axes_labels(ax, cfg)
    axes[0, 0].set_ylabel("depth L")
    fig.colorbar(im, ax=axes[0].tolist(), label="test accuracy", shrink=0.9)
    ctx.figure(
        fig,
        "accuracy_heatmaps",
        f"mean test accuracy of {cfg.method}-pruned tanh FFNNs (width {cfg.width}, {cfg.dataset}, {cfg.epochs} "
        "epochs) over depth and sparsity; C: some seed had a fully pruned layer (counted at chance accuracy)",
    )


def _differences(cfg: Config, ctx: Context, cells: list[dict]) -> None:
    diffs = {
        "rescaling on the EOC:\n(EOC + rescaling) - EOC": _grid(cfg, cells, "edge_of_chaos", True)
        - _grid(cfg, cells, "edge_of_chaos", False),
        "initialization, no rescaling:\nEOC - ordered": _grid(cfg, cells, "edge_of_chaos", False)
        - _grid(cfg, cells, "ordered", False),
    }
    lim = max(0.05, max(float(np.abs(d).max()) for d in diffs.values()))
    fig, axes = new_figure(ncols=2, width=3.2, height=2.8, sharey=True)
    for ax, (title, d) in zip(axes[0], diffs.items()):
        im = ax.imshow(d, origin="lower", cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(len(cfg.depths)):
            for j in range(len(cfg.sparsities)):
                color = "w" if abs(d[i, j]) > 0.6 * lim else "k"
                ax.text(j, i, f"{d[i, j]:+.2f}", ha="center", va="center", fontsize=7, color=color)
        ax.set_title(title, fontsize=8)
        _axes_labels(ax, cfg)
    axes[0, 0].set_ylabel("depth L")
    fig.colorbar(im, ax=axes[0].tolist(), label="accuracy difference", shrink=0.9)
    ctx.figure(fig, "accuracy_differences", "differences of mean test accuracy between panels of accuracy_heatmaps")


def _summarize(cfg: Config, ctx: Context, cells: list[dict], seeds: int, w_eoc: float) -> None:
    cols = [j for j, s in enumerate(cfg.sparsities) if s > 0]
    pruned = [cfg.sparsities[j] for j in cols]
    acc = {panel: _grid(cfg, cells, *panel)[:, cols] for panel in PANELS}
    gain_r = acc[("edge_of_chaos", True)] - acc[("edge_of_chaos", False)]
    gain_i = acc[("edge_of_chaos", False)] - acc[("ordered", False)]
    best = np.max(np.stack(list(acc.values())), axis=0)
    # Cells where no variant gets clear of chance say nothing about which variant is best.
    alive = best > cells[0]["chance"] + 0.05
    wins = int(np.sum((acc[("edge_of_chaos", True)] >= best - 0.02) & alive))
    n_alive = int(alive.sum())
    dead = ", ".join(f"(L={cfg.depths[i]}, s={pruned[j]:g})" for i, j in zip(*np.nonzero(~alive)))
    deep = cfg.depths[-1]
    collapsed = {p: sum(c["collapsed"] for c in cells if (c["init"], c["rescale"]) == p) for p in PANELS}

    def at_depth(g: np.ndarray) -> str:
        return ", ".join(f"s={s:g}: {v:+.3f}" for s, v in zip(pruned, g[-1]))

    findings = [
        f"Setting: tanh FFNN width {cfg.width} on {cfg.dataset}, sigma_b = {cfg.sigma_b}, EOC sigma_w = {w_eoc:.4f}, "
        f"ordered sigma_w = {INIT_FACTORS['ordered'] * w_eoc:.4f}; {cfg.method} (global), {cfg.epochs} epochs SGD "
        f"lr {cfg.lr}, batch {cfg.batch_size}; {seeds} seeds per cell; depths {list(cfg.depths)}, sparsities {pruned}.",
        "Mean test accuracy over the pruned cells: "
        + ", ".join(f"{_label(*p)} {a.mean():.3f}" for p, a in acc.items())
        + ".",
        f"Rescaling on the EOC changes accuracy by {gain_r.mean():+.3f} on average over the pruned cells "
        f"(min {gain_r.min():+.3f}, max {gain_r.max():+.3f}; positive in {int(np.sum(gain_r > 0))} of {gain_r.size}); "
        f"at depth {deep}: {at_depth(gain_r)}.",
        f"EOC against ordered (no rescaling): {gain_i.mean():+.3f} on average (positive in "
        f"{int(np.sum(gain_i > 0))} of {gain_i.size}); at depth {deep}: {at_depth(gain_i)}.",
        f"EOC + rescaling is within 0.02 of the best of the four variants in {wins} of the {n_alive} pruned cells "
        f"where some variant exceeds chance + 0.05; no variant does in {best.size - n_alive} cells {dead}.",
        "Seeds with a fully pruned layer (chance accuracy, not trained), summed over cells: "
        + ", ".join(f"{_label(*p)} {collapsed[p]}" for p in PANELS)
        + f"; diverged runs: {sum(c['diverged'] for c in cells)}.",
    ]
    if 0.0 in cfg.sparsities:
        dense = {init: _grid(cfg, cells, init, False)[:, cfg.sparsities.index(0.0)] for init in INITS}
        pairs = zip(cfg.depths, dense["edge_of_chaos"], dense["ordered"])
        findings.append(
            "Dense baselines (sparsity 0) per depth: "
            + ", ".join(f"L={d}: EOC {a:.3f} / ordered {b:.3f}" for d, a, b in pairs)
            + "."
        )
    rescale_helps = gain_r.mean() > 0.02 and gain_r[-1].mean() > 0.02
    eoc_helps = gain_i.mean() > 0 and gain_i[-1].mean() >= 0
    numbers = (
        f"Rescaling on the EOC {gain_r.mean():+.3f} on average ({gain_r[-1].mean():+.3f} at depth {deep}), EOC vs "
        f"ordered {gain_i.mean():+.3f}, EOC + rescaling best (within 0.02) in {wins} of the {n_alive} cells where any "
        "variant trains"
    )
    if rescale_helps and eoc_helps and wins >= n_alive / 2:
        verdict = f"Supported. {numbers}."
    elif rescale_helps or eoc_helps:
        verdict = f"Partly supported. {numbers}; see the findings for where the effect is absent."
    else:
        verdict = f"Not supported by these numbers. {numbers}."
    ctx.summary(CLAIM, findings, verdict)
