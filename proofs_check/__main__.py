"""Command line: run the claims, print a verdict table, write report.json and report.md.

``--help`` and ``--list`` need no torch; every argument (claim ids, ``--out``, ``--resume``,
``--device``, ``--executor``) is checked before any claim runs.  The claims run through
the executors of :mod:`paper_repro.executor`: one after the other in this process
(``--executor local``), or each as a Ray task on a cluster (``--executor ray``, every
claim reserving one GPU on ``--device cuda``), writing its result file into ``--out``
(which every node must see) where it runs.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from eoc._cli import CLIError, add_version, run
from eoc._io import to_jsonable

from .catalog import CATALOG, CLAIM_IDS, PROFILES, check_claim_ids
from .results import ClaimResult, RunConfig, RunFolder, prepare_out_dir

EXAMPLES = """\
examples:
  python -m proofs_check --out proofs_report                  every claim, quick profile
  python -m proofs_check --claims forward-maps gradient-maps --profile tiny --out /tmp/r
  python -m proofs_check --profile full --device cuda --out report_full
  python -m proofs_check --out proofs_report --resume         finish a run that was interrupted
  python -m proofs_check --profile full --device cuda --executor ray --ray-address auto --out /shared/report
  python -m proofs_check --list

Each claim's result is written to DIR/claims/<id>.json as soon as it finishes, and
DIR/report.json and DIR/report.md are rewritten after every claim; a killed run
keeps what finished, and --resume (same --profile, --seed, --float32, --device)
runs only the rest.  Tolerances: proofs_check/verdict.py.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m proofs_check",
        description=(
            "Confront each theoretical claim of the edge-of-chaos theory of pruning at initialization with "
            "Monte-Carlo simulation of finite random networks. Each claim compares predictions (from eoc) with "
            "measurements over R independent networks (eoc.sim), with tolerances of 4 standard errors plus named "
            "model-error allowances, and gets a verdict PASS, FAIL or INCONCLUSIVE. Exit status 1 if any claim "
            "FAILs, 2 on a usage error."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--claims", nargs="+", metavar="ID", help="claim ids (default: all; see --list)")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="sizes: tiny (tests, seconds), quick (CPU, minutes; default), full (GPU)")
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available, else cpu")
    p.add_argument("--seed", type=int, default=0, help="base seed, >= 0 (default 0)")
    p.add_argument("--float32", action="store_true", help="simulate in float32 (default float64)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for the per-claim results, report.json and report.md")
    p.add_argument("--resume", action="store_true", help="keep the finished claims of the run in --out and run the rest")
    p.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="local: the claims one after the other in this process (default); ray: every claim a Ray task "
        "(pip install 'eoc-pruning[distributed]'), --out on a folder every node sees",
    )  # fmt: skip
    p.add_argument("--ray-address", default=None, metavar="ADDR", help="with --executor ray: 'auto' or HEAD:PORT (default: start Ray here)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return add_version(p)


def _list() -> int:
    width = max(len(i) for i in CLAIM_IDS)
    for c in CATALOG:
        print(f"{c.id:{width}s}  {c.title}")
    return 0


def _main(argv) -> int:
    ns = build_parser().parse_args(argv)
    if ns.list:
        return _list()
    if ns.out is None:
        raise CLIError("--out DIR is required (the folder for the per-claim results, report.json and report.md)")
    try:
        ids = check_claim_ids(ns.claims) if ns.claims else CLAIM_IDS
    except ValueError as exc:
        raise CLIError(f"--claims: {exc}") from None
    if ns.seed < 0:
        raise CLIError(f"--seed must be >= 0, got --seed {ns.seed}")
    if ns.threads is not None and ns.threads < 1:
        raise CLIError(f"--threads must be >= 1, got --threads {ns.threads}")
    out = prepare_out_dir(ns.out, "--out").resolve()
    from paper_repro.executor import SerialExecutor, make_executor

    executor = make_executor(ns.executor, address=ns.ray_address, cpus_per_task=ns.threads or 1)

    import torch  # only now: --help, --list and usage errors need no torch
    from tqdm import tqdm

    from eoc.nn import resolve_device

    from .registry import ClaimJob, get_claim, run_claim_job
    from .report import format_table, write_reports

    if executor is not None:  # the cluster's devices, not this machine's
        resources = executor.connect()
        device = ns.device or ("cuda" if resources.get("GPU", 0) >= 1 else "cpu")
        if device == "cuda":
            executor.gpus_per_task = 1
            executor.connect()  # checks that the cluster has a GPU
    else:
        try:
            device = resolve_device(ns.device)
        except ValueError as exc:
            raise CLIError(f"--device {ns.device}: {exc}") from None
    dtype = torch.float32 if ns.float32 else torch.float64
    config = RunConfig(ns.profile, ns.seed, str(dtype).removeprefix("torch."), str(device))
    folder = RunFolder(out)
    folder.start(config, resume=ns.resume)
    claims = [get_claim(i) for i in ids]
    results = {}
    if ns.resume:
        for c in claims:
            r = folder.load(c.id)
            if r is not None and r.sizes == to_jsonable(c.sizes[ns.profile]):
                results[c.id] = r
        kept = ", ".join(results) or "none"
        print(f"resuming {out}: finished claims kept: {kept}", file=sys.stderr)
    if ns.threads is not None:
        torch.set_num_threads(ns.threads)

    def ordered():
        return [results[i] for i in ids if i in results]

    from paper_repro.executor import RunTask

    run = partial(run_claim_job, out=str(out))
    tasks = [
        RunTask(run, ClaimJob(c.id, ns.profile, ns.seed, config.dtype, str(device), ns.threads), c.id, {}, None)
        for c in claims
        if c.id not in results
    ]
    bar = tqdm(total=len(tasks), desc="claims", unit="claim", disable=ns.no_progress, file=sys.stderr)

    def on_done(task, stored: dict) -> None:
        result = ClaimResult.from_dict(stored)
        results[result.id] = result
        write_reports(ordered(), out, config=config, pending=[i for i in ids if i not in results])
        bar.update()
        bar.write(f"{result.id}: {result.verdict} ({result.seconds:.1f} s)", file=sys.stderr)

    try:
        (executor or SerialExecutor()).map(tasks, on_done)
    finally:
        bar.close()
        if executor is not None:
            executor.close()
    json_path, md_path = write_reports(ordered(), out, config=config)
    print(format_table(ordered()))
    print(f"\nreport: {json_path} and {md_path}")
    return 1 if any(r.verdict == "FAIL" for r in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; usage errors print one line ``error: ...`` and return 2 (:func:`eoc._cli.run`)."""
    return run(_main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
