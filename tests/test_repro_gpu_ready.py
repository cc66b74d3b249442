"""The GPU settings of the training loop, tested by construction on the CPU (``device`` is a
parameter): a DataLoader with workers gives the same run bit for bit as batches cut on the
device; mixed precision (bfloat16, and float16 with its gradient scaler) and channels-last
memory format leave the masks exactly those of a float32 run, the pruned weights exactly
zero and the parameters float32, while really changing how the forward pass is computed."""

from __future__ import annotations

from dataclasses import replace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from torch import nn  # noqa: E402
from torch.nn.utils import prune  # noqa: E402

from paper_repro.config import NetworkSpec, PruneSpec, TrainSpec  # noqa: E402
from paper_repro.runs import PruneRun, prune_model  # noqa: E402
from paper_repro.train import masked_parameters, train  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pruned_cnn(seed: int = 0) -> nn.Sequential:
    """A small pruned CNN on 8x8 digits (convolutions, so that channels-last applies)."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
        nn.Linear(8 * 64, 10),
    )  # fmt: skip
    for layer in (model[0], model[2], model[5]):
        prune.random_unstructured(layer, "weight", amount=0.5)
    return model


#: Learns the digits in two epochs (accuracy ~0.9); augmentation (padding 4 on 8x8 images) only where
#: the batches are compared, not learning.
SPEC = TrainSpec(epochs=2, batch_size=64, lr=0.05, weight_decay=5e-4, schedule="constant")
AUGMENTED = replace(SPEC, augment=True)


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_masks_hold(model: nn.Module) -> None:
    """Pruned entries exactly zero, parameters float32."""
    assert masked_parameters(model)
    for _, module, name in masked_parameters(model):
        orig, mask = getattr(module, name + "_orig"), getattr(module, name + "_mask")
        assert orig.dtype == torch.float32 and int((orig[mask == 0] != 0).sum()) == 0
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_dataloader_with_workers_gives_the_same_run_bit_for_bit(digits):
    """Batches made by DataLoader worker processes (shuffled, augmented) are those cut on the device."""
    runs = {}
    for workers in (0, 1):
        model = pruned_cnn()
        result = train(model, digits, AUGMENTED, seed=3, progress=False, loader_workers=workers)
        runs[workers] = (result, state(model))
    (r0, s0), (r1, s1) = runs[0], runs[1]
    assert r0["history"] == r1["history"] and r0["final_test_acc"] == r1["final_test_acc"]
    assert s0.keys() == s1.keys() and all(torch.equal(s0[k], s1[k]) for k in s0)
    assert_masks_hold(model)
    with pytest.raises(ValueError, match="loader_workers must be an integer >= 0, got loader_workers=-1"):
        train(pruned_cnn(), digits, SPEC, progress=False, loader_workers=-1)


@pytest.mark.parametrize("amp", ["bfloat16", "float16"])
def test_mixed_precision_keeps_masks_exact_and_parameters_float32(digits, amp):
    ref_model, amp_model = pruned_cnn(), pruned_cnn()
    masks = {k: v.clone() for k, v in ref_model.state_dict().items() if k.endswith("_mask")}
    ref = train(ref_model, digits, SPEC, seed=1, progress=False)
    mixed = train(amp_model, digits, replace(SPEC, amp=amp), seed=1, progress=False)
    assert not mixed["diverged"] and mixed["final_test_acc"] > 0.7 and ref["final_test_acc"] > 0.7
    assert_masks_hold(amp_model)
    after = {k: v for k, v in amp_model.state_dict().items() if k.endswith("_mask")}
    assert all(torch.equal(masks[k], after[k]) for k in masks)
    # the forward pass really ran in the low precision: the losses differ from float32 ...
    assert mixed["history"][0]["train_loss"] != ref["history"][0]["train_loss"]
    # ... by rounding only (same batches, same initialization)
    assert mixed["history"][0]["train_loss"] == pytest.approx(ref["history"][0]["train_loss"], rel=0.05)


def test_channels_last_trains_the_same_model_in_another_memory_order(digits):
    ref_model, cl_model = pruned_cnn(), pruned_cnn()
    ref = train(ref_model, digits, SPEC, seed=2, progress=False)
    cl = train(cl_model, digits, replace(SPEC, channels_last=True), seed=2, progress=False)
    conv = cl_model[2]
    assert conv.weight_orig.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight is conv.weight_orig  # masked in place (eoc.nn.inplace_masks_), same tensor
    assert_masks_hold(cl_model)
    a, b = ref["history"][-1]["train_loss"], cl["history"][-1]["train_loss"]
    assert a == pytest.approx(b, rel=1e-4)  # the same arithmetic up to summation order


def test_the_masks_of_a_run_do_not_depend_on_its_gpu_settings(digits):
    """Scores and masks are computed before training, in float32: amp and channels_last cannot change them."""
    base = PruneRun(
        dataset="digits", network=NetworkSpec(arch="resnet", depth=8, width_multiplier=0.25),
        prune=PruneSpec(method="snip", sparsity=0.9, batch=32), seed=4, train=TrainSpec(epochs=1),
    )  # fmt: skip
    masks = []
    for spec in (TrainSpec(epochs=1), TrainSpec(epochs=1, amp="bfloat16", channels_last=True)):
        model, record = prune_model(replace(base, train=spec), digits)
        masks.append({k: v for k, v in model.state_dict().items() if k.endswith("_mask")})
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert masks[0] and masks[0].keys() == masks[1].keys()
    assert all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])
