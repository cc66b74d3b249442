"""Pruned networks leave the edge of chaos, and the rescaling trick puts them back (docs/theory.md §5).

Measurements are plain functions (``measure_*`` / ``predict_*``, keyword-only) that
``paper_repro`` can call too.  Networks, masks and the rescaling are :mod:`eoc.sim`'s
(built on :mod:`eoc.nn`: the factors of :func:`eoc.nn.rescale_`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import eoc
from eoc.sim import MLPStack, gaussian_inputs, mean_square, perturbation_chi, random_labels

from ..registry import CheckContext, claim
from ..verdict import compare, compare_extrapolated
from .common import SIGMA_B, generator, tanh_phase_sigma_w
from .critical import OUTPUTS, pruning_scores

__all__ = ["PrunedMeasurement", "measure_pruned_network", "predict_chi_at_sigma_eff", "fixed_point_input_q"]

@dataclass(frozen=True)
class PrunedMeasurement:
    """An equal-width tanh FFNN after global pruning (and optionally rescaling), per network.

    Attributes
    ----------
    keep_fractions : ndarray (R, L)
    sigma_eff2 : ndarray (R, L)
        :math:`v_l\\,\\overline{(W\\delta)^2}/\\sigma_w^2` of every layer (1 before pruning, in expectation).
    chi : ndarray (R,)
        :func:`eoc.sim.perturbation_chi` over ``layers``, inputs at the unpruned fixed point.
    q_last : ndarray (R,)
        Mean square pre-activation of the last layer for those inputs.
    """

    keep_fractions: np.ndarray
    sigma_eff2: np.ndarray
    chi: np.ndarray
    q_last: np.ndarray


def fixed_point_input_q(*, act, sigma_w: float, sigma_b: float) -> float:
    """:math:`|x|^2/d` that puts the first layer at the fixed point: :math:`(q^* - \\sigma_b^2)/\\sigma_w^2`."""
    return (float(eoc.q_star(act, sigma_w, sigma_b)) - sigma_b**2) / sigma_w**2


def measure_pruned_network(
    *,
    method: str,
    sparsity: float,
    width: int,
    depth: int,
    sigma_w: float,
    sigma_b: float = SIGMA_B,
    replicas: int,
    batch: int = 128,
    inputs: int = 16,
    layers: slice,
    rescale: str | None = None,
    seed: int,
    device="cpu",
    dtype=torch.float64,
) -> PrunedMeasurement:
    """Prune ``replicas`` tanh FFNNs of ``depth`` layers of ``width`` globally at ``sparsity``
    (SNIP on a batch of Gaussian inputs with random labels), optionally rescale them
    (``rescale="neuron"`` or ``"layer"``, :meth:`eoc.sim.MLPStack.rescale_`), and measure
    them with ``inputs`` fresh inputs at the fixed point."""
    widths = [width] * (depth + 1)
    gen = generator(seed)
    x_batch = gaussian_inputs(batch, width, generator=gen, dtype=dtype, device=device)
    y_batch = random_labels(batch, OUTPUTS, generator=gen, device=device)
    net = MLPStack.init(widths, "tanh", sigma_w, sigma_b, replicas, generator=gen, device=device, dtype=dtype)
    net.apply_masks(pruning_scores(net, method, x_batch, y_batch, gen).global_masks(sparsity))
    if rescale is not None:
        net.rescale_(rescale)
    keep = net.keep_fractions().cpu().numpy()
    eff = mean_square(net.effective_weights()).double().cpu().numpy() * np.array(widths[:-1]) / sigma_w**2
    q_in = fixed_point_input_q(act="tanh", sigma_w=sigma_w, sigma_b=sigma_b)
    x = gaussian_inputs(inputs, width, q=q_in, generator=gen, dtype=dtype, device=device)
    chi = perturbation_chi(net, x, layers, generator=gen)
    _, pre = net.forward(x)
    q_last = pre[-1].double().square().mean(dim=(1, 2)).cpu().numpy()
    return PrunedMeasurement(keep, eff, chi, q_last)


def predict_chi_at_sigma_eff(*, sigma_eff, widths, sigma_b: float, input_q: float, layers: slice) -> float:
    """:math:`\\chi_1` of the mean-field maps of a tanh FFNN with per-layer weight scales ``sigma_eff``:
    the geometric mean over ``layers`` of :attr:`eoc.LayerProfile.chi` (docs/theory.md §2, §5)."""
    prof = eoc.layer_profile(eoc.as_architecture(list(widths)), "tanh", np.asarray(sigma_eff), sigma_b, input_q=input_q)
    return float(np.exp(np.mean(np.log(prof.chi[layers]))))


#: Two widths per profile for the extrapolation in 1/N.  The widest stack's selection
#: (a stable sort of R * N^2 * depth scores) dominates the cost on a CPU.
PRUNE_SIZES = {
    "tiny": {"widths": (64, 128), "depth": 8, "replicas": 8, "batch": 64, "inputs": 8, "sparsity": 0.8},
    "quick": {"widths": (128, 256), "depth": 20, "replicas": 12, "batch": 128, "inputs": 16, "sparsity": 0.7},
    "full": {"widths": (512, 1024), "depth": 40, "replicas": 32, "batch": 128, "inputs": 32, "sparsity": 0.9},
}
_METHODS = ("random", "magnitude", "snip")


def _pruned(ctx, method, width, offset, rescale=None):
    s = ctx.sizes
    sw = tanh_phase_sigma_w(SIGMA_B)["edge_of_chaos"]
    return measure_pruned_network(
        method=method, sparsity=s["sparsity"], width=width, depth=s["depth"], sigma_w=sw, replicas=s["replicas"],
        batch=s["batch"], inputs=s["inputs"], layers=_middle(s["depth"]), rescale=rescale, seed=ctx.seed_for(offset),
        device=ctx.device, dtype=ctx.dtype,
    )  # fmt: skip


def _middle(depth: int) -> slice:
    """The middle half of the layers, away from the input transient and the last layer."""
    return slice(depth // 4, 3 * depth // 4)


@claim("pruned-leaves-eoc", sizes=PRUNE_SIZES)
def pruned_leaves_eoc(ctx: CheckContext):
    s = ctx.sizes
    sw = tanh_phase_sigma_w(SIGMA_B)["edge_of_chaos"]
    q_in = fixed_point_input_q(act="tanh", sigma_w=sw, sigma_b=SIGMA_B)
    hidden = slice(1, s["depth"] - 1)
    out, model_chi = [], {}
    for i, method in enumerate(_METHODS):
        runs = [_pruned(ctx, method, n, 10 * i + j) for j, n in enumerate(s["widths"])]
        # (1) the effective variance against the closed form (random, magnitude) or the SNIP model, at the
        #     measured keep fractions of the widest networks.
        wide = runs[-1]
        k_mean = wide.keep_fractions.mean(axis=0)
        pred_eff = float(np.mean(eoc.effective_sigma_w(method, k_mean, 1.0)[hidden] ** 2))
        out.append(
            compare(
                f"sigma_eff^2/sigma_w^2 after {method} pruning (mean over hidden layers, N={s['widths'][-1]})",
                pred_eff, wide.sigma_eff2[:, hidden].mean(axis=1),
                model_error="SNIP_MODEL_ERROR" if method == "snip" else 0.0, resolution=abs(1.0 - pred_eff),
            )  # fmt: skip
        )
        # (2) chi_1 of the pruned networks against the maps at their measured sigma_eff, extrapolated in 1/N.
        preds = [
            predict_chi_at_sigma_eff(
                sigma_eff=sw * np.sqrt(r.sigma_eff2.mean(axis=0)), widths=[n] * (s["depth"] + 1), sigma_b=SIGMA_B,
                input_q=q_in, layers=_middle(s["depth"]),
            )  # fmt: skip
            for r, n in zip(runs, s["widths"])
        ]
        out.append(
            compare_extrapolated(
                f"chi_1 after {method} pruning (s={s['sparsity']}) vs maps at the measured sigma_eff", preds,
                s["widths"], [r.chi for r in runs], resolution=abs(1.0 - max(preds)),
            )  # fmt: skip
        )
        if max(preds) >= 1:
            ctx.cannot_conclude(f"the maps put the {method}-pruned network at chi_1 = {max(preds):.3f}, not in the ordered phase")
        pred = eoc.post_pruning_phase(method, s["sparsity"], [s["widths"][-1]] * (s["depth"] + 1), "tanh", sw, SIGMA_B, input_q=q_in)
        model_chi[method] = (float(np.exp(np.mean(np.log(pred.chi_1[_middle(s["depth"])])))), float(wide.chi.mean()))
    ctx.note(
        "chi_1 measured as the mean over the middle layers of ||dy^{l+1}||^2/||dy^l||^2 for a 1e-6 input perturbation, "
        "inputs at the unpruned fixed point; predicted by eoc.layer_profile with each layer's measured sigma_eff "
        "(mean over networks); both extrapolated in 1/N from the two widths, so no finite-width allowance is needed. "
        "Resolution of each comparison: its distance to the alternative 'pruning leaves the network as it was' "
        "(sigma_eff = sigma_w, chi_1 = 1)"
    )
    ctx.note(
        "chi_1 from the model alone (eoc.post_pruning_phase: keep fractions and sigma_eff both predicted) against the "
        f"measurement at N={s['widths'][-1]}: "
        + ", ".join(f"{k} {p:.4f} vs {m:.4f}" for k, (p, m) in model_chi.items())
    )
    return out


@claim("rescaling-restores-eoc", sizes=PRUNE_SIZES)
def rescaling_restores_eoc(ctx: CheckContext):
    s = ctx.sizes
    sw = tanh_phase_sigma_w(SIGMA_B)["edge_of_chaos"]
    q_star = float(eoc.q_star("tanh", sw, SIGMA_B))
    out = []
    q_in = fixed_point_input_q(act="tanh", sigma_w=sw, sigma_b=SIGMA_B)
    for i, method in enumerate(_METHODS):
        runs = [_pruned(ctx, method, n, 100 + 10 * i + j, rescale="neuron") for j, n in enumerate(s["widths"])]
        # The alternative: rescaling does nothing (the pruned network of eoc.post_pruning_phase).
        alt = eoc.post_pruning_phase(method, s["sparsity"], [s["widths"][-1]] * (s["depth"] + 1), "tanh", sw, SIGMA_B, input_q=q_in)
        chi_alt = float(np.exp(np.mean(np.log(alt.chi_1[_middle(s["depth"])]))))
        out.append(
            compare_extrapolated(
                f"chi_1 after {method} pruning + rescaling", 1.0, s["widths"], [r.chi for r in runs],
                resolution=abs(1.0 - chi_alt),
            )  # fmt: skip
        )
        out.append(
            compare_extrapolated(
                f"q^L after {method} pruning + rescaling", q_star, s["widths"], [r.q_last for r in runs],
                resolution=abs(q_star - float(alt.q[-1])),
            )  # fmt: skip
        )
    ctx.note(
        "rescaling by eoc.sim (eoc.nn.functional.rescale_factors, the factors of eoc.nn.rescale_), mode 'neuron'; "
        "same measurement of chi_1 as pruned-leaves-eoc; q^L = mean square pre-activation of the last layer, whose "
        "mean-field value is q* for inputs at the fixed point; both extrapolated in 1/N from the two widths. "
        "Resolution of each comparison: its distance to the alternative 'rescaling does nothing' (chi_1 and q^L of "
        "the pruned network, eoc.post_pruning_phase)"
    )
    return out
