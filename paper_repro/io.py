"""File writes of paper_repro: atomic files and the JSON sanitiser (the project's one
implementation, :mod:`eoc._io`, re-exported), atomic folder publication, and small
table helpers (CSV and Markdown from rows of dicts).

Atomicity: a file is written to a uniquely named temporary file in its own folder
and renamed over the target (``os.replace``), so readers see the old or the new file,
never a part; concurrent writers of one path both succeed (the last rename wins).  A
folder of outputs is built under a unique staging name and swapped in by
:func:`publish_dir`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from eoc._io import atomic_write_bytes, atomic_write_text, read_json, to_jsonable, write_json  # one implementation

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
