"""The shared plotting style, and the vocabulary of phases, methods and ResNet kinds.

The style (one rc dict, Agg backend) is applied once, by the runner, around every
experiment (:func:`applied`), so every figure and every title of every experiment has
the same sizes.  Display names and colours come from :mod:`eoc._vocab`, the project's
one vocabulary, re-exported here for the figures.
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
    "RESNET_LABELS",
    "RESNET_COLORS",
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
#: Phase, method and ResNet-kind display names and colours: the one vocabulary (eoc._vocab).
from eoc._vocab import (  # noqa: E402
    METHOD_COLORS,
    METHOD_LABELS,
    PHASE_COLORS,
    PHASE_LABELS,
    RESNET_COLORS,
    RESNET_LABELS,
)


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
