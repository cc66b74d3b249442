"""The datasets as torch tensors, batching and augmentation: the input side of the training loop.

:func:`tensors` wraps an :class:`eoc.datasets.Dataset` (numpy, normalized) in torch
tensors without copying; :func:`iterate_batches` yields shuffled (seeded) and
optionally augmented batches (:func:`augment_crop_flip`, the standard CIFAR
augmentation, on whole batches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

__all__ = ["TensorData", "tensors", "load_tensors", "augment_crop_flip", "iterate_batches"]


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


def augment_crop_flip(
    x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, fill: tuple[float, ...] | float = 0.0
) -> torch.Tensor:
    """Standard CIFAR augmentation of a batch: random crop with padding, random horizontal flip.

    Each image of ``x`` (``(N, C, H, W)``) is padded by ``padding`` pixels of value
    ``fill`` on every side (per channel; pass :attr:`TensorData.black` to pad with black as
    torchvision does before normalization), cropped back to ``H x W`` at a uniformly
    random offset, and mirrored left-right with probability 1/2.  The random numbers
    come from ``generator`` (a CPU :class:`torch.Generator`), so a seed fixes the result.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_crop_flip expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got padding={padding}")
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
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
    Batches live on the device of ``x``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got batch_size={batch_size}")
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if (shuffle or augment) and generator is None:
        raise ValueError("shuffle and augment need a seeded torch.Generator (generator=...)")
    order = torch.randperm(len(x), generator=generator).to(x.device) if shuffle else None
    for start in range(0, len(x), batch_size):
        if order is None:
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            xb, yb = x[idx], y[idx]
        if augment:
            xb = augment_crop_flip(xb, generator, fill=fill)
        yield xb, yb
