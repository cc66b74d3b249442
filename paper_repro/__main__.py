"""Command line of paper_repro: list, run and index the paper's experiments.

::

    python -m paper_repro list
    python -m paper_repro run E9 E2 --profile quick
    python -m paper_repro run all --profile full --device cuda --data-dir ~/data
    python -m paper_repro report
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, raw = item.split("=", 1)
        import ast

        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m paper_repro",
        description=(
            "Rebuild the figures and tables of 'Robust Pruning at Initialization' (Hayou et al., ICLR 2021). "
            "Each experiment has a quick profile (CPU, embedded data, minutes) and a full profile "
            "(GPU, paper scale). Outputs go to figures/<ID>/ with an index in figures/README.md."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the experiments with their titles and profiles")
    run = sub.add_parser("run", help="run experiments (ids, or 'all')")
    run.add_argument("ids", nargs="+", metavar="ID", help="experiment ids (E1..E9) or 'all'")
    run.add_argument("--profile", choices=["quick", "full"], default="quick", help="default quick")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="default cpu")
    run.add_argument("--data-dir", type=Path, default=None, help="folder with MNIST/CIFAR/Tiny ImageNet (full profile)")
    run.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the profile's)")
    run.add_argument("--jobs", type=int, default=1, help="parallel training processes (default 1)")
    run.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch intra-op threads while an experiment runs (default: 1 on cpu, where the small quick-profile "
        "networks run fastest on one thread and extra threads only compete for the cores; torch's setting on cuda)",
    )  # fmt: skip
    run.add_argument("--figures-dir", type=Path, default=None, help="output root (default <checkout>/figures)")
    run.add_argument("--cache-dir", type=Path, default=None, help="run cache (default <checkout>/.cache/paper_repro)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--set", action="append", default=[], metavar="[ID.]KEY=VALUE",
        help="override a profile setting, for every experiment run or (ID.KEY) for one",
    )
    rep = sub.add_parser("report", help="rebuild figures/README.md from the outputs on disk (no computation)")
    rep.add_argument("--figures-dir", type=Path, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    from . import paths
    from .registry import list_experiments
    from .report import build_index
    from .runner import run_many

    try:
        if ns.command == "list":
            for exp in list_experiments():
                torch_note = " [torch]" if exp.needs_torch else ""
                print(f"{exp.id:4s} {exp.title}{torch_note}\n     profiles: {', '.join(exp.profiles)}\n     claim: {exp.claim}")
            return 0
        if ns.command == "report":
            path = build_index(ns.figures_dir or paths.figures_dir())
            print(path)
            return 0
        run_many(
            ns.ids,
            ns.profile,
            device=ns.device,
            data_dir=ns.data_dir,
            seeds=ns.seeds,
            jobs=ns.jobs,
            threads=ns.threads,
            figures_root=ns.figures_dir,
            cache_dir=ns.cache_dir,
            progress=not ns.no_progress,
            overrides=_parse_set(ns.set),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
