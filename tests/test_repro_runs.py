"""paper_repro.runs: the run configuration and its identity, pruning with the collapse
record, a tiny prune-and-train run end to end, and the rule that a disconnected
network is not trained."""

from __future__ import annotations

import dataclasses

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from paper_repro.cache import canonical_config, config_hash  # noqa: E402
from paper_repro.data import load_dataset  # noqa: E402
from paper_repro.runs import (  # noqa: E402
    PruneRun,
    collapse_record,
    disconnected,
    named_network,
    prune_model,
    run_pruned,
)
from paper_repro.stats import format_acc, mean_std, se_diff  # noqa: E402
from paper_repro.train import TrainConfig  # noqa: E402

#: digits FFNN 64 - 8 - 8 - 8 - 10 (4 linear layers, 768 weights).
FFNN = {"depth": 4, "width": 8, "activation": "tanh", "sigma_b": 0.2}
FFNN_SIZES = [64 * 8, 8 * 8, 8 * 8, 8 * 10]


def test_hash_counts_only_the_fields_that_differ_from_their_defaults():
    """open_lth's rule: spelling out a default leaves the identity (and the cached run) unchanged."""
    short = PruneRun("digits", "ffnn", 0, depth=3, width=8)
    spelled = PruneRun(
        "digits", "ffnn", 0, depth=3, width=8, vgg=(), width_multiplier=1.0, batch_norm=False, stable=False,
        activation="relu", sigma_b=0.0, sigma_w_factor=1, method="snip", sparsity=0.0, scope="global", rounds=1,
        batch=128, balanced=False, rescale=None, detail=False, train=None,
    )  # fmt: skip
    assert config_hash(short) == config_hash(spelled)
    assert canonical_config(short) == {
        "type": "PruneRun",
        "fields": {"dataset": "digits", "arch": "ffnn", "seed": 0, "depth": 3, "width": 8},
    }
    trained = dataclasses.replace(short, train=TrainConfig(epochs=2))
    assert canonical_config(trained)["fields"]["train"] == {"type": "TrainConfig", "fields": {"epochs": 2}}
    changed = {
        dataclasses.replace(short, **{name: value})
        for name, value in (("seed", 1), ("sparsity", 0.5), ("scope", "layer"), ("balanced", True), ("batch", 64))
    }
    assert len({config_hash(c) for c in changed} | {config_hash(short), config_hash(trained)}) == 7


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"arch": "mlp"}, "arch must be one of"),
        ({"arch": "vgg", "vgg": "vgg11", "stable": True}, "stable=True applies to arch='resnet'"),
        ({"arch": "resnet", "depth": 8, "activation": "tanh"}, "ReLU"),
        ({"arch": "ffnn", "depth": 0}, "FFNN needs depth"),
        ({"arch": "ffnn", "depth": 3, "width": 8, "sparsity": 1.0}, "sparsity must be in"),
        ({"arch": "ffnn", "depth": 3, "width": 8, "rescale": "neuron"}, "sparsity > 0"),
    ],
)
def test_invalid_configurations_name_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        PruneRun("digits", seed=0, **fields)


def test_named_network():
    assert named_network("resnet32", 0.5) == {"arch": "resnet", "depth": 32, "width_multiplier": 0.5}
    assert named_network("vgg19") == {"arch": "vgg", "vgg": "vgg19", "batch_norm": True, "width_multiplier": 1.0}
    with pytest.raises(ValueError, match="unknown network"):
        named_network("alexnet")


def test_sigma_w_is_a_multiple_of_the_edge_of_chaos():
    import eoc

    run = PruneRun("digits", "ffnn", 0, depth=3, width=8, activation="tanh", sigma_b=0.2, sigma_w_factor=0.8)
    assert run.sigma_w == 0.8 * float(eoc.edge_of_chaos("tanh", 0.2))
    assert PruneRun("digits", "resnet", 0, depth=8).sigma_w == pytest.approx(2**0.5)


@pytest.mark.parametrize("sparsity", [0.5, 0.999])
def test_pruning_keeps_the_global_fraction_and_records_collapse(sparsity):
    """Exactly round((1 - s) M) weights survive; a layer with none is listed, not warned about
    (pytest turns warnings into errors); per-neuron fractions average to the layer's."""
    run = PruneRun("digits", "ffnn", 0, **FFNN, sparsity=sparsity, batch=32, detail=True)
    _, r = prune_model(run, load_dataset("digits"))
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
    data = load_dataset("digits")
    plain = PruneRun("digits", "ffnn", 5, **FFNN, method="random", sparsity=0.8)
    masks = [prune_model(run, data)[0] for run in (plain, dataclasses.replace(plain, detail=True))]
    a, b = ({k: v for k, v in m.state_dict().items() if k.endswith("weight_mask")} for m in masks)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_balanced_batch_scores_every_class():
    """SNIP on a class-balanced batch of 3 images per class prunes to the exact fraction, and
    the batch depends only on the seed: two runs give the same mask."""
    run = PruneRun("digits", "ffnn", 2, **FFNN, sparsity=0.7, batch=3, balanced=True)
    data = load_dataset("digits")
    first, second = (prune_model(run, data)[1] for _ in range(2))
    assert first == second
    assert first["density"] == pytest.approx(round(0.3 * sum(FFNN_SIZES)) / sum(FFNN_SIZES))


def test_tiny_prune_rescale_train_end_to_end():
    """Prune, rescale and train one epoch: a trained record, deterministic given the seeds."""
    run = PruneRun(
        "digits", "ffnn", 1, **FFNN, sparsity=0.5, batch=64, rescale="neuron",
        train=TrainConfig(epochs=1, batch_size=256, lr=0.01, seed=1),
    )  # fmt: skip
    first, second = run_pruned(run), run_pruned(run)
    assert first["trained"] and not first["diverged"] and first["epochs_run"] == 1
    assert 0.0 <= first["final_test_acc"] <= 1.0 and first["chance"] == pytest.approx(0.1)
    assert first["rho_mean"] > 1 and first["collapsed"] == [] and "config" not in first
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
    run = PruneRun("digits", "ffnn", 0, **FFNN, sparsity=0.999, batch=32, train=TrainConfig(epochs=1))
    r = run_pruned(run)
    assert r["disconnected"] and not r["trained"] and r["history"] == []
    assert r["final_test_acc"] == r["best_test_acc"] == pytest.approx(0.1)


def test_dense_run_has_no_mask():
    model, r = prune_model(PruneRun("digits", "ffnn", 0, **FFNN), load_dataset("digits"))
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


def test_statistics_over_seeds():
    mean, std = mean_std([0.5, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.02**0.5)
    assert format_acc([0.5, 0.7]) == "60.00 ± 14.14" and format_acc([0.5]) == "50.00"
    assert se_diff([0.5, 0.7], [0.1, 0.3]) == pytest.approx((0.02 / 2 + 0.02 / 2) ** 0.5)
    assert se_diff([0.5], [0.1, 0.3]) != se_diff([0.5], [0.1, 0.3])  # NaN: no spread from one value
