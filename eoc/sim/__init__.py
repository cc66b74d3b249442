r"""eoc.sim: the batched Monte-Carlo simulator of R random networks (needs PyTorch).

``import eoc`` never imports this package; import it explicitly (``from eoc.sim
import MLPStack``).  It is the one simulator of the project: ``proofs_check`` and
``paper_repro`` measure with it and define no network of their own.

* stacks of R networks in batched tensors: :class:`MLPStack` (FFNN, docs/theory.md §1)
  and :class:`ResNetStack` (one-layer-branch ResNet, §6), with scores, global masks,
  critical sparsity and the rescaling trick from :mod:`eoc.nn.functional`
  (``batch_dims=1``) and :meth:`~MLPStack.to_module` to get replica r as an
  :mod:`eoc.nn` model;
* :func:`streamed_forward_stats`: forward statistics of fresh networks in O(R N^2) memory;
* per-network statistics (:mod:`eoc.sim.stats`);
* synthetic inputs (:mod:`eoc.sim.inputs`).

Default dtype is float64, so that measured quantities are limited by sampling and not
by rounding; every function takes ``device`` (CPU or CUDA) and draws weights there.
"""

from ..nn import resolve_device
from ._stack import MLPStack, ResNetStack, Scores, device_generator, streamed_forward_stats
from .inputs import gaussian_inputs, gaussian_pair_inputs, random_labels
from .stats import mean_square, pair_correlations, perturbation_chi, score_shape, second_moments

__all__ = [
    "MLPStack",
    "ResNetStack",
    "Scores",
    "device_generator",
    "resolve_device",
    "streamed_forward_stats",
    "gaussian_inputs",
    "gaussian_pair_inputs",
    "random_labels",
    "second_moments",
    "pair_correlations",
    "mean_square",
    "perturbation_chi",
    "score_shape",
]
