"""paper_repro.train: the shared training loop learns, holds pruned weights at exactly
zero through momentum and weight decay, and survives divergence."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from paper_repro.config import TrainSpec  # noqa: E402
import paper_repro.train as train_module  # noqa: E402
from eoc.nn import apply_masks_  # noqa: E402
from paper_repro.train import check_masks, count_parameters, learning_rate, masked_parameters, train  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def ffnn(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def pruned_ffnn(seed: int = 0, amount: float = 0.6) -> nn.Sequential:
    model = ffnn(seed)
    for layer in (model[1], model[3]):
        prune.random_unstructured(layer, "weight", amount=amount)
    return model


def test_two_epochs_beat_chance_and_report_everything(digits):
    result = train(ffnn(), digits, TrainSpec(epochs=2, batch_size=64, lr=0.05), progress=False)
    assert result["final_test_acc"] > 0.5 and not result["diverged"]
    assert result["best_test_acc"] >= result["final_test_acc"]
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert [h["lr"] for h in result["history"]] == pytest.approx([0.05, 0.005])  # step at 50 %
    assert result["history"][1]["train_loss"] < result["history"][0]["train_loss"]
    assert result["params_kept"] == result["params_total"] == 64 * 32 + 32 + 32 * 10 + 10
    assert result["config"]["lr"] == 0.05 and result["seconds"] > 0 and result["seed"] == 0


def test_pruned_weights_stay_exactly_zero_under_momentum_and_weight_decay(digits):
    model = pruned_ffnn()
    masks = {name: m.weight_mask.clone() for name, m in (("1", model[1]), ("3", model[3]))}
    with pytest.raises(AssertionError, match=r"pruned entries of 1.weight \(_orig\) are nonzero"):
        check_masks(model)  # torch keeps the original values in weight_orig
    cfg = TrainSpec(epochs=2, batch_size=32, lr=0.1, momentum=0.9, weight_decay=5e-3, augment=True)
    result = train(model, digits, cfg, progress=False)
    assert not result["diverged"]
    check_masks(model)
    for name, layer in (("1", model[1]), ("3", model[3])):
        assert torch.equal(layer.weight_mask, masks[name])
        pruned = layer.weight_mask == 0
        assert torch.all(layer.weight_orig[pruned] == 0)
        assert torch.all((layer.weight_orig * layer.weight_mask)[pruned] == 0)
        assert torch.all(layer.weight_orig[~pruned] != 0), "kept weights trained, not zeroed"
    kept, total = count_parameters(model)
    assert kept == result["params_kept"] == sum(int(m.sum()) for m in masks.values()) + 32 + 10
    assert total == 64 * 32 + 32 + 32 * 10 + 10


def test_check_masks_sees_pruned_entries_of_orig_and_of_the_momentum_buffer(digits):
    """One SGD step with weight decay moves the pruned entries of weight_orig and fills their
    momentum; check_masks names each, and eoc.nn.apply_masks_ (what train's hook calls) clears both."""
    model = pruned_ffnn(amount=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    loss = nn.functional.cross_entropy(model(digits.x_train[:64]), digits.y_train[:64])
    loss.backward()
    opt.step()
    layer = model[1]
    pruned = layer.weight_mask == 0
    momentum = opt.state[layer.weight_orig]["momentum_buffer"]
    assert torch.any(momentum[pruned] != 0)
    with pytest.raises(AssertionError, match=r"pruned entries of 1.weight \(_orig\)"):
        check_masks(model, opt)
    with torch.no_grad():
        for m in (model[1], model[3]):
            m.weight_orig.mul_(m.weight_mask)
    check_masks(model)  # the weights alone are clean now
    with pytest.raises(AssertionError, match=r"pruned entries of 1.weight \(momentum buffer\)"):
        check_masks(model, opt)
    apply_masks_(model, opt)
    check_masks(model, opt)
    assert torch.all(momentum[pruned] == 0) and torch.any(momentum[~pruned] != 0)
    assert [q for q, _, _ in masked_parameters(model)] == ["1.weight", "3.weight"]


def test_the_per_epoch_check_fails_when_nothing_reapplies_the_masks(digits, monkeypatch):
    """Masked in place, the pruned weights get gradients: without the hook of
    eoc.nn.register_mask_hook the first epoch's check must fail (the check is live)."""

    class NoHook:
        def remove(self):
            pass

    monkeypatch.setattr(train_module, "register_mask_hook", lambda opt, model: NoHook())
    with pytest.raises(AssertionError, match="pruned entries of 1.weight"):
        train(pruned_ffnn(), digits, TrainSpec(epochs=1, batch_size=64, lr=0.05), progress=False)


def test_diverging_run_reports_chance_without_crashing(digits):
    result = train(ffnn(), digits, TrainSpec(epochs=3, batch_size=64, lr=1e6), progress=False)
    assert result["diverged"] is True
    assert result["final_test_acc"] == pytest.approx(0.1) and result["final_test_loss"] is None
    assert result["epochs_run"] < 3 or result["history"][-1]["test_acc"] is None


def test_the_seed_fixes_the_run(digits):
    cfg = TrainSpec(epochs=1, batch_size=64, lr=0.05)
    a, b, c = (train(ffnn(), digits, cfg, seed=s, progress=False) for s in (3, 3, 4))
    assert a["history"] == b["history"] and a["history"] != c["history"]


def test_eval_only_at_the_end_and_progress_bar(digits, capsys):
    cfg = TrainSpec(epochs=2, batch_size=128, lr=0.05, eval_every_epoch=False, schedule="cosine")
    result = train(ffnn(), digits, cfg, progress=True, desc="tiny")
    assert result["history"][0]["test_acc"] is None and result["history"][1]["test_acc"] == result["final_test_acc"]
    assert "tiny" in capsys.readouterr().err


def test_learning_rate_schedules():
    step = TrainSpec(epochs=160, lr=0.1)
    assert [learning_rate(step, e) for e in (0, 79, 80, 119, 120, 159)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )
    cos = TrainSpec(epochs=4, lr=0.2, schedule="cosine")
    assert [learning_rate(cos, e) for e in range(4)] == pytest.approx(
        [0.1 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    )
    assert learning_rate(TrainSpec(epochs=4, schedule="constant"), 3) == 0.1


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1, got epochs=0"),
        ({"lr": float("nan")}, "lr must be > 0 and finite, got lr=nan"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got momentum=1.0"),
        ({"schedule": "linear"}, "schedule must be one of .*, got schedule='linear'"),
        ({"milestones": (0.75, 0.5)}, r"milestones must be increasing fractions in \(0, 1\)"),
    ],
)
def test_train_spec_rejects_bad_values(bad, message):
    with pytest.raises(ValueError, match=message):
        TrainSpec(**bad)


def test_bad_device_is_named(digits):
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda', got device='tpu'"):
        train(ffnn(), digits, TrainSpec(epochs=1), device="tpu", progress=False)
