"""The finite model's allowance (FINITE_MODEL_ERROR, docs/theory.md §8.5) derived from the stored
validation, the alternatives (the paper's iid model) carried by comparisons, and the s_cr claims
judged against the finite model: they FAIL on a deliberately wrong prediction."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from eoc._io import to_jsonable
from proofs_check.verdict import (
    FINITE_MODEL_UNMODELLED,
    FINITE_VALIDATION,
    NUMERICAL_RTOL,
    Z,
    Comparison,
    ModelError,
    alternatives_summary,
    alternatives_tally,
    compare,
    finite_model_error,
    finite_model_unmodelled,
    load_finite_validation,
    stored_finite_model_error,
)


def _row(kind, variant, depth, measured, measured_se, finite, finite_se, width=100, batch=128):
    return {"kind": kind, "variant": variant, "depth": depth, "width": width, "batch": batch, "measured": measured,
            "measured_se": measured_se, "finite": finite, "finite_se": finite_se}  # fmt: skip


def test_allowance_reproduces_from_the_stored_validation():
    """Recomputed here from the raw JSON: max over the modelled settings of sqrt(max(gap^2 - SE^2, 0))."""
    rows = json.loads(FINITE_VALIDATION.read_text())["table"]
    kept = [
        r for r in rows
        if not (r["kind"] == "resnet" and r["variant"] == "standard")
        and not (r["kind"] == "ffnn" and r["variant"] == "chaotic" and r["depth"] >= 30)
    ]  # fmt: skip
    gap = np.array([r["measured"] - r["finite"] for r in kept])
    var = np.array([r["measured_se"] ** 2 + r["finite_se"] ** 2 for r in kept])
    expected = float(np.sqrt(np.maximum(gap**2 - var, 0.0)).max())
    got = finite_model_error()
    assert got.value == pytest.approx(expected, rel=1e-15) and got.name == "FINITE_MODEL_ERROR"
    assert stored_finite_model_error() == got and len(got.inputs) == len(kept) < len(rows)
    assert compare("s", 0.5, [0.5, 0.51], model_error="FINITE_MODEL_ERROR").model_error == got.value


def test_allowance_does_not_hide_the_known_failures():
    """Every regime the model leaves out has a validated gap larger than the allowance: the
    allowance is the model's accuracy where it holds, not a tolerance widened to pass."""
    eps = finite_model_error().value
    rows = load_finite_validation()
    for kind, variant, depth, _ in FINITE_MODEL_UNMODELLED:
        worst = max(abs(r["measured"] - r["finite"]) for r in rows
                    if r["kind"] == kind and r["variant"] == variant and r["depth"] >= depth)  # fmt: skip
        assert worst > 2 * eps, (kind, variant)


def test_allowance_rules_on_synthetic_validation_rows():
    """A gap equal to its noise counts 0; a clean gap counts fully; unmodelled regimes are ignored."""
    rows = [
        _row("ffnn", "ordered", 30, 0.60, 0.003, 0.604, 0.004),  # |gap| = 0.004 < SE = 0.005: pure noise
        _row("ffnn", "eoc", 50, 0.98, 0.0, 0.97, 0.0),  # a bias of 0.01, no noise
        _row("resnet", "standard", 100, 0.98, 0.0, 0.90, 0.0),  # unmodelled: ignored
        _row("ffnn", "chaotic", 50, 0.50, 0.0, 0.40, 0.0),  # unmodelled: ignored
        _row("ffnn", "chaotic", 10, 0.99, 0.0, 0.987, 0.0),  # chaotic but shallow: counted
    ]
    m = finite_model_error(rows)
    assert m.value == pytest.approx(0.01, rel=1e-12) and dict(m.inputs)["ffnn ordered L=30 N=100 B=128"] == 0.0
    assert len(m.inputs) == 3 and "attained at ffnn eoc L=50" in m.derivation
    assert finite_model_error(rows[:1]).value == 0.0
    with pytest.raises(ValueError, match="no setting outside"):
        finite_model_error(rows[2:4])
    assert finite_model_unmodelled("resnet", "stable", 100) == "" and "gradient independence" in finite_model_unmodelled(
        "resnet", "standard", 10
    )
    with pytest.raises(ValueError, match="validate_critical_sparsity"):
        load_finite_validation(FINITE_VALIDATION.parent / "missing.json")


def test_prediction_se_enters_in_quadrature_and_alternatives_survive_json():
    allowance = ModelError("FINITE_MODEL_ERROR", 0.004, "test")
    c = compare("s", 0.90, [0.91, 0.93, 0.92], model_error=allowance, predicted_se=0.003, alternatives={"iid": 0.85})
    se = np.std([0.91, 0.93, 0.92], ddof=1) / math.sqrt(3)
    assert c.tolerance == pytest.approx(Z * math.hypot(se, 0.003) + 0.004 + NUMERICAL_RTOL * 0.9, rel=1e-14)
    assert c.allowance == "FINITE_MODEL_ERROR" and c.verdict == "PASS"
    # the alternative is judged at the same tolerance, without the Monte-Carlo term: 0.92 - 0.85 > 4 SE + 0.004
    assert c.alternative_verdict("iid") == "FAIL"
    back = Comparison.from_dict(json.loads(json.dumps(to_jsonable(c.as_dict()))))
    assert back == c and back.alternatives == {"iid": 0.85}
    with pytest.raises(ValueError, match="no alternative 'paper'"):
        c.alternative_verdict("paper")
    with pytest.raises(ValueError, match="predicted_se"):
        Comparison("s", 1.0, 1.0, 0.1, predicted_se=-1.0)


def test_alternatives_summary_says_where_the_iid_model_fails_and_the_finite_one_passes():
    both = Comparison("a", 0.5, 0.5, 0.01, alternatives={"iid": 0.51})
    only_finite = Comparison("b", 0.7, 0.7, 0.001, alternatives={"iid": 0.6})
    neither = Comparison("c", 0.2, 0.9, 0.001, alternatives={"iid": 0.1})
    tally = alternatives_tally([both, only_finite, neither], "iid")
    assert (tally["comparisons"], tally["passes"], tally["fails_where_main_passes_count"]) == (3, 1, 1)
    assert [f["quantity"] for f in tally["fails_where_main_passes"]] == ["b"]
    text = alternatives_summary([both, only_finite, neither], "iid", "The iid model")
    assert text.startswith("The iid model at the same tolerances: passes 1 of 3") and "FAILs 1 where" in text
    assert alternatives_summary([Comparison("x", 1, 1, 0.1)], "iid", "The iid model") == ""


torch = pytest.importorskip("torch")


def test_module_measurement_scores_the_same_networks_as_the_stack():
    """eoc.nn's compute_scores on the to_module copies gives SNIP's s_cr of eoc.sim, network by network."""
    from proofs_check.claims.critical import ffnn_widths, measure_critical_sparsity, measure_module_critical_sparsity

    kw = {"widths": ffnn_widths(32, 6), "act": "tanh", "sigma_w": 1.1, "sigma_b": 0.2, "replicas": 3, "batch": 16,
          "seed": 5}  # fmt: skip
    stack = measure_critical_sparsity(method="snip", **kw).s_cr
    module = measure_module_critical_sparsity(method="snip", **kw)
    np.testing.assert_allclose(module, stack, rtol=0, atol=1e-12)
    for method in ("grasp", "synflow", "random"):
        s = measure_module_critical_sparsity(method=method, **kw)
        assert s.shape == (3,) and np.all((s > 0) & (s < 1))
    with pytest.raises(ValueError, match="arch must be 'ffnn' or 'cnn'"):
        measure_module_critical_sparsity(method="snip", **kw, arch="resnet")


def test_cnn_measurement_matches_the_exact_magnitude_law():
    """Magnitude scores are exactly iid: the measured CNN s_cr equals eoc's (exact) prediction within 4 s.e.,
    which checks that the measured CNN is the architecture eoc's arch='cnn' describes."""
    import eoc
    from proofs_check.claims.critical import measure_module_critical_sparsity

    widths = [3, 8, 8, 8, 10]
    s = measure_module_critical_sparsity(method="magnitude", widths=widths, act="tanh", sigma_w=1.2, sigma_b=0.2,
                                         replicas=24, batch=8, arch="cnn", image_size=4, seed=2)  # fmt: skip
    c = compare("magnitude s_cr, CNN", eoc.predict_critical_sparsity("magnitude", widths, "tanh", 1.2, 0.2, arch="cnn"), s)
    assert c.passed, c


def _shifted(fn, shift):
    def wrong(*args, **kw):
        p = fn(*args, **kw)
        return dataclasses.replace(p, s_cr=p.s_cr + shift) if kw.get("model", "finite") == "finite" else p

    return wrong


@pytest.mark.parametrize(
    "claim_id, module, shift, allowance",
    [("sbp-critical-sparsity-phases", "critical", 0.03, "FINITE_MODEL_ERROR"),
     ("stable-resnet-sbp-scr", "resnet", 0.03, "FINITE_MODEL_ERROR"),
     ("sbp-critical-sparsity-cnn", "critical", 0.06, "FINITE_CNN_MODEL_ERROR")],
)
def test_claim_fails_on_a_deliberately_wrong_prediction(claim_id, module, shift, allowance, monkeypatch):
    """The same tiny run that PASSes (test_proofs_check) FAILs when the finite prediction is off by
    ``shift`` (more than its tiny-size tolerance), and records the paper's iid prediction next to
    each s_cr comparison."""
    import importlib

    import eoc
    from proofs_check import get_claim, run_claim

    torch.set_num_threads(1)
    mod = importlib.import_module(f"proofs_check.claims.{module}")
    monkeypatch.setattr(mod, "predict_critical_sparsity", _shifted(mod.predict_critical_sparsity, -shift))
    result = run_claim(get_claim(claim_id), "tiny", device="cpu", seed=0)
    assert result.verdict == "FAIL"
    scr = [c for c in result.comparisons if c.quantity.startswith(("s_cr", "SNIP s_cr"))]
    assert scr and all(not c.passed for c in scr) and all("iid" in c.alternatives for c in scr)
    assert all(c.allowance == allowance and c.predicted_se > 0 for c in scr)
    if claim_id == "sbp-critical-sparsity-phases":
        sw = float(eoc.edge_of_chaos("tanh", 0.2))
        widths = [784] + [100] * 7 + [10]
        iid = eoc.predict_critical_sparsity("snip", widths, "tanh", sw, 0.2, model="iid")
        eoc_c = next(c for c in scr if "edge_of_chaos" in c.quantity)
        assert eoc_c.alternatives["iid"] == pytest.approx(float(iid), rel=1e-12)
    assert any("iid model" in n for n in result.notes)


def test_the_cnn_allowance_is_the_largest_noise_corrected_bias_at_the_modelled_image_sizes():
    """FINITE_CNN_MODEL_ERROR recomputed by hand from the stored CNN validation: image sizes 4 and 16
    (zero padding, spatial correlations; docs/theory.md §8.6) excluded, every other setting included."""
    import json

    from proofs_check.verdict import FINITE_CNN_VALIDATION, finite_cnn_unmodelled, stored_finite_cnn_model_error

    table = json.loads(FINITE_CNN_VALIDATION.read_text())["table"]
    kept = [r for r in table if r["image_size"] == 8]
    assert {r["image_size"] for r in table} == {4, 8, 16} and len(kept) < len(table)
    assert finite_cnn_unmodelled(4) and finite_cnn_unmodelled(16) and not finite_cnn_unmodelled(8)
    bias = [math.sqrt(max((r["measured"] - r["positions"]) ** 2 - r["measured_se"] ** 2 - r["positions_se"] ** 2, 0.0))
            for r in kept]  # fmt: skip
    m = stored_finite_cnn_model_error()
    assert m.name == "FINITE_CNN_MODEL_ERROR" and m.value == pytest.approx(max(bias), rel=1e-12)
    assert len(m.inputs) == len(kept) and "excluded" in m.derivation

