"""E8 (variance and gradient propagation) at tiny size: outputs, manifest and the deterministic numbers."""

import json

import numpy as np
import pytest

from paper_repro import run_experiment
from paper_repro.experiments.e8_propagation import _first_true, _stats

pytest.importorskip("torch")

TINY = {
    "width": 16,
    "depth": 4,
    "replicas": 8,
    "inputs": 2,
    "resnet_width": 16,
    "resnet_depths": (3,),
    "overflow_width": 16,
    "overflow_replicas": 4,
    "chunk": 4,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny E8 run shared by the tests of this module: ``(context, figures root)``."""
    root = tmp_path_factory.mktemp("figures")
    return run_experiment("E8", "quick", figures_root=root, overrides=TINY, progress=False), root


def test_e8_tiny_run_writes_figures_data_summary_and_manifest(tiny_run):
    ctx, root = tiny_run
    out = root / "E8"
    assert ctx.outdir == out
    for stem in ("ffnn_variance", "ffnn_gradients", "resnet_variance_gradients"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
        assert (out / f"{stem}.csv").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["id"] == "E8" and man["profile"] == "quick"
    assert man["config"]["width"] == 16 and man["config"]["resnet_depths"] == [3]
    captions = {o["files"][0]: o["caption"] for o in man["outputs"]}
    assert "10%-90% quantiles" in captions["ffnn_gradients.png"]
    assert "2 standard errors" in captions["resnet_variance_gradients.png"]
    summary = (out / "summary.md").read_text()
    assert "**Verdict.**" in summary and "float32" in summary and man["verdict"]
    assert "E8" in (root / "README.md").read_text()


def test_e8_numbers_carry_the_exact_predictions(tiny_run):
    """Deterministic parts of the numbers: overflow layers from float32 max, the eoc convention check, growths."""
    num = json.loads((tiny_run[1] / "E8" / "numbers.json").read_text())
    ovf = num["float32_overflow"]
    # q^0 = 2 and q^l = 2^(l+1): the square overflows float32 (max ~ 2^128) at l = 127, an entry at l = 255.
    assert ovf["predicted_first_layer_square"] == 127 and ovf["predicted_first_layer_entry"] == 255
    for key in ("standard L=3", "stable L=3"):
        r = num["resnet"][key]
        assert r["layer_profile_rel_diff"] < 1e-12
        assert r["weight_grad_maxmin_predicted"] == pytest.approx(1.0, abs=1e-12)
    assert num["resnet"]["standard L=3"]["q_growth_predicted"] == pytest.approx(8.0, rel=1e-12)
    assert num["resnet"]["stable L=3"]["grad_maxmin_predicted"] == pytest.approx((1 + 1 / 3) ** 3, rel=1e-12)


def test_stats_and_first_true_helpers():
    """The replicate statistics are the mean, SE = sd/sqrt(R) and the 10%/90% quantiles; -1 marks no overflow."""
    v = np.arange(11, dtype=float)[:, None] * np.array([1.0, 2.0])
    st = _stats(v)
    np.testing.assert_allclose(st["mean"], [5.0, 10.0])
    np.testing.assert_allclose(st["se"], np.std(v, axis=0, ddof=1) / np.sqrt(11))
    np.testing.assert_allclose(st["q10"], [1.0, 2.0])
    np.testing.assert_allclose(st["q90"], [9.0, 18.0])
    mask = np.array([[False, True, True], [False, False, False]])
    assert _first_true(mask).tolist() == [1, -1]
