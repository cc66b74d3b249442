r"""E8: variance and gradient propagation, theory curves over Monte-Carlo bands.

Three figures (THEORY.md sections 2, 3, 6 and 7):

1. ``ffnn_variance``: :math:`q^l` against the layer l of a tanh FFNN in the ordered
   phase, on the EOC and in the chaotic phase (:math:`\sigma_b = 0.2`, :math:`\sigma_w`
   = 0.8, 1 and 1.5 times the EOC value), inputs with :math:`|x|^2/d = 1`; theory
   :math:`q^1 = \sigma_b^2 + \sigma_w^2`, :math:`q^l = F(q^{l-1})`.
2. ``ffnn_gradients``: :math:`\mathbb E[(\partial\mathcal L/\partial W^l_{ij})^2]` relative to the
   last hidden layer, same settings, one input per network (per-sample gradients, the
   setting of the backward formula), cross-entropy with a random label; theory
   :func:`eoc._propagation.gradient_variances`.
3. ``resnet_variance_gradients``: one-layer-branch ReLU ResNets with
   :math:`\sigma_w = \sqrt 2`, :math:`\sigma_b = 0`, standard (:math:`\alpha = 1`) against
   Stable (:math:`\alpha = 1/\sqrt L`): the stream variance :math:`q^l` and the stream
   gradient variance :math:`\tilde q^l = \mathbb E[(\partial\mathcal L/\partial y^l_i)^2]` relative
   to :math:`\tilde q^L`; theory :math:`(1 + \alpha^2\sigma_w^2/2)^l` from :mod:`eoc._resnet`.

Conventions.  The engine's :class:`~proofs_check.engine.ResNetStack` has an input
projection (its layer 0, :math:`y^0 = W^0x + B^0`, so :math:`q^0 = \sigma_b^2 + \sigma_w^2|x|^2/d`),
then L residual branches :math:`y^l = y^{l-1} + \alpha(W^l\phi(y^{l-1}) + B^l)`, then a read-out:
the stream :math:`y^0..y^L` is the one of :func:`eoc._resnet.resnet_variances` started at
that :math:`q^0`, and :func:`eoc._arch.layer_profile` of the same architecture is checked
to agree.  With one input per network a weight gradient is the rank-one matrix
:math:`\partial\mathcal L/\partial W^l = \alpha\,\delta^l\phi(y^{l-1})^\top`, so its mean square is exactly
:math:`\alpha^2\,\overline{(\delta^l)^2}\;\overline{\phi(y^{l-1})^2}`: dividing by the measured
:math:`\alpha^2\overline{\phi(y^{l-1})^2}` gives each network's :math:`\hat{\tilde q}^l` (for the
projection, dividing by :math:`|x|^2/d`).

Statistics.  Every quantity is measured per network (R independent networks); the
curves are the replicate mean (arithmetic, an estimate of the expectation the theory
predicts), with a band of mean +- 2 standard errors and a lighter band of the 10%-90%
quantiles of the per-network values.  Standard ResNets whose soft-max saturates to the
label exactly have a zero gradient and are left out of the gradient ratios (counted).

Finally a float32 standard ResNet of width 100 locates the first layer where
activations, and where their second moments, overflow, against the predictions
:math:`q^0 2^l > f_{\max}` (second moment) and :math:`\sqrt{q^0 2^l} > f_{\max}` (entries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import eoc
from eoc._arch import as_architecture, layer_profile
from eoc._propagation import gradient_variances
from eoc._resnet import resnet_gradient_variances, resnet_variances

from ..registry import Context, register
from ..style import PHASE_COLORS, new_figure

CLAIM = (
    "Mean-field variance and gradient maps describe finite networks at initialization: a tanh FFNN's "
    "per-layer weight gradients vanish towards the input in the ordered phase, explode in the chaotic phase and "
    "stay flat on the edge of chaos; in a standard ReLU ResNet activations and gradients grow like "
    "(1 + sigma_w^2/2)^L with depth L (float32 overflow at L = 200, N = 100), while a Stable ResNet "
    "(branches scaled by 1/sqrt(L)) keeps them within the bound exp(sigma_w^2/2) at every depth."
)

#: The ResNet setting of THEORY.md section 6 (the ReLU EOC).
RESNET_SIGMA_W = math.sqrt(2.0)
RESNET_SIGMA_B = 0.0
#: |x|^2 / d of every input.
Q_IN = 1.0
PHASES = ("ordered", "edge_of_chaos", "chaotic")
RESNET_COLORS = {"standard": "#d62728", "stable": "#2ca02c"}


@dataclass(frozen=True)
class Config:
    """Settings of E8.

    Attributes
    ----------
    width, depth : int
        FFNN hidden width and number of hidden layers L (L + 1 weight layers, the last
        the read-out).
    replicas : int
        Independent networks R per setting.
    inputs : int
        Inputs per network for the FFNN variances (the gradients use the first one).
    outputs : int
        Read-out width (classes of the cross-entropy).
    sigma_b : float
        FFNN bias scale; sigma_w is ``phase_factors`` times the tanh EOC value.
    phase_factors : tuple of float
        Multiples of the EOC sigma_w for the ordered, EOC and chaotic settings.
    resnet_width : int
        ResNet stream width (and input dimension).
    resnet_depths : tuple of int
        Numbers L of residual branches.
    overflow_width, overflow_depth, overflow_scan, overflow_replicas : int
        The float32 overflow check: width, the depth L at which THEORY.md reports an
        overflow (forward and backward pass checked there), the number of layers scanned
        for the first non-finite activation (the first layers of a standard ResNet do not
        depend on its total depth), and the networks used.
    chunk : int
        Networks simulated at once (memory: about ``3 * chunk * depth * width^2 * 8`` bytes).
    seed : int
    """

    width: int = 128
    depth: int = 30
    replicas: int = 64
    inputs: int = 8
    outputs: int = 10
    sigma_b: float = 0.2
    phase_factors: tuple = (0.8, 1.0, 1.5)
    resnet_width: int = 128
    resnet_depths: tuple = (10, 50)
    overflow_width: int = 100
    overflow_depth: int = 200
    overflow_scan: int = 300
    overflow_replicas: int = 16
    chunk: int = 64
    seed: int = 0


PROFILES = {
    "quick": Config(),
    "full": Config(width=1024, depth=100, replicas=256, resnet_width=1024, resnet_depths=(10, 50, 100), chunk=8),
}


# --------------------------------------------------------------------------- statistics


def _stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Replicate mean, standard error and 10%/90% quantiles over axis 0 (the networks)."""
    n = values.shape[0]
    q10, q90 = np.quantile(values, [0.1, 0.9], axis=0)
    return {
        "mean": values.mean(axis=0),
        "se": values.std(axis=0, ddof=1) / math.sqrt(n),
        "q10": q10,
        "q90": q90,
        "networks": n,
    }


def _agreement(st: dict, theory: np.ndarray) -> dict[str, float]:
    """Worst layer of ``|log(mean / theory)|`` and of ``|mean - theory| / SE`` (layers with SE > 0),
    and the fraction of layers where the theory lies inside the 10%-90% quantile band."""
    dev = np.abs(np.log(st["mean"] / theory))
    ok = st["se"] > 0
    z = np.abs(st["mean"][ok] - theory[ok]) / st["se"][ok]
    return {
        "max_abs_log": float(dev.max()),
        "worst_layer": int(np.argmax(dev)),
        "max_z": float(z.max()) if z.size else 0.0,
        "in_quantile_band": float(np.mean((st["q10"] <= theory) & (theory <= st["q90"]))),
    }


def _rows(setting: str, layers: np.ndarray, theory: np.ndarray, st: dict) -> list[dict]:
    """One CSV row per layer: theory and the replicate statistics of :func:`_stats`."""
    return [
        {
            "setting": setting,
            "layer": int(layer),
            "theory": float(theory[i]),
            "mean": float(st["mean"][i]),
            "se": float(st["se"][i]),
            "q10": float(st["q10"][i]),
            "q90": float(st["q90"][i]),
            "networks": int(st["networks"]),
        }
        for i, layer in enumerate(layers)
    ]


def _draw(ax, layers: np.ndarray, st: dict, theory: np.ndarray, color: str, label: str) -> None:
    """Quantile band (light), mean +- 2 SE band (dark), mean (solid), theory (dashed)."""
    lo = st["mean"] - 2 * st["se"]
    if ax.get_yscale() == "log":
        lo = np.maximum(lo, 1e-3 * st["mean"])  # a band crossing zero cannot be drawn on a log axis
    ax.fill_between(layers, st["q10"], st["q90"], color=color, alpha=0.12, lw=0)
    ax.fill_between(layers, lo, st["mean"] + 2 * st["se"], color=color, alpha=0.35, lw=0)
    ax.plot(layers, st["mean"], color=color, lw=1.2, label=f"{label} (MC mean)")
    ax.plot(layers, theory, color="k", ls="--", lw=0.9)


def _legend(ax, fontsize: int) -> None:
    """Legend of the MC means plus one entry for the (black, dashed) theory curves."""
    ax.plot([], [], color="k", ls="--", lw=0.9, label="mean-field theory")
    ax.legend(fontsize=fontsize)


_BANDS = (
    "solid: replicate mean over {r} networks; dark band: mean +- 2 standard errors; light band: 10%-90% quantiles "
    "of the per-network values; dashed black: mean-field theory"
)


# --------------------------------------------------------------------------- simulation


def _chunks(total: int, size: int) -> list[int]:
    """Sizes of the consecutive batches of at most ``size`` networks that make up ``total``."""
    return [min(size, total - start) for start in range(0, total, size)]


def _unit_inputs(replicas: int, batch: int, dim: int, gen):
    """``(replicas, batch, dim)`` Gaussian inputs rescaled to exactly ``|x|^2/d = Q_IN``."""
    import torch

    x = torch.randn(replicas, batch, dim, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True) * math.sqrt(Q_IN * dim)


def _simulate_ffnn(cfg: Config, sigma_w: float, seed: int, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-network q-hat ``(R, L)`` of the hidden layers and weight-gradient mean squares ``(R, L + 1)``."""
    import torch

    from proofs_check.engine import MLPStack, mean_square, second_moments

    widths = [cfg.width] * (cfg.depth + 1) + [cfg.outputs]
    gen = torch.Generator().manual_seed(seed)
    qs, grads = [], []
    for n in _chunks(cfg.replicas, cfg.chunk):
        net = MLPStack.init(widths, "tanh", sigma_w, cfg.sigma_b, n, generator=gen, device=device)
        x = _unit_inputs(n, cfg.inputs, cfg.width, gen).to(device)
        labels = torch.randint(0, cfg.outputs, (n, 1), generator=gen).to(device)
        _, pre = net.forward(x)
        qs.append(second_moments(pre[:-1]).mean(dim=1).cpu())
        grads.append(mean_square(net.weight_gradients(x[:, :1], labels)).cpu())
        del net, pre
    return torch.cat(qs).numpy(), torch.cat(grads).numpy()


def _simulate_resnet(cfg: Config, depth: int, alpha: float, seed: int, device: str) -> dict[str, np.ndarray]:
    """Per-network stream variances, stream gradient variances and weight-gradient mean squares.

    Returns ``q`` ``(R, L + 1)`` (:math:`\\hat q^0..\\hat q^L`), ``grad_q`` ``(R, L + 1)``
    (:math:`\\hat{\\tilde q}^0..\\hat{\\tilde q}^L` from the rank-one identity of the module
    docstring) and ``weight_grad`` ``(R, L + 2)`` (every weight layer).
    """
    import torch

    from proofs_check.engine import ResNetStack, mean_square, second_moments

    n_in = cfg.resnet_width
    gen = torch.Generator().manual_seed(seed)
    out = {"q": [], "grad_q": [], "weight_grad": []}
    for n in _chunks(cfg.replicas, cfg.chunk):
        net = ResNetStack.init(
            n_in, cfg.resnet_width, depth, cfg.outputs, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, alpha, n,
            generator=gen, device=device,
        )
        x = _unit_inputs(n, 1, n_in, gen).to(device)
        labels = torch.randint(0, cfg.outputs, (n, 1), generator=gen).to(device)
        _, pre = net.forward(x)
        stream = pre[:-1]  # y^0 (projection) .. y^L; pre[-1] is the read-out
        branch_in = torch.stack([(net.act(y) ** 2).mean(dim=-1) for y in stream[:-1]], dim=-1)[:, 0]
        ms = mean_square(net.weight_gradients(x, labels))
        grad_q = torch.cat([ms[:, :1] / Q_IN, ms[:, 1 : depth + 1] / (alpha**2 * branch_in)], dim=1)
        out["q"].append(second_moments(stream)[:, 0].cpu())
        out["grad_q"].append(grad_q.cpu())
        out["weight_grad"].append(ms.cpu())
        del net, pre, stream
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along axis 1 of ``(R, K)``, ``-1`` where there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def _overflow(cfg: Config, seed: int) -> dict:
    """float32 standard ResNets of width ``overflow_width`` (CPU): where activations and their squares overflow.

    A network of ``overflow_scan`` residual layers gives, per network, the first stream
    layer with a non-finite entry and the first whose float32 second moment
    ``mean(y * y)`` is infinite (a standard ResNet's first layers do not depend on its
    total depth).  A second set of networks of depth ``overflow_depth`` runs the forward
    and backward passes of the depth THEORY.md quotes.
    """
    import torch

    from proofs_check.engine import ResNetStack, mean_square

    n, r, f32 = cfg.overflow_width, cfg.overflow_replicas, torch.float32
    gen = torch.Generator().manual_seed(seed)

    def networks(depth: int):
        return ResNetStack.init(
            n, n, depth, cfg.outputs, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, 1.0, r, generator=gen, dtype=f32
        )

    def nonfinite(tensors) -> np.ndarray:
        """``(R, len(tensors))``: whether each network has a non-finite entry in each tensor."""
        return np.stack([(~torch.isfinite(t)).flatten(1).any(dim=1).numpy() for t in tensors], axis=1)

    _, pre = networks(cfg.overflow_scan).forward(_unit_inputs(r, 1, n, gen).to(f32))
    stream = pre[:-1]
    first_entry = _first_true(nonfinite(stream))
    first_square = _first_true(nonfinite([(y * y).mean(dim=-1) for y in stream]))
    net = networks(cfg.overflow_depth)
    x = _unit_inputs(r, 1, n, gen).to(f32)
    labels = torch.randint(0, cfg.outputs, (r, 1), generator=gen)
    _, pre = net.forward(x)
    grads = net.weight_gradients(x, labels)
    fmax = float(torch.finfo(f32).max)
    q0 = RESNET_SIGMA_B**2 + RESNET_SIGMA_W**2 * Q_IN
    growth = math.log(1.0 + RESNET_SIGMA_W**2 / 2)
    return {
        "width": n,
        "networks": r,
        "scan_layers": cfg.overflow_scan,
        "float32_max": fmax,
        "predicted_first_layer_square": math.floor(math.log(fmax / q0) / growth) + 1,
        "predicted_first_layer_entry": math.floor(math.log(fmax**2 / q0) / growth) + 1,
        "first_layer_entry": first_entry,
        "first_layer_square": first_square,
        "depth": cfg.overflow_depth,
        "nonfinite_activation_networks": int(nonfinite(pre).any(axis=1).sum()),
        "nonfinite_gradient_networks": int(nonfinite(grads).any(axis=1).sum()),
        "largest_activation_entry": float(max(y.abs().max() for y in pre)),
        "largest_gradient_entry": float(max(g.abs().max() for g in grads)),
        "overflowing_gradient_mean_squares": float((~torch.isfinite(mean_square(grads))).double().mean()),
    }


# --------------------------------------------------------------------------- the three figures


def _ffnn(cfg: Config, ctx: Context, progress: Any) -> dict:
    """Figures 1 and 2 with their CSVs; returns the per-phase agreement numbers."""
    w_eoc = float(eoc.edge_of_chaos("tanh", cfg.sigma_b))
    widths = [cfg.width] * (cfg.depth + 1) + [cfg.outputs]
    hidden = np.arange(1, cfg.depth + 1)
    weight_layers = np.arange(1, cfg.depth + 2)
    fig_q, ax_q = new_figure(width=4.2, height=3.3)
    fig_g, ax_g = new_figure(width=4.2, height=3.3)
    ax_q, ax_g = ax_q[0, 0], ax_g[0, 0]
    ax_g.set_yscale("log")
    rows_q, rows_g, res = [], [], {}
    for k, (phase, factor) in enumerate(zip(PHASES, cfg.phase_factors)):
        sw = factor * w_eoc
        q_meas, g_meas = _simulate_ffnn(cfg, sw, cfg.seed + 10 + k, ctx.device)
        progress.update()
        q_th = eoc.variance_iterates(cfg.sigma_b**2 + sw**2 * Q_IN, cfg.depth - 1, "tanh", sw, cfg.sigma_b)
        prof = gradient_variances(widths, "tanh", sw, cfg.sigma_b, input_q=Q_IN)
        g_th = prof.weight_grad / prof.weight_grad[-2]
        ratio = g_meas / g_meas[:, [-2]]
        st_q, st_g = _stats(q_meas), _stats(ratio)
        label = f"{phase.replace('_', ' ')}, $\\sigma_w$={sw:.3f}"
        _draw(ax_q, hidden, st_q, q_th, PHASE_COLORS[phase], label)
        _draw(ax_g, weight_layers, st_g, g_th, PHASE_COLORS[phase], label)
        setting = f"{phase} sigma_w={sw:.4f}"
        rows_q += _rows(setting, hidden, q_th, st_q)
        rows_g += _rows(setting, weight_layers, g_th, st_g)
        log_ratio = np.log(ratio)
        res[phase] = {
            "sigma_w": sw,
            "variance": _agreement(st_q, q_th),
            "gradient": _agreement(st_g, g_th),
            "gradient_theory_layer1": float(g_th[0]),
            "gradient_measured_layer1": float(st_g["mean"][0]),
            "log_variance_max": float(log_ratio.var(axis=0, ddof=1).max()),
            "geometric_gap_max": float(np.max(np.abs(log_ratio.mean(axis=0) - np.log(g_th)))),
            "lognormal_gap_max": float(
                np.max(np.abs(log_ratio.mean(axis=0) + log_ratio.var(axis=0, ddof=1) / 2 - np.log(g_th)))
            ),
        }
    ax_q.set_xlabel("hidden layer $l$")
    ax_q.set_ylabel(r"$q^l$")
    ax_q.set_title(f"tanh FFNN, width {cfg.width}, $\\sigma_b$={cfg.sigma_b}")
    _legend(ax_q, 7)
    ax_g.set_xlabel(f"weight layer $l$ ({cfg.depth + 1} = read-out)")
    ax_g.set_ylabel(r"$\mathbb{E}[(\partial L/\partial W^l)^2]$ / layer " + str(cfg.depth))
    ax_g.set_title(f"tanh FFNN, width {cfg.width}: per-sample gradients")
    _legend(ax_g, 7)
    bands = _BANDS.format(r=cfg.replicas)
    ctx.figure(
        fig_q,
        "ffnn_variance",
        f"q^l of a tanh FFNN (width {cfg.width}, sigma_b = {cfg.sigma_b}, sigma_w = {cfg.phase_factors} x EOC) against "
        f"the hidden layer l, inputs with |x|^2/d = 1 ({cfg.inputs} per network, averaged); {bands}",
    )
    ctx.figure(
        fig_g,
        "ffnn_gradients",
        f"mean square of the weight gradient of each layer relative to layer {cfg.depth} (the last hidden layer), per "
        f"network, one input and a random label per network, cross-entropy over {cfg.outputs} classes; {bands}",
    )
    ctx.csv(rows_q, "ffnn_variance", "q^l per phase and layer: theory, replicate mean, SE, 10%/90% quantiles")
    ctx.csv(rows_g, "ffnn_gradients", "relative weight-gradient mean square per phase and layer: theory, MC statistics")
    return res


def _resnet(cfg: Config, ctx: Context, progress: Any) -> dict:
    """Figure 3 with its CSV; returns the numbers per (kind, depth), kind "standard" or "stable"."""
    depths = tuple(cfg.resnet_depths)
    fig, axes = new_figure(ncols=len(depths), nrows=2, width=3.3, height=2.8)
    rows, res = [], {}
    for j, depth in enumerate(depths):
        layers = np.arange(depth + 1)
        ax_q, ax_g = axes[0, j], axes[1, j]
        ax_q.set_yscale("log")
        ax_g.set_yscale("log")
        for k, kind in enumerate(("standard", "stable")):
            alpha = 1.0 if kind == "standard" else 1.0 / math.sqrt(depth)
            meas = _simulate_resnet(cfg, depth, alpha, cfg.seed + 100 + 10 * j + k, ctx.device)
            progress.update()
            q0 = RESNET_SIGMA_B**2 + RESNET_SIGMA_W**2 * Q_IN
            q_th = resnet_variances(depth, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, alpha, q0)
            g_th = resnet_gradient_variances(depth, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, alpha, q0)
            g_th = g_th / g_th[-1]
            widths = [cfg.resnet_width] * (depth + 2) + [cfg.outputs]
            arch = as_architecture(widths, "resnet", alpha=alpha)
            prof = layer_profile(arch, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, input_q=Q_IN)
            arch_q, arch_g = prof.q[: depth + 1], prof.grad_q[: depth + 1] / prof.grad_q[depth]
            alive = np.all(np.isfinite(meas["grad_q"]), axis=1) & (meas["grad_q"][:, -1] > 0)
            grad_ratio = meas["grad_q"][alive] / meas["grad_q"][alive][:, [-1]]
            st_q, st_g = _stats(meas["q"]), _stats(grad_ratio)
            branch = meas["weight_grad"][alive][:, 1 : depth + 1].mean(axis=0)
            branch_th = prof.weight_grad[1 : depth + 1]
            _draw(ax_q, layers, st_q, q_th, RESNET_COLORS[kind], f"{kind}, $\\alpha$={alpha:.3g}")
            _draw(ax_g, layers, st_g, g_th, RESNET_COLORS[kind], f"{kind}, $\\alpha$={alpha:.3g}")
            setting = f"{kind} L={depth}"
            rows += [dict(r, quantity="q") for r in _rows(setting, layers, q_th, st_q)]
            rows += [dict(r, quantity="grad_q/grad_q^L") for r in _rows(setting, layers, g_th, st_g)]
            res[(kind, depth)] = {
                "alpha": alpha,
                "variance": _agreement(st_q, q_th),
                "gradient": _agreement(st_g, g_th),
                "q_growth_measured": float(st_q["mean"][-1] / st_q["mean"][0]),
                "q_growth_predicted": float(q_th[-1] / q_th[0]),
                "grad_growth_measured": float(st_g["mean"][0]),
                "grad_growth_predicted": float(g_th[0]),
                "grad_maxmin_measured": float(st_g["mean"].max() / st_g["mean"].min()),
                "grad_maxmin_se": float(st_g["se"][np.argmax(st_g["mean"])] / st_g["mean"].min()),
                "grad_maxmin_predicted": float(g_th.max() / g_th.min()),
                "gradient_networks": int(alive.sum()),
                "weight_grad_maxmin_measured": float(branch.max() / branch.min()),
                "weight_grad_maxmin_predicted": float(branch_th.max() / branch_th.min()),
                "layer_profile_rel_diff": float(
                    max(np.max(np.abs(arch_q / q_th - 1)), np.max(np.abs(arch_g / g_th - 1)))
                ),
            }
        ax_q.set_title(f"L = {depth}, width {cfg.resnet_width}")
        ax_q.set_ylabel(r"$q^l$")
        ax_g.set_ylabel(r"$\tilde q^{\,l} / \tilde q^{\,L}$")
        ax_g.set_xlabel("residual layer $l$")
        _legend(ax_q, 6)
    ctx.figure(
        fig,
        "resnet_variance_gradients",
        f"ReLU ResNets (sigma_w = sqrt 2, sigma_b = 0, width {cfg.resnet_width}, float64), standard (alpha = 1) vs "
        "Stable (alpha = 1/sqrt L): top, stream variance q^l (l = 0 after the input projection); bottom, stream "
        "gradient variance E[(dL/dy^l)^2] relative to l = L (one input and a random label per network; networks with "
        f"an exactly zero gradient, a saturated soft-max, left out); {_BANDS.format(r=cfg.replicas)}",
    )
    ctx.csv(rows, "resnet_variance_gradients", "ResNet stream variance and gradient ratio per layer: theory and MC")
    return res


# --------------------------------------------------------------------------- summary


def _describe_first(hit: np.ndarray, ovf: dict) -> str:
    """Median and range of the first overflowing layers (``-1``: none within the scan)."""
    hit = hit[hit >= 0]
    if hit.size == 0:
        return f"none within {ovf['scan_layers']} layers"
    return f"median {np.median(hit):.0f} (range {hit.min()}-{hit.max()}, {hit.size}/{ovf['networks']} networks)"


def _ffnn_findings(cfg: Config, ffnn: dict) -> list[str]:
    """Summary lines of the FFNN figures."""
    out = []
    for phase, r in ffnn.items():
        v, g = r["variance"], r["gradient"]
        out.append(
            f"FFNN {phase.replace('_', ' ')} (sigma_w = {r['sigma_w']:.4f}): q^l max |log(measured/theory)| = "
            f"{v['max_abs_log']:.3f} over layers 1..{cfg.depth} (largest |z| = {v['max_z']:.1f}); relative weight "
            f"gradient max |log(measured/theory)| = {g['max_abs_log']:.3f} (layer {g['worst_layer'] + 1}, largest "
            f"|z| = {g['max_z']:.1f}); layer 1 / layer {cfg.depth}: measured {r['gradient_measured_layer1']:.3g}, "
            f"theory {r['gradient_theory_layer1']:.3g}."
        )
    spread = max(r["log_variance_max"] for r in ffnn.values())
    gap = max(r["geometric_gap_max"] for r in ffnn.values())
    corrected = max(r["lognormal_gap_max"] for r in ffnn.values())
    out.append(
        f"At width {cfg.width} the per-network gradient ratios scatter widely (variance of their log up to "
        f"{spread:.2f}, the light bands): the geometric mean over networks lies up to {gap:.2f} (in log) from the "
        f"theory, and adding half the variance of the log (the log-normal correction, Jensen) brings it to within "
        f"{corrected:.2f}; the arithmetic mean drawn, which estimates the expectation the theory gives, needs no "
        "correction. The spread is a finite-width effect that grows with depth/width."
    )
    return out


def _resnet_findings(cfg: Config, resnet: dict) -> list[str]:
    """Summary lines of the ResNet figure: agreement, growth factors, weight gradients, conventions."""
    out = []
    for (kind, depth), r in resnet.items():
        v, g = r["variance"], r["gradient"]
        out.append(
            f"ResNet {kind} L = {depth} (alpha = {r['alpha']:.4g}): q^l max |log(measured/theory)| = "
            f"{v['max_abs_log']:.3f} (|z| <= {v['max_z']:.1f}); gradient ratio max |log(measured/theory)| = "
            f"{g['max_abs_log']:.3f} (|z| <= {g['max_z']:.1f}; {r['gradient_networks']}/{cfg.replicas} networks "
            "with a non-zero gradient)."
        )
    for depth in cfg.resnet_depths:
        s, t = resnet[("standard", depth)], resnet[("stable", depth)]
        out.append(
            f"L = {depth}: standard ResNet total growth q^L/q^0 = {s['q_growth_measured']:.4g} measured vs "
            f"{s['q_growth_predicted']:.4g} = 2^{depth} predicted, gradient growth tq^0/tq^L = "
            f"{s['grad_growth_measured']:.4g} vs {s['grad_growth_predicted']:.4g}; Stable ResNet q^L/q^0 = "
            f"{t['q_growth_measured']:.4f} (predicted {t['q_growth_predicted']:.4f}), gradient max/min over layers = "
            f"{t['grad_maxmin_measured']:.4f} +- {t['grad_maxmin_se']:.4f} (SE) (predicted (1 + 1/L)^L = "
            f"{t['grad_maxmin_predicted']:.4f}, bound e = {math.e:.4f})."
        )
    wg = {
        kind: max(r["weight_grad_maxmin_measured"] for (k, _), r in resnet.items() if k == kind)
        for kind in RESNET_COLORS
    }
    wg_th = max(r["weight_grad_maxmin_predicted"] for r in resnet.values())
    out.append(
        f"Per-layer weight gradients of the residual branches do not trend with l in either ResNet (theory: "
        f"alpha^2 tq^l q^(l-1)/2 is constant for ReLU, max/min over layers {wg_th:.4f}; measured max/min of the "
        f"replicate means <= {wg['standard']:.3f} standard, <= {wg['stable']:.3f} Stable, against a 2^L range of "
        "q^l): in theory their common value alpha^2 tq^L q^0 (1 + alpha^2)^(L-1) / 2 carries the whole 2^L explosion "
        "of the standard ResNet."
    )
    conv = max(r["layer_profile_rel_diff"] for r in resnet.values())
    out.append(
        f"Convention check: eoc's layer_profile of the same architecture (input projection, L branches, read-out) "
        f"reproduces resnet_variances / resnet_gradient_variances to {conv:.1e} (relative); the engine's layer 0 is "
        f"the projection, so the stream starts at q^0 = sigma_w^2 |x|^2/d = {RESNET_SIGMA_W**2 * Q_IN:.0f}."
    )
    return out


def _overflow_finding(ovf: dict) -> str:
    """Summary line of the float32 overflow check."""
    return (
        f"float32, standard ResNet, width {ovf['width']}: first layer with a non-finite activation: "
        f"{_describe_first(ovf['first_layer_entry'], ovf)}, predicted {ovf['predicted_first_layer_entry']} "
        f"(sqrt(q^0 2^l) > {ovf['float32_max']:.3g}; the maximum over {ovf['width']} entries makes it a few layers "
        "earlier, the sub-2 typical growth per layer at finite width later); first layer whose float32 second moment "
        f"mean(y^2) overflows: {_describe_first(ovf['first_layer_square'], ovf)}, predicted "
        f"{ovf['predicted_first_layer_square']} (q^0 2^l > float32 max). At L = {ovf['depth']}: "
        f"{ovf['nonfinite_activation_networks']}/{ovf['networks']} networks with a non-finite activation and "
        f"{ovf['nonfinite_gradient_networks']}/{ovf['networks']} with a non-finite weight gradient (largest "
        f"|activation| {ovf['largest_activation_entry']:.2g}, largest |gradient| {ovf['largest_gradient_entry']:.2g}); "
        f"{100 * ovf['overflowing_gradient_mean_squares']:.0f}% of the per-layer gradient mean squares overflow."
    )


def _qualitative(cfg: Config, ffnn: dict, resnet: dict) -> dict[str, bool]:
    """The three qualitative predictions the verdict rests on."""
    first = {p: r["gradient_measured_layer1"] for p, r in ffnn.items()}
    phases = first["ordered"] < 1 < first["chaotic"] and abs(math.log(first["edge_of_chaos"])) < min(
        -math.log(first["ordered"]), math.log(first["chaotic"])
    )
    standard = [resnet[("standard", d)] for d in cfg.resnet_depths]
    growth = all(
        abs(math.log(r[f"{k}_growth_measured"] / r[f"{k}_growth_predicted"])) < math.log(2.0)
        for r in standard
        for k in ("q", "grad")
    )
    bounded = all(
        resnet[("stable", d)]["grad_maxmin_measured"] - 4 * resnet[("stable", d)]["grad_maxmin_se"] < math.e
        for d in cfg.resnet_depths
    )
    return {"ffnn_phases": phases, "standard_growth_2^L": growth, "stable_below_e": bounded}


@register(
    "E8",
    title="Variance and gradient propagation: FFNN phases, ResNet vs Stable ResNet",
    claim=CLAIM,
    profiles=PROFILES,
    needs_torch=True,
)
def run(cfg: Config, ctx: Context) -> None:
    from tqdm import tqdm

    with tqdm(total=len(PHASES) + 2 * len(cfg.resnet_depths), desc="E8", disable=not ctx.progress) as progress:
        ffnn = _ffnn(cfg, ctx, progress)
        resnet = _resnet(cfg, ctx, progress)
    ovf = _overflow(cfg, cfg.seed + 1000)
    checks = _qualitative(cfg, ffnn, resnet)
    ctx.data(
        {
            "ffnn": ffnn,
            "resnet": {f"{kind} L={depth}": r for (kind, depth), r in resnet.items()},
            "float32_overflow": ovf,
            "qualitative_checks": checks,
        },
        "numbers",
        "the numbers of summary.md: agreement per setting, growth factors, float32 overflow layers",
    )
    findings = _ffnn_findings(cfg, ffnn) + _resnet_findings(cfg, resnet) + [_overflow_finding(ovf)]
    agreements = [r[k] for r in (*ffnn.values(), *resnet.values()) for k in ("variance", "gradient")]
    z = max(a["max_z"] for a in agreements)
    band = min(a["in_quantile_band"] for a in agreements)
    where = "at every layer of every setting" if band == 1.0 else f"at {100 * band:.0f}% of the layers or more"
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        verdict = (
            f"Not supported by these numbers: the qualitative check(s) {', '.join(failed)} fail (FFNN gradient phases "
            "ordered as the theory says; standard ResNet growth within a factor 2 of 2^L; Stable ResNet gradient "
            "max/min below e within 4 standard errors); see the findings."
        )
    else:
        verdict = (
            "Supported: FFNN weight gradients vanish towards the input in the ordered phase, explode in the chaotic "
            "phase and stay near flat on the EOC; the standard ResNet's variances and gradients grow like 2^L within "
            "a factor 2 at every depth measured; the Stable ResNet's gradient max/min is bounded, below e within 4 "
            "standard errors and consistent with (1 + 1/L)^L. The theory curves lie inside the 10%-90% bands of the "
            f"networks {where}, and the largest gap between replicate mean and theory is {z:.1f} standard errors"
            f"{' (gaps above 4 are finite-width effects, not sampling noise)' if z > 4 else ''}. "
            "In float32 at L = 200 the standard ResNet overflows in squared quantities (second moments, gradient "
            "norms), its activations only from the layer quoted above."
        )
    ctx.summary(CLAIM, findings, verdict)
