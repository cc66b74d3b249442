r"""E2: critical sparsity against depth and width -- theory (eoc) against measurement (Monte Carlo).

``docs/theory.md`` §4 and §8.  A tanh FFNN ``784 - N x (L-1) - 10`` with Gaussian inputs
of :math:`|x|^2/d = 1`, random labels, cross-entropy and a batch of 128 -- the setting of
``proofs_check``'s claims ``mbp-critical-sparsity`` and
``sbp-critical-sparsity-phases``, whose measurements and comparisons this experiment
uses:

* theory: :func:`eoc.critical_sparsity` for random, magnitude (MBP) and SNIP (SBP)
  pruning in the ordered phase, on the EOC and in the chaotic phase (:class:`PhaseSpec`);
  for SNIP both the finite-width, batch-aware model (``model="finite"``, §8, drawn solid)
  and the paper's iid model (``model="iid"``, §4, dashed);
* measurement: the empirical :math:`s_{cr}` of each of R random networks per point and
  seed, for all five methods of :mod:`eoc.nn` -- random, magnitude, SNIP, GraSP and
  SynFlow (single-shot scores; no theory exists for the last two) -- on the same
  networks (:func:`proofs_check.claims.critical.measure_critical_sparsity` and
  :func:`~proofs_check.claims.critical.measure_module_critical_sparsity`);
* a plain tanh CNN (``arch="cnn"``: 3x3 convolutions, global average pooling, dense
  read-out) on Gaussian images: SNIP's predicted (both models) and measured :math:`s_{cr}`;
  the finite model counts every convolution's batch x image positions
  (``image_size``, docs/theory.md §8.6), and the same model with one position per
  example (image size unknown) is drawn for comparison;
* keep-fraction profiles per layer at a fixed sparsity, predicted and measured.

Every (sweep point, phase, seed) is one cached run (:class:`Point`, :class:`CNNPoint`),
so a rerun reads the networks back and ``--seeds N`` adds networks.  Expectations: at
every depth of the depth sweep and in every phase, the measured :math:`s_{cr}` of random
magnitude pruning equals the prediction within ``Z`` standard errors (random pruning's
exact prediction is drawn and tabulated, not judged: with a few networks per point the
standard error of its skewed extreme-value statistic is itself too noisy for a 4 s.e.
test), and SNIP's the finite model's within its own stated error (its Monte-Carlo error and
``FINITE_MODEL_ERROR``, derived in :func:`proofs_check.verdict.finite_model_error`); the
same for SNIP on the CNN, with the CNN allowance ``FINITE_CNN_MODEL_ERROR``
(:func:`proofs_check.verdict.finite_cnn_model_error`); and off the EOC, at depths of ``side_depth`` and more, every
network's first collapsing layer lies on the predicted side (input side in the ordered
phase, output side in the chaotic phase).  How the paper's iid model fares at the same
tolerances is reported next to the verdict.

Quick profile: depths up to 50, R = 6 networks per point, CNN depths up to 20 with
R = 4 (CPU, a few minutes).  Full profile: depths up to 200, widths up to 400, R = 64,
CNN depths up to 100 (GPU).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np

import eoc
from proofs_check.verdict import tally_sentence

from .. import verdicts
from ..config import PhaseSpec
from ..registry import Context, Summary, register
from ..style import METHOD_COLORS, METHOD_LABELS, PHASE_COLORS, PHASE_LABELS, new_figure
from ..summary import num

_METHOD_TITLES = {"magnitude": "magnitude pruning (MBP)", "snip": "SNIP (SBP)"}
#: Every method measured, and those with a theory (:data:`eoc.THEORY_METHODS`).
_METHODS = ("random", "magnitude", "snip", "grasp", "synflow")
_THEORY = ("random", "magnitude", "snip")
_IID_STYLE = {"ls": "--", "lw": 1.0}


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
        Channels of the CNN.
    cnn_depths : tuple of int
        Depths (weight layers) of the CNN, predicted and measured.
    cnn_image_size : int
        Side of the CNN's Gaussian input images (``input channels = 3``).
    cnn_replicas : int
        CNNs per depth, phase and seed.
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
    cnn_depths: tuple = (5, 10, 20)
    cnn_image_size: int = 8
    cnn_replicas: int = 4
    side_depth: int = 20
    seeds: int = 1


PROFILES = {
    "quick": Config(),
    "full": Config(depths=(5, 10, 20, 50, 100, 150, 200), width_sweep=(50, 100, 200, 400), width_sweep_depth=50,
                   replicas=64, profile_depth=100, cnn_depths=(5, 10, 20, 50, 100), cnn_replicas=32),
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
    more_methods: tuple = ()


def measure_point(point: Point, *, device: str = "cpu") -> dict:
    """Per network: SNIP and magnitude s_cr, the first layer to collapse under SNIP,
    (with ``keep_sparsity``) the SNIP keep fraction of every layer at that sparsity, and
    the s_cr of each method of ``more_methods`` on the same networks.

    The measurements of ``proofs_check``'s critical-sparsity claims
    (:func:`proofs_check.claims.critical.measure_critical_sparsity`, and
    :func:`~proofs_check.claims.critical.measure_module_critical_sparsity` for the other
    methods, on the :mod:`eoc.nn` copies of the same networks and batch).
    """
    from proofs_check.claims.critical import measure_critical_sparsity, measure_module_critical_sparsity

    common = {"widths": point.widths, "act": "tanh", "sigma_w": point.sigma_w, "sigma_b": point.sigma_b,
              "replicas": point.replicas, "batch": point.batch, "seed": point.seed, "device": device}  # fmt: skip
    snip = measure_critical_sparsity(method="snip", keep_sparsity=point.keep_sparsity, **common)
    mag = measure_critical_sparsity(method="magnitude", **common)
    out = {"snip_s_cr": snip.s_cr, "snip_first_layer": snip.first_layer, "magnitude_s_cr": mag.s_cr}
    if snip.keep_fractions is not None:
        out["snip_keep"] = snip.keep_fractions
    for method in point.more_methods:
        out[f"{method}_s_cr"] = measure_module_critical_sparsity(method=method, **common)
    return out


@dataclass(frozen=True, kw_only=True)
class CNNPoint:
    """One cached measurement: SNIP's s_cr of R plain CNNs of one depth and phase at one seed."""

    widths: tuple
    sigma_w: float
    sigma_b: float
    batch: int
    replicas: int
    image_size: int
    seed: int


def measure_cnn_point(point: CNNPoint, *, device: str = "cpu") -> dict:
    """Per network, SNIP's s_cr (:func:`proofs_check.claims.critical.measure_module_critical_sparsity`, ``arch="cnn"``)."""
    from proofs_check.claims.critical import measure_module_critical_sparsity

    return {"snip_s_cr": measure_module_critical_sparsity(
        method="snip", widths=point.widths, act="tanh", sigma_w=point.sigma_w, sigma_b=point.sigma_b,
        replicas=point.replicas, batch=point.batch, arch="cnn", image_size=point.image_size, seed=point.seed,
        device=device,
    )}  # fmt: skip


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
                              replicas=cfg.replicas, seed=1000 * k + 10 * j + seed, keep_sparsity=keep,
                              more_methods=("random", "grasp", "synflow"))  # fmt: skip
                out.append((sweep, depth, width, phase, point))
    return out


def _cnn_widths(cfg: Config, depth: int) -> tuple:
    from proofs_check.claims.critical import cnn_widths

    return tuple(cnn_widths(cfg.cnn_channels, depth, outputs=cfg.outputs))


def _cnn_points(cfg: Config, sigma_ws: dict) -> list[tuple[int, str, CNNPoint]]:
    out = []
    for k, depth in enumerate(cfg.cnn_depths):
        for j, (phase, sw) in enumerate(sigma_ws.items()):
            for seed in range(cfg.seeds):
                point = CNNPoint(widths=_cnn_widths(cfg, depth), sigma_w=sw, sigma_b=cfg.sigma_b, batch=cfg.batch,
                                 replicas=cfg.cnn_replicas, image_size=cfg.cnn_image_size,
                                 seed=500_000 + 1000 * k + 10 * j + seed)  # fmt: skip
                out.append((depth, phase, point))
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
                    label=f"{PHASE_LABELS[phase]} (theory{', finite model' if method == 'snip' else ''})")  # fmt: skip
            if method == "snip":
                ax.plot(x, [r["snip_predicted_iid"] for r in sel], color=PHASE_COLORS[phase], **_IID_STYLE,
                        label=f"{PHASE_LABELS[phase]} (paper's iid model)")  # fmt: skip
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


def _plot_methods(ctx: Context, rows: list[dict]) -> None:
    """Measured s_cr of all five methods against depth, one panel per phase, over the theory
    (random, magnitude; SNIP by the finite model solid and the paper's iid model dashed)."""
    fig, axes = new_figure(ncols=len(PHASE_LABELS), width=3.2, height=3.0, sharey=True)
    for ax, phase in zip(axes[0], PHASE_LABELS):
        sel = [r for r in rows if r["sweep"] == "depth" and r["phase"] == phase]
        x = np.array([r["depth"] for r in sel])
        for k, method in enumerate(_METHODS):
            color = METHOD_COLORS[method]
            shift = 1.0 + 0.03 * (k - 2)  # side by side on the log axis
            ax.errorbar(x * shift, [r[f"{method}_measured"] for r in sel], yerr=[2 * r[f"{method}_se"] for r in sel],
                        fmt="o", ms=3, capsize=2, color=color, label=f"{METHOD_LABELS[method]} (measured)")  # fmt: skip
            if method in _THEORY:
                ax.plot(x, [r[f"{method}_predicted"] for r in sel], color=color, lw=1.2,
                        label=f"{METHOD_LABELS[method]} (theory{', finite model' if method == 'snip' else ''})")  # fmt: skip
            if method == "snip":
                ax.plot(x, [r["snip_predicted_iid"] for r in sel], color=color, **_IID_STYLE,
                        label="SNIP (paper's iid model)")  # fmt: skip
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("depth L")
        ax.set_title(PHASE_LABELS[phase])
    axes[0, 0].set_ylabel("critical sparsity $s_{cr}$")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.04), ncol=4)
    ctx.figure(
        fig, "scr_methods",
        "measured s_cr of the five pruning methods against depth (mean +- 2 s.e.; GraSP and SynFlow single-shot, "
        "no theory), over the predictions: random and magnitude (exact iid laws), SNIP by the finite-width model "
        "(solid) and the paper's iid model (dashed)",
    )  # fmt: skip


def _plot_cnn(cfg: Config, ctx: Context, cnn_rows: list[dict]) -> None:
    """SNIP's s_cr of the plain CNN: finite model (solid), iid model (dashed), measured (mean +- 2 s.e.)."""
    fig, ax = new_figure(width=3.8, height=3.0)
    ax = ax[0, 0]
    for phase in PHASE_LABELS:
        sel = [r for r in cnn_rows if r["phase"] == phase]
        x = [r["depth"] for r in sel]
        color = PHASE_COLORS[phase]
        ax.plot(x, [r["snip_predicted"] for r in sel], color=color, label=f"{PHASE_LABELS[phase]} (finite model)")
        ax.plot(x, [r["snip_predicted_iid"] for r in sel], color=color, **_IID_STYLE)
        ax.plot(x, [r["snip_predicted_one_position"] for r in sel], color=color, ls=":", lw=1.0)
        ax.errorbar(x, [r["snip_measured"] for r in sel], yerr=[2 * r["snip_se"] for r in sel], fmt="o", ms=3,
                    capsize=2, color=color)  # fmt: skip
    ax.plot([], [], color="0.4", **_IID_STYLE, label="paper's iid model")
    ax.plot([], [], color="0.4", ls=":", lw=1.0, label="finite model, one position per example")
    ax.plot([], [], "o", ms=3, color="0.4", label="measured (mean +- 2 s.e.)")
    xs = sorted({r["depth"] for r in cnn_rows})
    ax.set_xticks(xs, [str(d) for d in xs])
    ax.set_xlabel("depth L")
    ax.set_ylabel("$s_{cr}$ (SNIP)")
    ax.set_title(f"CNN, {cfg.cnn_channels} channels, 3x3, {cfg.cnn_image_size}x{cfg.cnn_image_size} inputs")
    ax.legend()
    ctx.figure(
        fig, "scr_cnn",
        f"SNIP s_cr of a tanh CNN ({cfg.cnn_channels} channels, 3x3, global average pooling) against depth: the "
        "finite-width model counting the batch x image positions of every convolution (solid, docs/theory.md §8.6), "
        "the paper's iid model (dashed) and measured networks (mean +- 2 s.e.); dotted, the finite model with one "
        "position per example (the image size unknown)",
    )  # fmt: skip


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
        f"{', '.join(map(str, s['width_sweep']))} at depth {s['width_sweep_depth']}. Methods measured: "
        + ", ".join(METHOD_LABELS[m] for m in _METHODS)
        + " (GraSP and SynFlow single-shot); SNIP predicted by the finite-width model (docs/theory.md §8) with its "
        f"allowance FINITE_MODEL_ERROR = {num(n['finite_model_error'])} plus its Monte-Carlo error, and by the paper's "
        f"iid model. CNN: {s['cnn_channels']} channels, 3x3, {s['cnn_image_size']}x{s['cnn_image_size']} Gaussian "
        f"images, depths {', '.join(map(str, s['cnn_depths']))}, {s['cnn_replicas']} networks per point and seed; SNIP "
        f"predicted by the finite model counting positions (docs/theory.md §8.6) with its allowance "
        f"FINITE_CNN_MODEL_ERROR = {num(n['finite_cnn_model_error'])} plus its Monte-Carlo error.",
    ]
    findings = []
    depth_rows = [r for r in n["points"] if r["sweep"] == "depth"]
    for method in _THEORY:
        for phase in PHASE_LABELS:
            sel = [r for r in depth_rows if r["phase"] == phase]
            worst = max(sel, key=lambda r: abs(r[f"{method}_predicted"] - r[f"{method}_measured"]))
            iid = f" (paper's iid model {num(worst['snip_predicted_iid'])})" if method == "snip" else ""
            findings.append(
                f"{method}, {PHASE_LABELS[phase]}: worst gap at L = {worst['depth']}: theory "
                f"{num(worst[f'{method}_predicted'])}{iid} vs measured {num(worst[f'{method}_measured'])} ± "
                f"{num(worst[f'{method}_se'])} (s.e.)."
            )
    deep = max(r["depth"] for r in depth_rows)
    by = {r["phase"]: r for r in depth_rows if r["depth"] == deep}
    findings.append(
        f"At L = {deep}, measured s_cr per method: "
        + "; ".join(
            f"{PHASE_LABELS[p]}: " + ", ".join(f"{METHOD_LABELS[m]} {num(r[f'{m}_measured'])}" for m in _METHODS)
            for p, r in by.items()
        )
        + "; SNIP's first layer to collapse (measured mode / predicted): "
        + ", ".join(f"{PHASE_LABELS[p]} {r['snip_first_layer_measured']} / {r['snip_first_layer_predicted']}" for p, r in by.items())
        + "."
    )
    for r in n["cnn_points"]:
        if r["depth"] == max(x["depth"] for x in n["cnn_points"]):
            findings.append(
                f"CNN, {PHASE_LABELS[r['phase']]}, L = {r['depth']}: SNIP s_cr measured {num(r['snip_measured'])} ± "
                f"{num(r['snip_se'])}, finite model {num(r['snip_predicted'])}, paper's iid model "
                f"{num(r['snip_predicted_iid'])}; the finite model with one position per example "
                f"{num(r['snip_predicted_one_position'])}."
            )
    findings.append(tally_sentence(n["iid"], "iid", "SNIP by " + n["iid_label"], fmt=num))
    return Summary(setting, findings)


def _pool(tagged: list[tuple], results: list[dict]) -> dict[tuple, dict[str, list]]:
    """The networks of every seed of a point together: ``{tag: {key: values}}``."""
    pooled: dict[tuple, dict[str, list]] = {}
    for tag, res in zip(tagged, results):
        cell = pooled.setdefault(tag[:-1], {})
        for key, value in res.items():
            cell.setdefault(key, []).extend(value)
    return pooled


def _snip_expectation(statement: str, comparison, n: int) -> verdicts.Expectation:
    return verdicts.from_comparison(statement, comparison, n=n, model_error=comparison.model_error)


@register("E2", profiles=PROFILES, summarize=summarize)
def run(cfg: Config, ctx: Context) -> dict:
    from proofs_check.claims.critical import IID_LABEL, compare_critical_sparsity, predict_critical_sparsity
    from proofs_check.verdict import alternatives_tally, stored_finite_cnn_model_error, stored_finite_model_error

    w_eoc = float(eoc.edge_of_chaos("tanh", cfg.sigma_b))
    sigma_ws = {phase: f * w_eoc for phase, f in cfg.phases.items()}
    tagged = _points(cfg, sigma_ws)
    results = ctx.sweep([t[-1] for t in tagged], partial(measure_point, device=ctx.device), "E2 points")
    pooled = _pool(tagged, results)
    cnn_tagged = _cnn_points(cfg, sigma_ws)
    cnn_results = ctx.sweep([t[-1] for t in cnn_tagged], partial(measure_cnn_point, device=ctx.device), "E2 CNN points")

    rows, keep_meas, expectations, snip_comparisons = [], {}, [], []
    for (sweep, depth, width, phase), m in pooled.items():
        widths = list(_widths(cfg, depth, width))
        common = {"widths": widths, "act": "tanh", "sigma_w": sigma_ws[phase], "sigma_b": cfg.sigma_b, "batch": cfg.batch}
        pred = {method: predict_critical_sparsity(method=method, **common) for method in _THEORY}
        p_iid = predict_critical_sparsity(method="snip", **common, model="iid")
        first = np.asarray(m["snip_first_layer"], dtype=int)
        row = {"sweep": sweep, "depth": depth, "width": width, "phase": phase, "sigma_w": sigma_ws[phase]}
        for method in _METHODS:
            row[f"{method}_measured"], row[f"{method}_se"] = verdicts.mean_se(m[f"{method}_s_cr"])
            if method in pred:
                row[f"{method}_predicted"] = pred[method].s_cr
        row.update(
            snip_predicted_se=pred["snip"].s_cr_se, snip_predicted_iid=p_iid.s_cr,
            snip_first_layer_predicted=int(pred["snip"].first_layer),
            snip_first_layer_measured=int(np.bincount(first).argmax()), networks=len(first),
        )  # fmt: skip
        rows.append(row)
        if "snip_keep" in m:
            keep_meas[phase] = np.asarray(m["snip_keep"])
        if sweep != "depth":
            continue
        tag = f"{PHASE_LABELS[phase]}, L={depth}"
        expectations.append(
            verdicts.expect_equal("magnitude pruning: s_cr as predicted", f"s_cr magnitude {tag}", pred["magnitude"].s_cr,
                                  m["magnitude_s_cr"])  # fmt: skip
        )
        c = compare_critical_sparsity(f"s_cr SNIP {tag}", m["snip_s_cr"], finite=pred["snip"], iid=p_iid)
        snip_comparisons.append(c)
        expectations.append(
            _snip_expectation("SNIP: s_cr as the finite-width model predicts, within its stated error", c, len(first))
        )
        if phase != "edge_of_chaos" and depth >= cfg.side_depth:
            side = (first < depth / 2) == (pred["snip"].first_layer < depth / 2)
            expectations.append(
                verdicts.expect_equal("SNIP: the first layer to collapse is on the predicted side",
                                      f"fraction on the predicted side, {tag}", 1.0, side.astype(float))  # fmt: skip
            )
    cnn_rows = []
    for (depth, phase), m in _pool(cnn_tagged, cnn_results).items():
        common = {"method": "snip", "widths": list(_cnn_widths(cfg, depth)), "act": "tanh", "sigma_w": sigma_ws[phase],
                  "sigma_b": cfg.sigma_b, "arch": "cnn", "batch": cfg.batch}  # fmt: skip
        fin = predict_critical_sparsity(**common, image_size=cfg.cnn_image_size)
        iid = predict_critical_sparsity(**common, model="iid")
        one_position = predict_critical_sparsity(**common)
        ms, es = verdicts.mean_se(m["snip_s_cr"])
        cnn_rows.append({"depth": depth, "phase": phase, "sigma_w": sigma_ws[phase], "snip_predicted": fin.s_cr,
                         "snip_predicted_se": fin.s_cr_se, "snip_predicted_iid": iid.s_cr,
                         "snip_predicted_one_position": one_position.s_cr, "snip_measured": ms, "snip_se": es,
                         "networks": len(m["snip_s_cr"])})  # fmt: skip
        c = compare_critical_sparsity(f"s_cr SNIP CNN {PHASE_LABELS[phase]}, L={depth}", m["snip_s_cr"], finite=fin, iid=iid,
                                      allowance="FINITE_CNN_MODEL_ERROR")  # fmt: skip
        snip_comparisons.append(c)
        expectations.append(_snip_expectation(
            "CNN, SNIP: s_cr as the finite-width model predicts, within its stated error", c, len(m["snip_s_cr"])
        ))  # fmt: skip
    ctx.csv(rows, "critical_sparsity", "predicted and measured s_cr per depth/width, phase and method")
    ctx.csv(cnn_rows, "critical_sparsity_cnn", "SNIP s_cr of the tanh CNN per depth and phase: finite model, iid model, measured")
    _plot_sweep(
        ctx, rows, "depth", "depth L", "", "scr_vs_depth",
        f"s_cr against depth, tanh FFNN width {cfg.width}: theory (lines; SNIP: finite-width model solid, the paper's "
        "iid model dashed) and Monte Carlo (mean +- 2 s.e.)", False,
    )  # fmt: skip
    _plot_sweep(
        ctx, rows, "width", "width N", f", depth {cfg.width_sweep_depth}", "scr_vs_width",
        f"s_cr against width at depth {cfg.width_sweep_depth}: theory (lines; SNIP: finite-width model solid, the "
        "paper's iid model dashed) and Monte Carlo (mean +- 2 s.e.)", True,
    )  # fmt: skip
    _plot_methods(ctx, rows)
    _plot_cnn(cfg, ctx, cnn_rows)
    _plot_profiles(cfg, ctx, sigma_ws, keep_meas)
    return {
        "setting": asdict(cfg),
        "sigma_w": sigma_ws,
        "finite_model_error": stored_finite_model_error().value,
        "finite_cnn_model_error": stored_finite_cnn_model_error().value,
        "points": rows,
        "cnn_points": cnn_rows,
        "iid": alternatives_tally(snip_comparisons, "iid"),
        "iid_label": IID_LABEL,
        "verdict": verdicts.verdict(expectations),
    }
