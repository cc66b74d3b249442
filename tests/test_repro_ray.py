"""The Ray executor on a local Ray instance (2 CPUs, as CI): the runs of an experiment are
bit-identical to the local executor's, a killed driver loses no finished run and a rerun
resumes, a failing run stops the sweep after the runs under way, proofs_check's claims
run through it, and without Ray installed ``--executor ray`` is a one-line error.

Every Ray process of these tests belongs to one host process started here (in its own
process group, listening on the loopback interface only, without token authentication,
which a throwaway loopback instance does not need, and with usage statistics off), which
the fixture stops at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

pytestmark = pytest.mark.slow

#: Ray is the optional extra ``distributed`` (part of ``[all]``, which ``make test`` installs,
#: so CI runs these tests); only where it is genuinely absent are they skipped.
NO_RAY = "Ray is not installed (pip install 'eoc-pruning[distributed]'; make test installs it with [all])"

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Loopback only (the local instance binds 127.0.0.1), no token, no usage report, quiet.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    "PYTHONWARNINGS": "ignore",
}
E5_TINY = ["--set", "E5.depths=(8,)", "--set", "E5.width_multiplier=0.25", "--set", "E5.sparsities=(0.9,)",
           "--set", "E5.epochs=1", "--set", "E5.augment=True", "--set", "E5.scr_depths=(4,)", "--set", "E5.scr_width=16",
           "--set", "E5.scr_batch=16", "--set", "E5.scr_replicas=4"]  # fmt: skip
E1_TINY = ["--set", "E1.network.depth=12", "--set", "E1.network.width=16", "--set", "E1.prune.batch=32"]


def _env() -> dict[str, str]:
    return {**os.environ, **RAY_ENV}


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """The address of a local Ray instance with 2 CPUs, run by a host process for this module."""
    pytest.importorskip("ray", reason=NO_RAY)
    folder = tmp_path_factory.mktemp("ray")
    address_file, log = folder / "address", open(folder / "host.log", "wb")
    host = subprocess.Popen(
        [sys.executable, str(HERE / "_ray_host.py"), str(address_file)],
        env=_env(), start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.time() + 180
        while not address_file.exists():
            if host.poll() is not None:
                pytest.fail(f"the Ray host exited: {(folder / 'host.log').read_text()[-2000:]}")
            if time.time() > deadline:
                pytest.fail("the Ray host did not start within 180 s")
            time.sleep(0.2)
        yield address_file.read_text()
    finally:
        host.send_signal(signal.SIGTERM)
        try:
            host.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:  # anything of the host's process group still alive (Ray's agents)
            os.killpg(host.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        host.wait()
        log.close()


def _cli(module: str, args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _records(cache: Path) -> dict[str, dict]:
    """Every stored run of ``cache`` by run id, without its wall-clock time."""
    out = {}
    for path in cache.glob("*/result.json"):
        record = json.loads(path.read_text())
        if isinstance(record["result"], dict):
            record["result"].pop("seconds", None)
        out[path.parent.name] = record
    return out


def test_ray_runs_are_bit_identical_to_local_runs(ray_address, tmp_path):
    """E5 (training, augmentation) and E1 (pruning): the same runs, the same results, bit for bit."""
    outs = {}
    for kind in ("local", "ray"):
        args = ["run", "E5", "E1", *E5_TINY, *E1_TINY, "--seeds", "2", "--figures-dir", str(tmp_path / kind / "figs"),
                "--cache-dir", str(tmp_path / kind / "cache"), "--executor", kind]  # fmt: skip
        if kind == "ray":
            args += ["--ray-address", ray_address]
        proc = _cli("paper_repro", args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs[kind] = proc
    local, ray = _records(tmp_path / "local" / "cache"), _records(tmp_path / "ray" / "cache")
    # E5: 2 variants x 2 seeds of training, 1 s_cr simulation point x 2 seeds; E1: 3 phases x 2 seeds
    assert len(local) == 4 + 2 + 6, sorted(local)
    assert ray.keys() == local.keys()
    for rid in local:
        assert ray[rid] == local[rid], rid
    for exp in ("E5", "E1"):
        numbers = [json.loads((tmp_path / k / "figs" / exp / "numbers.json").read_text()) for k in ("local", "ray")]
        assert numbers[0] == numbers[1]
        manifest = json.loads((tmp_path / "ray" / "figs" / exp / "manifest.json").read_text())
        assert manifest["executor"].startswith("RayExecutor(") and manifest["runs"]["executed"] > 0
    # the progress bar counts the runs finished on the cluster
    assert re.search(r"E5 runs \(0 cached\):\s+100%.*4/4", outs["ray"].stderr), outs["ray"].stderr[-2000:]


def _driver(mode: str, cache: Path, address: str, n: int, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_ray_driver.py"), mode, str(cache), address, str(n)],
        env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


def _stored(cache: Path) -> list[int]:
    return sorted(json.loads(p.read_text())["result"]["i"] for p in cache.glob("*/result.json"))


def test_a_killed_driver_loses_no_finished_run_and_a_rerun_resumes(ray_address, tmp_path):
    cache, n = tmp_path / "cache", 6
    first = _driver("block", cache, ray_address, n)
    try:
        deadline = time.time() + 180
        while len(_stored(cache)) < 2:
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.time() < deadline, "runs 0 and 1 did not finish within 180 s"
            time.sleep(0.1)
        time.sleep(1.0)  # runs 2 and 3 are under way, waiting
        assert first.poll() is None, "the driver must still be running (runs 2.. wait)"
    finally:
        first.kill()
        first.communicate()
    assert _stored(cache) == [0, 1], "exactly the finished runs are on disk"
    assert not list(cache.rglob("*.tmp")), "no half-written result"
    Path(f"{cache}.release").touch()
    second = _driver("block", cache, ray_address, n)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert (report["executed"], report["cached"]) == (n - 2, 2)
    assert [r["square"] for r in report["results"]] == [i * i for i in range(n)]
    assert _stored(cache) == list(range(n))


def test_a_failing_run_stops_the_sweep_after_the_runs_under_way(ray_address, tmp_path):
    """2 CPUs: 4 tasks in flight; run 1 raises first (the others finish a second later);
    0, 2, 3 are stored, 4 and 5 never start."""
    cache = tmp_path / "cache"
    proc = _driver("fail", cache, ray_address, 6)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 3, stderr[-3000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report == {"error": "ValueError", "message": "run 1 cannot be computed"}
    assert _stored(cache) == [0, 2, 3]


def test_proofs_check_claims_on_ray_match_the_local_run(ray_address, tmp_path):
    claims = ["mbp-critical-sparsity", "relu-eoc-asymptotics"]
    results = {}
    for kind in ("local", "ray"):
        out = tmp_path / kind
        args = ["--claims", *claims, "--profile", "tiny", "--threads", "1", "--device", "cpu", "--out", str(out),
                "--no-progress", "--executor", kind]  # fmt: skip
        if kind == "ray":
            args += ["--ray-address", ray_address]
        proc = _cli("proofs_check", args)
        assert proc.returncode in (0, 1), proc.stderr[-3000:]
        results[kind] = {}
        for c in claims:
            r = json.loads((out / "claims" / f"{c}.json").read_text())
            for volatile in ("seconds", "started"):
                r.pop(volatile)
            results[kind][c] = r
        assert json.loads((out / "report.json").read_text())["claims"]
    assert results["ray"] == results["local"]


def test_without_ray_the_flag_is_a_one_line_error_before_any_work(monkeypatch, tmp_path, capsys):
    from paper_repro.__main__ import main as repro
    from proofs_check.__main__ import main as proofs

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    assert repro(["run", "E9", "--executor", "ray", "--figures-dir", str(tmp_path / "f"),
                  "--cache-dir", str(tmp_path / "c")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err == "error: --executor ray needs Ray, which is not installed: pip install 'eoc-pruning[distributed]'"
    assert not (tmp_path / "f" / "E9").exists()
    assert proofs(["--claims", "forward-maps", "--executor", "ray", "--out", str(tmp_path / "p")]) == 2
    assert capsys.readouterr().err.strip() == err
    assert not (tmp_path / "p" / "run.json").exists()
