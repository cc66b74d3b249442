"""ResNet claims (docs/theory.md §6, §8.3): the standard ResNet explodes with depth, the
Stable ResNet (branches scaled by 1/sqrt(L)) stays bounded, and SNIP's s_cr is higher on
the Stable ResNet than on the standard one, as the finite-width model predicts.

Measurements are plain functions (``measure_*`` / ``predict_*``, keyword-only) that
``paper_repro`` calls too (E5, E8).
"""

from __future__ import annotations

import math

import numpy as np
import torch

import eoc
from eoc.sim import ResNetStack, gaussian_inputs, second_moments

from ..registry import CheckContext, claim
from ..verdict import Z, Comparison, alternatives_summary, compare_extrapolated, mean_se, stored_finite_model_error
from .common import generator
from .critical import (
    IID_LABEL,
    compare_critical_sparsity,
    measure_critical_sparsity,
    predict_critical_sparsity,
    unmodelled_notes,
)

__all__ = [
    "SW",
    "OUTPUTS",
    "predict_resnet_profile",
    "predict_resnet_growth",
    "measure_resnet_profile",
    "predict_float32_overflow",
    "measure_float32_overflow",
    "RESNET_VARIANTS",
    "resnet_alpha",
    "resnet_widths",
    "predict_resnet_critical_sparsity",
    "measure_resnet_critical_sparsity",
]

SW = float(np.sqrt(2.0))
OUTPUTS = 10


def predict_resnet_profile(*, depth: int, alpha: float, sigma_w: float = SW) -> tuple[np.ndarray, np.ndarray]:
    """Mean-field stream variances ``q^0..q^L`` and stream gradient variances ``qt^0..qt^L`` of a
    ReLU ResNet (sigma_b = 0, inputs |x|^2/d = 1): :func:`eoc.resnet_variances` and
    :func:`eoc.resnet_gradient_variances` (docs/theory.md §6)."""
    q = eoc.resnet_variances(depth, "relu", sigma_w, 0.0, alpha, q0=sigma_w**2)
    g = eoc.resnet_gradient_variances(depth, "relu", sigma_w, 0.0, alpha, q0=sigma_w**2)
    return np.asarray(q), np.asarray(g)


def predict_resnet_growth(*, depth: int, alpha: float, sigma_w: float = SW) -> tuple[float, float]:
    """``(q^L/q^0, qt^0/qt^L)`` of :func:`predict_resnet_profile`."""
    q, g = predict_resnet_profile(depth=depth, alpha=alpha, sigma_w=sigma_w)
    return float(q[-1] / q[0]), float(g[0] / g[-1])


def measure_resnet_profile(
    *, depth: int, alpha: float, width: int, replicas: int, sigma_w: float = SW, seed: int, device="cpu", dtype=torch.float64
) -> tuple[np.ndarray, np.ndarray]:
    r"""Per network, the stream's ``(q^0..q^L, qt^0..qt^L)``, arrays ``(R, depth + 1)`` each.

    ``q^l``: mean square of the stream ``y^l`` (``y^0`` the input projection); ``qt^l``: mean
    square of :math:`\partial\mathcal L/\partial y^l`.  One input per network (|x|^2/d = 1).
    Gradients are back-propagated from a fixed random output gradient (a linear loss),
    which does not saturate when the outputs explode (a one-hot softmax would give exactly
    zero cross-entropy gradients).
    """
    gen = generator(seed)
    net = ResNetStack.init(width, width, depth, OUTPUTS, "relu", sigma_w, 0.0, alpha, replicas, generator=gen, device=device, dtype=dtype)
    x = gaussian_inputs(1, width, replicas=replicas, generator=gen, dtype=dtype, device=device)
    _, pre = net.forward(x)
    q = second_moments(pre).mean(dim=1).cpu().numpy()  # (R, depth + 2): stream 0..depth, output
    v = torch.randn(replicas, 1, OUTPUTS, generator=gen, dtype=dtype).to(device)
    g = net.preactivation_gradients(x, output_grad=v).cpu().numpy()
    return q[:, : depth + 1], g[:, : depth + 1]


def _growth_comparisons(ctx: CheckContext, kind: str):
    """log of the measured growth minus log of the predicted one, extrapolated in 1/N from (N, 2N): must be 0
    (the extrapolation also removes the O(1/N) Jensen gap between E[log r] and log E[r])."""
    s = ctx.sizes
    out = []
    widths = (s["width"], 2 * s["width"])
    for i, depth in enumerate(s["depths"]):
        alpha = 1.0 if kind == "standard" else 1.0 / math.sqrt(depth)
        grow_q, grow_g = predict_resnet_growth(depth=depth, alpha=alpha)
        runs = []
        for j, n in enumerate(widths):
            q, g = measure_resnet_profile(
                depth=depth, alpha=alpha, width=n, replicas=s["replicas"],
                seed=ctx.seed_for(100 * i + 10 * j + (0 if kind == "standard" else 5)), device=ctx.device, dtype=ctx.dtype,
            )  # fmt: skip
            runs.append((np.log(q[:, -1] / q[:, 0]), np.log(g[:, 0] / g[:, -1])))
        out.append(
            compare_extrapolated(
                f"log(q^L/q^0) - log {grow_q:.4g} (theory), {kind} ResNet L={depth}", 0.0, widths,
                tuple(r[0] - math.log(grow_q) for r in runs), resolution=ctx.resolution(max(0.5, 0.15 * math.log(grow_q))),
            )  # fmt: skip
        )
        out.append(
            compare_extrapolated(
                f"log(qt^0/qt^L) - log {grow_g:.4g} (theory, stream gradient), {kind} ResNet L={depth}", 0.0, widths,
                tuple(r[1] - math.log(grow_g) for r in runs), resolution=ctx.resolution(max(0.5, 0.15 * math.log(grow_g))),
            )  # fmt: skip
        )
    return out


def predict_float32_overflow(*, width: int, replicas: int, sigma_w: float = SW) -> dict:
    r"""First layers of a standard ReLU ResNet (q^l = q^0 2^l, q^0 = sigma_w^2) where float32 overflows.

    The largest of the :math:`n = ` ``width * replicas`` squared Gaussian entries of a layer is
    about :math:`2q\ln n`, so a squared quantity (a mean square, a norm) first overflows near
    :math:`l = \log_2(f_{\max}/(2 q^0\ln n))` and the entries themselves near
    :math:`\log_2(f_{\max}^2/(2 q^0 \ln n))`, about twice as deep.
    """
    fmax = float(np.finfo(np.float32).max)
    peak = 2.0 * math.log(width * replicas)
    return {
        "square": math.log2(fmax / (sigma_w**2 * peak)),
        "entry": math.log2(fmax**2 / (sigma_w**2 * peak)),
    }


def measure_float32_overflow(*, width: int, depth: int, replicas: int, seed: int, device="cpu") -> dict:
    """Forward float32 standard ResNets of ``depth`` residual layers; return the first stream
    layer where some network has a non-finite mean square (``"square"``) and a non-finite
    entry (``"entry"``), None if none overflows."""
    gen = generator(seed)
    f32 = torch.float32
    net = ResNetStack.init(width, width, depth, OUTPUTS, "relu", SW, 0.0, 1.0, replicas, generator=gen, device=device, dtype=f32)
    x = gaussian_inputs(1, width, replicas=replicas, generator=gen, dtype=f32, device=device)
    _, pre = net.forward(x)
    stream = pre[:-1]
    first_sq = next((l for l, y in enumerate(stream) if not torch.isfinite((y * y).mean(dim=-1)).all()), None)
    first = next((l for l, y in enumerate(stream) if not torch.isfinite(y).all()), None)
    return {"square": first_sq, "entry": first}


RESNET_SIZES = {
    "tiny": {"width": 128, "depths": (8, 16), "replicas": 32},
    "quick": {"width": 128, "depths": (10, 30, 60), "replicas": 32},
    "full": {"width": 256, "depths": (10, 50, 100, 200), "replicas": 32},
}
OVERFLOW_DEPTH = 300


@claim("resnet-explodes", sizes=RESNET_SIZES)
def resnet_explodes(ctx: CheckContext):
    out = _growth_comparisons(ctx, "standard")
    s = ctx.sizes
    meas = measure_float32_overflow(width=s["width"], depth=OVERFLOW_DEPTH, replicas=s["replicas"], seed=ctx.seed_for(999), device=ctx.device)
    pred = predict_float32_overflow(width=s["width"], replicas=s["replicas"])
    ctx.note(
        f"float32, width {s['width']}, {s['replicas']} networks of depth {OVERFLOW_DEPTH}: the mean squared activation "
        f"first overflows at layer {meas['square']} (predicted ~{pred['square']:.0f}: 2 q^0 2^l ln(n) = float32 max for "
        f"the largest of n entries), the activations themselves at layer {meas['entry']} (predicted "
        f"~{pred['entry']:.0f}). The founding note's 'float32 overflow at L = 200, N = 100' (docs/theory.md §10) concerns the squares (norms, "
        "variances), not the forward values."
    )
    return out


@claim("stable-resnet-bounded", sizes=RESNET_SIZES)
def stable_resnet_bounded(ctx: CheckContext):
    s = ctx.sizes
    out = _growth_comparisons(ctx, "stable")
    bound = math.exp(SW**2 / 2)
    ctx.note(
        f"bound exp(sigma_w^2/2) = {bound:.4f}: the predicted Stable growth factors q^L/q^0 are "
        + ", ".join(f"L={d}: {predict_resnet_growth(depth=d, alpha=1 / math.sqrt(d))[0]:.4f}" for d in s["depths"])
        + "; SNIP's critical sparsity on the two ResNets is the claim stable-resnet-sbp-scr"
    )
    return out


#: The two ResNets of the s_cr comparison: branch scale as a function of the depth L.
RESNET_VARIANTS = ("standard", "stable")


def resnet_alpha(variant: str, depth: int) -> float:
    """Branch scale alpha: 1 (standard) or 1/sqrt(L) (Stable ResNet, L residual layers)."""
    if variant not in RESNET_VARIANTS:
        raise ValueError(f"variant must be one of {RESNET_VARIANTS}, got variant={variant!r}")
    return 1.0 if variant == "standard" else 1.0 / math.sqrt(depth)


def resnet_widths(*, depth: int, width: int, input_dim: int | None = None, outputs: int = OUTPUTS) -> list[int]:
    """eoc's ResNet widths: input, projection, ``depth`` residual layers, read-out (``depth + 2`` weight layers)."""
    return [width if input_dim is None else input_dim] + [width] * (depth + 1) + [outputs]


def predict_resnet_critical_sparsity(
    *, depth: int, width: int, batch: int = 128, model: str = "finite"
) -> dict[str, eoc.CriticalSparsity]:
    """SNIP's predicted s_cr of the standard and the Stable one-layer-branch ReLU ResNet
    (sigma_w = sqrt 2, sigma_b = 0, input ``width``, 10 classes): ``{variant: CriticalSparsity}``
    of ``model`` (``"finite"``, docs/theory.md §8.3, or the paper's ``"iid"``, §4 and §6.5)."""
    widths = resnet_widths(depth=depth, width=width)
    return {
        variant: predict_critical_sparsity(method="snip", widths=widths, act="relu", sigma_w=SW, sigma_b=0.0,
                                           arch="resnet", alpha=resnet_alpha(variant, depth), model=model, batch=batch)
        for variant in RESNET_VARIANTS
    }  # fmt: skip


def measure_resnet_critical_sparsity(
    *, depth: int, width: int, replicas: int, batch: int = 128, seed: int, device="cpu", dtype=torch.float64
) -> dict[str, np.ndarray]:
    """SNIP's s_cr of ``replicas`` one-layer-branch ReLU ResNets, standard and Stable from the
    same seed (same weights and batch, only alpha differs): ``{variant: ndarray (R,)}``,
    network r of both variants sharing its weights (:func:`measure_critical_sparsity`)."""
    widths = resnet_widths(depth=depth, width=width)
    return {
        variant: measure_critical_sparsity(
            method="snip", widths=widths, act="relu", sigma_w=SW, sigma_b=0.0, arch="resnet",
            alpha=resnet_alpha(variant, depth), replicas=replicas, batch=batch, seed=seed, device=device, dtype=dtype,
        ).s_cr
        for variant in RESNET_VARIANTS
    }  # fmt: skip


@claim(
    "stable-resnet-sbp-scr",
    sizes={
        "tiny": {"width": 100, "depths": (10,), "replicas": 24, "batch": 128},
        "quick": {"width": 100, "depths": (10, 30, 100), "replicas": 24, "batch": 128},
        "full": {"width": 100, "depths": (10, 30, 60, 100), "replicas": 128, "batch": 128},
    },
)
def stable_resnet_sbp_scr(ctx: CheckContext):
    s = ctx.sizes
    out, scr, regimes, undecided = [], [], [], []
    for i, depth in enumerate(s["depths"]):
        measured = measure_resnet_critical_sparsity(
            depth=depth, width=s["width"], replicas=s["replicas"], batch=s["batch"], seed=ctx.seed_for(700 + i),
            device=ctx.device, dtype=ctx.dtype,
        )  # fmt: skip
        pred = {model: predict_resnet_critical_sparsity(depth=depth, width=s["width"], batch=s["batch"], model=model)
                for model in ("finite", "iid")}  # fmt: skip
        for variant in RESNET_VARIANTS:
            c = compare_critical_sparsity(
                f"SNIP s_cr, {variant} ResNet L={depth}", measured[variant], finite=pred["finite"][variant],
                iid=pred["iid"][variant], resolution=ctx.resolution(0.02),
            )  # fmt: skip
            out.append(c)
            scr.append(c)
            regimes.append(("resnet", variant, depth))
        diff = measured["stable"] - measured["standard"]
        m, se = (float(v) for v in mean_se(diff))
        sign = {model: float(np.sign(p["stable"].s_cr - p["standard"].s_cr)) for model, p in pred.items()}
        if abs(m) > Z * se:
            out.append(
                Comparison(
                    f"sign of s_cr(stable) - s_cr(standard), L={depth} (measured {m:+.4f} +- {se:.4f})", sign["finite"],
                    float(np.sign(m)), 0.0, basis=f"sign of the paired mean difference over {diff.size} "
                    "networks, beyond 4 s.e.", alternatives={"iid": sign["iid"]},
                )  # fmt: skip
            )
        else:
            undecided.append(depth)
    if undecided:
        ctx.cannot_conclude(
            f"the paired difference of s_cr (stable - standard) is within 4 s.e. of 0 at L = {undecided}: the order is not resolved"
        )
    allowance = stored_finite_model_error()
    ctx.note(
        "s_cr: the finite-width, batch-aware model (docs/theory.md §8.3) with tolerance 4 sqrt(SE^2 + SE_model^2) + "
        f"FINITE_MODEL_ERROR = {allowance.value:.4f} ({allowance.derivation}). The sign comparison: +1 when the "
        "Stable ResNet's s_cr exceeds the standard ResNet's by more than 4 s.e. of the paired difference (same "
        "weights, only alpha differs), -1 when the reverse; predicted by each model's two predictions"
    )
    ctx.note(alternatives_summary(out, "iid", IID_LABEL[0].upper() + IID_LABEL[1:]))
    for n in unmodelled_notes(scr, regimes):
        ctx.note(n)
    return out
