"""The dataset types, normalization, file helpers and data fingerprints shared by the readers.

A reader (:class:`Reader`) knows one published format: which files it reads under a
data folder (:meth:`Reader.files`) and how to turn them into integer or float images
(:meth:`Reader.read`, a :class:`RawImages`).  :func:`normalize` turns raw images into
a :class:`Dataset` of float32 arrays normalized with the training split's per-channel
statistics.  Everything here is numpy: no torch import.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

__all__ = [
    "DatasetError",
    "DatasetInfo",
    "Split",
    "Dataset",
    "RawImages",
    "Reader",
    "normalize",
    "file_digest",
    "files_fingerprint",
]

#: The flag that names the data folder on every command line of the project.
DATA_DIR_FLAG = "--data-dir"


class DatasetError(ValueError):
    """A dataset file is missing or not in the expected format (the message names it)."""


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset: normalized images and their labels.

    Attributes
    ----------
    x : numpy.ndarray
        float32, shape ``(N, C, H, W)``.
    y : numpy.ndarray
        int64 class indices in ``[0, num_classes)``, shape ``(N,)``.
    num_classes : int
        Classes of the dataset (not only those present in this split).
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test splits of one dataset, normalized with the train statistics.

    Attributes
    ----------
    name : str
        One of :data:`eoc.datasets.DATASETS`.
    train, test : Split
    num_classes : int
    mean, std : tuple of float
        Per-channel statistics of the scaled training pixels (population std over every
        training pixel of the channel): ``x = (pixel * scale - mean) / std``.
    fingerprint : str
        Identity of the data read (:func:`eoc.datasets.fingerprint`).

    Notes
    -----
    :func:`eoc.datasets.load` memoizes datasets per process: do not modify the arrays
    in place (they are marked read-only).
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(C, H, W)``."""
        return tuple(self.train.x.shape[1:])

    @property
    def black(self) -> tuple[float, ...]:
        """The normalized value of a black pixel, per channel (padding for crop augmentation)."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))


@dataclass(frozen=True, eq=False)
class RawImages:
    """What a reader returns: images ``(N, C, H, W)`` (integers, or floats) and labels.

    ``scale`` maps a stored value to [0, 1] (1/255 for bytes, 1/16 for digits).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    scale: float
    source: str  # what the labels were read from (named in label errors)


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, known without reading it: the published sizes and shapes.

    Attributes
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` of one image.
    num_classes : int
    train_size, test_size : int
        Images in the published train and test splits (Tiny ImageNet: its labelled
        validation set is the test split).  A copy on disk may hold fewer (the tests'
        tiny files do); the cost plan of ``paper_repro`` counts with these.
    """

    input_shape: tuple[int, int, int]
    num_classes: int
    train_size: int
    test_size: int


class Reader:
    """One dataset format (the base type of every reader).

    Subclasses set :attr:`name`, :attr:`needs_files`, :attr:`info` and implement
    :meth:`read`; file readers also implement :meth:`files` (every file :meth:`read`
    reads, for the fingerprint).  Readers without files implement :meth:`fingerprint`.
    """

    name: ClassVar[str] = ""
    needs_files: ClassVar[bool] = True
    info: ClassVar[DatasetInfo]

    def files(self, root: Path) -> list[Path]:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, root: Path | None) -> RawImages:  # pragma: no cover - abstract
        raise NotImplementedError

    def fingerprint(self, root: Path | None) -> str:
        """``<name>:<digest>``: for a file reader, the digest of the files it reads."""
        if root is None:  # pragma: no cover - guarded by the caller
            raise ValueError(f"dataset {self.name!r} needs a data folder")
        return f"{self.name}:{files_fingerprint(self.files(root), root)}"


def check_labels(values: Sequence[int] | np.ndarray, num_classes: int, source: object) -> np.ndarray:
    """``values`` as int64, after checking that they lie in ``[0, num_classes)``."""
    arr = np.asarray(values).astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise DatasetError(f"labels in {source} must lie in [0, {num_classes}), found [{arr.min()}, {arr.max()}]")
    return arr


def normalize(raw: RawImages, name: str, fingerprint: str, chunk: int = 8192) -> Dataset:
    """Scale ``raw`` to [0, 1] and normalize both splits with the training statistics.

    The statistics are accumulated in float64 over chunks, so a large uint8 array is
    never copied to float64 as a whole; the outputs are float32.

    Raises
    ------
    DatasetError
        A channel of the training images is constant (its std is 0).
    """
    train = raw.x_train
    channels = train.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for i in range(0, len(train), chunk):
        block = train[i : i + chunk].astype(np.float64) * raw.scale
        total += block.sum(axis=(0, 2, 3))
        total_sq += (block**2).sum(axis=(0, 2, 3))
    count = train.shape[0] * train.shape[2] * train.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    if not np.all(std > 0):
        raise DatasetError(f"a channel of the training images of {name!r} is constant (per-channel std {std.tolist()})")
    m = mean.reshape(1, -1, 1, 1)
    s = std.reshape(1, -1, 1, 1)

    def apply(arr: np.ndarray) -> np.ndarray:
        out = np.empty(arr.shape, dtype=np.float32)
        for i in range(0, len(arr), chunk):
            out[i : i + chunk] = (arr[i : i + chunk].astype(np.float64) * raw.scale - m) / s
        out.flags.writeable = False
        return out

    def labels(y: np.ndarray) -> np.ndarray:
        out = check_labels(y, raw.num_classes, raw.source)
        out.flags.writeable = False
        return out

    return Dataset(
        name,
        Split(apply(raw.x_train), labels(raw.y_train), raw.num_classes),
        Split(apply(raw.x_test), labels(raw.y_test), raw.num_classes),
        raw.num_classes,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in std),
        fingerprint,
    )


def require_dir(data_dir: str | Path | None, name: str) -> Path:
    """The data folder of a file dataset, or a clear error naming the flag."""
    if data_dir is None:
        raise ValueError(
            f"dataset {name!r} is read from files: pass data_dir (on the command line {DATA_DIR_FLAG}), "
            "the folder holding them"
        )
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist (needed for dataset {name!r}; {DATA_DIR_FLAG})")
    return path


def missing(path: Path, what: str) -> DatasetError:
    """The error for a missing file: its path, what it should hold, and the flag to fix it."""
    return DatasetError(f"missing {path} ({what}; {DATA_DIR_FLAG} names the folder that holds it)")


def read_bytes(path: Path, what: str) -> bytes:
    """Contents of ``path``, gunzipped if it ends in ``.gz``; a clear error if missing or corrupt."""
    if not path.is_file():
        raise missing(path, what)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path} ({what}): {exc}") from exc


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of the bytes of ``path`` (memoized per process on path, size and mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(block):
                h.update(chunk)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def files_fingerprint(paths: Sequence[Path], root: Path, chars: int = 16) -> str:
    """Digest of the files read: SHA-256 over ``(path relative to root, SHA-256 of its bytes)``."""
    h = hashlib.sha256()
    for p in paths:
        try:
            rel = p.relative_to(root)
        except ValueError:
            rel = p
        h.update(f"{rel.as_posix()}\0{file_digest(p)}\n".encode())
    return h.hexdigest()[:chars]


def array_fingerprint(*arrays: np.ndarray, chars: int = 16) -> str:
    """SHA-256 over the dtypes, shapes and bytes of ``arrays``."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:chars]
