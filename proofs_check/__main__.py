"""Command line: run the claims, print a verdict table, write report.json and report.md.

::

    python -m proofs_check --out proofs_report                 # every claim, quick profile, CPU
    python -m proofs_check --claims forward-maps gradient-maps --profile tiny --out /tmp/r
    python -m proofs_check --profile full --device cuda --out report_full
    python -m proofs_check --list
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .engine import resolve_device
from .registry import PROFILES, get_claim, list_claims, run_claim
from .report import format_table, write_reports


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m proofs_check",
        description=(
            "Confront each theoretical claim of the edge-of-chaos theory of pruning at initialization with "
            "Monte-Carlo simulation of finite random networks. Each claim compares predictions (from eoc) with "
            "measurements over R independent networks, with tolerances from the replicates' standard errors, and "
            "gets a verdict PASS, FAIL or INCONCLUSIVE. Exit status 1 if any claim FAILs."
        ),
    )
    p.add_argument("--claims", nargs="+", metavar="ID", help="claim ids (default: all; see --list)")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="sizes: tiny (tests), quick (CPU, < 10 min), full (GPU)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available, else cpu")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--float32", action="store_true", help="simulate in float32 (default float64)")
    p.add_argument("--out", type=Path, help="folder for report.json and report.md")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        if ns.list:
            for c in list_claims():
                print(f"{c.id:32s} {c.title}")
            return 0
        if ns.out is None:
            raise ValueError("--out DIR is required (where report.json and report.md go)")
        claims = [get_claim(i) for i in ns.claims] if ns.claims else list_claims()
        device = resolve_device(ns.device)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dtype = torch.float32 if ns.float32 else torch.float64
    results = []
    bar = tqdm(claims, desc="claims", unit="claim", disable=ns.no_progress, file=sys.stderr)
    for c in bar:
        bar.set_postfix_str(c.id)
        results.append(run_claim(c, ns.profile, device=device, seed=ns.seed, dtype=dtype))
        bar.write(f"{c.id}: {results[-1].verdict} ({results[-1].seconds:.1f} s)", file=sys.stderr)
    print(format_table(results))
    json_path, md_path = write_reports(results, ns.out, profile=ns.profile, device=str(device), seed=ns.seed)
    print(f"\nreport: {json_path} and {md_path}")
    return 1 if any(r.verdict == "FAIL" for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
