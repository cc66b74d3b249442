"""Tiny datasets in the real published formats, written by the tests (nothing is downloaded).

MNIST IDX files (optionally ``.gz``), CIFAR-10 and CIFAR-100 python pickles, and Tiny
ImageNet's JPEG folders with ``wnids.txt`` and ``val_annotations.txt``; images are
random bytes (Tiny ImageNet: one flat colour per class), labels cycle over the classes.
Used by tests/test_repro_data.py (the readers) and tests/test_full_profile_smoke.py
(every full profile on these files).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

__all__ = ["RNG", "COLORS", "write_idx", "write_mnist", "write_cifar", "write_tinyimagenet", "class_colors"]

RNG = np.random.default_rng(1234)


# --------------------------------------------------------------------------- file writers


def write_idx(path: Path, arr: np.ndarray, magic: int | None = None, gz: bool = False) -> Path:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x08 << 8 | arr.ndim) if magic is None else magic
    raw = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, gz: bool = False) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test)[::-1] % 10,
    }
    for name, arr in arrays.items():
        write_idx(folder / name, arr, gz=gz)
    return arrays


def write_cifar(root: Path, hundred: bool = False, per_batch: int = 4) -> dict:
    if hundred:
        folder, files, key, classes = root / "cifar-100-python", ["train", "test"], b"fine_labels", 100
    else:
        folder, files, key, classes = root / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + [
            "test_batch"
        ], b"labels", 10
    folder.mkdir(parents=True)
    written = {}
    for i, name in enumerate(files):
        batch = {
            b"data": RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            key: [int(v) for v in (np.arange(per_batch) + 3 * i) % classes],
            b"batch_label": name.encode(),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = batch
    return written


COLORS = {"n01443537": (230, 20, 20), "n09999999": (20, 20, 230)}


def class_colors(n: int) -> dict[str, tuple[int, int, int]]:
    """``n`` WordNet-like ids, each with its own flat colour (Tiny ImageNet has 200 classes)."""
    rng = np.random.default_rng(n)
    return {f"n{10_000_000 + i:08d}": tuple(int(v) for v in rng.integers(0, 256, 3)) for i in range(n)}


def write_tinyimagenet(root: Path, colors: dict[str, tuple[int, int, int]] = COLORS, per_class: int = 3) -> None:
    """Tiny ImageNet's layout: ``per_class`` training images and one validation image per class."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(colors) + "\n")
    ann = []
    for wnid, rgb in colors.items():
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 64), rgb).save(folder / f"{wnid}_{i}.JPEG", "JPEG")
        name = f"val_{len(ann)}.JPEG"
        Image.new("RGB", (64, 64), rgb).save(base / "val" / "images" / name, "JPEG")
        ann.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")
