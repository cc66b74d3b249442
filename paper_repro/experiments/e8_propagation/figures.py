"""E8's three figures: theory curves (dashed) over Monte-Carlo bands."""

from __future__ import annotations

import numpy as np

from ...style import PHASE_COLORS, PHASE_LABELS, RESNET_COLORS, RESNET_LABELS, new_figure

__all__ = ["bands_caption", "ffnn_figures", "resnet_figure"]


def bands_caption(networks: int, quantiles: tuple[float, float]) -> str:
    """How every curve and band of E8 is drawn, for the captions."""
    lo, hi = quantiles
    return (
        f"solid: replicate mean over {networks} networks; dark band: mean +- 2 standard errors; light band: "
        f"{lo:g}-{hi:g} quantiles of the per-network values; dashed black: mean-field theory"
    )


def _draw(ax, layers: np.ndarray, st: dict, theory: np.ndarray, color: str, label: str) -> None:
    """Quantile band (light), mean +- 2 SE band (dark), mean (solid), theory (dashed)."""
    lo = st["mean"] - 2 * st["se"]
    if ax.get_yscale() == "log":
        lo = np.maximum(lo, 1e-3 * st["mean"])  # a band crossing zero cannot be drawn on a log axis
    ax.fill_between(layers, st["lo"], st["hi"], color=color, alpha=0.12, lw=0)
    ax.fill_between(layers, lo, st["mean"] + 2 * st["se"], color=color, alpha=0.35, lw=0)
    ax.plot(layers, st["mean"], color=color, lw=1.2, label=f"{label} (MC mean)")
    ax.plot(layers, theory, color="k", ls="--", lw=0.9)


def _legend(ax) -> None:
    """Legend of the MC means plus one entry for the (black, dashed) theory curves."""
    ax.plot([], [], color="k", ls="--", lw=0.9, label="mean-field theory")
    ax.legend()


def ffnn_figures(ctx, cfg, curves: dict) -> None:
    """``ffnn_variance`` and ``ffnn_gradients``; ``curves[phase]`` holds sigma_w, stats and theory."""
    hidden = np.arange(1, cfg.depth + 1)
    weight_layers = np.arange(1, cfg.depth + 2)
    fig_q, ax_q = new_figure(width=4.2, height=3.3)
    fig_g, ax_g = new_figure(width=4.2, height=3.3)
    ax_q, ax_g = ax_q[0, 0], ax_g[0, 0]
    ax_g.set_yscale("log")
    for phase, c in curves.items():
        label = f"{PHASE_LABELS[phase]}, $\\sigma_w$={c['sigma_w']:.3f}"
        _draw(ax_q, hidden, c["q"], c["q_theory"], PHASE_COLORS[phase], label)
        _draw(ax_g, weight_layers, c["grad"], c["grad_theory"], PHASE_COLORS[phase], label)
    ax_q.set_xlabel("hidden layer $l$")
    ax_q.set_ylabel(r"$q^l$")
    ax_q.set_title(f"tanh FFNN, width {cfg.width}, $\\sigma_b$={cfg.sigma_b}")
    _legend(ax_q)
    ax_g.set_xlabel(f"weight layer $l$ ({cfg.depth + 1} = read-out)")
    ax_g.set_ylabel(r"$\mathbb{E}[(\partial L/\partial W^l)^2]$ / layer " + str(cfg.depth))
    ax_g.set_title(f"tanh FFNN, width {cfg.width}: per-sample gradients")
    _legend(ax_g)
    networks = cfg.replicas * cfg.seeds
    bands = bands_caption(networks, cfg.quantiles)
    ctx.figure(
        fig_q,
        "ffnn_variance",
        f"q^l of a tanh FFNN (width {cfg.width}, sigma_b = {cfg.sigma_b}, sigma_w = the phase factors x EOC) against "
        f"the hidden layer l, inputs with |x|^2/d = 1 ({max(1, cfg.inputs // 2)} pairs per network, averaged); {bands}",
    )
    ctx.figure(
        fig_g,
        "ffnn_gradients",
        f"mean square of the weight gradient of each layer relative to layer {cfg.depth} (the last hidden layer), per "
        f"network, one input and a random label per network, cross-entropy over {cfg.outputs} classes; {bands}",
    )


def resnet_figure(ctx, cfg, curves: dict) -> None:
    """``resnet_variance_gradients``; ``curves[(kind, depth)]`` holds alpha, stats and theory."""
    depths = tuple(cfg.resnet_depths)
    fig, axes = new_figure(ncols=len(depths), nrows=2, width=3.3, height=2.8)
    for j, depth in enumerate(depths):
        layers = np.arange(depth + 1)
        ax_q, ax_g = axes[0, j], axes[1, j]
        ax_q.set_yscale("log")
        ax_g.set_yscale("log")
        for kind in RESNET_LABELS:
            c = curves[(kind, depth)]
            label = f"{RESNET_LABELS[kind]}, $\\alpha$={c['alpha']:.3g}"
            _draw(ax_q, layers, c["q"], c["q_theory"], RESNET_COLORS[kind], label)
            _draw(ax_g, layers, c["grad"], c["grad_theory"], RESNET_COLORS[kind], label)
        ax_q.set_title(f"L = {depth}, width {cfg.resnet_width}")
        ax_q.set_ylabel(r"$q^l$")
        ax_g.set_ylabel(r"$\tilde q^{\,l} / \tilde q^{\,L}$")
        ax_g.set_xlabel("residual layer $l$")
        _legend(ax_q)
    ctx.figure(
        fig,
        "resnet_variance_gradients",
        f"ReLU ResNets (sigma_w = sqrt 2, sigma_b = 0, width {cfg.resnet_width}, float64), standard (alpha = 1) vs "
        "Stable (alpha = 1/sqrt L): top, stream variance q^l (l = 0 after the input projection); bottom, stream "
        "gradient variance E[(dL/dy^l)^2] relative to l = L (one input per network, back-propagated from a fixed random "
        f"output gradient); {bands_caption(cfg.replicas * cfg.seeds, cfg.quantiles)}",
    )
