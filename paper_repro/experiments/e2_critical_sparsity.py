r"""E2: critical sparsity against depth and width -- theory (eoc) against measurement (Monte Carlo).

``docs/theory.md`` §4.  A tanh FFNN ``784 - N x (L-1) - 10`` with Gaussian inputs of
:math:`|x|^2/d = 1`, random labels, cross-entropy and a batch of 128 -- the setting of
``proofs_check``'s claims ``mbp-critical-sparsity`` and
``sbp-critical-sparsity-phases``, whose measurement and comparisons this experiment
uses:

* theory: :func:`eoc.critical_sparsity` for magnitude pruning (MBP) and SNIP (SBP) in
  the ordered phase, on the EOC and in the chaotic phase (:class:`PhaseSpec`), and for
  a CNN (theory only, ``arch="cnn"``);
* measurement: the empirical :math:`s_{cr}` of each of R random networks per point and
  seed (the batched simulator), mean and standard error over every network;
* keep-fraction profiles per layer at a fixed sparsity, predicted and measured.

Every (sweep point, phase, seed) is one cached run (:class:`Point`), so a rerun reads
the networks back and ``--seeds N`` adds networks.  Expectations: at every depth of
the depth sweep and in every phase, the measured :math:`s_{cr}` equals the prediction
within ``Z`` standard errors (plus, for SNIP, ``SNIP_MODEL_ERROR``, the SNIP model's
stated accuracy, a named constant of :mod:`proofs_check.verdict`); and off the EOC, at depths of ``side_depth`` and more,
every network's first collapsing layer lies on the predicted side (input side in the
ordered phase, output side in the chaotic phase).

Quick profile: depths up to 50, R = 6 networks per point (CPU, ~1 minute).  Full
profile: depths up to 200, widths up to 400, R = 64 (GPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

import eoc

from .. import verdicts
from ..config import PhaseSpec
from ..registry import Context, Summary, register
from ..style import PHASE_COLORS, PHASE_LABELS, new_figure
from ..summary import num

_METHOD_TITLES = {"magnitude": "magnitude pruning (MBP)", "snip": "SNIP (SBP)"}


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E2 (module docstring).

    Attributes
    ----------
    depths : tuple of int
        Depth sweep (numbers of weight layers L) at width ``width``.
    width : int
    width_sweep : tuple of int
        Width sweep at depth ``width_sweep_depth``.
    width_sweep_depth : int
    input_dim, outputs, batch : int
        Input dimension, classes, and the SNIP batch.
    replicas : int
        Networks per point and seed.
    sigma_b : float
    phases : PhaseSpec
    profile_depth : int
        Depth (of the depth sweep) whose per-layer keep fractions are drawn.
    profile_sparsity : float
    cnn_channels : int
        Channels of the CNN of the theory-only figure.
    side_depth : int
        Smallest depth at which the side of the first collapse is judged.
    seeds : int
    """

    depths: tuple = (5, 10, 20, 30, 50)
    width: int = 100
    width_sweep: tuple = (50, 100, 200)
    width_sweep_depth: int = 30
    input_dim: int = 784
    outputs: int = 10
    batch: int = 128
    replicas: int = 6
    sigma_b: float = 0.2
    phases: PhaseSpec = field(default_factory=PhaseSpec)
    profile_depth: int = 30
    profile_sparsity: float = 0.5
    cnn_channels: int = 32
    side_depth: int = 20
    seeds: int = 1


PROFILES = {
    "quick": Config(),
    "full": Config(depths=(5, 10, 20, 50, 100, 150, 200), width_sweep=(50, 100, 200, 400), width_sweep_depth=50,
                   replicas=64, profile_depth=100),
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Point:
    """One cached measurement: R networks of one architecture and phase at one seed."""

    widths: tuple
    sigma_w: float
    sigma_b: float
    batch: int
    replicas: int
    seed: int
    keep_sparsity: float | None = None


def measure_point(point: Point, *, device: str = "cpu") -> dict:
    """Per network: SNIP and magnitude s_cr, the first layer to collapse under SNIP, and
    (with ``keep_sparsity``) the SNIP keep fraction of every layer at that sparsity.

    The measurement of ``proofs_check``'s critical-sparsity claims
    (:func:`proofs_check.claims.critical.measure_critical_sparsity`); one seed gives the
    same networks to both methods.
    """
    from proofs_check.claims.critical import measure_critical_sparsity

    common = {"widths": point.widths, "act": "tanh", "sigma_w": point.sigma_w, "sigma_b": point.sigma_b,
              "replicas": point.replicas, "batch": point.batch, "seed": point.seed, "device": device}  # fmt: skip
    snip = measure_critical_sparsity(method="snip", keep_sparsity=point.keep_sparsity, **common)
    mag = measure_critical_sparsity(method="magnitude", **common)
    out = {"snip_s_cr": snip.s_cr, "snip_first_layer": snip.first_layer, "magnitude_s_cr": mag.s_cr}
    if snip.keep_fractions is not None:
        out["snip_keep"] = snip.keep_fractions
    return out


def _widths(cfg: Config, depth: int, width: int) -> tuple:
    return (cfg.input_dim, *([width] * (depth - 1)), cfg.outputs)


def _points(cfg: Config, sigma_ws: dict) -> list[tuple[str, int, int, str, Point]]:
    """``(sweep, depth, width, phase, point)`` of every measurement, seeds innermost."""
    jobs = [("depth", d, cfg.width) for d in cfg.depths] + [("width", cfg.width_sweep_depth, n) for n in cfg.width_sweep]
    out = []
    for k, (sweep, depth, width) in enumerate(jobs):
        for j, (phase, sw) in enumerate(sigma_ws.items()):
            keep = cfg.profile_sparsity if sweep == "depth" and depth == cfg.profile_depth else None
            for seed in range(cfg.seeds):
                point = Point(widths=_widths(cfg, depth, width), sigma_w=sw, sigma_b=cfg.sigma_b, batch=cfg.batch,
                              replicas=cfg.replicas, seed=1000 * k + 10 * j + seed, keep_sparsity=keep)  # fmt: skip
                out.append((sweep, depth, width, phase, point))
    return out


def _plot_sweep(ctx: Context, rows: list[dict], sweep: str, xlabel: str, title: str, name: str, caption: str,
                log_x: bool) -> None:  # fmt: skip
    """Theory (lines) and Monte Carlo (mean +- 2 s.e.) of s_cr along one sweep, MBP and SNIP panels.

    The legend sits below the panels, where it hides no point.
    """
    fig, axes = new_figure(ncols=2, width=3.6, height=3.0)
    for ax, method in zip(axes[0], ("magnitude", "snip")):
        for phase in PHASE_LABELS:
            sel = [r for r in rows if r["sweep"] == sweep and r["phase"] == phase]
            x = [r[sweep] for r in sel]
            ax.plot(x, [r[f"{method}_predicted"] for r in sel], color=PHASE_COLORS[phase],
                    label=f"{PHASE_LABELS[phase]} (theory)")  # fmt: skip
            ax.errorbar(
                x, [r[f"{method}_measured"] for r in sel], yerr=[2 * r[f"{method}_se"] for r in sel],
                fmt="o", ms=3, color=PHASE_COLORS[phase], capsize=2, label=f"{PHASE_LABELS[phase]} (measured)",
            )  # fmt: skip
        if log_x:
            ax.set_xscale("log")
            ax.minorticks_off()
        xs = sorted({r[sweep] for r in rows if r["sweep"] == sweep})
        ax.set_xticks(xs, [str(v) for v in xs])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("critical sparsity $s_{cr}$")
        ax.set_title(f"{_METHOD_TITLES[method]}{title}")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=3)
    ctx.figure(fig, name, caption)


def _plot_cnn_theory(cfg: Config, ctx: Context, sigma_ws: dict) -> None:
    """Predicted SNIP s_cr of a plain conv net with 3x3 kernels and ``cnn_channels`` channels (theory only)."""
    depths = np.array(cfg.depths)
    cnn = {
        phase: [
            eoc.predict_critical_sparsity("snip", [3] + [cfg.cnn_channels] * (L - 1) + [cfg.outputs], "tanh", sw,
                                          cfg.sigma_b, arch="cnn")  # fmt: skip
            for L in depths
        ]
        for phase, sw in sigma_ws.items()
    }
    fig, ax = new_figure(width=3.6, height=3.0)
    for phase, v in cnn.items():
        ax[0, 0].plot(depths, v, color=PHASE_COLORS[phase], label=PHASE_LABELS[phase])
    ax[0, 0].set_xlabel("depth L")
    ax[0, 0].set_ylabel("predicted $s_{cr}$ (SNIP)")
    ax[0, 0].set_title(f"CNN, {cfg.cnn_channels} channels, 3x3 (theory)")
    ax[0, 0].legend()
    ctx.figure(fig, "scr_cnn_theory", "predicted SNIP s_cr of a tanh CNN against depth (theory only)")
    ctx.data_file({"depths": depths, **cnn}, "scr_cnn_theory", "predicted CNN s_cr per phase")


def _plot_profiles(cfg: Config, ctx: Context, sigma_ws: dict, keep_meas: dict) -> None:
    L = cfg.profile_depth
    widths = list(_widths(cfg, L, cfg.width))
    fig, ax = new_figure(width=4.2, height=3.0)
    ax = ax[0, 0]
    data = {}
    for phase, sw in sigma_ws.items():
        pred = eoc.predict_keep_fractions("snip", cfg.profile_sparsity, widths, "tanh", sw, cfg.sigma_b)
        data[f"{phase}_predicted"] = pred
        ax.plot(np.arange(1, L + 1), pred, color=PHASE_COLORS[phase], label=f"{PHASE_LABELS[phase]} (theory)")
        if phase in keep_meas:
            meas = keep_meas[phase].mean(axis=0)
            data[f"{phase}_measured"] = meas
            ax.plot(np.arange(1, L + 1), meas, "o", ms=2.5, color=PHASE_COLORS[phase])
    ax.plot([], [], "o", ms=2.5, color="0.4", label="measured (mean over networks)")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("kept fraction")
    ax.set_title(f"SNIP keep fractions, depth {L}, sparsity {cfg.profile_sparsity}")
    ax.legend()
    ctx.figure(fig, "keep_profiles", "per-layer kept fraction under SNIP: theory (lines) and measured (dots, mean over networks)")
    ctx.data_file(data, "keep_profiles", "predicted and measured keep fraction per layer and phase")


def summarize(n: dict) -> Summary:
    s = n["setting"]
    setting = [
        f"tanh FFNN of input dimension {s['input_dim']}, {s['outputs']} classes, sigma_b = {num(s['sigma_b'])}; sigma_w = "
        + ", ".join(f"{num(v)} ({PHASE_LABELS[k]})" for k, v in n["sigma_w"].items())
        + f"; Gaussian inputs, random labels, SNIP batch {s['batch']}; {s['replicas']} networks per point and seed, "
        f"{s['seeds']} seeds; depths {', '.join(map(str, s['depths']))} at width {s['width']}; widths "
        f"{', '.join(map(str, s['width_sweep']))} at depth {s['width_sweep_depth']}; SNIP model error "
        f"{num(n['snip_model_error'])} (proofs_check's stated accuracy of the SNIP model).",
    ]
    findings = []
    depth_rows = [r for r in n["points"] if r["sweep"] == "depth"]
    for method in ("magnitude", "snip"):
        for phase in PHASE_LABELS:
            sel = [r for r in depth_rows if r["phase"] == phase]
            worst = max(sel, key=lambda r: abs(r[f"{method}_predicted"] - r[f"{method}_measured"]))
            findings.append(
                f"{method}, {PHASE_LABELS[phase]}: worst gap at L = {worst['depth']}: theory "
                f"{num(worst[f'{method}_predicted'])} vs measured {num(worst[f'{method}_measured'])} ± "
                f"{num(worst[f'{method}_se'])} (s.e.)."
            )
    deep = max(r["depth"] for r in depth_rows)
    by = {r["phase"]: r for r in depth_rows if r["depth"] == deep}
    findings.append(
        f"SNIP at L = {deep}: measured s_cr "
        + ", ".join(f"{PHASE_LABELS[p]} {num(r['snip_measured'])}" for p, r in by.items())
        + "; first layer to collapse (measured mode / predicted): "
        + ", ".join(f"{PHASE_LABELS[p]} {r['snip_first_layer_measured']} / {r['snip_first_layer_predicted']}" for p, r in by.items())
        + "."
    )
    return Summary(setting, findings)


@register("E2", profiles=PROFILES, summarize=summarize)
def run(cfg: Config, ctx: Context) -> dict:
    w_eoc = float(eoc.edge_of_chaos("tanh", cfg.sigma_b))
    sigma_ws = {phase: f * w_eoc for phase, f in cfg.phases.items()}
    tagged = _points(cfg, sigma_ws)
    results = ctx.sweep([t[-1] for t in tagged], partial(measure_point, device=ctx.device), "E2 points")
    pooled: dict[tuple, dict[str, list]] = {}
    for (sweep, depth, width, phase, _), res in zip(tagged, results):
        cell = pooled.setdefault((sweep, depth, width, phase), {})
        for key, value in res.items():
            cell.setdefault(key, []).extend(value)
    from proofs_check.verdict import SNIP_MODEL_ERROR

    rows, keep_meas, expectations = [], {}, []
    for (sweep, depth, width, phase), m in pooled.items():
        widths = list(_widths(cfg, depth, width))
        p_snip = eoc.critical_sparsity("snip", widths, "tanh", sigma_ws[phase], cfg.sigma_b)
        p_mag = eoc.critical_sparsity("magnitude", widths, "tanh", sigma_ws[phase], cfg.sigma_b)
        (ms, es), (mm, em) = verdicts.mean_se(m["snip_s_cr"]), verdicts.mean_se(m["magnitude_s_cr"])
        first = np.asarray(m["snip_first_layer"], dtype=int)
        rows.append(
            {
                "sweep": sweep, "depth": depth, "width": width, "phase": phase, "sigma_w": sigma_ws[phase],
                "snip_predicted": p_snip.s_cr, "snip_measured": ms, "snip_se": es,
                "snip_first_layer_predicted": int(p_snip.first_layer),
                "snip_first_layer_measured": int(np.bincount(first).argmax()),
                "magnitude_predicted": p_mag.s_cr, "magnitude_measured": mm, "magnitude_se": em,
                "networks": len(first),
            }
        )  # fmt: skip
        if "snip_keep" in m:
            keep_meas[phase] = np.asarray(m["snip_keep"])
        if sweep != "depth":
            continue
        tag = f"{PHASE_LABELS[phase]}, L={depth}"
        expectations.append(
            verdicts.expect_equal("magnitude pruning: s_cr as predicted", f"s_cr magnitude {tag}", p_mag.s_cr,
                                  m["magnitude_s_cr"])  # fmt: skip
        )
        expectations.append(
            verdicts.expect_equal("SNIP: s_cr as predicted, within the SNIP model's accuracy", f"s_cr SNIP {tag}",
                                  p_snip.s_cr, m["snip_s_cr"], model_error="SNIP_MODEL_ERROR")  # fmt: skip
        )
        if phase != "edge_of_chaos" and depth >= cfg.side_depth:
            side = (first < depth / 2) == (p_snip.first_layer < depth / 2)
            expectations.append(
                verdicts.expect_equal("SNIP: the first layer to collapse is on the predicted side",
                                      f"fraction on the predicted side, {tag}", 1.0, side.astype(float))  # fmt: skip
            )
    ctx.csv(rows, "critical_sparsity", "predicted and measured s_cr per depth/width, phase and method")
    _plot_sweep(
        ctx, rows, "depth", "depth L", "", "scr_vs_depth",
        f"s_cr against depth, tanh FFNN width {cfg.width}: theory (lines) and Monte Carlo (mean +- 2 s.e.)", False,
    )  # fmt: skip
    _plot_sweep(
        ctx, rows, "width", "width N", f", depth {cfg.width_sweep_depth}", "scr_vs_width",
        f"s_cr against width at depth {cfg.width_sweep_depth}: theory (lines) and Monte Carlo (mean +- 2 s.e.)", True,
    )  # fmt: skip
    _plot_cnn_theory(cfg, ctx, sigma_ws)
    _plot_profiles(cfg, ctx, sigma_ws, keep_meas)
    return {
        "setting": asdict(cfg),
        "sigma_w": sigma_ws,
        "snip_model_error": SNIP_MODEL_ERROR,
        "points": rows,
        "verdict": verdicts.verdict(expectations),
    }
