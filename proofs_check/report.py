"""Verdict table (terminal), ``report.json`` and ``report.md`` (torch-free)."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from eoc._io import atomic_write_text, write_json

from .results import ClaimResult, RunConfig
from .verdict import MODEL_ERRORS, VERDICTS, Z, false_alarm_probability

__all__ = ["format_table", "render_markdown", "write_reports", "environment"]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def format_table(results: list[ClaimResult]) -> str:
    """A fixed-width verdict table: id, verdict, comparisons passed, worst comparison, seconds."""
    rows = [("claim", "verdict", "passed", "worst comparison (predicted vs measured +- tol)", "s")]
    for r in results:
        w = r.worst
        worst = "" if w is None else f"{w.quantity}: {_fmt(w.predicted)} vs {_fmt(w.measured)} +- {_fmt(w.tolerance)}"
        n_ok = sum(c.passed for c in r.comparisons)
        rows.append((r.id, r.verdict, f"{n_ok}/{len(r.comparisons)}", worst[:100], f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def environment(device: str) -> dict:
    """Machine, library versions, threads and device of the run (torch details if torch is loaded)."""
    env = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "device": device,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            env["gpu"] = torch.cuda.get_device_name(0)
    return env


def _summary(results: list[ClaimResult]) -> dict:
    n = sum(len(r.comparisons) for r in results)
    return {
        **{v: sum(r.verdict == v for r in results) for v in VERDICTS},
        "comparisons": n,
        "false_alarm_probability": false_alarm_probability(n),
    }


def render_markdown(results: list[ClaimResult], config: RunConfig, summary: dict, pending: list[str], finished: str) -> str:
    """The Markdown report: the verdict table, then every claim's comparisons and notes."""
    counts = ", ".join(f"{v}: {summary[v]}" for v in VERDICTS)
    md = [
        f"# proofs_check report ({config.profile} profile)",
        "",
        f"Seed {config.seed}, {config.dtype}, device `{config.device}`, written {finished}. {counts}.",
        "",
        f"Tolerance of every comparison: {Z:g} standard errors + its model error + 1e-12 relative. With "
        f"{summary['comparisons']} comparisons, the chance that a run of true claims shows a FAIL by sampling "
        f"noise alone is {summary['false_alarm_probability']:.2g}. Model-error allowances (proofs_check/verdict.py): "
        + ", ".join(f"{k} = {v}" for k, v in MODEL_ERRORS.items())
        + ".",
        "",
    ]
    if pending:
        md += [f"**Incomplete run**: not yet run: {', '.join(pending)}.", ""]
    md += ["```", format_table(results), "```", ""]
    for r in results:
        md += [
            f"## {r.id}: {r.verdict}",
            "",
            f"**{r.title}.** {r.statement}",
            "",
            f"Seed {r.seed}, device `{r.device}`, {r.dtype}, started {r.started}, {r.seconds:.1f} s. Sizes: `{r.sizes}`.",
            "",
            "| quantity | predicted | measured | s.e. | tolerance | allowance | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in r.comparisons:
            allowance = f"{c.allowance} = {c.model_error:g}" if c.allowance else ""
            verdict = c.verdict if c.verdict == "PASS" else f"**{c.verdict}**"
            md.append(
                f"| {c.quantity} | {_fmt(c.predicted)} | {_fmt(c.measured)} | {_fmt(c.stderr)} | {_fmt(c.tolerance)} "
                f"| {allowance} | {verdict} |"
            )
        md += [""] + [f"- {n}" for n in r.notes] + [f"- inconclusive: {n}" for n in r.reasons]
        md.append("")
    return "\n".join(md)


def write_reports(results: list[ClaimResult], out_dir: Path, *, config: RunConfig, pending: list[str] = ()) -> tuple[Path, Path]:
    """Write ``report.json`` (every field of every claim) and ``report.md``, atomically."""
    out_dir = Path(out_dir)
    pending = list(pending)
    finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    summary = _summary(results)
    payload = {
        **config.as_dict(),
        "written": finished,
        "complete": not pending,
        "pending": pending,
        "environment": environment(config.device),
        "z": Z,
        "model_errors": MODEL_ERRORS,
        "summary": summary,
        "claims": [r.as_dict() for r in results],
    }
    json_path = write_json(out_dir / "report.json", payload)
    md_path = atomic_write_text(out_dir / "report.md", render_markdown(results, config, summary, pending, finished))
    return json_path, md_path
