"""``python -m eoc`` as a real process: closed pipes, --version, a one-line error (eoc._cli manners)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import eoc

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(args, **kw):
    return subprocess.run([sys.executable, "-m", "eoc", *args], capture_output=True, text=True, env=ENV, cwd=ROOT, **kw)


def test_closed_pipe_ends_quietly():
    """``python -m eoc eoc --curve --num 3000 | head -2``: status 0, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "eoc", "eoc", "-a", "erf", "--curve", "--num", "3000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=ROOT,
    )
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, like `head`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert first.strip() == b"{" and "Traceback" not in err and "BrokenPipe" not in err


def test_version():
    res = _run(["--version"])
    assert res.returncode == 0 and eoc.__version__ in res.stdout


def test_a_bad_flag_is_one_line_with_status_2():
    res = _run(["prune-predict", "--method", "snip", "--widths", "784,100x-5,10", "--sigma-w", "1"])
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "--widths" in lines[0] and "100x-5" in lines[0]
