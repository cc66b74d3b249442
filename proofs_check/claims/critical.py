"""Critical-sparsity claims (docs/theory.md §4, §8): magnitude pruning, and SNIP in the three phases.

Measurements are plain functions (``measure_*`` / ``predict_*`` / ``compare_*``,
keyword-only) that ``paper_repro`` calls too (E2, E5).  Networks, scores, masks and
critical sparsity are :mod:`eoc.sim`'s and :mod:`eoc.nn`'s.

SNIP's :math:`s_{cr}` is predicted by the finite-width, batch-aware model of
docs/theory.md §8 (``model="finite"``) and judged with its own stated error: its
Monte-Carlo standard error in quadrature with the measurement's, plus the structural
allowance :func:`proofs_check.verdict.finite_model_error` derived from the stored
validation (§8.5).  The paper's iid model (§4, ``model="iid"``) is recorded next to
it in every comparison (``alternatives["iid"]``) and judged at the same tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import eoc
from eoc.nn import VGG, compute_scores, init_, measured_critical_sparsity
from eoc.sim import MLPStack, ResNetStack, gaussian_inputs, random_labels, score_shape

from ..registry import CheckContext, claim
from ..verdict import (
    Comparison,
    alternatives_summary,
    compare,
    compare_exact,
    compare_proportion,
    finite_cnn_unmodelled,
    finite_model_unmodelled,
    stored_finite_cnn_model_error,
    stored_finite_model_error,
)
from .common import SIGMA_B, generator, tanh_phase_sigma_w

__all__ = [
    "INPUT_DIM",
    "OUTPUTS",
    "ffnn_widths",
    "cnn_widths",
    "CriticalSparsityMeasurement",
    "predict_critical_sparsity",
    "compare_critical_sparsity",
    "measure_critical_sparsity",
    "measure_module_critical_sparsity",
    "cnn_batch_and_models",
    "pruning_scores",
    "IID_LABEL",
]

#: How reports name the paper's model when they record it next to the finite one.
IID_LABEL = "the paper's iid model (model='iid', docs/theory.md §4)"

INPUT_DIM = 784
OUTPUTS = 10


def ffnn_widths(width: int, depth: int, *, input_dim: int = INPUT_DIM, outputs: int = OUTPUTS) -> list[int]:
    """``input_dim - width x (depth - 1) - outputs``: the FFNN of the pruning claims (depth weight layers)."""
    return [input_dim] + [width] * (depth - 1) + [outputs]



@dataclass(frozen=True)
class CriticalSparsityMeasurement:
    """Empirical critical sparsity of R networks (arrays over the networks).

    Attributes
    ----------
    method : str
    s_cr : ndarray (R,)
    first_layer : ndarray (R,)
        The layer attaining :math:`t_{cr}` (the first fully pruned as s grows).
    layer_max : ndarray (R, L)
        Every layer's largest score.
    score_shape : ndarray (R, L)
        :math:`\\mathbb E|g|/\\sqrt{\\mathbb E g^2}` of each layer's scores (:math:`2/\\pi` under the SNIP model).
    keep_fractions : ndarray (R, L) or None
        Kept fraction of every layer under global pruning at ``keep_sparsity``, if asked.
    """

    method: str
    s_cr: np.ndarray
    first_layer: np.ndarray
    layer_max: np.ndarray
    score_shape: np.ndarray
    keep_fractions: np.ndarray | None = None


def predict_critical_sparsity(
    *, method: str, widths, act, sigma_w, sigma_b, arch: str = "ffnn", alpha=None, model: str = "finite",
    batch: int = 128, image_size: int | None = None,
) -> eoc.CriticalSparsity:
    """The prediction of :func:`eoc.critical_sparsity`: ``model="finite"`` (default; the
    finite-width model of docs/theory.md §8 for a scoring batch of ``batch``, counting a
    CNN's ``image_size`` x ``image_size`` positions where given, §8.6) or ``model="iid"``
    (the paper's iid score laws, docs/theory.md §4)."""
    return eoc.critical_sparsity(method, list(widths), act, sigma_w, sigma_b, arch=arch, alpha=alpha, model=model,
                                 batch_size=batch, image_size=image_size)  # fmt: skip


def compare_critical_sparsity(
    quantity: str, samples, *, finite: eoc.CriticalSparsity, iid: eoc.CriticalSparsity, resolution: float | None = None,
    allowance: str = "FINITE_MODEL_ERROR", others: dict | None = None,
) -> Comparison:
    """Measured :math:`s_{cr}` (``samples``, one per network) against the finite model's prediction.

    Tolerance :math:`z\\sqrt{\\mathrm{SE}^2 + \\mathrm{SE}_{\\rm model}^2} + \\epsilon_{\\rm finite}`: the
    model's Monte-Carlo error over its virtual networks (``finite.s_cr_se``) and its
    structural allowance, ``FINITE_MODEL_ERROR`` (:func:`proofs_check.verdict.finite_model_error`,
    docs/theory.md §8.5) or, for a CNN, ``"FINITE_CNN_MODEL_ERROR"``
    (:func:`proofs_check.verdict.finite_cnn_model_error`, §8.6).  ``iid.s_cr`` is recorded as
    the alternative ``"iid"``, and ``others`` (name: s_cr) beside it.

    Raises
    ------
    ValueError
        ``finite`` is not a finite-model prediction (an architecture outside its coverage
        falls back to the iid model, which this allowance does not describe).
    """
    if finite.model != "finite" and finite.method == "snip":
        raise ValueError(f"finite must be a prediction of model='finite', got model={finite.model!r}")
    return compare(
        quantity, finite.s_cr, samples, model_error=allowance if finite.method == "snip" else 0.0,
        resolution=resolution, predicted_se=finite.s_cr_se, alternatives={"iid": iid.s_cr, **(others or {})},
    )  # fmt: skip


def unmodelled_notes(comparisons, regimes) -> list[str]:
    """For every failing comparison whose regime ``(kind, variant, depth)`` is one the finite
    model leaves out (:data:`proofs_check.verdict.FINITE_MODEL_UNMODELLED`), a note naming the mechanism."""
    out = []
    for c, (kind, variant, depth) in zip(comparisons, regimes):
        why = finite_model_unmodelled(kind, variant, depth)
        if why and not c.passed:
            out.append(
                f"{c.quantity} FAILs by {c.gap:+.4f} (tolerance {c.tolerance:.4f}): a known limit of the finite model, {why}"
            )
    return out


def _stack(widths, act, sigma_w, sigma_b, replicas, arch, alpha, gen, device, dtype):
    if arch == "ffnn":
        return MLPStack.init(widths, act, sigma_w, sigma_b, replicas, generator=gen, device=device, dtype=dtype)
    if arch == "resnet":  # eoc's ResNet widths: input, projection, residual layers, read-out
        d, n, n_res, out = widths[0], widths[1], len(widths) - 3, widths[-1]
        return ResNetStack.init(d, n, n_res, out, act, sigma_w, sigma_b, alpha, replicas, generator=gen, device=device, dtype=dtype)
    raise ValueError(f"arch must be 'ffnn' or 'resnet', got arch={arch!r}")


def pruning_scores(net, method: str, x, y, gen):
    """The :class:`eoc.sim.Scores` of ``method`` (random, magnitude, snip on the batch ``x, y``) of a stack."""
    if method == "magnitude":
        return net.magnitude_scores()
    if method == "snip":
        return net.snip_scores(x, y)
    if method == "random":
        return net.random_scores(gen)
    raise ValueError(f"method must be 'random', 'magnitude' or 'snip', got method={method!r}")


def measure_critical_sparsity(
    *,
    method: str,
    widths,
    act,
    sigma_w,
    sigma_b,
    replicas: int,
    batch: int = 128,
    arch: str = "ffnn",
    alpha: float = 1.0,
    keep_sparsity: float | None = None,
    seed: int,
    device="cpu",
    dtype=torch.float64,
) -> CriticalSparsityMeasurement:
    """Empirical s_cr of ``replicas`` random networks pruned globally by ``method``.

    SNIP scores use a batch of ``batch`` Gaussian inputs (|x|^2/d = 1, shared by the
    networks) with random labels and the mean cross-entropy.  The inputs are drawn
    before the networks, so one seed gives the same networks for every method.
    """
    widths = [int(w) for w in widths]
    gen, x, y, net = _batch_and_stack(widths, act, sigma_w, sigma_b, replicas, batch, arch, alpha, seed, device, dtype)
    scores = pruning_scores(net, method, x, y, gen)
    crit = scores.critical()
    keep = None
    if keep_sparsity is not None:
        masks = scores.global_masks(keep_sparsity)
        keep = torch.stack([m.flatten(1).double().mean(1) for m in masks], dim=1).cpu().numpy()
    shape = torch.stack([score_shape(s) for s in scores.layers], dim=1)
    return CriticalSparsityMeasurement(
        method, crit.s_cr.cpu().numpy(), crit.layer.cpu().numpy(), crit.layer_max.double().cpu().numpy(),
        shape.cpu().numpy(), keep,
    )  # fmt: skip


def _batch_and_stack(widths, act, sigma_w, sigma_b, replicas, batch, arch, alpha, seed, device, dtype):
    """The scoring batch and the networks of one seed, in the order every measurement draws them."""
    gen = generator(seed)
    x = gaussian_inputs(batch, widths[0], generator=gen, dtype=dtype, device=device)
    y = random_labels(batch, widths[-1], generator=gen, device=device)
    return gen, x, y, _stack(widths, act, sigma_w, sigma_b, replicas, arch, alpha, gen, device, dtype)


def cnn_batch_and_models(
    *, widths, act, sigma_w, sigma_b, replicas: int, batch: int, image_size: int, seed: int, device="cpu",
    dtype=torch.float64, padding: str = "zeros",
):
    """The scoring batch and the ``replicas`` plain CNNs one seed draws for ``arch="cnn"``
    (:func:`measure_module_critical_sparsity`): ``(gen, x, y, models)``, ``models`` a generator of
    initialized :class:`eoc.nn.VGG` without pooling nor BatchNorm; ``gen`` continues the seed's
    stream (for the scores).  ``padding`` sets the convolutions' padding mode (``"circular"``:
    no border; ``bench/validate_cnn_critical_sparsity.py``)."""
    widths = [int(w) for w in widths]
    gen = generator(seed)
    flat = gaussian_inputs(batch, widths[0] * image_size**2, generator=gen, dtype=dtype, device=device)
    x = flat.view(batch, widths[0], image_size, image_size)
    y = random_labels(batch, widths[-1], generator=gen, device=device)

    def cnn(r):
        model = VGG(list(widths[1:-1]), in_channels=widths[0], num_classes=widths[-1], activation=act,
                    batch_norm=False).to(device=device, dtype=dtype)  # fmt: skip
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.padding_mode = padding
        return init_(model, act, sigma_w, sigma_b, generator=generator(seed + 7919 * (r + 1)))

    return gen, x, y, (cnn(r) for r in range(int(replicas)))


def measure_module_critical_sparsity(
    *,
    method: str,
    widths,
    act,
    sigma_w,
    sigma_b,
    replicas: int,
    batch: int = 128,
    arch: str = "ffnn",
    image_size: int = 8,
    seed: int,
    device="cpu",
    dtype=torch.float64,
) -> np.ndarray:
    """Empirical s_cr of ``replicas`` :mod:`eoc.nn` models scored by :func:`eoc.nn.compute_scores`.

    Any of the five methods (random, magnitude, SNIP, GraSP, SynFlow), one round of
    scores, global pruning, :func:`eoc.nn.measured_critical_sparsity`.  For SynFlow
    this is the single-shot :math:`s_{cr}`; iterative SynFlow empties no layer of an
    FFNN by construction (claim ``synflow-no-collapse``).

    ``arch="ffnn"``: replica r of the very networks and batch that
    :func:`measure_critical_sparsity` draws from ``seed`` (:meth:`eoc.sim.MLPStack.to_module`),
    so methods are compared network by network.  ``arch="cnn"``: the plain CNN of
    eoc's ``arch="cnn"`` (:class:`eoc.nn.VGG` with the channel list ``widths[1:-1]``, 3x3
    convolutions, no pooling nor BatchNorm, global average pooling and a dense read-out to
    ``widths[-1]`` classes), Gaussian images ``(batch, widths[0], image_size, image_size)``
    of unit entry variance and random labels, :func:`eoc.nn.init_` at ``(sigma_w, sigma_b)``.
    """
    widths = [int(w) for w in widths]
    out = np.empty(int(replicas))
    if arch == "ffnn":
        gen, x, y, net = _batch_and_stack(widths, act, sigma_w, sigma_b, replicas, batch, "ffnn", 1.0, seed, device, dtype)
        models = (net.to_module(r) for r in range(replicas))
    elif arch == "cnn":
        gen, x, y, models = cnn_batch_and_models(widths=widths, act=act, sigma_w=sigma_w, sigma_b=sigma_b,
                                                 replicas=replicas, batch=batch, image_size=image_size, seed=seed,
                                                 device=device, dtype=dtype)  # fmt: skip
    else:
        raise ValueError(f"arch must be 'ffnn' or 'cnn', got arch={arch!r}")
    for r, model in enumerate(models):
        scores = compute_scores(model, method, x, y, generator=gen)
        out[r] = measured_critical_sparsity(scores)
    return out


@claim(
    "mbp-critical-sparsity",
    sizes={
        "tiny": {"width": 100, "depths": (5,), "replicas": 16},
        "quick": {"width": 100, "depths": (10, 30), "replicas": 24},
        "full": {"width": 100, "depths": (10, 50, 100), "replicas": 64},
    },
)
def mbp_critical_sparsity(ctx: CheckContext):
    s = ctx.sizes
    out = []
    for i, depth in enumerate(s["depths"]):
        widths = ffnn_widths(s["width"], depth)
        pred = predict_critical_sparsity(method="magnitude", widths=widths, act="tanh", sigma_w=1.0, sigma_b=0.0)
        for j, (act, sw, sb) in enumerate((("tanh", 1.3, 0.2), ("relu", 1.0, 0.0))):
            m = measure_critical_sparsity(
                method="magnitude", widths=widths, act=act, sigma_w=sw, sigma_b=sb, replicas=s["replicas"],
                seed=ctx.seed_for(10 * i + j), device=ctx.device, dtype=ctx.dtype,
            )  # fmt: skip
            tag = f"L={depth}, {act} sw={sw} sb={sb}"
            out.append(compare(f"s_cr {tag}", pred.s_cr, m.s_cr, resolution=ctx.resolution(0.02)))
            mode = int(np.bincount(m.first_layer).argmax())
            out.append(compare_exact(f"first layer to collapse (mode over networks) {tag}", pred.first_layer, mode))
    ctx.note(
        "magnitude scores are exactly iid half-normal per layer at initialization and eoc computes the exact "
        "expectation of s_cr under that law: no model error is allowed"
    )
    return out


@claim(
    "sbp-critical-sparsity-phases",
    sizes={
        "tiny": {"width": 100, "depths": (8,), "replicas": 8, "batch": 128},
        "quick": {"width": 100, "depths": (10, 30, 50), "replicas": 12, "batch": 128},
        "full": {"width": 100, "depths": (10, 30, 50, 100), "replicas": 64, "batch": 128},
    },
)
def sbp_critical_sparsity_phases(ctx: CheckContext):
    s = ctx.sizes
    out, scr, regimes = [], [], []
    shape = {}
    for i, depth in enumerate(s["depths"]):
        widths = ffnn_widths(s["width"], depth)
        for j, (phase, sw) in enumerate(tanh_phase_sigma_w(SIGMA_B).items()):
            m = measure_critical_sparsity(
                method="snip", widths=widths, act="tanh", sigma_w=sw, sigma_b=SIGMA_B, replicas=s["replicas"],
                batch=s["batch"], seed=ctx.seed_for(100 * i + j), device=ctx.device, dtype=ctx.dtype,
            )  # fmt: skip
            common = {"method": "snip", "widths": widths, "act": "tanh", "sigma_w": sw, "sigma_b": SIGMA_B,
                      "batch": s["batch"]}  # fmt: skip
            pred = predict_critical_sparsity(**common)
            iid = predict_critical_sparsity(**common, model="iid")
            if depth == max(s["depths"]):
                shape[phase] = float(m.score_shape[:, -2].mean())
            tag = f"tanh {phase} L={depth}"
            c = compare_critical_sparsity(f"s_cr {tag}", m.s_cr, finite=pred, iid=iid, resolution=ctx.resolution(0.1))
            out.append(c)
            scr.append(c)
            regimes.append(("ffnn", {"edge_of_chaos": "eoc"}.get(phase, phase), depth))
            if phase != "edge_of_chaos" and depth >= 20:
                same_side = (m.first_layer < depth / 2) == (pred.first_layer < depth / 2)
                out.append(
                    compare_proportion(
                        f"first collapse on the predicted side (layer {pred.first_layer} of {depth}), {tag}", 1.0,
                        same_side, resolution=0.5,
                    )  # fmt: skip
                )
    allowance = stored_finite_model_error()
    ctx.note(
        "s_cr: the finite-width, batch-aware model (docs/theory.md §8) with tolerance 4 sqrt(SE^2 + SE_model^2) + "
        f"FINITE_MODEL_ERROR = {allowance.value:.4f} ({allowance.derivation}); SE_model is the model's Monte-Carlo "
        "error over its virtual networks. Side of first collapse: the model puts the first collapse on one half of "
        "the network, so the predicted fraction of networks doing the same is 1; resolution 1/2, the distance from 1 "
        "to no preference between the halves"
    )
    ctx.note(alternatives_summary(scr, "iid", IID_LABEL[0].upper() + IID_LABEL[1:]))
    for n in unmodelled_notes(scr, regimes):
        ctx.note(n)
    ctx.note(
        "shape of the scores of the last hidden layer at the largest depth, E|g| / sqrt(E g^2) (the product-normal "
        f"model gives 2/pi = {2 / np.pi:.4f}): "
        + ", ".join(f"{k} {v:.4f}" for k, v in shape.items())
        + ". Lower means heavier tails than |Z1 Z2|: the batch gradient is close to low rank (docs/theory.md §8.1), "
        "which the finite model accounts for and the iid model does not"
    )
    return out


def cnn_widths(channels: int, depth: int, *, in_channels: int = 3, outputs: int = OUTPUTS) -> list[int]:
    """``in_channels - channels x (depth - 1) - outputs``: the plain CNN of the CNN claim (depth weight layers)."""
    return [in_channels] + [channels] * (depth - 1) + [outputs]


@claim(
    "sbp-critical-sparsity-cnn",
    sizes={
        "tiny": {"channels": 16, "depths": (5,), "image_size": 8, "replicas": 4, "batch": 64},
        "quick": {"channels": 32, "depths": (10, 20), "image_size": 8, "replicas": 8, "batch": 128},
        "full": {"channels": 32, "depths": (5, 10, 20, 40), "image_size": 8, "replicas": 32, "batch": 128},
    },
)
def sbp_critical_sparsity_cnn(ctx: CheckContext):
    s = ctx.sizes
    out = []
    for i, depth in enumerate(s["depths"]):
        widths = cnn_widths(s["channels"], depth)
        for j, (phase, sw) in enumerate(tanh_phase_sigma_w(SIGMA_B).items()):
            m = measure_module_critical_sparsity(
                method="snip", widths=widths, act="tanh", sigma_w=sw, sigma_b=SIGMA_B, replicas=s["replicas"],
                batch=s["batch"], arch="cnn", image_size=s["image_size"], seed=ctx.seed_for(100 * i + j),
                device=ctx.device, dtype=ctx.dtype,
            )  # fmt: skip
            common = {"method": "snip", "widths": widths, "act": "tanh", "sigma_w": sw, "sigma_b": SIGMA_B,
                      "arch": "cnn", "batch": s["batch"]}  # fmt: skip
            pred = predict_critical_sparsity(**common, image_size=s["image_size"])
            iid = predict_critical_sparsity(**common, model="iid")
            one = predict_critical_sparsity(**common)
            out.append(compare_critical_sparsity(
                f"s_cr CNN tanh {phase} L={depth}", m, finite=pred, iid=iid, resolution=ctx.resolution(0.1),
                allowance="FINITE_CNN_MODEL_ERROR", others={"one position": one.s_cr},
            ))  # fmt: skip
    allowance = stored_finite_cnn_model_error()
    ctx.note(
        f"plain tanh CNN ({s['channels']} channels, 3x3 convolutions with zero padding, global average pooling, dense "
        f"read-out), {s['image_size']}x{s['image_size']} Gaussian images, random labels, batch {s['batch']}. s_cr: the "
        "finite model counting every convolution's batch x positions samples (docs/theory.md §8.6) with tolerance "
        f"4 sqrt(SE^2 + SE_model^2) + FINITE_CNN_MODEL_ERROR = {allowance.value:.4f} ({allowance.derivation})"
    )
    ctx.note(alternatives_summary(out, "iid", IID_LABEL[0].upper() + IID_LABEL[1:]))
    ctx.note(alternatives_summary(out, "one position", "The finite model with one position per example (image size unknown)"))
    why = finite_cnn_unmodelled(s["image_size"])
    if why:
        ctx.note(f"at {s['image_size']}x{s['image_size']} images a known limit of the model applies: {why}")
    return out

