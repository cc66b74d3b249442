"""The one place for file writes: atomic files, atomic folder publication, the JSON
sanitiser, and small table helpers (CSV and Markdown from rows of dicts).

Atomicity: a file is written to a uniquely named temporary file in its own folder
and renamed over the target (:func:`os.replace`), so readers see the old or the new
file, never a part; concurrent writers of one path both succeed (the last rename
wins).  A folder of outputs is built under a unique staging name and swapped in by
:func:`publish_dir`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = [
    "atomic_write_text",
    "atomic_write_bytes",
    "write_json",
    "read_json",
    "publish_dir",
    "staging_dir",
    "rows_to_csv",
    "rows_to_markdown",
    "to_jsonable",
]


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def staging_dir(parent: Path, name: str) -> Path:
    """A new, uniquely named hidden folder ``<parent>/.<name>.staging-<pid>-<random>`` (one per process and call)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.staging-{os.getpid()}-"))


def publish_dir(staging: Path, final: Path, attempts: int = 20) -> Path:
    """Move the finished folder ``staging`` to ``final``, replacing a previous ``final``.

    The old folder is first renamed to a unique hidden name and deleted after the new
    one is in place, so ``final`` is at every moment absent, the old folder or the new
    one, never a mixture.  Two processes publishing to one ``final`` both succeed (the
    last one wins); a race with the other's rename is retried.
    """
    staging, final = Path(staging), Path(final)
    for _ in range(attempts):
        try:
            os.rename(staging, final)
            return final
        except OSError:
            if not final.exists():  # pragma: no cover - raced with another publisher's move
                continue
        trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-{os.getpid()}-"))
        try:
            os.rename(final, trash / final.name)
        except FileNotFoundError:  # pragma: no cover - another publisher moved it first
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    raise OSError(f"could not publish {staging} as {final} after {attempts} attempts (concurrent writers?)")


def to_jsonable(obj: Any) -> Any:
    """Plain-JSON version of numpy scalars/arrays, dataclasses, paths, tuples; inf/nan become strings.

    The one JSON sanitiser of paper_repro: every JSON file is written through it.
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        np = None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.generic):
            obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` (through :func:`to_jsonable`) as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Parse the JSON file ``path``."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols:
                cols.append(key)
    return cols


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return "" if value is None else str(value)


def rows_to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    rows = list(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def rows_to_markdown(rows: Iterable[Mapping[str, Any]], digits: int = 4) -> str:
    rows = list(rows)
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c), digits) for c in cols) + " |")
    return "\n".join(lines) + "\n"
