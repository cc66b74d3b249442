"""Atomic file writes and small table helpers (CSV and Markdown from rows of dicts)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Iterable, Mapping, Sequence

from eoc._io import atomic_write_bytes, atomic_write_text, read_json, to_jsonable, write_json  # one implementation

__all__ = ["atomic_write_text", "atomic_write_bytes", "write_json", "read_json", "rows_to_csv", "rows_to_markdown", "to_jsonable"]


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
