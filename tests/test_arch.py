"""The theory's description of a network (eoc.Architecture) and its mean-field profile (docs/theory.md §1, §3, §6).

The three families of as_architecture are special cases of the general graph: their profiles are checked
against the independent recursions of eoc.gradient_variances and eoc._resnet; the BatchNorm rule against its
closed form (Yang et al. 2019); bad descriptions are rejected with messages naming the field.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import eoc
from eoc import Architecture, Layer, Node
from strategies import floats


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) / np.asarray(b) - 1))


# ----------------------------------------------------------------------------- the families as special cases


@given(
    widths=st.lists(st.integers(1, 300), min_size=2, max_size=8),
    act=st.sampled_from(["tanh", "relu", "erf", "gelu"]),
    sw=floats(0.5, 2.5),
    sb=floats(0.0, 0.8),
    q_in=floats(0.2, 3.0),
)
def test_ffnn_profile_of_the_graph_equals_the_ffnn_recursion(widths, act, sw, sb, q_in):
    """The graph interpreter on a chain reproduces eoc.gradient_variances (forward, backward, weight gradients)."""
    prof = eoc.layer_profile(eoc.as_architecture(widths), act, sw, sb, input_q=q_in)
    ref = eoc.gradient_variances(widths, act, sw, sb, input_q=q_in)
    for field in ("q", "input_moment", "grad_q", "weight_grad", "chi"):
        np.testing.assert_allclose(getattr(prof, field), getattr(ref, field), rtol=1e-13, err_msg=field)
    np.testing.assert_allclose(prof.layer_grad, ref.grad_q, rtol=1e-13)


def test_cnn_family_is_the_ffnn_of_its_fan_ins():
    """A CNN from widths: fan-in n k^2, weights n n' k^2, and the profile of the FFNN on the channel widths
    (the global pooling before the read-out leaves the moments alone)."""
    widths = [3, 16, 32, 64, 10]
    arch = eoc.as_architecture(widths, "cnn", kernel_size=5)
    np.testing.assert_array_equal(arch.fan_in, [75, 400, 800, 64])
    np.testing.assert_array_equal(arch.n_weights, [1200, 12800, 51200, 640])
    assert arch.kernel_sizes == (5, 5, 5, 1) and arch.kind == "cnn"
    prof = eoc.layer_profile(arch, "tanh", 1.2, 0.1)
    ref = eoc.gradient_variances(widths, "tanh", 1.2, 0.1)
    np.testing.assert_allclose(prof.weight_grad, ref.weight_grad, rtol=1e-14)


@pytest.mark.parametrize("alpha", [1.0, "stable", 0.3])
def test_resnet_family_reproduces_the_residual_recursions(alpha):
    """Stream variances and gradients of as_architecture(..., "resnet") are those of eoc.resnet_variances /
    resnet_gradient_variances, and a branch's weight gradient carries alpha^2."""
    n_res, sw, sb, q_in = 12, 1.3, 0.1, 1.5
    arch = eoc.as_architecture([7] + [40] * (n_res + 1) + [3], "resnet", alpha=alpha)
    a = arch.alpha
    prof = eoc.layer_profile(arch, "tanh", sw, sb, input_q=q_in)
    q0 = sb**2 + sw**2 * q_in
    q = eoc.resnet_variances(n_res, "tanh", sw, sb, a, q0)
    g = eoc.resnet_gradient_variances(n_res, "tanh", sw, sb, a, q0)
    assert _rel(prof.q[: n_res + 1], q) < 1e-13
    assert _rel(prof.grad_q[: n_res + 1] / prof.grad_q[n_res], g / g[-1]) < 1e-13
    np.testing.assert_allclose(prof.layer_grad[1:-1], a**2 * prof.grad_q[1:-1], rtol=1e-14)
    np.testing.assert_allclose(prof.weight_grad, prof.layer_grad * prof.input_moment, rtol=1e-15)
    assert arch.residual.tolist() == [False] + [True] * n_res + [False]
    assert arch.roles.count("branch") == n_res and arch.n_blocks == n_res


def test_legacy_properties_and_one_line_descriptions():
    """The fields _pruning and the CLI read keep their meaning for the three families."""
    ffnn = eoc.as_architecture([784, 100, 100, 10])
    assert ffnn.describe() == "ffnn: 784-100-100-10"
    assert ffnn.widths == (784, 100, 100, 10) and ffnn.depth == 3 and ffnn.alpha is None and ffnn.kind == "ffnn"
    assert ffnn.names == ("linears.0", "linears.1", "linears.2")
    res = eoc.as_architecture([8, 20, 20, 20, 3], "resnet", alpha=0.5)
    assert res.describe() == "resnet: 8 -> 20, 2 residual layers (alpha=0.5), -> 3"
    assert res.names == ("input", "blocks.0", "blocks.1", "output")
    assert eoc.as_architecture([3, 8, 10], "cnn").describe() == "cnn: 3-8-10"


# ----------------------------------------------------------------------------- general graphs


def _basic_block_net(scale=0.5, bn="train"):
    """stem conv, a two-conv BasicBlock with a 1x1 projection shortcut (post-activation, BatchNorm), read-out."""
    layers = (
        Layer("stem", "conv", 3, 16, (3, 3)),
        Layer("b.conv1", "conv", 16, 32, (3, 3)),
        Layer("b.conv2", "conv", 32, 32, (3, 3)),
        Layer("b.short", "conv", 16, 32, (1, 1)),
        Layer("fc", "dense", 32, 10),
    )
    graph = (
        Node("input", (), 3),
        Node("layer", (0,), layer=0),  # 1
        Node("norm", (1,), mode=bn),  # 2
        Node("act", (2,)),  # 3: block input
        Node("layer", (3,), layer=1),  # 4
        Node("norm", (4,), mode=bn),  # 5
        Node("act", (5,)),  # 6
        Node("layer", (6,), layer=2),  # 7
        Node("norm", (7,), mode=bn),  # 8
        Node("scale", (8,), value=scale),  # 9
        Node("layer", (3,), layer=3),  # 10
        Node("norm", (10,), mode=bn),  # 11
        Node("add", (9, 11)),  # 12
        Node("act", (12,)),  # 13
        Node("pool", (13,), detail="global average"),  # 14
        Node("layer", (14,), layer=4),  # 15
    )
    return Architecture(layers, graph, name="block")


def test_residual_structure_is_read_off_the_graph():
    """Dominators of the sum find the block: two branch convolutions (scale 0.5), one projection shortcut."""
    arch = _basic_block_net()
    assert arch.roles == ("main", "branch", "branch", "shortcut", "main")
    assert arch.blocks.tolist() == [-1, 0, 0, 0, -1]
    np.testing.assert_array_equal(arch.branch_scales, [1, 0.5, 0.5, 1, 1])
    assert arch.alpha == 0.5 and arch.kind == "resnet" and arch.n_blocks == 1
    assert arch.batch_norm.tolist() == [True, True, True, True, False]
    assert arch.after[1] == ("norm", "act")
    assert "1 residual blocks" in arch.describe() and "BatchNorm" in arch.describe()
    assert "shortcut 0" in arch.table()


def test_nested_blocks_assign_layers_to_the_innermost_block():
    """A residual block inside a residual branch: its layers belong to the inner block, its scale is the inner one."""
    layers = tuple(Layer(n, "dense", 8, 8) for n in ("a", "b", "c"))
    graph = (
        Node("input", (), 8),
        Node("layer", (0,), layer=0),  # 1: outer branch starts
        Node("act", (1,)),
        Node("layer", (2,), layer=1),  # 3: inner branch
        Node("scale", (3,), value=0.25),
        Node("add", (2, 4)),  # 5: inner sum
        Node("scale", (5,), value=0.5),
        Node("add", (0, 6)),  # 7: outer sum
        Node("layer", (7,), layer=2),
    )
    arch = Architecture(layers, graph)
    assert arch.roles == ("branch", "branch", "main")
    assert arch.blocks.tolist() == [1, 0, -1]
    np.testing.assert_allclose(arch.branch_scales, [0.5, 0.25, 1.0])
    with pytest.raises(ValueError, match="different branch scales"):
        arch.alpha


@given(c=floats(0.05, 3.0), sw=floats(0.5, 2.0))
def test_a_branch_scale_multiplies_the_branch_weight_gradient_by_its_square(c, sw):
    """Scaling the branch output by c changes only the sum's moments: the branch layer's gradient is c^2 times the
    sum's gradient (docs/theory.md §6: dL/dW = alpha delta phi(y))."""
    arch = eoc.as_architecture([5, 30, 30, 30, 4], "resnet", alpha=c)
    prof = eoc.layer_profile(arch, "relu", sw, 0.0)
    np.testing.assert_allclose(prof.layer_grad[1:-1], c * c * prof.grad_q[1:-1], rtol=1e-13)


def test_identity_pool_and_equal_width_reshape_nodes_change_nothing():
    """Nodes that keep the width and the moments are transparent to the profile."""
    layers = (Layer("l0", "dense", 10, 20), Layer("l1", "dense", 20, 20), Layer("l2", "dense", 20, 3))
    plain = Architecture(layers)
    padded = Architecture(
        layers,
        (
            Node("input", (), 10),
            Node("identity", (0,)),
            Node("layer", (1,), layer=0),
            Node("act", (2,)),
            Node("pool", (3,)),
            Node("layer", (4,), layer=1),
            Node("reshape", (5,), 20),
            Node("act", (6,)),
            Node("layer", (7,), layer=2),
        ),
    )
    a = eoc.layer_profile(plain, "tanh", 1.3, 0.2)
    b = eoc.layer_profile(padded, "tanh", 1.3, 0.2)
    for field in ("q", "grad_q", "weight_grad", "chi"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-15)


def test_a_flatten_conserves_the_gradient_energy():
    """Reshaping C channels into C*P features: the per-unit gradient scales by P (N g is conserved)."""
    layers = (Layer("conv", "conv", 4, 8, (3, 3)), Layer("fc", "dense", 8 * 9, 5))
    arch = Architecture(layers, (Node("input", (), 4), Node("layer", (0,), layer=0), Node("act", (1,)),
                                 Node("reshape", (2,), 72), Node("layer", (3,), layer=1)))  # fmt: skip
    prof = eoc.layer_profile(arch, "linear", 1.0, 0.0)
    # back to the flattened features: g (5 / 72); to the 8 channels: x 72 / 8; through the conv: the layer output
    assert prof.layer_grad[0] == pytest.approx(5 / 72 * 72 / 8, rel=1e-15)


def test_batch_norm_gradient_grows_by_pi_over_pi_minus_one_per_relu_layer():
    """Closed form (Yang et al. 2019, large batch): after BatchNorm and ReLU two examples have correlation 1/pi,
    so the next BatchNorm divides by a batch variance (1 - 1/pi) m and the gradient grows by pi/(pi - 1) per layer."""
    depth, n = 8, 64
    layers = tuple(Layer(f"l{i}", "dense", n, n) for i in range(depth))
    graph = [Node("input", (), n)]
    for i in range(depth):
        graph.append(Node("layer", (len(graph) - 1,), layer=i))
        if i < depth - 1:
            graph.append(Node("norm", (len(graph) - 1,), mode="train"))
            graph.append(Node("act", (len(graph) - 1,)))
    prof = eoc.layer_profile(Architecture(layers, tuple(graph)), "relu", math.sqrt(2), 0.0)
    ratios = prof.weight_grad[1:-2] / prof.weight_grad[2:-1]
    np.testing.assert_allclose(ratios, math.pi / (math.pi - 1), rtol=1e-12)
    # the read-out (no BatchNorm after it) sees its uncentred input: pi/(pi - 1) * (1 - 1/pi) = 1
    assert prof.weight_grad[-2] / prof.weight_grad[-1] == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(prof.input_k[2:] / prof.input_moment[2:], 1 / math.pi, rtol=1e-12)
    # in eval mode (running statistics 0 and 1) BatchNorm is a unit scale and nothing grows
    eval_graph = tuple(Node("norm", nd.inputs, mode="eval") if nd.op == "norm" else nd for nd in graph)
    flat = eoc.layer_profile(Architecture(layers, eval_graph), "relu", math.sqrt(2), 0.0).weight_grad
    np.testing.assert_allclose(flat[1:-2] / flat[2:-1], 1.0, rtol=1e-12)


def test_coherent_gradient_is_minus_g_below_batch_norm_and_centres_the_weight_gradient():
    """Below a train-mode BatchNorm the gradient sums to zero over the batch (kappa = -g), so a layer feeding a
    BatchNorm has weight gradient g (m - k); a plain chain propagates a coherent output gradient with
    0 < kappa <= g (Cauchy-Schwarz, E[phi'(u1) phi'(u2)] <= E[phi'^2])."""
    arch = _basic_block_net()
    prof = eoc.layer_profile(arch, "relu", math.sqrt(2), 0.0)
    normed = arch.batch_norm
    np.testing.assert_allclose(prof.layer_grad_k[normed], -prof.layer_grad[normed], rtol=1e-15)
    np.testing.assert_allclose(
        prof.weight_grad[normed], (prof.layer_grad * (prof.input_moment - prof.input_k))[normed], rtol=1e-14
    )
    assert prof.layer_grad_k[-1] == 0.0 and prof.weight_grad[-1] == prof.layer_grad[-1] * prof.input_moment[-1]
    chain = eoc.layer_profile(eoc.as_architecture([10, 50, 50, 50, 5]), "tanh", 1.2, 0.3, output_grad_k=0.5)
    assert np.all(chain.layer_grad_k > 0) and np.all(chain.layer_grad_k <= chain.layer_grad * (1 + 1e-12))
    np.testing.assert_allclose(chain.weight_grad, chain.layer_grad * chain.input_moment + chain.layer_grad_k * chain.input_k)
    assert np.all(np.isnan(eoc.layer_profile(eoc.as_architecture([4, 4, 4]), "tanh", 1.0, 0.1).layer_grad_k))


def test_predictors_accept_a_general_architecture_and_its_names():
    """eoc's predictors take the general description; the prediction's indices are the layers' positions."""
    arch = _basic_block_net()
    sw = np.full(arch.depth, math.sqrt(2))
    res = eoc.critical_sparsity("snip", arch, "relu", sw, 0.0)
    assert 0 < res.s_cr < 1
    assert arch.names[res.first_layer] in arch.names
    keep = eoc.predict_keep_fractions("snip", 0.9, arch, "relu", sw, 0.0)
    assert keep @ arch.n_weights / arch.n_weights.sum() == pytest.approx(0.1, abs=1e-9)
    assert arch.index("b.short") == 3


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Architecture("weird", (3, 64, 10), (7,)), r"layers must be a sequence of eoc\.Layer.*as_architecture"),
        (lambda: Architecture(()), r"at least one weight layer"),
        (lambda: Layer("c", "conv", 3, 64, (3, 3), n_weights=7), r"layer 'c': n_weights=7 does not follow .* = 1728"),
        (lambda: Layer("d", "dense", 10, 5, n_weights=49), r"n_weights=49 .* = 50"),
        (lambda: Layer("x", "fc", 3, 4), r"layer 'x': kind must be one of"),
        (lambda: Layer("x", "dense", 0, 4), r"in_channels must be a positive integer, got in_channels=0"),
        (lambda: Layer("x", "dense", 3, 4, (3,)), r"a dense layer has kernel=\(\)"),
        (lambda: Layer("x", "conv", 3, 4), r"a convolution needs a kernel"),
        (lambda: Layer("x", "conv", 6, 4, (3, 3), groups=4), r"groups=4 must divide in_channels=6"),
        (lambda: Layer("x", "dense", 3, 4, sigma_w=-1.0), r"sigma_w must be > 0"),
        (lambda: Layer(3, "dense", 3, 4), r"Layer\.name must be a string"),
        (lambda: Architecture((Layer("a", "dense", 3, 4), Layer("a", "dense", 4, 2))), r"unique, got 'a' twice"),
        (
            lambda: Architecture((Layer("a", "dense", 3, 4), Layer("b", "dense", 5, 2))),
            r"graph\[3\]: layer 'b' has in_channels=5 but its input graph\[2\] has width 4",
        ),
        (
            lambda: Architecture((Layer("a", "dense", 3, 4),), (Node("input", (), 3), Node("layer", (2,), layer=0))),
            r"graph\[1\]: inputs must be indices of earlier nodes, got inputs=\(2,\)",
        ),
        (
            lambda: Architecture(
                (Layer("a", "dense", 3, 4), Layer("b", "dense", 4, 2)),
                (Node("input", (), 3), Node("layer", (0,), layer=0), Node("act", (1,))),
            ),
            r"layer 'b' must appear exactly once in the graph, found 0 times",
        ),
        (
            lambda: Architecture(
                (Layer("a", "dense", 3, 3), Layer("b", "dense", 3, 3)),
                (Node("input", (), 3), Node("layer", (0,), layer=0), Node("layer", (0,), layer=1), Node("act", (1,))),
            ),
            r"layer\(s\) \['b'\] do not reach the output",
        ),
        (
            lambda: Architecture(
                (Layer("a", "dense", 3, 4),), (Node("input", (), 3), Node("layer", (0,), layer=0), Node("norm", (1,)))
            ),
            r"graph\[2\]: a norm node has mode in \('train', 'eval'\), got mode=''",
        ),
        (
            lambda: Architecture(
                (Layer("a", "dense", 3, 4), Layer("b", "dense", 3, 5)),
                (Node("input", (), 3), Node("layer", (0,), layer=0), Node("layer", (0,), layer=1), Node("add", (1, 2))),
            ),
            r"graph\[3\]: op='add' needs inputs of equal width, got widths \[4, 5\]",
        ),
        (
            lambda: Architecture((Layer("a", "dense", 3, 4),), (Node("layer", (), layer=0),)),
            r"graph\[0\] must be the input node",
        ),
        (lambda: eoc.as_architecture([8, 4, 4, 2], "resnet", alpha=0.0), r"alpha=0\.0"),
        (lambda: eoc.as_architecture([8, 4, 2], "ffnn", alpha=0.5), r"alpha=0\.5 is only meaningful"),
        (lambda: eoc.layer_profile(eoc.as_architecture([3, 4]), "relu", 1.0, 0.0, input_k=2.0), r"input_k must lie"),
        (lambda: eoc.layer_profile([3, 4], "relu", 1.0, 0.0), r"arch must be an eoc\.Architecture"),
    ],
)
def test_bad_descriptions_are_rejected_naming_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_derived_shapes_of_layers():
    """Fan-in of a grouped convolution is in/groups * kernel area; a non-square kernel reports its shape."""
    layer = Layer("g", "conv", 32, 64, (3, 5), groups=4)
    assert layer.fan_in == 8 * 15 and layer.n_weights == 64 * 8 * 15 and layer.kernel_size == (3, 5)
    assert Layer("c", "conv", 2, 2, (7,)).kernel_size == 7 and Layer("d", "dense", 2, 2).kernel_size == 1
    arch = Architecture((Layer("a", "dense", 3, 4, sigma_w=1.5, sigma_b=0.1), Layer("b", "dense", 4, 2, sigma_w=1.2, sigma_b=0.0)))
    np.testing.assert_array_equal(arch.sigma_w, [1.5, 1.2])
    assert Architecture((Layer("a", "dense", 3, 4),)).sigma_w is None
    d = arch.as_dict()
    assert [l["name"] for l in d["layers"]] == ["a", "b"] and d["n_weights"] == 20
