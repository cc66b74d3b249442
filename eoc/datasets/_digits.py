"""scikit-learn's bundled digits (8x8 grayscale, 1,797 images, 10 classes) with a fixed split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import DatasetInfo, RawImages, Reader, array_fingerprint

__all__ = ["DIGITS_TEST_SIZE", "DIGITS_SPLIT_SEED", "digits_split", "DigitsReader"]

#: The fixed digits split: 360 of the 1,797 images (20 %, stratified) are the test set.
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


def _load():
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is in the data extra
        raise ImportError("the 'digits' dataset needs scikit-learn (pip install 'eoc-pruning[data]')") from exc
    return load_digits()


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
    y = np.asarray(_load().target)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got n_test={n_test}")
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


class DigitsReader(Reader):
    """``"digits"``: embedded in scikit-learn; ignores the data folder."""

    name = "digits"
    needs_files = False
    info = DatasetInfo((1, 8, 8), 10, 1797 - DIGITS_TEST_SIZE, DIGITS_TEST_SIZE)

    def read(self, root: Path | None) -> RawImages:
        bunch = _load()
        images = np.asarray(bunch.images, dtype=np.uint8)[:, None]  # values 0..16
        y = np.asarray(bunch.target)
        train_idx, test_idx = digits_split()
        return RawImages(images[train_idx], y[train_idx], images[test_idx], y[test_idx], 10, 1.0 / 16.0, "load_digits")

    def fingerprint(self, root: Path | None) -> str:
        """``digits:<digest of the embedded images, labels and split>`` (changes only if scikit-learn's copy does)."""
        bunch = _load()
        digest = array_fingerprint(np.asarray(bunch.images), np.asarray(bunch.target), *digits_split())
        return f"digits:{digest}"
