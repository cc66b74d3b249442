"""Pruning at initialization (docs/theory.md §4).

Invariants checked, as in open_lth's pruning tests: the kept count is exactly
round((1 - s) M) (globally, or per layer), a threshold separates kept from pruned
scores, masks are nested when pruning again, and masks survive training, deepcopy
and a state_dict round trip.  Scores are recomputed independently here (autograd on
the plain model, closed forms for SynFlow) and the masks compared with their top-k.
"""

import contextlib
import copy
import io
import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from eoc.nn import (
    FFNN,
    VGG,
    LayerCollapseWarning,
    compute_scores,
    init_,
    load_pruned_state_dict_,
    prunable_layers,
    prune_at_init,
    remove_masks_,
    resnet,
)

pytestmark = pytest.mark.torch

WIDTHS = (6, 10, 10, 3)  # M = 60 + 100 + 30 = 190 weights


def _model(activation="tanh", seed=0, bias=True):
    model = FFNN(WIDTHS, activation, bias=bias)
    return init_(model, activation, 1.5, 0.1, generator=torch.Generator().manual_seed(seed))


def _batch(seed=1, n=16):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, WIDTHS[0], generator=gen), torch.randint(0, WIDTHS[-1], (n,), generator=gen)


def _weights(model):
    return [m.weight for _, m in prunable_layers(model)]


def _top_k(flat, k):
    """Reference ranking: stable sort by score descending (ties: smallest index first)."""
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    keep[torch.sort(flat, descending=True, stable=True).indices[:k]] = True
    return keep


def _expected_masks(scores, sparsity, scope):
    flats = [s.detach().flatten().double() for s in scores]
    if scope == "layer":
        kept = [_top_k(f, round((1 - sparsity) * f.numel())) for f in flats]
    else:
        flat = torch.cat(flats)
        kept = _top_k(flat, round((1 - sparsity) * flat.numel())).split([f.numel() for f in flats])
    return [k.view_as(s) for k, s in zip(kept, scores)]


def _assert_threshold_separates(scores, masks, groups):
    for idx in groups:
        kept = torch.cat([scores[i][masks[i].bool()].flatten() for i in idx])
        pruned = torch.cat([scores[i][~masks[i].bool()].flatten() for i in idx])
        if kept.numel() and pruned.numel():
            assert kept.min() >= pruned.max()


def _snip_by_hand(model, x, y):
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), _weights(model))
    return [(w * g).abs().detach() for w, g in zip(_weights(model), grads)]


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.75, 0.9, 0.99])
@pytest.mark.parametrize("method", ["magnitude", "snip"])
def test_masks_are_the_top_k_of_independent_scores(method, sparsity, scope):
    """Kept set = top round((1-s)M) of |W| (magnitude) or |W dL/dW| (SNIP, by autograd here)."""
    model = _model()
    x, y = _batch()
    scores = [w.detach().abs() for w in _weights(model)] if method == "magnitude" else _snip_by_hand(model, x, y)
    expected = _expected_masks(scores, sparsity, scope)
    collapse = any(not e.any() for e in expected)
    with pytest.warns(LayerCollapseWarning) if collapse else contextlib.nullcontext():
        masks = prune_at_init(model, method, sparsity, x, y, scope=scope)
    assert list(masks) == ["linears.0", "linears.1", "linears.2"]
    for mask, exp in zip(masks.values(), expected):
        assert torch.equal(mask.bool(), exp)
    sizes = [s.numel() for s in scores]
    if scope == "global":
        assert sum(int(m.sum()) for m in masks.values()) == round((1 - sparsity) * sum(sizes))
        _assert_threshold_separates(scores, list(masks.values()), [range(3)])
    else:
        assert [int(m.sum()) for m in masks.values()] == [round((1 - sparsity) * n) for n in sizes]
        _assert_threshold_separates(scores, list(masks.values()), [[0], [1], [2]])


def test_snip_scores_equal_autograd_by_hand():
    model = _model()
    x, y = _batch()
    got = compute_scores(model, "snip", x, y)
    for g, e in zip(got.values(), _snip_by_hand(model, x, y)):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_ties_keep_the_first_weights_in_module_order(scope):
    """All weights equal: exactly round((1-s)M) kept, the first ones in module order."""
    model = FFNN(WIDTHS, bias=False)
    for w in _weights(model):
        nn.init.constant_(w, 0.5)
    if scope == "global":
        with pytest.warns(LayerCollapseWarning):
            masks = list(prune_at_init(model, "magnitude", 0.5).values())
    else:
        masks = list(prune_at_init(model, "magnitude", 0.5, scope="layer").values())
    if scope == "global":  # keep 95 = all 60 of layer 0, then the first 35 of layer 1
        assert masks[0].all() and masks[1].flatten()[:35].all() and not masks[1].flatten()[35:].any()
        assert not masks[2].any()
    else:
        for m in masks:
            n = round(0.5 * m.numel())
            assert m.flatten()[:n].all() and not m.flatten()[n:].any()


def test_collapse_warning_names_the_empty_layer():
    model = FFNN(WIDTHS, bias=False)
    for w in _weights(model):
        nn.init.constant_(w, 0.5)
    with pytest.warns(LayerCollapseWarning, match="'linears.2'"):
        prune_at_init(model, "magnitude", 0.5)


def _grasp_by_hand(model, x, y, temperature):
    weights = _weights(model)
    grads = torch.autograd.grad(F.cross_entropy(model(x) / temperature, y), weights, create_graph=True)
    hg = torch.autograd.grad(sum((g * g.detach()).sum() for g in grads), weights)
    return [(-w * h).detach() for w, h in zip(weights, hg)]  # Wang et al.'s S = -W Hg


@pytest.mark.parametrize("temperature", [200.0, 1.0])
@pytest.mark.parametrize("sparsity", [0.3, 0.8])
def test_grasp_keeps_what_grasp_keeps(sparsity, temperature):
    """Wang et al. remove the (M - k) largest S = -W Hg of the loss at temperature T
    (default 200, their code's); prune_at_init keeps the complement."""
    model = _model()
    x, y = _batch()
    s = torch.cat([t.flatten() for t in _grasp_by_hand(model, x, y, temperature)])
    n_removed = s.numel() - round((1 - sparsity) * s.numel())
    removed = torch.zeros(s.numel(), dtype=torch.bool)
    removed[torch.topk(s, n_removed).indices] = True
    kwargs = {} if temperature == 200.0 else {"temperature": temperature}
    masks = prune_at_init(model, "grasp", sparsity, x, y, **kwargs)
    assert torch.equal(torch.cat([m.flatten() for m in masks.values()]).bool(), ~removed)


def _synflow_closed_form(model):
    """Linear net with |W| and positive input: score_l = |W_l| * outer(1^T |W_L|..|W_l+1|, |W_l-1|..|W_1| 1)."""
    w = [m.weight.detach().double().abs() for m in model.linears]
    below = [torch.ones(WIDTHS[0], dtype=torch.float64)]
    for wl in w[:-1]:
        below.append(wl @ below[-1])
    above = [torch.ones(WIDTHS[-1], dtype=torch.float64)]
    for wl in reversed(w[1:]):
        above.insert(0, above[0] @ wl)
    return [wl * torch.outer(a, b) for wl, a, b in zip(w, above, below)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_synflow_scores_match_closed_form_on_relu_ffnn(dtype):
    """ReLU net without bias, |W|, input 1: R = 1^T |W3||W2||W1| 1 and dR/dW has a closed form;
    computed in the model's dtype (float32 unless it overflows)."""
    model = _model("relu", bias=False).to(dtype)
    got = compute_scores(model, "synflow")
    for g, e in zip(got.values(), _synflow_closed_form(model)):
        assert g.dtype == dtype
        torch.testing.assert_close(g.double(), e, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=0)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_synflow_one_round_is_single_shot(scope):
    model = _model("relu")
    scores = list(compute_scores(model, "synflow").values())
    masks = prune_at_init(model, "synflow", 0.8, rounds=1, scope=scope)
    for mask, exp in zip(masks.values(), _expected_masks(scores, 0.8, scope)):
        assert torch.equal(mask.bool(), exp)


def test_synflow_iterative_keeps_exact_count_and_leaves_parameters_alone():
    model = _model("relu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = prune_at_init(model, "synflow", 0.9, rounds=10)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * 190)
    for name, module in prunable_layers(model):
        assert torch.equal(module.weight_orig, before[f"{name}.weight"])
        assert module.weight_orig.dtype == torch.float32


def test_synflow_on_tiny_resnet_restores_parameters_buffers_and_modes():
    """Scoring flips signs, casts to float64 and sets BN to eval: all of it is undone."""
    model = resnet(8, in_channels=1, width_multiplier=0.25)
    model.train()
    model.layer2.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    scores = compute_scores(model, "synflow", input_shape=(1, 8, 8))
    assert "layer3.0.shortcut.0" in scores and all(bool((s >= 0).all()) for s in scores.values())
    state = model.state_dict()
    assert all(torch.equal(state[k], v) and state[k].dtype == v.dtype for k, v in before.items())
    assert [m.training for m in model.modules()] == modes
    x = torch.zeros(2, 1, 8, 8)
    masks = prune_at_init(model, "synflow", 0.5, x, rounds=3)  # input shape from inputs
    assert sum(int(m.sum()) for m in masks.values()) == round(0.5 * sum(m.numel() for m in masks.values()))


def test_scores_of_a_pruned_model_use_effective_weights_and_masks_nest():
    """Pruning again: pruned weights score 0, new masks lie inside the old ones."""
    model = _model()
    x, y = _batch()
    first = prune_at_init(model, "magnitude", 0.5)
    for method in ("random", "magnitude", "snip", "grasp", "synflow"):
        scores = compute_scores(model, method, x, y, generator=torch.Generator().manual_seed(0))
        assert all(torch.all(s[first[n] == 0] == 0) for n, s in scores.items())
    second = prune_at_init(model, "snip", 0.8, x, y)
    assert sum(int(m.sum()) for m in second.values()) == round(0.2 * 190)
    assert all(torch.all(second[n] <= first[n]) for n in first)
    with pytest.raises(ValueError, match="cannot revive"):
        prune_at_init(model, "magnitude", 0.5)


def test_random_is_reproducible_with_a_generator():
    masks = [
        prune_at_init(_model(), "random", 0.7, generator=torch.Generator().manual_seed(9)) for _ in range(2)
    ]
    assert all(torch.equal(masks[0][n], masks[1][n]) for n in masks[0])


def _assert_pruned_weights_are_zero(model, masks):
    for name, module in prunable_layers(model):
        assert torch.all(module.weight[masks[name] == 0] == 0)


def _train(model, steps=3):
    x, y = _batch(seed=5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model(x)  # the pruning pre-hook recomputes weight = weight_orig * weight_mask


def test_masks_survive_sgd_with_momentum_and_weight_decay():
    model = _model()
    masks = prune_at_init(model, "magnitude", 0.8)
    before = model.linears[0].weight_orig.clone()
    _train(model)
    assert not torch.equal(model.linears[0].weight_orig, before)
    _assert_pruned_weights_are_zero(model, masks)


def test_masks_survive_deepcopy():
    """A pruned model deep-copies right after pruning, and after a no-grad forward."""
    model = _model()
    masks = prune_at_init(model, "magnitude", 0.8)
    clone = copy.deepcopy(model)
    _train(clone)
    _assert_pruned_weights_are_zero(clone, masks)
    with torch.no_grad():
        clone(_batch()[0])
    _assert_pruned_weights_are_zero(copy.deepcopy(clone), masks)


def test_masks_survive_state_dict_round_trip():
    """Saved: weight_orig + weight_mask; reload with load_pruned_state_dict_ into a fresh model."""
    model = _model()
    masks = prune_at_init(model, "magnitude", 0.8)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = load_pruned_state_dict_(FFNN(WIDTHS), torch.load(buffer))
    x, _ = _batch()
    torch.testing.assert_close(fresh(x), model(x))
    assert all(torch.equal(m.weight_mask, masks[n]) for n, m in prunable_layers(fresh))
    _train(fresh)
    _assert_pruned_weights_are_zero(fresh, masks)


def test_remove_masks_makes_pruning_permanent():
    model = _model()
    masks = prune_at_init(model, "magnitude", 0.6)
    assert prune.is_pruned(model)  # standard torch tooling sees the masks
    assert remove_masks_(model) is model
    assert not prune.is_pruned(model)
    for name, module in prunable_layers(model):
        assert isinstance(module.weight, nn.Parameter) and not hasattr(module, "weight_mask")
        assert torch.all(module.weight[masks[name] == 0] == 0)
    assert "linears.0.weight" in model.state_dict()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("magnitude", -0.1), {}, "sparsity=-0.1"),
        (("magnitude", 1.0), {}, "sparsity=1.0"),
        (("foo", 0.5), {}, "method='foo'"),
        (("snip", 0.5), {}, "method='snip'"),
        (("grasp", 0.5), {}, "method='grasp'"),
        (("magnitude", 0.5), {"scope": "local"}, "scope='local'"),
        (("synflow", 0.5), {"rounds": 0}, "rounds=0"),
    ],
)
def test_bad_arguments_raise_naming_the_value(args, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        prune_at_init(_model(), *args, **kwargs)


def test_model_without_prunable_layer_raises():
    with pytest.raises(ValueError, match="no prunable layer.*Sequential"):
        prune_at_init(nn.Sequential(nn.ReLU()), "magnitude", 0.5)


def test_synflow_without_input_shape_raises():
    with pytest.raises(ValueError, match="input_shape"):
        compute_scores(VGG([2], in_channels=1), "synflow")


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_iterative_synflow_is_algorithm_1_round_by_round(scope):
    """rounds=n (alive-only fast loop) == n single-shot prunes at sparsities 1 - (1-s)^(r/n),
    each scoring the network masked by the previous one (Tanaka et al., Algorithm 1)."""
    fast, slow = _model("relu"), _model("relu")
    masks = prune_at_init(fast, "synflow", 0.9, rounds=6, scope=scope)
    for r in range(1, 7):
        step = prune_at_init(slow, "synflow", 1 - 0.1 ** (r / 6), rounds=1, scope=scope)
    assert all(torch.equal(masks[n], step[n]) for n in masks)
