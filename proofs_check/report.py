"""Verdict table (terminal), ``report.json`` and ``report.md``."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from .registry import ClaimResult

__all__ = ["format_table", "write_reports"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def format_table(results: list[ClaimResult]) -> str:
    """A fixed-width verdict table: id, verdict, comparisons passed, worst comparison, seconds."""
    rows = [("claim", "verdict", "passed", "worst comparison (predicted vs measured +- tol)", "s")]
    for r in results:
        w = r.worst
        worst = "" if w is None else f"{w.quantity}: {_fmt(w.predicted)} vs {_fmt(w.measured)} +- {_fmt(w.tolerance)}"
        n_ok = sum(c.passed for c in r.comparisons)
        rows.append((r.id, r.verdict, f"{n_ok}/{len(r.comparisons)}", worst[:90], f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _environment(device: str) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def write_reports(results: list[ClaimResult], out_dir: Path, *, profile: str, device: str, seed: int) -> tuple[Path, Path]:
    """Write ``report.json`` (every field of every claim) and ``report.md`` (tables per claim)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "profile": profile,
        "seed": seed,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "environment": _environment(device),
        "summary": {v: sum(r.verdict == v for r in results) for v in ("PASS", "FAIL", "INCONCLUSIVE")},
        "claims": [r.as_dict() for r in results],
    }

    def _clean(o):
        if isinstance(o, float) and (o != o or o in (float("inf"), float("-inf"))):
            return str(o)
        if isinstance(o, dict):
            return {k: _clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [_clean(v) for v in o]
        return o

    json_path = out_dir / "report.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(payload), indent=2))
    tmp.replace(json_path)

    md = [
        f"# proofs_check report ({profile} profile)",
        "",
        f"Seed {seed}, device `{device}`, finished {payload['finished']}. "
        + ", ".join(f"{k}: {v}" for k, v in payload["summary"].items()),
        "",
        "```",
        format_table(results),
        "```",
        "",
    ]
    for r in results:
        md += [f"## {r.id}: {r.verdict}", "", f"**{r.title}.** {r.statement}", "", f"Sizes: `{r.sizes}`; {r.seconds:.1f} s.", ""]
        md += ["| quantity | predicted | measured | s.e. | tolerance | ok |", "|---|---|---|---|---|---|"]
        for c in r.comparisons:
            mark = "yes" if c.passed else "**no**"
            if c.passed and not c.informative:
                mark = "yes (uninformative)"
            md.append(f"| {c.quantity} | {_fmt(c.predicted)} | {_fmt(c.measured)} | {_fmt(c.stderr)} | {_fmt(c.tolerance)} | {mark} |")
        if r.notes:
            md += [""] + [f"- {n}" for n in r.notes]
        md.append("")
    md_path = out_dir / "report.md"
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md))
    tmp.replace(md_path)
    return json_path, md_path
