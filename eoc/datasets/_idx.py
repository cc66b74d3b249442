"""MNIST in the IDX format of LeCun et al. (``.gz`` allowed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import DatasetError, DatasetInfo, RawImages, Reader, read_bytes

__all__ = ["MNIST_URL", "IDX_IMAGES_MAGIC", "IDX_LABELS_MAGIC", "read_idx", "MnistReader"]

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


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
    raw = read_bytes(path, f"IDX file, magic {magic}; MNIST: {MNIST_URL}")
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


class MnistReader(Reader):
    """``"mnist"``: the four IDX files in ``<root>/mnist/``, ``<root>/MNIST/raw/`` or ``<root>``."""

    name = "mnist"
    info = DatasetInfo((1, 28, 28), 10, 60000, 10000)

    def _folder(self, root: Path) -> Path:
        candidates = [root / "mnist", root / "MNIST" / "raw", root]
        for folder in candidates:
            if _idx_path(folder, _STEMS["train"][0]).exists():
                return folder
        raise DatasetError(
            f"missing {root / 'mnist' / _STEMS['train'][0]} (MNIST IDX files, optionally .gz; also looked in "
            f"{', '.join(str(c) for c in candidates[1:])}; MNIST: {MNIST_URL}; --data-dir names the folder)"
        )

    def files(self, root: Path) -> list[Path]:
        folder = self._folder(root)
        return [_idx_path(folder, stem) for pair in _STEMS.values() for stem in pair]

    def read(self, root: Path | None) -> RawImages:
        assert root is not None
        folder = self._folder(root)
        arrays = {}
        for split, (img_stem, lab_stem) in _STEMS.items():
            img_path, lab_path = _idx_path(folder, img_stem), _idx_path(folder, lab_stem)
            images = read_idx(img_path, IDX_IMAGES_MAGIC)
            labels = read_idx(lab_path, IDX_LABELS_MAGIC)
            if len(images) != len(labels):
                raise DatasetError(f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} labels")
            arrays[split] = (images[:, None], labels)
        return RawImages(*arrays["train"], *arrays["test"], 10, 1.0 / 255.0, str(folder))
