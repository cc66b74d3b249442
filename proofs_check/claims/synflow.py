"""SynFlow avoids layer collapse (Tanaka et al. 2020), checked on real torch models via eoc.nn.

The measurement is a plain function (:func:`measure_layers_collapsed`) that
``paper_repro`` can call too.
"""

from __future__ import annotations

import warnings

import numpy as np

from eoc.nn import FFNN, LayerCollapseWarning, OneLayerResNet, init_, keep_fractions, prune_at_init
from eoc.sim import gaussian_inputs, random_labels

from ..registry import CheckContext, claim
from ..verdict import compare_exact
from .common import SIGMA_B, generator, tanh_phase_sigma_w

__all__ = ["measure_layers_collapsed"]


def _collapsed(model) -> int:
    return sum(1 for k in keep_fractions(model).values() if k == 0.0)


def _prune(model, method, sparsity, rounds, gen, x, y) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LayerCollapseWarning)
        prune_at_init(model, method, sparsity, x, y, rounds=rounds, generator=gen)
    return _collapsed(model)


def measure_layers_collapsed(
    *,
    method: str,
    widths,
    sparsity: float,
    sigma_w: float,
    sigma_b: float = SIGMA_B,
    act: str = "tanh",
    rounds: int = 100,
    batch: int = 128,
    seed: int,
) -> int:
    """Number of layers of a float64 :class:`eoc.nn.FFNN` that :func:`eoc.nn.prune_at_init`
    (global, ``rounds`` rounds for SynFlow) empties at ``sparsity``; the data-driven methods
    get a batch of Gaussian inputs with random labels.  Deterministic given ``seed``."""
    widths = list(widths)
    gen = generator(seed)
    x = gaussian_inputs(batch, widths[0], generator=gen)
    y = random_labels(batch, widths[-1], generator=gen)
    model = FFNN(widths, activation=act).double()
    init_(model, act, sigma_w, sigma_b, generator=generator(seed + 1000))
    return _prune(model, method, sparsity, rounds, gen, x, y)


@claim(
    "synflow-no-collapse",
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
    sw = tanh_phase_sigma_w(SIGMA_B)["ordered"]  # the ordered phase, where SNIP collapses easily
    counts = {
        method: [
            measure_layers_collapsed(
                method=method, widths=widths, sparsity=s["sparsity"], sigma_w=sw, rounds=s["rounds"], batch=s["batch"],
                seed=ctx.seed_for(k),
            )  # fmt: skip
            for k in range(s["seeds"])
        ]
        for method in ("synflow", "snip", "magnitude")
    }
    out = [
        compare_exact(
            f"layers fully pruned by SynFlow at s={s['sparsity']} (sum over {s['seeds']} seeds)", 0.0, sum(counts["synflow"])
        )
    ]
    if sum(counts["snip"]) == 0:
        ctx.cannot_conclude(f"SNIP empties no layer at s={s['sparsity']}: the setting does not tell SynFlow apart")
    ctx.note(
        f"at the same sparsity SNIP fully prunes {np.mean(counts['snip']):.1f} and magnitude pruning "
        f"{np.mean(counts['magnitude']):.1f} layers on average ({s['seeds']} seeds, FFNN {d_in}-{width}x{s['depth'] - 1}-{d_out}, "
        f"tanh, sigma_w = {sw:.3f}, sigma_b = {SIGMA_B})"
    )
    # Residual networks: a branch can be emptied without disconnecting input from output.
    res = OneLayerResNet(d_in, width, s["depth"], d_out, activation="relu", alpha="stable").double()
    init_(res, "relu", np.sqrt(2.0), 0.0, generator=generator(ctx.seed_for(77)))
    n_res = _prune(res, "synflow", s["sparsity"], s["rounds"], generator(ctx.seed_for(78)), None, None)
    ctx.note(
        f"on a Stable one-layer-branch ResNet of the same size SynFlow fully prunes {n_res} layer(s): emptying a "
        "residual branch leaves the shortcut path, so it does not violate SynFlow's guarantee (no disconnection "
        "of input from output) but it is a layer collapse in the sense of docs/theory.md §4"
    )
    return out
