"""Tiny ImageNet (Stanford CS231n): 200 classes of 64x64 JPEG images in folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import DatasetError, DatasetInfo, RawImages, Reader, missing, read_bytes

__all__ = ["TINY_IMAGENET_URL", "TinyImageNetReader"]

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_WHAT = f"Tiny ImageNet: {TINY_IMAGENET_URL}"


def _decode(path: Path) -> np.ndarray:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - pillow is in the data extra
        raise ImportError("Tiny ImageNet needs pillow (pip install 'eoc-pruning[data]')") from exc
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
        out[i] = _decode(p).transpose(2, 0, 1)
    return out


class TinyImageNetReader(Reader):
    """``"tinyimagenet"``: ``<root>/tiny-imagenet-200/`` with ``wnids.txt``,
    ``train/<wnid>/images/*.JPEG`` and ``val/val_annotations.txt`` + ``val/images/``.

    The labelled validation set is the test split; class ``i`` is the ``i``-th of the
    sorted WordNet ids.
    """

    name = "tinyimagenet"
    info = DatasetInfo((3, 64, 64), 200, 100000, 10000)

    def _index(self, root: Path) -> tuple[list[str], list[Path], list[int], list[Path], list[int], Path]:
        base = root / "tiny-imagenet-200"
        wnids_path = base / "wnids.txt"
        wnids = sorted({w.strip() for w in read_bytes(wnids_path, _WHAT).decode().splitlines() if w.strip()})
        if not wnids:
            raise DatasetError(f"{wnids_path} lists no class ids (expected one WordNet id per line)")
        index = {w: i for i, w in enumerate(wnids)}
        train_paths, train_labels = [], []
        for wnid in wnids:
            folder = base / "train" / wnid / "images"
            files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
            if not files:
                raise missing(folder / "*.JPEG", f"training images of class {wnid}; {_WHAT}")
            train_paths += files
            train_labels += [index[wnid]] * len(files)
        ann_path = base / "val" / "val_annotations.txt"
        test_paths, test_labels = [], []
        for lineno, line in enumerate(read_bytes(ann_path, _WHAT).decode().splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in index:
                raise DatasetError(
                    f"{ann_path} line {lineno}: expected '<file>\\t<wnid from wnids.txt>\\t...', got {line!r}"
                )
            test_paths.append(base / "val" / "images" / fields[0])
            test_labels.append(index[fields[1]])
        if not test_paths:
            raise DatasetError(f"{ann_path} lists no validation images")
        for p in test_paths:
            if not p.is_file():
                raise DatasetError(f"missing {p} (listed in {ann_path})")
        return wnids, train_paths, train_labels, test_paths, test_labels, ann_path

    def files(self, root: Path) -> list[Path]:
        _, train, _, test, _, ann = self._index(root)
        base = root / "tiny-imagenet-200"
        return [base / "wnids.txt", ann, *train, *test]

    def read(self, root: Path | None) -> RawImages:
        assert root is not None
        wnids, train, y_train, test, y_test, ann = self._index(root)
        return RawImages(
            _decode_all(train), np.asarray(y_train), _decode_all(test), np.asarray(y_test), len(wnids), 1.0 / 255.0,
            str(ann),
        )  # fmt: skip
