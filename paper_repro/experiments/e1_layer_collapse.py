"""E1: layer collapse under SNIP, per neuron and per layer, in the three phases (no training).

THEORY.md sections 4 and 7.  A deep tanh FFNN ``d - N x (L-1) - 10`` (``L`` linear
layers, sigma_b = 0.2) is initialized in the ordered phase (sigma_w = 0.8 x EOC,
chi_1 = 0.82), on the edge of chaos (sigma_w = :func:`eoc.edge_of_chaos` ``("tanh",
0.2)`` = 1.3041) and in the chaotic phase (1.5 x EOC, chi_1 = 1.32), the same
multipliers as E2.  SNIP (global scope) scores one batch of training images with its
labels (cross-entropy) and prunes the network to the sparsity ``sparsity``.

Outputs: heatmaps of the fraction of incoming weights kept by every neuron (rows:
neurons, columns: layers 1..L; the output layer has only 10 rows), one panel per phase,
for the first seed; the kept fraction of every layer against depth (mean over seeds,
min-max band); per seed, the critical sparsity :math:`s_{cr}` of the scores and the
fully pruned layers.

Profiles
--------
quick
    digits (8x8 flattened: d = 64), L = 50, N = 64, sparsity 0.9, batch 256, 3 seeds.
full
    MNIST (d = 784), L = 100, N = 100, sparsity 0.9, batch 256, 5 seeds.

Pruning runs (:class:`paper_repro.runs.PruneRun`, no training) are cheap but still go
through :func:`paper_repro.runs.sweep`, so a rerun reads them back from the run cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import colormaps

import eoc

from ..registry import Context, register
from ..runs import PruneRun, sweep
from ..style import PHASE_COLORS, new_figure

CLAIM = (
    "With SNIP (sensitivity-based pruning), a deep FFNN initialized on the edge of chaos keeps weights in every "
    "layer, whereas in the ordered phase the layers next to the input and in the chaotic phase the layers next to "
    "the output are pruned entirely (layer collapse), making the network untrainable."
)

PHASES = ("ordered", "edge_of_chaos", "chaotic")
#: sigma_w / sigma_w(EOC) of each phase (chi_1 = 0.82 and 1.32 for tanh at sigma_b = 0.2).
PHASE_FACTORS = {"ordered": 0.8, "edge_of_chaos": 1.0, "chaotic": 1.5}


@dataclass(frozen=True)
class Config:
    """Settings of E1 (module docstring).

    Attributes
    ----------
    dataset : str
        Source of the pruning batch (:func:`paper_repro.data.load_dataset`).
    depth : int
        Number of linear layers L (L - 1 hidden layers).
    width : int
        Hidden width N.
    sigma_b : float
        Bias standard deviation; the EOC sigma_w is :func:`eoc.edge_of_chaos` at it.
    sparsity : float
        Global SNIP sparsity of the heatmaps.
    batch : int
        Training images (with labels) in the SNIP batch.
    seeds : int
        Networks per phase (``ctx.seeds`` overrides).
    """

    dataset: str = "digits"
    depth: int = 50
    width: int = 64
    sigma_b: float = 0.2
    sparsity: float = 0.9
    batch: int = 256
    seeds: int = 3


PROFILES = {
    "quick": Config(),
    "full": Config(dataset="mnist", depth=100, width=100, seeds=5),
}


def _view(record: dict[str, Any]) -> dict[str, Any]:
    """The E1 view of a :func:`paper_repro.runs.run_pruned` record (layers numbered from 1).

    ``neuron_keep`` (per layer, the kept fraction of every output neuron's incoming
    weights), ``layer_keep``, ``collapsed`` (1-based indices of the fully pruned
    layers), ``critical_sparsity`` and ``critical_layer`` (1-based).
    """
    layers = record["layers"]
    names = [layer["name"] for layer in layers]
    return {
        "neuron_keep": [layer["neuron_keep"] for layer in layers],
        "layer_keep": [layer["keep"] for layer in layers],
        "collapsed": [names.index(name) + 1 for name in record["collapsed"]],
        "critical_sparsity": record["critical_sparsity"],
        "critical_layer": names.index(record["critical_layer"]) + 1,
    }


def _side(layers: list[int], depth: int) -> str:
    """Which end the collapsed layers (1-based) lie on, by their mean position ('none' if none)."""
    if not layers:
        return "none"
    return "input side" if np.mean(layers) < (depth + 1) / 2 else "output side"


def _heatmaps(cfg: Config, ctx: Context, runs: dict[str, list[dict]], sigma_ws: dict[str, float]) -> None:
    rows = max(cfg.width, max(len(k) for r in runs.values() for k in r[0]["neuron_keep"]))
    grids = {}
    for phase in PHASES:
        keep = runs[phase][0]["neuron_keep"]
        grid = np.full((rows, len(keep)), np.nan)
        for j, col in enumerate(keep):
            grid[: len(col), j] = col
        grids[phase] = grid
    vmax = max(float(np.nanmax(g)) for g in grids.values())
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    fig, axes = new_figure(ncols=3, width=3.2, height=3.0, sharey=True)
    for ax, phase in zip(axes[0], PHASES):
        im = ax.imshow(
            grids[phase], aspect="auto", origin="lower", interpolation="nearest", cmap=cmap, vmin=0.0, vmax=vmax,
            extent=(0.5, cfg.depth + 0.5, -0.5, rows - 0.5),
        )
        collapsed = runs[phase][0]["collapsed"]
        ax.plot(collapsed, [rows - 0.5] * len(collapsed), "v", color="#d62728", ms=3, clip_on=False)
        ax.set_title(
            f"{phase.replace('_', ' ')}, $\\sigma_w$ = {sigma_ws[phase]:.3f}\n{len(collapsed)} layers fully pruned"
        )
        ax.set_xlabel("layer $l$")
        ax.grid(False)
    axes[0, 0].set_ylabel("neuron $i$")
    fig.colorbar(im, ax=axes[0].tolist(), label="fraction of incoming weights kept", shrink=0.9)
    ctx.figure(
        fig,
        "keep_heatmaps",
        f"fraction of incoming weights kept per neuron after SNIP at sparsity {cfg.sparsity}, tanh FFNN depth "
        f"{cfg.depth}, width {cfg.width} ({cfg.dataset}, seed 0); red triangles mark fully pruned layers, grey: "
        "no neuron (output layer)",
    )
    ctx.data(
        {phase: {"sigma_w": sigma_ws[phase], "neuron_keep": runs[phase][0]["neuron_keep"]} for phase in PHASES},
        "keep_heatmaps",
        "kept fraction of every neuron's incoming weights, per layer (seed 0)",
    )


def _layer_profile(cfg: Config, ctx: Context, runs: dict[str, list[dict]]) -> None:
    layers = np.arange(1, cfg.depth + 1)
    fig, ax = new_figure(width=4.6, height=3.0)
    ax = ax[0, 0]
    for phase in PHASES:
        keep = np.array([r["layer_keep"] for r in runs[phase]])
        ax.plot(layers, keep.mean(0), color=PHASE_COLORS[phase], label=phase.replace("_", " "))
        ax.fill_between(layers, keep.min(0), keep.max(0), color=PHASE_COLORS[phase], alpha=0.2, lw=0)
    ax.axhline(1 - cfg.sparsity, color="k", ls="--", lw=0.8, label=f"overall density {1 - cfg.sparsity:g}")
    ax.set_xlabel("layer $l$")
    ax.set_ylabel("fraction of the layer's weights kept")
    ax.set_title(f"SNIP at sparsity {cfg.sparsity}, depth {cfg.depth}, width {cfg.width}")
    ax.legend(fontsize=7)
    n = len(next(iter(runs.values())))
    ctx.figure(fig, "layer_keep", f"kept fraction per layer (mean over {n} seeds, band: min-max)")
    rows = [
        {"phase": phase, "seed": seed, "layer": l + 1, "keep": k}
        for phase in PHASES
        for seed, r in enumerate(runs[phase])
        for l, k in enumerate(r["layer_keep"])
    ]
    ctx.csv(rows, "layer_keep", "kept fraction per layer, phase and seed")


@register(
    "E1",
    title="Layer collapse under SNIP: keep-fraction heatmaps per phase",
    claim=CLAIM,
    profiles=PROFILES,
    needs_torch=True,
)
def run(cfg: Config, ctx: Context) -> None:
    seeds = ctx.seeds or cfg.seeds
    configs = [
        PruneRun(
            cfg.dataset, "ffnn", seed, depth=cfg.depth, width=cfg.width, activation="tanh", sigma_b=cfg.sigma_b,
            sigma_w_factor=PHASE_FACTORS[phase], sparsity=cfg.sparsity, batch=cfg.batch, detail=True,
        )
        for phase in PHASES
        for seed in range(seeds)
    ]  # fmt: skip
    sigma_ws = {phase: configs[i * seeds].sigma_w for i, phase in enumerate(PHASES)}
    results = [_view(r) for r in sweep(configs, ctx, "E1 pruning")]
    runs = {phase: results[i * seeds : (i + 1) * seeds] for i, phase in enumerate(PHASES)}
    _heatmaps(cfg, ctx, runs, sigma_ws)
    _layer_profile(cfg, ctx, runs)
    table = []
    for phase in PHASES:
        chi = float(eoc.chi_1("tanh", sigma_ws[phase], cfg.sigma_b))
        for seed, r in enumerate(runs[phase]):
            table.append(
                {
                    "phase": phase, "sigma_w": sigma_ws[phase], "chi_1": chi, "seed": seed,
                    "s_cr": r["critical_sparsity"], "first_layer_to_collapse": r["critical_layer"],
                    "collapsed_layers": len(r["collapsed"]),
                    "collapsed_range": f"{r['collapsed'][0]}-{r['collapsed'][-1]}" if r["collapsed"] else "",
                    "side": _side(r["collapsed"], cfg.depth),
                }
            )  # fmt: skip
    ctx.table(
        table,
        "collapse",
        f"SNIP on a tanh FFNN (depth {cfg.depth}, width {cfg.width}, {cfg.dataset}): critical sparsity, and the "
        f"layers fully pruned at sparsity {cfg.sparsity} (1-based, layer 1 next to the input)",
    )
    _summarize(cfg, ctx, runs, sigma_ws)


def _summarize(cfg: Config, ctx: Context, runs: dict[str, list[dict]], sigma_ws: dict[str, float]) -> None:
    findings = [
        f"Setting: tanh FFNN, depth L = {cfg.depth} linear layers, width {cfg.width}, {cfg.dataset}, sigma_b = "
        f"{cfg.sigma_b}, global SNIP on a batch of {cfg.batch} at sparsity {cfg.sparsity}, "
        f"{len(runs['ordered'])} seeds per phase."
    ]
    for phase in PHASES:
        rs = runs[phase]
        per_seed = "; ".join(
            f"{len(r['collapsed'])} ({r['collapsed'][0]}-{r['collapsed'][-1]}, {_side(r['collapsed'], cfg.depth)})"
            if r["collapsed"] else "0"
            for r in rs
        )  # fmt: skip
        findings.append(
            f"{phase.replace('_', ' ')} (sigma_w = {sigma_ws[phase]:.4f}, chi_1 = "
            f"{float(eoc.chi_1('tanh', sigma_ws[phase], cfg.sigma_b)):.3f}): fully pruned layers per seed "
            f"(range of layers 1..{cfg.depth}): {per_seed}; first layer to collapse as s grows "
            f"{[r['critical_layer'] for r in rs]}; critical sparsity s_cr "
            f"{[round(r['critical_sparsity'], 3) for r in rs]}."
        )
    eoc_ok = all(not r["collapsed"] for r in runs["edge_of_chaos"])
    ordered_ok = all(_side(r["collapsed"], cfg.depth) == "input side" for r in runs["ordered"])
    chaotic_ok = all(_side(r["collapsed"], cfg.depth) == "output side" for r in runs["chaotic"])
    if eoc_ok and ordered_ok and chaotic_ok:
        verdict = (
            f"Supported. At sparsity {cfg.sparsity} no layer collapses on the EOC in any seed, while every ordered "
            "network loses a block of layers on the input side and every chaotic network a block on the output side."
        )
    else:
        failed = [
            name for name, ok in (("EOC without collapse", eoc_ok), ("ordered: input-side collapse", ordered_ok),
                                  ("chaotic: output-side collapse", chaotic_ok)) if not ok
        ]  # fmt: skip
        verdict = f"Not supported by these numbers. {'; '.join(failed)} fails in some seed (see the findings)."
    ctx.summary(CLAIM, findings, verdict)
