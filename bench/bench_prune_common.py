"""Shared plumbing of the ``bench_prune*`` scripts (not a benchmark): machine record and report output."""

from __future__ import annotations

import argparse
import json
import os
import platform
from typing import Callable

import torch


def machine() -> dict:
    """Where a number was measured: platform, processor, cores, load, torch and its threads."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def finish(ns: argparse.Namespace, report: dict, table: Callable[[dict], str]) -> dict:
    """Print the table of ``report`` and write it as JSON to ``ns.out``."""
    report["machine"] = machine()
    print(table(report))
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(report, indent=2))
    return report
