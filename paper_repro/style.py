"""The shared plotting style: non-interactive Agg backend, one rc dict, the colours and labels
of phases and pruning methods, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "RC", "PHASE_COLORS", "METHOD_LABELS", "METHOD_COLORS", "new_figure", "save_figure"]

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
}
#: Phase and method colours and display names: the one vocabulary (eoc._vocab).
from eoc._vocab import METHOD_COLORS, METHOD_LABELS, PHASE_COLORS  # noqa: E402


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 3.4, height: float = 2.8, **kw):
    """A figure with ``nrows x ncols`` axes of the given size (inches) under the shared style."""
    with plt.rc_context(RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)
    return fig, axes


def save_figure(fig, path_stem: Path) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf``; close it; return the paths."""
    path_stem = Path(path_stem)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with plt.rc_context(RC):
        for ext in ("png", "pdf"):
            p = path_stem.with_suffix(f".{ext}")
            tmp = p.with_name(f".{p.name}.tmp.{ext}")
            fig.savefig(tmp, format=ext)
            tmp.replace(p)
            out.append(p)
    plt.close(fig)
    return out
