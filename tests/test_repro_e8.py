"""E8 (variance and gradient propagation) at tiny size: outputs, manifest, the deterministic
numbers, the summary rendered from them (no stated result the data did not produce)."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from paper_repro import run_experiment  # noqa: E402
from paper_repro.experiments.e8_propagation.simulate import replicate_stats  # noqa: E402
from paper_repro.summary import unsourced_numbers  # noqa: E402

TINY = {
    "width": 16,
    "depth": 4,
    "replicas": 8,
    "inputs": 2,
    "resnet_width": 16,
    "resnet_depths": (3,),
    "overflow_width": 16,
    "overflow_replicas": 4,
    "overflow_scan": 220,
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny E8 run shared by the tests of this module: ``(context, figures root)``."""
    root = tmp_path_factory.mktemp("figures")
    ctx = run_experiment("E8", "quick", figures_root=root, cache_dir=root / "cache", overrides=TINY, progress=False)
    return ctx, root


def test_e8_tiny_run_writes_figures_data_summary_and_manifest(tiny_run):
    ctx, root = tiny_run
    out = root / "E8"
    assert ctx.outdir == out
    for stem in ("ffnn_variance", "ffnn_gradients", "resnet_variance_gradients"):
        assert (out / f"{stem}.png").stat().st_size > 1000
        assert (out / f"{stem}.pdf").exists()
        assert (out / f"{stem}.csv").exists()
    man = json.loads((out / "manifest.json").read_text())
    assert man["id"] == "E8" and man["profile"] == "quick" and man["seeds"] == [0]
    assert man["config"]["width"] == 16 and man["config"]["resnet_depths"] == [3]
    captions = {o["files"][0]: o["caption"] for o in man["outputs"]}
    assert "0.1-0.9 quantiles" in captions["ffnn_gradients.png"] and "pairs per network" in captions["ffnn_variance.png"]
    assert "2 standard errors" in captions["resnet_variance_gradients.png"]
    assert man["runs"] == {"executed": 3 + 2 + 1, "cached": 0}
    assert "E8" in (root / "README.md").read_text()


def test_e8_numbers_carry_the_exact_predictions(tiny_run):
    """Deterministic parts of the numbers: overflow layers from float32 max, the eoc convention check, growths."""
    import math

    num = json.loads((tiny_run[1] / "E8" / "numbers.json").read_text())
    ovf = num["overflow"]
    # q^l = 2^(l+1) times the largest of n = 16 x 4 squared entries, 2 ln n, reaches float32's max (2^128 (1 - 2^-24)).
    fmax = float(np.finfo(np.float32).max)
    assert ovf["predicted_square"] == pytest.approx(math.log2(fmax / (2 * 2 * math.log(64))), rel=1e-12)
    assert ovf["predicted_entry"] == pytest.approx(math.log2(fmax**2 / (2 * 2 * math.log(64))), rel=1e-12)
    assert ovf["first_square"] is not None and ovf["first_square"] < ovf["depth"] < ovf["scan"]
    for key in ("standard L=3", "stable L=3"):
        assert num["resnet"][key]["layer_profile_rel_diff"] < 1e-12
    assert num["resnet"]["standard L=3"]["q_growth_predicted"] == pytest.approx(8.0, rel=1e-12)
    assert num["resnet"]["stable L=3"]["grad_maxmin_predicted"] == pytest.approx((1 + 1 / 3) ** 3, rel=1e-12)


def test_e8_summary_states_only_what_the_data_produced(tiny_run):
    """The float32 finding is built from the measured layers (no fixed prose), every number is in numbers.json."""
    out = tiny_run[1] / "E8"
    num = json.loads((out / "numbers.json").read_text())
    summary = (out / "summary.md").read_text()
    assert unsourced_numbers(summary, num) == []
    first = num["overflow"]["first_square"]
    assert f"some second moment overflows is layer {first}" in summary
    assert "In float32 at L = 200 the standard ResNet overflows" not in summary


def test_replicate_statistics():
    """The replicate statistics are the mean, SE = sd/sqrt(R) (the one convention) and the quantile band."""
    v = np.arange(11, dtype=float)[:, None] * np.array([1.0, 2.0])
    st = replicate_stats(v, (0.1, 0.9))
    np.testing.assert_allclose(st["mean"], [5.0, 10.0])
    np.testing.assert_allclose(st["se"], np.std(v, axis=0, ddof=1) / np.sqrt(11))
    np.testing.assert_allclose(st["lo"], [1.0, 2.0])
    np.testing.assert_allclose(st["hi"], [9.0, 18.0])
