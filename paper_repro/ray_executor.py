"""Every run a Ray task: paper-scale sweeps on a cluster, through the run cache.

:class:`RayExecutor` is an executor of :mod:`paper_repro.executor` (``map(tasks,
on_done)``) whose tasks run as Ray tasks anywhere on a Ray cluster.  Each task calls
:func:`paper_repro.executor.execute` *on the worker*, which stores the run's result
atomically in the run cache (:class:`paper_repro.cache.RunCache`) before the task
returns.  So, with the cache on a filesystem every node sees at the same path
(``--cache-dir /shared/cache``):

* a run that finished is on disk, whatever happens to the driver or to other workers;
* a killed driver (its running tasks die with it, as Ray ties tasks to the driver that
  owns them) or a lost worker loses only the runs under way, and a rerun of the same
  command runs only the runs missing from the cache;
* a task whose worker or node dies is retried by Ray (``max_retries``); a run that
  raises is not retried: the sweep stops submitting, waits for the tasks under way
  (their results are stored) and raises the first error.

The driver keeps at most ``max_in_flight`` tasks submitted (default: twice the number
of tasks the cluster can run at once), so that after a failure nothing more starts,
and reports each run as it finishes (the progress bar of
:func:`paper_repro.executor.run_sweep` counts finished runs across the cluster).

Every task reserves ``cpus_per_task`` CPUs (its torch threads and data-loading
workers) and ``gpus_per_task`` GPUs (1 per run with ``--device cuda``; Ray sets
``CUDA_VISIBLE_DEVICES`` so that ``cuda`` is the GPU assigned).  A worker first checks
that it runs the driver's version of ``eoc-pruning`` and results schema: a node with
another installation fails the sweep with a message naming both, instead of storing
results that are not comparable.

Starting a cluster is Ray's business (``ray start --head`` on one node,
``ray start --address HEAD:6379`` on the others, or Ray's SLURM recipe); see
``docs/paper_scale.md`` ("Run at paper scale").  Without ``address`` the executor starts a Ray
instance on this machine (all its CPUs and GPUs).
"""

from __future__ import annotations

import math
import socket
from typing import Any, Callable, Mapping, Sequence

from .executor import RunTask, execute, require_ray, set_threads

__all__ = ["RayExecutor", "DEFAULT_RETRIES"]

#: Ray's retries of a task whose worker or node died (not of a task that raised).
DEFAULT_RETRIES = 3


def _versions() -> dict[str, Any]:
    from eoc import __version__

    from .cache import RESULTS_SCHEMA

    return {"eoc-pruning": __version__, "results schema": RESULTS_SCHEMA}


def _run_remote(task: RunTask, driver: Mapping[str, Any], threads: int) -> Any:
    """The body of every Ray task: check the installation, set the threads, :func:`execute`."""
    mine = _versions()
    if mine != dict(driver):
        raise RuntimeError(
            f"worker {socket.gethostname()} runs {mine} but the driver runs {dict(driver)}: install the same "
            "eoc-pruning on every node of the Ray cluster"
        )
    set_threads(threads)
    return execute(task)


def _ray():
    require_ray()
    import ray

    return ray


class RayExecutor:
    """Runs :class:`~paper_repro.executor.RunTask` s as Ray tasks (module docstring).

    Parameters
    ----------
    address : str, optional
        The cluster to join: ``"auto"`` (a cluster started on this node with ``ray
        start``), or ``"HOST:PORT"`` of its head; None starts a Ray instance on this
        machine.  Ignored if this process is already connected to Ray.
    cpus_per_task : float
        CPUs each task reserves (its torch threads plus its data-loading workers).
    gpus_per_task : float
        GPUs each task reserves (1 per run on ``--device cuda``; a fraction packs
        several runs on one GPU).
    max_in_flight : int, optional
        Tasks submitted at once (default: twice the tasks the cluster can run at once,
        measured when the sweep starts; raise it on an autoscaling cluster).
    max_retries : int
        Ray's retries of a task whose worker or node died.
    init_kwargs : dict, optional
        More arguments of :func:`ray.init` (e.g. ``num_cpus`` of a local instance).

    Raises
    ------
    ValueError
        Ray is not installed (the message names ``--executor ray`` and the install
        command), or a bad resource amount.
    """

    #: Runs execute elsewhere: the driver needs no GPU of its own for ``--device cuda``.
    distributed = True

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_task: float = 1,
        gpus_per_task: float = 0,
        max_in_flight: int | None = None,
        max_retries: int = DEFAULT_RETRIES,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        require_ray()
        for name, value in (("cpus_per_task", cpus_per_task), ("gpus_per_task", gpus_per_task)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
        if cpus_per_task == 0 and gpus_per_task == 0:
            raise ValueError("a task must reserve some CPU or GPU (cpus_per_task and gpus_per_task are both 0)")
        if max_in_flight is not None and (isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1):
            raise ValueError(f"max_in_flight must be an integer >= 1, got max_in_flight={max_in_flight!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0, got max_retries={max_retries!r}")
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self._started = False

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, cpus_per_task={self.cpus_per_task:g}, "
            f"gpus_per_task={self.gpus_per_task:g})"
        )

    # ------------------------------------------------------------------ cluster

    def connect(self) -> dict[str, float]:
        """Join (or start) the cluster and check it can run a task; return its resources.

        Raises
        ------
        ValueError
            No node offers what one task reserves (e.g. no GPU for ``--device cuda``).
        """
        ray = _ray()
        if not ray.is_initialized():
            kw = {"address": self.address, "include_dashboard": False, **self.init_kwargs}
            try:
                ray.init(**kw)
            except ConnectionError as exc:
                raise ValueError(f"--ray-address {self.address}: cannot connect to a Ray cluster ({exc})") from None
            self._started = True
        resources = {k: float(v) for k, v in ray.cluster_resources().items()}
        where = f"the Ray cluster at {self.address}" if self.address else "the local Ray instance"
        for name, need, hint in (
            ("GPU", self.gpus_per_task, "start its nodes with GPUs (ray start --num-gpus N), or run on --device cpu"),
            ("CPU", self.cpus_per_task, "lower --threads / --loader-workers, or add nodes"),
        ):
            if need > resources.get(name, 0.0):
                raise ValueError(
                    f"each run reserves {need:g} {name}(s) but {where} has {resources.get(name, 0.0):g}: {hint}"
                )
        return resources

    def slots(self, resources: Mapping[str, float] | None = None) -> int:
        """How many tasks the cluster runs at once (its CPUs and GPUs over what a task reserves)."""
        resources = self.connect() if resources is None else resources
        counts = [
            int(resources.get(name, 0.0) // need + 1e-9)
            for name, need in (("CPU", self.cpus_per_task), ("GPU", self.gpus_per_task))
            if need > 0
        ]
        return max(1, min(counts))

    def close(self) -> None:
        """Disconnect from Ray (and stop the local instance) if this executor connected."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ tasks

    def map(self, tasks: Sequence[RunTask], on_done: Callable[[RunTask, Any], None]) -> None:
        """Run every task on the cluster; ``on_done(task, stored result)`` as each finishes.

        After the first failure no more tasks are submitted, the tasks under way are
        awaited (their results stored) and the first exception is raised (the run's
        own exception where it raised one).
        """
        if not tasks:
            return
        ray = _ray()
        from ray.exceptions import RayTaskError

        window = self.max_in_flight or 2 * self.slots()
        threads = max(1, int(self.cpus_per_task))
        remote = ray.remote(_run_remote)
        options = {"num_cpus": self.cpus_per_task, "num_gpus": self.gpus_per_task, "max_retries": self.max_retries,
                   "retry_exceptions": False}  # fmt: skip
        driver = _versions()
        queue = list(tasks)
        queue.reverse()  # pop() from the end submits in the given order
        in_flight: dict[Any, RunTask] = {}
        first_error: BaseException | None = None
        try:
            while queue or in_flight:
                while queue and first_error is None and len(in_flight) < window:
                    task = queue.pop()
                    name = f"{type(task.config).__name__}:{task.rid}"
                    in_flight[remote.options(name=name, **options).remote(task, driver, threads)] = task
                if not in_flight:
                    break
                done, rest = ray.wait(list(in_flight), num_returns=1)
                if rest:  # every result already in, so that a failure among them stops submission now
                    done += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
                for ref in done:
                    task = in_flight.pop(ref)
                    try:
                        stored = ray.get(ref)
                    except RayTaskError as exc:
                        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                        first_error = first_error or cause
                        continue
                    except ray.exceptions.RayError as exc:  # the worker or node died beyond the retries
                        first_error = first_error or exc
                        continue
                    on_done(task, stored)
        except BaseException:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            raise
        if first_error is not None:
            raise first_error
