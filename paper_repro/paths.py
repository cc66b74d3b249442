"""Every path paper_repro reads or writes, in one place.

Outputs go under the project checkout (``<root>/figures`` and ``<root>/.cache``),
never relative to the working directory.  Override with the environment variables
``PAPER_REPRO_FIGURES`` and ``PAPER_REPRO_CACHE``, or the CLI's ``--figures-dir`` and
``--cache-dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["project_root", "figures_dir", "cache_dir", "experiment_dir"]


def project_root() -> Path:
    """The checkout holding this package (the folder with ``pyproject.toml``)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    raise RuntimeError(
        "paper_repro is not running from a project checkout; set PAPER_REPRO_FIGURES and "
        "PAPER_REPRO_CACHE (or pass --figures-dir/--cache-dir) to say where outputs go"
    )


def figures_dir() -> Path:
    """Root of the figure tree (``figures/``)."""
    env = os.environ.get("PAPER_REPRO_FIGURES")
    return Path(env).resolve() if env else project_root() / "figures"


def cache_dir() -> Path:
    """Root of the run cache (finished training runs, by configuration hash)."""
    env = os.environ.get("PAPER_REPRO_CACHE")
    return Path(env).resolve() if env else project_root() / ".cache" / "paper_repro"


def experiment_dir(exp_id: str, root: Path | None = None) -> Path:
    """``figures/<ID>/``, created if needed."""
    out = (root or figures_dir()) / exp_id
    out.mkdir(parents=True, exist_ok=True)
    return out
