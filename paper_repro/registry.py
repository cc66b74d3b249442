"""The experiments behind the static table, and the context an experiment writes through.

An experiment is one module under :mod:`paper_repro.experiments` (named in
:mod:`paper_repro.catalog`) that calls :func:`register` with

* ``profiles``: ``{"quick": cfg, "full": cfg}``, frozen keyword-only dataclasses
  composed of the specs of :mod:`paper_repro.config` (quick = CPU, embedded data,
  minutes; full = GPU, paper scale);
* ``run(cfg, ctx) -> numbers``: computes, writes figures, tables and raw data through
  ``ctx`` (:class:`Context`), and returns every number its summary states (a JSON-able
  dict with a ``"verdict"`` from :func:`paper_repro.verdicts.verdict`);
* ``summarize(numbers) -> Summary``: the setting and findings lines of ``summary.md``,
  a pure function of ``numbers.json`` as read back from disk
  (:func:`paper_repro.summary.write_summary`);
* optionally ``runs(cfg) -> list``: every run configuration its sweeps will execute
  (the :class:`paper_repro.runs.PruneRun` s of the pruning experiments), without
  running anything; the cost plan (:mod:`paper_repro.cost`) counts and times them.

Title, claim and the part of the paper come from the table, never from the module.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import catalog
from .io import atomic_write_text, read_json, rows_to_csv, rows_to_markdown, write_json

__all__ = ["PROFILES", "Summary", "Experiment", "Context", "register", "list_experiments", "get_experiment", "read_manifest"]

PROFILES = ("quick", "full")
_REGISTRY: dict[str, "Experiment"] = {}


@dataclass(frozen=True)
class Summary:
    """The experiment-specific lines of ``summary.md`` (the rest comes from the table and the verdict)."""

    setting: list[str]
    findings: list[str]


@dataclass(frozen=True)
class Experiment:
    """One figure/table of the paper: its table entry, profiles, run and summary functions."""

    entry: catalog.Entry
    profiles: Mapping[str, Any]
    run: Callable[[Any, "Context"], dict]
    summarize: Callable[[dict], Summary]
    runs: Callable[[Any], list] | None = None

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def title(self) -> str:
        return self.entry.title

    @property
    def claim(self) -> str:
        return self.entry.claim

    @property
    def needs_torch(self) -> bool:
        return self.entry.needs_torch

    def config(self, profile: str, overrides: Mapping[str, Any] | None = None) -> Any:
        """The configuration of ``profile`` with ``overrides`` applied (:func:`paper_repro.config.apply_overrides`)."""
        from .config import apply_overrides

        if profile not in self.profiles:
            raise ValueError(f"experiment {self.id} has no profile {profile!r}; choose from {sorted(self.profiles)}")
        return apply_overrides(self.profiles[profile], overrides or {}, where=f"experiment {self.id}")


def register(
    exp_id: str,
    *,
    profiles: Mapping[str, Any],
    summarize: Callable[[dict], Summary],
    runs: Callable[[Any], list] | None = None,
) -> Callable:
    """Decorator registering ``run(cfg, ctx) -> numbers`` as the experiment ``exp_id`` of the table.

    ``runs(cfg)`` lists the run configurations of the experiment's sweeps (module docstring).
    """
    entry = catalog.entry(exp_id)
    missing = set(PROFILES) - set(profiles)
    if missing:
        raise ValueError(f"experiment {exp_id} lacks profiles {sorted(missing)}")
    for name, cfg in profiles.items():
        if not is_dataclass(cfg):
            raise TypeError(f"profile {name!r} of {exp_id} must be a dataclass instance, got {type(cfg).__name__}")

    def wrap(run: Callable) -> Callable:
        _REGISTRY[entry.id] = Experiment(entry, dict(profiles), run, summarize, runs)
        return run

    return wrap


def get_experiment(exp_id: str) -> Experiment:
    """The registered experiment ``exp_id`` (imports its module)."""
    entry = catalog.entry(exp_id)
    if entry.id not in _REGISTRY:
        importlib.import_module(f"{__package__}.experiments.{entry.module}")
    if entry.id not in _REGISTRY:  # pragma: no cover - a module that forgot to register
        raise RuntimeError(f"module experiments.{entry.module} did not register {entry.id}")
    return _REGISTRY[entry.id]


def list_experiments() -> list[Experiment]:
    """Every experiment of the table, in order (imports every module)."""
    return [get_experiment(i) for i in catalog.ids()]


@dataclass
class Context:
    """Where and how an experiment runs, and the recorder of what it writes.

    Attributes
    ----------
    exp_id, profile : str
    outdir : Path
        The experiment's (staging) output folder.
    device : str
        ``"cpu"`` or ``"cuda"``.
    data_dir : Path or None
        Real datasets for full profiles (``--data-dir``).
    jobs : int
        Worker processes for sweeps.
    threads : int
        torch intra-op threads while the experiment runs (set and restored by the runner).
    cache_dir : Path or None
        Run cache root.
    progress : bool
        Show progress bars.
    executor : paper_repro.executor.Executor or None
        Where sweep runs execute (None: this process, or ``jobs`` local workers).
    loader_workers : int
        Data-loading worker processes per training run (0: batches cut on the device).
    outputs : list of dict
        Every file written, with its kind and caption (``manifest.json``).
    data : dict
        ``{dataset name: fingerprint}`` of the data the runs read.
    runs : dict
        Runs ``executed`` and found ``cached`` by the sweeps.
    """

    exp_id: str
    profile: str
    outdir: Path
    device: str = "cpu"
    data_dir: Path | None = None
    jobs: int = 1
    threads: int = 1
    cache_dir: Path | None = None
    progress: bool = True
    executor: Any = None
    loader_workers: int = 0
    outputs: list[dict] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=lambda: {"executed": 0, "cached": 0})
    started: float = field(default_factory=time.time)

    def _record(self, kind: str, paths: Iterable[Path], caption: str) -> None:
        self.outputs.append(
            {"kind": kind, "files": [str(Path(p).relative_to(self.outdir)) for p in paths], "caption": caption}
        )

    def figure(self, fig, name: str, caption: str) -> None:
        """Save a matplotlib figure as ``<name>.png`` and ``<name>.pdf``."""
        from .style import save_figure

        self._record("figure", save_figure(fig, self.outdir / name), caption)

    def table(self, rows: list[Mapping[str, Any]], name: str, caption: str, digits: int = 4) -> None:
        """Write rows as ``<name>.csv`` and ``<name>.md``."""
        csv_path = atomic_write_text(self.outdir / f"{name}.csv", rows_to_csv(rows))
        md_path = atomic_write_text(self.outdir / f"{name}.md", f"{caption}\n\n" + rows_to_markdown(rows, digits))
        self._record("table", [csv_path, md_path], caption)

    def data_file(self, obj: Any, name: str, caption: str) -> None:
        """Write raw data behind a figure as ``<name>.json``."""
        self._record("data", [write_json(self.outdir / f"{name}.json", obj)], caption)

    def csv(self, rows: list[Mapping[str, Any]], name: str, caption: str) -> None:
        """Write raw data rows as ``<name>.csv`` (no Markdown twin)."""
        self._record("data", [atomic_write_text(self.outdir / f"{name}.csv", rows_to_csv(rows))], caption)

    def sweep(
        self,
        configs: Sequence[Any],
        fn: Callable[[Any], Any],
        desc: str,
        *,
        dataset: Callable[[Any], str | None] | None = None,
    ) -> list[Any]:
        """Run ``fn`` over ``configs`` through the run cache (:func:`paper_repro.executor.run_sweep`).

        ``dataset(config)`` names the dataset a run reads (its fingerprint becomes part
        of the run id and is recorded in the manifest); None for runs without data.
        """
        from .cache import RunCache
        from .executor import run_sweep

        def data(config: Any) -> str | None:
            name = dataset(config) if dataset is not None else None
            if name is None:
                return None
            if name not in self.data:
                from eoc.datasets import fingerprint

                self.data[name] = fingerprint(name, self.data_dir)
            return self.data[name]

        cache = RunCache(self.cache_dir) if self.cache_dir is not None else None
        out = run_sweep(
            configs, fn, cache, data=data, jobs=self.jobs, executor=self.executor, progress=self.progress, desc=desc
        )
        self.runs["executed"] += out.executed
        self.runs["cached"] += out.cached
        return list(out)


def read_manifest(outdir: Path) -> dict | None:
    """``<outdir>/manifest.json``, or None if the experiment was never run there."""
    path = Path(outdir) / "manifest.json"
    return read_json(path) if path.exists() else None
