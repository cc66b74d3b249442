"""Settings shared by several claims (and by the paper_repro experiments that test them)."""

from __future__ import annotations

import torch

import eoc

__all__ = ["SIGMA_B", "PHASE_FACTORS", "tanh_phase_sigma_w", "generator"]

#: sigma_b of the tanh settings (the value of the paper's tanh experiments).
SIGMA_B = 0.2
#: sigma_w of each phase as a multiple of the edge-of-chaos value at SIGMA_B.
PHASE_FACTORS = {"ordered": 0.8, "edge_of_chaos": 1.0, "chaotic": 1.5}


def tanh_phase_sigma_w(sigma_b: float = SIGMA_B, factors: dict | None = None) -> dict[str, float]:
    """``{phase id: sigma_w}`` for tanh: the edge-of-chaos sigma_w at ``sigma_b`` times each factor."""
    w = float(eoc.edge_of_chaos("tanh", sigma_b))
    return {phase: f * w for phase, f in (factors or PHASE_FACTORS).items()}


def generator(seed: int) -> torch.Generator:
    """The CPU generator every measurement starts from (reproducible on any device)."""
    return torch.Generator().manual_seed(int(seed))
