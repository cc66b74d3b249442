"""Runs identified by the hash of their canonical configuration, cached on disk.

A run's configuration is a frozen dataclass.  Its canonical form (after open_lth's
``hparams``/``desc``) keeps only the fields whose value differs from the field's
default, plus the class name; nested dataclasses are reduced the same way.  So a new
option added later with a default that has no effect leaves every existing hash, and
with it every cached run, valid.  The run id is the first 16 hex digits of the SHA-256
of the canonical JSON (sorted keys, no whitespace).

:class:`RunCache` stores a finished run as ``<root>/<hash>/result.json`` (written
atomically, last) next to ``config.json`` (the full configuration and its canonical
form).  :func:`run_sweep` runs a list of configurations through it, in one process or a
pool, writing each result the moment it arrives: a sweep that is killed loses no
finished run and resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from .io import read_json, to_jsonable, write_json

__all__ = ["canonical_config", "config_hash", "RunCache", "SweepResults", "run_sweep"]

HASH_CHARS = 16


def _canonical_value(value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return canonical_config(value)
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, (list, tuple)):
        return [_canonical_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"config field {where} is a dict with non-string keys: {value!r}")
        return {k: _canonical_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(
        f"config field {where} has type {type(value).__name__}, which has no canonical form "
        "(use bool, int, float, str, None, tuples/lists/dicts of them, or a dataclass)"
    )


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def canonical_config(config: Any) -> dict[str, Any]:
    """Canonical form of a dataclass instance: ``{"type": class name, "fields": {...}}``.

    ``fields`` holds only the fields whose value differs from their default (fields
    without a default are always kept), in canonical form: tuples become lists,
    integral floats become ints (``1.0`` and ``1`` are one setting), non-finite floats
    become strings, numpy scalars become Python numbers, nested dataclasses are
    reduced recursively.

    Raises
    ------
    TypeError
        ``config`` is not a dataclass instance, or a field holds a value with no
        canonical JSON form (the message names the field).
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"a run configuration must be a dataclass instance, got {type(config).__name__}")
    name = type(config).__qualname__
    fields = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        default = _default(f)
        canon = _canonical_value(value, f"{name}.{f.name}")
        if default is not dataclasses.MISSING and canon == _canonical_value(default, f"{name}.{f.name}"):
            continue
        fields[f.name] = canon
    return {"type": name, "fields": fields}


def config_hash(config: Any) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config``."""
    text = json.dumps(canonical_config(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


class RunCache:
    """Finished runs on disk, one folder per configuration hash.

    Parameters
    ----------
    root : path
        Created on the first :meth:`put` (e.g. :func:`paper_repro.paths.cache_dir`).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunCache({str(self.root)!r})"

    def path(self, config: Any) -> Path:
        """``<root>/<hash>/`` of ``config``."""
        return self.root / config_hash(config)

    def has(self, config: Any) -> bool:
        """Whether ``config`` has a stored result (``result.json`` exists)."""
        return (self.path(config) / "result.json").is_file()

    def get(self, config: Any) -> Any | None:
        """The stored result of ``config``, or None if it has not run (see :meth:`has`)."""
        path = self.path(config) / "result.json"
        if not path.is_file():
            return None
        try:
            return read_json(path)
        except json.JSONDecodeError as exc:
            raise ValueError(f"corrupt cached result {path}: {exc}; delete it to rerun") from exc

    def put(self, config: Any, result: Any) -> Any:
        """Store ``result`` (JSON-able) for ``config``; return it as it will be read back.

        ``config.json`` is written first and ``result.json`` last, each atomically, so
        :meth:`has` is true only once the whole result is on disk.
        """
        stored = _as_stored(result)
        folder = self.path(config)
        write_json(
            folder / "config.json",
            {"hash": folder.name, "canonical": canonical_config(config), "config": _asdict(config)},
        )
        write_json(folder / "result.json", stored)
        return stored


def _as_stored(result: Any) -> Any:
    """``result`` as it reads back from JSON (tuples as lists, NaN as ``"nan"``, ...)."""
    return json.loads(json.dumps(to_jsonable(result)))


def _asdict(config: Any) -> dict[str, Any]:
    return {"type": type(config).__qualname__, **dataclasses.asdict(config)}


class SweepResults(list):
    """The results of :func:`run_sweep`, in configuration order, with run counts.

    Attributes
    ----------
    executed : int
        Configurations run by this call.
    cached : int
        Configurations found in the cache (or repeated within the sweep).
    """

    def __init__(self, results: Sequence[Any], executed: int, cached: int) -> None:
        super().__init__(results)
        self.executed = executed
        self.cached = cached


def _init_worker() -> None:
    """One intra-op thread per worker process (set before torch is imported there)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _run_pool(
    todo: dict[str, Any], fn: Callable[[Any], Any], store: Callable[[str, Any], None], bar: tqdm, jobs: int
) -> None:
    """Run ``todo`` in a spawn pool, storing each result as it arrives.

    After the first failing run, runs not yet started are cancelled, runs under way are
    still awaited and stored, then the first exception is raised.
    """
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx, initializer=_init_worker)
    try:
        pending: dict[Future, str] = {pool.submit(fn, config): key for key, config in todo.items()}
        first_error: BaseException | None = None
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                key = pending.pop(fut)
                if fut.cancelled():
                    continue
                error = fut.exception()
                if error is None:
                    store(key, fut.result())
                    bar.update()
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


def run_sweep(
    configs: Sequence[Any],
    fn: Callable[[Any], Any],
    cache: RunCache | None,
    *,
    jobs: int = 1,
    progress: bool = True,
    desc: str = "runs",
) -> SweepResults:
    """Run ``fn(config)`` for every configuration not yet in ``cache``; return all results.

    Parameters
    ----------
    configs : sequence of dataclass instances
        Repeated configurations (same hash) run once.
    fn : callable
        ``fn(config) -> result`` (JSON-able).  With ``jobs > 1`` it must be picklable
        (a module-level function) and is run in ``spawn``-started worker processes with
        one torch/BLAS thread each.
    cache : RunCache or None
        None runs everything and stores nothing.
    jobs : int
        Worker processes (1: run in this process).
    progress : bool
        A tqdm bar over the runs to execute (ETA), the cached count in its label.
    desc : str
        Label of the progress bar.

    Returns
    -------
    SweepResults
        Results in the order of ``configs`` (as read back from JSON), with
        ``executed`` and ``cached`` counts.

    Notes
    -----
    The parent writes each result as soon as its run finishes.  If a run raises (or
    the sweep is interrupted), finished results are already stored, pending runs are
    cancelled and the exception propagates; calling again runs only what is missing.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got jobs={jobs!r}")
    keys = [config_hash(c) for c in configs]
    results: dict[str, Any] = {}
    todo: dict[str, Any] = {}
    for key, config in zip(keys, configs):
        if key in results or key in todo:
            continue
        if cache is not None and cache.has(config):
            results[key] = cache.get(config)
        else:
            todo[key] = config
    n_cached = len(configs) - len(todo)

    def store(key: str, result: Any) -> None:
        if cache is not None:
            results[key] = cache.put(todo[key], result)
        else:
            results[key] = _as_stored(result)

    bar = tqdm(total=len(todo), desc=f"{desc} ({n_cached} cached)", unit="run", disable=not progress, leave=False)
    try:
        if jobs == 1 or len(todo) <= 1:
            for key, config in todo.items():
                store(key, fn(config))
                bar.update()
        else:
            _run_pool(todo, fn, store, bar, jobs)
    finally:
        bar.close()
    return SweepResults([results[k] for k in keys], executed=len(todo), cached=n_cached)
