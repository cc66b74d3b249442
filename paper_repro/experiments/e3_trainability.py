"""E3: trainability of pruned deep FFNNs over (depth, sparsity): EOC vs ordered, +- rescaling.

``docs/theory.md`` §5 and §7.  Tanh FFNNs ``d - N x (L-1) - 10`` (``L`` linear layers)
are initialized on the edge of chaos or in the ordered phase (the factors of
:class:`~paper_repro.config.PhaseSpec`, as in E1 and E2), pruned at initialization by
SNIP (global scope, one batch of training images), optionally rescaled by the
rescaling trick (:func:`eoc.nn.rescale_`), then trained with SGD.  Sparsity 0 is the
dense network (not pruned, not rescaled).  A run in which some layer is fully pruned is
not trained: it is recorded as collapsed, with chance accuracy.  A run whose loss
becomes non-finite is recorded as diverged, also with chance accuracy
(:func:`paper_repro.train.train`).  The accuracy is the test accuracy after the last
epoch (no selection on the test set).

Outputs: four heatmaps of mean test accuracy over (depth, sparsity), one per
(initialization, rescaling), collapsed cells marked; two difference maps (rescaling on
the EOC; EOC against ordered, both unrescaled); the table of every cell.

Expectations, each over the paired differences of test accuracy at every pruned
(depth, sparsity) cell and seed: rescaling raises the accuracy of EOC networks; EOC
beats ordered without rescaling; EOC + rescaling beats ordered + rescaling.

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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar

import numpy as np

from .. import verdicts
from ..config import InitSpec, NetworkSpec, PhaseSpec, PruneSpec, TrainSpec
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import PHASE_LABELS, new_figure
from ..summary import num, nums, training


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E3 (module docstring).

    Attributes
    ----------
    dataset : str
    network : NetworkSpec
        The FFNN (its depth is swept by ``depths``).
    depths : tuple of int
        Numbers of linear layers L.
    sparsities : tuple of float
        0 is the dense baseline.
    init : InitSpec
        sigma_b (sigma_w_factor comes from ``phases``).
    inits : tuple of str
        The two initializations compared (phase ids).
    phases : PhaseSpec
    rescale_mode : str
        Mode of the rescaling trick in the rescaled panels.
    prune : PruneSpec
        Method and scoring batch (sparsity and rescaling swept).
    train : TrainSpec
    seeds : int
    """

    SWEPT: ClassVar[dict[str, str]] = {
        "network.depth": "depths",
        "prune.sparsity": "sparsities",
        "prune.rescale": "rescale_mode",
        "init.sigma_w_factor": "phases",
    }

    dataset: str = "digits"
    network: NetworkSpec = field(default_factory=lambda: NetworkSpec(arch="ffnn", width=64, activation="tanh"))
    depths: tuple = (5, 20, 40)
    sparsities: tuple = (0.0, 0.5, 0.8, 0.9)
    init: InitSpec = field(default_factory=lambda: InitSpec(sigma_b=0.2))
    inits: tuple = ("edge_of_chaos", "ordered")
    phases: PhaseSpec = field(default_factory=PhaseSpec)
    rescale_mode: str = "neuron"
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(method="snip", batch=128))
    train: TrainSpec = field(
        default_factory=lambda: TrainSpec(epochs=10, batch_size=64, lr=0.005, weight_decay=1e-4, eval_every_epoch=False)
    )
    seeds: int = 2


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="mnist", network=NetworkSpec(arch="ffnn", width=100, activation="tanh"), depths=(10, 25, 50, 75, 100),
        sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98),
        train=TrainSpec(epochs=20, batch_size=128, lr=0.005, weight_decay=1e-4, eval_every_epoch=False), seeds=3,
    ),
}  # fmt: skip


def _panels(cfg: Config) -> list[tuple[str, bool]]:
    return [(init, rescale) for init in cfg.inits for rescale in (False, True)]


def _label(init: str, rescale: bool) -> str:
    return f"{PHASE_LABELS[init]}{' + rescaling' if rescale else ''}"


def _grid(cfg: Config, cells: list[dict], init: str, rescale: bool, key: str = "acc_mean") -> np.ndarray:
    by = {(c["depth"], c["sparsity"]): c[key] for c in cells if c["init"] == init and c["rescale"] == rescale}
    return np.array([[by[(d, s)] for s in cfg.sparsities] for d in cfg.depths], dtype=float)


def _axes_labels(ax, cfg: Config) -> None:
    ax.set_xticks(range(len(cfg.sparsities)), [f"{s:g}" for s in cfg.sparsities])
    ax.set_yticks(range(len(cfg.depths)), [str(d) for d in cfg.depths])
    ax.set_xlabel("sparsity")
    ax.grid(False)


def _heatmaps(cfg: Config, ctx: Context, cells: list[dict]) -> None:
    panels = _panels(cfg)
    fig, axes = new_figure(ncols=len(panels), width=2.6, height=2.6, sharey=True)
    for ax, (init, rescale) in zip(axes[0], panels):
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
        f"mean test accuracy of {cfg.prune.method}-pruned tanh FFNNs (width {cfg.network.width}, {cfg.dataset}, "
        f"{cfg.train.epochs} epochs) over depth and sparsity; C: some seed had a fully pruned layer (counted at "
        "chance accuracy)",
    )


def _differences(cfg: Config, ctx: Context, cells: list[dict]) -> None:
    a, b = cfg.inits
    diffs = {
        f"rescaling on the {_label(a, False)}:\n({_label(a, True)}) - {_label(a, False)}": _grid(cfg, cells, a, True)
        - _grid(cfg, cells, a, False),
        f"initialization, no rescaling:\n{_label(a, False)} - {_label(b, False)}": _grid(cfg, cells, a, False)
        - _grid(cfg, cells, b, False),
    }
    lim = max(0.05, max(float(np.abs(d).max()) for d in diffs.values()))
    fig, axes = new_figure(ncols=2, width=3.2, height=2.8, sharey=True)
    for ax, (title, d) in zip(axes[0], diffs.items()):
        im = ax.imshow(d, origin="lower", cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(len(cfg.depths)):
            for j in range(len(cfg.sparsities)):
                color = "w" if abs(d[i, j]) > 0.6 * lim else "k"
                ax.text(j, i, f"{d[i, j]:+.2f}", ha="center", va="center", fontsize=7, color=color)
        ax.set_title(title)
        _axes_labels(ax, cfg)
    axes[0, 0].set_ylabel("depth L")
    fig.colorbar(im, ax=axes[0].tolist(), label="accuracy difference", shrink=0.9)
    ctx.figure(fig, "accuracy_differences", "differences of mean test accuracy between panels of accuracy_heatmaps")


def _paired(results: dict, cfg: Config, one: tuple[str, bool], other: tuple[str, bool]) -> list[float]:
    """``acc(one) - acc(other)`` at every pruned (depth, sparsity) cell and seed."""
    return [
        results[(*one, d, s, k)]["final_test_acc"] - results[(*other, d, s, k)]["final_test_acc"]
        for d in cfg.depths
        for s in cfg.sparsities
        if s > 0
        for k in range(cfg.seeds)
    ]


def summarize(n: dict) -> Summary:
    s = n["setting"]
    t = s["train"]
    setting = [
        f"tanh FFNN width {s['network']['width']} on {s['dataset']}, sigma_b = {num(s['init']['sigma_b'])}; sigma_w = "
        + ", ".join(f"{num(v)} ({PHASE_LABELS[k]})" for k, v in n["sigma_w"].items())
        + f"; {s['prune']['method']} (global, batch {s['prune']['batch']}), rescaling mode {s['rescale_mode']}; "
        f"{training(t)}; {s['seeds']} seeds per cell; depths {nums(s['depths'])}; sparsities {nums(s['sparsities'])}."
    ]
    panels = n["panels"]
    findings = [
        "Mean test accuracy over the pruned cells: "
        + ", ".join(f"{p['label']} {num(p['pruned_mean'])}" for p in panels)
        + "; at the deepest depth: "
        + ", ".join(f"{p['label']} {num(p['deepest_mean'])}" for p in panels)
        + ".",
        "Seeds with a fully pruned layer (chance accuracy, not trained), summed over cells: "
        + ", ".join(f"{p['label']} {p['collapsed']}" for p in panels)
        + f"; diverged runs: {n['diverged']}.",
        "Dense baselines (sparsity 0) per depth: "
        + "; ".join(f"L={d['depth']}: " + ", ".join(f"{k} {num(v)}" for k, v in d["acc"].items()) for d in n["dense"])
        + ".",
    ]
    for key, d in n["differences"].items():
        findings.append(
            f"{key}: mean paired difference {num(d['mean'])} (positive in {d['positive']} of {d['count']} cell-seeds)."
        )
    return Summary(setting, findings)


def _tagged(cfg: Config) -> tuple[list[tuple], list[PruneRun]]:
    """``(keys, runs)``: every (init, rescale, depth, sparsity, seed) and its run."""
    factors = dict(cfg.phases.items())
    keys, configs = [], []
    for init, rescale in _panels(cfg):
        for depth in cfg.depths:
            for sparsity in cfg.sparsities:
                for seed in range(cfg.seeds):
                    keys.append((init, rescale, depth, sparsity, seed))
                    prune = replace(cfg.prune, sparsity=sparsity, rescale=cfg.rescale_mode if rescale and sparsity > 0 else None)
                    configs.append(
                        PruneRun(
                            dataset=cfg.dataset, network=replace(cfg.network, depth=depth), prune=prune,
                            init=replace(cfg.init, sigma_w_factor=factors[init]), train=cfg.train, seed=seed,
                        )
                    )  # fmt: skip
    return keys, configs


@register("E3", profiles=PROFILES, summarize=summarize, runs=lambda cfg: _tagged(cfg)[1])
def run(cfg: Config, ctx: Context) -> dict:
    if not any(s > 0 for s in cfg.sparsities):
        raise ValueError(f"E3 needs a sparsity > 0, got sparsities={cfg.sparsities!r}")
    if len(cfg.inits) != 2:
        raise ValueError(f"E3 compares two initializations, got inits={cfg.inits!r}")
    factors = dict(cfg.phases.items())
    keys, configs = _tagged(cfg)
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
    for init, rescale in _panels(cfg):
        for depth in cfg.depths:
            for sparsity in cfg.sparsities:
                rs = [results[(init, rescale, depth, sparsity, s)] for s in range(cfg.seeds)]
                acc = [r["final_test_acc"] for r in rs]
                mean, se = verdicts.mean_se(acc)
                cells.append(
                    {
                        "init": init, "rescale": rescale, "depth": depth, "sparsity": sparsity, "acc_mean": mean,
                        "acc_se": se, "seeds": cfg.seeds, "collapsed": sum(bool(r["collapsed"]) for r in rs),
                        "diverged": sum(bool(r["diverged"]) for r in rs),
                        "rho_mean": float(np.mean([r["rho_mean"] for r in rs])), "chance": rs[0]["chance"],
                    }
                )  # fmt: skip
    ctx.table(
        cells,
        "accuracy_grid",
        f"test accuracy (mean and standard error over {cfg.seeds} seeds) of {cfg.prune.method}-pruned tanh FFNNs of "
        f"width {cfg.network.width} on {cfg.dataset}; collapsed/diverged: number of seeds with a fully pruned layer "
        "(not trained, chance accuracy) or a non-finite loss; rho_mean: mean rescaling factor",
    )
    _heatmaps(cfg, ctx, cells)
    _differences(cfg, ctx, cells)
    a, b = cfg.inits
    pruned = [j for j, s in enumerate(cfg.sparsities) if s > 0]
    comparisons = {
        f"rescaling on the {_label(a, False)}": ((a, True), (a, False)),
        f"{_label(a, False)} vs {_label(b, False)}": ((a, False), (b, False)),
        f"{_label(a, True)} vs {_label(b, True)}": ((a, True), (b, True)),
    }
    differences, expectations = {}, []
    for key, (one, other) in comparisons.items():
        d = _paired(results, cfg, one, other)
        differences[key] = {"mean": float(np.mean(d)), "positive": int(np.sum(np.array(d) > 0)), "count": len(d)}
        expectations.append(
            verdicts.expect_sign(
                f"{_label(*one)} trains to higher test accuracy than {_label(*other)}",
                f"paired accuracy difference, {key}", d, sense="greater",
            )
        )  # fmt: skip
    panels = [
        {
            "label": _label(*p),
            "pruned_mean": float(_grid(cfg, cells, *p)[:, pruned].mean()),
            "deepest_mean": float(_grid(cfg, cells, *p)[-1, pruned].mean()),
            "collapsed": int(sum(c["collapsed"] for c in cells if (c["init"], c["rescale"]) == p)),
        }
        for p in _panels(cfg)
    ]
    dense = []
    if 0.0 in cfg.sparsities:
        j = cfg.sparsities.index(0.0)
        dense = [
            {"depth": d, "acc": {_label(init, False): float(_grid(cfg, cells, init, False)[i, j]) for init in cfg.inits}}
            for i, d in enumerate(cfg.depths)
        ]
    return {
        "setting": asdict(cfg),
        "sigma_w": {i: replace(cfg.init, sigma_w_factor=factors[i]).sigma_w(cfg.network.activation) for i in cfg.inits},
        "panels": panels,
        "dense": dense,
        "diverged": int(sum(c["diverged"] for c in cells)),
        "differences": differences,
        "verdict": verdicts.verdict(expectations),
    }
