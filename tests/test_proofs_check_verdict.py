"""proofs_check.verdict (the one comparison module), result files and the vocabulary: torch-free."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

import eoc
from eoc import _vocab
from eoc._io import to_jsonable
from proofs_check.results import ClaimResult, RunConfig, RunFolder, prepare_out_dir
from proofs_check.verdict import (
    FALSE_ALARM_PER_COMPARISON,
    MODEL_ERRORS,
    NUMERICAL_RTOL,
    SNIP_MODEL_ERROR,
    Z,
    Comparison,
    compare,
    compare_exact,
    compare_extrapolated,
    compare_proportion,
    false_alarm_probability,
    mean_se,
    richardson,
    verdict_of,
)


def test_tolerance_is_z_se_plus_model_error_plus_rounding():
    c = Comparison("q", 2.0, 2.3, 0.05, model_error=SNIP_MODEL_ERROR, allowance="SNIP_MODEL_ERROR")
    assert c.tolerance == pytest.approx(Z * 0.05 + SNIP_MODEL_ERROR + NUMERICAL_RTOL * 2.0, rel=1e-15)
    assert c.gap == pytest.approx(0.3) and c.passed is False and c.verdict == "FAIL"


def test_non_finite_measurements_fail_instead_of_raising():
    c = compare("q", 1.0, [1.0, float("nan"), 1.0])
    assert c.verdict == "FAIL" and not c.passed
    with pytest.raises(ValueError, match="stderr"):
        Comparison("q", 1.0, 1.0, -0.1)


def test_verdict_rules():
    ok = Comparison("a", 1.0, 1.01, 0.01, resolution=0.1)
    miss = Comparison("b", 1.0, 1.2, 0.01)
    vague = Comparison("c", 1.0, 1.01, 0.1, resolution=0.1)  # tolerance 0.4 > resolution
    assert (ok.verdict, miss.verdict, vague.verdict) == ("PASS", "FAIL", "INCONCLUSIVE")
    assert verdict_of([ok]) == "PASS"
    assert verdict_of([ok, miss]) == "FAIL"
    assert verdict_of([ok, vague]) == "INCONCLUSIVE"
    assert verdict_of([ok], ["overflow"]) == "INCONCLUSIVE"
    assert verdict_of([vague, miss]) == "FAIL"
    assert verdict_of([]) == "INCONCLUSIVE"


def test_mean_se_is_replicate_mean_and_sample_sd_over_sqrt_n():
    x = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    m, se = mean_se(x)
    np.testing.assert_allclose(m, [7 / 3, 70 / 3])
    sd = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    np.testing.assert_allclose(se, [sd / math.sqrt(3), 10 * sd / math.sqrt(3)])
    with pytest.raises(ValueError, match="at least 2 replicates"):
        mean_se([1.0])


def test_richardson_removes_an_exact_one_over_n_bias():
    """m(N) = m_inf + b/N is extrapolated to m_inf exactly; independent SEs combine as documented."""
    m_inf, b = 0.7, 3.0
    widths = (64, 256)
    m, se = richardson(widths, [m_inf + b / n for n in widths], [0.01, 0.02])
    assert m == pytest.approx(m_inf, rel=1e-14)
    assert se == pytest.approx(math.hypot(256 * 0.02, 64 * 0.01) / 192)
    with pytest.raises(ValueError, match="widths"):
        richardson((256, 64), [1.0, 1.0])


def test_compare_extrapolated_extrapolates_pair_predictions_too():
    rng = np.random.default_rng(0)
    widths = (100, 200)
    samples = [0.5 + 2.0 / n + 1e-3 * rng.standard_normal(50) for n in widths]
    c = compare_extrapolated("x", [0.5 + 1.0 / n for n in widths], widths, samples)
    assert c.predicted == pytest.approx(0.5, rel=1e-12)
    assert abs(c.measured - 0.5) < 5 * c.stderr and c.passed
    assert "Richardson" in c.basis and c.model_error == 0.0
    with pytest.raises(ValueError, match="predicted"):
        compare_extrapolated("x", [1.0, 2.0, 3.0], widths, samples)


def test_model_errors_are_named_constants_only():
    samples = [0.5, 0.52, 0.51]
    by_name = compare("s", 0.48, samples, model_error="SNIP_MODEL_ERROR")
    by_value = compare("s", 0.48, samples, model_error=SNIP_MODEL_ERROR)
    assert by_name == by_value and by_name.allowance == "SNIP_MODEL_ERROR"
    assert set(MODEL_ERRORS) == {"SNIP_MODEL_ERROR"}
    with pytest.raises(ValueError, match="not a named allowance"):
        compare("s", 0.48, samples, model_error=0.02)
    with pytest.raises(ValueError, match="unknown model_error"):
        compare("s", 0.48, samples, model_error="FUDGE")


def test_exact_and_proportion_comparisons():
    assert compare_exact("n", 0, 0).passed and not compare_exact("n", 0, 1).passed
    c = compare_proportion("side", 1.0, [True] * 11 + [False], resolution=0.5)
    assert c.measured == pytest.approx(11 / 12)
    assert c.stderr == pytest.approx(np.std([1] * 11 + [0], ddof=1) / math.sqrt(12))
    assert c.verdict == "PASS"  # 1/12 below 4 s.e.
    assert compare_proportion("side", 1.0, [True] * 6 + [False] * 6, resolution=0.5).verdict == "INCONCLUSIVE"


def test_false_alarm_probability_against_the_normal_tail():
    assert FALSE_ALARM_PER_COMPARISON == pytest.approx(2 * stats.norm.sf(Z), rel=1e-12)
    assert false_alarm_probability(150) == pytest.approx(1 - (1 - 2 * stats.norm.sf(Z)) ** 150, rel=1e-10)


def test_comparison_and_result_survive_json():
    c = Comparison("q", 1.0, float("inf"), 0.1, resolution=0.2, basis="replicate mean")
    back = Comparison.from_dict(json.loads(json.dumps(to_jsonable(c.as_dict()))))
    assert back == c and back.verdict == "FAIL"
    r = ClaimResult("x", "t", "s", "FAIL", [c], {"widths": (1, 2)}, 3, "cpu", "float64", "2026-01-01T00:00:00", 1.5, ["n"], [])
    back = ClaimResult.from_dict(json.loads(json.dumps(to_jsonable(r.as_dict()))))
    assert back.comparisons == [c] and back.sizes == {"widths": [1, 2]} and back.seed == 3 and back.dtype == "float64"


def test_run_folder_resume_checks_the_configuration(tmp_path):
    folder = RunFolder(prepare_out_dir(tmp_path / "run"))
    config = RunConfig("tiny", 0, "float64", "cpu")
    with pytest.raises(ValueError, match="no run.json"):
        folder.start(config, resume=True)
    folder.start(config, resume=False)
    r = ClaimResult("x", "t", "s", "PASS", [], {}, 0, "cpu", "float64", "now", 0.1)
    folder.save(r)
    assert folder.load("x").id == "x" and folder.load("y") is None
    folder.start(config, resume=True)  # same configuration: fine
    with pytest.raises(ValueError, match=r"seed=0.*seed=1"):
        folder.start(RunConfig("tiny", 1, "float64", "cpu"), resume=True)
    folder.claim_file("x").write_text('{"schema": 1, "id": "x"')  # truncated file: the claim reruns
    assert folder.load("x") is None
    folder.start(config, resume=False)  # a fresh run forgets earlier claims
    assert not folder.claim_file("x").exists()


def test_prepare_out_dir_refuses_files_and_unwritable_places(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(ValueError, match=r"--out .*file.* not a folder"):
        prepare_out_dir(f)
    with pytest.raises(ValueError, match=r"--out '/proc/x' is not a writable folder"):
        prepare_out_dir("/proc/x")


def test_vocabulary_ids_labels_colours():
    """Phase ids are eoc's; every id has a display name and a hex colour."""
    assert _vocab.PHASES == eoc.PHASES == ("ordered", "edge_of_chaos", "chaotic")
    assert set(_vocab.PHASE_LABELS) == set(_vocab.PHASE_COLORS) == set(eoc.PHASES)
    assert _vocab.phase_label("edge_of_chaos") == "EOC"
    assert set(_vocab.PRUNING_METHODS) < set(_vocab.METHOD_LABELS) == set(_vocab.METHOD_COLORS)
    assert set(_vocab.RESNET_KINDS) == set(_vocab.RESNET_LABELS) == set(_vocab.RESNET_COLORS)
    for table in (_vocab.PHASE_COLORS, _vocab.METHOD_COLORS, _vocab.RESNET_COLORS):
        for colour in table.values():
            assert len(colour) == 7 and colour[0] == "#" and int(colour[1:], 16) >= 0
    with pytest.raises(ValueError, match="unknown phase 'EOC'"):
        _vocab.phase_label("EOC")
    with pytest.raises(ValueError, match="unknown method"):
        _vocab.method_label("obd")


def test_vocabulary_methods_are_eoc_nn_methods():
    pytest.importorskip("torch")
    import eoc.nn

    assert eoc.nn.METHODS == _vocab.PRUNING_METHODS


def test_torch_free_modules_import_no_torch():
    code = (
        "import sys\n"
        "import eoc, eoc._vocab, eoc._io, proofs_check, proofs_check.verdict, proofs_check.catalog, proofs_check.report\n"
        "from proofs_check.__main__ import main\n"
        "assert main(['--list']) == 0\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "forward-maps" in done.stdout and "--resume" in done.stdout
