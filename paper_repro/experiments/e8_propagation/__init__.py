r"""E8: variance and gradient propagation, theory curves over Monte-Carlo bands.

Three figures (``docs/theory.md`` §2, §3, §6 and §7):

1. ``ffnn_variance``: :math:`q^l` against the layer l of a tanh FFNN in the ordered
   phase, on the EOC and in the chaotic phase (:class:`~paper_repro.config.PhaseSpec`),
   inputs with :math:`|x|^2/d = 1`; theory :math:`q^1 = \sigma_b^2 + \sigma_w^2`,
   :math:`q^l = F(q^{l-1})`.
2. ``ffnn_gradients``: :math:`\mathbb E[(\partial\mathcal L/\partial W^l_{ij})^2]` relative to
   the last hidden layer, same settings, one input per network (per-sample gradients,
   the setting of the backward formula), cross-entropy with a random label; theory
   :func:`eoc.gradient_variances`.
3. ``resnet_variance_gradients``: one-layer-branch ReLU ResNets with
   :math:`\sigma_w = \sqrt 2`, :math:`\sigma_b = 0`, standard (:math:`\alpha = 1`) against
   Stable (:math:`\alpha = 1/\sqrt L`): the stream variance :math:`q^l` and the stream
   gradient variance :math:`\tilde q^l = \mathbb E[(\partial\mathcal L/\partial y^l_i)^2]`
   relative to :math:`\tilde q^L`; theory :math:`(1 + \alpha^2\sigma_w^2/2)^l`.

Conventions.  The simulator's ResNet has an input projection (its layer 0,
:math:`y^0 = W^0x + B^0`, so :math:`q^0 = \sigma_b^2 + \sigma_w^2|x|^2/d`), then L
residual branches :math:`y^l = y^{l-1} + \alpha(W^l\phi(y^{l-1}) + B^l)`, then a read-out;
:func:`eoc.layer_profile` of the same architecture is checked to agree with the ResNet
recursions.  The measurements are those of ``proofs_check``'s claims (:mod:`.simulate`);
the ResNet stream gradients are back-propagated from a fixed random output gradient,
which does not saturate when the outputs explode.

Statistics.  Every quantity is measured per network; the curves are the replicate
mean (an estimate of the expectation the theory predicts), with a band of mean +- 2
standard errors and a lighter band of per-network quantiles (``quantiles``).
Networks with a non-finite gradient are left out of the gradient ratios (counted).
Finally float32 standard ResNets locate the first layer where some activation, and
some second moment, overflows, against the claim's prediction
(:func:`proofs_check.claims.resnet.predict_float32_overflow`: :math:`q^0 2^l` times the
largest of the squared Gaussian entries, :math:`2\ln n`, reaches the float32 maximum).

Layout: :mod:`.simulate` (cached runs on the batched simulator), :mod:`.figures`,
:mod:`.summary` (expectations and summary lines); this module composes them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

import eoc

from ... import verdicts
from ...config import PhaseSpec
from ...registry import Context, register
from . import figures
from .simulate import (
    Q_IN,
    RESNET_SIGMA_B,
    RESNET_SIGMA_W,
    FFNNRun,
    OverflowRun,
    ResNetRun,
    agreement,
    replicate_stats,
    simulate_ffnn,
    simulate_overflow,
    simulate_resnet,
)
from .summary import expectations, summarize

__all__ = ["Config", "PROFILES", "run"]


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E8.

    Attributes
    ----------
    width, depth : int
        FFNN hidden width and number of hidden layers L (L + 1 weight layers).
    replicas : int
        Independent networks R per setting and seed.
    inputs : int
        Inputs per network for the FFNN variances (the gradients use the first one).
    outputs : int
        Read-out width (classes of the cross-entropy).
    sigma_b : float
        FFNN bias scale.
    phases : PhaseSpec
        sigma_w / sigma_w(EOC) of the three FFNN settings.
    resnet_width : int
    resnet_depths : tuple of int
        Numbers L of residual branches.
    overflow_width, overflow_depth, overflow_scan, overflow_replicas : int
        The float32 check: width, the depth the claim quotes, the number of layers
        scanned for the first non-finite value, networks.
    quantiles : tuple of float
        The per-network band drawn.
    seeds : int
        Independent sets of ``replicas`` networks per setting (also the way to bound
        memory: each run holds about ``3 * replicas * depth * width^2 * 8`` bytes).
    """

    width: int = 128
    depth: int = 30
    replicas: int = 64
    inputs: int = 8
    outputs: int = 10
    sigma_b: float = 0.2
    phases: PhaseSpec = field(default_factory=PhaseSpec)
    resnet_width: int = 128
    resnet_depths: tuple = (10, 50)
    overflow_width: int = 100
    overflow_depth: int = 200
    overflow_scan: int = 300
    overflow_replicas: int = 16
    quantiles: tuple = (0.1, 0.9)
    seeds: int = 1


PROFILES = {
    "quick": Config(),
    "full": Config(width=1024, depth=100, replicas=32, resnet_width=1024, resnet_depths=(10, 50, 100), seeds=8),
}


def _pooled(results: list[dict]) -> dict[str, np.ndarray]:
    """The per-network arrays of several seeds' runs, stacked along the network axis."""
    return {k: np.concatenate([np.asarray(r[k], dtype=float) for r in results]) for k in results[0]}


def _ffnn(cfg: Config, ctx: Context) -> tuple[dict, dict, dict]:
    w_eoc = float(eoc.edge_of_chaos("tanh", cfg.sigma_b))
    widths = [cfg.width] * (cfg.depth + 1) + [cfg.outputs]
    phases = cfg.phases.items()
    runs = [
        FFNNRun(width=cfg.width, depth=cfg.depth, outputs=cfg.outputs, pairs=max(1, cfg.inputs // 2), sigma_w=f * w_eoc,
                sigma_b=cfg.sigma_b, replicas=cfg.replicas, seed=10 + k + 100 * s)  # fmt: skip
        for k, (_, f) in enumerate(phases)
        for s in range(cfg.seeds)
    ]
    results = ctx.sweep(runs, partial(simulate_ffnn, device=ctx.device), "E8 FFNN")
    curves, numbers, samples = {}, {}, {"log_grad_layer1": {}, "grad_layer1": {}}
    rows_q, rows_g = [], []
    for k, (phase, f) in enumerate(phases):
        sw = f * w_eoc
        meas = _pooled(results[k * cfg.seeds : (k + 1) * cfg.seeds])
        q_th = eoc.variance_iterates(cfg.sigma_b**2 + sw**2 * Q_IN, cfg.depth - 1, "tanh", sw, cfg.sigma_b)
        prof = eoc.gradient_variances(widths, "tanh", sw, cfg.sigma_b, input_q=Q_IN)
        g_th = prof.weight_grad / prof.weight_grad[-2]
        ratio = meas["grad"] / meas["grad"][:, [-2]]
        st_q, st_g = replicate_stats(meas["q"], cfg.quantiles), replicate_stats(ratio, cfg.quantiles)
        curves[phase] = {"sigma_w": sw, "q": st_q, "q_theory": q_th, "grad": st_g, "grad_theory": g_th}
        for layer_rows, layers, th, st in ((rows_q, range(1, cfg.depth + 1), q_th, st_q),
                                            (rows_g, range(1, cfg.depth + 2), g_th, st_g)):  # fmt: skip
            layer_rows += [
                {"phase": phase, "sigma_w": sw, "layer": l, "theory": float(th[i]), "mean": float(st["mean"][i]),
                 "se": float(st["se"][i]), "lo": float(st["lo"][i]), "hi": float(st["hi"][i]), "networks": st["networks"]}
                for i, l in enumerate(layers)
            ]  # fmt: skip
        log_ratio = np.log(ratio)
        samples["log_grad_layer1"][phase] = log_ratio[:, 0]
        samples["grad_layer1"][phase] = ratio[:, 0]
        numbers[phase] = {
            "sigma_w": sw,
            "variance": agreement(st_q, q_th, range(1, cfg.depth + 1)),
            "gradient": agreement(st_g, g_th, range(1, cfg.depth + 2)),
            "gradient_theory_layer1": float(g_th[0]),
            "gradient_measured_layer1": float(st_g["mean"][0]),
            "gradient_measured_layer1_se": float(st_g["se"][0]),
            "log_variance_max": float(log_ratio.var(axis=0, ddof=1).max()),
            "geometric_gap_max": float(np.max(np.abs(log_ratio.mean(axis=0) - np.log(g_th)))),
            "lognormal_gap_max": float(
                np.max(np.abs(log_ratio.mean(axis=0) + log_ratio.var(axis=0, ddof=1) / 2 - np.log(g_th)))
            ),
        }
    figures.ffnn_figures(ctx, cfg, curves)
    ctx.csv(rows_q, "ffnn_variance", "q^l per phase and layer: theory, replicate mean, SE, quantile band")
    ctx.csv(rows_g, "ffnn_gradients", "relative weight-gradient mean square per phase and layer: theory, MC statistics")
    return numbers, samples, curves


def _resnet(cfg: Config, ctx: Context) -> tuple[dict, dict]:
    settings = [
        (kind, depth, 1.0 if kind == "standard" else 1.0 / math.sqrt(depth))
        for depth in cfg.resnet_depths
        for kind in ("standard", "stable")
    ]
    runs = [
        ResNetRun(width=cfg.resnet_width, depth=depth, alpha=alpha, replicas=cfg.replicas,
                  seed=100 + 10 * j + (kind == "stable") + 1000 * s)  # fmt: skip
        for j, (kind, depth, alpha) in enumerate(settings)
        for s in range(cfg.seeds)
    ]
    results = ctx.sweep(runs, partial(simulate_resnet, device=ctx.device), "E8 ResNet")
    curves, numbers, growth, rows = {}, {}, {}, []
    q0 = RESNET_SIGMA_B**2 + RESNET_SIGMA_W**2 * Q_IN
    for j, (kind, depth, alpha) in enumerate(settings):
        meas = _pooled(results[j * cfg.seeds : (j + 1) * cfg.seeds])
        q_th = eoc.resnet_variances(depth, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, alpha, q0)
        g_th = eoc.resnet_gradient_variances(depth, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, alpha, q0)
        g_th = g_th / g_th[-1]
        arch = eoc.as_architecture([cfg.resnet_width] * (depth + 2) + [cfg.outputs], "resnet", alpha=alpha)
        prof = eoc.layer_profile(arch, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, input_q=Q_IN)
        arch_q, arch_g = prof.q[: depth + 1], prof.grad_q[: depth + 1] / prof.grad_q[depth]
        alive = np.all(np.isfinite(meas["grad_q"]), axis=1) & (meas["grad_q"][:, -1] > 0)
        grad_ratio = meas["grad_q"][alive] / meas["grad_q"][alive][:, [-1]]
        st_q, st_g = replicate_stats(meas["q"], cfg.quantiles), replicate_stats(grad_ratio, cfg.quantiles)
        key = f"{kind} L={depth}"
        curves[(kind, depth)] = {"alpha": alpha, "q": st_q, "q_theory": q_th, "grad": st_g, "grad_theory": g_th}
        for quantity, th, st in (("q", q_th, st_q), ("grad_q/grad_q^L", g_th, st_g)):
            rows += [
                {"setting": key, "quantity": quantity, "layer": l, "theory": float(th[l]), "mean": float(st["mean"][l]),
                 "se": float(st["se"][l]), "lo": float(st["lo"][l]), "hi": float(st["hi"][l]), "networks": st["networks"]}
                for l in range(depth + 1)
            ]  # fmt: skip
        growth[key] = meas["q"][:, -1] / meas["q"][:, 0]
        numbers[key] = {
            "kind": kind,
            "depth": depth,
            "alpha": alpha,
            "variance": agreement(st_q, q_th, range(depth + 1)),
            "gradient": agreement(st_g, g_th, range(depth + 1)),
            "q_growth_measured": float(st_q["mean"][-1] / st_q["mean"][0]),
            "q_growth_predicted": float(q_th[-1] / q_th[0]),
            "grad_growth_measured": float(st_g["mean"][0]),
            "grad_growth_predicted": float(g_th[0]),
            "grad_maxmin_measured": float(st_g["mean"].max() / st_g["mean"].min()),
            "grad_maxmin_se": float(st_g["se"][np.argmax(st_g["mean"])] / st_g["mean"].min()),
            "grad_maxmin_predicted": float(g_th.max() / g_th.min()),
            "gradient_networks": int(alive.sum()),
            "layer_profile_rel_diff": float(max(np.max(np.abs(arch_q / q_th - 1)), np.max(np.abs(arch_g / g_th - 1)))),
        }
    figures.resnet_figure(ctx, cfg, curves)
    ctx.csv(rows, "resnet_variance_gradients", "ResNet stream variance and gradient ratio per layer: theory and MC")
    return numbers, growth


def _overflow(cfg: Config, ctx: Context) -> dict:
    from proofs_check.claims.resnet import predict_float32_overflow

    runs = [
        OverflowRun(width=cfg.overflow_width, depth=cfg.overflow_scan, replicas=cfg.overflow_replicas, seed=1000 + s)
        for s in range(cfg.seeds)
    ]
    results = ctx.sweep(runs, partial(simulate_overflow, device=ctx.device), "E8 float32")
    pred = predict_float32_overflow(width=cfg.overflow_width, replicas=cfg.overflow_replicas, sigma_w=RESNET_SIGMA_W)

    def first(key: str) -> int | None:
        hits = [r[key] for r in results if r[key] is not None]
        return min(hits) if hits else None

    return {
        "width": cfg.overflow_width,
        "networks": cfg.overflow_replicas * cfg.seeds,
        "scan": cfg.overflow_scan,
        "depth": cfg.overflow_depth,
        "q0": RESNET_SIGMA_B**2 + RESNET_SIGMA_W**2 * Q_IN,
        "first_square": first("square"),
        "first_entry": first("entry"),
        "predicted_square": pred["square"],
        "predicted_entry": pred["entry"],
        "per_seed": results,
    }


@register("E8", profiles=PROFILES, summarize=summarize)
def run(cfg: Config, ctx: Context) -> dict:
    ffnn, samples, _ = _ffnn(cfg, ctx)
    resnet, growth = _resnet(cfg, ctx)
    overflow = _overflow(cfg, ctx)
    samples |= {"growth": growth}
    return {
        "setting": asdict(cfg),
        "resnet_sigma_w": RESNET_SIGMA_W,
        "resnet_sigma_b": RESNET_SIGMA_B,
        "ffnn": ffnn,
        "resnet": resnet,
        "overflow": overflow,
        "verdict": verdicts.verdict(expectations(ffnn, resnet, overflow, samples)),
    }
