"""``numbers.json`` and the ``summary.md`` rendered from it.

An experiment returns its numbers; :func:`write_summary` writes them to
``numbers.json``, reads the file back, and renders ``summary.md`` from what it read:
the table's title, the part of the paper and the claim (:mod:`paper_repro.catalog`),
then the experiment's setting and findings (its ``summarize(numbers)``), then the
verdict and its expectations (:mod:`paper_repro.verdicts`).  Every number in the
setting, findings and verdict sections therefore comes from ``numbers.json`` (the test
suite re-reads each one there); ``python -m paper_repro report`` re-renders every
summary from disk without computing anything.

Formatting: :func:`num` writes a number with 4 significant digits (``:.4g``); a
summary states values in the units stored in ``numbers.json``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .io import atomic_write_text, read_json, write_json

__all__ = ["num", "nums", "pm", "training", "render", "write_summary", "verdict_label", "unsourced_numbers"]


def num(value: Any, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits (integers as they are; None and NaN as ``n/a``)."""
    if value is None or value == "nan":
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.{digits}g}"


def pm(mean: Any, se: Any, digits: int = 4) -> str:
    """``"mean ± se"`` (or ``"mean"`` when the standard error is undefined)."""
    text = num(se, digits)
    return num(mean, digits) if text in ("n/a", "nan") else f"{num(mean, digits)} ± {text}"


def nums(values: Any) -> str:
    """``values`` as ``"a, b, c"`` through :func:`num`."""
    return ", ".join(num(v) for v in values)


def training(t: dict) -> str:
    """A :class:`~paper_repro.config.TrainSpec` (as stored in ``numbers.json``) in words."""
    return (
        f"{t['epochs']} epochs of SGD (lr {num(t['lr'])}, {t['schedule']} schedule, batch {t['batch_size']}, momentum "
        f"{num(t['momentum'])}, weight decay {num(t['weight_decay'])}, augmentation {t['augment']})"
    )


def verdict_label(numbers: dict) -> str:
    """The verdict label stored in ``numbers["verdict"]``."""
    return str(numbers.get("verdict", {}).get("verdict", "Inconclusive"))


def _verdict_lines(v: dict) -> list[str]:
    lines = [
        f"**Verdict: {v['verdict']}.** Of {v['count']} expectations, {v['holds']} hold, {v['fails']} fail and "
        f"{v['undecided']} are undecided; tolerance = Z x SE + model error with Z = {num(v['z'])} "
        "(proofs_check's comparison).",
        "",
        "| expectation | quantity | sense | predicted (or null) | measured | SE | tolerance | n | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in v["expectations"]:
        outcome = e["outcome"] + (f" ({e['reason']})" if e["reason"] else "")
        cell = {k: str(e[k]).replace("|", "\\|") for k in ("statement", "quantity")}
        lines.append(
            f"| {cell['statement']} | {cell['quantity']} | {e['sense']} | {num(e['predicted'])} | {num(e['measured'])} | "
            f"{num(e['stderr'])} | {num(e['tolerance'])} | {e['n']} | {outcome} |"
        )
    return lines


def render(exp: Any, profile: str, numbers: dict) -> str:
    """The text of ``summary.md`` from the numbers as read back from ``numbers.json``."""
    s = exp.summarize(numbers)
    lines = [
        f"# {exp.id} ({profile} profile): {exp.title}",
        "",
        f"**Rebuilds.** {exp.entry.paper}.",
        "",
        f"**Claim tested.** {exp.claim}",
        "",
        "## Setting",
        "",
        *[f"- {line}" for line in s.setting],
        "",
        "## Numbers",
        "",
        *[f"- {line}" for line in s.findings],
        "",
        "## Verdict",
        "",
        *_verdict_lines(numbers["verdict"]),
        "",
    ]
    return "\n".join(lines)


def write_summary(exp: Any, ctx: Any, numbers: dict) -> str:
    """Write ``numbers.json``, read it back, render ``summary.md`` from it; return the verdict label."""
    if "verdict" not in numbers:
        raise ValueError(f"experiment {exp.id} returned numbers without a 'verdict' (paper_repro.verdicts.verdict)")
    path = write_json(Path(ctx.outdir) / "numbers.json", numbers)
    ctx._record("data", [path], "every number of summary.md (the summary is rendered from this file)")
    stored = read_json(path)
    summary = atomic_write_text(Path(ctx.outdir) / "summary.md", render(exp, ctx.profile, stored))
    ctx._record("summary", [summary], "claim tested, part of the paper, setting, numbers and verdict")
    return verdict_label(stored)


# A number written in prose: not part of an identifier (E9, ResNet32, chi_1, q^0, x0.5).
_NUMBER = re.compile(r"(?<![\w.^])[-+]?(?:\d+\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d)")
_CODE = re.compile(r"`[^`]*`")
#: Section citations (``docs/theory.md §8.6``) are references, not numbers.
_SECTION = re.compile(r"§\s?\d+(?:\.\d+)*")


def _values(obj: Any) -> Iterator[float]:
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        if math.isfinite(obj):
            yield abs(float(obj))
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _values(v)


def _resolution(token: str) -> float:
    """Half a unit of the last digit written."""
    mantissa, _, exponent = token.lower().lstrip("+-").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def unsourced_numbers(summary: str, numbers: dict) -> list[str]:
    """Every number of the Setting, Numbers and Verdict sections of ``summary`` that is not
    the rounding of a value in ``numbers`` (signs ignored); formulas in backticks and section
    citations (``§8.6``) are skipped.

    An empty list means every stated number comes from ``numbers.json``.
    """
    body = summary.split("## Setting", 1)[-1]
    values = sorted(set(_values(numbers)))
    arr = np.asarray(values)
    missing = []
    for line in body.splitlines():
        text = _SECTION.sub(" ", _CODE.sub(" ", line))
        for m in _NUMBER.finditer(text):
            t = abs(float(m.group()))
            tol = _resolution(m.group()) * (1 + 1e-9) + 1e-300
            if not arr.size or float(np.min(np.abs(arr - t))) > tol:
                missing.append(f"{m.group()!r} in: {line.strip()[:160]}")
    return missing
