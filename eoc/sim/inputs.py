r"""Synthetic inputs of the simulations: Gaussian inputs on a sphere, input pairs with an
exact correlation, random labels.  The one place they are drawn.

Inputs are drawn on the CPU from a CPU :class:`torch.Generator` and then moved to
``device``, so a seed gives the same inputs on every device.  Each input is rescaled
to :math:`|x|^2/d = q` exactly: the mean-field first layer then has
:math:`q^1 = \sigma_b^2 + \sigma_w^2 q` with no sampling error from the inputs
(docs/theory.md §2).
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = ["gaussian_inputs", "gaussian_pair_inputs", "random_labels"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def _positive_float(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {name}={value!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a positive number, got {name}={value!r}")
    return v


def _shape(n: int, dim: int, replicas: int | None) -> tuple[int, ...]:
    n, dim = _positive_int(n, "n"), _positive_int(dim, "dim")
    return (n, dim) if replicas is None else (_positive_int(replicas, "replicas"), n, dim)


def gaussian_inputs(
    n: int,
    dim: int,
    *,
    q: float = 1.0,
    replicas: int | None = None,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device="cpu",
) -> torch.Tensor:
    r"""``n`` isotropic Gaussian inputs of dimension ``dim``, each rescaled to :math:`|x|^2/d = q`.

    Parameters
    ----------
    n, dim : int
    q : float
        :math:`|x|^2/d` of every input.
    replicas : int, optional
        If given, one independent set per network: shape ``(replicas, n, dim)``;
        otherwise ``(n, dim)``, shared by the networks of a stack.
    generator : torch.Generator
        A CPU generator (the draws do not depend on ``device``).
    """
    shape = _shape(n, dim, replicas)
    scale = math.sqrt(_positive_float(q, "q") * shape[-1])
    x = torch.randn(shape, generator=generator, dtype=dtype)
    return (x / x.norm(dim=-1, keepdim=True) * scale).to(device)


def gaussian_pair_inputs(
    n_pairs: int,
    dim: int,
    c0: float,
    *,
    q: float = 1.0,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
    device="cpu",
) -> torch.Tensor:
    r"""``2 n_pairs`` inputs in pairs with :math:`|x|^2/d = q` and correlation exactly ``c0``.

    Rows ``2k`` and ``2k+1`` form a pair.  Built by Gram-Schmidt on two Gaussian
    vectors per pair, so the norms and the correlation are exact, not sampled.
    """
    n_pairs, dim = _positive_int(n_pairs, "n_pairs"), _positive_int(dim, "dim")
    if dim < 2:
        raise ValueError(f"dim must be >= 2 for a pair of distinct directions, got dim={dim!r}")
    c0 = float(c0)
    if not -1.0 <= c0 <= 1.0:
        raise ValueError(f"c0 must lie in [-1, 1], got c0={c0!r}")
    g = torch.randn(n_pairs, 2, dim, generator=generator, dtype=dtype)
    u = g[:, 0] / g[:, 0].norm(dim=1, keepdim=True)
    v = g[:, 1] - (g[:, 1] * u).sum(1, keepdim=True) * u
    v = v / v.norm(dim=1, keepdim=True)
    scale = math.sqrt(_positive_float(q, "q") * dim)
    x1 = scale * u
    x2 = scale * (c0 * u + math.sqrt(max(1.0 - c0 * c0, 0.0)) * v)
    return torch.stack([x1, x2], dim=1).reshape(2 * n_pairs, dim).to(device)


def random_labels(
    n: int, classes: int, *, replicas: int | None = None, generator: torch.Generator, device="cpu"
) -> torch.Tensor:
    """Uniform random class labels in ``[0, classes)``: shape ``(n,)``, or ``(replicas, n)``."""
    n, classes = _positive_int(n, "n"), _positive_int(classes, "classes")
    shape = (n,) if replicas is None else (_positive_int(replicas, "replicas"), n)
    return torch.randint(0, classes, shape, generator=generator).to(device)
