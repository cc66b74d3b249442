"""Benchmark: deep queries of the eoc core, this tree against a git ref (default ``main``), in one process.

The ref's ``eoc`` package is extracted with ``git archive`` into a temporary directory
and imported as ``eoc_before`` (its core modules import each other relatively), so
both versions run side by side on the same loaded machine.  The "before" code is the
plain implementation a user would write: one quadrature per layer and per solver
step.  Timed (wall clock, best of ``--repeat`` for the short ones):

* ``correlation_iterates`` of tanh on its EOC (sigma_b = 0.2) to depth 1e4 and 1e5;
* ``variance_iterates`` of tanh at (1, 0), where q^l ~ 1/(2l) never settles, to 1e5;
* ``gradient_variances`` (the layer profile of SNIP's prediction) to depth 1e4 and 1e5;
* ``eoc_curve(num=1e5)``;
* SNIP's ``predict_critical_sparsity`` at depth 1e4 (split: layer profile vs the rest);
* ``python -m eoc prune-predict`` with 20 sparsities (a process each);
* ``chi_1`` on the 80 x 80 grid of E9 (a regression check for grids).

Accuracy is reported next to the speed: relative error on 1 - c^l against a 40-digit
mpmath iteration of the ReLU EOC map, and the EOC sigma_w against the mpmath references.
Writes ``bench/results/eoc_deep.json`` with machine, threads and dtype.  Not a test.

Run: ``python bench/bench_eoc_deep.py [--ref main] [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import eoc  # noqa: E402
from bench_eoc_curve import _time  # noqa: E402  (best-of-n wall clock, shared by the eoc benchmarks)

TANH_EOC = (1.3041458400565158, 0.2)


def _load_before(ref: str, tmp: Path):
    archive = subprocess.run(["git", "archive", ref, "eoc"], capture_output=True, cwd=ROOT, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    shutil.move(str(tmp / "eoc"), str(tmp / "eoc_before"))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("eoc_before")


def _relu_reference(depth: int) -> np.ndarray:
    import mpmath as mp

    mp.mp.dps = 40
    d = mp.mpf(1) - mp.mpf(0.3)
    out = [d]
    for _ in range(depth):
        th = 2 * mp.asin(mp.sqrt(d / 2))
        d = d - (mp.sin(th) - th * mp.cos(th)) / mp.pi
        out.append(d)
    return np.array([float(x) for x in out])


def _cli_seconds(pythonpath: str, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eoc", *args], capture_output=True, env=env, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="git ref of the 'before' code (default main)")
    ap.add_argument("--quick", action="store_true", help="depth 1e3 / curve 1e4 instead of 1e4-1e5")
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args(argv)
    big = 10_000 if ns.quick else 100_000
    mid = 1_000 if ns.quick else 10_000
    rows = []

    def record(name, depth, t_before, t_after, **extra):
        speed = (t_before / t_after) if (t_before and t_after) else None
        rows.append({"query": name, "size": depth, "before_s": t_before, "after_s": t_after, "speedup": speed, **extra})
        tb = f"{t_before:9.3f}" if t_before is not None else "      n/a"
        sp = f"{speed:8.1f}x" if speed else "      n/a"
        print(f"{name:44s} {depth:>8} {tb} {t_after:9.3f} {sp}  {extra if extra else ''}", flush=True)

    with tempfile.TemporaryDirectory() as tmpdir:
        old = _load_before(ns.ref, Path(tmpdir))
        print(f"{'query':44s} {'size':>8} {'before s':>9} {'after s':>9} {'speed-up':>9}")
        # correlation iterates on the tanh EOC
        tb, cb = _time(lambda: old.correlation_iterates(0.3, mid, "tanh", *TANH_EOC))
        ta, ca = _time(lambda: eoc.correlation_iterates(0.3, mid, "tanh", *TANH_EOC, gap=True), ns.repeat)
        record("correlation_iterates tanh EOC", mid, tb, ta, max_rel_diff_gap=float(np.max(np.abs(ca / (1 - cb) - 1))))
        ta, _ = _time(lambda: eoc.correlation_iterates(0.3, big, "tanh", *TANH_EOC, gap=True))
        record("correlation_iterates tanh EOC", big, None, ta)
        # accuracy on the ReLU EOC, against mpmath
        ref = _relu_reference(mid)
        tb, cb = _time(lambda: old.correlation_iterates(0.3, mid, "relu", np.sqrt(2), 0.0))
        ta, ga = _time(lambda: eoc.correlation_iterates(0.3, mid, "relu", np.sqrt(2), 0.0, gap=True), ns.repeat)
        record("correlation_iterates relu EOC", mid, tb, ta,
               err_before=float(np.max(np.abs((1 - cb) / ref - 1))), err_after=float(np.max(np.abs(ga / ref - 1))))
        # variance iterates in the neutral case
        tb, qb = _time(lambda: old.variance_iterates(2.0, big, "tanh", 1.0, 0.0))
        ta, qa = _time(lambda: eoc.variance_iterates(2.0, big, "tanh", 1.0, 0.0), ns.repeat)
        record("variance_iterates tanh (1, 0)", big, tb, ta, max_rel_diff=float(np.max(np.abs(qa / qb - 1))))
        # layer profiles
        for depth in (mid, big):
            widths = [100] * (depth + 1)
            tb, pb = _time(lambda: old.gradient_variances(widths, "tanh", *TANH_EOC))
            ta, pa = _time(lambda: eoc.gradient_variances(widths, "tanh", *TANH_EOC), ns.repeat)
            record("gradient_variances tanh EOC", depth, tb, ta, max_rel_diff_q=float(np.max(np.abs(pa.q / pb.q - 1))))
        # EOC curve
        n = big
        tb, cvb = _time(lambda: old.eoc_curve("tanh", num=n))
        ta, cva = _time(lambda: eoc.eoc_curve("tanh", num=n))
        record("eoc_curve tanh num", n, tb, ta, max_rel_diff_sigma_w=float(np.max(np.abs(cva.sigma_w / cvb.sigma_w - 1))))
        refs = json.loads((HERE / "data" / "tanh_eoc_mpmath.json").read_text())
        sb_ref = np.asarray(refs["sigma_b"], dtype=float)
        sw_ref = np.asarray(refs["sigma_w"], dtype=float)
        err_b = float(np.max(np.abs(old.eoc_curve("tanh", sigma_b=sb_ref).sigma_w / sw_ref - 1)))
        err_a = float(np.max(np.abs(eoc.eoc_curve("tanh", sigma_b=sb_ref).sigma_w / sw_ref - 1)))
        print(f"{'  tanh EOC sigma_w vs mpmath (200 points)':44s} max rel error before {err_b:.2e}, after {err_a:.2e}")
        rows.append({"query": "tanh EOC sigma_w vs mpmath", "size": 200, "err_before": err_b, "err_after": err_a})
        # SNIP prediction at depth 1e4: the layer profile is ours, the laws are eoc._pruning's
        widths = [100] * (mid + 1)
        tb, _ = _time(lambda: old.score_scales("snip", old.as_architecture(widths), "tanh", *TANH_EOC))
        ta, _ = _time(lambda: eoc.score_scales("snip", eoc.as_architecture(widths), "tanh", *TANH_EOC), ns.repeat)
        record("SNIP score scales (layer profile)", mid, tb, ta)
        tb, sb_ = _time(lambda: old.predict_critical_sparsity("snip", widths, "tanh", *TANH_EOC))
        ta, sa_ = _time(lambda: eoc.predict_critical_sparsity("snip", widths, "tanh", *TANH_EOC))
        record("predict_critical_sparsity snip (total)", mid, tb, ta, s_cr_before=sb_, s_cr_after=sa_)
        # the prune-predict command with 20 sparsities
        args = ["prune-predict", "--method", "snip", "--widths", "784,100x1999,10", "-a", "tanh", "--eoc",
                "--sigma-b", "0.2", "--sparsity", *[f"{s:.2f}" for s in np.linspace(0.05, 0.95, 20)]]
        tb = _cli_seconds(tmpdir + "/cli_before", args) if _prepare_cli(ns.ref, Path(tmpdir) / "cli_before") else None
        ta = _cli_seconds(str(ROOT), args)
        record("python -m eoc prune-predict, 20 sparsities", 2000, tb, ta)
        # grids (regression check)
        sb = np.linspace(0, 2, 80)
        sw = np.linspace(0.5, 4, 80)
        SB, SW = np.meshgrid(sb, sw)
        tb, _ = _time(lambda: old.chi_1("tanh", SW, SB))
        ta, _ = _time(lambda: eoc.chi_1("tanh", SW, SB), ns.repeat)
        record("chi_1 tanh on the 80x80 E9 grid", 6400, tb, ta)
    report = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg(), "python": platform.python_version(), "numpy": np.__version__},
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "dtype": "float64",
        "before_ref": ns.ref,
        "rows": rows,
    }
    out = HERE / "results" / "eoc_deep.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"machine: {report['machine']}; threads: {report['threads']}; wrote {out}")
    return report


def _prepare_cli(ref: str, where: Path) -> bool:
    """The ref's whole eoc package (named eoc) in ``where``, for a process of its CLI."""
    where.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "eoc"], capture_output=True, cwd=ROOT, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return True


if __name__ == "__main__":
    main()
