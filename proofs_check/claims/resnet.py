"""ResNet claims (docs/theory.md §6): the standard ResNet explodes with depth, the Stable
ResNet (branches scaled by 1/sqrt(L)) stays bounded and keeps SNIP's s_cr near 1.

Measurements are plain functions (``measure_*`` / ``predict_*``, keyword-only) that
``paper_repro`` calls too (E8).
"""

from __future__ import annotations

import math

import numpy as np
import torch

import eoc
from eoc.sim import ResNetStack, gaussian_inputs, second_moments

from ..registry import CheckContext, claim
from ..verdict import compare, compare_extrapolated
from .common import generator
from .critical import measure_critical_sparsity, predict_critical_sparsity

__all__ = [
    "SW",
    "OUTPUTS",
    "predict_resnet_profile",
    "predict_resnet_growth",
    "measure_resnet_profile",
    "predict_float32_overflow",
    "measure_float32_overflow",
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


@claim(
    "stable-resnet-bounded",
    sizes={
        "tiny": {**RESNET_SIZES["tiny"], "snip_depths": (8,), "snip_width": 64, "snip_replicas": 8, "batch": 64},
        "quick": {**RESNET_SIZES["quick"], "snip_depths": (10, 50), "snip_width": 100, "snip_replicas": 8, "batch": 128},
        "full": {**RESNET_SIZES["full"], "snip_depths": (10, 50, 100, 200), "snip_width": 100, "snip_replicas": 32, "batch": 128},
    },
)
def stable_resnet_bounded(ctx: CheckContext):
    s = ctx.sizes
    out = _growth_comparisons(ctx, "stable")
    for i, depth in enumerate(s["snip_depths"]):
        for kind, alpha in (("stable", 1.0 / math.sqrt(depth)), ("standard", 1.0)):
            widths = [s["snip_width"]] * (depth + 2) + [OUTPUTS]
            m = measure_critical_sparsity(
                method="snip", widths=widths, act="relu", sigma_w=SW, sigma_b=0.0, replicas=s["snip_replicas"],
                batch=s["batch"], arch="resnet", alpha=alpha, seed=ctx.seed_for(500 + 10 * i + int(kind == "standard")),
                device=ctx.device, dtype=ctx.dtype,
            )  # fmt: skip
            pred = predict_critical_sparsity(
                method="snip", widths=widths, act="relu", sigma_w=SW, sigma_b=0.0, arch="resnet", alpha=alpha
            )
            out.append(
                compare(
                    f"SNIP s_cr, {kind} ResNet L={depth}", pred.s_cr, m.s_cr, model_error="SNIP_MODEL_ERROR",
                    resolution=ctx.resolution(0.1),
                )  # fmt: skip
            )
    bound = math.exp(SW**2 / 2)
    ctx.note(
        f"bound exp(sigma_w^2/2) = {bound:.4f}: the predicted Stable growth factors q^L/q^0 are "
        + ", ".join(f"L={d}: {predict_resnet_growth(depth=d, alpha=1 / math.sqrt(d))[0]:.4f}" for d in s["depths"])
        + "; SNIP s_cr tolerance 4 s.e. + SNIP_MODEL_ERROR (proofs_check.verdict)"
    )
    return out
