"""paper_repro.cache and paper_repro.executor: run ids from canonical non-default settings,
the data fingerprint and the results schema; one atomic result file per run; corrupt
results set aside and recomputed; sweeps that resume, run in parallel, survive
concurrent writers, and leave no worker behind when killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path

import numpy as np
import pytest

from eoc import _io as atomic_io  # paper_repro.io re-exports its atomic writes
from paper_repro import cache as cache_module
from paper_repro.cache import CorruptResultWarning, RunCache, canonical_config, config_hash, run_id
from paper_repro.executor import run_sweep

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Inner:
    width: int = 8
    act: str = "tanh"


@dataclass(frozen=True)
class Point:
    """Module level, so that spawn-started workers can unpickle it."""

    x: int
    scale: float = 1.0
    inner: Inner = field(default_factory=Inner)


def square(cfg: Point) -> dict:
    return {"x": cfg.x, "y": cfg.x**2 * cfg.scale, "pair": (cfg.x, -cfg.x)}


def fail_on_three(cfg: Point) -> dict:
    if cfg.x == 3:
        raise ValueError("run x=3 failed")
    return square(cfg)


class Interrupted(BaseException):
    """Stands in for KeyboardInterrupt / a killed job."""


# --------------------------------------------------------------------------- identity


def test_hash_ignores_fields_at_their_default():
    assert canonical_config(Point(2)) == {"type": "Point", "fields": {"x": 2}}
    assert config_hash(Point(2)) == config_hash(Point(2, scale=1.0, inner=Inner(8, "tanh")))
    assert config_hash(Point(2, scale=1)) == config_hash(Point(2))  # 1 and 1.0 are one setting
    assert config_hash(Point(np.int64(2), scale=np.float32(0.5))) == config_hash(Point(2, scale=0.5))
    assert canonical_config(Point(2, inner=Inner(act="relu"))) == {
        "type": "Point",
        "fields": {"x": 2, "inner": {"type": "Inner", "fields": {"act": "relu"}}},
    }
    hashes = {config_hash(c) for c in (Point(2), Point(3), Point(2, scale=0.5), Point(2, inner=Inner(width=9)))}
    assert len(hashes) == 4 and all(len(h) == 16 and int(h, 16) >= 0 for h in hashes)


def test_new_defaulted_field_keeps_existing_hashes():
    """open_lth's rule: an option added later with a no-effect default changes no run id."""
    old = make_dataclass("RunCfg", [("depth", int), ("lr", float, 0.1)], frozen=True)
    new = make_dataclass(
        "RunCfg", [("depth", int), ("lr", float, 0.1), ("rescale", bool, False), ("tags", tuple, ())], frozen=True
    )
    for kw in ({"depth": 10}, {"depth": 10, "lr": 0.5}):
        assert run_id(old(**kw), "d") == run_id(new(**kw), "d")
    assert run_id(new(depth=10, rescale=True)) != run_id(old(depth=10))
    other = make_dataclass("OtherCfg", [("depth", int), ("lr", float, 0.1)], frozen=True)
    assert run_id(other(depth=10)) != run_id(old(depth=10)), "the type name is part of the id"


def test_run_id_covers_the_data_and_the_results_schema(monkeypatch):
    """Two copies of a dataset with different contents give different runs; so does a new results schema."""
    a, b = run_id(Point(1), "mnist:aaaa"), run_id(Point(1), "mnist:bbbb")
    assert a != b and run_id(Point(1), "mnist:aaaa") == a and run_id(Point(1)) not in (a, b)
    monkeypatch.setattr(cache_module, "RESULTS_SCHEMA", cache_module.RESULTS_SCHEMA + 1)
    assert run_id(Point(1), "mnist:aaaa") != a


def test_unhashable_values_are_named():
    bad = make_dataclass("BadCfg", [("seeds", set, field(default_factory=set))], frozen=True)
    with pytest.raises(TypeError, match="config field BadCfg.seeds has type set"):
        config_hash(bad(seeds={1, 2}))
    with pytest.raises(TypeError, match="must be a dataclass instance, got dict"):
        config_hash({"x": 1})


# --------------------------------------------------------------------------- storage


def test_put_get_roundtrip_in_one_record(tmp_path):
    cache = RunCache(tmp_path / "runs")
    cfg, rid = Point(4, scale=0.5), run_id(Point(4, scale=0.5), "digits:x")
    assert cache.get(rid) is None and not cache.has(rid)
    stored = cache.put(rid, cfg, {"acc": 0.9, "curve": (1, 2), "bad": float("nan")}, {"data": "digits:x"})
    assert stored == {"acc": 0.9, "curve": [1, 2], "bad": "nan"}
    assert cache.has(rid) and cache.get(rid) == stored
    folder = tmp_path / "runs" / rid
    assert sorted(p.name for p in folder.iterdir()) == ["result.json"]
    record = json.loads((folder / "result.json").read_text())
    assert record["id"] == rid and record["identity"] == {"data": "digits:x"}
    assert record["config"] == {"type": "Point", "x": 4, "scale": 0.5, "inner": {"width": 8, "act": "tanh"}}


def test_put_is_atomic(tmp_path, monkeypatch):
    """A failure while writing leaves no result (not even a partial one) and no temporary file."""
    cache = RunCache(tmp_path)
    rid = run_id(Point(5))

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_io.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        cache.put(rid, Point(5), {"acc": 0.5})
    monkeypatch.undo()
    assert list((tmp_path / rid).iterdir()) == [] and cache.get(rid) is None
    with pytest.raises(TypeError):
        cache.put(rid, Point(5), {"acc": object()})
    assert not cache.has(rid)


@pytest.mark.parametrize("content", ["{", "", "{}", '{"id": "0000000000000000", "result": 1}', "[1, 2]"])
def test_a_corrupt_result_is_set_aside_with_a_warning_and_recomputed(tmp_path, content):
    cache = RunCache(tmp_path)
    configs = [Point(1), Point(2)]
    run_sweep(configs, square, cache, progress=False)
    rid = run_id(Point(1))
    cache.path(rid).write_text(content)
    with pytest.warns(CorruptResultWarning, match=r"corrupt cached result .*result.json"):
        again = run_sweep(configs, square, cache, progress=False)
    assert (again.executed, again.cached) == (1, 1)
    assert again[0] == {"x": 1, "y": 1, "pair": [1, -1]}
    aside = [p.name for p in (tmp_path / rid).iterdir() if p.name.startswith("result.json.corrupt-")]
    assert len(aside) == 1 and (tmp_path / rid / aside[0]).read_text() == content
    assert cache.get(rid) == again[0], "the recomputed result replaced the corrupt one"


# --------------------------------------------------------------------------- sweeps


def test_sweep_resumes_after_an_interruption(tmp_path):
    cache = RunCache(tmp_path)
    configs = [Point(x) for x in range(5)]
    calls: list[int] = []
    interrupt_at = {2}

    def fn(cfg: Point) -> dict:
        if cfg.x in interrupt_at:
            raise Interrupted
        calls.append(cfg.x)
        return square(cfg)

    with pytest.raises(Interrupted):
        run_sweep(configs, fn, cache, progress=False)
    assert calls == [0, 1] and [cache.has(run_id(c)) for c in configs] == [True, True, False, False, False]

    interrupt_at.clear()
    calls.clear()
    second = run_sweep(configs, fn, cache, progress=False)
    assert calls == [2, 3, 4] and (second.executed, second.cached) == (3, 2)
    assert second == [{"x": x, "y": x**2, "pair": [x, -x]} for x in range(5)]

    calls.clear()
    third = run_sweep(configs, fn, cache, progress=False)
    assert calls == [] and (third.executed, third.cached) == (0, 5) and third == second


def test_the_data_fingerprint_separates_runs_in_one_cache(tmp_path):
    cache = RunCache(tmp_path)
    first = run_sweep([Point(1)], square, cache, data=lambda c: "mnist:copy-a", progress=False)
    second = run_sweep([Point(1)], square, cache, data=lambda c: "mnist:copy-b", progress=False)
    again = run_sweep([Point(1)], square, cache, data=lambda c: "mnist:copy-a", progress=False)
    assert (first.executed, second.executed, again.executed) == (1, 1, 0)
    assert len(list(tmp_path.iterdir())) == 2


def test_repeated_configs_run_once_and_no_cache_stores_nothing(tmp_path):
    calls = []

    def fn(cfg: Point) -> int:
        calls.append(cfg.x)
        return cfg.x

    out = run_sweep([Point(1), Point(2), Point(1, scale=1.0)], fn, None, progress=False)
    assert out == [1, 2, 1] and calls == [1, 2] and (out.executed, out.cached) == (2, 1)
    with pytest.raises(ValueError, match="jobs must be an integer >= 1, got jobs=0"):
        run_sweep([Point(1)], fn, None, jobs=0)


def test_two_workers_match_one(tmp_path, capsys):
    configs = [Point(x, scale=s) for x in range(4) for s in (1.0, 0.5)]
    serial = run_sweep(configs, square, RunCache(tmp_path / "serial"), jobs=1, progress=False)
    parallel = run_sweep(configs, square, RunCache(tmp_path / "parallel"), jobs=2, progress=True, desc="squares")
    assert parallel == serial and (parallel.executed, parallel.cached) == (8, 0)
    assert "squares (0 cached)" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(run_id(c) for c in configs)


def test_worker_failure_keeps_finished_runs(tmp_path):
    cache = RunCache(tmp_path)
    configs = [Point(x) for x in range(5)]
    with pytest.raises(ValueError, match="run x=3 failed"):
        run_sweep(configs, fail_on_three, cache, jobs=2, progress=False)
    done_before = sum(cache.has(run_id(c)) for c in configs)
    assert not cache.has(run_id(Point(3)))
    again = run_sweep(configs, square, cache, jobs=2, progress=False)
    assert again.executed == 5 - done_before and again == [square(c) | {"pair": [c.x, -c.x]} for c in configs]


# --------------------------------------------------------------------------- processes

_TASKS = textwrap.dedent(
    """
    import os, sys, time
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Job:
        x: int

    def slow_square(job):
        time.sleep(0.05)
        return {"x": job.x, "y": job.x * job.x, "pid": 0}

    def record_and_hang(job):
        with open(os.path.join(os.environ["PIDS_DIR"], f"{os.getpid()}"), "w") as fh:
            fh.write(str(job.x))
        time.sleep(120)
        return {}
    """
)


def _script(tmp_path: Path, body: str) -> Path:
    (tmp_path / "repro_tasks.py").write_text(_TASKS)
    script = tmp_path / "sweep.py"
    main = textwrap.indent(textwrap.dedent(body), "    ")
    header = "import sys\nsys.path.insert(0, %r)\nsys.path.insert(0, %r)\n" % (str(ROOT), str(tmp_path))
    script.write_text(header + "if __name__ == '__main__':  # spawn-started workers import this file\n" + main)
    return script


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_concurrent_sweeps_into_one_cache_both_succeed(tmp_path):
    """Two processes sweeping overlapping configurations into one cache folder (a shared disk) both finish."""
    script = _script(
        tmp_path,
        """
        from paper_repro.cache import RunCache
        from paper_repro.executor import run_sweep
        from repro_tasks import Job, slow_square
        start = int(sys.argv[2])
        out = run_sweep([Job(x) for x in range(start, start + 12)], slow_square, RunCache(sys.argv[1]), progress=False)
        assert [r["y"] for r in out] == [x * x for x in range(start, start + 12)], out
        """,
    )
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, str(script), str(cache), str(s)], stderr=subprocess.PIPE) for s in (0, 6)]
    errs = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    results = [json.loads(p.read_text())["result"] for p in cache.glob("*/result.json")]
    assert sorted(r["x"] for r in results) == list(range(18)), "every run stored once, none corrupt"
    assert not list(cache.glob("*/.*.tmp")), "no temporary file left behind"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to inspect processes")
def test_killing_a_two_job_sweep_leaves_no_worker_behind(tmp_path):
    """kill -9 of the sweep's process: its workers notice and exit (no idle orphans)."""
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    script = _script(
        tmp_path,
        """
        from paper_repro.executor import run_sweep
        from repro_tasks import Job, record_and_hang
        run_sweep([Job(x) for x in range(4)], record_and_hang, None, jobs=2, progress=False)
        """,
    )
    parent = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PIDS_DIR": str(pids_dir)})
    try:
        deadline = time.monotonic() + 60
        while len(list(pids_dir.iterdir())) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            assert parent.poll() is None, "the sweep died early"
            time.sleep(0.1)
        workers = [int(p.name) for p in pids_dir.iterdir()]
        assert all(_alive(w) for w in workers)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:  # do not leave them running if the test fails
        os.kill(w, signal.SIGKILL)
    assert not left, f"workers {left} outlived their parent"


def test_the_progress_bar_always_draws_the_finished_count(tmp_path, capsys):
    """Runs that finish within tqdm's mininterval of each other still end on a drawn 5/5 (CI saw 3/4)."""
    run_sweep([Point(i) for i in range(5)], square, RunCache(tmp_path), progress=True, desc="sq")
    err = capsys.readouterr().err
    assert "sq (0 cached): 100%" in err and "5/5" in err, err
