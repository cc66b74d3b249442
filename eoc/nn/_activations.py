"""Torch modules for the activations of :mod:`eoc`, by the same names and parameters.

``torch_activation(name, **params)`` validates ``name`` and ``params`` with
:func:`eoc.get_activation`, so a network built from a name is exactly the network
whose mean-field maps ``eoc`` computes for that name (tested pointwise).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import Activation, get_activation

__all__ = ["torch_activation", "Erf", "ScaledSiLU", "ACTIVATION_MODULES"]


class Erf(nn.Module):
    r"""The error function :math:`\operatorname{erf}(x)` as a module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class ScaledSiLU(nn.Module):
    r"""Swish :math:`x\,\sigma(\beta x)` (``nn.SiLU`` is the case :math:`\beta = 1`)."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.beta * x)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


#: Module types that :func:`torch_activation` builds (plus common torch activations):
#: the elementwise nonlinearities SynFlow linearizes.
ACTIVATION_MODULES = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.Tanh,
    Erf,
    nn.Sigmoid,
    nn.Softplus,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    ScaledSiLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.Mish,
)


def torch_activation(name: str | Activation, **params) -> nn.Module:
    """A fresh ``nn.Module`` computing the activation ``name`` of :mod:`eoc`.

    Parameters
    ----------
    name : str or eoc.Activation
        A name of :func:`eoc.available_activations` (or an alias), or an
        :class:`eoc.Activation` of the registry (with its parameters).
    **params
        As for :func:`eoc.get_activation`: ``leaky_relu(negative_slope=0.01)``,
        ``softplus(beta=1)``, ``elu(alpha=1)``, ``gelu(approximate="none"|"tanh")``,
        ``silu(beta=1)``.

    Raises
    ------
    ValueError
        Unknown name or parameter, or a user-defined activation (a callable, or an
        Activation made from one), which has no torch counterpart.

    Notes
    -----
    ``nn.Softplus`` returns x itself where ``beta * x > 20``; the difference from
    ``log(1 + exp(beta x)) / beta`` there is below ``exp(-20) / beta``.
    """
    act = get_activation(name, **params)
    p = dict(act.params)
    if not isinstance(name, str) and _registered(act) != act:
        raise ValueError(f"activation {act.label!r} is user-defined and has no torch module")
    builders = {
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(p.get("negative_slope", 0.01)),
        "linear": lambda: nn.Identity(),
        "tanh": lambda: nn.Tanh(),
        "erf": lambda: Erf(),
        "sigmoid": lambda: nn.Sigmoid(),
        "softplus": lambda: nn.Softplus(beta=p["beta"]),
        "elu": lambda: nn.ELU(alpha=p["alpha"]),
        "selu": lambda: nn.SELU(),
        "gelu": lambda: nn.GELU(approximate=p.get("approximate", "none")),
        "silu": lambda: nn.SiLU() if p.get("beta", 1.0) == 1.0 else ScaledSiLU(p["beta"]),
    }
    if act.name not in builders:
        raise ValueError(f"activation {act.label!r} has no torch module; use one of {', '.join(builders)}")
    return builders[act.name]()


def _registered(act: Activation) -> Activation | None:
    """The registry activation of the same name and parameters, if there is one."""
    try:
        return get_activation(act.name, **dict(act.params))
    except ValueError:
        return None
