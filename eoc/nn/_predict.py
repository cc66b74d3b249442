r"""Theory straight from a model: predicted critical sparsity, keep fractions and collapse order.

Each function describes the model (:func:`eoc.nn.describe`), reads the activation and
the per-layer :math:`\sigma_w, \sigma_b` from the description (or takes them as
arguments), and calls the prediction of :mod:`eoc` (docs/theory.md §4) on the
resulting :class:`eoc.Architecture`; results are keyed by layer name.  The measured
counterparts, from the scores of an actual batch, are in
:mod:`eoc.nn` (critical sparsity of scores, :func:`eoc.nn.keep_fractions` of masks).

Where the description has notes (parts outside the theory: BatchNorm, attention,
grouped convolutions, non-Gaussian weights), every prediction warns with them
(:class:`eoc.TheoryCoverageWarning`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from torch import nn

from .. import _pruning
from .._arch import Architecture, warn_uncovered
from .._validate import check_int
from ._describe import activation_from_label, describe

__all__ = [
    "CollapsePrediction",
    "predict_collapse",
    "predict_critical_sparsity",
    "predict_keep_fractions",
    "collapse_order",
]


@dataclass(frozen=True)
class CollapsePrediction:
    """The predicted collapse of a model under global pruning, by layer name.

    Attributes
    ----------
    method : str
    s_cr, t_cr : float
        Predicted critical sparsity and threshold (:class:`eoc.CriticalSparsity`).
    first_layer : str
        Name of the layer predicted to be emptied first.
    collapse_order : tuple of str
        Layer names, the first to be emptied first.
    thresholds, scales : dict
        ``{name: value}``: predicted maximum score and score scale :math:`a_l` of each layer.
    architecture : eoc.Architecture
        The description the prediction was made from.
    model : str
        The score model used (:attr:`eoc.CriticalSparsity.model`): ``"finite"``, or ``"iid"``
        when asked for or when the finite model does not cover the architecture
        (docs/theory.md §8).
    """

    method: str
    s_cr: float
    t_cr: float
    first_layer: str
    collapse_order: tuple
    thresholds: dict
    scales: dict
    architecture: Architecture
    model: str


def _resolve(model, input_shape, activation, sigma_w, sigma_b, batch_size, kwargs, core, stacklevel):
    """The architecture, activation, sigmas and core keywords of a prediction from a model."""
    if isinstance(model, Architecture):
        arch = model
    elif isinstance(model, nn.Module):
        arch = describe(model, input_shape)
    else:
        raise ValueError(f"model must be a torch.nn.Module or an eoc.Architecture, got {type(model).__name__}")
    if activation is None:
        label = arch.activation
        if label is None:
            found = ", ".join(arch.activations) or "none"
            raise ValueError(f"activation=None but the model's activation cannot be read (found: {found}); pass activation=")
        activation = activation_from_label(label)
    sw = arch.sigma_w if sigma_w is None else sigma_w
    sb = arch.sigma_b if sigma_b is None else sigma_b
    for value, name in ((sw, "sigma_w"), (sb, "sigma_b")):
        if value is None:
            missing = [layer.name for layer in arch.layers if getattr(layer, name) is None]
            raise ValueError(f"{name}=None and the description has no {name} for layer(s) {missing}; pass {name}=")
    extra = dict(kwargs)
    if batch_size is not None:
        check_int(batch_size, "batch_size", minimum=1)
        # The infinite-batch predictor of eoc does not take a batch size; pass it where the core accepts one.
        if "batch_size" in inspect.signature(core).parameters:
            extra["batch_size"] = batch_size
    warn_uncovered(arch, stacklevel + 1)
    return arch, activation, sw, sb, extra


def predict_collapse(
    model: nn.Module | Architecture,
    method: str,
    *,
    input_shape: Sequence[int] | None = None,
    activation=None,
    batch_size: int | None = 128,
    sigma_w=None,
    sigma_b=None,
    **kwargs,
) -> CollapsePrediction:
    r"""Predicted critical sparsity, threshold and collapse order of ``model`` (:func:`eoc.critical_sparsity`).

    Parameters
    ----------
    model : nn.Module or eoc.Architecture
        A model (described with :func:`eoc.nn.describe`) or a description.
    method : {"random", "magnitude", "snip"}
        A method with a score law (:data:`eoc.THEORY_METHODS`).
    input_shape : sequence of int, optional
        Shape of one input, for :func:`eoc.nn.describe`.
    activation : str or eoc.Activation, optional
        Default: the activation recorded in the description (it must have exactly one).
    batch_size : int or None
        Size of the scoring batch, passed to the core predictor where it takes one.
    sigma_w, sigma_b : float or sequence of L floats, optional
        Default: the per-layer values inferred from the weights by :func:`eoc.nn.describe`.
    **kwargs
        Passed to :func:`eoc.critical_sparsity` (``input_q``, ``estimator``, ``numerics``, ...).

    Warns
    -----
    eoc.TheoryCoverageWarning
        If the description has notes (parts outside the theory).
    """
    core = _pruning.critical_sparsity
    arch, act, sw, sb, extra = _resolve(model, input_shape, activation, sigma_w, sigma_b, batch_size, kwargs, core, 2)
    res = core(method, arch, act, sw, sb, **extra)
    names = arch.names
    return CollapsePrediction(
        method,
        float(res.s_cr),
        float(res.t_cr),
        names[res.first_layer],
        tuple(names[i] for i in res.collapse_order),
        dict(zip(names, np.asarray(res.thresholds, dtype=float).tolist())),
        dict(zip(names, np.asarray(res.scales, dtype=float).tolist())),
        arch,
        str(res.model),
    )


def predict_critical_sparsity(
    model: nn.Module | Architecture,
    method: str,
    *,
    input_shape: Sequence[int] | None = None,
    activation=None,
    batch_size: int | None = 128,
    sigma_w=None,
    sigma_b=None,
    **kwargs,
) -> float:
    r"""Predicted critical sparsity :math:`s_{cr}` of ``model`` (docs/theory.md §4).

    Arguments as for :func:`predict_collapse`.  With the same architecture and
    initialization it equals :func:`eoc.predict_critical_sparsity` from widths.

    Examples
    --------
    >>> import eoc, eoc.nn, torch
    >>> model = eoc.nn.FFNN([784] + [100] * 20 + [10], "tanh")
    >>> _ = eoc.nn.init_edge_of_chaos_(model, "tanh", 0.2, generator=torch.Generator().manual_seed(0))
    >>> eoc.nn.predict_critical_sparsity(model, "snip") > 0.95
    True
    """
    return predict_collapse(
        model, method, input_shape=input_shape, activation=activation, batch_size=batch_size, sigma_w=sigma_w,
        sigma_b=sigma_b, **kwargs,
    ).s_cr  # fmt: skip


def predict_keep_fractions(
    model: nn.Module | Architecture,
    method: str,
    sparsity,
    *,
    input_shape: Sequence[int] | None = None,
    activation=None,
    batch_size: int | None = 128,
    sigma_w=None,
    sigma_b=None,
    **kwargs,
) -> dict:
    """Predicted kept fraction of every layer at global sparsity ``sparsity`` (:func:`eoc.predict_keep_fractions`).

    Returns
    -------
    dict
        ``{layer name: keep fraction}``: floats for a scalar ``sparsity``, arrays of
        ``np.shape(sparsity)`` otherwise.  Other arguments as for :func:`predict_collapse`.
    """
    core = _pruning.predict_keep_fractions
    arch, act, sw, sb, extra = _resolve(model, input_shape, activation, sigma_w, sigma_b, batch_size, kwargs, core, 2)
    keep = np.asarray(core(method, sparsity, arch, act, sw, sb, **extra))
    if keep.ndim == 1:
        return {name: float(k) for name, k in zip(arch.names, keep)}
    return {name: keep[..., i] for i, name in enumerate(arch.names)}


def collapse_order(
    model: nn.Module | Architecture,
    method: str,
    *,
    input_shape: Sequence[int] | None = None,
    activation=None,
    batch_size: int | None = 128,
    sigma_w=None,
    sigma_b=None,
    **kwargs,
) -> tuple[str, ...]:
    """Layer names in the order global pruning is predicted to empty them (:func:`eoc.collapse_order`).

    Arguments as for :func:`predict_collapse`.
    """
    return predict_collapse(
        model, method, input_shape=input_shape, activation=activation, batch_size=batch_size, sigma_w=sigma_w,
        sigma_b=sigma_b, **kwargs,
    ).collapse_order  # fmt: skip
