"""Run experiments by id: validate everything first, then run, publish and index.

Order.  :func:`run_many` checks every argument before any work starts: the ids (an
unknown id among many stops the command before the first experiment runs), the
profile, seeds, jobs, threads and device, that the cache and figures folders can be
created and written, every ``--set`` key against the selected experiments, and that
the data every run will read is there (its fingerprint is computed).

Outputs.  Each experiment writes into its own staging folder (unique per process and
run, :func:`paper_repro.io.staging_dir`) and the finished folder replaces
``figures/<ID>`` in one rename (:func:`paper_repro.io.publish_dir`): two runs into one
figures folder both succeed, and a failed run leaves the previous outputs in place.

``--set``.  A plain key applies to every selected experiment that has it (a unique
dotted suffix sets every key it ends, :func:`paper_repro.config.resolve_key`) and is an error only when
none has it; ``ID.KEY`` applies to that experiment and is an error when it lacks it.
``--seeds N`` sets ``seeds = N`` wherever a configuration has seeds; the manifest
records the seeds each experiment used.

Threads.  The runner, and nothing else, sets torch's intra-op thread count while an
experiment that uses torch runs, and restores it afterwards.  The default on the CPU is
one thread: the quick profiles run small networks whose operations are too small for
intra-op parallelism to pay off, and on a shared machine extra threads only compete
for the cores.  On CUDA the default leaves torch's setting.
Parallelism across runs comes from ``jobs`` (worker processes, one thread each).

Executors.  ``executor="local"`` runs the sweeps in this process or in ``jobs`` local
workers; ``executor="ray"`` runs every run as a Ray task on the cluster at
``ray_address`` (:class:`paper_repro.ray_executor.RayExecutor`), each reserving
``threads + loader_workers`` CPUs (``threads`` defaults to 1 there, on any device) and,
on ``device="cuda"``, ``gpus_per_run`` GPUs.  The cluster is joined, and checked to
offer what a run reserves, before any work; on CUDA it is the cluster, not this
machine, that must have GPUs.  Only the runs execute on the cluster: the experiments'
analysis, figures and summaries run here, from the results in the (shared) cache.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from . import catalog, paths
from .config import as_dict, leaves, resolve_key, settable_keys
from .io import publish_dir, staging_dir, write_json
from .registry import PROFILES, Context, Experiment, get_experiment
from .report import build_index
from .summary import write_summary

__all__ = ["run_experiment", "run_many", "plan", "Planned"]


@dataclass(frozen=True)
class Planned:
    """One experiment about to run: the experiment and its final configuration."""

    exp: Experiment
    config: Any

    @property
    def seeds(self) -> list[int] | None:
        n = getattr(self.config, "seeds", None)
        return list(range(n)) if isinstance(n, int) else None

    def datasets(self) -> list[str]:
        """Every dataset named in the configuration (fields ``dataset`` / ``datasets``)."""
        found: list[str] = []
        for key, value in leaves(self.config):
            name = key.rsplit(".", 1)[-1]
            values = value if name == "datasets" else (value,) if name == "dataset" else ()
            for v in values:
                if v is not None and v not in found:
                    found.append(v)
        return found


def _check_positive(name: str, flag: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} ({flag}) must be an integer >= 1, got {name}={value!r}")


def _writable_dir(path: Path, flag: str) -> Path:
    """``path`` created if needed and checked writable (proofs_check's check, the one implementation)."""
    from proofs_check.results import prepare_out_dir

    return prepare_out_dir(Path(path).expanduser(), flag).resolve()


def _split_overrides(ids: Sequence[str], overrides: Mapping[str, Any]) -> tuple[dict, dict[str, dict]]:
    """Plain keys, and ``ID.KEY`` keys per selected experiment (an unselected ID is an error)."""
    plain, scoped = {}, {i: {} for i in ids}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest and head.upper() in catalog.ids():
            exp_id = catalog.entry(head).id
            if exp_id not in scoped:
                raise ValueError(f"--set {key}: experiment {exp_id} is not among those run ({', '.join(ids)})")
            scoped[exp_id][rest] = value
        else:
            plain[key] = value
    return plain, scoped


def plan(
    ids: Sequence[str], profile: str = "quick", *, overrides: Mapping[str, Any] | None = None, seeds: int | None = None
) -> list[Planned]:
    """The experiments ``ids`` (``"all"`` for every one) with their final configurations.

    Raises
    ------
    ValueError
        An unknown id or profile, a bad seeds value, or a ``--set`` key no selected
        experiment has (the message lists the valid keys).
    """
    ids = list(ids)
    if not ids:
        raise ValueError("no experiment given: name ids (E1 ... E9) or 'all'")
    if "all" in [str(i).lower() for i in ids]:
        ids = catalog.ids()
    ids = list(dict.fromkeys(catalog.entry(i).id for i in ids))  # validates every id before importing anything
    if profile not in PROFILES:
        raise ValueError(f"profile (--profile) must be one of {PROFILES}, got profile={profile!r}")
    _check_positive("seeds", "--seeds", seeds)
    plain, scoped = _split_overrides(ids, dict(overrides or {}))
    exps = {i: get_experiment(i) for i in ids}
    base = {i: e.profiles[profile] for i, e in exps.items()}
    used = {k: [] for k in plain}
    per_exp: dict[str, dict] = {}
    for i, cfg in base.items():
        mine = {}
        for key, value in plain.items():
            try:
                found = resolve_key(cfg, key)
            except ValueError:  # a field this experiment sweeps: not one it has to set
                found = []
            if found:
                mine[key] = value
                used[key].append(i)
        if seeds is not None and "seeds" in {f.name for f in fields(cfg)}:
            mine["seeds"] = seeds
        per_exp[i] = {**mine, **scoped[i]}
    for key, where in used.items():
        if not where:
            valid = "; ".join(f"{i}: {', '.join(settable_keys(c))}" for i, c in base.items())
            raise ValueError(f"--set {key}: no selected experiment has this setting; valid keys: {valid}")
    return [Planned(exps[i], exps[i].config(profile, per_exp[i])) for i in ids]


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


def _check_torch(planned: Sequence[Planned]) -> None:
    """PyTorch is importable if a planned experiment needs it (named in the error)."""
    from .executor import is_installed

    need = [p.exp.id for p in planned if p.exp.needs_torch]
    if need:
        if not is_installed("torch"):
            raise ValueError(f"{', '.join(need)} need PyTorch, which is not installed (pip install 'eoc-pruning[repro]')")


def _check_data(planned: Sequence[Planned], data_dir: Path | None) -> None:
    """Every dataset the runs will read is there (its fingerprint can be computed)."""
    from eoc.datasets import fingerprint

    for p in planned:
        for name in p.datasets():
            try:
                fingerprint(name, data_dir)
            except ValueError as exc:
                raise ValueError(f"{p.exp.id} ({p.config.__class__.__name__}.dataset={name!r}): {exc}") from exc


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the sweep workers), user + system."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _manifest(p: Planned, ctx: Context, verdict: str, cpu: float) -> dict:
    from eoc import __version__

    from .cache import RESULTS_SCHEMA

    e = p.exp.entry
    return {
        "id": e.id,
        "title": e.title,
        "paper": e.paper,
        "claim": e.claim,
        "profile": ctx.profile,
        "device": ctx.device,
        "threads": ctx.threads,
        "jobs": ctx.jobs,
        "executor": "local" if ctx.executor is None else repr(ctx.executor),
        "loader_workers": ctx.loader_workers,
        "seeds": p.seeds,
        "config": as_dict(p.config),
        "data": ctx.data,
        "runs": ctx.runs,
        "results_schema": RESULTS_SCHEMA,
        "version": __version__,
        "seconds": round(time.time() - ctx.started, 2),
        "cpu_seconds": round(_cpu_seconds() - cpu, 2),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "verdict": verdict,
        "outputs": ctx.outputs,
    }


def _run_one(p: Planned, root: Path, settings: dict) -> Context:
    from .style import applied

    staging = staging_dir(root, p.exp.id)
    cpu = _cpu_seconds()
    ctx = Context(exp_id=p.exp.id, profile=settings["profile"], outdir=staging, **settings["ctx"])
    try:
        with _torch_threads(ctx.threads, p.exp.needs_torch), applied():
            numbers = p.exp.run(p.config, ctx)
        verdict = write_summary(p.exp, ctx, numbers)
        write_json(staging / "manifest.json", _manifest(p, ctx, verdict, cpu))
        ctx.outdir = publish_dir(staging, root / p.exp.id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ctx


def run_many(
    ids: Sequence[str],
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
    overrides: Mapping[str, Any] | None = None,
    index: bool = True,
    verbose: bool = True,
    executor: Any = "local",
    ray_address: str | None = None,
    gpus_per_run: float = 1.0,
    loader_workers: int = 0,
) -> list[Context]:
    """Run the experiments ``ids`` (``["all"]`` for every one) after validating everything.

    Parameters
    ----------
    ids : sequence of str
        Experiment ids or ``"all"``.
    profile : {"quick", "full"}
    device : {"cpu", "cuda"}
    data_dir : path, optional
        Folder of the file datasets (``--data-dir``).
    seeds : int, optional
        Number of seeds (0 .. seeds - 1) wherever a configuration has seeds.
    jobs : int
        Worker processes per sweep.
    threads : int, optional
        torch intra-op threads (default: 1 on the CPU).
    figures_root, cache_dir : path, optional
        Output and cache folders (default :func:`paper_repro.paths.figures_dir` and
        :func:`paper_repro.paths.cache_dir`).
    progress : bool
        Progress bars.
    overrides : dict
        ``--set`` values, keys ``KEY`` or ``ID.KEY`` (module docstring).
    index : bool
        Rebuild ``figures/README.md`` at the end.
    verbose : bool
        One line per experiment on stdout.
    executor : {"local", "ray"} or paper_repro.executor.Executor
        Where the runs of every sweep execute: ``"local"`` (this process, or ``jobs``
        local worker processes), ``"ray"`` (module docstring), or an executor object.
    ray_address : str, optional
        With ``executor="ray"``: the cluster (``"auto"`` or ``HOST:PORT``); None
        starts a Ray instance on this machine.
    gpus_per_run : float
        With ``executor="ray"`` and ``device="cuda"``: GPUs each run reserves.
    loader_workers : int
        Data-loading worker processes per training run (0: the dataset lives on the
        device and batches are cut there; :func:`paper_repro.train.train`).

    Returns
    -------
    list of Context
        One per experiment, ``outdir`` the published folder.
    """
    cache = _writable_dir(cache_dir if cache_dir is not None else paths.cache_dir(), "--cache-dir")
    root = _writable_dir(figures_root if figures_root is not None else paths.figures_dir(), "--figures-dir")
    planned = plan(ids, profile, overrides=overrides, seeds=seeds)
    _check_torch(planned)
    _check_positive("jobs", "--jobs", jobs)
    if isinstance(loader_workers, bool) or not isinstance(loader_workers, int) or loader_workers < 0:
        raise ValueError(f"loader_workers (--loader-workers) must be an integer >= 0, got loader_workers={loader_workers!r}")
    distributed = executor == "ray" or getattr(executor, "distributed", False)
    if device not in ("cpu", "cuda") or (device != "cpu" and not distributed):
        from eoc.nn import resolve_device  # validate (and check CUDA here); "cpu" needs no torch import

        device = str(resolve_device(device))
    if distributed and threads is None:
        threads = 1
    threads = _check_threads(threads, device)
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise ValueError(f"--data-dir {data_dir}: no such folder")
    data_dir = Path(data_dir).expanduser().resolve() if data_dir is not None else None
    _check_data(planned, data_dir)
    owned = isinstance(executor, str)
    if owned:
        from .executor import make_executor

        executor = make_executor(
            executor, jobs=jobs, address=ray_address, cpus_per_task=threads + loader_workers,
            gpus_per_task=gpus_per_run if device.startswith("cuda") else 0,
        )  # fmt: skip
        if executor is not None:
            executor.connect()  # joins the cluster and checks its resources before any work
    settings = {
        "profile": profile,
        "ctx": {"device": device, "data_dir": data_dir, "jobs": jobs, "threads": threads, "cache_dir": cache,
                "progress": progress, "executor": executor, "loader_workers": loader_workers},
    }  # fmt: skip
    out = []
    t0 = time.time()
    try:
        for p in planned:
            if verbose:
                print(f"[paper_repro] {p.exp.id} ({profile}) ...", flush=True)
            ctx = _run_one(p, root, settings)
            if verbose:
                print(f"[paper_repro] {p.exp.id} done in {time.time() - ctx.started:.1f} s -> {ctx.outdir}", flush=True)
            out.append(ctx)
    finally:
        if owned and executor is not None:
            executor.close()
    if index:
        build_index(root)
        if verbose:
            print(f"[paper_repro] {len(out)} experiment(s) in {time.time() - t0:.1f} s; index: {root / 'README.md'}")
    return out


def run_experiment(exp_id: str, profile: str = "quick", **kw: Any) -> Context:
    """Run one experiment (:func:`run_many` with one id); ``overrides`` as there."""
    kw.setdefault("verbose", False)
    return run_many([exp_id], profile, **kw)[0]
