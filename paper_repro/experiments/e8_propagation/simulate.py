r"""E8's simulations: one cached run per setting, each R networks of the batched simulator.

* :class:`FFNNRun` -- per network, :math:`\hat q^l` of the hidden layers (averaged over
  ``inputs`` inputs) and the mean square of every weight gradient of the cross-entropy
  of one input with a random label (the per-sample setting of the backward formula);
* :class:`ResNetRun` -- one-layer-branch ReLU ResNets: the stream variances
  :math:`\hat q^0..\hat q^L`, the stream gradient variances from the rank-one identity
  (module docstring of :mod:`paper_repro.experiments.e8_propagation`) and the weight
  gradients;
* :class:`OverflowRun` -- float32 standard ResNets: the first layer where an activation,
  and where its float32 second moment, is non-finite; forward and backward at one depth.

Every run draws from one CPU generator seeded by its ``seed``, so a run is reproducible
on any device; the results are plain lists (JSON) for the run cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Q_IN",
    "RESNET_SIGMA_W",
    "RESNET_SIGMA_B",
    "FFNNRun",
    "ResNetRun",
    "OverflowRun",
    "simulate_ffnn",
    "simulate_resnet",
    "simulate_overflow",
    "replicate_stats",
    "agreement",
]

#: The ResNet setting of docs/theory.md §6 (the ReLU EOC).
RESNET_SIGMA_W = math.sqrt(2.0)
RESNET_SIGMA_B = 0.0
#: |x|^2 / d of every input.
Q_IN = 1.0


@dataclass(frozen=True, kw_only=True)
class FFNNRun:
    """R tanh FFNNs ``width x (depth + 1) - outputs`` at one sigma_w."""

    width: int
    depth: int
    outputs: int
    inputs: int
    sigma_w: float
    sigma_b: float
    replicas: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class ResNetRun:
    """R ReLU ResNets of width ``width`` with ``depth`` residual branches scaled by ``alpha``."""

    width: int
    depth: int
    outputs: int
    alpha: float
    replicas: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class OverflowRun:
    """R float32 standard ResNets: a scan of ``scan`` layers, and forward + backward at ``depth``."""

    width: int
    outputs: int
    scan: int
    depth: int
    replicas: int
    seed: int


def _chunks(total: int, size: int) -> list[int]:
    """Sizes of the consecutive batches of at most ``size`` networks that make up ``total``."""
    return [min(size, total - start) for start in range(0, total, size)]


def simulate_ffnn(run: FFNNRun, *, chunk: int = 64, device: str = "cpu") -> dict:
    """``q`` ``(R, depth)`` of the hidden layers and ``grad`` ``(R, depth + 1)`` weight-gradient mean squares."""
    import torch

    from ..._sim import MLPStack, gaussian_inputs, mean_square, random_labels, second_moments

    widths = [run.width] * (run.depth + 1) + [run.outputs]
    gen = torch.Generator().manual_seed(run.seed)
    qs, grads = [], []
    for n in _chunks(run.replicas, chunk):
        net = MLPStack.init(widths, "tanh", run.sigma_w, run.sigma_b, n, generator=gen, device=device)
        x = gaussian_inputs(run.inputs, run.width, q=Q_IN, replicas=n, generator=gen, device=device)
        labels = random_labels(1, run.outputs, replicas=n, generator=gen, device=device)
        _, pre = net.forward(x)
        qs.append(second_moments(pre[:-1]).mean(dim=1).cpu())
        grads.append(mean_square(net.weight_gradients(x[:, :1], labels)).cpu())
        del net, pre
    return {"q": torch.cat(qs).numpy(), "grad": torch.cat(grads).numpy()}


def simulate_resnet(run: ResNetRun, *, chunk: int = 64, device: str = "cpu") -> dict:
    r"""``q`` ``(R, L + 1)``, ``grad_q`` ``(R, L + 1)`` (:math:`\hat{\tilde q}^0..\hat{\tilde q}^L`) and
    ``weight_grad`` ``(R, L + 2)``."""
    import torch

    from ..._sim import ResNetStack, gaussian_inputs, mean_square, random_labels, second_moments

    gen = torch.Generator().manual_seed(run.seed)
    out: dict[str, list] = {"q": [], "grad_q": [], "weight_grad": []}
    for n in _chunks(run.replicas, chunk):
        net = ResNetStack.init(
            run.width, run.width, run.depth, run.outputs, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, run.alpha, n,
            generator=gen, device=device,
        )  # fmt: skip
        x = gaussian_inputs(1, run.width, q=Q_IN, replicas=n, generator=gen, device=device)
        labels = random_labels(1, run.outputs, replicas=n, generator=gen, device=device)
        _, pre = net.forward(x)
        stream = pre[:-1]  # y^0 (projection) .. y^L; pre[-1] is the read-out
        branch_in = torch.stack([(net.act(y) ** 2).mean(dim=-1) for y in stream[:-1]], dim=-1)[:, 0]
        ms = mean_square(net.weight_gradients(x, labels))
        grad_q = torch.cat([ms[:, :1] / Q_IN, ms[:, 1 : run.depth + 1] / (run.alpha**2 * branch_in)], dim=1)
        out["q"].append(second_moments(stream)[:, 0].cpu())
        out["grad_q"].append(grad_q.cpu())
        out["weight_grad"].append(ms.cpu())
        del net, pre, stream
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Index of the first True along axis 1 of ``(R, K)``, ``-1`` where there is none."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), -1)


def simulate_overflow(run: OverflowRun, *, device: str = "cpu") -> dict:
    """float32 standard ResNets (on the CPU): where activations and their squares first overflow.

    A network of ``scan`` residual layers gives, per network, the first stream layer with
    a non-finite entry and the first whose float32 second moment ``mean(y * y)`` is
    infinite (a standard ResNet's first layers do not depend on its total depth).  A
    second set of networks of depth ``depth`` runs the forward and backward passes.
    """
    import torch

    from ..._sim import ResNetStack, gaussian_inputs, mean_square, random_labels

    n, r, f32 = run.width, run.replicas, torch.float32
    gen = torch.Generator().manual_seed(run.seed)

    def networks(depth: int):
        return ResNetStack.init(
            n, n, depth, run.outputs, "relu", RESNET_SIGMA_W, RESNET_SIGMA_B, 1.0, r, generator=gen, dtype=f32
        )

    def nonfinite(tensors) -> np.ndarray:
        """``(R, len(tensors))``: whether each network has a non-finite entry in each tensor."""
        return np.stack([(~torch.isfinite(t)).flatten(1).any(dim=1).numpy() for t in tensors], axis=1)

    _, pre = networks(run.scan).forward(gaussian_inputs(1, n, q=Q_IN, replicas=r, generator=gen, dtype=f32))
    stream = pre[:-1]
    first_entry = _first_true(nonfinite(stream))
    first_square = _first_true(nonfinite([(y * y).mean(dim=-1) for y in stream]))
    net = networks(run.depth)
    x = gaussian_inputs(1, n, q=Q_IN, replicas=r, generator=gen, dtype=f32)
    labels = random_labels(1, run.outputs, replicas=r, generator=gen)
    _, pre = net.forward(x)
    grads = net.weight_gradients(x, labels)
    return {
        "first_layer_entry": first_entry,
        "first_layer_square": first_square,
        "nonfinite_activation": nonfinite(pre).any(axis=1),
        "nonfinite_gradient": nonfinite(grads).any(axis=1),
        "largest_activation_entry": float(max(y.abs().max() for y in pre)),
        "largest_gradient_entry": float(max(g.abs().max() for g in grads)),
        "overflowing_gradient_mean_squares": float((~torch.isfinite(mean_square(grads))).double().mean()),
    }


def replicate_stats(values: np.ndarray, quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Replicate mean, standard error (:func:`paper_repro.verdicts.mean_se`) and quantile band over axis 0."""
    from ... import verdicts

    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(values, quantiles, axis=0)
    se = np.array([verdicts.mean_se(values[:, j])[1] for j in range(values.shape[1])])
    return {"mean": values.mean(axis=0), "se": se, "lo": lo, "hi": hi, "networks": values.shape[0]}


def agreement(st: dict, theory: np.ndarray) -> dict[str, float]:
    """Worst layer of ``|log(mean / theory)|`` and of ``|mean - theory| / SE`` (layers with SE > 0),
    and the fraction of layers where the theory lies inside the quantile band."""
    dev = np.abs(np.log(st["mean"] / theory))
    ok = st["se"] > 0
    z = np.abs(st["mean"][ok] - theory[ok]) / st["se"][ok]
    return {
        "max_abs_log": float(dev.max()),
        "worst_layer": int(np.argmax(dev)),
        "max_z": float(z.max()) if z.size else 0.0,
        "in_quantile_band": float(np.mean((st["lo"] <= theory) & (theory <= st["hi"]))),
    }
