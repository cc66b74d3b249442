"""paper_repro: one module per figure/table of 'Robust Pruning at Initialization'.

Each experiment (E1-E9, ``docs/theory.md`` §7; the static table is
:mod:`paper_repro.catalog`) has a quick profile (CPU, embedded data, minutes) and a full
profile (GPU, paper scale) and writes under ``figures/<ID>/``: figures, tables,
``numbers.json`` and the ``summary.md`` rendered from it.  Run
``python -m paper_repro --help``.
"""

from .catalog import EXPERIMENTS
from .registry import Context, Experiment, get_experiment, list_experiments
from .runner import run_experiment, run_many

__all__ = ["EXPERIMENTS", "Context", "Experiment", "list_experiments", "get_experiment", "run_experiment", "run_many"]
