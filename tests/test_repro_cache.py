"""paper_repro.cache: run ids from canonical non-default settings, atomic storage, and
sweeps that resume where they stopped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, make_dataclass

import numpy as np
import pytest

from eoc import _io as atomic_io  # paper_repro.io re-exports its atomic writes
from paper_repro.cache import RunCache, canonical_config, config_hash, run_sweep


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


# --------------------------------------------------------------------------- hashing


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
        assert config_hash(old(**kw)) == config_hash(new(**kw))
    assert config_hash(new(depth=10, rescale=True)) != config_hash(old(depth=10))
    other = make_dataclass("OtherCfg", [("depth", int), ("lr", float, 0.1)], frozen=True)
    assert config_hash(other(depth=10)) != config_hash(old(depth=10)), "the type name is part of the id"


def test_unhashable_values_are_named():
    bad = make_dataclass("BadCfg", [("seeds", set, field(default_factory=set))], frozen=True)
    with pytest.raises(TypeError, match="config field BadCfg.seeds has type set"):
        config_hash(bad(seeds={1, 2}))
    with pytest.raises(TypeError, match="must be a dataclass instance, got dict"):
        config_hash({"x": 1})


# --------------------------------------------------------------------------- storage


def test_put_get_roundtrip(tmp_path):
    cache = RunCache(tmp_path / "runs")
    cfg = Point(4, scale=0.5)
    assert cache.get(cfg) is None and not cache.has(cfg)
    stored = cache.put(cfg, {"acc": 0.9, "curve": (1, 2), "bad": float("nan")})
    assert stored == {"acc": 0.9, "curve": [1, 2], "bad": "nan"}
    assert cache.has(cfg) and cache.get(cfg) == stored
    folder = tmp_path / "runs" / config_hash(cfg)
    meta = json.loads((folder / "config.json").read_text())
    assert meta["hash"] == folder.name and meta["canonical"] == canonical_config(cfg)
    assert meta["config"] == {"type": "Point", "x": 4, "scale": 0.5, "inner": {"width": 8, "act": "tanh"}}
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "result.json"]


def test_put_is_atomic(tmp_path, monkeypatch):
    """A failure while writing result.json leaves no result (not even a partial one) and no temp file."""
    cache = RunCache(tmp_path)
    cfg = Point(5)
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # config.json is written first, result.json second
            raise OSError("disk full")

    monkeypatch.setattr(atomic_io.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        cache.put(cfg, {"acc": 0.5})
    monkeypatch.undo()
    folder = cache.path(cfg)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json"]
    assert not cache.has(cfg) and cache.get(cfg) is None
    with pytest.raises(TypeError):
        cache.put(cfg, {"acc": object()})
    assert not cache.has(cfg)


def test_corrupt_result_is_named(tmp_path):
    cache = RunCache(tmp_path)
    cache.put(Point(1), {"a": 1})
    (cache.path(Point(1)) / "result.json").write_text("{")
    with pytest.raises(ValueError, match=r"corrupt cached result .*result.json"):
        cache.get(Point(1))


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
    assert calls == [0, 1] and [cache.has(c) for c in configs] == [True, True, False, False, False]

    interrupt_at.clear()
    calls.clear()
    second = run_sweep(configs, fn, cache, progress=False)
    assert calls == [2, 3, 4] and (second.executed, second.cached) == (3, 2)
    assert second == [{"x": x, "y": x**2, "pair": [x, -x]} for x in range(5)]

    calls.clear()
    third = run_sweep(configs, fn, cache, progress=False)
    assert calls == [] and (third.executed, third.cached) == (0, 5) and third == second


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
    assert sorted(p.name for p in (tmp_path / "parallel").iterdir()) == sorted(config_hash(c) for c in configs)


def test_worker_failure_keeps_finished_runs(tmp_path):
    cache = RunCache(tmp_path)
    configs = [Point(x) for x in range(5)]
    with pytest.raises(ValueError, match="run x=3 failed"):
        run_sweep(configs, fail_on_three, cache, jobs=2, progress=False)
    done_before = sum(cache.has(c) for c in configs)
    assert not cache.has(Point(3))
    again = run_sweep(configs, square, cache, jobs=2, progress=False)
    assert again.executed == 5 - done_before and again == [square(c) | {"pair": [c.x, -c.x]} for c in configs]
