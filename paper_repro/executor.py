"""Running sweeps of independent runs: the task boundary and the local executors.

The boundary.  One run is a :class:`RunTask`: a picklable run function, a picklable
configuration, its run id and identity, and the cache folder.  :func:`execute` carries
it out *where it runs* (this process, a pool worker, or later a Ray task): it calls the
function and stores the result atomically in the cache (:meth:`RunCache.put`), then
returns the stored result.  So a run that finished is on disk whatever happens to the
process that launched it, and a sweep killed at any point resumes where it stopped.

Executors.  :class:`SerialExecutor` runs the tasks in this process;
:class:`PoolExecutor` in ``spawn``-started worker processes (one torch/BLAS thread
each).  A worker checks twice a second that the process that started it is alive and
exits when it is not, so a ``kill -9`` of the sweep leaves no idle worker behind.  An
executor only has to provide ``map(tasks, on_done)``:
:class:`paper_repro.ray_executor.RayExecutor` runs every task as a Ray task on a
cluster through the same boundary (the optional extra ``eoc-pruning[distributed]``).
:func:`make_executor` builds one by name (``--executor local|ray``); ``proofs_check``
uses the same executors for its claims.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from tqdm import tqdm

from .cache import RunCache, as_stored, run_id, run_identity

__all__ = [
    "EXECUTORS",
    "RAY_INSTALL",
    "RunTask",
    "execute",
    "Executor",
    "SerialExecutor",
    "PoolExecutor",
    "SweepResults",
    "run_sweep",
    "require_ray",
    "make_executor",
    "set_threads",
]

#: Seconds between a worker's checks that its parent is alive.
PARENT_POLL_S = 0.5
#: The executors ``--executor`` names: this machine (a process or a local pool), or a Ray cluster.
EXECUTORS = ("local", "ray")
#: How to install the Ray executor's dependency.
RAY_INSTALL = "pip install 'eoc-pruning[distributed]'"


@dataclass(frozen=True)
class RunTask:
    """One run, ready to be executed anywhere (every field is picklable).

    Attributes
    ----------
    fn : callable
        ``fn(config) -> result`` (JSON-able); a module-level function or a
        :func:`functools.partial` of one.
    config : dataclass instance
    rid : str
        Its run id (:func:`paper_repro.cache.run_id`).
    identity : dict
        :func:`paper_repro.cache.run_identity`, stored with the result.
    cache_root : str or None
        Where to store the result; None stores nothing.
    """

    fn: Callable[[Any], Any]
    config: Any
    rid: str
    identity: dict
    cache_root: str | None


def execute(task: RunTask) -> Any:
    """Run ``task`` and store its result atomically in the cache; return the stored result."""
    result = task.fn(task.config)
    if task.cache_root is None:
        return as_stored(result)
    return RunCache(task.cache_root).put(task.rid, task.config, result, task.identity)


class Executor(Protocol):
    """Runs tasks and reports each result (or error) as it finishes."""

    def map(self, tasks: Sequence[RunTask], on_done: Callable[[RunTask, Any], None]) -> None:
        """Execute every task; call ``on_done(task, stored result)`` as each finishes.

        After the first failure, tasks not yet started are cancelled, tasks under way
        are awaited (their results stored), then the first exception is raised.
        """


class SerialExecutor:
    """Every task in this process, in order."""

    def map(self, tasks: Sequence[RunTask], on_done: Callable[[RunTask, Any], None]) -> None:
        for task in tasks:
            on_done(task, execute(task))


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(1)


def set_threads(n: int) -> None:
    """``n`` intra-op threads in this (worker) process: the BLAS/OpenMP variables, and torch if imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _init_worker(parent: int) -> None:
    """One intra-op thread per worker process; exit when the parent process is gone."""
    set_threads(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()


class PoolExecutor:
    """``jobs`` spawn-started worker processes (module docstring)."""

    def __init__(self, jobs: int) -> None:
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be an integer >= 1, got jobs={jobs!r}")
        self.jobs = jobs

    def map(self, tasks: Sequence[RunTask], on_done: Callable[[RunTask, Any], None]) -> None:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(tasks)), mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
        )
        try:
            pending: dict[Future, RunTask] = {pool.submit(execute, t): t for t in tasks}
            first_error: BaseException | None = None
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    if fut.cancelled():
                        continue
                    error = fut.exception()
                    if error is None:
                        on_done(task, fut.result())
                    elif first_error is None:
                        first_error = error
                        for other in pending:
                            other.cancel()
            if first_error is not None:
                raise first_error
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


class SweepResults(list):
    """The results of :func:`run_sweep`, in configuration order, with run counts.

    Attributes
    ----------
    executed : int
        Runs executed by this call.
    cached : int
        Configurations found in the cache (or repeated within the sweep).
    ids : list of str
        The run id of every configuration.
    """

    def __init__(self, results: Sequence[Any], executed: int, cached: int, ids: Sequence[str]) -> None:
        super().__init__(results)
        self.executed = executed
        self.cached = cached
        self.ids = list(ids)


def run_sweep(
    configs: Sequence[Any],
    fn: Callable[[Any], Any],
    cache: RunCache | None,
    *,
    data: Callable[[Any], str | None] | None = None,
    jobs: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
    desc: str = "runs",
) -> SweepResults:
    """Run ``fn(config)`` for every configuration without a cached result; return all results.

    Parameters
    ----------
    configs : sequence of dataclass instances
        Configurations with one run id run once.
    fn : callable
        ``fn(config) -> result`` (JSON-able).  With ``jobs > 1`` it must be picklable (a
        module-level function or a partial of one).
    cache : RunCache or None
        None runs everything and stores nothing.
    data : callable, optional
        ``data(config)``: the fingerprint of the data the run reads
        (:func:`eoc.datasets.fingerprint`), part of its id; None for runs without data.
    jobs : int
        Worker processes (1: this process); ignored when ``executor`` is given.
    executor : Executor, optional
        Where the tasks run (default: :class:`SerialExecutor` or :class:`PoolExecutor`).
    progress : bool
        A tqdm bar over the runs to execute (ETA), the cached count in its label.
    desc : str
        Label of the progress bar.

    Returns
    -------
    SweepResults
        Results in the order of ``configs`` (as read back from JSON).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got jobs={jobs!r}")
    fingerprints = [data(c) if data is not None else None for c in configs]
    ids = [run_id(c, d) for c, d in zip(configs, fingerprints)]
    results: dict[str, Any] = {}
    todo: dict[str, RunTask] = {}
    root = str(cache.root) if cache is not None else None
    for rid, config, fp in zip(ids, configs, fingerprints):
        if rid in results or rid in todo:
            continue
        stored = cache.get(rid) if cache is not None else None
        if stored is not None:
            results[rid] = stored
        else:
            todo[rid] = RunTask(fn, config, rid, run_identity(config, fp), root)
    n_cached = len(configs) - len(todo)
    if executor is None:
        executor = SerialExecutor() if jobs == 1 or len(todo) <= 1 else PoolExecutor(jobs)
    bar = tqdm(total=len(todo), desc=f"{desc} ({n_cached} cached)", unit="run", disable=not progress, leave=False)

    def on_done(task: RunTask, stored: Any) -> None:
        results[task.rid] = stored
        bar.update()
        if bar.n == bar.total:  # tqdm skips draws closer than mininterval: always show the finished count
            bar.refresh()

    try:
        executor.map(list(todo.values()), on_done)
    finally:
        bar.close()
    return SweepResults([results[k] for k in ids], executed=len(todo), cached=n_cached, ids=ids)


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_ray(flag: str = "--executor ray") -> None:
    """Raise a one-line ``ValueError`` naming ``flag`` and the install command when Ray is missing."""
    if not is_installed("ray"):
        raise ValueError(f"{flag} needs Ray, which is not installed: {RAY_INSTALL}")


def make_executor(
    kind: str = "local",
    *,
    jobs: int = 1,
    address: str | None = None,
    cpus_per_task: float = 1,
    gpus_per_task: float = 0,
) -> Executor | None:
    """The executor ``--executor kind`` names; None is the default local one (:func:`run_sweep`).

    Parameters
    ----------
    kind : {"local", "ray"}
    jobs : int
        Local worker processes (``--jobs``); must be 1 with ``"ray"``, where the
        cluster's resources set the parallelism.
    address : str, optional
        ``"ray"`` only (``--ray-address``): the cluster to join (``"auto"``, or
        ``HOST:PORT``); None starts a Ray instance on this machine.
    cpus_per_task, gpus_per_task : float
        ``"ray"`` only: the resources every task reserves.

    Raises
    ------
    ValueError
        An unknown kind, options of the other kind, or ``"ray"`` without Ray installed.
    """
    if kind not in EXECUTORS:
        raise ValueError(f"executor (--executor) must be one of {EXECUTORS}, got executor={kind!r}")
    if kind == "local":
        if address is not None:
            raise ValueError(f"--ray-address {address} needs --executor ray")
        return None
    if jobs != 1:
        raise ValueError(f"--jobs {jobs} is for --executor local; with --executor ray the cluster's resources set the parallelism")
    require_ray()
    from .ray_executor import RayExecutor

    return RayExecutor(address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task)
