r"""Architectures as the pruning theory sees them: fan-ins, weight counts, and layer profiles.

Three kinds (THEORY.md section 1), each a sequence of L weight layers:

* ``"ffnn"``: ``widths = (N_0, ..., N_L)``; layer l is dense :math:`N_{l-1}\to N_l`,
  fan-in :math:`v_l = N_{l-1}`, :math:`M_l = N_{l-1}N_l` weights.
* ``"cnn"``: ``widths`` are channel counts with a dense read-out last; conv layer l has
  fan-in :math:`v_l = n_{l-1}k^2` and :math:`M_l = n_{l-1}n_l k^2` weights (the
  mean-field maps are those of the FFNN with these fan-ins; boundary effects of
  padding and pooling are ignored).
* ``"resnet"``: ``widths = (d, N, ..., N, out)``: a dense input projection, then
  ``len(widths) - 3`` one-layer residual branches :math:`N\to N` scaled by
  :math:`\alpha` (standard 1, Stable :math:`1/\sqrt L`), then a dense read-out.

:func:`layer_profile` gives, per weight layer, the forward variance entering it,
its gradient variance and :math:`\mathbb E[(\partial\mathcal L/\partial W^l_{ij})^2]`, from which
the score laws of :mod:`eoc._pruning` take their scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._expect import Numerics, resolve_numerics
from ._maps import parse_params
from ._propagation import LayerProfile, gradient_variances, per_layer
from ._resnet import resolve_alpha
from ._validate import check_int, check_positive, check_widths

__all__ = ["Architecture", "as_architecture", "layer_profile", "ARCH_KINDS"]

ARCH_KINDS = ("ffnn", "cnn", "resnet")


@dataclass(frozen=True)
class Architecture:
    """Weight-layer shapes of a network.

    Attributes
    ----------
    kind : {"ffnn", "cnn", "resnet"}
    widths : tuple of int
        ``(N_0, ..., N_L)`` (channels for a CNN).
    kernel_sizes : tuple of int
        Kernel size of each weight layer (1 for dense layers).
    alpha : float or None
        Residual branch scale (ResNets only).
    """

    kind: str
    widths: tuple
    kernel_sizes: tuple
    alpha: float | None = None

    @property
    def depth(self) -> int:
        """Number of weight layers L."""
        return len(self.widths) - 1

    @property
    def fan_in(self) -> np.ndarray:
        k = np.asarray(self.kernel_sizes, dtype=np.float64)
        return np.asarray(self.widths[:-1], dtype=np.float64) * k * k

    @property
    def n_weights(self) -> np.ndarray:
        """Weights per layer :math:`M_l`."""
        return self.fan_in * np.asarray(self.widths[1:], dtype=np.float64)

    @property
    def residual(self) -> np.ndarray:
        """Boolean mask of the residual-branch layers."""
        mask = np.zeros(self.depth, dtype=bool)
        if self.kind == "resnet":
            mask[1:-1] = True
        return mask

    def describe(self) -> str:
        if self.kind == "resnet":
            return (
                f"resnet: {self.widths[0]} -> {self.widths[1]}, {self.depth - 2} residual layers "
                f"(alpha={self.alpha:.4g}), -> {self.widths[-1]}"
            )
        return f"{self.kind}: " + "-".join(str(w) for w in self.widths)


def as_architecture(widths, arch: str = "ffnn", *, alpha=None, kernel_size: int = 3) -> Architecture:
    """Build an :class:`Architecture` (or return one given as ``widths``).

    Raises
    ------
    ValueError
        Fewer than two widths, non-positive widths, unknown ``arch``, ``alpha <= 0``,
        ``alpha`` given for a non-residual network, unequal ResNet hidden widths.
    """
    if isinstance(widths, Architecture):
        return widths
    if arch not in ARCH_KINDS:
        raise ValueError(f"arch must be one of {ARCH_KINDS}, got arch={arch!r}")
    widths = check_widths(widths)
    L = len(widths) - 1
    if arch == "ffnn":
        if alpha is not None:
            raise ValueError(f"alpha={alpha!r} is only meaningful for arch='resnet'")
        return Architecture("ffnn", widths, (1,) * L)
    if arch == "cnn":
        if alpha is not None:
            raise ValueError(f"alpha={alpha!r} is only meaningful for arch='resnet'")
        k = check_int(kernel_size, "kernel_size", minimum=1)
        return Architecture("cnn", widths, (k,) * (L - 1) + (1,))
    if L < 3:
        raise ValueError(
            f"a resnet needs widths (input, N, ..., N, output) with at least one residual layer, got {widths!r}"
        )
    hidden = widths[1:-1]
    if len(set(hidden)) != 1:
        raise ValueError(f"resnet hidden widths must be equal, got {hidden!r}")
    n_res = L - 2
    a = resolve_alpha(1.0 if alpha is None else alpha, n_res)
    return Architecture("resnet", widths, (1,) * L, a)


def layer_profile(
    arch: Architecture, act, sigma_w, sigma_b, *, input_q: float = 1.0, numerics: Numerics | None = None
) -> LayerProfile:
    r"""Per-weight-layer mean-field profile (forward variance, gradient variance, weight gradients).

    For FFNNs and CNNs this is :func:`eoc._propagation.gradient_variances`.  For
    ResNets (input projection, residual branches, read-out) the residual stream
    follows :mod:`eoc._resnet`, and the weight gradient of a branch carries the
    factor :math:`\alpha^2`: :math:`\partial\mathcal L/\partial W^l_{ij} = \alpha\,\delta^l_i\,\phi(y^{l-1}_j)`.
    """
    if arch.kind != "resnet":
        return gradient_variances(arch.widths, act, sigma_w, sigma_b, input_q=input_q, numerics=numerics)
    act, _, _ = parse_params(act, 1.0, 0.0)
    num = resolve_numerics(numerics)
    L = arch.depth
    sw = per_layer(sigma_w, L, "sigma_w", positive=True)
    sb = per_layer(sigma_b, L, "sigma_b", positive=False)
    q_in = float(check_positive(input_q, "input_q"))
    a2 = arch.alpha**2
    n_res = L - 2
    # Residual stream variances y^0 (after the projection) .. y^{n_res}.
    stream = np.empty(n_res + 1)
    stream[0] = sb[0] ** 2 + sw[0] ** 2 * q_in
    for l in range(1, n_res + 1):
        stream[l] = stream[l - 1] + a2 * (sb[l] ** 2 + sw[l] ** 2 * num.moment2(act, stream[l - 1]))
    out_q = sb[-1] ** 2 + sw[-1] ** 2 * num.moment2(act, stream[-1])
    # Gradients: read-out pre-activation has qt = 1; the stream's last layer gets
    # (N_out / N) sw_L^2 E[phi'^2]; each branch multiplies by 1 + a^2 sw^2 E[phi'^2].
    n, n_out = arch.widths[1], arch.widths[-1]
    d2 = num.deriv_moment2(act, stream)
    grad_stream = np.empty(n_res + 1)
    grad_stream[-1] = (n_out / n) * sw[-1] ** 2 * d2[-1]
    for l in range(n_res, 0, -1):
        grad_stream[l - 1] = grad_stream[l] * (1.0 + a2 * sw[l] ** 2 * d2[l - 1])
    m_stream = num.moment2(act, stream)
    q = np.concatenate([[stream[0]], stream[1:], [out_q]])  # pre-activation produced by each layer
    moment = np.concatenate([[q_in], m_stream])  # second moment of each layer's input
    grad_q = np.concatenate([grad_stream, [1.0]])  # gradient variance at each layer's output
    branch = np.concatenate([[1.0], np.full(n_res, a2), [1.0]])
    chi = sw[1:] ** 2 * d2  # backward factors of phi between layers
    return LayerProfile(arch.widths, q, moment, grad_q, branch * grad_q * moment, chi)
