r"""E9: edge-of-chaos curves, the chi_1 phase diagram and correlation convergence (theory only).

Three figures (``docs/theory.md`` §2 and §7):

1. ``phase_diagram_tanh``: :math:`\log\chi_1` over (sigma_b, sigma_w) for tanh, with
   the EOC curve; ordered below it, chaotic above.
2. ``eoc_curves``: sigma_w on the EOC against sigma_b for several activations (the
   ReLU family's EOC is a single point, drawn as a marker).
3. ``correlation_convergence``: :math:`|c^l - c^*|` against depth l for tanh in the
   three phases (:class:`~paper_repro.config.PhaseSpec`) and for ReLU on the EOC,
   log-log, with the ReLU asymptote :math:`9\pi^2/(2l^2)`.

What is judged (every number is computed exactly by :mod:`eoc`, no sampling):

* the EOC separates the phases: :math:`\chi_1 > 1` a fraction ``offset`` above the
  curve and :math:`< 1` below it, at every sigma_b of the grid;
* off the EOC, :math:`|c^l - c^*|` contracts by :math:`\chi_c` per layer (exponential
  convergence): the measured factor, the geometric mean of
  :math:`|c^{l+1}-c^*|/|c^l-c^*|` where the gap lies in ``rate_window``, is compared
  with :func:`eoc.chi_c`, the allowed error being the spread of the per-layer factors
  over that window (the next-order term, measured here);
* on the EOC (ReLU) the convergence is polynomial with the predicted constant: the
  ratio :math:`r(l) = (1 - c^l)\,l^2/(9\pi^2/2)` tends to 1.  :math:`r` is extrapolated
  to :math:`l\to\infty` by fitting :math:`r_\infty + a\log l/l + b/l` at depths
  ``(D/4, D/2, D)``; the allowed error is the change of that extrapolation from the
  window ``(D/8, D/4, D/2)`` (measured here);
* tanh on the EOC converges more slowly than both off-EOC settings.

Quick and full profiles differ only in grid resolution and depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

import eoc

from .. import verdicts
from ..config import PhaseSpec
from ..registry import Summary, register
from ..style import PHASE_COLORS, PHASE_LABELS, new_figure
from ..summary import num

#: sigma_w of the authors' published code for tanh at sigma_b = AUTHORS_TANH_SIGMA_B
#: (their released configuration; compared with the exact EOC value in the findings).
AUTHORS_TANH_SIGMA_W = 1.2981
AUTHORS_TANH_SIGMA_B = 0.2


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings of E9 (module docstring).

    Attributes
    ----------
    grid : int
        Points per axis of the phase diagram.
    sigma_b_max, sigma_w_min, sigma_w_max : float
        Extent of the phase diagram.
    depth : int
        Layers of the correlation iterates (``D``).
    activations : tuple of str
        Activations of the EOC-curves figure.
    tanh_sigma_b : float
        sigma_b of the tanh correlation settings.
    phases : PhaseSpec
        sigma_w / sigma_w(EOC) of the ordered, EOC and chaotic tanh settings.
    c0 : float
        Initial correlation.
    offset : float
        Relative distance from the EOC curve at which chi_1 is checked.
    reach : float
        The gap |c^l - c*| whose first depth is reported per setting.
    rate_window : tuple of float
        Gaps over which the off-EOC contraction factor is measured.
    floor : float
        Gaps below this are at the accuracy of c* itself (not drawn).
    """

    grid: int = 80
    sigma_b_max: float = 2.0
    sigma_w_min: float = 0.5
    sigma_w_max: float = 4.0
    depth: int = 2000
    activations: tuple = ("tanh", "erf", "elu", "selu", "gelu", "silu", "sigmoid")
    tanh_sigma_b: float = 0.2
    phases: PhaseSpec = field(default_factory=PhaseSpec)
    c0: float = 0.3
    offset: float = 0.05
    reach: float = 1e-6
    rate_window: tuple = (1e-10, 1e-4)
    floor: float = 1e-14


PROFILES = {"quick": Config(), "full": Config(grid=240, depth=20000)}


def _phase_diagram(cfg: Config, ctx) -> dict:
    sb = np.linspace(0.0, cfg.sigma_b_max, cfg.grid)
    sw = np.linspace(cfg.sigma_w_min, cfg.sigma_w_max, cfg.grid)
    SB, SW = np.meshgrid(sb, sw)
    chi = eoc.chi_1("tanh", SW, SB)
    curve = eoc.eoc_curve("tanh", sigma_b=sb)
    fig, ax = new_figure(width=4.2, height=3.4)
    ax = ax[0, 0]
    lim = float(np.max(np.abs(np.log(chi))))
    im = ax.pcolormesh(SB, SW, np.log(chi), cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(im, ax=ax, label=r"$\log\chi_1$")
    ax.plot(curve.sigma_b, curve.sigma_w, color="k", lw=1.5, label=r"EOC ($\chi_1 = 1$)")
    ax.text(1.3, 1.0, PHASE_LABELS["ordered"], color="w", ha="center")
    ax.text(0.5, 3.4, PHASE_LABELS["chaotic"], color="w", ha="center")
    ax.set_xlabel(r"$\sigma_b$")
    ax.set_ylabel(r"$\sigma_w$")
    ax.set_title(r"tanh: $\chi_1$ at the fixed point $q^*$")
    ax.legend(loc="lower right")
    ctx.figure(fig, "phase_diagram_tanh", "log chi_1 over (sigma_b, sigma_w) for tanh with the EOC curve")
    ctx.data_file(
        {"sigma_b": sb, "sigma_w": sw, "chi_1": chi, "eoc_sigma_w": curve.sigma_w},
        "phase_diagram_tanh",
        "chi_1 grid (rows: sigma_w, columns: sigma_b) and the EOC sigma_w at each sigma_b",
    )
    above = eoc.chi_1("tanh", curve.sigma_w * (1 + cfg.offset), sb)
    below = eoc.chi_1("tanh", curve.sigma_w * (1 - cfg.offset), sb)
    return {"sigma_b_min": float(sb[0]), "chi_1_above_min": float(above.min()), "chi_1_below_max": float(below.max())}


def _eoc_curves(cfg: Config, ctx) -> list[dict]:
    sb = np.linspace(0.0, cfg.sigma_b_max, max(cfg.grid // 2, 21))
    fig, ax = new_figure(width=4.2, height=3.4)
    ax = ax[0, 0]
    rows = []
    for name in cfg.activations:
        # Every chi_1 = 1 point, valid or not: points whose fixed point is unstable (GELU and
        # SiLU at small sigma_b, docs/theory.md §2) are no EOC and are drawn dotted, apart.
        try:
            curve = eoc.eoc_curve(name, sigma_b=sb, missing="keep")
        except ValueError:
            continue
        valid = np.asarray(curve.valid)
        (line,) = ax.plot(np.where(valid, curve.sigma_b, np.nan), np.where(valid, curve.sigma_w, np.nan), label=name)
        if not valid.all():
            ax.plot(
                np.where(valid, np.nan, curve.sigma_b), np.where(valid, np.nan, curve.sigma_w),
                ls=":", lw=1.0, color=line.get_color(), label=f"{name}: unstable fixed point (no EOC)",
            )
        rows += [
            {"activation": name, "sigma_b": float(b), "sigma_w": float(w), "q_star": float(q), "chi_q": float(cq), "valid": bool(v)}
            for b, w, q, cq, v in zip(curve.sigma_b, curve.sigma_w, curve.q_star, curve.chi_q, valid)
        ]
    for name, marker in (("relu", "o"), ("leaky_relu", "s")):
        w = float(eoc.edge_of_chaos(name, 0.0))
        ax.plot([0.0], [w], marker=marker, ls="none", color="k", label=f"{name} (single point)")
        rows.append({"activation": name, "sigma_b": 0.0, "sigma_w": w, "q_star": float("nan"), "chi_q": 1.0, "valid": True})
    ax.set_yscale("log")
    ax.set_xlabel(r"$\sigma_b$")
    ax.set_ylabel(r"$\sigma_w$ on the EOC")
    ax.set_title("Edge-of-chaos curves")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ctx.figure(fig, "eoc_curves", "EOC sigma_w against sigma_b for several activations")
    ctx.csv(rows, "eoc_curves", "chi_1 = 1 points (activation, sigma_b, sigma_w, q*, chi_q, valid: q* stable and reached)")
    return rows


def _contraction(gap: np.ndarray, window: tuple) -> tuple[float, float, int]:
    """Geometric-mean factor of ``gap[l+1]/gap[l]`` where both gaps lie in ``window``, its spread, and the count."""
    lo, hi = window
    inside = (gap > lo) & (gap < hi)
    ok = inside[:-1] & inside[1:]
    ratio = gap[1:][ok] / gap[:-1][ok]
    if ratio.size == 0:
        return float("nan"), float("nan"), 0
    factor = float(np.exp(np.mean(np.log(ratio))))
    return factor, float(np.max(np.abs(ratio - factor))), int(ratio.size)


def _relu_limit(gap: np.ndarray, depths: tuple[int, int, int]) -> float:
    r""":math:`r_\infty` of the fit :math:`r(l) = r_\infty + a\log l/l + b/l` through three depths."""
    ratio = [gap[d] * d**2 / (9 * np.pi**2 / 2) for d in depths]
    design = np.array([[1.0, np.log(d) / d, 1.0 / d] for d in depths])
    return float(np.linalg.solve(design, ratio)[0])


def _correlations(cfg: Config, ctx) -> dict:
    sb = cfg.tanh_sigma_b
    w_eoc = float(eoc.edge_of_chaos("tanh", sb))
    depth = cfg.depth
    ell = np.arange(depth + 1)
    fig, ax = new_figure(width=4.2, height=3.4)
    ax = ax[0, 0]
    data = {"depth": ell}
    tanh = {}
    for phase, factor in cfg.phases.items():
        sw = factor * w_eoc
        cs = float(eoc.c_star("tanh", sw, sb))
        gap = np.abs(eoc.correlation_iterates(cfg.c0, depth, "tanh", sw, sb) - cs)
        data[f"tanh_{phase}"] = gap
        hit = np.flatnonzero(gap < cfg.reach)
        factor_meas, spread, n = _contraction(gap, cfg.rate_window)
        tanh[phase] = {
            "sigma_w": sw, "c_star": cs, "chi_c": float(eoc.chi_c("tanh", sw, sb)),
            "reach_depth": int(hit[0]) if hit.size else None, "gap_at_depth": float(gap[-1]),
            "contraction": factor_meas, "contraction_spread": spread, "contraction_layers": n,
        }  # fmt: skip
        mask = gap > cfg.floor
        ax.loglog(ell[mask][1:], gap[mask][1:], color=PHASE_COLORS[phase],
                  label=f"tanh, {PHASE_LABELS[phase]} ($\\sigma_w$={sw:.3f})")  # fmt: skip
    gap_relu = 1.0 - eoc.correlation_iterates(cfg.c0, depth, "relu", np.sqrt(2.0), 0.0)
    data["relu_edge_of_chaos"] = gap_relu
    ax.loglog(ell[1:], gap_relu[1:], color="k", label=f"ReLU, {PHASE_LABELS['edge_of_chaos']}")
    ax.loglog(ell[10:], 9 * np.pi**2 / (2 * ell[10:] ** 2), "k--", lw=0.8, label=r"$9\pi^2/(2l^2)$")
    ax.set_ylim(cfg.floor, 2)
    ax.set_xlabel("depth $l$")
    ax.set_ylabel(r"$|c^l - c^*|$")
    ax.set_title(f"Correlation convergence ($c^0$={cfg.c0}, $\\sigma_b$={sb} for tanh)")
    ax.legend()
    ctx.figure(
        fig,
        "correlation_convergence",
        f"|c^l - c*| against depth: polynomial on the EOC, exponential off it (drawn down to {cfg.floor:g}, the "
        "accuracy of c* and of the maps)",
    )
    ctx.data_file(data, "correlation_convergence", "|c^l - c*| per depth for each setting")
    top = ell >= depth // 10
    windows = {"last": (depth // 4, depth // 2, depth), "previous": (depth // 8, depth // 4, depth // 2)}
    limits = {k: _relu_limit(gap_relu, d) for k, d in windows.items()}
    relu = {
        "ratio_at_depth": float(gap_relu[-1] * depth**2 / (9 * np.pi**2 / 2)),
        "slope": float(np.polyfit(np.log(ell[top]), np.log(gap_relu[top]), 1)[0]),
        "slope_window": [depth // 10, depth],
        "fit_depths": list(windows["last"]),
        "previous_fit_depths": list(windows["previous"]),
        "limit": limits["last"],
        "limit_previous": limits["previous"],
        "limit_change": abs(limits["last"] - limits["previous"]),
        "sigma_w_squared": 2.0,
        "sigma_b": 0.0,
    }
    return {"eoc_sigma_w": w_eoc, "tanh": tanh, "relu": relu}


def _expectations(cfg: Config, pd: dict, corr: dict) -> list[verdicts.Expectation]:
    t, r = corr["tanh"], corr["relu"]
    out = [
        verdicts.expect_sign("chi_1 > 1 just above the EOC curve (chaotic side) at every sigma_b",
                             "min chi_1 above the curve", [pd["chi_1_above_min"]], sense="greater", null=1.0, exact=True),
        verdicts.expect_sign("chi_1 < 1 just below the EOC curve (ordered side) at every sigma_b",
                             "max chi_1 below the curve", [pd["chi_1_below_max"]], sense="less", null=1.0, exact=True),
    ]  # fmt: skip
    for phase in ("ordered", "chaotic"):
        out.append(
            verdicts.expect_exact(
                f"off the EOC ({phase}) |c^l - c*| contracts by chi_c per layer (exponential convergence)",
                f"contraction factor, tanh {phase}", t[phase]["chi_c"], t[phase]["contraction"],
                model_error=t[phase]["contraction_spread"],
            )
        )  # fmt: skip
    out.append(
        verdicts.expect_exact(
            "ReLU on the EOC: `(1 - c^l) l^2 / (9 pi^2/2)` tends to its predicted limit (polynomial convergence)",
            "extrapolated ratio", 1.0, r["limit"], model_error=r["limit_change"],
        )
    )  # fmt: skip
    reach_eoc = t["edge_of_chaos"]["reach_depth"] or cfg.depth + 1
    off = max(t["ordered"]["reach_depth"] or cfg.depth + 1, t["chaotic"]["reach_depth"] or cfg.depth + 1)
    out.append(
        verdicts.expect_sign("tanh on the EOC converges more slowly than off it",
                             "EOC depth minus the slower off-EOC depth to reach the gap", [reach_eoc - off],
                             sense="greater", exact=True)  # fmt: skip
    )
    return out


def summarize(n: dict) -> Summary:
    s, t, r = n["setting"], n["correlations"]["tanh"], n["correlations"]["relu"]
    r0 = n["phase_diagram"]["sigma_b_min"]
    reach = ", ".join(
        f"{PHASE_LABELS[p]} {t[p]['reach_depth'] if t[p]['reach_depth'] is not None else 'not within ' + num(s['depth'])}"
        for p in t
    )
    setting = [
        f"Phase diagram: tanh on a {s['grid']} x {s['grid']} grid, sigma_b from {num(r0)} to {num(s['sigma_b_max'])}, sigma_w in "
        f"[{num(s['sigma_w_min'])}, {num(s['sigma_w_max'])}]; chi_1 checked a relative {num(s['offset'])} above and "
        "below the EOC curve.",
        f"Correlations: c^0 = {num(s['c0'])}, depth {s['depth']}; tanh at sigma_b = {num(s['tanh_sigma_b'])} with "
        f"sigma_w = {num(s['phases']['ordered'])} / {num(s['phases']['edge_of_chaos'])} / "
        f"{num(s['phases']['chaotic'])} x the EOC value; ReLU at sigma_w^2 = {num(r['sigma_w_squared'])}, sigma_b = "
        f"{num(r['sigma_b'])}.",
    ]
    a = n["authors"]
    findings = [
        f"tanh EOC at sigma_b = {num(a['sigma_b'])}: sigma_w = {a['eoc_sigma_w']:.10g} (q* = {a['q_star']:.10g}); "
        f"the authors' published code uses {num(a['code_sigma_w'], 6)}, where chi_1 = {num(a['code_chi_1'], 5)} "
        "(ordered side).",
        f"chi_1 a relative {num(s['offset'])} above the curve: at least {num(n['phase_diagram']['chi_1_above_min'])}; "
        f"below: at most {num(n['phase_diagram']['chi_1_below_max'])}.",
        *[
            f"tanh {PHASE_LABELS[p]} (sigma_w = {num(t[p]['sigma_w'])}): measured contraction per layer "
            f"{t[p]['contraction']:.8g} over {t[p]['contraction_layers']} layers (spread {num(t[p]['contraction_spread'])}), "
            f"chi_c = {t[p]['chi_c']:.8g}."
            for p in ("ordered", "chaotic")
        ],
        f"First depth with |c^l - c*| below {num(s['reach'])}: {reach}.",
        f"ReLU on the EOC: `(1 - c^l) / (9 pi^2 / (2 l^2))` = {num(r['ratio_at_depth'])} at l = {s['depth']}; fitted "
        f"limit {r['limit']:.6g} from depths {r['fit_depths']} ({r['limit_previous']:.6g} from {r['previous_fit_depths']}); "
        f"log-log slope over l in {r['slope_window']}: {num(r['slope'])}.",
    ]
    return Summary(setting, findings)


@register("E9", profiles=PROFILES, summarize=summarize)
def run(cfg: Config, ctx) -> dict:
    pd = _phase_diagram(cfg, ctx)
    _eoc_curves(cfg, ctx)
    corr = _correlations(cfg, ctx)
    sb = AUTHORS_TANH_SIGMA_B
    w = float(eoc.edge_of_chaos("tanh", sb))
    authors = {
        "sigma_b": sb, "eoc_sigma_w": w, "q_star": float(eoc.q_star("tanh", w, sb)),
        "code_sigma_w": AUTHORS_TANH_SIGMA_W, "code_chi_1": float(eoc.chi_1("tanh", AUTHORS_TANH_SIGMA_W, sb)),
    }  # fmt: skip
    return {
        "setting": asdict(cfg),
        "authors": authors,
        "phase_diagram": pd,
        "correlations": corr,
        "verdict": verdicts.verdict(_expectations(cfg, pd, corr)),
    }
