"""One vocabulary for the names the toolkit shows: phases, pruning methods, ResNet kinds.

Every package uses the *ids* below in code, data and file names (``"edge_of_chaos"``,
never ``"EOC"``), and the display names and colours only where a person reads them
(tables, figure legends).  Colours are hex strings, so this module needs no plotting
library (and, like :mod:`eoc`, no torch).

* phases: the ids are :data:`eoc.PHASES` (``eoc._phase`` is their source);
* pruning methods: :data:`PRUNING_METHODS` are the methods of :func:`eoc.nn.prune_at_init`
  (a test checks that ``eoc.nn.METHODS`` is this tuple); ``"sbp_sr"`` is a display
  entry only: SNIP (SBP) applied to a Stable ResNet (Hayou et al. 2021, docs/theory.md §6);
* BatchNorm modes while a batch is scored: :data:`BN_MODES`, the ``bn_mode`` values of
  :func:`eoc.nn.prune_at_init` (a test checks that ``eoc.nn.BN_MODES`` is this tuple;
  docs/theory.md §4.1);
* ResNet kinds: ``"standard"`` (branch scale 1) and ``"stable"`` (:math:`1/\\sqrt L`).
"""

from __future__ import annotations

from ._phase import PHASES

__all__ = [
    "PHASES",
    "PHASE_LABELS",
    "PHASE_COLORS",
    "PRUNING_METHODS",
    "METHOD_LABELS",
    "METHOD_COLORS",
    "BN_MODES",
    "DEFAULT_BN_MODE",
    "RESNET_KINDS",
    "RESNET_LABELS",
    "RESNET_COLORS",
    "phase_label",
    "method_label",
]

#: Display name of each phase id (tables, legends).
PHASE_LABELS = {"ordered": "ordered", "edge_of_chaos": "EOC", "chaotic": "chaotic"}
#: One colour per phase, used by every figure.
PHASE_COLORS = {"ordered": "#1f77b4", "edge_of_chaos": "#2ca02c", "chaotic": "#d62728"}

#: The pruning methods of :mod:`eoc.nn`, in the order they are listed everywhere.
PRUNING_METHODS = ("random", "magnitude", "snip", "grasp", "synflow")
#: Display name of every method (``sbp_sr``: SNIP on the Stable ResNet).
METHOD_LABELS = {
    "random": "Random",
    "magnitude": "Magnitude",
    "snip": "SNIP",
    "grasp": "GraSP",
    "synflow": "SynFlow",
    "sbp_sr": "SBP-SR",
}
#: One colour per method, used by every figure.
METHOD_COLORS = {
    "random": "#7f7f7f",
    "magnitude": "#8c564b",
    "snip": "#1f77b4",
    "grasp": "#9467bd",
    "synflow": "#ff7f0e",
    "sbp_sr": "#2ca02c",
}

#: BatchNorm (and Dropout) modes while SNIP/GraSP score a batch: running statistics, batch
#: statistics, or the model's own mode (the default of :mod:`eoc.nn` is "eval").
BN_MODES = ("eval", "train", "model")
#: The BatchNorm mode SNIP/GraSP score in by default (Lee et al.'s SNIP code, Tanaka et al.'s benchmark).
DEFAULT_BN_MODE = "eval"

#: Residual branch scalings: 1 (standard) and 1/sqrt(L) (Stable ResNet).
RESNET_KINDS = ("standard", "stable")
RESNET_LABELS = {"standard": "standard ResNet", "stable": "Stable ResNet"}
RESNET_COLORS = {"standard": "#d62728", "stable": "#2ca02c"}


def _label(table: dict, kind: str, key: str) -> str:
    try:
        return table[key]
    except (KeyError, TypeError):
        raise ValueError(f"unknown {kind} {key!r}; known: {', '.join(table)}") from None


def phase_label(phase: str) -> str:
    """Display name of a phase id (``"edge_of_chaos"`` -> ``"EOC"``); ValueError for other ids."""
    return _label(PHASE_LABELS, "phase", phase)


def method_label(method: str) -> str:
    """Display name of a pruning method id (``"snip"`` -> ``"SNIP"``); ValueError for other ids."""
    return _label(METHOD_LABELS, "method", method)
