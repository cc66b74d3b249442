r"""A synthetic, learnable image-classification task that needs no file and no scikit-learn.

Class :math:`c` has a fixed random mean image :math:`\mu_c` (entries :math:`\mathcal N(0,1)`);
an example of class :math:`c` is :math:`\mu_c + \sigma\varepsilon` with
:math:`\varepsilon\sim\mathcal N(0, I)`, drawn by ``numpy.random.default_rng(seed)``.  It
serves smoke tests of the training and pruning pipeline (and users without the
digits).  It is not the Gaussian *input* model of the mean-field theory
(:math:`|x|^2/d = q`), which :mod:`eoc.sim` generates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._base import DatasetInfo, RawImages, Reader

__all__ = ["SyntheticReader"]


@dataclass(frozen=True)
class SyntheticReader(Reader):
    """``"synthetic"``: ``n_train`` / ``n_test`` images of ``shape`` in ``num_classes`` classes."""

    n_train: int = 1000
    n_test: int = 200
    shape: tuple[int, int, int] = (1, 8, 8)
    num_classes: int = 10
    noise: float = 1.0
    seed: int = 0

    name = "synthetic"  # type: ignore[misc]  # a ClassVar of the base type
    needs_files = False  # type: ignore[misc]

    @property
    def info(self) -> DatasetInfo:  # type: ignore[override]  # from the parameters
        return DatasetInfo(self.shape, self.num_classes, self.n_train, self.n_test)

    def read(self, root: Path | None) -> RawImages:
        rng = np.random.default_rng(self.seed)
        means = rng.standard_normal((self.num_classes, *self.shape))

        def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
            y = np.arange(n) % self.num_classes
            rng.shuffle(y)
            return means[y] + self.noise * rng.standard_normal((n, *self.shape)), y

        x_train, y_train = draw(self.n_train)
        x_test, y_test = draw(self.n_test)
        return RawImages(x_train, y_train, x_test, y_test, self.num_classes, 1.0, "synthetic")

    def fingerprint(self, root: Path | None) -> str:
        return (
            f"synthetic:n={self.n_train}/{self.n_test},shape={'x'.join(map(str, self.shape))},"
            f"classes={self.num_classes},noise={self.noise:g},seed={self.seed}"
        )
