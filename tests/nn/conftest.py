"""Tests of :mod:`eoc.nn`; skipped as a whole when PyTorch is not installed.

Every model here is tiny and every random draw is seeded, so the directory runs in
seconds on one CPU thread.
"""

import importlib.util

if importlib.util.find_spec("torch") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    import torch

    torch.set_num_threads(1)
