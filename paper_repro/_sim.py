"""The simulator paper_repro measures with (E2, E8): :mod:`eoc.sim`, the project's one
batched simulator.

Transitional: until ``eoc.sim`` is on the branch, the same names come from
``proofs_check.engine`` (where the simulator lived), with the inputs drawn exactly as
``eoc.sim.inputs`` draws them (same signature).  Delete the fallback once ``eoc.sim``
has landed.
"""

from __future__ import annotations

import math

import torch

try:  # pragma: no cover - depends on which branch is checked out
    from eoc.sim import MLPStack, ResNetStack, gaussian_inputs, mean_square, random_labels, second_moments
except ImportError:  # pragma: no cover
    from proofs_check.engine import MLPStack, ResNetStack, mean_square, second_moments

    def gaussian_inputs(n, dim, *, q=1.0, replicas=None, generator, dtype=torch.float64, device="cpu"):
        """``eoc.sim.inputs.gaussian_inputs``: Gaussian inputs rescaled to |x|^2/d = q, shape (n, dim) or (R, n, dim)."""
        shape = (n, dim) if replicas is None else (replicas, n, dim)
        x = torch.randn(shape, generator=generator, dtype=dtype)
        return (x / x.norm(dim=-1, keepdim=True) * math.sqrt(q * dim)).to(device)

    def random_labels(n, classes, *, replicas=None, generator, device="cpu"):
        """``eoc.sim.inputs.random_labels``: uniform labels, shape (n,) or (R, n)."""
        shape = (n,) if replicas is None else (replicas, n)
        return torch.randint(0, classes, shape, generator=generator).to(device)


__all__ = ["MLPStack", "ResNetStack", "gaussian_inputs", "random_labels", "mean_square", "second_moments"]
