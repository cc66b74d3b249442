"""The finite-width, batch-aware SNIP model (eoc._finite, eoc._finite_laws; docs/theory.md §8).

Routes: the exact mixtures of :class:`eoc.LowRankProductNormal` against the tables;
direct simulation of low-rank score matrices against the row model of the maximum;
the model's own identities (keep fractions average to 1 - s, magnitude and random
pruning exact under both models, a batch of one gives rank-one gradients); and a
small simulation of real networks (the batched stacks of the simulator) with a stated
tolerance.  The full measured-versus-predicted tables live in
``bench/validate_critical_sparsity.py`` and its stored output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eoc
from eoc import _finite_laws as fl
from eoc._arch import as_architecture
from eoc._finite import finite_keep_fractions, simulate_virtual_networks
from eoc._laws import LowRankProductNormal
from strategies import floats

SB = 0.2
SW_EOC = float(eoc.edge_of_chaos("tanh", SB))
W30 = [784] + [100] * 29 + [10]


# --------------------------------------------------------------------------------- tables


@given(rank=floats(1.0, 3000.0), x=st.lists(floats(1e-3, 60.0), min_size=1, max_size=8))
@settings(max_examples=25, deadline=None)
def test_marginal_table_matches_the_exact_mixture_at_any_rank(rank, x):
    """The tabulated cdf of the rank-n law equals the quadrature of its definition (to 2e-5),
    and its survival function to 1 % relative wherever it exceeds 1e-25."""
    x = np.array(x)
    law = LowRankProductNormal(rank)
    np.testing.assert_allclose(fl.marginal_cdf(x, rank), law.cdf(x), atol=2e-5)
    sf = law.sf(x)
    keep = sf > 1e-25
    np.testing.assert_allclose(fl.marginal_sf(x[keep], rank), sf[keep], rtol=1e-2)


def _row_model_quantile(u, rank, n_rows, n_cols):
    """Exact row-model quantile by bisection on (E_V[F_PN(t/sqrt V)^n_c])^n_r = u (exact law functions)."""
    pn = eoc.ProductNormal()
    v, w = eoc._laws.gamma_mixing_nodes(rank)
    lo, hi = 1e-3, 300.0
    for _ in range(80):
        mid = math.sqrt(lo * hi)
        g = np.exp(n_cols * np.log1p(-pn.sf(mid / np.sqrt(v)))) @ w
        lo, hi = (mid, hi) if n_rows * math.log(g) < math.log(u) else (lo, mid)
    return math.sqrt(lo * hi)


@pytest.mark.parametrize(("rank", "rows", "cols"), [(1.0, 100, 100), (2.7, 10, 100), (40.0, 100, 784)])
def test_sampled_maxima_invert_the_row_model(rank, rows, cols):
    """Inversion of the tabulated row model gives its exact quantiles (bisection on the exact law) to 0.2 %."""
    u = np.array([0.05, 0.3, 0.5, 0.9, 0.995])
    got = fl.sample_row_maxima(np.full(u.shape, rank), rows, cols, u)
    ref = [_row_model_quantile(p, rank, rows, cols) for p in u]
    np.testing.assert_allclose(got, ref, rtol=2e-3)


@pytest.mark.parametrize("rank", [1, 3, 9])
def test_row_model_matches_simulated_low_rank_layers(rank):
    """Simulation check: the maximum of |W * (xi eta^T)/sqrt(n)| over a 60 x 80 layer (rank-n gradient,
    delocalized Gaussian factors) has the median the row model predicts, within 4 % (its stated
    accuracy is 1-3 % at these sizes; 2,000 layers give a sampling error of ~0.6 %)."""
    rng = np.random.default_rng(rank)
    reps, nr, nc = 2000, 60, 80
    out = np.empty(reps)
    for i in range(0, reps, 250):
        w = rng.standard_normal((250, nr, nc))
        g = rng.standard_normal((250, nr, rank)) @ rng.standard_normal((250, rank, nc)) / math.sqrt(rank)
        out[i : i + 250] = np.abs(w * g).reshape(250, -1).max(axis=1)
    model = fl.sample_row_maxima(float(rank), nr, nc, 0.5)
    assert abs(np.median(out) / model - 1) < 0.04, (np.median(out), model)


# --------------------------------------------------------------------------------- the model


def test_finite_model_is_exact_for_magnitude_and_random_pruning():
    """Magnitude and random scores are exactly iid at initialization: both models give the same numbers."""
    for method in ("magnitude", "random"):
        a = eoc.critical_sparsity(method, W30, "tanh", 1.1, SB)
        b = eoc.critical_sparsity(method, W30, "tanh", 1.1, SB, model="iid")
        assert a.s_cr == b.s_cr and a.model == "finite" and b.model == "iid"
        np.testing.assert_array_equal(
            eoc.predict_keep_fractions(method, 0.7, W30, "tanh", 1.1, SB),
            eoc.predict_keep_fractions(method, 0.7, W30, "tanh", 1.1, SB, model="iid"),
        )


def test_prediction_is_deterministic_given_the_seed_and_its_error_is_honest():
    """Same seed, same number; another seed differs by no more than 4 combined standard errors."""
    a = eoc.critical_sparsity("snip", W30, "tanh", 0.8, SB)
    b = eoc.critical_sparsity("snip", W30, "tanh", 0.8, SB)
    c = eoc.critical_sparsity("snip", W30, "tanh", 0.8, SB, seed=7)
    assert a.s_cr == b.s_cr
    assert abs(a.s_cr - c.s_cr) < 4 * math.hypot(a.s_cr_se, c.s_cr_se)
    assert 0 < a.s_cr_se < 0.01
    assert a.first_probabilities.sum() == pytest.approx(1.0) and a.first_layer == 0  # ordered: input side


@given(s=st.lists(floats(0.0, 0.995), min_size=1, max_size=4))
@settings(max_examples=10, deadline=None)
def test_finite_keep_fractions_average_to_one_minus_s_and_decrease(s):
    """Keep fractions lie in [0, 1], their size-weighted mean is 1 - s, and they decrease with s."""
    s = np.sort(np.array(s))
    arch = as_architecture([64, 128, 128, 32, 10])
    vn = simulate_virtual_networks(arch, "tanh", 1.3, 0.2, n_networks=32)
    keep = finite_keep_fractions(vn, s)
    assert keep.shape == (s.size, 4) and np.all((keep >= 0) & (keep <= 1))
    np.testing.assert_allclose(keep @ arch.n_weights / arch.n_weights.sum(), 1 - s, atol=1e-9)
    assert np.all(np.diff(keep, axis=0) <= 1e-12)


def test_a_batch_of_one_gives_rank_one_gradients():
    """With one example every layer gradient delta h^T has rank one: the effective ranks are 1
    up to the Wishart corrections 1/n_h + 1/n_d of the finite layer widths."""
    arch = as_architecture([50, 80, 80, 80, 10])
    vn = simulate_virtual_networks(arch, "tanh", 1.2, 0.1, batch_size=1, n_networks=16)
    assert np.all(vn.ranks < 1.0 + 2.5 / 50), vn.ranks.max()


def test_input_layer_gradient_is_incoherent_and_hidden_ones_coherent():
    """Ordered phase: the input layer's inputs are uncorrelated, so its gradient keeps many directions
    (rank ~ the number of output-gradient directions it receives), while deep layers, whose inputs share
    the batch-mean direction, are rank one; and the batch-sum gradient makes the hidden layers'
    scales grow relative to the input layer's with the batch size (the paper's model has no B)."""
    arch = as_architecture([784] + [100] * 19 + [10])
    vn = simulate_virtual_networks(arch, "tanh", 0.8, SB, n_networks=64)
    ranks = np.median(vn.ranks, axis=0)
    assert ranks[0] > 2.5 and np.all(ranks[8:] < 1.2), ranks
    ratio = []
    for b in (8, 128):
        v = simulate_virtual_networks(arch, "tanh", 0.8, SB, batch_size=b, n_networks=64)
        ratio.append(np.exp(np.mean(np.log(v.scales[:, 5] / v.scales[:, 0]))))
    assert ratio[1] > 1.3 * ratio[0], ratio


def test_stable_resnet_keeps_snip_above_the_standard_resnet():
    """The paper's headline under the finite model: SNIP's s_cr of the Stable ResNet exceeds the
    standard ResNet's, which collapses at its input projection first."""
    for depth in (10, 30):
        w = [100] * (depth + 2) + [10]
        std = eoc.critical_sparsity("snip", w, "relu", math.sqrt(2), 0.0, arch="resnet", n_networks=128)
        stb = eoc.critical_sparsity("snip", w, "relu", math.sqrt(2), 0.0, arch="resnet", alpha="stable", n_networks=128)
        assert stb.s_cr > std.s_cr + 3 * math.hypot(stb.s_cr_se, std.s_cr_se)
        assert std.first_layer == 0


def test_cnn_kind_runs_with_fan_ins_n_k2():
    """The CNN kind uses the dense recursion with fan-ins n k^2: a prediction in (0, 1) that falls with depth
    in the ordered phase, like the FFNN's."""
    s = [eoc.predict_critical_sparsity("snip", [3] + [32] * (L - 1) + [10], "tanh", 0.8, SB, arch="cnn", n_networks=64)
         for L in (5, 20)]
    assert 0 < s[1] < s[0] < 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"model": "paper"}, "model"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"labels": "sorted"}, "labels"),
        ({"input_correlation": 1.0}, "input_correlation"),
        ({"input_correlation": -0.1}, "input_correlation"),
        ({"n_networks": 1}, "n_networks"),
        ({"seed": -1}, "seed"),
        ({"estimator": "extreme_value"}, "estimator"),
    ],
)
def test_bad_model_options_raise_value_errors_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        eoc.predict_critical_sparsity("snip", [20, 30, 10], "tanh", 1.0, 0.1, **kwargs)


def test_finite_snip_model_needs_two_outputs():
    with pytest.raises(ValueError, match="single output"):
        eoc.predict_critical_sparsity("snip", [3, 1], "tanh", 1.0, 0.0)


# --------------------------------------------------------------------------------- simulation


def _measured_scr(widths, sw, replicas, batch, seed):
    torch = pytest.importorskip("torch")
    try:
        from eoc.sim import MLPStack  # the simulator's new home
    except ImportError:
        from proofs_check.engine import MLPStack
    from eoc.nn.functional import critical_sparsity

    gen = torch.Generator().manual_seed(seed)
    net = MLPStack.init(widths, "tanh", sw, SB, replicas, generator=gen)
    x = torch.randn(replicas, batch, widths[0], generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True) * math.sqrt(widths[0])
    y = torch.randint(0, widths[-1], (replicas, batch), generator=gen)
    grads = net.weight_gradients(x, y)
    scores = [(w * g).abs() for w, g in zip(net.effective_weights(), grads)]
    return critical_sparsity(scores, batch_dims=1).s_cr.numpy()


def test_finite_model_predicts_snip_critical_sparsity_of_simulated_networks():
    """Simulation check (ordered tanh FFNN 64-64x11-10, batch 64, 24 networks): the finite model is within
    3 standard errors + 0.02 of the measurement, the 0.02 being its claimed accuracy on the target
    settings (bench/validate_critical_sparsity.py); the iid model misses by more."""
    widths = [64] + [64] * 11 + [10]
    meas = _measured_scr(widths, 0.8, 24, 64, seed=3)
    se = meas.std(ddof=1) / math.sqrt(meas.size)
    pred = eoc.critical_sparsity("snip", widths, "tanh", 0.8, SB, batch_size=64)
    assert abs(pred.s_cr - meas.mean()) < 3 * math.hypot(se, pred.s_cr_se) + 0.02, (pred.s_cr, meas.mean(), se)


def test_graphs_outside_the_finite_model_get_the_iid_model_and_say_so():
    """A CIFAR ResNet (two-convolution blocks, BatchNorm, projection shortcuts) is not covered by the
    finite model: the prediction is the iid model's, and CriticalSparsity.model reports it."""
    pytest.importorskip("torch")
    import eoc.nn as enn

    arch = enn.describe(enn.resnet32(), (3, 32, 32))
    res = eoc.critical_sparsity("snip", arch, "relu", math.sqrt(2), 0.0)
    ref = eoc.critical_sparsity("snip", arch, "relu", math.sqrt(2), 0.0, model="iid")
    assert res.model == "iid" and res.s_cr == ref.s_cr
    assert eoc.critical_sparsity("snip", [100] * 12 + [10], "relu", math.sqrt(2), 0.0, arch="resnet").model == "finite"


# --------------------------------------------------------------------------------- CNN positions


def test_image_size_gives_every_convolution_its_positions():
    arch = as_architecture([3, 16, 16, 10], "cnn", image_size=8)
    np.testing.assert_array_equal(arch.positions, [64, 64, 1])
    assert arch.input_shape == (3, 8, 8) and arch.layers[0].out_spatial == (8, 8)
    np.testing.assert_array_equal(as_architecture([3, 16, 10], "cnn", image_size=(4, 6)).positions, [24, 1])
    np.testing.assert_array_equal(as_architecture([3, 16, 10], "cnn").positions, [1, 1])  # unknown: one position


@pytest.mark.parametrize("bad", [0, -3, True, 2.5, "8", (8,), (8, 0), (8, 8, 8)])
def test_a_bad_image_size_is_named(bad):
    with pytest.raises(ValueError, match="image_size"):
        as_architecture([3, 16, 10], "cnn", image_size=bad)


def test_image_size_belongs_to_cnns():
    with pytest.raises(ValueError, match="image_size=8 is only meaningful for arch='cnn'"):
        eoc.critical_sparsity("snip", [20, 30, 10], "tanh", 1.0, 0.1, image_size=8)
    with pytest.raises(ValueError, match="image_size"):
        as_architecture(as_architecture([3, 16, 10], "cnn"), image_size=8)


def test_a_one_pixel_image_is_the_model_without_positions():
    """With P = 1 the position counting is the identity: the same virtual networks, bit for bit."""
    w = [3] + [16] * 6 + [10]
    a = simulate_virtual_networks(as_architecture(w, "cnn"), "tanh", 1.1, SB, n_networks=32)
    b = simulate_virtual_networks(as_architecture(w, "cnn", image_size=1), "tanh", 1.1, SB, n_networks=32)
    np.testing.assert_array_equal(a.scales, b.scales)
    np.testing.assert_array_equal(a.ranks, b.ranks)


def test_positions_add_up_coherently_in_layers_with_correlated_inputs():
    """All P positions of an example share its output gradient, so along the common direction of a
    hidden layer's inputs (covariance v > 0 across positions and examples) the batch gradient adds
    up coherently over the B*P samples, while the input layer (uncorrelated Gaussian pixels, v = 0)
    only adds energies: in the ordered phase the hidden/input score-scale ratio grows with the image
    and s_cr falls (docs/theory.md §8.6)."""
    w = [3] + [32] * 9 + [10]
    ratio, scr = [], []
    for image in (1, 2, 4, 8):
        vn = simulate_virtual_networks(as_architecture(w, "cnn", image_size=image), "tanh", 0.8 * SW_EOC, SB,
                                       n_networks=64)  # fmt: skip
        ratio.append(float(np.exp(np.mean(np.log(vn.scales[:, 5] / vn.scales[:, 0])))))
        scr.append(eoc.critical_sparsity("snip", w, "tanh", 0.8 * SW_EOC, SB, arch="cnn", image_size=image,
                                         n_networks=64).s_cr)  # fmt: skip
    assert np.all(np.diff(ratio) > 0) and ratio[-1] > 2 * ratio[0], ratio
    assert np.all(np.diff(scr) < 0), scr


def test_a_described_cnn_gets_the_same_prediction_as_its_widths():
    """eoc.nn.describe of the plain VGG at 8x8 records the spatial sizes, so the finite model counts the
    same positions as as_architecture(..., image_size=8)."""
    pytest.importorskip("torch")
    import eoc.nn as enn

    w = [3, 16, 16, 16, 10]
    arch = enn.describe(enn.VGG(w[1:-1], in_channels=3, num_classes=10, activation="tanh", batch_norm=False), (3, 8, 8))
    np.testing.assert_array_equal(arch.positions, [64, 64, 64, 1])
    a = eoc.critical_sparsity("snip", arch, "tanh", 1.2, SB, n_networks=32)
    b = eoc.critical_sparsity("snip", w, "tanh", 1.2, SB, arch="cnn", image_size=8, n_networks=32)
    assert a.model == b.model == "finite" and a.s_cr == b.s_cr


def test_pooling_stages_and_flattens_keep_one_position_per_example():
    """Positions are resolved only for the validated chain (docs/theory.md §8.6): a VGG's max-pool stages and
    a flatten before a dense layer keep one position per example, so the prediction is the widths' one."""
    from eoc import Layer
    from eoc._finite import sample_positions

    pos, gap = sample_positions(as_architecture([3, 8, 8, 10], "cnn", image_size=6))
    np.testing.assert_array_equal(pos, [36, 36, 1])
    np.testing.assert_array_equal(gap, [1, 1, 36])
    pooled = eoc.Architecture((Layer("c0", "conv", 3, 8, (3, 3), in_spatial=(8, 8), out_spatial=(8, 8)),
                               Layer("c1", "conv", 8, 8, (3, 3), in_spatial=(4, 4), out_spatial=(4, 4)),
                               Layer("fc", "dense", 8, 10)))  # fmt: skip
    assert all(np.all(v == 1) for v in sample_positions(pooled))
    torch = pytest.importorskip("torch")
    import eoc.nn as enn

    flat = enn.describe(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                            torch.nn.Linear(8 * 16, 10)), (3, 4, 4))  # fmt: skip
    assert flat.positions[0] == 16 and all(np.all(v == 1) for v in sample_positions(flat))
    vgg = enn.describe(enn.VGG("vgg11", 3, 10, batch_norm=False, width_multiplier=0.25), (3, 32, 32))
    assert vgg.positions[0] == 1024 and np.all(sample_positions(vgg)[0] == 1)


def _cnn_mean_square_scores(widths, sw, image, batch, replicas, seed):
    pytest.importorskip("torch")
    from eoc.nn import compute_scores
    from proofs_check.claims.critical import cnn_batch_and_models

    gen, x, y, models = cnn_batch_and_models(widths=widths, act="tanh", sigma_w=sw, sigma_b=SB, replicas=replicas,
                                             batch=batch, image_size=image, seed=seed)  # fmt: skip
    return np.array([[float((s * s).mean()) for s in compute_scores(m, "snip", x, y, generator=gen).values()]
                     for m in models])  # fmt: skip


@pytest.mark.parametrize("phase", [0.8, 1.0])
def test_positions_predict_the_score_scales_of_simulated_cnns(phase):
    """Simulation check (tanh CNN 3-32-32-32-10, 8x8 Gaussian images, batch 64, 16 networks): the mean
    square SNIP score of each hidden convolution relative to the first, measured against the model's
    mean a_l^2 ratio.  Counting positions: within 3 jackknife s.e. + 25 %, above the worst hidden-layer
    gap stored in bench/data/validate_cnn_critical_sparsity.json (``mechanisms.scales``); one position
    per example (the model before positions were counted) misses by more than a factor 2.5."""
    w, sw = [3, 32, 32, 32, 10], phase * SW_EOC
    ms = _cnn_mean_square_scores(w, sw, 8, 64, 16, seed=11)
    ratio = ms[:, 1:3].mean(0) / ms[:, 0].mean()
    jack = np.array([np.delete(ms, i, 0)[:, 1:3].mean(0) / np.delete(ms, i, 0)[:, 0].mean() for i in range(len(ms))])
    se_log = np.sqrt((len(ms) - 1) * ((np.log(jack) - np.log(jack).mean(0)) ** 2).mean(0))
    pred = {}
    for image in (None, 8):
        vn = simulate_virtual_networks(as_architecture(w, "cnn", image_size=image), "tanh", sw, SB, batch_size=64,
                                       n_networks=256)  # fmt: skip
        a2 = (vn.scales**2).mean(0)
        pred[image] = a2[1:3] / a2[0]
    assert np.all(np.abs(np.log(pred[8] / ratio)) < 3 * se_log + np.log(1.25)), (pred[8], ratio, se_log)
    assert np.all(np.abs(np.log(pred[None] / ratio)) > np.log(2.5)), (pred[None], ratio)


def test_the_cnn_numbers_of_theory_md_are_the_stored_validation():
    """docs/theory.md §8.6 quotes bench/data/validate_cnn_critical_sparsity.json: every quoted number is there."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = json.loads((root / "bench" / "data" / "validate_cnn_critical_sparsity.json").read_text())
    doc = (root / "docs" / "theory.md").read_text()
    text = " ".join(doc[doc.index("### §8.6 Convolutions") : doc.index("### §8.7")].split())
    s = data["summary"]
    for key, digits in (("positions/target", 4), ("positions/out of sample", 3), ("one_position/target", 3),
                        ("one_position/out of sample", 3), ("iid/target", 3), ("iid/out of sample", 3)):
        assert f"RMS {'error ' if digits == 4 else ''}{s[key]['rms_error']:.{digits}f}, max {s[key]['max_abs_error']:.{digits}f}" in text, key
    pad = {(r["depth"], r["image_size"]): r for r in data["mechanisms"]["padding"]}
    r = pad[(20, 4)]
    assert f"high by {r['predicted'] - r['zeros']:.3f} at L = 20 in the ordered phase ({r['zeros']:.3f} measured)" in text
    assert f"{r['circular']:.3f} ± {r['circular_se']:.3f} against {r['predicted']:.3f} predicted" in text
    r = pad[(10, 16)]
    assert f"{r['circular']:.3f} ± {r['circular_se']:.3f} at L = 10" in text
    table = {(r["group"], r["depth"], r["phase"]): r for r in data["table"]}
    for depth in (10, 20):
        r = table[("image 16", depth, "ordered")]
        assert f"{r['positions']:.3f} against {r['measured']:.3f} ± {r['measured_se']:.3f} at L = {depth}" in text, depth
    big = {(r["channels"], r["image_size"]): r["gap"] for r in data["mechanisms"]["large_images"]}
    ratio = big[(64, 16)] / big[(32, 16)]
    assert (f"{big[(32, 16)]:.3f} with 32 channels, {big[(64, 16)]:.3f} with 64 (a factor {ratio:.2f}" in text
            and f"8x8 images are within {big[(64, 8)]:+.3f}" in text)  # fmt: skip
    pool = {r["activation"]: r for r in data["mechanisms"]["pooling"]}
    relu, tanh = pool["relu"], pool["tanh"]
    assert (f"it predicts {relu['even_split']:.3f} (ReLU on its EOC) and {tanh['even_split']:.3f} (ordered tanh) where "
            f"{relu['measured']:.4f} and {tanh['measured']:.4f} are measured, while one position per example gives "
            f"{relu['one_position']:.4f} and {tanh['one_position']:.4f}") in text  # fmt: skip
    ratios = [(np.array(x["positions"][1:3]) / np.array(x["measured"][1:3]),
               np.array(x["measured"][1:3]) / np.array(x["one_position"][1:3])) for x in data["mechanisms"]["scales"]]
    worst = max(float(np.max(np.abs(p - 1))) for p, _ in ratios)
    lo, hi = min(float(o.min()) for _, o in ratios), max(float(o.max()) for _, o in ratios)
    assert f"predicted {lo:.1f}-{hi:.0f}x too small; counting positions it is within {round(100 * worst)} %" in text
