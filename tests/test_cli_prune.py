"""`python -m eoc prune`: predicted and measured critical sparsity and densities, masks written, one-line errors."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import eoc  # noqa: E402
import eoc.nn as enn  # noqa: E402
from eoc.__main__ import main  # noqa: E402


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ffnn_on_digits_json(capsys, tmp_path):
    """An FFNN on the EOC: keys, names, exact kept count, predicted densities averaging to 1 - s, the prediction
    of the widths at the reported initialization, and a state_dict that loads into a fresh FFNN."""
    out = tmp_path / "masks.pt"
    code, text, err = run(
        capsys, "prune", "--model", "ffnn:64,100x6,10", "--method", "snip", "--sparsity", "0.95", "--activation", "tanh",
        "--sigma-b", "0.2", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(text)
    assert set(r) >= {"predicted", "measured", "layers", "collapsed", "collapse_warnings", "theory_notes", "out", "density"}
    names = [f"linears.{i}" for i in range(7)]
    assert [layer["name"] for layer in r["layers"]] == names
    sizes = np.array([layer["n_weights"] for layer in r["layers"]])
    assert sizes.tolist() == [6400] + [10000] * 5 + [1000]
    kept = np.array([layer["measured_density"] for layer in r["layers"]]) @ sizes
    assert kept == pytest.approx(round(0.05 * sizes.sum()), abs=1e-6)
    pred = np.array([layer["predicted_density"] for layer in r["layers"]])
    assert pred @ sizes / sizes.sum() == pytest.approx(0.05, abs=1e-9)
    init = r["init"]
    assert init["scheme"] == "eoc" and init["sigma_w"] == pytest.approx(float(eoc.edge_of_chaos("tanh", 0.2)), rel=1e-15)
    widths_theory = eoc.predict_critical_sparsity(
        "snip", [64] + [100] * 6 + [10], "tanh", init["sigma_w"], 0.2, input_q=r["data"]["input_q"]
    )
    assert r["predicted"]["s_cr"] == pytest.approx(widths_theory, abs=2e-3)  # inferred sigmas: 1/sqrt(2M) apart
    assert 0 < r["measured"]["s_cr"] < 1 and r["measured"]["first_layer"] in names
    assert r["theory_notes"] == [] and r["collapsed"] == []
    model = enn.load_pruned_state_dict_(enn.FFNN([64] + [100] * 6 + [10], "tanh"), torch.load(out))
    for layer, (name, keep) in zip(r["layers"], enn.keep_fractions(model).items()):
        assert keep == layer["measured_density"]


def test_small_resnet_on_digits_json(capsys):
    """A CIFAR ResNet8 on digits: residual roles, BatchNorm said in the notes and warnings, collapsed layers are the
    ones with measured density 0, predictions and measurements in (0, 1)."""
    code, text, err = run(
        capsys, "prune", "--model", "resnet8-stable", "--method", "snip", "--sparsity", "0.9", "--width-multiplier", "0.5",
        "--batch-size", "64", "--json",
    )  # fmt: skip
    assert code == 0, err
    r = json.loads(text)
    roles = {layer["name"]: layer["role"] for layer in r["layers"]}
    assert roles["conv1"] == "main" and roles["layer1.0.conv1"] == "branch" and roles["layer2.0.shortcut.0"] == "shortcut"
    assert any("BatchNorm" in note for note in r["theory_notes"]) and any("BatchNorm" in w for w in r["theory_warnings"])
    assert 0 < r["predicted"]["s_cr"] < 1 and 0 < r["measured"]["s_cr"] < 1
    assert r["collapsed"] == [layer["name"] for layer in r["layers"] if layer["measured_density"] == 0]
    assert r["data"]["batch_size"] == 64 and r["init"]["sigma_w"] == pytest.approx(math.sqrt(2))
    assert "3 residual blocks" in r["architecture"] or "residual blocks" in r["architecture"]


def test_table_output_and_a_method_without_theory(capsys):
    code, text, _ = run(capsys, "prune", "--model", "ffnn:64,32,10", "--method", "grasp", "--sparsity", "0.5")
    assert code == 0
    assert "critical sparsity" in text and "linears.1" in text and "no score law" in text
    code, text, _ = run(capsys, "prune", "--model", "ffnn:64,32,10", "--method", "magnitude", "--rescale", "--json")
    r = json.loads(text)
    assert r["rescale"] == "neuron" and r["predicted"]["s_cr"] > 0


def test_a_model_imported_from_a_file(capsys, tmp_path):
    """module:PATH:ATTR with a callable; --init eoc reads the activation off the model's description."""
    path = tmp_path / "my_model.py"
    path.write_text(
        "from torch import nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))\n"
    )
    code, text, err = run(capsys, "prune", "--model", f"module:{path}:build", "--method", "snip", "--sparsity", "0.8", "--json")
    assert code == 0, err
    r = json.loads(text)
    assert [layer["name"] for layer in r["layers"]] == ["1", "3"]
    assert r["init"]["activation"] == "relu" and r["init"]["sigma_w"] == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--model", "ffnn:784,100,10"], r"--model ffnn:784,100,10: the data have 64 inputs .*use --model ffnn:64,100,10"),
        (["--model", "ffnn:64,ax3,10"], r"--model ffnn:64,ax3,10: widths are comma-separated"),
        (["--model", "alexnet"], r"--model 'alexnet': use ffnn:"),
        (["--model", "resnet9"], r"--model resnet9: a CIFAR ResNet has depth 6n \+ 2"),
        (["--model", "module:/no/such/file.py:Net"], r"--model module:/no/such/file.py:Net: no file"),
        (["--model", "module:json:nothing"], r"'json' has no attribute 'nothing'"),
        (["--model", "ffnn:64,10", "--sparsity", "1.5"], r"--sparsity must lie in \[0, 1\), got 1\.5"),
        (["--model", "ffnn:64,10", "--batch-size", "0"], r"--batch-size must be >= 1"),
        (["--model", "ffnn:64,10", "--sigma-b", "0.2"], r"--init eoc with --activation relu --sigma-b 0.2"),
        (["--model", "ffnn:64,10", "--activation", "nope"], r"--activation nope"),
        (["--model", "ffnn:64,10", "--out", "/no/such/dir/m.pt"], r"--out /no/such/dir/m\.pt: its folder does not exist"),
        (["--model", "ffnn:64,10", "--method", "grasp", "--rescale", "population"], r"--rescale population needs"),
    ],
)
def test_bad_arguments_give_one_line_errors_naming_the_flag(capsys, argv, match):
    code, out, err = run(capsys, "prune", *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    import re

    assert re.search(match, lines[0]), lines[0]


def test_file_datasets_need_their_folder(capsys):
    code, _, err = run(capsys, "prune", "--model", "ffnn:784,10", "--data", "mnist")
    assert code == 2 and "--data" in err and "mnist" in err


def test_the_command_line_stays_torch_free_until_prune_runs():
    """Building the parser (every `python -m eoc --help`) imports neither torch nor scikit-learn."""
    import subprocess
    import sys

    code = "import sys, eoc.__main__ as m; m.build_parser(); print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
