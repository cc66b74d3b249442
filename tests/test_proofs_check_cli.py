"""The proofs_check command line: reports, bad input (exit 2, one line naming the flag and the
value, before any work), and a run killed with SIGKILL that --resume completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402

from proofs_check import get_claim, run_claim  # noqa: E402
from proofs_check.__main__ import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_cli_writes_each_claim_and_the_reports(tmp_path, capsys):
    code = main(["--claims", "synflow-no-collapse", "--profile", "tiny", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "synflow-no-collapse" in out and "PASS" in out
    run = json.loads((tmp_path / "run.json").read_text())
    assert run == {"schema": 1, "profile": "tiny", "seed": 0, "dtype": "float64", "device": "cpu"}
    entry = json.loads((tmp_path / "claims" / "synflow-no-collapse.json").read_text())
    assert {"id", "verdict", "comparisons", "sizes", "seed", "device", "dtype", "started", "seconds"} <= set(entry)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["complete"] and report["pending"] == [] and report["claims"] == [entry]
    assert report["model_errors"] == {"SNIP_MODEL_ERROR": 0.03} and report["summary"]["PASS"] == 1
    assert "## synflow-no-collapse: PASS" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--claims", "nope", "--out", "{tmp}"], "--claims: unknown claim 'nope'; available: forward-maps"),
        (["--claims", "forward-maps", "x", "y", "--out", "{tmp}"], "unknown claims 'x', 'y'"),
        (["--profile", "tiny"], "--out DIR is required"),
        (["--out", "/proc/x"], "--out '/proc/x' is not a writable folder"),
        (["--out", "{tmp}/file"], "exists and is not a folder"),
        (["--seed", "-1", "--out", "{tmp}"], "--seed must be >= 0, got --seed -1"),
        (["--threads", "0", "--out", "{tmp}"], "--threads must be >= 1, got --threads 0"),
        (["--resume", "--out", "{tmp}/empty"], "--resume: "),
    ],
)
def test_bad_input_is_one_line_naming_flag_and_value(argv, needle, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv + ["--no-progress"]) == 2
    assert needle in _error(capsys)
    assert not (tmp_path / "claims").exists()  # no work was done


def test_resume_with_another_configuration_names_what_differs(tmp_path, capsys):
    assert main(["--claims", "synflow-no-collapse", "--profile", "tiny", "--out", str(tmp_path), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["--claims", "synflow-no-collapse", "--profile", "tiny", "--seed", "3", "--resume", "--out", str(tmp_path)]) == 2
    err = _error(capsys)
    assert "seed=0" in err and "seed=3" in err and "--out" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_usage_error(tmp_path, capsys):
    assert main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cuda" in _error(capsys)


@pytest.mark.parametrize("argv, needle", [(["--profile", "huge"], "--profile: invalid choice: 'huge'"), (["--seed", "x"], "--seed: invalid int value: 'x'")])
def test_argparse_errors_name_flag_and_value(argv, needle, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and needle in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and "eoc-pruning" in capsys.readouterr().out


KILL_CLAIMS = ["pruned-leaves-eoc", "rescaling-restores-eoc", "synflow-no-collapse"]


def _command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "proofs_check", "--profile", "tiny", "--claims", *KILL_CLAIMS, "--out", str(out),
            "--no-progress", "--threads", "1", *extra]  # fmt: skip


@pytest.mark.slow
def test_killed_run_keeps_finished_claims_and_resume_matches_a_clean_run(tmp_path):
    """SIGKILL after the first claim is written; --resume runs only the rest; the verdicts and
    numbers equal those of a clean run."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen(_command(out), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
        first = out / "claims" / f"{KILL_CLAIMS[0]}.json"
        deadline = time.monotonic() + 300
        while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert first.exists(), log.read_text()
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(p.stem for p in (out / "claims").glob("*.json"))
    assert finished == [KILL_CLAIMS[0]], finished  # killed mid-run: the others had not finished
    assert not list((out / "claims").glob(".*.tmp"))  # nothing half-written left behind
    kept = first.read_text()

    done = subprocess.run(_command(out, "--resume"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"finished claims kept: {KILL_CLAIMS[0]}" in done.stderr
    assert first.read_text() == kept  # the finished claim was skipped, not rerun
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] and [c["id"] for c in report["claims"]] == KILL_CLAIMS

    torch.set_num_threads(1)
    for entry in report["claims"]:
        clean = run_claim(get_claim(entry["id"]), "tiny", device=torch.device("cpu"), seed=0)
        assert entry["verdict"] == clean.verdict
        assert [c["quantity"] for c in entry["comparisons"]] == [c.quantity for c in clean.comparisons]
        for c, ref in zip(entry["comparisons"], clean.comparisons):
            assert c["measured"] == pytest.approx(ref.measured, rel=1e-9, abs=1e-12), c["quantity"]
            assert c["predicted"] == pytest.approx(ref.predicted, rel=1e-12, abs=1e-15), c["quantity"]
