"""ResNet claims (THEORY.md section 6): the standard ResNet explodes with depth, the Stable
ResNet (branches scaled by 1/sqrt(L)) stays bounded and keeps SNIP's s_cr near 1."""

from __future__ import annotations

import numpy as np
import torch

import eoc

from ..compare import compare_extrapolated, compare_single
from ..engine import ResNetStack, second_moments
from ..registry import CheckContext, claim

SW = float(np.sqrt(2.0))
OUTPUTS = 10


def _stack(ctx, width, depth, alpha, gen, dtype=None):
    return ResNetStack.init(
        width, width, depth, OUTPUTS, "relu", SW, 0.0, alpha, ctx.sizes["replicas"], generator=gen,
        device=ctx.device, dtype=dtype or ctx.dtype,
    )

def _inputs(ctx, n, width, gen, dtype=None):
    x = torch.randn(ctx.sizes["replicas"], n, width, generator=gen, dtype=dtype or ctx.dtype)
    return (x / x.norm(dim=-1, keepdim=True) * np.sqrt(width)).to(ctx.device)

def _growth_comparisons(ctx, alpha_name: str):
    """Growth of the stream variance q^L/q^0 and of the stream gradient qt^0/qt^L, measured vs theory.

    Per network, the log of the measured ratio minus the log of the predicted one; the
    replicate mean is extrapolated in 1/N from widths (N, 2N) (which also removes the
    O(1/N) Jensen gap between E[log r] and log E[r]) and must be 0.  Gradients are
    back-propagated from a fixed random output gradient (a linear loss), which does not
    saturate when the outputs explode.
    """
    s = ctx.sizes
    out = []
    widths = (s["width"], 2 * s["width"])
    for i, depth in enumerate(s["depths"]):
        alpha = 1.0 if alpha_name == "standard" else 1.0 / np.sqrt(depth)
        q_th = eoc.resnet_variances(depth, "relu", SW, 0.0, alpha, q0=SW**2)
        g_th = eoc.resnet_gradient_variances(depth, "relu", SW, 0.0, alpha, q0=SW**2)
        q_ratio, g_ratio = [], []
        for j, n in enumerate(widths):
            gen = ctx.generator(100 * i + 10 * j + (0 if alpha_name == "standard" else 5))
            net = _stack(ctx, n, depth, alpha, gen)
            x = _inputs(ctx, 1, n, gen)
            _, pre = net.forward(x)
            q = second_moments(pre).mean(dim=1).cpu().numpy()  # (R, depth + 2): stream 0..depth, output
            v = torch.randn(s["replicas"], 1, OUTPUTS, generator=gen, dtype=ctx.dtype).to(ctx.device)
            g = net.preactivation_gradients(x, output_grad=v).cpu().numpy()
            q_ratio.append(np.log(q[:, depth] / q[:, 0]) - np.log(q_th[-1] / q_th[0]))
            g_ratio.append(np.log(g[:, 0] / g[:, depth]) - np.log(g_th[0] / g_th[-1]))
        grow_q, grow_g = q_th[-1] / q_th[0], g_th[0] / g_th[-1]
        out.append(
            compare_extrapolated(
                f"log(q^L/q^0) - log {grow_q:.4g} (theory), {alpha_name} ResNet L={depth}", 0.0, widths, tuple(q_ratio),
                resolution=ctx.resolution(max(0.5, 0.15 * np.log(grow_q))),
            )
        )
        out.append(
            compare_extrapolated(
                f"log(qt^0/qt^L) - log {grow_g:.4g} (theory, stream gradient), {alpha_name} ResNet L={depth}", 0.0,
                widths, tuple(g_ratio), resolution=ctx.resolution(max(0.5, 0.15 * np.log(grow_g))),
            )
        )
    return out


RESNET_SIZES = {
    "tiny": {"width": 128, "depths": (8, 16), "replicas": 32},
    "quick": {"width": 128, "depths": (10, 30, 60), "replicas": 32},
    "full": {"width": 256, "depths": (10, 50, 100, 200), "replicas": 32},
}

@claim(
    "resnet-explodes",
    title="Standard ResNets explode with depth",
    statement=(
        "For the one-layer-branch ReLU ResNet with alpha = 1, sigma_b = 0, activations and gradients grow like "
        "(1 + sigma_w^2/2)^L (THEORY.md section 6): log(q^L/q^0) = L log 2 for sigma_w = sqrt 2, and gradients "
        "grow by the same factor towards the input."
    ),
    sizes=RESNET_SIZES,
)
def resnet_explodes(ctx: CheckContext):
    out = _growth_comparisons(ctx, "standard")
    # float32: q^l = q^0 2^l.  Squared activations (variances, norms) overflow once q^l reaches
    # ~3.4e38, near l = log2(3.4e38 / q^0) ~ 127; the activations themselves only near twice that.
    s = ctx.sizes
    depth = 300
    gen = ctx.generator(999)
    net = _stack(ctx, s["width"], depth, 1.0, gen, dtype=torch.float32)
    with torch.no_grad():
        _, pre = net.forward(_inputs(ctx, 1, s["width"], gen, dtype=torch.float32))
    first_sq = next((l for l, y in enumerate(pre) if not torch.isfinite((y * y).mean(dim=-1)).all()), None)
    first = next((l for l, y in enumerate(pre) if not torch.isfinite(y).all()), None)
    fmax = float(np.finfo(np.float32).max)
    # The largest of n squared Gaussian entries is ~ q 2 ln(n): it overflows first.
    peak = 2.0 * np.log(s["width"] * s["replicas"])
    pred_sq = np.log2(fmax / (SW**2 * peak))
    pred = np.log2(fmax**2 / (SW**2 * peak))
    ctx.note(
        f"float32, width {s['width']}, depth {depth}: the mean squared activation first overflows at layer "
        f"{first_sq} (predicted ~{pred_sq:.0f}: q^0 2^l 2 ln(n) = 3.4e38 for the largest of n entries), the "
        f"activations themselves at layer {first} (predicted ~{pred:.0f}). THEORY.md's 'float32 overflow at "
        f"L = 200, N = 100' concerns the squares (norms, variances), not the forward values."
    )
    return out

@claim(
    "stable-resnet-bounded",
    title="Stable ResNets stay bounded and keep SNIP's critical sparsity near 1",
    statement=(
        "With branches scaled by alpha = 1/sqrt(L), variances and gradients grow by (1 + sigma_w^2/(2L))^L <= "
        "exp(sigma_w^2/2) at every depth, and SNIP keeps s_cr close to 1 at every depth (THEORY.md section 6: "
        "0.997-0.999 measured for L = 10..200, N = 100)."
    ),
    sizes={
        "tiny": {"width": 128, "depths": (8, 16), "replicas": 32, "snip_depths": (8,), "snip_width": 64, "snip_replicas": 8, "batch": 64},
        "quick": {"width": 128, "depths": (10, 30, 60), "replicas": 32, "snip_depths": (10, 50), "snip_width": 100, "snip_replicas": 8, "batch": 128},
        "full": {"width": 256, "depths": (10, 50, 100, 200), "replicas": 32, "snip_depths": (10, 50, 100, 200), "snip_width": 100, "snip_replicas": 32, "batch": 128},
    },
)
def stable_resnet_bounded(ctx: CheckContext):
    s = ctx.sizes
    out = _growth_comparisons(ctx, "stable")
    for i, depth in enumerate(s["snip_depths"]):
        for name, alpha in (("stable", 1.0 / np.sqrt(depth)), ("standard", 1.0)):
            gen = ctx.generator(500 + 10 * i + int(name == "standard"))
            net = ResNetStack.init(
                s["snip_width"], s["snip_width"], depth, OUTPUTS, "relu", SW, 0.0, alpha, s["snip_replicas"],
                generator=gen, device=ctx.device, dtype=ctx.dtype,
            )
            x = torch.randn(s["batch"], s["snip_width"], generator=gen, dtype=ctx.dtype)
            x = (x / x.norm(dim=1, keepdim=True) * np.sqrt(s["snip_width"])).to(ctx.device)
            y = torch.randint(0, OUTPUTS, (s["batch"],), generator=gen).to(ctx.device)
            s_cr, _ = net.snip_scores(x, y).critical_sparsity()
            widths = [s["snip_width"]] * (depth + 2) + [OUTPUTS]
            pred = eoc.predict_critical_sparsity("snip", widths, "relu", SW, 0.0, arch="resnet", alpha=alpha)
            out.append(
                compare_single(f"SNIP s_cr, {name} ResNet L={depth}", pred, s_cr.cpu().numpy(), bias=0.03, resolution=ctx.resolution(0.1))
            )
    bound = float(np.exp(SW**2 / 2))
    ctx.note(
        f"bound exp(sigma_w^2/2) = {bound:.4f}: the predicted Stable growth factors are "
        + ", ".join(
            f"L={d}: {eoc.resnet_variances(d, 'relu', SW, 0.0, 'stable', q0=1.0)[-1]:.4f}" for d in s["depths"]
        )
        + "; SNIP tolerance 4 s.e. + 0.03 (approximate theory)"
    )
    return out
