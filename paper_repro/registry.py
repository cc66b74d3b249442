"""The experiment registry and the context an experiment writes its outputs through.

An experiment is one module under :mod:`paper_repro.experiments` that calls
:func:`register` with

* an id (``"E9"``), a title and the paper's claim it tests;
* ``profiles``: ``{"quick": cfg, "full": cfg}``, frozen dataclasses of its settings
  (quick = CPU, embedded data, minutes; full = GPU, paper scale);
* ``run(cfg, ctx)``: computes, then writes every output through ``ctx``
  (:class:`Context`): figures (PNG + PDF), tables (CSV + Markdown), raw data
  (JSON/CSV) and ``summary.md``.  ``ctx`` records each output with its caption in
  ``figures/<ID>/manifest.json``, from which ``figures/README.md`` is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .io import atomic_write_text, read_json, rows_to_csv, rows_to_markdown, write_json

__all__ = ["Experiment", "Context", "register", "list_experiments", "get_experiment", "read_manifest", "PROFILES"]

PROFILES = ("quick", "full")
_REGISTRY: dict[str, "Experiment"] = {}


@dataclass(frozen=True)
class Experiment:
    """One figure/table of the paper (see module docstring)."""

    id: str
    title: str
    claim: str
    profiles: Mapping[str, Any]
    run: Callable[[Any, "Context"], None]
    needs_torch: bool = False

    def config(self, profile: str, **overrides) -> Any:
        if profile not in self.profiles:
            raise ValueError(f"experiment {self.id} has no profile {profile!r}; choose from {sorted(self.profiles)}")
        cfg = self.profiles[profile]
        fields = {f.name for f in dataclasses.fields(cfg)}
        unknown = set(overrides) - fields
        if unknown:
            raise ValueError(f"experiment {self.id}: unknown settings {sorted(unknown)}")
        return dataclasses.replace(cfg, **overrides) if overrides else cfg


def register(
    id: str, *, title: str, claim: str, profiles: Mapping[str, Any], needs_torch: bool = False
) -> Callable[[Callable], Callable]:
    """Decorator registering ``run(cfg, ctx)`` as experiment ``id``."""
    missing = set(PROFILES) - set(profiles)
    if missing:
        raise ValueError(f"experiment {id} lacks profiles {sorted(missing)}")

    def wrap(run):
        _REGISTRY[id] = Experiment(id, title, claim, dict(profiles), run, needs_torch)
        return run

    return wrap


def _load_all() -> None:
    pkg = importlib.import_module(f"{__package__}.experiments")

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def list_experiments() -> list[Experiment]:
    """Every registered experiment, sorted by id (E1, E2, ..., E9)."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY, key=lambda s: (len(s), s))]


def get_experiment(exp_id: str) -> Experiment:
    _load_all()
    key = exp_id.upper()
    if key not in _REGISTRY:
        raise ValueError(f"unknown experiment {exp_id!r}; available: {', '.join(e.id for e in list_experiments())}")
    return _REGISTRY[key]


@dataclass
class Context:
    """Where and how an experiment runs, and the recorder of what it writes.

    Attributes
    ----------
    exp_id, profile : str
    outdir : Path
        ``figures/<ID>/``.
    device : str
        ``"cpu"`` or ``"cuda"``.
    data_dir : Path or None
        Real datasets for full profiles.
    seeds : int or None
        Number of seeds (None: the profile's default).
    jobs : int
        Parallel worker processes for sweeps.
    threads : int
        torch intra-op threads while the experiment runs, set (and restored after) by
        :func:`paper_repro.runner.run_experiment`; worker processes of a sweep use one.
    cache_dir : Path or None
        Run cache root (finished runs by configuration hash).
    progress : bool
        Show progress bars.
    """

    exp_id: str
    profile: str
    outdir: Path
    device: str = "cpu"
    data_dir: Path | None = None
    seeds: int | None = None
    jobs: int = 1
    threads: int = 1
    cache_dir: Path | None = None
    progress: bool = True
    config: Any = None
    verdict: str | None = None
    outputs: list[dict] = field(default_factory=list)
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

    def data(self, obj: Any, name: str, caption: str) -> None:
        """Write raw data behind a figure as ``<name>.json``."""
        self._record("data", [write_json(self.outdir / f"{name}.json", obj)], caption)

    def csv(self, rows: list[Mapping[str, Any]], name: str, caption: str) -> None:
        """Write raw data rows as ``<name>.csv`` (no Markdown twin)."""
        self._record("data", [atomic_write_text(self.outdir / f"{name}.csv", rows_to_csv(rows))], caption)

    def summary(self, claim: str, findings: list[str], verdict: str) -> None:
        """Write ``summary.md``: the paper's claim, our numbers, and whether they support it."""
        lines = [f"# {self.exp_id} ({self.profile} profile)", "", f"**Claim tested.** {claim}", "", "**What we measured.**", ""]
        lines += [f"- {f}" for f in findings]
        lines += ["", f"**Verdict.** {verdict}", ""]
        path = atomic_write_text(self.outdir / "summary.md", "\n".join(lines))
        self._record("summary", [path], "claim, numbers and verdict")
        self.verdict = verdict

    def write_manifest(self, exp: Experiment) -> Path:
        cfg = dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else self.config
        return write_json(
            self.outdir / "manifest.json",
            {
                "id": exp.id,
                "title": exp.title,
                "claim": exp.claim,
                "profile": self.profile,
                "device": self.device,
                "threads": self.threads,
                "config": cfg,
                "seconds": round(time.time() - self.started, 2),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
                "verdict": self.verdict,
                "outputs": self.outputs,
            },
        )


def read_manifest(outdir: Path) -> dict | None:
    path = Path(outdir) / "manifest.json"
    return read_json(path) if path.exists() else None
