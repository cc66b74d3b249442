"""Speed and memory of the critical-sparsity predictions (eoc._pruning, eoc._finite).

Run from the repository root::

    .venv/bin/python bench/bench_pruning_theory.py        # writes bench/data/bench_pruning_theory.json

* **Call time at depth 100** (SNIP, tanh FFNN 784-100x99-10 on the EOC, sigma_b = 0.2):
  the finite model with 128 (default) and 256 virtual networks against the iid model,
  warm (minimum of 7 calls in one process, tables built) and cold (first call in a fresh
  process, tables included).
* **Memory and time in depth** (each in a fresh process, peak RSS from ``getrusage``, which
  includes the ~180 MB of the interpreter and libraries): the iid estimator on the
  magnitude scales of ``[10] * (L + 1)`` at L = 1e4 and 1e5, side by side with the previous
  estimator (all layers at once on 1,536 nodes, kept here as ``_old_expected_scr``) at
  L = 1e4 (at 1e5 it needed 14.5 GB, issue 8); the whole call
  ``predict_critical_sparsity("magnitude", [10] * (L + 1), ...)``, which also builds the
  :class:`eoc.Architecture`; and the finite SNIP model at L = 1e4.

Machine, threads and dtype (float64) are recorded with the results.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "data" / "bench_pruning_theory.json"


def _old_expected_scr(law, a, m):
    """The estimator before issue 10: every layer at once on 16 x 96 nodes between tight bounds."""
    gl_x, gl_w = np.polynomial.legendre.leggauss(96)
    total = np.sum(m)
    lo = float(np.min(a * law.isf(np.minimum(40.0 / m, 0.5))))
    hi = float(np.min(a * law.isf(1e-8 / m)))
    edges = np.linspace(lo, hi, 17)
    half = 0.5 * np.diff(edges)
    t = ((0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * gl_x[None, :]).ravel()
    w = (half[:, None] * gl_w[None, :]).ravel()
    x = t[:, None] / a[None, :]
    survival = np.prod(-np.expm1(m * np.log1p(-law.sf(x))), axis=1)
    ds = np.sum(m * law.pdf(x) / a, axis=1) / total
    return float(np.sum(m * law.cdf(lo / a)) / total) + float(np.sum(w * ds * survival))


CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
import eoc
job, depth = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
a, m = np.full(depth, 10**-0.5), np.full(depth, 100.0)  # the magnitude scales of [10] * (depth + 1)
if job == "estimator-new":
    s = eoc.critical_sparsity_from_scales("magnitude", a, m).s_cr
elif job == "estimator-old":
    sys.path.insert(0, {bench!r})
    from bench_pruning_theory import _old_expected_scr
    s = _old_expected_scr(eoc.HalfNormal(), a, m)
elif job == "magnitude-end-to-end":
    s = eoc.predict_critical_sparsity("magnitude", [10] * (depth + 1), "tanh", 1.0, 0.0)
elif job == "snip-finite":
    s = eoc.predict_critical_sparsity("snip", [784] + [100] * (depth - 1) + [10], "tanh",
                                      float(eoc.edge_of_chaos("tanh", 0.2)), 0.2)
elif job == "cold":
    s = eoc.predict_critical_sparsity("snip", [784] + [100] * (depth - 1) + [10], "tanh",
                                      float(eoc.edge_of_chaos("tanh", 0.2)), 0.2)
dt = time.perf_counter() - t0
print(json.dumps({{"job": job, "depth": depth, "seconds": dt, "value": float(s),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _child(job: str, depth: int) -> dict:
    code = CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"))
    res = subprocess.run([sys.executable, "-c", code, job, str(depth)], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    return json.loads(res.stdout.strip().splitlines()[-1])


def _warm(fun, n=7) -> float:
    fun()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fun()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    import eoc

    sw = float(eoc.edge_of_chaos("tanh", 0.2))
    w = [784] + [100] * 99 + [10]
    timing = {
        "finite_128": _warm(lambda: eoc.predict_critical_sparsity("snip", w, "tanh", sw, 0.2)),
        "finite_256": _warm(lambda: eoc.predict_critical_sparsity("snip", w, "tanh", sw, 0.2, n_networks=256)),
        "iid": _warm(lambda: eoc.predict_critical_sparsity("snip", w, "tanh", sw, 0.2, model="iid")),
        "resnet_stable_finite_128": _warm(lambda: eoc.predict_critical_sparsity(
            "snip", [100] * 102 + [10], "relu", 2**0.5, 0.0, arch="resnet", alpha="stable")),
    }
    cold = _child("cold", 100)
    depth = [_child("estimator-new", 10_000), _child("estimator-old", 10_000), _child("estimator-new", 100_000),
             _child("magnitude-end-to-end", 10_000), _child("magnitude-end-to-end", 100_000), _child("snip-finite", 10_000)]
    out = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
                    "cpus": os.cpu_count(), "threads": 1, "dtype": "float64",
                    "load_average_at_start": os.getloadavg()},
        "depth_100_warm_seconds": timing,
        "depth_100_cold": cold,
        "depth_runs": depth,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
