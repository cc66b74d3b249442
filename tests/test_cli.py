"""The eoc command line: JSON out, exit code 2 and a message on bad input."""

import json

import numpy as np
import pytest

import eoc
from eoc.__main__ import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_point(capsys):
    code, out, _ = run(capsys, "point", "--activation", "tanh", "--sigma-w", "1.3", "--sigma-b", "0.2")
    assert code == 0
    data = json.loads(out)
    assert data["phase"] == "ordered"
    assert data["chi_1"] == pytest.approx(float(eoc.chi_1("tanh", 1.3, 0.2)), rel=1e-15)
    assert data["q_star"] == pytest.approx(float(eoc.q_star("tanh", 1.3, 0.2)), rel=1e-15)
    assert set(data) >= {"q_star", "chi_1", "chi_c", "chi_q", "xi_q", "xi_c", "phase"}


def test_point_on_relu_eoc_has_infinite_depth_scale(capsys):
    code, out, _ = run(capsys, "point", "-a", "relu", "--sigma-w", str(np.sqrt(2)))
    assert code == 0
    assert json.loads(out)["xi_c"] == "inf"


def test_eoc_value_and_curve(capsys):
    code, out, _ = run(capsys, "eoc", "-a", "tanh", "--sigma-b", "0.2")
    assert code == 0 and json.loads(out)["sigma_w"] == pytest.approx(1.30414584, abs=1e-8)
    code, out, _ = run(capsys, "eoc", "-a", "erf", "--curve", "--num", "5", "--sigma-b-max", "1")
    data = json.loads(out)
    assert len(data["sigma_w"]) == 5 and data["sigma_b"][-1] == 1.0


def test_leaky_relu_param(capsys):
    code, out, _ = run(capsys, "eoc", "-a", "leaky_relu", "--param", "negative_slope=0.5")
    assert code == 0 and json.loads(out)["sigma_w"] == pytest.approx(np.sqrt(2 / 1.25), rel=1e-14)


def test_derive_prints_latex(capsys):
    code, out, _ = run(capsys, "derive", "relu")
    assert code == 0 and r"\frac{9 \pi^{2}}{2}" in out


def test_bad_input_exits_2_with_message(capsys):
    code, out, err = run(capsys, "point", "-a", "relu", "--sigma-w", "1.6")
    assert code == 2 and "no finite variance fixed point" in err and out == ""
    code, _, err = run(capsys, "eoc", "-a", "relu", "--sigma-b", "0.1")
    assert code == 2 and "no edge of chaos at sigma_b=0.1" in err
    code, _, err = run(capsys, "point", "-a", "tanh", "--sigma-w", "-1")
    assert code == 2 and "--sigma-w" in err and "'-1'" in err


def test_prune_predict(capsys):
    code, out, _ = run(capsys, "prune-predict", "--method", "snip", "--widths", "784,100x29,10", "-a", "tanh", "--eoc", "--sigma-b", "0.2", "--sparsity", "0.5", "0.9")
    assert code == 0
    data = json.loads(out)
    sw = float(eoc.edge_of_chaos("tanh", 0.2))
    widths = [784] + [100] * 29 + [10]
    assert data["critical_sparsity"] == pytest.approx(eoc.predict_critical_sparsity("snip", widths, "tanh", sw, 0.2), rel=1e-12)
    assert len(data["keep_fractions"]["0.5"]) == 30 and data["after_pruning"]["0.5"]["phase"] == "ordered"
    code, _, err = run(capsys, "prune-predict", "--method", "snip", "--widths", "784,100xq", "--sigma-w", "1")
    assert code == 2 and "100xq" in err
    code, _, err = run(capsys, "prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "1.2")
    assert code == 2 and "--sparsity" in err and "'1.2'" in err


def test_prune_predict_counts_the_positions_of_a_cnn_given_its_image_size(capsys):
    args = ["prune-predict", "--method", "snip", "--widths", "3,32x9,10", "-a", "tanh", "--sigma-w", "1.0", "--sigma-b", "0.2",
            "--arch", "cnn"]  # fmt: skip
    code, out, _ = run(capsys, *args, "--image-size", "8")
    assert code == 0
    ref = eoc.predict_critical_sparsity("snip", [3] + [32] * 9 + [10], "tanh", 1.0, 0.2, arch="cnn", image_size=8)
    assert json.loads(out)["critical_sparsity"] == pytest.approx(ref, rel=1e-12)
    assert json.loads(out)["positions_per_example"] == [64] * 9 + [1]
    code, out, _ = run(capsys, *args)
    assert json.loads(out)["critical_sparsity"] > ref + 0.01  # one position per example: the model without them
    assert json.loads(out)["positions_per_example"] == [1] * 10
    code, _, err = run(capsys, "prune-predict", "--method", "snip", "--widths", "784,100,10", "--sigma-w", "1", "--image-size", "8")
    assert code == 2 and "--image-size 8 is only meaningful with --arch cnn" in err
