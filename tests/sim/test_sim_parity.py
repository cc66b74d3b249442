"""Replica r of an eoc.sim stack is the eoc.nn network with the same weights.

For every replica of small float64 stacks (FFNN and one-layer-branch ResNet, plain
and pruned) the simulator and :mod:`eoc.nn` must agree to 1e-12 on the forward pass
(every pre-activation), the weight gradients of the mean cross-entropy, the
magnitude and SNIP scores, the global and per-layer masks, the critical sparsity
and the rescaled weights.  The eoc.nn side is computed on
``stack.to_module(r)``, whose weights are copied from the stack, with the eoc.nn
functions a user calls (``compute_scores``, ``prune_at_init``, ``rescale_``,
``measured_critical_sparsity_details``).
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as TF

import eoc.nn as enn
from eoc.sim import MLPStack, ResNetStack, gaussian_inputs, random_labels, streamed_forward_stats
from eoc.sim.stats import pair_correlations, second_moments

TOL = 1e-12
R = 3
BATCH = 12
CLASSES = 5


def _close(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    a, b = a.detach(), b.detach()
    err = float((a - b).abs().max())
    scale = max(1.0, float(b.abs().max()))
    assert err <= TOL * scale, f"{what}: max |sim - eoc.nn| = {err:.3g} (scale {scale:.3g})"


def _mlp(seed=0, act="tanh"):
    g = torch.Generator().manual_seed(seed)
    net = MLPStack.init([10, 16, 12, 16, CLASSES], act, 1.3, 0.2, R, generator=g)
    return net, gaussian_inputs(BATCH, 10, generator=g), random_labels(BATCH, CLASSES, generator=g)


def _resnet(seed=0, alpha=0.5):
    g = torch.Generator().manual_seed(seed)
    net = ResNetStack.init(10, 16, 3, CLASSES, "relu", 2**0.5, 0.1, alpha, R, generator=g)
    return net, gaussian_inputs(BATCH, 10, generator=g), random_labels(BATCH, CLASSES, generator=g)


STACKS = {"mlp": _mlp, "resnet": _resnet}


def _module_preactivations(module, x):
    """Every Linear's output of ``module(x)``, in module order (forward hooks)."""
    out, hooks = [], []
    for _, layer in enn.prunable_layers(module):
        hooks.append(layer.register_forward_hook(lambda m, i, o: out.append(o.detach())))
    try:
        with torch.no_grad():
            y = module(x)
    finally:
        for h in hooks:
            h.remove()
    return y, out


@pytest.mark.parametrize("kind", STACKS)
def test_forward_of_every_replica_equals_eoc_nn(kind):
    """Output and every layer's pre-activation of replica r = the eoc.nn model's."""
    net, x, _ = STACKS[kind]()
    out, pre = net.forward(x)
    for r in range(R):
        y, linear_outs = _module_preactivations(net.to_module(r), x)
        _close(out[r], y, f"{kind} output, replica {r}")
        if kind == "mlp":
            assert len(linear_outs) == len(pre)
            for l, (a, b) in enumerate(zip(pre, linear_outs)):
                _close(a[r], b, f"pre-activation {l}, replica {r}")
        else:
            # The stack records the residual stream y^0..y^L; the module's Linear outputs are
            # the projection, the branches W phi(y) + B and the read-out.
            _close(pre[0][r], linear_outs[0], f"projection, replica {r}")
            for l in range(1, len(pre) - 1):
                _close(pre[l][r], pre[l - 1][r] + net.alpha * linear_outs[l], f"stream {l}, replica {r}")


@pytest.mark.parametrize("kind", STACKS)
@pytest.mark.parametrize("pruned", [False, True])
def test_weight_gradients_equal_eoc_nn(kind, pruned):
    """d(mean cross-entropy)/dW of replica r = the gradient autograd gives for the eoc.nn model."""
    net, x, y = STACKS[kind](seed=1)
    if pruned:
        net.apply_masks(net.magnitude_scores().global_masks(0.4))
    grads = net.weight_gradients(x, y)
    for r in range(R):
        model = net.to_module(r)
        TF.cross_entropy(model(x), y).backward()
        for l, (_, layer) in enumerate(enn.prunable_layers(model)):
            if pruned:  # the stack differentiates w.r.t. W * mask, torch w.r.t. weight_orig: dL/dW_orig = mask dL/dW_eff
                got, want = grads[l][r] * net.masks[l][r], layer.weight_orig.grad
            else:
                got, want = grads[l][r], layer.weight.grad
            _close(got, want, f"{kind} gradient of layer {l}, replica {r}")


@pytest.mark.parametrize("kind", STACKS)
@pytest.mark.parametrize("method", ["magnitude", "snip"])
@pytest.mark.parametrize("pruned", [False, True])
def test_scores_equal_eoc_nn_compute_scores(kind, method, pruned):
    """Magnitude and SNIP importances of replica r = eoc.nn.compute_scores on its model."""
    net, x, y = STACKS[kind](seed=2)
    if pruned:
        net.apply_masks(net.magnitude_scores().global_masks(0.3))
    scores = net.magnitude_scores() if method == "magnitude" else net.snip_scores(x, y)
    for r in range(R):
        want = enn.compute_scores(net.to_module(r), method, x, y)
        assert len(want) == len(scores.layers)
        for l, ref in enumerate(want.values()):
            _close(scores.layers[l][r], ref, f"{kind} {method} scores of layer {l}, replica {r}")


@pytest.mark.parametrize("kind", STACKS)
@pytest.mark.parametrize("method", ["magnitude", "snip"])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_masks_equal_eoc_nn_prune_at_init(kind, method, scope):
    """Masks of replica r at sparsity 0.6 = the masks eoc.nn.prune_at_init applies to its model."""
    net, x, y = STACKS[kind](seed=3)
    scores = net.magnitude_scores() if method == "magnitude" else net.snip_scores(x, y)
    masks = scores.global_masks(0.6) if scope == "global" else scores.per_layer_masks(0.6)
    for r in range(R):
        want = enn.prune_at_init(net.to_module(r), method, 0.6, x, y, scope=scope)
        for l, ref in enumerate(want.values()):
            assert torch.equal(masks[l][r], ref.bool()), f"{kind} {method} {scope} mask {l}, replica {r}"


@pytest.mark.parametrize("kind", STACKS)
def test_critical_sparsity_equals_eoc_nn(kind):
    """s_cr and the first layer to collapse of replica r = eoc.nn.measured_critical_sparsity_details."""
    net, x, y = STACKS[kind](seed=4)
    s_cr, layer = net.snip_scores(x, y).critical_sparsity()
    for r in range(R):
        scores = enn.compute_scores(net.to_module(r), "snip", x, y)
        ref_s, _, ref_layer = enn.measured_critical_sparsity_details(scores)
        assert float(s_cr[r]) == pytest.approx(ref_s, abs=TOL)
        assert list(scores)[int(layer[r])] == ref_layer


@pytest.mark.parametrize("kind", STACKS)
@pytest.mark.parametrize("mode", ["neuron", "layer"])
def test_rescaled_weights_equal_eoc_nn_rescale(kind, mode):
    """After pruning, the stack's rescaled effective weights = eoc.nn.rescale_ on replica r's model."""
    net, x, y = STACKS[kind](seed=5)
    net.apply_masks(net.snip_scores(x, y).global_masks(0.5))
    models = [net.to_module(r) for r in range(R)]
    net.rescale_(mode)
    eff = net.effective_weights()
    for r, model in enumerate(models):
        enn.rescale_(model, mode)
        for l, (_, layer) in enumerate(enn.prunable_layers(model)):
            _close(eff[l][r], layer.weight_orig * layer.weight_mask, f"{kind} {mode} rescaled layer {l}, replica {r}")
            _close(net.weights[l][r], layer.weight_orig, f"{kind} {mode} weight_orig {l}, replica {r}")
    # and the rescaled replica is still the same network: forward parity after rescaling
    out, _ = net.forward(x)
    for r, model in enumerate(models):
        with torch.no_grad():
            _close(out[r], model(x), f"{kind} forward after rescaling, replica {r}")


def test_streamed_statistics_equal_stored_network_statistics():
    """streamed_forward_stats draws the weights of MLPStack.init with the same generator state."""
    widths, R_ = [8, 12, 12, 12], 4
    x = gaussian_inputs(6, 8, generator=torch.Generator().manual_seed(9))
    q, c = streamed_forward_stats(widths, "tanh", 1.2, 0.3, R_, x, generator=torch.Generator().manual_seed(7))
    net = MLPStack.init(widths, "tanh", 1.2, 0.3, R_, generator=torch.Generator().manual_seed(7))
    _, pre = net.forward(x)
    assert torch.equal(q, second_moments(pre)) and torch.equal(c, pair_correlations(pre))


def test_random_scores_follow_the_mask_and_the_selection_keeps_exact_counts():
    net, _, _ = _mlp(seed=6)
    net.apply_masks(net.magnitude_scores().global_masks(0.5))
    scores = net.random_scores(torch.Generator().manual_seed(0))
    for s, m in zip(scores.layers, net.masks):
        assert torch.all(s[m == 0] == 0) and torch.all((s[m == 1] > 0) & (s[m == 1] < 1))
    total = int(scores.n_weights.sum())
    masks = scores.global_masks(0.8)
    kept = sum(m.flatten(1).sum(1) for m in masks)
    assert torch.equal(kept, torch.full((R,), round(0.2 * total)))
    assert all(torch.all(new <= old.bool()) for new, old in zip(masks, net.masks))  # dead weights stay dead


def test_bad_arguments_name_the_argument():
    net, _, _ = _mlp()
    with pytest.raises(ValueError, match="replica"):
        net.to_module(R)
    with pytest.raises(ValueError, match="rescale_ needs a pruned network"):
        net.rescale_()
    with pytest.raises(ValueError, match="sparsity"):
        net.magnitude_scores().global_masks(1.0)
    with pytest.raises(ValueError, match="replicas"):
        MLPStack.init([4, 4], "tanh", 1.0, 0.0, 0, generator=torch.Generator())
    with pytest.raises(ValueError, match="sigma_w"):
        MLPStack.init([4, 4, 4], "tanh", [1.0, 1.0, 1.0], 0.0, 2, generator=torch.Generator())
    with pytest.raises(ValueError, match="expected 4 masks"):
        net.apply_masks([])
    net.apply_masks(net.magnitude_scores().global_masks(0.5))
    with pytest.raises(ValueError, match="mode"):
        net.rescale_("population")
