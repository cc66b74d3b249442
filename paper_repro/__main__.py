"""Command line of paper_repro: list, show, run and index the paper's experiments.

::

    python -m paper_repro list
    python -m paper_repro show E3
    python -m paper_repro run E9 E2 --profile quick
    python -m paper_repro run all --profile full --device cuda --data-dir ~/data --jobs 4
    python -m paper_repro run E3 --set epochs=2 --set E3.depths='(5, 10)'
    python -m paper_repro report

``list`` and ``--help`` read the static table only (:mod:`paper_repro.catalog`): they
work without torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from eoc._cli import CLIError, add_version, run

from . import catalog

_PROFILE_HELP = "quick: CPU, embedded data, minutes; full: GPU, paper scale (default quick)"


def _parse_set(items: list[str]) -> dict:
    from .config import parse_value

    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--set expects [ID.]KEY=VALUE, got --set {item!r}")
        out[key.strip()] = parse_value(raw)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m paper_repro",
        description=(
            f"Rebuild the figures and tables of {catalog.PAPER}. Each experiment has a quick profile (CPU, "
            "embedded data, minutes) and a full profile (GPU, paper scale). Outputs go to figures/<ID>/ "
            "(figures, tables, numbers.json, summary.md with the verdict) with an index in figures/README.md. "
            "Experiments: " + "; ".join(f"{e.id} {e.title}" for e in catalog.EXPERIMENTS) + "."
        ),
    )
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="the experiments: title, the part of the paper each rebuilds, claim, data")
    show = sub.add_parser("show", help="an experiment's full configuration and the keys --set accepts")
    show.add_argument("id", metavar="ID", help="experiment id (E1..E9)")
    show.add_argument("--profile", choices=["quick", "full"], default="quick", help=_PROFILE_HELP)
    r = sub.add_parser("run", help="run experiments (ids, or 'all')")
    r.add_argument("ids", nargs="+", metavar="ID", help="experiment ids (E1..E9) or 'all'")
    r.add_argument("--profile", choices=["quick", "full"], default="quick", help=_PROFILE_HELP)
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="default cpu")
    r.add_argument("--data-dir", type=Path, default=None, help="folder with MNIST/CIFAR/Tiny ImageNet (full profile)")
    r.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 (default: each profile's)")
    r.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel run processes per sweep (default 1)")
    r.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch intra-op threads while an experiment runs (default: 1 on cpu, torch's setting on cuda)",
    )  # fmt: skip
    r.add_argument("--figures-dir", type=Path, default=None, help="output root (default <checkout>/figures)")
    r.add_argument("--cache-dir", type=Path, default=None, help="run cache (default <checkout>/.cache/paper_repro)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument(
        "--set", action="append", default=[], metavar="[ID.]KEY=VALUE",
        help="override a setting (see 'show ID'): KEY for every selected experiment that has it, ID.KEY for one",
    )  # fmt: skip
    rep = sub.add_parser("report", help="re-render every summary.md from numbers.json and rebuild figures/README.md")
    rep.add_argument("--figures-dir", type=Path, default=None, help="output root (default <checkout>/figures)")
    return parser


def _list() -> None:
    for e in catalog.EXPERIMENTS:
        torch_note = " [needs torch]" if e.needs_torch else ""
        print(f"{e.id}  {e.title}{torch_note}")
        print(f"    rebuilds: {e.paper}")
        print(f"    claim:    {e.claim}")
        print(f"    data:     {e.data}; profiles: quick, full")


def _main(argv: Sequence[str] | None) -> int:
    ns = build_parser().parse_args(argv)
    if ns.command == "list":
        _list()
        return 0
    from . import paths

    if ns.command == "show":
        from .config import describe
        from .registry import get_experiment

        exp = get_experiment(ns.id)
        print(f"{exp.id} ({ns.profile} profile): {exp.title}")
        print(describe(exp.profiles[ns.profile]))
        return 0
    if ns.command == "report":
        from .report import build_index, rerender_summaries

        root = ns.figures_dir or paths.figures_dir()
        for path in rerender_summaries(root):
            print(path)
        print(build_index(root))
        return 0
    from .runner import run_many

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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the command's exit status (one-line errors, quiet on a closed pipe)."""
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
