"""Run experiments by id: configure, give them a :class:`~paper_repro.registry.Context`, index outputs.

Threads.  The runner, and nothing else, sets torch's intra-op thread count while an
experiment that uses torch runs, and restores it afterwards.  The default on the CPU
is one thread: the quick profiles train and score small networks on 8x8 images,
whose operations are too small for intra-op parallelism to pay off, and on a shared
machine extra threads only compete for the cores (measured on a loaded 2-core
machine: E7's quick profile took 10 s on one thread and 494 s on two, with the same
outputs).  On CUDA the default leaves torch's setting.  Parallelism across runs comes from ``jobs`` (worker processes, one
thread each).
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import paths
from .registry import Context, get_experiment, list_experiments
from .report import build_index

__all__ = ["run_experiment", "run_many"]


def _check_threads(threads: int | None, device: str) -> int:
    """``threads``, or the default: 1 on the CPU, torch's current setting on CUDA (module docstring)."""
    if threads is None:
        if device == "cpu":
            return 1
        import torch

        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got threads={threads!r}")
    return threads


@contextmanager
def _torch_threads(n: int, needs_torch: bool) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (if it uses torch), then restore torch's setting."""
    if not needs_torch:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_experiment(
    exp_id: str,
    profile: str = "quick",
    *,
    device: str = "cpu",
    data_dir: Path | None = None,
    seeds: int | None = None,
    jobs: int = 1,
    threads: int | None = None,
    figures_root: Path | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
    index: bool = True,
) -> Context:
    """Run one experiment and (by default) rebuild ``figures/README.md``.

    ``overrides`` replace fields of the profile's configuration (used by the smoke
    tests to run at tiny size).  Outputs of a previous run of the same experiment
    are replaced only once the new run has finished (they are written to a
    staging folder first).  ``threads``: torch intra-op threads while the experiment
    runs (None: 1 on the CPU, torch's setting on CUDA; see the module docstring).
    """
    exp = get_experiment(exp_id)
    cfg = exp.config(profile, **(overrides or {}))
    if device != "cpu":  # validate (and check CUDA); "cpu" needs no torch import
        from eoc.nn import resolve_device

        device = str(resolve_device(device))
    if seeds is not None and seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    threads = _check_threads(threads, device)
    root = Path(figures_root) if figures_root else paths.figures_dir()
    final = root / exp.id
    staging = root / f".{exp.id}.staging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    ctx = Context(
        exp_id=exp.id,
        profile=profile,
        outdir=staging,
        device=device,
        data_dir=Path(data_dir) if data_dir else None,
        seeds=seeds,
        jobs=jobs,
        threads=threads,
        cache_dir=Path(cache_dir) if cache_dir else paths.cache_dir(),
        progress=progress,
        config=cfg,
    )
    try:
        with _torch_threads(threads, exp.needs_torch):
            exp.run(cfg, ctx)
        ctx.write_manifest(exp)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    ctx.outdir = final
    if index:
        build_index(root)
    return ctx


def run_many(ids: list[str], profile: str = "quick", **kw) -> list[Context]:
    """Run several experiments (``["all"]`` for every one), indexing once at the end.

    ``overrides`` keys of the form ``"E5.epochs"`` apply to that experiment only;
    plain keys apply to every experiment run.
    """
    if ids == ["all"] or "all" in ids:
        ids = [e.id for e in list_experiments()]
    overrides = kw.pop("overrides", None) or {}
    out = []
    t0 = time.time()
    for exp_id in ids:
        mine = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.upper().startswith(f"{exp_id.upper()}.")}
        common = {k: v for k, v in overrides.items() if "." not in k}
        print(f"[paper_repro] {exp_id} ({profile}) ...", flush=True)
        ctx = run_experiment(exp_id, profile, index=False, overrides={**common, **mine}, **kw)
        print(f"[paper_repro] {exp_id} done in {time.time() - ctx.started:.1f} s -> {ctx.outdir}", flush=True)
        out.append(ctx)
    root = Path(kw.get("figures_root") or paths.figures_dir())
    build_index(root)
    print(f"[paper_repro] {len(out)} experiment(s) in {time.time() - t0:.1f} s; index: {root / 'README.md'}")
    return out
