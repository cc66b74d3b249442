"""A Ray driver for tests/test_repro_ray.py: one sweep through ``run_sweep`` and ``RayExecutor``.

Run as ``python tests/_ray_driver.py MODE CACHE ADDRESS N``.  The run function and its
configuration are defined here, in ``__main__``, so that Ray ships them to the workers
by value.  Modes:

* ``block``: runs 0 and 1 return at once; the others wait until the file
  ``<CACHE>.release`` exists (the test kills this driver while they wait);
* ``fail``: run 1 raises ``ValueError``; the others return a second after it has
  failed (so that the driver has seen the failure before any of them finishes).

Prints one JSON line: ``{"executed", "cached", "results"}`` (or the error's type and
message, exit status 3).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from paper_repro.cache import RunCache
from paper_repro.executor import run_sweep
from paper_repro.ray_executor import RayExecutor


@dataclass(frozen=True, kw_only=True)
class Job:
    i: int
    mode: str
    release: str


def square(job: Job) -> dict:
    if job.mode == "fail":
        failed = Path(job.release + ".failed")
        if job.i == 1:
            failed.touch()
            raise ValueError(f"run {job.i} cannot be computed")
        # the others finish well after run 1 has failed, so the driver sees the failure first
        deadline = time.time() + 120
        while not failed.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
    if job.mode == "block" and job.i >= 2:
        deadline = time.time() + 120
        while not Path(job.release).exists() and time.time() < deadline:
            time.sleep(0.05)
    return {"i": job.i, "square": job.i * job.i}


def main(mode: str, cache: str, address: str, n: int) -> int:
    jobs = [Job(i=i, mode=mode, release=f"{cache}.release") for i in range(n)]
    executor = RayExecutor(address, cpus_per_task=1)
    try:
        out = run_sweep(jobs, square, RunCache(cache), executor=executor, progress=False)
    except ValueError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return 3
    finally:
        executor.close()
    print(json.dumps({"executed": out.executed, "cached": out.cached, "results": list(out)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
