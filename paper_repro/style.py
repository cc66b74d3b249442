"""The shared plotting style and the vocabulary of phases, methods and ResNet variants.

The style (one rc dict, Agg backend) is applied once, by the runner, around every
experiment (:func:`applied`), so every figure and every title of every experiment has
the same sizes.  Display names and colours of phases and pruning methods are defined
here, once, and used by every figure (``eoc._vocab`` will hold them once it exists;
this module will then re-export it).
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

__all__ = [
    "plt",
    "RC",
    "PHASE_LABELS",
    "PHASE_COLORS",
    "METHOD_LABELS",
    "METHOD_COLORS",
    "VARIANT_LABELS",
    "VARIANT_COLORS",
    "applied",
    "new_figure",
    "save_figure",
]

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}
#: Display name of every phase (ids of :data:`eoc.PHASES`), the one spelling of every figure.
PHASE_LABELS = {"ordered": "ordered", "edge_of_chaos": "EOC", "chaotic": "chaotic"}
#: One colour per phase.
PHASE_COLORS = {"ordered": "#1f77b4", "edge_of_chaos": "#2ca02c", "chaotic": "#d62728"}
#: Display name of every pruning method (``sbp_sr``: SNIP on the Stable ResNet).
METHOD_LABELS = {
    "random": "Random",
    "magnitude": "Magnitude",
    "snip": "SNIP",
    "grasp": "GraSP",
    "synflow": "SynFlow",
    "sbp_sr": "SBP-SR",
}
#: One colour per pruning method.
METHOD_COLORS = {
    "random": "#7f7f7f",
    "magnitude": "#8c564b",
    "snip": "#1f77b4",
    "grasp": "#9467bd",
    "synflow": "#ff7f0e",
    "sbp_sr": "#2ca02c",
}
#: The two ResNet variants (branch scale 1 and 1/sqrt(L)).
VARIANT_LABELS = {"standard": "standard ResNet", "stable": "Stable ResNet"}
VARIANT_COLORS = {"standard": "#d62728", "stable": "#2ca02c"}


@contextmanager
def applied() -> Iterator[None]:
    """The shared style for the figures made in the block (the runner wraps every experiment in it)."""
    with plt.rc_context(RC):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8, **kw):
    """A figure with ``nrows x ncols`` axes of the given size (inches); ``axes`` is always 2-D."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)
    return fig, axes


def save_figure(fig, path_stem: Path) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` (each atomically); close it; return the paths."""
    from .io import atomic_write_bytes

    out = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext)
        out.append(atomic_write_bytes(Path(path_stem).with_suffix(f".{ext}"), buf.getvalue()))
    plt.close(fig)
    return out
