"""Tests of :mod:`eoc.sim`; skipped as a whole when PyTorch is not installed.

Every stack here is tiny and seeded, and runs in float64 on one CPU thread.
"""

import importlib.util

if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    import torch

    torch.set_num_threads(1)
