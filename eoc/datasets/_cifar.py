"""CIFAR-10 and CIFAR-100, python (pickle) version of Krizhevsky's distribution.

The files are Python pickles: load only copies you trust.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ._base import DatasetError, DatasetInfo, RawImages, Reader, check_labels, read_bytes

__all__ = ["CIFAR_URL", "read_cifar_batch", "Cifar10Reader", "Cifar100Reader"]

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


def read_cifar_batch(path: Path, label_key: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels of one pickled CIFAR batch (clear errors)."""
    raw = read_bytes(path, what)
    try:
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as exc:  # a truncated or foreign file can fail in many ways inside pickle
        raise DatasetError(f"cannot unpickle {path} ({what}): {type(exc).__name__}: {exc}") from exc
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DatasetError(f"{path} must be a dict with keys b'data' and {label_key!r} ({what}), got {keys}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: expected b'data' of uint8 shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DatasetError(f"{path}: {data.shape[0]} images but {label_key!r} has shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


class _CifarReader(Reader):
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: bytes
    classes: int
    title: str

    def files(self, root: Path) -> list[Path]:
        base = root / self.folder
        return [base / f for f in (*self.train_files, self.test_file)]

    def read(self, root: Path | None) -> RawImages:
        assert root is not None
        base = root / self.folder
        what = f"{self.title} python version: {CIFAR_URL}"
        parts = [read_cifar_batch(base / f, self.label_key, what) for f in self.train_files]
        x_test, y_test = read_cifar_batch(base / self.test_file, self.label_key, what)
        y_train = np.concatenate([p[1] for p in parts])
        check_labels(y_train, self.classes, base / self.train_files[0])
        check_labels(y_test, self.classes, base / self.test_file)
        return RawImages(
            np.concatenate([p[0] for p in parts]), y_train, x_test, y_test, self.classes, 1.0 / 255.0, str(base)
        )


class Cifar10Reader(_CifarReader):
    """``"cifar10"``: ``<root>/cifar-10-batches-py/data_batch_1..5`` and ``test_batch``."""

    name = "cifar10"
    folder = "cifar-10-batches-py"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_file = "test_batch"
    label_key = b"labels"
    classes = 10
    info = DatasetInfo((3, 32, 32), 10, 50000, 10000)
    title = "CIFAR-10"


class Cifar100Reader(_CifarReader):
    """``"cifar100"``: ``<root>/cifar-100-python/train`` and ``test`` (fine labels)."""

    name = "cifar100"
    folder = "cifar-100-python"
    train_files = ("train",)
    test_file = "test"
    label_key = b"fine_labels"
    classes = 100
    info = DatasetInfo((3, 32, 32), 100, 50000, 10000)
    title = "CIFAR-100"
