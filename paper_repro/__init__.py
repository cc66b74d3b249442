"""paper_repro: one module per figure/table of 'Robust Pruning at Initialization'.

Each experiment (E1-E9 of THEORY.md section 7) has a quick profile (CPU, embedded
data, minutes) and a full profile (GPU, paper scale) and writes under
``figures/<ID>/``.  Run ``python -m paper_repro --help``.
"""

from .registry import Context, Experiment, get_experiment, list_experiments
from .runner import run_experiment, run_many

__all__ = ["Context", "Experiment", "list_experiments", "get_experiment", "run_experiment", "run_many"]
