r"""Gaussian initialization of every Linear/Conv layer, and on the edge of chaos.

docs/theory.md §1: :math:`W^l_{ij}\sim\mathcal N(0, \sigma_w^2/v_l)` with
:math:`v_l` the fan-in, :math:`B^l_i\sim\mathcal N(0, \sigma_b^2)`.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import Activation, edge_of_chaos, get_activation
from .._validate import check_nonnegative, check_positive
from ._layers import prunable_layers, refresh_weight, weight_param

__all__ = ["init_", "init_edge_of_chaos_"]


def _scalar(value, name: str, check) -> float:
    arr = check(value, name)
    if arr.ndim:
        raise ValueError(f"{name} must be a scalar, got {name}={value!r}")
    return float(arr)


def _normal_(tensor: torch.Tensor, std: float, generator: torch.Generator | None) -> None:
    device = generator.device if generator is not None else tensor.device
    sample = torch.randn(tensor.shape, generator=generator, device=device, dtype=tensor.dtype)
    tensor.copy_(sample * std)


@torch.no_grad()
def init_(
    model: nn.Module,
    act: str | Activation,
    sigma_w: float,
    sigma_b: float = 0.0,
    *,
    generator: torch.Generator | None = None,
) -> nn.Module:
    r"""Initialize every Linear/Conv layer of ``model`` in place; return ``model``.

    .. math::

        W_{ij}\sim\mathcal N\big(0, \sigma_w^2/v\big),\qquad B_i\sim\mathcal N(0, \sigma_b^2),

    with :math:`v` the fan-in: ``in_features``, or ``in_channels / groups`` times
    the kernel area.  BatchNorm and every other module are untouched.  Samples are
    drawn in the parameter's dtype on the generator's device (the parameter's
    device without a generator) and copied into the parameter, so the model keeps
    its device and dtype.  A pruned layer's ``weight_orig`` is drawn (the mask stays).

    Parameters
    ----------
    model : nn.Module
    act : str or eoc.Activation
        The network's activation; validated with :func:`eoc.get_activation` and
        otherwise unused (the signature matches :func:`init_edge_of_chaos_`).
    sigma_w : float
        > 0.
    sigma_b : float
        >= 0.
    generator : torch.Generator, optional
        Source of randomness (layers in module order, weight then bias).
    """
    get_activation(act)
    sigma_w = _scalar(sigma_w, "sigma_w", check_positive)
    sigma_b = _scalar(sigma_b, "sigma_b", check_nonnegative)
    for _, module in prunable_layers(model):
        weight = weight_param(module)
        _normal_(weight, sigma_w / weight[0].numel() ** 0.5, generator)
        if module.bias is not None:
            _normal_(module.bias, sigma_b, generator)
        refresh_weight(module)
    return model


def init_edge_of_chaos_(
    model: nn.Module,
    act: str | Activation,
    sigma_b: float = 0.0,
    *,
    q0: float = 1.0,
    generator: torch.Generator | None = None,
) -> nn.Module:
    r""":func:`init_` with :math:`\sigma_w` = :func:`eoc.edge_of_chaos` ``(act, sigma_b, q0=q0)``.

    The choice is recorded as ``model.eoc_init = {"act": label, "sigma_w": ...,
    "sigma_b": ...}``.  For tanh at sigma_b = 0.2, sigma_w = 1.3041458....

    Raises
    ------
    ValueError
        Where ``act`` has no valid edge of chaos at ``sigma_b`` (docs/theory.md §2):
        ReLU has one only at sigma_b = 0 (sigma_w = sqrt 2); GELU and SiLU with small
        sigma_b reach chi_1 = 1 only at an *unstable* variance fixed point, so a network
        initialized there would not stay at it (GELU at sigma_b = 0.1: the variance
        grows without bound).  The model is left untouched.

    Notes
    -----
    The EOC is a property of the infinite-width FFNN with that activation
    (docs/theory.md §2); for ResNets and BatchNorm networks it is the customary
    choice of the weight scale, not a statement about their phase.
    """
    sigma_b = _scalar(sigma_b, "sigma_b", check_nonnegative)
    q0 = _scalar(q0, "q0", check_positive)
    sigma_w = float(edge_of_chaos(act, sigma_b, q0=q0))  # refuses unstable EOC points
    init_(model, act, sigma_w, sigma_b, generator=generator)
    model.eoc_init = {"act": get_activation(act).label, "sigma_w": sigma_w, "sigma_b": sigma_b}
    return model
