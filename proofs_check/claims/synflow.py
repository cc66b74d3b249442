"""SynFlow avoids layer collapse (Tanaka et al. 2020), checked on real torch models via eoc.nn."""

from __future__ import annotations

import warnings

import numpy as np
import torch

import eoc
from eoc.nn import FFNN, LayerCollapseWarning, OneLayerResNet, init_, keep_fractions, prune_at_init

from ..registry import CheckContext, Comparison, claim


def _collapsed(model) -> int:
    return sum(1 for k in keep_fractions(model).values() if k == 0.0)


def _prune(model, method, sparsity, rounds, gen, x, y) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayerCollapseWarning)
        prune_at_init(model, method, sparsity, x, y, rounds=rounds, generator=gen)
    return _collapsed(model)


@claim(
    "synflow-no-collapse",
    title="Iterative SynFlow never empties a layer of a feed-forward network",
    statement=(
        "Iterative, data-free SynFlow (Tanaka et al. 2020; 100 rounds, exponential schedule) keeps every layer "
        "of a deep FFNN non-empty at sparsities where SNIP and magnitude pruning fully prune some layer."
    ),
    sizes={
        "tiny": {"widths": (64, 32, 10), "depth": 8, "sparsity": 0.99, "rounds": 20, "seeds": 2, "batch": 64},
        "quick": {"widths": (64, 64, 10), "depth": 20, "sparsity": 0.995, "rounds": 100, "seeds": 3, "batch": 128},
        "full": {"widths": (784, 100, 10), "depth": 50, "sparsity": 0.999, "rounds": 100, "seeds": 5, "batch": 128},
    },
)
def synflow_no_collapse(ctx: CheckContext):
    s = ctx.sizes
    d_in, width, d_out = s["widths"]
    widths = [d_in] + [width] * (s["depth"] - 1) + [d_out]
    sb = 0.2
    sw = 0.8 * float(eoc.edge_of_chaos("tanh", sb))  # ordered phase, where SNIP collapses easily
    counts = {"synflow": [], "snip": [], "magnitude": []}
    for seed in range(s["seeds"]):
        gen = ctx.generator(seed)
        x = torch.randn(s["batch"], d_in, generator=gen, dtype=torch.float64)
        y = torch.randint(0, d_out, (s["batch"],), generator=gen)
        for method in counts:
            model = FFNN(widths, activation="tanh").double()
            init_(model, "tanh", sw, sb, generator=ctx.generator(1000 + seed))
            counts[method].append(_prune(model, method, s["sparsity"], s["rounds"], gen, x, y))
    syn = np.array(counts["synflow"], dtype=float)
    out = [Comparison(f"layers fully pruned by SynFlow at s={s['sparsity']} (mean over seeds)", 0.0, syn.mean(), 0.0, 0.0)]
    ctx.note(
        f"at the same sparsity SNIP fully prunes {np.mean(counts['snip']):.1f} and magnitude pruning "
        f"{np.mean(counts['magnitude']):.1f} layers on average ({s['seeds']} seeds, FFNN {d_in}-{width}x{s['depth'] - 1}-{d_out}, "
        f"tanh, sigma_w = {sw:.3f}, sigma_b = {sb})"
    )
    # Residual networks: a branch can be emptied without disconnecting input from output.
    res = OneLayerResNet(d_in, width, s["depth"], d_out, activation="relu", alpha="stable").double()
    init_(res, "relu", np.sqrt(2.0), 0.0, generator=ctx.generator(77))
    n_res = _prune(res, "synflow", s["sparsity"], s["rounds"], ctx.generator(78), None, None)
    ctx.note(
        f"on a Stable one-layer-branch ResNet of the same size SynFlow fully prunes {n_res} layer(s): emptying a "
        "residual branch leaves the shortcut path, so it does not violate SynFlow's guarantee (no disconnection "
        "of input from output) but it is a layer collapse in the sense of THEORY.md section 4"
    )
    return out
