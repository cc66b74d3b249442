r"""Layer-by-layer forward variances and backward gradient variances of a finite FFNN.

docs/theory.md §1 and §3; Schoenholz et al. (2017), section 4 (gradient
independence).  Network: input :math:`x\in\mathbb R^{N_0}` with
:math:`|x|^2/N_0 = q_{\rm in}`, weight layers :math:`l = 1..L` with
:math:`W^l \in \mathbb R^{N_l\times N_{l-1}}`, :math:`W^l_{ij}\sim\mathcal N(0, \sigma_{w,l}^2/N_{l-1})`,
:math:`B^l_i\sim\mathcal N(0,\sigma_{b,l}^2)`; :math:`y^1 = W^1x + B^1`,
:math:`y^l = W^l\phi(y^{l-1}) + B^l`; the last layer is the linear read-out.

Forward (infinite width):

.. math::

    q^1 = \sigma_{b,1}^2 + \sigma_{w,1}^2\,q_{\rm in},\qquad
    q^l = \sigma_{b,l}^2 + \sigma_{w,l}^2\,\mathbb E[\phi(\sqrt{q^{l-1}}Z)^2].

Backward, with :math:`\tilde q^l = \mathbb E[(\partial\mathcal L/\partial y^l_i)^2]` and the
gradient-independence approximation:

.. math::

    \tilde q^{l} = \tilde q^{l+1}\,\frac{N_{l+1}}{N_l}\,\sigma_{w,l+1}^2\,
        \mathbb E[\phi'(\sqrt{q^l}Z)^2],\qquad
    \mathbb E\Big[\Big(\frac{\partial\mathcal L}{\partial W^l_{ij}}\Big)^2\Big]
        = \tilde q^l\, m_{l-1},

where :math:`m_0 = q_{\rm in}` and :math:`m_{l-1} = \mathbb E[\phi(\sqrt{q^{l-1}}Z)^2]` is the
second moment of the layer's input.  Per-layer sigmas (e.g. effective sigmas of a
pruned network, :mod:`eoc._pruning`) are accepted as sequences of length L.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._activations import get_activation
from ._expect import Numerics, resolve_numerics
from ._maps import moment_array, variance_orbit
from ._validate import check_nonnegative, check_positive, check_squares_finite, check_widths

__all__ = ["LayerProfile", "gradient_variances", "per_layer"]


@dataclass(frozen=True)
class LayerProfile:
    """Per-layer mean-field profile of a network, index 0 = layer 1.

    Attributes
    ----------
    widths : tuple of int
        ``(N_0, ..., N_L)``.
    q : ndarray, shape (L,)
        Pre-activation variances :math:`q^l`.
    input_moment : ndarray, shape (L,)
        Second moment of each layer's input, :math:`m_{l-1}`.
    grad_q : ndarray, shape (L,)
        :math:`\\tilde q^l`, variance of the loss gradient w.r.t. the pre-activations.
    weight_grad : ndarray, shape (L,)
        :math:`\\mathbb E[(\\partial\\mathcal L/\\partial W^l_{ij})^2]`.
    chi : ndarray, shape (L - 1,)
        Backward factors :math:`\\sigma_{w,l+1}^2\\mathbb E[\\phi'(\\sqrt{q^l}Z)^2]`, l = 1..L-1.
    log_grad_q, log_weight_grad : ndarray, shape (L,)
        Natural logarithms of ``grad_q`` and ``weight_grad``, computed as sums of logs,
        so finite where the products leave the float64 range (a deep network in the
        ordered or chaotic phase: :math:`\\chi_1^{L}` under- or overflows); ``grad_q`` and
        ``weight_grad`` are then 0 or inf, and only the logs carry the ratios.
    """

    widths: tuple
    q: np.ndarray
    input_moment: np.ndarray
    grad_q: np.ndarray
    weight_grad: np.ndarray
    chi: np.ndarray
    log_grad_q: np.ndarray | None = field(default=None, repr=False)
    log_weight_grad: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        with np.errstate(divide="ignore"):
            if self.log_grad_q is None:
                object.__setattr__(self, "log_grad_q", np.log(np.asarray(self.grad_q, dtype=np.float64)))
            if self.log_weight_grad is None:
                object.__setattr__(self, "log_weight_grad", np.log(np.asarray(self.weight_grad, dtype=np.float64)))

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def chi_1_mean(self) -> float:
        """Geometric mean of the hidden-to-hidden backward factors: the network's :math:`\\chi_1`.

        The last factor (into the read-out) is left out when there is more than one.
        """
        hidden = self.chi[:-1] if self.chi.size > 1 else self.chi
        with np.errstate(divide="ignore"):
            return float(np.exp(np.mean(np.log(hidden))))


def per_layer(value, n_layers: int, name: str, *, positive: bool) -> np.ndarray:
    """Broadcast a scalar or a length-``n_layers`` sequence to shape ``(n_layers,)``."""
    arr = check_positive(value, name) if positive else check_nonnegative(value, name)
    if arr.ndim == 0:
        return np.full(n_layers, float(arr))
    if arr.shape != (n_layers,):
        raise ValueError(
            f"{name} must be a scalar or have one entry per weight layer ({n_layers}), "
            f"got shape {arr.shape}"
        )
    return arr.astype(np.float64)


def gradient_variances(
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    input_q: float = 1.0,
    output_grad: float = 1.0,
    numerics: Numerics | None = None,
) -> LayerProfile:
    r"""Forward variances and backward gradient variances of an FFNN (module docstring).

    Parameters
    ----------
    widths : sequence of int
        ``(N_0, N_1, ..., N_L)``: input dimension, hidden widths, output dimension.
    act : str or Activation
    sigma_w, sigma_b : float or sequence of L floats
        Per-layer weight/bias scales (a scalar applies to every layer).
    input_q : float
        :math:`|x|^2/N_0`.
    output_grad : float
        :math:`\tilde q^L`, the gradient variance at the output pre-activations; only
        ratios between layers are meaningful, so it defaults to 1.

    Returns
    -------
    LayerProfile

    Notes
    -----
    The forward recursion is one orbit of :func:`eoc._maps.variance_orbit`: quadrature
    at every layer up to depth 64, beyond it an interpolant of :math:`\mathbb E[\phi^2]`
    (relative error ~1e-16 over the quadrature), so depth :math:`10^5` takes a fraction
    of a second (``bench/bench_eoc_deep.py``).

    Raises
    ------
    ValueError
        Bad arguments, or "overflow" (naming the layer) when the forward variance
        leaves the float64 range.

    Examples
    --------
    On the EOC with equal widths the weight-gradient scale is flat in depth, in
    the ordered phase it vanishes towards the input (docs/theory.md §3).
    """
    widths = check_widths(widths)
    act = get_activation(act)
    num = resolve_numerics(numerics)
    n_layers = len(widths) - 1
    sw = check_squares_finite(per_layer(sigma_w, n_layers, "sigma_w", positive=True), "sigma_w")
    sb = check_squares_finite(per_layer(sigma_b, n_layers, "sigma_b", positive=False), "sigma_b")
    q_in = float(check_positive(input_q, "input_q"))
    out_grad = float(check_positive(output_grad, "output_grad"))

    moment = np.empty(n_layers)
    moment[0] = q_in
    with np.errstate(over="ignore"):
        q1 = sb[0] ** 2 + sw[0] ** 2 * q_in
    if not np.isfinite(q1):
        raise ValueError(f"overflow: the variance exceeds the float64 range at layer 1 (input_q={q_in!r})")
    # q^l = sb_l^2 + sw_l^2 E[phi(sqrt(q^{l-1}) Z)^2]: one orbit, an interpolant of E[phi^2] when deep.
    q = variance_orbit(act, num, q1, sw[1:] ** 2, sb[1:] ** 2, what="the forward variance")
    q = q[:n_layers]
    if n_layers > 1:
        moment[1:] = moment_array(act, num, q[:-1])
        d2 = moment_array(act, num, q[:-1], "deriv_moment2")
    else:
        d2 = np.empty(0)
    chi = sw[1:] ** 2 * d2
    # Backward, in logs: log qt^l = log qt^{l+1} + log(N_{l+2}/N_{l+1}) + log chi_l.
    w = np.asarray(widths, dtype=np.float64)
    with np.errstate(divide="ignore"):
        steps = np.log(w[2:] / w[1:-1]) + np.log(chi)
        log_grad = np.empty(n_layers)
        log_grad[-1] = np.log(out_grad)
        log_grad[:-1] = log_grad[-1] + np.cumsum(steps[::-1])[::-1]
        log_wg = log_grad + np.log(moment)
    with np.errstate(over="ignore", under="ignore"):
        grad_q, weight_grad = np.exp(log_grad), np.exp(log_wg)
    return LayerProfile(widths, q, moment, grad_q, weight_grad, chi, log_grad, log_wg)
