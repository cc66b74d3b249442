"""paper_repro framework: the static table and the registry, the CLI (torch-free list and help,
show, one-line errors), validation before any work, --set and --seeds, staged outputs that
concurrent runs can share, summaries rendered from numbers.json, and E9 at tiny size."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from paper_repro import catalog, get_experiment, list_experiments, registry, run_experiment
from paper_repro.__main__ import build_parser, main
from paper_repro.runner import plan
from paper_repro.summary import unsourced_numbers

ROOT = Path(__file__).resolve().parent.parent
E9_TINY = {"grid": 10, "depth": 1000, "activations": ("tanh", "gelu")}
#: Runs code in a fresh interpreter where ``import torch`` (and matplotlib) fail.
BLOCK = (
    "import sys, importlib.abc\n"
    "class _Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'matplotlib'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)')\n"
    "sys.meta_path.insert(0, _Block())\n"
)


def _python(code: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- the table


def test_every_table_entry_has_a_registered_module_with_both_profiles():
    exps = list_experiments()
    assert [e.id for e in exps] == catalog.ids() == [f"E{i}" for i in range(1, 10)]
    for e in exps:
        assert e.entry is catalog.entry(e.id) and set(e.profiles) == {"quick", "full"}
        assert len(e.claim) > 40 and len(e.entry.paper) > 20 and e.title == e.entry.title


def test_list_and_help_need_no_torch():
    """The static table answers without torch or matplotlib; list says which part of the paper each rebuilds."""
    out = _python(BLOCK + "from paper_repro.__main__ import main\nsys.exit(main(['list']))\n")
    assert out.returncode == 0, out.stderr
    for e in catalog.EXPERIMENTS:
        assert f"{e.id}  {e.title}" in out.stdout and f"rebuilds: {e.paper}" in out.stdout
    help_ = _python(BLOCK + "from paper_repro.__main__ import main\nmain(['--help'])\n")
    assert help_.returncode == 0 and "Rebuild the figures and tables" in help_.stdout, help_.stderr
    run_help = _python(BLOCK + "from paper_repro.__main__ import main\nmain(['run', '--help'])\n")
    assert run_help.returncode == 0 and "--set" in run_help.stdout and "--seeds" in run_help.stdout


def test_running_a_torch_experiment_without_torch_fails_before_any_work(tmp_path):
    out = _python(
        BLOCK.replace("'torch', 'matplotlib'", "'torch',")
        + "from paper_repro.__main__ import main\nsys.exit(main(sys.argv[1:]))\n",
        "run", "E9", "E3", "--figures-dir", str(tmp_path / "f"), "--cache-dir", str(tmp_path / "c"),
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.strip() == (
        "error: E3 need PyTorch, which is not installed (pip install 'eoc-pruning[repro]')"
    )
    assert not (tmp_path / "f" / "E9").exists(), "E9 must not run before the error"


def test_version_and_closed_pipe():
    assert subprocess.run([sys.executable, "-m", "paper_repro", "--version"], cwd=ROOT, capture_output=True,
                          text=True).stdout.startswith("python -m paper_repro (eoc-pruning ")  # fmt: skip
    piped = subprocess.run(
        f"{sys.executable} -m paper_repro list | head -n 1", shell=True, cwd=ROOT, capture_output=True, text=True
    )
    assert piped.returncode == 0 and piped.stdout.startswith("E1") and "Traceback" not in piped.stderr


def test_show_prints_the_full_config_and_the_settable_keys(capsys):
    assert main(["show", "E3"]) == 0
    out = capsys.readouterr().out
    assert "train.epochs             = 10" in out and "phases.ordered" in out and "seeds" in out
    assert "network.depth" in out and "<- depths" in out
    assert main(["show", "E42"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown experiment 'E42'; available: E1, E2")


# --------------------------------------------------------------------------- validation before work


def test_unknown_id_and_bad_folders_are_rejected_before_any_run(tmp_path, capsys):
    figs, cache = tmp_path / "figs", tmp_path / "cache"
    assert main(["run", "E9", "E99", "--figures-dir", str(figs), "--cache-dir", str(cache)]) == 2
    assert "unknown experiment 'E99'" in capsys.readouterr().err
    assert not (figs / "E9").exists(), "E9 ran before E99 was rejected"
    assert main(["run", "E9", "--cache-dir", "/proc/x", "--figures-dir", str(figs)]) == 2
    assert capsys.readouterr().err.startswith("error: --cache-dir '/proc/x' is not a writable folder")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "E9", "--figures-dir", str(blocker / "sub"), "--cache-dir", str(cache)]) == 2
    assert "error: --figures-dir" in capsys.readouterr().err
    assert main(["run", "E9", "--seeds", "0", "--figures-dir", str(figs), "--cache-dir", str(cache)]) == 2
    assert "seeds (--seeds) must be an integer >= 1, got seeds=0" in capsys.readouterr().err
    assert main(["run", "E1", "--profile", "full", "--figures-dir", str(figs), "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'mnist' is read from files" in err and "--data-dir" in err
    assert not any(figs.iterdir()), "nothing was written"


def test_set_applies_a_key_only_where_it_exists():
    e3, e9 = plan(["E3", "E9"], overrides={"epochs": 1})
    assert e3.config.train.epochs == 1 and e9.config == get_experiment("E9").profiles["quick"]
    (e4,) = plan(["E4"], overrides={"epochs": 2})
    assert {m.train.epochs for m in e4.config.models} == {2}, "a suffix sets every key it ends"
    with pytest.raises(ValueError, match=r"--set foo: no selected experiment has this setting; valid keys: E3: .*train\.epochs"):
        plan(["E3", "E9"], overrides={"foo": 1})
    with pytest.raises(ValueError, match="experiment E9 has no setting 'epochs'; valid keys: grid"):
        plan(["E3", "E9"], overrides={"E9.epochs": 1})
    with pytest.raises(ValueError, match=r"--set E5.depths: experiment E5 is not among those run \(E3\)"):
        plan(["E3"], overrides={"E5.depths": (8,)})
    with pytest.raises(ValueError, match="network.depth is swept by this experiment: set depths instead"):
        plan(["E3"], overrides={"E3.network.depth": 5})
    (only,) = plan(["E3"], overrides={"E3.depths": [5]})
    assert only.config.depths == (5,)


def test_seeds_apply_wherever_a_config_has_seeds():
    planned = plan(["all"], seeds=3)
    assert {p.exp.id: p.seeds for p in planned} == {**{f"E{i}": [0, 1, 2] for i in range(1, 9)}, "E9": None}


def test_cli_set_parsing_errors_name_the_flag(capsys, tmp_path):
    assert main(["run", "E9", "--set", "grid", "--figures-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: --set expects [ID.]KEY=VALUE, got --set 'grid'"


# --------------------------------------------------------------------------- outputs


def test_e9_tiny_run_writes_figures_numbers_summary_and_index(tmp_path):
    ctx = run_experiment("E9", "quick", figures_root=tmp_path, cache_dir=tmp_path / "c", overrides=E9_TINY,
                         progress=False)  # fmt: skip
    out = tmp_path / "E9"
    for stem in ("phase_diagram_tanh", "eoc_curves", "correlation_convergence"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["grid"] == 10 and man["profile"] == "quick" and man["seeds"] is None
    assert man["paper"] == catalog.entry("E9").paper and man["results_schema"] >= 2
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["verdict"]["verdict"] == man["verdict"] == "Supported"
    summary = (out / "summary.md").read_text()
    assert f"**Rebuilds.** {catalog.entry('E9').paper}." in summary
    assert unsourced_numbers(summary, numbers) == []
    index = (tmp_path / "README.md").read_text()
    assert "E9" in index and "phase_diagram_tanh.png" in index and catalog.entry("E9").paper in index
    assert ctx.outdir == out and not list(tmp_path.glob(".E9.*")), "no staging folder left"


def test_the_summary_is_rendered_from_numbers_json(tmp_path, capsys):
    """report re-renders summary.md from what numbers.json holds, and the number checker catches an invented one."""
    run_experiment("E9", "quick", figures_root=tmp_path, cache_dir=tmp_path / "c", overrides=E9_TINY, progress=False)
    path = tmp_path / "E9" / "numbers.json"
    numbers = json.loads(path.read_text())
    numbers["authors"]["code_sigma_w"] = 1.23456
    path.write_text(json.dumps(numbers))
    assert main(["report", "--figures-dir", str(tmp_path)]) == 0
    summary = (tmp_path / "E9" / "summary.md").read_text()
    assert "published code uses 1.23456" in summary
    assert unsourced_numbers(summary + "\n- an invented 0.777 result (docs/theory.md §8.6)\n", numbers) == [
        "'0.777' in: - an invented 0.777 result (docs/theory.md §8.6)"
    ]  # the section citation is no number


def test_concurrent_runs_into_one_figures_folder_both_succeed(tmp_path):
    args = ["-m", "paper_repro", "run", "E9", "--set", "grid=6", "--set", "depth=160", "--set", "activations=('tanh',)",
            "--no-progress",
            "--figures-dir", str(tmp_path / "figs"), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    procs = [subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outs]
    out = tmp_path / "figs" / "E9"
    assert json.loads((out / "manifest.json").read_text())["verdict"]
    assert (out / "summary.md").exists() and (out / "numbers.json").exists()
    assert [p.name for p in (tmp_path / "figs").iterdir() if p.name.startswith(".")] == []


@dataclass(frozen=True, kw_only=True)
class _Empty:
    """Settings of the probe experiment (none)."""


def _probe(monkeypatch, run) -> None:
    """Replace E1 by a probe experiment (torch, no data) for the duration of a test."""
    entry = dataclasses.replace(catalog.entry("E1"), needs_torch=True)
    probe = registry.Experiment(entry, {"quick": _Empty(), "full": _Empty()}, run, lambda n: registry.Summary([], []))
    monkeypatch.setitem(registry._REGISTRY, "E1", probe)


def _numbers() -> dict:
    from paper_repro import verdicts

    return {"setting": {}, "verdict": verdicts.verdict([])}


def test_a_failed_run_keeps_the_previous_outputs(monkeypatch, tmp_path):
    calls = []

    def probe(cfg, ctx):
        calls.append(ctx.outdir)
        (ctx.outdir / "marker.txt").write_text(str(len(calls)))
        if len(calls) == 2:
            raise RuntimeError("probe failure")
        return _numbers()

    _probe(monkeypatch, probe)
    kw = {"figures_root": tmp_path, "cache_dir": tmp_path / "c", "progress": False, "index": False}
    run_experiment("E1", **kw)
    with pytest.raises(RuntimeError, match="probe failure"):
        run_experiment("E1", **kw)
    assert (tmp_path / "E1" / "marker.txt").read_text() == "1"
    assert calls[0] != calls[1] and not calls[1].exists(), "each run stages in its own folder, removed on failure"


@pytest.mark.parametrize("threads, expected", [(None, 1), (3, 3)])
def test_runner_sets_torch_threads_for_the_run_and_restores_them(monkeypatch, tmp_path, threads, expected):
    """The experiment sees ctx.threads torch threads (default 1 on the CPU); torch's setting is
    restored afterwards, also when the experiment raises."""
    torch = pytest.importorskip("torch")
    seen = []

    def probe(cfg, ctx):
        seen.append((ctx.threads, torch.get_num_threads()))
        if len(seen) == 2:
            raise RuntimeError("probe failure")
        return _numbers()

    _probe(monkeypatch, probe)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        kw = {"threads": threads, "figures_root": tmp_path, "cache_dir": tmp_path / "c", "progress": False,
              "index": False}  # fmt: skip
        ctx = run_experiment("E1", **kw)
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="probe failure"):
            run_experiment("E1", **kw)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [(expected, expected)] * 2
    assert json.loads((ctx.outdir / "manifest.json").read_text())["threads"] == expected


def test_threads_option(tmp_path):
    assert build_parser().parse_args(["run", "E1"]).threads is None
    assert build_parser().parse_args(["run", "E1", "--threads", "4"]).threads == 4
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        run_experiment("E9", threads=0, figures_root=tmp_path, cache_dir=tmp_path / "c")
