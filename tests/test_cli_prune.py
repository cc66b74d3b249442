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
        (["--model", "ffnn:64,10", "--bn-mode", "batch"], r"--bn-mode must be one of eval, train, model, got 'batch'"),
        (["--model", "ffnn:64,10", "--temperature", "0"], r"--temperature must be a finite number > 0, got 0\.0"),
        (["--model", "ffnn:64,10", "--temperature", "inf"], r"--temperature must be a finite number > 0, got inf"),
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


# ---------------------------------------------------------------- scoring options (issue 11)

BN_CNN = (
    "import torch\n"
    "from torch import nn\n"
    "def build():\n"
    "    torch.manual_seed(7)\n"
    "    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3),\n"
    "                         nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))\n"
)


@pytest.fixture
def bn_cnn(tmp_path):
    """A small CNN with BatchNorm whose weights the file fixes (--init none), and the CLI's batch rebuilt by hand."""
    import importlib.util

    from eoc._cli_prune import load_data

    path = tmp_path / "bn_cnn.py"
    path.write_text(BN_CNN)
    spec = importlib.util.spec_from_file_location("bn_cnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x_all, y_all, _ = load_data("digits", None)
    idx = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(3))[:40].numpy()  # --seed 3, --batch-size 40
    return path, module.build, torch.from_numpy(x_all[idx]), torch.from_numpy(y_all[idx])


def cli_masks(capsys, tmp_path, path, *flags):
    out = tmp_path / "m.pt"
    code, text, err = run(
        capsys, "prune", "--model", f"module:{path}:build", "--init", "none", "--seed", "3", "--batch-size", "40",
        "--out", str(out), "--json", *flags,
    )  # fmt: skip
    assert code == 0, err
    state = torch.load(out)
    return json.loads(text), {k[: -len("_mask")]: v for k, v in state.items() if k.endswith("_mask")}


def test_the_scoring_defaults_are_eoc_nn_s_and_the_vocabulary_s():
    """--bn-mode accepts eoc.nn.BN_MODES (kept torch-free in eoc._vocab) and defaults to eoc.nn.DEFAULT_BN_MODE;
    --temperature defaults to eoc.nn.GRASP_TEMPERATURE (200, the GraSP reference code's)."""
    from eoc import _vocab

    assert _vocab.BN_MODES == enn.BN_MODES and enn.DEFAULT_BN_MODE == "eval" and enn.GRASP_TEMPERATURE == 200.0
    ns = __import__("eoc.__main__", fromlist=["build_parser"]).build_parser().parse_args(["prune", "--model", "x"])
    assert ns.bn_mode == enn.DEFAULT_BN_MODE and ns.temperature is None and not ns.prune_bias and not ns.prune_batchnorm


@pytest.mark.parametrize("flags, kw", [
    ((), {}),
    (("--bn-mode", "train"), {"bn_mode": "train"}),
    (("--temperature", "1"), {"temperature": 1.0}),
])  # fmt: skip
def test_bn_mode_and_temperature_reach_grasp(capsys, tmp_path, bn_cnn, flags, kw):
    """GraSP on a CNN with BatchNorm: the masks the command writes are eoc.nn.prune_at_init's with the same options
    on the same weights and batch, the JSON states the options, and each option changes the masks."""
    path, build, x, y = bn_cnn
    r, masks = cli_masks(capsys, tmp_path, path, "--method", "grasp", "--sparsity", "0.9", *flags)
    options = {"bn_mode": "eval", "temperature": 200.0, **kw}
    assert r["scoring"] == {**options, "prune_bias": False, "prune_batchnorm": False}
    expected = enn.prune_at_init(build(), "grasp", 0.9, x, y, **options)
    assert masks.keys() == {f"{k}.weight" for k in expected}
    assert all(torch.equal(masks[f"{k}.weight"], m) for k, m in expected.items())
    default = enn.prune_at_init(build(), "grasp", 0.9, x, y)
    assert (kw == {}) == all(torch.equal(default[k], m) for k, m in expected.items())
    scores = enn.compute_scores(build(), "grasp", x, y, **options)
    assert r["measured"]["s_cr"] == enn.measured_critical_sparsity(scores)


def test_prune_bias_and_batchnorm_rank_every_tensor_and_a_bias_is_no_collapse(capsys, tmp_path, bn_cnn):
    """--prune-bias --prune-batchnorm: conv/linear biases, BatchNorm weights and biases are ranked with the weights
    (exactly round(0.1 M) of all M entries kept, masks as eoc.nn's); the BatchNorm biases, 0 at initialization, are
    emptied, which is not a layer collapse; t_cr comes from the weights only."""
    path, build, x, y = bn_cnn
    r, masks = cli_masks(capsys, tmp_path, path, "--method", "snip", "--sparsity", "0.9", "--prune-bias", "--prune-batchnorm")
    names = [layer["name"] for layer in r["layers"]]
    assert names == ["0", "0.bias", "1", "1.bias", "3", "3.bias", "4", "4.bias", "7", "7.bias"]
    assert [layer["tensor"] for layer in r["layers"]] == ["weight", "bias"] * 5
    sizes = {layer["name"]: layer["n_weights"] for layer in r["layers"]}
    assert sizes == {"0": 72, "0.bias": 8, "1": 8, "1.bias": 8, "3": 576, "3.bias": 8, "4": 8, "4.bias": 8, "7": 2880,
                     "7.bias": 10}  # fmt: skip
    kept = sum(layer["measured_density"] * layer["n_weights"] for layer in r["layers"])
    assert kept == pytest.approx(round(0.1 * sum(sizes.values())), abs=1e-9)
    assert {layer["name"]: layer["measured_density"] for layer in r["layers"]}["1.bias"] == 0.0
    assert r["collapsed"] == [] and r["collapse_warnings"] == []
    expected = enn.prune_at_init(build(), "snip", 0.9, x, y, prune_bias=True, prune_batchnorm=True)
    assert all(torch.equal(masks[k if "." in k else f"{k}.weight"], m) for k, m in expected.items())
    scores = enn.compute_scores(build(), "snip", x, y, prune_bias=True, prune_batchnorm=True)
    weights = [k for k in scores if "." not in k]
    t_cr = min(float(scores[k].max()) for k in weights)
    below = sum(int((s < t_cr).sum()) for s in scores.values())
    assert r["measured"]["s_cr"] == below / sum(sizes.values())
    assert r["measured"]["first_layer"] == min(weights, key=lambda k: float(scores[k].max()))
    assert any("--prune-bias" in note for note in r["theory_notes"])
