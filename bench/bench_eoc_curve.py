"""Benchmark: the tanh EOC curve at 200 values of sigma_b, eoc versus a plain scipy.quad version.

Measures wall time and relative accuracy of sigma_w against mpmath references
(``bench/data/tanh_eoc_mpmath.json``, made by ``tests/_precompute/``), for

* ``eoc.eoc_curve("tanh", sigma_b=...)`` (vectorized sinh-mapped Gauss-Legendre and
  Chandrupatla root finding over the whole grid), and
* a straightforward implementation: for each sigma_b, ``scipy.optimize.brentq`` on
  :math:`q - E[\\phi^2]/E[\\phi'^2] - \\sigma_b^2` with each expectation by
  ``scipy.integrate.quad`` (default tolerances, then tight ones).

Run: ``python bench/bench_eoc_curve.py [--repeat 5]``.  Prints a table and writes
``bench/results/eoc_curve.json``.  Not a test: speed is never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import integrate, optimize

import eoc

HERE = Path(__file__).resolve().parent
REF = HERE / "data" / "tanh_eoc_mpmath.json"


def _expect_quad(g, q, tight):
    s = np.sqrt(q)
    kw = {"epsabs": 0.0, "epsrel": 1e-13, "limit": 200} if tight else {}
    f = lambda z: g(s * z) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)  # noqa: E731
    return integrate.quad(f, -np.inf, 0, **kw)[0] + integrate.quad(f, 0, np.inf, **kw)[0]


def quad_curve(sigma_b: np.ndarray, tight: bool) -> np.ndarray:
    """The same EOC by brentq over q with scipy.quad expectations, one sigma_b at a time."""
    m2 = lambda q: _expect_quad(lambda u: np.tanh(u) ** 2, q, tight)  # noqa: E731
    d2 = lambda q: _expect_quad(lambda u: (1 - np.tanh(u) ** 2) ** 2, q, tight)  # noqa: E731
    out = np.empty_like(sigma_b)
    for i, sb in enumerate(sigma_b):
        q = optimize.brentq(lambda q: q - m2(q) / d2(q) - sb * sb, 1e-12, 1e3, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        out[i] = 1.0 / np.sqrt(d2(q))
    return out


def _time(fn, repeat=1):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timing repeats (best of)")
    ns = ap.parse_args(argv)
    if not REF.exists():
        raise SystemExit(f"missing {REF}: run tests/_precompute/ to make the mpmath references")
    ref = json.loads(REF.read_text())
    sb = np.asarray(ref["sigma_b"], dtype=float)
    sw_ref = np.asarray(ref["sigma_w"], dtype=float)
    rows = {}
    t, sw = _time(lambda: eoc.eoc_curve("tanh", sigma_b=sb).sigma_w, ns.repeat)
    rows["eoc"] = (t, sw)
    rows["scipy quad (default tol)"] = _time(lambda: quad_curve(sb, tight=False), 1)
    rows["scipy quad (epsrel 1e-13)"] = _time(lambda: quad_curve(sb, tight=True), 1)
    report = {"n_points": int(sb.size), "sigma_b_range": [float(sb.min()), float(sb.max())], "methods": {}}
    print(f"tanh EOC at {sb.size} values of sigma_b in [{sb.min():g}, {sb.max():g}]")
    print(f"{'method':28s} {'time (s)':>10s} {'max rel err':>12s} {'speed-up':>9s}")
    for name, (t, sw) in rows.items():
        err = float(np.max(np.abs(sw - sw_ref) / sw_ref))
        speed = t / rows["eoc"][0]
        report["methods"][name] = {"seconds": t, "max_rel_error": err, "eoc_speedup": speed}
        print(f"{name:28s} {t:10.4f} {err:12.2e} {speed:8.1f}x")
    out = HERE / "results" / "eoc_curve.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
