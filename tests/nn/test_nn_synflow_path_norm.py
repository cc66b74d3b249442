"""SynFlow scores are the path-norm saliencies of docs/theory.md §4, computed independently here."""

import warnings

import numpy as np
import torch

from eoc.nn import FFNN, LayerCollapseWarning, compute_scores, init_, keep_fractions, prune_at_init


def test_synflow_scores_equal_path_norm_saliencies():
    """score_ij of layer l = |W_ij| (1^T prod_{k>l} |W^k|)_i (prod_{k<l} |W^k| 1)_j, activations and biases ignored."""
    model = FFNN([5, 7, 6, 3], activation="tanh").double()
    init_(model, "tanh", 1.3, 0.5, generator=torch.Generator().manual_seed(1))
    scores = compute_scores(model, "synflow", input_shape=(5,))
    ws = [np.abs(p.detach().numpy()) for n, p in model.named_parameters() if n.endswith("weight")]
    assert len(ws) == 3
    for l, (name, s) in enumerate(scores.items()):
        right = np.ones(ws[0].shape[1])
        for w in ws[:l]:
            right = w @ right
        left = np.ones(ws[-1].shape[0])
        for w in ws[:l:-1]:
            left = left @ w
        expected = ws[l] * np.outer(left, right)
        np.testing.assert_allclose(s.numpy(), expected, rtol=1e-12, err_msg=name)


def test_synflow_keeps_every_layer_of_a_deep_tanh_ffnn_with_biases():
    """Bias paths would break the conservation law; with the path norm no layer is emptied at 99.5%."""
    for seed in range(2):
        model = FFNN([64] + [64] * 19 + [10], activation="tanh").double()
        init_(model, "tanh", 1.04, 0.2, generator=torch.Generator().manual_seed(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("error", LayerCollapseWarning)
            prune_at_init(model, "synflow", 0.995, rounds=100, input_shape=(64,))
        assert min(keep_fractions(model).values()) > 0
