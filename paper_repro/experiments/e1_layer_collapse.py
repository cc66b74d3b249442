"""E1: layer collapse under SNIP, per neuron and per layer, in the three phases (no training).

``docs/theory.md`` §4 and §7.  A deep tanh FFNN ``d - N x (L-1) - 10`` (``L`` linear
layers) is initialized in the ordered phase, on the edge of chaos and in the chaotic
phase (:class:`~paper_repro.config.PhaseSpec`: sigma_w a multiple of
:func:`eoc.edge_of_chaos`, the same multiples as E2).  SNIP (global scope) scores one
batch of training images with its labels (cross-entropy) and prunes the network to
``prune.sparsity``.

Outputs: heatmaps of the fraction of incoming weights kept by every neuron (rows:
neurons, columns: layers 1..L; the output layer has only 10 rows), one panel per phase,
for the first seed; the kept fraction of every layer against depth (mean over seeds,
min-max band); per seed, the critical sparsity :math:`s_{cr}` of the scores and the
fully pruned layers.

Expectations (:mod:`paper_repro.verdicts`): on the EOC no network has a fully pruned
layer (an exact count); in the ordered phase the fully pruned layers lie on the input
side, in the chaotic phase on the output side (per network, the distance of their mean
position from the middle layer, in layers; a network without collapse counts 0).

Profiles
--------
quick
    digits (8x8 flattened: d = 64), L = 50, N = 64, sparsity 0.9, batch 256, 3 seeds.
full
    MNIST (d = 784), L = 100, N = 100, sparsity 0.9, batch 256, 5 seeds.

Pruning runs (:class:`paper_repro.runs.PruneRun`, no training) go through the run
cache, so a rerun reads them back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from matplotlib import colormaps

import eoc

from .. import verdicts
from ..config import InitSpec, NetworkSpec, PhaseSpec, PruneSpec
from ..registry import Context, Summary, register
from ..runs import PruneRun, sweep
from ..style import PHASE_COLORS, PHASE_LABELS, new_figure
from ..summary import num


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E1 (module docstring); ``init.sigma_w_factor`` comes from ``phases``."""

    SWEPT: ClassVar[dict[str, str]] = {"init.sigma_w_factor": "phases"}

    dataset: str = "digits"
    network: NetworkSpec = field(default_factory=lambda: NetworkSpec(arch="ffnn", depth=50, width=64, activation="tanh"))
    init: InitSpec = field(default_factory=lambda: InitSpec(sigma_b=0.2))
    phases: PhaseSpec = field(default_factory=PhaseSpec)
    prune: PruneSpec = field(default_factory=lambda: PruneSpec(method="snip", sparsity=0.9, batch=256))
    seeds: int = 3


PROFILES = {
    "quick": Config(),
    "full": Config(
        dataset="mnist", network=NetworkSpec(arch="ffnn", depth=100, width=100, activation="tanh"), seeds=5
    ),
}


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """The E1 view of a :func:`paper_repro.runs.run_pruned` record (layers numbered from 1)."""
    layers = record["layers"]
    names = [layer["name"] for layer in layers]
    return {
        "neuron_keep": [layer["neuron_keep"] for layer in layers],
        "layer_keep": [layer["keep"] for layer in layers],
        "collapsed": [names.index(name) + 1 for name in record["collapsed"]],
        "critical_sparsity": record["critical_sparsity"],
        "critical_layer": names.index(record["critical_layer"]) + 1,
    }


def _offset(layers: list[int], depth: int) -> float:
    """Mean position of the collapsed layers (1-based) minus the middle layer; 0 if none."""
    return float(np.mean(layers) - (depth + 1) / 2) if layers else 0.0


def _heatmaps(cfg: Config, ctx: Context, runs: dict[str, list[dict]], sigma_ws: dict[str, float]) -> None:
    net = cfg.network
    rows = max(net.width, max(len(k) for r in runs.values() for k in r[0]["neuron_keep"]))
    grids = {}
    for phase, keep in ((p, r[0]["neuron_keep"]) for p, r in runs.items()):
        grid = np.full((rows, len(keep)), np.nan)
        for j, col in enumerate(keep):
            grid[: len(col), j] = col
        grids[phase] = grid
    vmax = max(float(np.nanmax(g)) for g in grids.values())
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    fig, axes = new_figure(ncols=3, width=3.2, height=3.0, sharey=True)
    for ax, phase in zip(axes[0], runs):
        im = ax.imshow(
            grids[phase], aspect="auto", origin="lower", interpolation="nearest", cmap=cmap, vmin=0.0, vmax=vmax,
            extent=(0.5, net.depth + 0.5, -0.5, rows - 0.5),
        )  # fmt: skip
        collapsed = runs[phase][0]["collapsed"]
        ax.plot(collapsed, [rows - 0.5] * len(collapsed), "v", color="#d62728", ms=3, clip_on=False)
        ax.set_title(f"{PHASE_LABELS[phase]}, $\\sigma_w$ = {sigma_ws[phase]:.3f}\n{len(collapsed)} layers fully pruned")
        ax.set_xlabel("layer $l$")
        ax.grid(False)
    axes[0, 0].set_ylabel("neuron $i$")
    fig.colorbar(im, ax=axes[0].tolist(), label="fraction of incoming weights kept", shrink=0.9)
    ctx.figure(
        fig,
        "keep_heatmaps",
        f"fraction of incoming weights kept per neuron after SNIP at sparsity {cfg.prune.sparsity}, tanh FFNN depth "
        f"{net.depth}, width {net.width} ({cfg.dataset}, seed 0); red triangles mark fully pruned layers, grey: "
        "no neuron (output layer)",
    )
    ctx.data_file(
        {phase: {"sigma_w": sigma_ws[phase], "neuron_keep": r[0]["neuron_keep"]} for phase, r in runs.items()},
        "keep_heatmaps",
        "kept fraction of every neuron's incoming weights, per layer (seed 0)",
    )


def _layer_profile(cfg: Config, ctx: Context, runs: dict[str, list[dict]]) -> None:
    depth, sparsity = cfg.network.depth, cfg.prune.sparsity
    layers = np.arange(1, depth + 1)
    fig, ax = new_figure(width=4.6, height=3.0)
    ax = ax[0, 0]
    for phase, rs in runs.items():
        keep = np.array([r["layer_keep"] for r in rs])
        ax.plot(layers, keep.mean(0), color=PHASE_COLORS[phase], label=PHASE_LABELS[phase])
        ax.fill_between(layers, keep.min(0), keep.max(0), color=PHASE_COLORS[phase], alpha=0.2, lw=0)
    ax.axhline(1 - sparsity, color="k", ls="--", lw=0.8, label=f"overall density {1 - sparsity:g}")
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("fraction of the layer's weights kept")
    ax.set_title(f"SNIP at sparsity {sparsity}, depth {depth}, width {cfg.network.width}")
    ax.legend()
    n = len(next(iter(runs.values())))
    ctx.figure(fig, "layer_keep", f"kept fraction per layer (mean over {n} seeds, band: min-max)")
    rows = [
        {"phase": phase, "seed": seed, "layer": l + 1, "keep": k}
        for phase, rs in runs.items()
        for seed, r in enumerate(rs)
        for l, k in enumerate(r["layer_keep"])
    ]
    ctx.csv(rows, "layer_keep", "kept fraction per layer, phase and seed")


def summarize(n: dict) -> Summary:
    s = n["setting"]
    net, prune = s["network"], s["prune"]
    setting = [
        f"tanh FFNN, depth L = {net['depth']} linear layers, width {net['width']}, {s['dataset']}, sigma_b = "
        f"{num(s['init']['sigma_b'])}; global SNIP on a batch of {prune['batch']} at sparsity {num(prune['sparsity'])}; "
        f"{s['seeds']} seeds per phase; middle layer {num(s['middle_layer'])}."
    ]
    findings = []
    for phase, p in n["phases"].items():
        per_seed = "; ".join(
            f"{c} ({r[0]}-{r[1]})" if r else f"{c}" for c, r in zip(p["collapsed_layers"], p["collapsed_range"])
        )
        findings.append(
            f"{PHASE_LABELS[phase]} (sigma_w = {num(p['sigma_w'])}, chi_1 = {num(p['chi_1'])}): fully pruned layers "
            f"per seed {per_seed}; offset of their mean from the middle {', '.join(num(v) for v in p['offset_from_middle'])}; "
            f"first layer to collapse as s grows {', '.join(map(str, p['first_layer_to_collapse']))}; critical sparsity "
            f"{', '.join(num(v) for v in p['critical_sparsity'])}."
        )
    return Summary(setting, findings)


def _configs(cfg: Config) -> list[PruneRun]:
    """The pruning runs: every phase, seeds innermost."""
    base = PruneRun(dataset=cfg.dataset, network=cfg.network, init=cfg.init, prune=cfg.prune, detail=True)
    return [
        replace(base, init=replace(cfg.init, sigma_w_factor=factor), seed=seed)
        for _, factor in cfg.phases.items()
        for seed in range(cfg.seeds)
    ]


@register("E1", profiles=PROFILES, summarize=summarize, runs=_configs)
def run(cfg: Config, ctx: Context) -> dict:
    phases = cfg.phases.items()
    configs = _configs(cfg)
    sigma_ws = {phase: configs[i * cfg.seeds].sigma_w for i, (phase, _) in enumerate(phases)}
    results = [_view(r) for r in sweep(configs, ctx, "E1 pruning")]
    runs = {phase: results[i * cfg.seeds : (i + 1) * cfg.seeds] for i, (phase, _) in enumerate(phases)}
    _heatmaps(cfg, ctx, runs, sigma_ws)
    _layer_profile(cfg, ctx, runs)
    depth = cfg.network.depth
    per_phase = {}
    table = []
    for phase, rs in runs.items():
        chi = float(eoc.chi_1("tanh", sigma_ws[phase], cfg.init.sigma_b))
        per_phase[phase] = {
            "sigma_w": sigma_ws[phase],
            "chi_1": chi,
            "collapsed_layers": [len(r["collapsed"]) for r in rs],
            "collapsed_range": [[r["collapsed"][0], r["collapsed"][-1]] if r["collapsed"] else None for r in rs],
            "offset_from_middle": [_offset(r["collapsed"], depth) for r in rs],
            "first_layer_to_collapse": [r["critical_layer"] for r in rs],
            "critical_sparsity": [r["critical_sparsity"] for r in rs],
        }
        for seed, r in enumerate(rs):
            table.append(
                {
                    "phase": phase, "sigma_w": sigma_ws[phase], "chi_1": chi, "seed": seed,
                    "s_cr": r["critical_sparsity"], "first_layer_to_collapse": r["critical_layer"],
                    "collapsed_layers": len(r["collapsed"]),
                    "collapsed_range": f"{r['collapsed'][0]}-{r['collapsed'][-1]}" if r["collapsed"] else "",
                    "offset_from_middle": _offset(r["collapsed"], depth),
                }
            )  # fmt: skip
    ctx.table(
        table,
        "collapse",
        f"SNIP on a tanh FFNN (depth {depth}, width {cfg.network.width}, {cfg.dataset}): critical sparsity, and the "
        f"layers fully pruned at sparsity {cfg.prune.sparsity} (1-based, layer 1 next to the input); offset: mean "
        "position of the fully pruned layers minus the middle layer",
    )
    eoc_networks = sum(bool(c) for c in per_phase["edge_of_chaos"]["collapsed_layers"])
    expectations = [
        verdicts.expect_exact(
            "on the EOC no network has a fully pruned layer", "networks with a fully pruned layer, EOC", 0.0,
            eoc_networks, model_error=0.0,
        ),
        verdicts.expect_sign(
            "ordered phase: the fully pruned layers lie on the input side", "offset of collapsed layers, ordered",
            per_phase["ordered"]["offset_from_middle"], sense="less",
        ),
        verdicts.expect_sign(
            "chaotic phase: the fully pruned layers lie on the output side", "offset of collapsed layers, chaotic",
            per_phase["chaotic"]["offset_from_middle"], sense="greater",
        ),
    ]  # fmt: skip
    return {
        "setting": asdict(cfg) | {"middle_layer": (depth + 1) / 2},
        "phases": per_phase,
        "verdict": verdicts.verdict(expectations),
    }
