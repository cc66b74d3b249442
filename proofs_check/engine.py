"""Deprecated: the simulator moved to :mod:`eoc.sim`; import from there.

This module only re-exports :mod:`eoc.sim` for the callers that have not switched yet
(``paper_repro`` E2 and E8, ``bench``) and will be removed once they have.
"""

from eoc.sim import (  # noqa: F401
    MLPStack,
    ResNetStack,
    Scores,
    device_generator,
    gaussian_pair_inputs,
    mean_square,
    pair_correlations,
    resolve_device,
    second_moments,
    streamed_forward_stats,
)

__all__ = [
    "MLPStack",
    "ResNetStack",
    "Scores",
    "device_generator",
    "gaussian_pair_inputs",
    "mean_square",
    "pair_correlations",
    "resolve_device",
    "second_moments",
    "streamed_forward_stats",
]
