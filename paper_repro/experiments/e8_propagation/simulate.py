r"""E8's simulations: one cached run per setting, measured by ``proofs_check``'s claims.

Each run is a small frozen configuration (cached by :mod:`paper_repro.cache`) whose
measurement is the claim's own ``measure_*`` function on :mod:`eoc.sim`:

* :class:`FFNNRun` -- per network, :math:`\hat q^l` of the hidden layers
  (:func:`proofs_check.claims.forward.measure_forward_profile`, averaged over input
  pairs) and the mean square of every weight gradient of the cross-entropy of one input
  with a random label (:func:`~proofs_check.claims.forward.measure_weight_gradients`);
* :class:`ResNetRun` -- one-layer-branch ReLU ResNets: the stream variances
  :math:`\hat q^0..\hat q^L` and stream gradient variances
  :math:`\hat{\tilde q}^0..\hat{\tilde q}^L` back-propagated from a fixed random output
  gradient (:func:`proofs_check.claims.resnet.measure_resnet_profile`);
* :class:`OverflowRun` -- float32 standard ResNets: the first stream layer where some
  network's second moment, and where some entry, is non-finite
  (:func:`~proofs_check.claims.resnet.measure_float32_overflow`).

The results are plain lists (JSON) for the run cache.
"""

from __future__ import annotations

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

#: The ResNet setting of docs/theory.md §6 (the ReLU EOC), that of proofs_check's ResNet claims.
RESNET_SIGMA_W = float(np.sqrt(2.0))
RESNET_SIGMA_B = 0.0
#: |x|^2 / d of every input.
Q_IN = 1.0


@dataclass(frozen=True, kw_only=True)
class FFNNRun:
    """R tanh FFNNs ``width x (depth + 1) - outputs`` at one sigma_w; ``pairs`` input pairs for q^l."""

    width: int
    depth: int
    outputs: int
    pairs: int
    sigma_w: float
    sigma_b: float
    replicas: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class ResNetRun:
    """R ReLU ResNets of width ``width`` with ``depth`` residual branches scaled by ``alpha``."""

    width: int
    depth: int
    alpha: float
    replicas: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class OverflowRun:
    """R float32 standard ResNets of width ``width`` and ``depth`` residual branches."""

    width: int
    depth: int
    replicas: int
    seed: int


def simulate_ffnn(run: FFNNRun, *, device: str = "cpu") -> dict:
    """``q`` ``(R, depth)`` of the hidden layers and ``grad`` ``(R, depth + 1)`` weight-gradient mean squares."""
    from proofs_check.claims.forward import measure_forward_profile, measure_weight_gradients

    common = {"act": "tanh", "sigma_w": run.sigma_w, "sigma_b": run.sigma_b, "replicas": run.replicas, "device": device}
    q, _ = measure_forward_profile(width=run.width, depth=run.depth, pairs=run.pairs, q_in=Q_IN, seed=run.seed, **common)
    widths = [run.width] * (run.depth + 1) + [run.outputs]
    grad = measure_weight_gradients(widths=widths, seed=run.seed + 1, **common)
    return {"q": q, "grad": grad}


def simulate_resnet(run: ResNetRun, *, device: str = "cpu") -> dict:
    """``q`` and ``grad_q``, ``(R, depth + 1)`` each: the stream's variances and gradient variances."""
    from proofs_check.claims.resnet import measure_resnet_profile

    q, g = measure_resnet_profile(depth=run.depth, alpha=run.alpha, width=run.width, replicas=run.replicas,
                                  sigma_w=RESNET_SIGMA_W, seed=run.seed, device=device)  # fmt: skip
    return {"q": q, "grad_q": g}


def simulate_overflow(run: OverflowRun, *, device: str = "cpu") -> dict:
    """The first stream layers where a float32 second moment (``square``) and an entry (``entry``) overflow."""
    from proofs_check.claims.resnet import measure_float32_overflow

    return measure_float32_overflow(width=run.width, depth=run.depth, replicas=run.replicas, seed=run.seed, device=device)


def replicate_stats(values: np.ndarray, quantiles: tuple[float, float]) -> dict[str, np.ndarray]:
    """Replicate mean, standard error (:func:`paper_repro.verdicts.mean_se`) and quantile band over axis 0."""
    from ... import verdicts

    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(values, quantiles, axis=0)
    se = np.array([verdicts.mean_se(values[:, j])[1] for j in range(values.shape[1])])
    return {"mean": values.mean(axis=0), "se": se, "lo": lo, "hi": hi, "networks": values.shape[0]}


def agreement(st: dict, theory: np.ndarray, layers) -> dict[str, float]:
    """Worst layer (a number of ``layers``) of ``|log(mean / theory)|``, the largest ``|mean - theory| / SE``
    (layers with SE > 0), and the fraction of layers where the theory lies inside the quantile band."""
    dev = np.abs(np.log(st["mean"] / theory))
    ok = st["se"] > 0
    z = np.abs(st["mean"][ok] - theory[ok]) / st["se"][ok]
    return {
        "max_abs_log": float(dev.max()),
        "worst_layer": int(np.asarray(layers)[np.argmax(dev)]),
        "max_z": float(z.max()) if z.size else 0.0,
        "in_quantile_band": float(np.mean((st["lo"] <= theory) & (theory <= st["hi"]))),
    }
