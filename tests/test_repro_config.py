"""paper_repro.config: keyword-only specs, their validation, the keys --set accepts, and
the identity of nested configurations (open_lth's rule: defaults do not count)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from paper_repro.cache import canonical_config, config_hash
from paper_repro.config import (
    InitSpec,
    ModelSpec,
    NetworkSpec,
    PhaseSpec,
    PruneSpec,
    TrainSpec,
    apply_overrides,
    describe,
    named_network,
    parse_value,
    resolve_key,
    settable_keys,
)


@dataclass(frozen=True, kw_only=True)
class Probe:
    """A config shaped like an experiment's: specs, a tuple of models, a swept field."""

    SWEPT: ClassVar[dict[str, str]] = {"network.depth": "depths"}

    network: NetworkSpec = field(default_factory=lambda: NetworkSpec(arch="ffnn", width=8))
    depths: tuple = (2, 3)
    train: TrainSpec = field(default_factory=TrainSpec)
    models: tuple = (
        ModelSpec(label="a", network=NetworkSpec(arch="ffnn", depth=2, width=4), train=TrainSpec(epochs=3)),
        ModelSpec(label="b", network=NetworkSpec(arch="vgg", vgg="vgg11"), train=TrainSpec(epochs=4)),
    )
    seeds: int = 2


def test_specs_are_keyword_only():
    """Configurations cannot be built by position (issue: E5/E6 built TrainConfig positionally)."""
    with pytest.raises(TypeError):
        TrainSpec(10, 128)  # type: ignore[misc]
    with pytest.raises(TypeError):
        NetworkSpec("ffnn")  # type: ignore[misc]
    assert TrainSpec(epochs=3).epochs == 3


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NetworkSpec(arch="mlp"), "network.arch must be one of"),
        (lambda: NetworkSpec(arch="vgg", stable=True), "stable=True applies to arch='resnet'"),
        (lambda: NetworkSpec(arch="resnet", activation="tanh"), "ReLU"),
        (lambda: PruneSpec(sparsity=1.0), r"prune.sparsity must be in \[0, 1\)"),
        (lambda: PruneSpec(rescale="neuron"), "sparsity > 0"),
        (lambda: PruneSpec(bn_mode="batch"), r"prune.bn_mode must be one of \('eval', 'train', 'model'\), got bn_mode='batch'"),
        (lambda: PhaseSpec(ordered=1.2), "ordered < edge_of_chaos"),
        (lambda: TrainSpec(epochs=0), "epochs must be an integer >= 1, got epochs=0"),
        (lambda: TrainSpec(lr=float("nan")), "lr must be > 0 and finite, got lr=nan"),
        (lambda: TrainSpec(milestones=(0.75, 0.5)), r"milestones must be increasing fractions in \(0, 1\)"),
        (lambda: InitSpec(sigma_b=-1), "init.sigma_b must be >= 0"),
    ],
)
def test_invalid_specs_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_named_network_and_labels():
    assert named_network("resnet32", 0.5) == NetworkSpec(arch="resnet", depth=32, width_multiplier=0.5)
    assert named_network("vgg19") == NetworkSpec(arch="vgg", vgg="vgg19", batch_norm=True)
    assert named_network("resnet32").label == "resnet32x1"
    assert dataclasses.replace(named_network("resnet8"), stable=True).label == "stable-resnet8x1"
    with pytest.raises(ValueError, match="unknown network name='alexnet'"):
        named_network("alexnet")


def test_sigma_w_is_a_multiple_of_the_edge_of_chaos():
    import eoc

    assert InitSpec(sigma_w_factor=0.8, sigma_b=0.2).sigma_w("tanh") == 0.8 * float(eoc.edge_of_chaos("tanh", 0.2))
    assert InitSpec().sigma_w("relu") == pytest.approx(2**0.5, rel=1e-12)


def test_settable_keys_are_the_leaves_without_the_swept_ones():
    keys = settable_keys(Probe())
    assert "train.epochs" in keys and "models.1.train.epochs" in keys and "network.width" in keys
    assert "network.depth" not in keys, "a swept field is set by its sweep"
    assert keys["models.0.train.epochs"] == 3 and keys["seeds"] == 2


def test_a_suffix_names_every_key_it_ends():
    assert resolve_key(Probe(), "train.epochs") == ["train.epochs"]
    assert resolve_key(Probe(), "epochs") == ["train.epochs", "models.0.train.epochs", "models.1.train.epochs"]
    assert resolve_key(Probe(), "nothing") == []
    with pytest.raises(ValueError, match="network.depth is swept by this experiment: set depths instead"):
        resolve_key(Probe(), "depth")


def test_apply_overrides_sets_coerces_and_validates():
    cfg = apply_overrides(Probe(), {"epochs": 1, "lr": 1, "depths": [4, 5], "models.1.label": "c"})
    assert cfg.train.epochs == 1 and all(m.train.epochs == 1 for m in cfg.models)
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float), "an int where a float is expected is coerced"
    assert cfg.depths == (4, 5), "a list literal becomes a tuple"
    assert [m.label for m in cfg.models] == ["a", "c"] and Probe().models[1].label == "b"
    whole = apply_overrides(Probe(), {"train": TrainSpec(epochs=7)})
    assert whole.train == TrainSpec(epochs=7), "API callers may set a whole spec"
    with pytest.raises(ValueError, match="has no setting 'foo'; valid keys: network.arch, network.width"):
        apply_overrides(Probe(), {"foo": 1})
    with pytest.raises(ValueError, match=r"--set train.epochs='ten': expected a value like the current 10 \(int\)"):
        apply_overrides(Probe(), {"train.epochs": "ten"})
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got epochs=0"):
        apply_overrides(Probe(), {"train.epochs": 0})


def test_parse_value_reads_literals_and_falls_back_to_strings():
    assert parse_value("0.1") == 0.1 and parse_value("(5, 10)") == (5, 10) and parse_value("None") is None
    assert parse_value("cosine") == "cosine" and parse_value("'x'") == "x"


def test_describe_shows_every_value_and_the_swept_fields():
    text = describe(Probe())
    assert "train.epochs" in text and "= 10" in text and "models.1.network.vgg" in text
    assert "network.depth" in text and "<- depths" in text


def test_nested_identity_counts_only_non_defaults():
    """Spelling out a default, at any depth of nesting, leaves the run id unchanged."""

    @dataclass(frozen=True, kw_only=True)
    class Run:
        network: NetworkSpec
        train: TrainSpec | None = None

    short = Run(network=NetworkSpec(arch="ffnn", depth=3, width=8))
    spelled = Run(network=NetworkSpec(arch="ffnn", depth=3, width=8, activation="relu", vgg=(), stable=False))
    assert config_hash(short) == config_hash(spelled)
    trained = Run(network=short.network, train=TrainSpec(epochs=2, lr=0.1))
    assert canonical_config(trained)["fields"]["train"] == {"type": "TrainSpec", "fields": {"epochs": 2}}
    assert config_hash(trained) != config_hash(short)
