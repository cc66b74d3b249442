"""The datasets as torch tensors, batching and augmentation: the input side of the training loop.

:func:`tensors` wraps an :class:`eoc.datasets.Dataset` (numpy, normalized) in torch
tensors without copying; :func:`iterate_batches` yields shuffled (seeded) and
optionally augmented batches (:func:`augment_crop_flip`, the standard CIFAR
augmentation, on whole batches).

Plans.  Every random number of an epoch (the permutation, then each batch's crop
offsets and flips, in that order) is drawn by :func:`plan_batches` from one seeded
CPU generator before any image is touched; :func:`make_batch` then cuts and augments
one batch from its :class:`BatchPlan` on whatever device holds the data.  So the
batches do not depend on where they are made: :func:`iterate_batches` makes them on
the device that holds the whole dataset, and :func:`loader` makes them in
``torch.utils.data.DataLoader`` worker processes from CPU tensors (pinned memory on
CUDA) for datasets too large to keep on the device; both give the same batches, bit
for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.utils.data

__all__ = [
    "TensorData",
    "tensors",
    "load_tensors",
    "BatchPlan",
    "draw_crop_flip",
    "crop_flip",
    "augment_crop_flip",
    "plan_batches",
    "make_batch",
    "iterate_batches",
    "BatchLoader",
    "loader",
]


@dataclass(frozen=True, eq=False)
class TensorData:
    """The train and test splits of a dataset as CPU tensors (views of the numpy arrays).

    Attributes
    ----------
    name : str
    x_train, x_test : torch.Tensor
        float32 ``(N, C, H, W)``.
    y_train, y_test : torch.Tensor
        int64.
    num_classes : int
    black : tuple of float
        The normalized value of a black pixel per channel (the crop padding).
    fingerprint : str
        :func:`eoc.datasets.fingerprint` of the data.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    black: tuple[float, ...]
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])


_MEMO: dict[int, TensorData] = {}


def _view(arr) -> torch.Tensor:
    # The arrays of eoc.datasets are read-only; torch tensors over them are never written.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


def tensors(ds) -> TensorData:
    """``ds`` (an :class:`eoc.datasets.Dataset`) as :class:`TensorData` (memoized per dataset object)."""
    if id(ds) not in _MEMO:
        _MEMO[id(ds)] = TensorData(
            ds.name, _view(ds.train.x), _view(ds.train.y), _view(ds.test.x), _view(ds.test.y), ds.num_classes,
            ds.black, ds.fingerprint,
        )  # fmt: skip
    return _MEMO[id(ds)]


def load_tensors(name: str, data_dir: str | Path | None = None) -> TensorData:
    """:func:`eoc.datasets.load` as tensors."""
    from eoc.datasets import load

    return tensors(load(name, data_dir))


def draw_crop_flip(n: int, generator: torch.Generator, padding: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The random numbers of :func:`augment_crop_flip` for ``n`` images: offsets ``(2, n)`` and flips ``(n,)``.

    Drawn from ``generator`` (CPU) in a fixed order: the row and column offsets in
    ``[0, 2 padding]``, then one uniform per image (flip when below 1/2).
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got padding={padding}")
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return offsets, flip


def crop_flip(
    x: torch.Tensor, offsets: torch.Tensor, flip: torch.Tensor, *, padding: int = 4, fill: tuple[float, ...] | float = 0.0
) -> torch.Tensor:
    """Pad every image of ``x`` by ``padding`` pixels of ``fill``, crop it at ``offsets``, mirror it where ``flip``.

    The deterministic half of :func:`augment_crop_flip` (pure indexing: the same
    numbers on every device).
    """
    if x.ndim != 4:
        raise ValueError(f"augment_crop_flip expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got padding={padding}")
    n, c, h, w = x.shape
    offsets, flip = offsets.to(x.device), flip.to(x.device)
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(-1)
    if fill_t.numel() not in (1, c):
        raise ValueError(f"fill must be a scalar or have {c} values (one per channel), got {fill_t.numel()}")
    padded = fill_t.view(1, -1, 1, 1).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding : padding + h, padding : padding + w] = x
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (n, h)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def augment_crop_flip(
    x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, fill: tuple[float, ...] | float = 0.0
) -> torch.Tensor:
    """Standard CIFAR augmentation of a batch: random crop with padding, random horizontal flip.

    Each image of ``x`` (``(N, C, H, W)``) is padded by ``padding`` pixels of value
    ``fill`` on every side (per channel; pass :attr:`TensorData.black` to pad with black as
    torchvision does before normalization), cropped back to ``H x W`` at a uniformly
    random offset, and mirrored left-right with probability 1/2.  The random numbers
    come from ``generator`` (a CPU :class:`torch.Generator`, :func:`draw_crop_flip`), so
    a seed fixes the result.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_crop_flip expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
    offsets, flip = draw_crop_flip(x.shape[0], generator, padding)
    return crop_flip(x, offsets, flip, padding=padding, fill=fill)


@dataclass(frozen=True, eq=False)
class BatchPlan:
    """Which examples make one batch, and how it is augmented (CPU tensors).

    Attributes
    ----------
    index : torch.Tensor or slice
        The examples (a slice when not shuffled).
    offsets, flip : torch.Tensor or None
        The crop offsets ``(2, n)`` and flips ``(n,)`` of :func:`crop_flip`; None: not augmented.
    """

    index: torch.Tensor | slice
    offsets: torch.Tensor | None = None
    flip: torch.Tensor | None = None


def plan_batches(
    n: int,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augment: bool = False,
    padding: int = 4,
) -> list[BatchPlan]:
    """The batches of one pass over ``n`` examples (last batch may be smaller), every random number drawn.

    ``shuffle`` permutes with ``generator`` (required, for reproducibility); ``augment``
    then draws each batch's crop and flip (:func:`draw_crop_flip`) with the same
    generator, batch after batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got batch_size={batch_size}")
    if (shuffle or augment) and generator is None:
        raise ValueError("shuffle and augment need a seeded torch.Generator (generator=...)")
    order = torch.randperm(n, generator=generator) if shuffle else None
    plans = []
    for start in range(0, n, batch_size):
        index = slice(start, min(start + batch_size, n)) if order is None else order[start : start + batch_size]
        size = index.stop - index.start if isinstance(index, slice) else len(index)
        offsets, flip = draw_crop_flip(size, generator, padding) if augment else (None, None)
        plans.append(BatchPlan(index, offsets, flip))
    return plans


def make_batch(
    x: torch.Tensor, y: torch.Tensor, plan: BatchPlan, *, padding: int = 4, fill: tuple[float, ...] | float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch ``plan`` describes, cut (and augmented) on the device of ``x``."""
    index = plan.index if isinstance(plan.index, slice) else plan.index.to(x.device)
    xb, yb = x[index], y[index]
    if plan.offsets is not None:
        xb = crop_flip(xb, plan.offsets, plan.flip, padding=padding, fill=fill)
    return xb, yb


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augment: bool = False,
    fill: tuple[float, ...] | float = 0.0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x_batch, y_batch)`` over in-memory tensors (last batch may be smaller).

    ``shuffle`` permutes with ``generator`` (required, for reproducibility); ``augment``
    applies :func:`augment_crop_flip` (padding 4, ``fill``) with the same generator.
    Batches live on the device of ``x`` (:func:`plan_batches`, :func:`make_batch`).
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    for plan in plan_batches(len(x), batch_size, shuffle=shuffle, generator=generator, augment=augment):
        yield make_batch(x, y, plan, fill=fill)


class _Batches(torch.utils.data.Dataset):
    """The batch of a plan, made in a DataLoader worker from the CPU tensors (a plan is the key)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, fill: tuple[float, ...] | float) -> None:
        self.x, self.y, self.fill = x, y, fill

    def __getitem__(self, plan: BatchPlan) -> tuple[torch.Tensor, torch.Tensor]:
        return make_batch(self.x, self.y, plan, fill=self.fill)


class _Plans(torch.utils.data.Sampler):
    """The keys of the current pass: set :attr:`plans` before iterating the loader."""

    def __init__(self) -> None:
        self.plans: list[BatchPlan] = []

    def __iter__(self):
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)


class BatchLoader:
    """Batches of :class:`BatchPlan` s made by ``workers`` DataLoader processes (:func:`loader`)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, workers: int, device: torch.device, fill=0.0) -> None:
        if x.device.type != "cpu":
            raise ValueError(f"a BatchLoader reads CPU tensors, got x on {x.device}")
        self.device = torch.device(device)
        self._plans = _Plans()
        self._loader = torch.utils.data.DataLoader(
            _Batches(x, y, fill), batch_size=None, sampler=self._plans, num_workers=workers,
            pin_memory=self.device.type == "cuda", persistent_workers=True,
        )  # fmt: skip

    def close(self) -> None:
        """Stop the worker processes (they also stop when the loader is garbage collected)."""
        it = getattr(self._loader, "_iterator", None)
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self._loader._iterator = None

    def __call__(self, plans: list[BatchPlan]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the batches of ``plans`` in order, on the loader's device."""
        self._plans.plans = list(plans)
        blocking = self.device.type != "cuda"
        for xb, yb in self._loader:
            yield xb.to(self.device, non_blocking=not blocking), yb.to(self.device, non_blocking=not blocking)


def loader(x: torch.Tensor, y: torch.Tensor, *, workers: int, device: str | torch.device, fill=0.0) -> BatchLoader:
    """A :class:`BatchLoader`: ``workers`` (>= 1) processes make the batches of each pass from CPU tensors.

    Memory is pinned when ``device`` is CUDA, and batches are copied to it
    asynchronously.  The batches equal those of :func:`iterate_batches` for the same
    plans (module docstring).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"loader workers must be an integer >= 1, got workers={workers!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    return BatchLoader(x, y, workers=workers, device=torch.device(device), fill=fill)
