"""Training with masks applied in place (inplace_masks_, apply_masks_, register_mask_hook).

The invariants: pruned entries are exactly zero at every forward pass; the kept
entries follow bit for bit the trajectory they follow under torch.nn.utils.prune's
pre-hook (SGD with momentum, Nesterov, weight decay; Adam); the state_dict has the
same keys and loads both ways; deepcopy, dtype moves and re-pruning work.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch.nn import functional as F
from torch.nn.utils import prune

from eoc.nn import (
    FFNN,
    apply_masks_,
    compute_scores,
    init_,
    inplace_masks_,
    load_pruned_state_dict_,
    prunable_layers,
    prune_at_init,
    register_mask_hook,
    remove_masks_,
    rescale_,
    resnet,
)

WIDTHS = (6, 12, 12, 3)


def _pruned(seed=0, sparsity=0.7):
    model = init_(FFNN(WIDTHS, "tanh"), "tanh", 1.5, 0.1, generator=torch.Generator().manual_seed(seed))
    prune_at_init(model, "magnitude", sparsity)
    return model


def _batches(n=4):
    g = torch.Generator().manual_seed(5)
    return [(torch.randn(16, WIDTHS[0], generator=g), torch.randint(0, 3, (16,), generator=g)) for _ in range(n)]


def _train(model, opt, batches, check=None):
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if check:
            check(model)


OPTIMIZERS = {
    "sgd_momentum_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3),
}


def _effective(model):
    return [(m.weight_orig * m.weight_mask).detach() for _, m in prunable_layers(model)]


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_inplace_training_equals_prune_hook_training_bit_for_bit(optimizer):
    hooked = _pruned()
    inplace = inplace_masks_(copy.deepcopy(hooked))
    apply_masks_(hooked)  # the same starting point: pruned entries of weight_orig zero in both
    opt_h = OPTIMIZERS[optimizer](hooked.parameters())
    opt_i = OPTIMIZERS[optimizer](inplace.parameters())
    register_mask_hook(opt_i, inplace)

    def zero_at_pruned(model):
        for _, m in prunable_layers(model):
            assert m.weight is m.weight_orig
            assert torch.all(m.weight[m.weight_mask == 0] == 0)

    batches = _batches()
    _train(hooked, opt_h, batches)
    _train(inplace, opt_i, batches, check=zero_at_pruned)
    for a, b in zip(_effective(hooked), _effective(inplace)):
        assert torch.equal(a, b)
    for _, m in prunable_layers(inplace):  # optimizer state of the pruned entries cleared
        state = [v for v in opt_i.state[m.weight_orig].values() if v.shape == m.weight_orig.shape]
        assert state and all(torch.all(v[m.weight_mask == 0] == 0) for v in state)


def test_state_dict_keys_are_unchanged_and_load_both_ways():
    hooked = _pruned()
    inplace = inplace_masks_(copy.deepcopy(hooked))
    assert list(inplace.state_dict()) == list(hooked.state_dict())
    assert not prune.is_pruned(inplace)
    buffer = io.BytesIO()
    torch.save(inplace.state_dict(), buffer)
    buffer.seek(0)
    fresh = load_pruned_state_dict_(FFNN(WIDTHS, "tanh"), torch.load(buffer))
    x = _batches(1)[0][0]
    torch.testing.assert_close(fresh(x), inplace(x))
    back = copy.deepcopy(inplace)
    back.load_state_dict(hooked.state_dict())  # a pre-hook checkpoint into the in-place form
    apply_masks_(back)
    torch.testing.assert_close(back(x), hooked(x))


def test_deepcopy_after_a_forward_with_autograd_and_dtype_moves():
    model = inplace_masks_(_pruned())
    x, y = _batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    clone = copy.deepcopy(model)  # the pre-hook form would refuse: non-leaf weight
    assert all(m.weight is m.weight_orig for _, m in prunable_layers(clone))
    model.double()
    out = model(x.double())
    assert out.dtype == torch.float64
    assert all(m.weight is m.weight_orig and m.weight.dtype == torch.float64 for _, m in prunable_layers(model))


def test_scoring_and_pruning_again_an_inplace_masked_model():
    model = inplace_masks_(_pruned(sparsity=0.5))
    first = {n: m.weight_mask.clone() for n, m in prunable_layers(model)}
    x, y = _batches(1)[0]
    scores = compute_scores(model, "snip", x, y)
    assert all(torch.all(s[first[n] == 0] == 0) for n, s in scores.items())
    second = prune_at_init(model, "snip", 0.8, x, y)
    assert sum(int(m.sum()) for m in second.values()) == round(0.2 * sum(m.numel() for m in second.values()))
    for name, m in prunable_layers(model):
        assert torch.all(second[name] <= first[name]) and m.weight is m.weight_orig
        assert torch.all(m.weight_orig[m.weight_mask == 0] == 0)
    apply_masks_(model)  # its cache of the pruned entries follows the new masks
    with torch.no_grad():
        for _, m in prunable_layers(model):
            m.weight_orig.fill_(1.0)
    apply_masks_(model)
    for name, m in prunable_layers(model):
        assert torch.equal(m.weight, second[name])


def test_remove_masks_of_an_inplace_masked_model():
    model = inplace_masks_(_pruned())
    masks = {n: m.weight_mask.clone() for n, m in prunable_layers(model)}
    remove_masks_(model)
    assert "linears.0.weight" in model.state_dict() and not any("_mask" in k for k in model.state_dict())
    for name, m in prunable_layers(model):
        assert torch.all(m.weight[masks[name] == 0] == 0) and not m._forward_pre_hooks


def test_inplace_masks_on_a_resnet_trains_with_pruned_entries_at_zero():
    model = resnet(8, num_classes=3, in_channels=1, width_multiplier=0.25)
    prune_at_init(model, "magnitude", 0.9, scope="layer")
    inplace_masks_(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    handle = register_mask_hook(opt, model)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(torch.randn(4, 1, 8, 8, generator=g)), torch.arange(4) % 3).backward()
        opt.step()
    for _, m in prunable_layers(model):
        assert torch.all(m.weight[m.weight_mask == 0] == 0)
    handle.remove()


def test_errors():
    with pytest.raises(ValueError, match="no pruned tensor"):
        inplace_masks_(FFNN(WIDTHS))
    with pytest.raises(ValueError, match="no pruned tensor"):
        apply_masks_(FFNN(WIDTHS))
    model = inplace_masks_(_pruned())
    with pytest.raises(ValueError, match="rescale_ before inplace_masks_"):
        rescale_(model)
