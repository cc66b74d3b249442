"""Command line of paper_repro: list, show, run and index the paper's experiments.

::

    python -m paper_repro list
    python -m paper_repro show E3
    python -m paper_repro run E9 E2 --profile quick
    python -m paper_repro run all --profile full --device cuda --data-dir ~/data --jobs 4
    python -m paper_repro run E3 --set epochs=2 --set E3.depths='(5, 10)'
    python -m paper_repro plan E5 E6 --profile full --device cuda
    python -m paper_repro run E6 --profile full --device cuda --executor ray --ray-address auto \
        --data-dir /shared/data --cache-dir /shared/cache
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
            "Experiments: " + "; ".join(f"{e.id} {e.title}" for e in catalog.EXPERIMENTS) + ". "
            "Paper scale (plan, Ray cluster, SLURM, resume, data layout): docs/paper_scale.md."
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
    _common(r)
    r.add_argument("--data-dir", type=Path, default=None, help="folder with MNIST/CIFAR/Tiny ImageNet (full profile)")
    r.add_argument("--jobs", type=int, default=1, metavar="N", help="parallel run processes per sweep (default 1; --executor local)")
    r.add_argument("--figures-dir", type=Path, default=None, help="output root (default <checkout>/figures)")
    r.add_argument("--cache-dir", type=Path, default=None, help="run cache (default <checkout>/.cache/paper_repro)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="where the runs execute: local (this process, or --jobs workers; default) or ray (every run a Ray task "
        "on a cluster, results into --cache-dir, which every node must see; needs pip install 'eoc-pruning[distributed]')",
    )  # fmt: skip
    r.add_argument(
        "--ray-address", default=None, metavar="ADDR",
        help="with --executor ray: the cluster to join ('auto', or HEAD:PORT); default: start Ray on this machine",
    )  # fmt: skip
    r.add_argument(
        "--ray-gpus-per-run", type=float, default=1.0, metavar="G",
        help="with --executor ray --device cuda: GPUs each run reserves (default 1; 0.5 packs two runs per GPU)",
    )  # fmt: skip
    r.add_argument(
        "--loader-workers", type=int, default=0, metavar="N",
        help="data-loading processes per training run (default 0: the dataset is kept on the device and batches are "
        "cut there; N >= 1: a DataLoader with N workers and pinned memory, for data that do not fit; same batches)",
    )  # fmt: skip
    pl = sub.add_parser(
        "plan", help="the cost of experiments before launching them: runs, epochs, measured seconds per step, device-hours"
    )
    pl.add_argument("ids", nargs="+", metavar="ID", help="experiment ids (E1..E9) or 'all'")
    _common(pl)
    pl.add_argument("--probe-steps", type=int, default=3, metavar="N", help="timed training steps per model (default 3)")
    pl.add_argument("--probe-warmup", type=int, default=1, metavar="N", help="untimed steps before them (default 1)")
    pl.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the plan as JSON")
    rep = sub.add_parser("report", help="re-render every summary.md from numbers.json and rebuild figures/README.md")
    rep.add_argument("--figures-dir", type=Path, default=None, help="output root (default <checkout>/figures)")
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``plan`` share (a plan is for the runs the same options would launch)."""
    p.add_argument("--profile", choices=["quick", "full"], default="quick", help=_PROFILE_HELP)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="default cpu")
    p.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds 0..N-1 (default: each profile's)")
    p.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="torch intra-op threads while an experiment runs (default: 1 on cpu, torch's setting on cuda; "
        "1 per run with --executor ray)",
    )  # fmt: skip
    p.add_argument(
        "--set", action="append", default=[], metavar="[ID.]KEY=VALUE",
        help="override a setting (see 'show ID'): KEY for every selected experiment that has it, ID.KEY for one",
    )  # fmt: skip


def _plan(ns: argparse.Namespace) -> None:
    from .cost import cost_plan
    from .io import write_json

    if ns.json is not None and (ns.json.is_dir() or not ns.json.expanduser().parent.is_dir()):
        raise CLIError(f"--json {ns.json}: not a file in an existing folder")
    cp = cost_plan(
        ns.ids, ns.profile, device=ns.device, overrides=_parse_set(ns.set), seeds=ns.seeds, threads=ns.threads,
        steps=ns.probe_steps, warmup=ns.probe_warmup,
    )  # fmt: skip
    print(cp.format())
    if ns.json is not None:
        write_json(ns.json.expanduser(), cp.as_dict())
        print(f"\nplan: {ns.json}")


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
    if ns.command == "plan":
        _plan(ns)
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
        executor=ns.executor,
        ray_address=ns.ray_address,
        gpus_per_run=ns.ray_gpus_per_run,
        loader_workers=ns.loader_workers,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the command's exit status (one-line errors, quiet on a closed pipe)."""
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
