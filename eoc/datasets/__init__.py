"""eoc.datasets: image-classification datasets as numpy arrays, with a data fingerprint.

Torch-free readers of the formats the experiments use; nothing is downloaded.

========================  =====================================================================
``"digits"``              scikit-learn's bundled ``load_digits`` (8x8 grayscale, 1,797 images,
                          10 classes); a fixed stratified split, see :func:`digits_split`.
``"mnist"``               ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
                          ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each optionally
                          ``.gz``) in ``data_dir/mnist/``, ``data_dir/MNIST/raw/`` or ``data_dir``.
``"cifar10"``             ``data_dir/cifar-10-batches-py/data_batch_1..5`` and ``test_batch``.
``"cifar100"``            ``data_dir/cifar-100-python/train`` and ``test`` (fine labels).
``"tinyimagenet"``        ``data_dir/tiny-imagenet-200/`` with ``wnids.txt``,
                          ``train/<wnid>/images/*.JPEG`` and ``val/val_annotations.txt`` +
                          ``val/images/``; the labelled validation set is the test split.
``"synthetic"``           Gaussian class clusters, 1x8x8, 10 classes (no file, no scikit-learn).
========================  =====================================================================

Every dataset comes back as one :class:`Dataset`: float32 arrays ``(N, C, H, W)``,
pixels scaled to [0, 1] and normalized per channel with the mean and standard
deviation of the *training* split (computed, not hard-coded: they reproduce the usual
constants, MNIST 0.1307 / 0.3081), int64 labels, and a :func:`fingerprint` of the data
read.  A missing or malformed file raises :class:`DatasetError` (a :class:`ValueError`)
naming the file, what was expected, and the command-line flag ``--data-dir``.

Entry point::

    from eoc import datasets
    ds = datasets.load("mnist", data_dir="~/data")          # both splits
    train = datasets.load("digits", split="train")           # one Split (x, y)
    datasets.fingerprint("cifar10", "~/data")                # 'cifar10:3f0c...'
"""

from __future__ import annotations

from pathlib import Path

from ._base import Dataset, DatasetError, DatasetInfo, RawImages, Reader, Split, normalize, require_dir
from ._cifar import Cifar10Reader, Cifar100Reader
from ._digits import DIGITS_SPLIT_SEED, DIGITS_TEST_SIZE, DigitsReader, digits_split
from ._idx import MnistReader, read_idx
from ._synthetic import SyntheticReader
from ._tinyimagenet import TinyImageNetReader

__all__ = [
    "DATASETS",
    "READERS",
    "Dataset",
    "DatasetInfo",
    "Split",
    "DatasetError",
    "Reader",
    "RawImages",
    "load",
    "info",
    "fingerprint",
    "needs_files",
    "digits_split",
    "read_idx",
    "DIGITS_TEST_SIZE",
    "DIGITS_SPLIT_SEED",
]

#: The reader of every dataset name.
READERS: dict[str, Reader] = {
    r.name: r
    for r in (DigitsReader(), MnistReader(), Cifar10Reader(), Cifar100Reader(), TinyImageNetReader(), SyntheticReader())
}
#: The dataset names, in the order of the module docstring.
DATASETS = tuple(READERS)
SPLITS = ("train", "test")

_MEMO: dict[tuple[str, str], Dataset] = {}
_FINGERPRINTS: dict[tuple[str, str], str] = {}


def _reader(name: str) -> Reader:
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return READERS[name]


def _root(name: str, data_dir: str | Path | None) -> Path | None:
    return require_dir(data_dir, name).resolve() if _reader(name).needs_files else None


def needs_files(name: str) -> bool:
    """Whether dataset ``name`` is read from files under a data folder (``--data-dir``)."""
    return _reader(name).needs_files


def info(name: str) -> DatasetInfo:
    """The published shape, classes and split sizes of dataset ``name`` (nothing is read).

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the datasets).
    """
    return _reader(name).info


def fingerprint(name: str, data_dir: str | Path | None = None) -> str:
    """Identity of the data :func:`load` would read: ``"<name>:<digest>"``.

    For the file datasets the digest is the SHA-256 over the relative path and the
    SHA-256 of every file read (so two different copies under two ``data_dir`` differ,
    and a copy moved elsewhere keeps its identity); for ``"digits"`` the digest of the
    embedded images, labels and split; for ``"synthetic"`` its parameters.  Memoized
    per process.

    Raises
    ------
    ValueError, DatasetError
        As :func:`load` (unknown name, missing folder or file).
    """
    root = _root(name, data_dir)
    key = (name, str(root or ""))
    if key not in _FINGERPRINTS:
        _FINGERPRINTS[key] = _reader(name).fingerprint(root)
    return _FINGERPRINTS[key]


def load(name: str, data_dir: str | Path | None = None, *, split: str | None = None) -> Dataset | Split:
    """Load dataset ``name`` (one of :data:`DATASETS`), normalized with its training statistics.

    Parameters
    ----------
    name : str
    data_dir : path, optional
        The folder holding the files (module docstring); ignored by ``"digits"`` and
        ``"synthetic"``.
    split : {None, "train", "test"}
        None returns the whole :class:`Dataset`; ``"train"`` or ``"test"`` one
        :class:`Split` (still normalized with the training statistics).

    Results are memoized per process (key: name and resolved ``data_dir``); the arrays
    are read-only.

    Raises
    ------
    ValueError
        Unknown ``name`` or ``split``, or no ``data_dir`` for a file-based dataset.
    DatasetError
        ``data_dir`` or a file is missing or malformed (the message names it).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be None, 'train' or 'test', got split={split!r}")
    reader = _reader(name)
    root = _root(name, data_dir)
    key = (name, str(root or ""))
    if key not in _MEMO:
        _MEMO[key] = normalize(reader.read(root), name, fingerprint(name, root))
    ds = _MEMO[key]
    return ds if split is None else getattr(ds, split)
