"""paper_repro framework: registry, CLI, outputs and index (E9 at tiny size)."""

import json
from dataclasses import dataclass

import pytest

from paper_repro import get_experiment, list_experiments, run_experiment, registry
from paper_repro.__main__ import build_parser, main


def test_every_experiment_has_both_profiles_and_a_claim():
    exps = list_experiments()
    assert "E9" in [e.id for e in exps]
    for e in exps:
        assert set(e.profiles) == {"quick", "full"} and len(e.claim) > 40


def test_e9_tiny_run_writes_figures_data_summary_and_index(tmp_path):
    ctx = run_experiment("E9", "quick", figures_root=tmp_path, overrides={"grid": 12, "depth": 1000}, progress=False)
    out = tmp_path / "E9"
    for stem in ("phase_diagram_tanh", "eoc_curves", "correlation_convergence"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["config"]["grid"] == 12 and man["profile"] == "quick"
    assert "Supported" in (out / "summary.md").read_text()
    index = (tmp_path / "README.md").read_text()
    assert "E9" in index and "phase_diagram_tanh.png" in index
    assert ctx.outdir == out


def test_unknown_experiment_and_setting():
    with pytest.raises(ValueError, match="unknown experiment 'E42'"):
        get_experiment("E42")
    with pytest.raises(ValueError, match="unknown settings"):
        get_experiment("E9").config("quick", depht=3)


def test_cli_list_and_errors(capsys, tmp_path):
    assert main(["list"]) == 0
    assert "E9" in capsys.readouterr().out
    assert main(["run", "E42", "--figures-dir", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err


@dataclass(frozen=True)
class _Empty:
    """Settings of the probe experiment (none)."""


def _register_probe(monkeypatch, run) -> None:
    probe = registry.Experiment("PROBE", "probe", "a probe of the runner", {"quick": _Empty(), "full": _Empty()},
                                run, needs_torch=True)  # fmt: skip
    monkeypatch.setitem(registry._REGISTRY, "PROBE", probe)


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

    _register_probe(monkeypatch, probe)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        kw = {"threads": threads, "figures_root": tmp_path, "progress": False, "index": False}
        ctx = run_experiment("PROBE", **kw)
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="probe failure"):
            run_experiment("PROBE", **kw)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [(expected, expected)] * 2
    assert json.loads((ctx.outdir / "manifest.json").read_text())["threads"] == expected


def test_threads_option():
    assert build_parser().parse_args(["run", "E1"]).threads is None
    assert build_parser().parse_args(["run", "E1", "--threads", "4"]).threads == 4
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        run_experiment("E9", threads=0)
