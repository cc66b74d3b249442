"""paper_repro framework: registry, CLI, outputs and index (E9 at tiny size)."""

import json

import pytest

from paper_repro import get_experiment, list_experiments, run_experiment
from paper_repro.__main__ import main


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
