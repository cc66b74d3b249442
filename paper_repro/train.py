"""The one training loop of every experiment: SGD with momentum, a step or cosine
learning-rate schedule, pruning masks held exactly at zero, per-epoch evaluation.

Masks.  A pruned model carries, for every pruned tensor ``<name>`` of a module, the
parameter ``<name>_orig`` and the buffer ``<name>_mask`` (``torch.nn.utils.prune``).
:func:`train` masks them in place (:func:`eoc.nn.inplace_masks_`: the pruned entries
of ``<name>_orig`` are set to zero and ``<name>`` *is* ``<name>_orig``, so no product
is recomputed on every forward; same ``state_dict``) and sets the pruned entries of
``<name>_orig`` and of their SGD momentum buffers back to zero after every optimizer
step (:func:`eoc.nn.register_mask_hook`); :func:`check_masks` asserts the invariant,
weights and momentum buffers, at the end of every epoch.

Everything else about the model (its initialization, rescaling, or the scaling of a
Stable ResNet's residual branches, which lives in its ``forward``) is left as it is.

GPU settings.  Mixed precision (``TrainSpec.amp``) runs the forward pass of training
and evaluation under ``torch.autocast``; the parameters, their gradients, the SGD
state and the masks stay float32, so a pruned entry is still exactly zero, and the
pruning scores were computed before training, in float32.  ``TrainSpec.channels_last``
stores convolution weights and input batches in channels-last order.  Both are part of
a run's identity (they change the rounding).  How the batches are made is not:
``loader_workers = 0`` keeps the dataset on the device and cuts the batches there,
``loader_workers >= 1`` makes them in DataLoader worker processes from CPU memory
(pinned on CUDA); the batches are the same bit for bit
(:mod:`paper_repro.batches`).  :func:`train_step` is the one optimization step,
shared with the cost probe of :mod:`paper_repro.cost`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from eoc.nn import inplace_masks_, register_mask_hook, resolve_device

from .batches import TensorData, iterate_batches, loader, make_batch, plan_batches
from .config import TrainSpec

__all__ = [
    "train",
    "train_step",
    "autocast",
    "grad_scaler",
    "to_memory_format",
    "evaluate",
    "learning_rate",
    "masked_parameters",
    "check_masks",
    "count_parameters",
]

def learning_rate(config: TrainSpec, epoch: int) -> float:
    """Learning rate of epoch ``epoch`` (0-based) under ``config.schedule``.

    Step: epoch ``e`` is decayed once per milestone ``m`` with ``e >= m * epochs``
    (160 epochs, milestones 0.5 and 0.75: lr, lr/10 from epoch 80, lr/100 from 120).
    """
    if config.schedule == "step":
        return config.lr * 0.1 ** sum(epoch >= m * config.epochs for m in config.milestones)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return config.lr


def masked_parameters(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """``(qualified name, module, tensor name)`` of every tensor pruned with ``torch.nn.utils.prune``."""
    found = []
    for mod_name, module in model.named_modules():
        for buf_name, _ in module.named_buffers(recurse=False):
            if buf_name.endswith("_mask") and hasattr(module, buf_name[: -len("_mask")] + "_orig"):
                tensor = buf_name[: -len("_mask")]
                found.append((f"{mod_name}.{tensor}" if mod_name else tensor, module, tensor))
    return found


@torch.no_grad()
def check_masks(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Raise ``AssertionError`` if a pruned entry of an effective weight, of its
    ``<name>_orig`` or (with ``optimizer``) of its momentum buffer is nonzero.

    Checks the effective weight ``<name>_orig * <name>_mask``, the tensor the module
    holds as ``<name>``, ``<name>_orig`` itself and the optimizer's ``momentum_buffer``
    of ``<name>_orig``.  A freshly pruned model keeps its original values in
    ``<name>_orig``: mask it in place first (:func:`eoc.nn.inplace_masks_`, as
    :func:`train` does).
    """
    for qualname, module, tensor in masked_parameters(model):
        orig = getattr(module, tensor + "_orig")
        mask = getattr(module, tensor + "_mask")
        pruned = mask == 0
        candidates = {"effective weight": orig * mask, "_orig": orig}
        stored = getattr(module, tensor, None)
        if isinstance(stored, torch.Tensor):
            candidates["stored weight"] = stored
        momentum = optimizer.state.get(orig, {}).get("momentum_buffer") if optimizer is not None else None
        if momentum is not None:
            candidates["momentum buffer"] = momentum
        for what, value in candidates.items():
            bad = int((value[pruned] != 0).sum())
            if bad:
                raise AssertionError(f"{bad} pruned entries of {qualname} ({what}) are nonzero")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(kept, total)`` parameter counts; a pruned tensor counts its mask's nonzeros as kept."""
    masks = {id(getattr(m, t + "_orig")): getattr(m, t + "_mask") for _, m, t in masked_parameters(model)}
    kept = total = 0
    for p in model.parameters():
        total += p.numel()
        kept += int(masks[id(p)].count_nonzero()) if id(p) in masks else p.numel()
    return kept, total


def autocast(device: torch.device | str, amp: str | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``amp`` (``"bfloat16"``, ``"float16"``) on ``device``; a no-op for None."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, amp))


def grad_scaler(device: torch.device | str, amp: str | None) -> torch.amp.GradScaler | None:
    """The gradient scaler float16 training needs (None for float32 and bfloat16)."""
    return torch.amp.GradScaler(torch.device(device).type) if amp == "float16" else None


def to_memory_format(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``x`` in channels-last order if asked and 4-D (an image batch); else ``x`` itself."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.ndim == 4 else x


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    *,
    amp: str | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """One SGD step on a batch: forward (under :func:`autocast`), cross-entropy, backward, step.

    Returns ``(loss, outputs, finite)``; when the loss is not finite nothing is
    updated.  With ``scaler`` (float16) the loss is scaled and the step skipped on
    non-finite gradients, as :class:`torch.amp.GradScaler` does.  The masks of a
    pruned model are re-applied by the optimizer's step hook
    (:func:`eoc.nn.register_mask_hook`, registered by :func:`train` and the cost probe).
    """
    with autocast(xb.device, amp):
        out = model(xb)
        loss = F.cross_entropy(out, yb)
    if not torch.isfinite(loss):
        return loss, out, False
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss, out, True


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    amp: str | None = None,
    channels_last: bool = False,
    device: torch.device | str | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)`` in eval mode (mode restored after).

    Batches are moved to ``device`` (default: where ``x`` is) and evaluated under
    :func:`autocast` to ``amp``; the loss is summed in float32.
    """
    dev = torch.device(device) if device is not None else x.device
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    correct = 0
    for xb, yb in iterate_batches(x, y, batch_size):
        xb, yb = to_memory_format(xb.to(dev), channels_last), yb.to(dev)
        with autocast(dev, amp):
            out = model(xb)
        loss_sum += float(F.cross_entropy(out.float(), yb, reduction="sum"))
        correct += int((out.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return loss_sum / len(x), correct / len(x)


@contextlib.contextmanager
def _epoch_batches(data: TensorData, config: TrainSpec, dev: torch.device, gen: torch.Generator, workers: int):
    """``batches()`` -> the batches of one training epoch: cut on the device, or by ``workers`` loader processes."""
    x, y = data.x_train, data.y_train
    feed = loader(x, y, workers=workers, device=dev, fill=data.black) if workers else None
    if feed is None:
        x, y = x.to(dev), y.to(dev)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        plans = plan_batches(len(x), config.batch_size, shuffle=True, generator=gen, augment=config.augment)
        if feed is not None:
            yield from feed(plans)
        else:
            for plan in plans:
                yield make_batch(x, y, plan, fill=data.black)

    try:
        yield batches
    finally:
        if feed is not None:
            feed.close()


def train(
    model: nn.Module,
    data: TensorData,
    config: TrainSpec,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "train",
    loader_workers: int = 0,
) -> dict[str, Any]:
    """Train ``model`` in place on ``data`` with SGD and return what happened.

    Cross-entropy loss; SGD (``momentum``, ``weight_decay``) with the learning rate of
    :func:`learning_rate` set at the start of each epoch; masks applied in place and
    after every step (module docstring).  A non-finite training or test loss stops training: the
    run is reported as diverged, with chance accuracy ``1/num_classes``.

    Parameters
    ----------
    model : torch.nn.Module
        Possibly pruned with ``torch.nn.utils.prune``; moved to ``device`` (in
        channels-last order with ``config.channels_last``).
    data : TensorData
        Train and test tensors (moved to ``device`` as a whole unless ``loader_workers``).
    config : TrainSpec
    seed : int
        Seeds ``torch.manual_seed`` and the generator of shuffling and augmentation.
    device : {"cpu", "cuda"}
    progress : bool
        A tqdm bar over epochs (ETA, loss, accuracy).
    desc : str
        Label of the progress bar.
    loader_workers : int
        0: batches cut on the device; N >= 1: made by N DataLoader worker processes
        from CPU memory (pinned on CUDA).  The same batches either way.

    Returns
    -------
    dict
        ``final_test_acc``, ``final_test_loss`` (None if diverged), ``best_test_acc``
        (best evaluated epoch before any divergence, chance if none), ``diverged``,
        ``epochs_run``, ``history`` (per epoch: ``epoch``, ``lr``, ``train_loss``,
        ``train_acc``, ``test_loss``, ``test_acc``; test values None when not
        evaluated), ``seconds``, ``params_kept``, ``params_total``, ``config``, ``seed``.
    """
    if isinstance(loader_workers, bool) or not isinstance(loader_workers, int) or loader_workers < 0:
        raise ValueError(f"loader_workers must be an integer >= 0, got loader_workers={loader_workers!r}")
    dev = resolve_device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(dev)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    x_te, y_te = (data.x_test, data.y_test) if loader_workers else (data.x_test.to(dev), data.y_test.to(dev))
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    scaler = grad_scaler(dev, config.amp)
    mask_hook = register_mask_hook(opt, inplace_masks_(model)) if masked_parameters(model) else None
    chance = 1.0 / data.num_classes
    history: list[dict[str, Any]] = []
    diverged = False
    final_loss: float | None = None
    final_acc = chance
    start = time.perf_counter()
    with _epoch_batches(data, config, dev, gen, loader_workers) as epoch_batches:
        bar = tqdm(range(config.epochs), desc=desc, unit="epoch", disable=not progress, leave=False)
        for epoch in bar:
            lr = learning_rate(config, epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            model.train()
            loss_sum, correct, seen = 0.0, 0, 0
            for xb, yb in epoch_batches():
                xb = to_memory_format(xb, config.channels_last)
                loss, out, finite = train_step(model, opt, xb, yb, amp=config.amp, scaler=scaler)
                if not finite:
                    diverged = True
                    break
                loss_sum += loss.item() * len(yb)
                correct += int((out.argmax(dim=1) == yb).sum())
                seen += len(yb)
            diverged = _epoch_end(model, opt, config, dev, epoch, lr, (loss_sum, correct, seen), diverged, history, x_te, y_te)
            row = history[-1]
            if row["test_acc"] is not None:
                final_loss, final_acc = row["test_loss"], row["test_acc"]
            bar.set_postfix(loss=row["train_loss"], acc=row["train_acc"], test=row["test_acc"], refresh=False)
            if diverged:
                break
        bar.close()
    if mask_hook is not None:
        mask_hook.remove()
    if diverged:
        final_loss, final_acc = None, chance
    evaluated = [r["test_acc"] for r in history if r["test_acc"] is not None]
    kept, total = count_parameters(model)
    return {
        "final_test_acc": final_acc,
        "final_test_loss": final_loss,
        "best_test_acc": max(evaluated, default=chance),
        "diverged": diverged,
        "epochs_run": len(history),
        "history": history,
        "seconds": time.perf_counter() - start,
        "params_kept": kept,
        "params_total": total,
        "config": asdict(config),
        "seed": seed,
    }


def _epoch_end(model, opt, config, dev, epoch, lr, sums, diverged, history, x_te, y_te) -> bool:
    """Check the masks (weights and momentum), evaluate if due, append the epoch's row to ``history``; return ``diverged``."""
    loss_sum, correct, seen = sums
    check_masks(model, opt)
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": lr,
        "train_loss": loss_sum / seen if seen else None,
        "train_acc": correct / seen if seen else None,
        "test_loss": None,
        "test_acc": None,
    }
    if not diverged and (config.eval_every_epoch or epoch == config.epochs - 1):
        test_loss, test_acc = evaluate(
            model, x_te, y_te, amp=config.amp, channels_last=config.channels_last, device=dev
        )
        if math.isfinite(test_loss):
            row["test_loss"], row["test_acc"] = test_loss, test_acc
        else:
            diverged = True
    history.append(row)
    return diverged
