"""SynFlow scores the linearized network on any model it accepts (docs/theory.md §4).

Conservation law (Tanaka et al. 2020, Theorem 2, for the linearized network): in a
feed-forward network every path from input to output crosses every layer once, so R
is homogeneous of degree one in each layer's weights and, by Euler's identity, the
scores of every layer sum to the same R.  In a residual network R is affine in each
layer's weights, so a layer's scores sum to R minus the path norm with that layer
removed.  Both are checked here against path norms computed independently (products
of |W| by hand), on models whose activations are shared modules or plain function
calls, which the linearization must see.
"""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from eoc.nn import (
    FFNN,
    LayerCollapseWarning,
    NotLinearizableError,
    compute_scores,
    init_,
    keep_fractions,
    prune_at_init,
)

torch.set_default_dtype(torch.float32)


def _seeded(model, seed=0, sigma_w=1.3, sigma_b=0.3):
    return init_(model, "tanh", sigma_w, sigma_b, generator=torch.Generator().manual_seed(seed))


def _path_norm(weights: list[torch.Tensor]) -> float:
    """R = 1^T |W_L| ... |W_1| 1 in float64, by hand."""
    v = torch.ones(weights[0].shape[1], dtype=torch.float64)
    for w in weights:
        v = w.detach().double().abs() @ v
    return float(v.sum())


class SharedTanh(nn.Sequential):
    """nn.Sequential(lin, act, lin, act, ..., lin) with ONE tanh module used after every layer."""

    def __init__(self, widths):
        act = nn.Tanh()
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), act]
        super().__init__(*layers[:-1])


class Functional(nn.Module):
    """Activations called as functions in forward: torch.tanh, F.relu, x.sigmoid(), F.gelu."""

    def __init__(self, widths):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x):
        acts = [torch.tanh, F.relu, lambda t: t.sigmoid(), F.gelu, torch.erf]
        for i, layer in enumerate(self.layers[:-1]):
            x = acts[i % len(acts)](layer(x))
        return self.layers[-1](x)


WIDTHS = (7, 9, 8, 9, 6, 8, 4)


@pytest.mark.parametrize("factory", [SharedTanh, Functional], ids=["shared_module", "functional"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_layer_scores_sum_to_the_path_norm(factory, dtype):
    """Feed-forward, activations shared or functional: sum of layer l's scores = R for every l."""
    model = _seeded(factory(WIDTHS)).to(dtype)
    scores = compute_scores(model, "synflow", input_shape=(WIDTHS[0],))
    R = _path_norm([m.weight for m in model.modules() if isinstance(m, nn.Linear)])
    rtol = 1e-12 if dtype == torch.float64 else 2e-6
    assert all(s.dtype == dtype for s in scores.values())
    for name, s in scores.items():
        assert float(s.double().sum()) == pytest.approx(R, rel=rtol), name


class TanhResNet(nn.Module):
    """y <- y + W tanh(y) with a functional tanh, a shared nn.Tanh read-out and no biases."""

    def __init__(self, width=6, depth=4):
        super().__init__()
        self.inp = nn.Linear(5, width, bias=False)
        self.blocks = nn.ModuleList(nn.Linear(width, width, bias=False) for _ in range(depth))
        self.out = nn.Linear(width, 3, bias=False)
        self.act = nn.Tanh()

    def forward(self, x):
        y = self.inp(x)
        for b in self.blocks:
            y = y + b(torch.tanh(y))
        return self.out(self.act(y))


def _residual_path_norm(model: TanhResNet, drop: str | None = None) -> float:
    """R of the linearized residual net by hand, with the layer ``drop`` set to zero."""
    w = {n: m.weight.detach().double().abs() for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    if drop is not None:
        w[drop] = torch.zeros_like(w[drop])
    y = w["inp"] @ torch.ones(5, dtype=torch.float64)
    for i in range(len(model.blocks)):
        y = y + w[f"blocks.{i}"] @ y
    return float((w["out"] @ y).sum())


def test_residual_layer_scores_sum_to_the_paths_through_that_layer():
    """R is affine in each layer's weights: sum of layer l's scores = R - R(W_l = 0)."""
    model = _seeded(TanhResNet()).double()
    scores = compute_scores(model, "synflow", input_shape=(5,))
    R = _residual_path_norm(model)
    for name, s in scores.items():
        assert float(s.sum()) == pytest.approx(R - _residual_path_norm(model, name), rel=1e-12), name
    assert float(scores["inp"].sum()) == pytest.approx(R, rel=1e-12)  # every path crosses the stem


def test_shared_tanh_ffnn_keeps_every_layer_at_90_percent():
    """The issue's case: a 10-layer tanh nn.Sequential with one shared Tanh; with every use
    linearized no layer is emptied at 90% (9 of them were when only the first use was)."""
    model = _seeded(SharedTanh([32] * 10 + [10]), sigma_w=1.0, sigma_b=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LayerCollapseWarning)
        prune_at_init(model, "synflow", 0.9, rounds=20, input_shape=(32,))
    assert min(keep_fractions(model).values()) > 0


def test_the_model_is_left_exactly_as_it_was():
    model = _seeded(SharedTanh(WIDTHS))
    act = model[1]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    compute_scores(model, "synflow", input_shape=(WIDTHS[0],))
    assert "forward" not in act.__dict__ and model[3] is act
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    x = h = torch.randn(2, WIDTHS[0])
    for layer in [m for m in model if isinstance(m, nn.Linear)][:-1]:
        h = torch.tanh(layer(h))
    torch.testing.assert_close(model(x), model[-1](h))  # the shared tanh acts again


class HandSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(4, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = self.lin1(x)
        return self.lin2(h * torch.sigmoid(h))  # x * sigmoid(x): linearized to h * h


class Softmaxed(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))

    def forward(self, x):
        return F.log_softmax(self.body(x), dim=-1)


class Offset(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.shift = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.lin(x) + self.shift


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (HandSwish(), r"module 'HandSwish' \(HandSwish\); torch functions it calls: .*mul"),
        (Softmaxed(), r"module 'Softmaxed' \(Softmaxed\); torch functions it calls: log_softmax"),
        (Offset(), r"module 'Offset' \(Offset\); torch functions it calls: add"),
    ],
    ids=["hand_written_swish", "log_softmax", "additive_parameter"],
)
def test_a_network_that_cannot_be_linearized_is_refused_by_name(model, match):
    """Euler's identity sum x dR/dx = R fails: the error names the module and what it calls."""
    with pytest.raises(NotLinearizableError, match=match) as info:
        compute_scores(model, "synflow", input_shape=(4,))
    assert isinstance(info.value, ValueError) and "SynFlow cannot linearize" in str(info.value)


def test_float32_overflow_falls_back_to_float64_and_matches_it():
    """A path norm beyond float32's range (weights ~ 30, 24 layers: R ~ 1e40) is detected
    and computed in float64; the scores equal those of the float64 model."""
    model = FFNN([8] * 24 + [2], "relu", bias=False)
    init_(model, "relu", 30.0 * 8**0.5, generator=torch.Generator().manual_seed(3))
    R = _path_norm([m.weight for m in model.linears])
    assert R > torch.finfo(torch.float32).max
    scores = compute_scores(model, "synflow")
    assert all(s.dtype == torch.float64 for s in scores.values())
    reference = compute_scores(model.double(), "synflow")
    for name in scores:
        torch.testing.assert_close(scores[name], reference[name], rtol=1e-6, atol=0)
        assert float(scores[name].sum()) == pytest.approx(R, rel=1e-6)


def test_no_fallback_where_float32_suffices():
    model = _seeded(FFNN(WIDTHS, "relu"))
    assert all(s.dtype == torch.float32 for s in compute_scores(model, "synflow").values())


def test_bad_input_shape_names_it():
    with pytest.raises(ValueError, match=re.escape("input_shape=(0,)")):
        compute_scores(FFNN(WIDTHS), "synflow", input_shape=(0,))
    with pytest.raises(ValueError, match=re.escape("input_shape=(5,)")):
        compute_scores(nn.Sequential(nn.Linear(7, 3)), "synflow", input_shape=(5,))
