"""Runs identified by their canonical configuration, their data and the results schema.

A run's configuration is a frozen dataclass.  Its canonical form (after open_lth's
``hparams``/``desc``) keeps only the fields whose value differs from the field's
default, plus the class name; nested dataclasses are reduced the same way.  So a new
option added later with a default that has no effect leaves every existing id, and with
it every cached run, valid.

The run id is the first 16 hex digits of the SHA-256 of the canonical JSON (sorted
keys, no whitespace) of the *identity* ``{"config": canonical form, "data": data
fingerprint, "schema": RESULTS_SCHEMA}``: two different copies of MNIST under two
``--data-dir`` give different runs (:func:`eoc.datasets.fingerprint`), and a change of
what a run stores (bump :data:`RESULTS_SCHEMA`) invalidates every old result.

:class:`RunCache` stores a finished run as one file, ``<root>/<id>/result.json``
(identity, full configuration and result), written atomically
(:func:`paper_repro.io.write_json`), so concurrent writers of one run on a shared disk
both succeed and a reader never sees a part.  A result that cannot be read back (a
truncated file, ``{}``, another run's id) is moved aside to
``result.json.corrupt-<time>-<pid>`` with a :class:`CorruptResultWarning` and counts as
missing, so the run is simply recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .io import read_json, to_jsonable, write_json

__all__ = [
    "HASH_CHARS",
    "RESULTS_SCHEMA",
    "CorruptResultWarning",
    "canonical_config",
    "config_hash",
    "run_identity",
    "run_id",
    "RunCache",
    "as_stored",
]

HASH_CHARS = 16
#: Version of what a run stores.  Bump it when a run function's result changes form or
#: meaning: every run id changes with it, so no old result is read as a new one.
#: 3: pruning scores SNIP/GraSP with BatchNorm in ``prune.bn_mode`` (default "eval"; it was
#: the fresh model's train mode) and masks are held by :func:`eoc.nn.register_mask_hook`.
RESULTS_SCHEMA = 3


class CorruptResultWarning(UserWarning):
    """A cached result could not be read back; it was moved aside and the run recomputes."""


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


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def config_hash(config: Any) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config`` alone."""
    return _digest(canonical_config(config))


def run_identity(config: Any, data: str | None = None) -> dict[str, Any]:
    """What identifies a run: canonical configuration, data fingerprint, results schema."""
    return {"config": canonical_config(config), "data": data, "schema": RESULTS_SCHEMA}


def run_id(config: Any, data: str | None = None) -> str:
    """First 16 hex digits of the SHA-256 of :func:`run_identity` (module docstring)."""
    return _digest(run_identity(config, data))


def as_stored(result: Any) -> Any:
    """``result`` as it reads back from JSON (tuples as lists, NaN as ``"nan"``, ...)."""
    return json.loads(json.dumps(to_jsonable(result)))


class RunCache:
    """Finished runs on disk, one folder per run id.

    Parameters
    ----------
    root : path
        Created on the first :meth:`put` (e.g. :func:`paper_repro.paths.cache_dir`).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunCache({str(self.root)!r})"

    def path(self, rid: str) -> Path:
        """``<root>/<id>/result.json``."""
        return self.root / rid / "result.json"

    def _set_aside(self, path: Path, why: str) -> None:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:  # another process moved it first
            return
        warnings.warn(
            f"corrupt cached result {path} ({why}); moved to {aside.name}, the run will be recomputed",
            CorruptResultWarning,
            stacklevel=3,
        )

    def get(self, rid: str) -> Any | None:
        """The stored result of run ``rid``; None if it has not run or its file is corrupt (moved aside)."""
        path = self.path(rid)
        if not path.is_file():
            return None
        try:
            record = read_json(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._set_aside(path, f"not JSON: {exc}")
            return None
        if not isinstance(record, dict) or "result" not in record or record.get("id") != rid:
            self._set_aside(path, "not a result record of this run")
            return None
        return record["result"]

    def has(self, rid: str) -> bool:
        """Whether run ``rid`` has a readable stored result."""
        return self.get(rid) is not None

    def put(self, rid: str, config: Any, result: Any, identity: dict[str, Any] | None = None) -> Any:
        """Store ``result`` (JSON-able) of ``config`` as run ``rid``; return it as it reads back.

        One atomic write of ``{"id", "identity", "config", "result"}``: the run is either
        absent or complete on disk.
        """
        stored = as_stored(result)
        record = {
            "id": rid,
            "identity": identity,
            "config": {"type": type(config).__qualname__, **dataclasses.asdict(config)},
            "result": stored,
        }
        write_json(self.path(rid), record)
        return stored
