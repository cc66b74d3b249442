"""paper_repro.runs: the run configuration composed of specs and its identity, pruning with
the collapse record, a tiny prune-and-train run end to end, and the rule that a
disconnected network is not trained."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from paper_repro.batches import load_tensors  # noqa: E402
from paper_repro.cache import canonical_config, config_hash  # noqa: E402
from paper_repro.config import InitSpec, NetworkSpec, PruneSpec, TrainSpec  # noqa: E402
from paper_repro.runs import PruneRun, collapse_record, disconnected, prune_model, run_pruned  # noqa: E402

#: digits FFNN 64 - 8 - 8 - 8 - 10 (4 linear layers, 768 weights).
FFNN = NetworkSpec(arch="ffnn", depth=4, width=8, activation="tanh")
INIT = InitSpec(sigma_b=0.2)
FFNN_SIZES = [64 * 8, 8 * 8, 8 * 8, 8 * 10]


def run_of(**kw) -> PruneRun:
    return PruneRun(dataset="digits", network=kw.pop("network", FFNN), init=kw.pop("init", INIT), **kw)


def test_hash_counts_only_the_fields_that_differ_from_their_defaults():
    """open_lth's rule: spelling out a default leaves the identity (and the cached run) unchanged."""
    short = PruneRun(dataset="digits", network=NetworkSpec(arch="ffnn", depth=3, width=8))
    spelled = PruneRun(
        dataset="digits", network=NetworkSpec(arch="ffnn", depth=3, width=8, vgg=(), width_multiplier=1.0),
        init=InitSpec(sigma_w_factor=1, sigma_b=0.0), prune=PruneSpec(method="snip", sparsity=0.0, scope="global"),
        train=None, seed=0, detail=False,
    )  # fmt: skip
    assert config_hash(short) == config_hash(spelled)
    assert canonical_config(short) == {
        "type": "PruneRun",
        "fields": {
            "dataset": "digits",
            "network": {"type": "NetworkSpec", "fields": {"arch": "ffnn", "depth": 3, "width": 8}},
        },
    }
    trained = dataclasses.replace(short, train=TrainSpec(epochs=2))
    assert canonical_config(trained)["fields"]["train"] == {"type": "TrainSpec", "fields": {"epochs": 2}}
    changed = {
        dataclasses.replace(short, seed=1),
        dataclasses.replace(short, prune=PruneSpec(sparsity=0.5)),
        dataclasses.replace(short, prune=PruneSpec(scope="layer")),
        dataclasses.replace(short, prune=PruneSpec(balanced=True)),
        dataclasses.replace(short, init=InitSpec(sigma_b=0.1)),
    }
    assert len({config_hash(c) for c in changed} | {config_hash(short), config_hash(trained)}) == 7


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"network": NetworkSpec(arch="ffnn", depth=0)}, "FFNN needs depth"),
        ({"network": NetworkSpec(arch="resnet", depth=10)}, "6n \\+ 2"),
        ({"detail": True}, "detail needs a pruned network"),
    ],
)
def test_invalid_runs_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        run_of(**kw)


def test_sigma_w_is_the_init_of_the_network_activation():
    import eoc

    run = run_of(init=InitSpec(sigma_w_factor=0.8, sigma_b=0.2))
    assert run.sigma_w == 0.8 * float(eoc.edge_of_chaos("tanh", 0.2))
    assert PruneRun(dataset="digits", network=NetworkSpec(arch="resnet", depth=8)).sigma_w == pytest.approx(2**0.5)


@pytest.mark.parametrize("sparsity", [0.5, 0.999])
def test_pruning_keeps_the_global_fraction_and_records_collapse(sparsity):
    """Exactly round((1 - s) M) weights survive; a layer with none is listed, not warned about
    (pytest turns warnings into errors); per-neuron fractions average to the layer's."""
    run = run_of(prune=PruneSpec(sparsity=sparsity, batch=32), detail=True)
    _, r = prune_model(run, load_tensors("digits"))
    layers = r["layers"]
    assert [layer["numel"] for layer in layers] == FFNN_SIZES
    kept = round((1 - sparsity) * sum(FFNN_SIZES))
    assert sum(layer["keep"] * layer["numel"] for layer in layers) == pytest.approx(kept, abs=1e-9)
    assert r["density"] == pytest.approx(kept / sum(FFNN_SIZES))
    assert r["collapsed"] == [layer["name"] for layer in layers if layer["keep"] == 0]
    assert r["disconnected"] == bool(r["collapsed"])
    for layer in layers:
        assert layer["keep"] == pytest.approx(sum(layer["neuron_keep"]) / len(layer["neuron_keep"]))
    assert 0 <= r["critical_sparsity"] < 1 and r["critical_layer"] in [layer["name"] for layer in layers]
    if sparsity > 0.99:
        assert len(r["collapsed"]) == 3, "keeping a single weight must empty all but one layer"


def test_recording_detail_leaves_the_random_mask_unchanged():
    """The diagnostic scores come from a copy of the generator: the mask is that of the plain run."""
    data = load_tensors("digits")
    plain = run_of(prune=PruneSpec(method="random", sparsity=0.8), seed=5)
    masks = [prune_model(run, data)[0] for run in (plain, dataclasses.replace(plain, detail=True))]
    a, b = ({k: v for k, v in m.state_dict().items() if k.endswith("weight_mask")} for m in masks)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_balanced_batch_scores_every_class():
    """SNIP on a class-balanced batch of 3 images per class prunes to the exact fraction, and
    the batch depends only on the seed: two runs give the same mask."""
    run = run_of(prune=PruneSpec(sparsity=0.7, batch=3, balanced=True), seed=2)
    data = load_tensors("digits")
    first, second = (prune_model(run, data)[1] for _ in range(2))
    assert first == second
    assert first["density"] == pytest.approx(round(0.3 * sum(FFNN_SIZES)) / sum(FFNN_SIZES))


def test_tiny_prune_rescale_train_end_to_end():
    """Prune, rescale and train one epoch: a trained record, deterministic given the seed."""
    run = run_of(
        prune=PruneSpec(sparsity=0.5, batch=64, rescale="neuron"), train=TrainSpec(epochs=1, batch_size=256, lr=0.01),
        seed=1,
    )  # fmt: skip
    first, second = run_pruned(run), run_pruned(run)
    assert first["trained"] and not first["diverged"] and first["epochs_run"] == 1
    assert 0.0 <= first["final_test_acc"] <= 1.0 and first["chance"] == pytest.approx(0.1)
    assert first["rho_mean"] > 1 and first["collapsed"] == [] and "config" not in first and "seed" not in first
    assert first["params_kept"] < first["params_total"]
    for key in first:
        if key != "seconds":
            assert first[key] == second[key], key


def test_a_disconnected_network_is_not_trained(monkeypatch):
    """All but one layer empty: recorded at chance accuracy without calling the training loop."""
    import paper_repro.train as train_module

    def fail(*args, **kwargs):
        raise AssertionError("a disconnected network must not be trained")

    monkeypatch.setattr(train_module, "train", fail)
    r = run_pruned(run_of(prune=PruneSpec(sparsity=0.999, batch=32), train=TrainSpec(epochs=1)))
    assert r["disconnected"] and not r["trained"] and r["history"] == []
    assert r["final_test_acc"] == r["best_test_acc"] == pytest.approx(0.1)


def test_dense_run_has_no_mask():
    model, r = prune_model(run_of(), load_tensors("digits"))
    assert not [k for k in model.state_dict() if k.endswith("_mask")]
    assert r["density"] == 1.0 and r["rho_mean"] == 1.0 and r["collapsed"] == []
    assert [layer["keep"] for layer in r["layers"]] == [1.0] * 4


def test_disconnected_rule():
    from eoc.nn import VGG, resnet

    net = resnet(8, in_channels=1)
    assert not disconnected(net, ["layer2.0.conv1"]) and not disconnected(net, ["layer2.0.shortcut.0"])
    assert disconnected(net, ["layer2.0.conv2", "layer2.0.shortcut.0"])
    assert disconnected(net, ["fc"]) and not disconnected(net, [])
    assert disconnected(VGG("vgg11", 1), ["features.4"])


def test_collapse_record_of_a_resnet_with_an_empty_branch():
    """An emptied branch convolution is a collapsed layer that leaves the ResNet connected."""
    from eoc.nn import prunable_layers, resnet
    from torch.nn.utils import prune

    net = resnet(8, in_channels=1)
    for name, module in prunable_layers(net):
        prune.custom_from_mask(module, "weight", torch.zeros_like(module.weight) if name == "layer2.0.conv1"
                               else torch.ones_like(module.weight))  # fmt: skip
    r = collapse_record(net)
    assert r["collapsed"] == ["layer2.0.conv1"] and not r["disconnected"]
    assert r["layers"][0] == {"name": "conv1", "numel": 16 * 9, "keep": 1.0}


def _same_start(run: PruneRun, data):
    """The initialized model and scoring batch of ``run``, rebuilt as prune_model draws them."""
    from eoc.nn import init_
    from paper_repro.runs import _scoring_batch, build_model

    gen = torch.Generator().manual_seed(run.seed)
    model = build_model(run.network, data.input_shape, data.num_classes)
    init_(model, run.network.activation, run.sigma_w, run.init.sigma_b, generator=gen)
    return model, *_scoring_batch(data, run.prune, gen)


def _masks(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if k.endswith("_mask")}


def test_prune_spec_bn_mode_and_grasp_temperature_reach_eoc_nn():
    """A ResNet8 (BatchNorm): the run's masks are eoc.nn.prune_at_init's with the spec's bn_mode and eoc.nn's
    GraSP temperature (200) on the same weights and batch; eval (the default) and train masks differ, and
    "model" is train (a fresh model is in train mode)."""
    from eoc.nn import prune_at_init

    data, method = load_tensors("digits"), "grasp"
    net = NetworkSpec(arch="resnet", depth=8, width_multiplier=0.25)
    masks = {}
    for mode in ("eval", "train", "model"):
        run = PruneRun(dataset="digits", network=net, prune=PruneSpec(method=method, sparsity=0.95, batch=24, bn_mode=mode))
        masks[mode] = _masks(prune_model(run, data)[0])
        model, x, y = _same_start(run, data)
        expected = prune_at_init(model, method, 0.95, x, y, bn_mode=mode, input_shape=data.input_shape)
        assert masks[mode].keys() == {f"{k}.weight_mask" for k in expected}
        assert all(torch.equal(masks[mode][f"{k}.weight_mask"], m) for k, m in expected.items())
        if mode == "eval":  # the temperature is 200, not the untempered loss's 1
            untempered = prune_at_init(_same_start(run, data)[0], method, 0.95, x, y, temperature=1.0)
            assert any(not torch.equal(expected[k], m) for k, m in untempered.items())
    assert PruneSpec().bn_mode == "eval"
    assert any(not torch.equal(masks["eval"][k], masks["train"][k]) for k in masks["eval"])
    assert all(torch.equal(masks["model"][k], masks["train"][k]) for k in masks["eval"])
