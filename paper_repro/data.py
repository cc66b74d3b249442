"""Datasets as in-memory tensors: the embedded digits set, synthetic Gaussian inputs,
and readers for MNIST, CIFAR-10/100 and Tiny ImageNet in their published formats.

Every image dataset comes back as one :class:`Dataset`: float32 tensors of shape
``(N, C, H, W)``, pixels scaled to [0, 1] and then normalized per channel with the
mean and standard deviation of the *training* split (population std over every
training pixel of the channel), and int64 labels.  The statistics are computed, not
hard-coded, so the same rule covers every dataset; they reproduce the usual constants
(MNIST 0.1307 / 0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616)).

Datasets and where their files go (``data_dir`` is given by the user; nothing is
downloaded):

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
                          ``val/images/``; the labelled validation set is the test split and
                          class ``i`` is the ``i``-th of the sorted WordNet ids.
========================  =====================================================================

A missing or malformed file raises :class:`DatasetError` (a :class:`ValueError`)
naming the file and what was expected.  The CIFAR files are Python pickles: load only
copies you trust.

Batches come from :func:`iterate_batches` (shuffled by a seeded
:class:`torch.Generator`, optionally augmented by :func:`augment_crop_flip`, the
standard CIFAR augmentation, on whole batches).
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "DatasetError",
    "Dataset",
    "load_dataset",
    "digits_split",
    "gaussian_inputs",
    "read_idx",
    "augment_crop_flip",
    "iterate_batches",
]

DATASETS = ("digits", "mnist", "cifar10", "cifar100", "tinyimagenet")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"

#: The fixed digits split: 360 of the 1,797 images (20 %, stratified) are the test set.
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0

_IDX_UBYTE = 0x08
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)


class DatasetError(ValueError):
    """A dataset file is missing or not in the expected format (the message names it)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test tensors of one dataset, normalized with the train statistics.

    Attributes
    ----------
    name : str
        One of :data:`DATASETS`.
    x_train, x_test : torch.Tensor
        float32, shape ``(N, C, H, W)``; pixel/scale in [0, 1], minus ``mean``, over ``std``.
    y_train, y_test : torch.Tensor
        int64 class indices in ``[0, num_classes)``.
    num_classes : int
    mean, std : tuple of float
        Per-channel statistics of the scaled training pixels used for normalization.

    Notes
    -----
    :func:`load_dataset` memoizes datasets per process: do not modify the tensors in place.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, ``(C, H, W)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def black(self) -> tuple[float, ...]:
        """The normalized value of a black pixel, per channel (the padding of :func:`augment_crop_flip`)."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))


# --------------------------------------------------------------------------- helpers


def _normalize(train: np.ndarray, test: np.ndarray, scale: float) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple]:
    """Scale integer images ``(N, C, H, W)`` by ``scale`` and normalize with train statistics.

    Statistics are accumulated in float64 over chunks, so a large uint8 array is never
    copied to float64 as a whole.
    """
    channels = train.shape[1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    chunk = 8192
    for i in range(0, len(train), chunk):
        block = train[i : i + chunk].astype(np.float64) * scale
        total += block.sum(axis=(0, 2, 3))
        total_sq += (block**2).sum(axis=(0, 2, 3))
    count = train.shape[0] * train.shape[2] * train.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    if not np.all(std > 0):
        raise DatasetError(f"a channel of the training images is constant (per-channel std {std.tolist()})")

    def apply(arr: np.ndarray) -> torch.Tensor:
        out = torch.empty(arr.shape, dtype=torch.float32)
        m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        for i in range(0, len(arr), chunk):
            block = torch.from_numpy(np.ascontiguousarray(arr[i : i + chunk])).to(torch.float32) * scale
            out[i : i + chunk] = (block - m) / s
        return out

    return apply(train), apply(test), tuple(float(v) for v in mean), tuple(float(v) for v in std)


def _labels(values: np.ndarray, num_classes: int, path: Path) -> torch.Tensor:
    values = np.asarray(values).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= num_classes):
        raise DatasetError(f"labels in {path} must lie in [0, {num_classes}), found [{values.min()}, {values.max()}]")
    return torch.from_numpy(values)


def _require_dir(data_dir: str | Path | None, name: str) -> Path:
    if data_dir is None:
        raise ValueError(f"dataset {name!r} is read from files: pass data_dir (on the command line --data-dir), the folder holding them")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist (needed for dataset {name!r})")
    return path


def _read_bytes(path: Path, what: str) -> bytes:
    """Contents of ``path``, gunzipped if it ends in ``.gz``; a clear error if missing or corrupt."""
    if not path.is_file():
        raise DatasetError(f"missing {path} ({what})")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path} ({what}): {exc}") from exc


# --------------------------------------------------------------------------- digits and synthetic inputs


def digits_split(seed: int = DIGITS_SPLIT_SEED, n_test: int = DIGITS_TEST_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified train/test split of scikit-learn's digits (1,437 / 360 by default).

    Each class contributes to the test set in proportion to its size (largest-remainder
    rounding so the total is exactly ``n_test``); within a class the test images are the
    first ones of a permutation drawn by ``numpy.random.default_rng(seed)``.  The split
    depends only on the labels and ``seed``, not on the scikit-learn version.

    Returns
    -------
    train_idx, test_idx : numpy.ndarray
        Sorted int64 indices into ``load_digits()``.
    """
    from sklearn.datasets import load_digits

    y = np.asarray(load_digits().target)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got {n_test}")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * n_test / len(y)
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[: n_test - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    test = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(y)), test_idx)
    return train_idx.astype(np.int64), test_idx.astype(np.int64)


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.uint8)[:, None]  # values 0..16
    train_idx, test_idx = digits_split()
    x_tr, x_te, mean, std = _normalize(images[train_idx], images[test_idx], 1.0 / 16.0)
    y = np.asarray(bunch.target)
    return Dataset("digits", x_tr, _labels(y[train_idx], 10, Path("load_digits")), x_te,
                   _labels(y[test_idx], 10, Path("load_digits")), 10, mean, std)


def gaussian_inputs(n: int, dim: int, *, seed: int, q: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""``n`` Gaussian inputs in dimension ``dim``, each rescaled to :math:`\|x\|^2/d = q`.

    Rows are drawn i.i.d. :math:`\mathcal N(0, I_d)` (``torch.Generator`` seeded with
    ``seed``, in float64) and then divided by :math:`\sqrt{\|x\|^2/(qd)}`, so every input
    has exactly the variance ``q`` the mean-field recursions start from (THEORY.md
    section 2), up to rounding to ``dtype``.

    Returns
    -------
    torch.Tensor
        Shape ``(n, dim)``.
    """
    if n < 1 or dim < 1:
        raise ValueError(f"n and dim must be >= 1, got n={n}, dim={dim}")
    if not q > 0 or not np.isfinite(q):
        raise ValueError(f"q must be > 0 and finite, got q={q!r}")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    x = x * torch.sqrt(q * dim / (x**2).sum(dim=1, keepdim=True))
    return x.to(dtype)


# --------------------------------------------------------------------------- MNIST (IDX)


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` allowed) and check its header.

    The header is the big-endian int32 ``magic`` (``0x0000 0x08 ndim``) followed by
    ``ndim`` big-endian int32 sizes; the body holds ``prod(sizes)`` bytes.

    Raises
    ------
    DatasetError
        Missing file, wrong magic number, or a body shorter/longer than the header says.
    """
    path = Path(path)
    raw = _read_bytes(path, f"IDX file, magic {magic}; MNIST: {MNIST_URL}")
    if len(raw) < 4:
        raise DatasetError(f"truncated IDX header in {path}: {len(raw)} bytes")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DatasetError(f"expected IDX magic {magic} in {path}, got {got}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"truncated IDX header in {path}: expected {header} bytes, got {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DatasetError(
            f"{'truncated' if len(raw) - header < size else 'oversized'} IDX file {path}: header says shape {shape} "
            f"({size} bytes of data), found {len(raw) - header} bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _idx_path(folder: Path, stem: str) -> Path:
    plain = folder / stem
    gz = folder / f"{stem}.gz"
    return gz if not plain.exists() and gz.exists() else plain


def _mnist_folder(root: Path) -> Path:
    candidates = [root / "mnist", root / "MNIST" / "raw", root]
    for folder in candidates:
        if _idx_path(folder, "train-images-idx3-ubyte").exists():
            return folder
    raise DatasetError(
        f"missing {root / 'mnist' / 'train-images-idx3-ubyte'} (MNIST IDX files, optionally .gz; also looked in "
        f"{', '.join(str(c) for c in candidates[1:])}; MNIST: {MNIST_URL})"
    )


def _load_mnist(data_dir: Path) -> Dataset:
    folder = _mnist_folder(data_dir)
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        img_path = _idx_path(folder, f"{prefix}-images-idx3-ubyte")
        lab_path = _idx_path(folder, f"{prefix}-labels-idx1-ubyte")
        images = read_idx(img_path, _IDX_IMAGES_MAGIC)
        labels = read_idx(lab_path, _IDX_LABELS_MAGIC)
        if len(images) != len(labels):
            raise DatasetError(f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} labels")
        arrays[split] = (images[:, None], _labels(labels, 10, lab_path))
    x_tr, x_te, mean, std = _normalize(arrays["train"][0], arrays["test"][0], 1.0 / 255.0)
    return Dataset("mnist", x_tr, arrays["train"][1], x_te, arrays["test"][1], 10, mean, std)


# --------------------------------------------------------------------------- CIFAR (python pickles)


def _read_cifar_batch(path: Path, label_key: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    raw = _read_bytes(path, what)
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


def _load_cifar(data_dir: Path, name: str) -> Dataset:
    if name == "cifar10":
        folder, test_file, label_key, classes = "cifar-10-batches-py", "test_batch", b"labels", 10
        train_files = [f"data_batch_{i}" for i in range(1, 6)]
        what = f"CIFAR-10 python version: {CIFAR_URL}"
    else:
        folder, test_file, label_key, classes = "cifar-100-python", "test", b"fine_labels", 100
        train_files = ["train"]
        what = f"CIFAR-100 python version: {CIFAR_URL}"
    root = data_dir / folder
    parts = [_read_cifar_batch(root / f, label_key, what) for f in train_files]
    x_test_u8, y_test = _read_cifar_batch(root / test_file, label_key, what)
    x_train_u8 = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_tr, x_te, mean, std = _normalize(x_train_u8, x_test_u8, 1.0 / 255.0)
    return Dataset(name, x_tr, _labels(y_train, classes, root / train_files[0]), x_te,
                   _labels(y_test, classes, root / test_file), classes, mean, std)


# --------------------------------------------------------------------------- Tiny ImageNet (JPEG folders)


def _decode_jpeg(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"cannot decode {path} (Tiny ImageNet JPEG): {exc}") from exc
    if arr.shape != (64, 64, 3):
        raise DatasetError(f"{path}: expected a 64x64 RGB image, got shape {arr.shape}")
    return arr


def _decode_all(paths: list[Path]) -> np.ndarray:
    out = np.empty((len(paths), 3, 64, 64), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = _decode_jpeg(p).transpose(2, 0, 1)
    return out


def _load_tinyimagenet(data_dir: Path) -> Dataset:
    root = data_dir / "tiny-imagenet-200"
    what = f"Tiny ImageNet: {TINY_IMAGENET_URL}"
    wnids_path = root / "wnids.txt"
    wnids = sorted({w.strip() for w in _read_bytes(wnids_path, what).decode().splitlines() if w.strip()})
    if not wnids:
        raise DatasetError(f"{wnids_path} lists no class ids (expected one WordNet id per line)")
    index = {w: i for i, w in enumerate(wnids)}
    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
        if not files:
            raise DatasetError(f"missing {folder}/*.JPEG (training images of class {wnid}; {what})")
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    ann_path = root / "val" / "val_annotations.txt"
    test_paths, test_labels = [], []
    for lineno, line in enumerate(_read_bytes(ann_path, what).decode().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise DatasetError(
                f"{ann_path} line {lineno}: expected '<file>\\t<wnid from wnids.txt>\\t...', got {line!r}"
            )
        test_paths.append(root / "val" / "images" / fields[0])
        test_labels.append(index[fields[1]])
    if not test_paths:
        raise DatasetError(f"{ann_path} lists no validation images")
    for p in test_paths:
        if not p.is_file():
            raise DatasetError(f"missing {p} (listed in {ann_path})")
    x_tr, x_te, mean, std = _normalize(_decode_all(train_paths), _decode_all(test_paths), 1.0 / 255.0)
    n = len(wnids)
    return Dataset("tinyimagenet", x_tr, _labels(train_labels, n, root / "train"), x_te,
                   _labels(test_labels, n, ann_path), n, mean, std)


# --------------------------------------------------------------------------- entry point

_MEMO: dict[tuple[str, str], Dataset] = {}


def load_dataset(name: str, data_dir: str | Path | None = None) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`), both splits, normalized.

    ``"digits"`` is bundled with scikit-learn and ignores ``data_dir``; the others read
    the files listed in the module docstring from ``data_dir``.  Results are memoized
    per process (key: name and resolved ``data_dir``).

    Raises
    ------
    ValueError
        Unknown ``name``, or no ``data_dir`` for a file-based dataset.
    DatasetError
        ``data_dir`` or a file is missing or malformed (the message names it).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "digits":
        key = (name, "")
    else:
        key = (name, str(_require_dir(data_dir, name).resolve()))
    if key not in _MEMO:
        if name == "digits":
            _MEMO[key] = _load_digits()
        elif name == "mnist":
            _MEMO[key] = _load_mnist(Path(key[1]))
        elif name in ("cifar10", "cifar100"):
            _MEMO[key] = _load_cifar(Path(key[1]), name)
        else:
            _MEMO[key] = _load_tinyimagenet(Path(key[1]))
    return _MEMO[key]


# --------------------------------------------------------------------------- augmentation and batches


def augment_crop_flip(
    x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, fill: tuple[float, ...] | float = 0.0
) -> torch.Tensor:
    """Standard CIFAR augmentation of a batch: random crop with padding, random horizontal flip.

    Each image of ``x`` (``(N, C, H, W)``) is padded by ``padding`` pixels of value
    ``fill`` on every side (per channel; pass :attr:`Dataset.black` to pad with black as
    torchvision does before normalization), cropped back to ``H x W`` at a uniformly
    random offset, and mirrored left-right with probability 1/2.  The random numbers
    come from ``generator`` (a CPU :class:`torch.Generator`), so a seed fixes the result.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_crop_flip expects a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
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
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
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
