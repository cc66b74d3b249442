r"""The theory of pruning at initialization: score laws, critical sparsity, keep fractions,
the effective variance of a pruned network, and the rescaling factor.

THEORY.md sections 4-5; Hayou et al. (2021), sections 2-3.

Score model
-----------
The scores of weight layer l are modelled as iid :math:`a_l G` with a fixed law G
(:mod:`eoc._laws`) and a per-layer scale:

=============  =======================  =============================================================
method         law G                    scale :math:`a_l`
=============  =======================  =============================================================
``random``     Uniform(0, 1)            1
``magnitude``  :math:`|Z|`              :math:`\sigma_{w,l}/\sqrt{v_l}`
``snip``       :math:`|Z_1Z_2|`         :math:`(\sigma_{w,l}/\sqrt{v_l})\,\sqrt{\mathbb E[(\partial\mathcal L/\partial W^l_{ij})^2]}`
=============  =======================  =============================================================

Approximations used (say which, since these are predictions, not theorems):

* **magnitude**: exact law at initialization (Gaussian weights); only the
  extreme-value step below is approximate.
* **snip**: *gradient independence* (Schoenholz et al. 2017): the gradient
  :math:`\partial\mathcal L/\partial W^l_{ij}` is treated as Gaussian and independent of
  :math:`W^l_{ij}`, with the variance of the mean-field backward map
  (:mod:`eoc._propagation`, :mod:`eoc._arch`).  For a batch the gradient is an
  average over examples; being a sum, it is closer to Gaussian, so :math:`|W g|` is
  still :math:`\propto|Z_1Z_2|`, and cross-example covariances of the output
  gradient vanish for balanced labels, so the ratios :math:`a_l/a_{l'}` do not
  depend on the batch size.
* **random**: exact.

Critical sparsity: with :math:`M_l` weights in layer l, :math:`M = \sum_l M_l`, the
CDF F and quantile function Q of G, and :math:`s(t) = \frac1M\sum_l M_l F(t/a_l)` the
fraction of scores below t, THEORY.md's extreme-value estimate is

.. math::

    t_{cr} \approx \min_l a_l\,Q(1 - 1/M_l),\qquad s_{cr} \approx s(t_{cr})
    \qquad (\texttt{estimator="extreme_value"}).

The default ``estimator="expected"`` computes instead the exact expectation of the
empirical :math:`s_{cr}` under the iid model: :math:`t_{cr}` is the minimum over
layers of independent layer maxima, :math:`P(t_{cr} > t) = \prod_l (1 - F(t/a_l)^{M_l})`,
and :math:`\mathbb E[s(t_{cr})] = \int_0^\infty s'(t)\,P(t_{cr} > t)\,dt`.  The
extreme-value estimate uses the mode-like value :math:`Q(1 - 1/M)` of a maximum
instead of its mean (which is larger by about Euler's constant times the Gumbel
scale), and is biased low: by 0.004-0.007 for magnitude pruning of the
784-100x(L-1)-10 FFNN (0.9395 vs 0.9436 at L = 10; measured 0.9431-0.9450).

and the keep fraction of layer l at global sparsity s is :math:`P(a_l G > t(s))` with
:math:`\sum_l M_l P(a_l G \le t) = sM`.  Only the ratios of the :math:`a_l` matter.

Effective variance after pruning (THEORY.md section 5):
:math:`\sigma_{w,\rm eff}^2 = \sigma_w^2\,\mathbb E[Z^2\,\mathbf 1\{\text{kept}\}]`, i.e.
:math:`k\sigma_w^2` for random pruning, :math:`\sigma_w^2(k + 2\tau\varphi(\tau))`,
:math:`\tau = \Phi^{-1}(1-k/2)`, for magnitude pruning, and for SNIP (under the
model above) :math:`\sigma_w^2\,\mathbb E[Z_1^2;\,|Z_1Z_2| > Q_{|Z_1Z_2|}(1-k)]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._arch import Architecture, as_architecture, layer_profile
from ._expect import Numerics, resolve_numerics
from ._laws import law_for_method
from ._phase import PHASE_TOL, PHASES
from ._propagation import per_layer
from ._roots import solve_bracketed
from ._validate import check_closed_interval, check_positive, check_sparsity

__all__ = [
    "THEORY_METHODS",
    "score_scales",
    "CriticalSparsity",
    "ESTIMATORS",
    "critical_sparsity_from_scales",
    "keep_fractions_from_scales",
    "critical_sparsity",
    "predict_critical_sparsity",
    "predict_keep_fractions",
    "collapse_order",
    "effective_sigma_w",
    "rescale_factor",
    "PrunedNetwork",
    "post_pruning_phase",
]

#: Methods with a score law (GraSP and SynFlow have none here; see eoc.nn).
THEORY_METHODS = ("random", "magnitude", "snip")


def _check_method(method: str) -> str:
    if method not in THEORY_METHODS:
        raise ValueError(f"unknown pruning method {method!r} for the theory; choose from {THEORY_METHODS}")
    return method


def score_scales(
    method: str,
    arch: Architecture,
    act,
    sigma_w,
    sigma_b,
    *,
    input_q: float = 1.0,
    numerics: Numerics | None = None,
) -> np.ndarray:
    """Per-layer scales :math:`a_l` of the score model (module table); shape (L,)."""
    _check_method(method)
    L = arch.depth
    if method == "random":
        return np.ones(L)
    sw = per_layer(sigma_w, L, "sigma_w", positive=True)
    weight_sd = sw / np.sqrt(arch.fan_in)
    if method == "magnitude":
        return weight_sd
    prof = layer_profile(arch, act, sigma_w, sigma_b, input_q=input_q, numerics=numerics)
    return weight_sd * np.sqrt(prof.weight_grad)


@dataclass(frozen=True)
class CriticalSparsity:
    """Predicted critical sparsity and the extreme-value thresholds behind it.

    Attributes
    ----------
    method : str
    s_cr : float
        Largest global sparsity at which no layer is fully pruned (prediction).
    t_cr : float
        The critical threshold: :math:`\\min_l a_l Q(1 - 1/M_l)` (extreme-value
        estimator) or its expectation (expected estimator).
    first_layer : int
        Index (0 = first weight layer) of the layer that collapses first.
    thresholds : ndarray
        :math:`a_l Q(1 - 1/M_l)`, the predicted maximum score of each layer.
    scales, n_weights : ndarray
        :math:`a_l` and :math:`M_l`.
    """

    method: str
    s_cr: float
    t_cr: float
    first_layer: int
    thresholds: np.ndarray
    scales: np.ndarray
    n_weights: np.ndarray

    @property
    def collapse_order(self) -> tuple[int, ...]:
        """Layer indices, the first to be fully pruned first."""
        return tuple(int(i) for i in np.argsort(self.thresholds, kind="stable"))


ESTIMATORS = ("expected", "extreme_value")
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_PANELS = 16


def _expected_scr(law, a: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    r"""E[s(t_cr)] and E[t_cr] under the iid model (module docstring), by Gauss-Legendre panels.

    The integrand lives where :math:`P(t_{cr} > t)` falls from 1 to 0: between
    :math:`\min_l a_l Q(1 - 40/M_l)` (every layer's maximum is above it with
    probability :math:`> 1 - e^{-40}`) and :math:`\min_l a_l Q(1 - 10^{-8}/M_l)`.
    """
    total = np.sum(m)
    lo = float(np.min(a * law.isf(np.minimum(40.0 / m, 0.5))))
    hi = float(np.min(a * law.isf(1e-8 / m)))
    edges = np.linspace(lo, hi, _PANELS + 1)
    half = 0.5 * np.diff(edges)
    t = (0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * _GL_NODES[None, :]
    w = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    t = t.ravel()
    x = t[:, None] / a[None, :]
    log_f_m = m * np.log1p(-law.sf(x))  # log F^M, accurate when F is near 1
    survival = np.prod(-np.expm1(log_f_m), axis=1)  # P(t_cr > t)
    ds = np.sum(m * law.pdf(x) / a, axis=1) / total  # s'(t)
    s_lo = float(np.sum(m * law.cdf(lo / a)) / total)
    return s_lo + float(np.sum(w * ds * survival)), lo + float(np.sum(w * survival))


def critical_sparsity_from_scales(method: str, scales, n_weights, *, estimator: str = "expected") -> CriticalSparsity:
    r"""Predicted s_cr from explicit scales :math:`a_l` and sizes :math:`M_l` (module docstring).

    Invariant under ``scales -> lambda * scales`` for any :math:`\lambda > 0`.
    ``estimator`` is ``"expected"`` (exact expectation under the iid score model,
    default) or ``"extreme_value"`` (THEORY.md's estimate).
    """
    law = law_for_method(_check_method(method))
    a = check_positive(scales, "scales").reshape(-1)
    m = check_positive(n_weights, "n_weights").reshape(-1)
    if a.shape != m.shape:
        raise ValueError(f"scales and n_weights must have one entry per layer, got {a.shape} and {m.shape}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got estimator={estimator!r}")
    thresholds = a * law.isf(1.0 / m)
    first = int(np.argmin(thresholds))
    if estimator == "extreme_value":
        t_cr = float(thresholds[first])
        s_cr = float(np.sum(m * law.cdf(t_cr / a)) / np.sum(m))
    else:
        s_cr, t_cr = _expected_scr(law, a, m)
    return CriticalSparsity(method, s_cr, t_cr, first, thresholds, a, m)


def keep_fractions_from_scales(method: str, sparsity, scales, n_weights) -> np.ndarray:
    """Per-layer keep fractions :math:`P(a_l G > t(s))` at global sparsity ``s``.

    Returns an array of shape ``np.shape(sparsity) + (L,)``; the size-weighted mean of
    each row is ``1 - s`` (to the root finder's tolerance).
    """
    law = law_for_method(_check_method(method))
    s = check_sparsity(sparsity)
    a = check_positive(scales, "scales").reshape(-1)
    m = check_positive(n_weights, "n_weights").reshape(-1)
    total = np.sum(m)
    flat = s.reshape(-1)

    def excess(t, s_):
        return np.sum(m * law.cdf(t[..., None] / a), axis=-1) / total - s_

    hi = np.max(a) * law.isf(np.maximum((1.0 - flat) * 1e-3, 1e-300))
    t = np.zeros(flat.size)
    pos = flat > 0
    if pos.any():
        t[pos] = solve_bracketed(excess, np.zeros(pos.sum()), hi[pos], (flat[pos],))
    keep = law.sf(t[:, None] / a)
    return keep.reshape(s.shape + (a.size,))


def _setup(method, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics):
    _check_method(method)
    architecture = as_architecture(widths, arch, alpha=alpha, kernel_size=kernel_size)
    scales = score_scales(method, architecture, act, sigma_w, sigma_b, input_q=input_q, numerics=numerics)
    return architecture, scales


def critical_sparsity(
    method: str,
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    arch: str = "ffnn",
    alpha=None,
    kernel_size: int = 3,
    input_q: float = 1.0,
    estimator: str = "expected",
    numerics: Numerics | None = None,
) -> CriticalSparsity:
    """Full prediction (:class:`CriticalSparsity`) for a network and initialization.

    Parameters
    ----------
    method : {"random", "magnitude", "snip"}
    widths : sequence of int or Architecture
        Input dimension, every hidden width, output dimension (channels for a CNN).
    act, sigma_w, sigma_b
        Activation and initialization (sigmas may be per-layer sequences).
    arch : {"ffnn", "cnn", "resnet"}
    alpha : float or {"standard", "stable"}, optional
        Residual branch scale (ResNets only; default 1).
    kernel_size : int
        CNN kernel size.
    input_q : float
        :math:`|x|^2/d` of the inputs.
    estimator : {"expected", "extreme_value"}
        See :func:`critical_sparsity_from_scales`.
    """
    architecture, scales = _setup(method, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics)
    return critical_sparsity_from_scales(method, scales, architecture.n_weights, estimator=estimator)


def predict_critical_sparsity(
    method: str,
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    arch: str = "ffnn",
    alpha=None,
    kernel_size: int = 3,
    input_q: float = 1.0,
    estimator: str = "expected",
    numerics: Numerics | None = None,
) -> float:
    r"""Predicted critical sparsity :math:`s_{cr}` (module docstring; THEORY.md section 4).

    Examples
    --------
    SNIP on a deep tanh FFNN keeps :math:`s_{cr}` near 1 on the edge of chaos and lets
    it fall with depth off it:

    >>> import eoc
    >>> w = [784] + [100] * 50 + [10]
    >>> sw = float(eoc.edge_of_chaos("tanh", 0.2))
    >>> eoc.predict_critical_sparsity("snip", w, "tanh", sw, 0.2) > 0.9
    True
    """
    return critical_sparsity(
        method, widths, act, sigma_w, sigma_b, arch=arch, alpha=alpha, kernel_size=kernel_size, input_q=input_q,
        estimator=estimator, numerics=numerics,
    ).s_cr


def predict_keep_fractions(
    method: str,
    sparsity,
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    arch: str = "ffnn",
    alpha=None,
    kernel_size: int = 3,
    input_q: float = 1.0,
    numerics: Numerics | None = None,
) -> np.ndarray:
    """Predicted keep fraction of every weight layer at global sparsity ``sparsity``.

    Returns
    -------
    ndarray
        Shape ``np.shape(sparsity) + (L,)``; entries in [0, 1], size-weighted mean ``1 - s``.
    """
    architecture, scales = _setup(method, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics)
    return keep_fractions_from_scales(method, sparsity, scales, architecture.n_weights)


def collapse_order(
    method: str,
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    arch: str = "ffnn",
    alpha=None,
    kernel_size: int = 3,
    input_q: float = 1.0,
    numerics: Numerics | None = None,
) -> tuple[int, ...]:
    """Layer indices (0 = first weight layer) in the order global pruning empties them."""
    return critical_sparsity(
        method, widths, act, sigma_w, sigma_b, arch=arch, alpha=alpha, kernel_size=kernel_size, input_q=input_q,
        numerics=numerics,
    ).collapse_order


def _kept_second_moment(method: str, keep_fraction) -> np.ndarray:
    law = law_for_method(_check_method(method))
    k = check_closed_interval(keep_fraction, "keep_fraction", 0.0, 1.0)
    out = np.asarray(law.truncated_second_moment(law.isf(np.maximum(k, 1e-300))), dtype=np.float64)
    return np.where(k == 0, 0.0, np.where(k == 1, 1.0, out))


def effective_sigma_w(method: str, keep_fraction, sigma_w) -> np.ndarray:
    r""":math:`\sigma_{w,\rm eff} = \sigma_w\sqrt{\mathbb E[Z^2\mathbf 1\{\text{kept}\}]}` of a layer keeping ``keep_fraction``.

    random: :math:`\sqrt k\,\sigma_w`; magnitude: :math:`\sigma_w\sqrt{k + 2\tau\varphi(\tau)}`,
    :math:`\tau = \Phi^{-1}(1 - k/2)`; snip: under the product-normal model (module
    docstring).  Increasing in k, equal to ``sigma_w`` at k = 1.
    """
    sw = check_positive(sigma_w, "sigma_w")
    return sw * np.sqrt(_kept_second_moment(method, keep_fraction))


def rescale_factor(method: str, keep_fraction) -> np.ndarray:
    r"""Population rescaling factor :math:`\rho = \sigma_w/\sigma_{w,\rm eff}` (THEORY.md section 5).

    Multiplying the kept weights by :math:`\rho` restores the pre-pruning variance, so a
    network initialized on the EOC is back on it after pruning.  Infinite at k = 0.
    """
    m = _kept_second_moment(method, keep_fraction)
    with np.errstate(divide="ignore"):
        return np.where(m > 0, 1.0 / np.sqrt(np.where(m > 0, m, 1.0)), np.inf)


@dataclass(frozen=True)
class PrunedNetwork:
    """Mean-field state of a network after pruning at initialization (no rescaling).

    Attributes
    ----------
    method : str
    sparsity : float
    keep_fractions, sigma_w_eff, q : ndarray, shape (L,)
        Per weight layer: predicted keep fraction, effective weight scale, pre-activation variance.
    chi_1 : ndarray, shape (L - 1,)
        Per-layer backward factors :math:`\\sigma_{w,{\\rm eff},l+1}^2\\mathbb E[\\phi'(\\sqrt{q^l}Z)^2]`.
    chi_1_mean : float
        Their geometric mean over the hidden-to-hidden layers: the pruned network's
        :math:`\\chi_1`.
    phase : str
        ``"ordered"``, ``"edge_of_chaos"`` or ``"chaotic"`` from ``chi_1_mean``.
    """

    method: str
    sparsity: float
    keep_fractions: np.ndarray
    sigma_w_eff: np.ndarray
    q: np.ndarray
    chi_1: np.ndarray
    chi_1_mean: float
    phase: str


def post_pruning_phase(
    method: str,
    sparsity: float,
    widths,
    act,
    sigma_w,
    sigma_b,
    *,
    arch: str = "ffnn",
    alpha=None,
    kernel_size: int = 3,
    input_q: float = 1.0,
    tol: float = PHASE_TOL,
    numerics: Numerics | None = None,
) -> PrunedNetwork:
    """Where the pruned network sits relative to the EOC (THEORY.md section 5).

    Keep fractions from :func:`predict_keep_fractions`, effective scales from
    :func:`effective_sigma_w`, then the mean-field maps of the network with those
    scales.  A network initialized on the EOC lands in the ordered phase.
    """
    s = float(check_sparsity(sparsity))
    architecture, scales = _setup(method, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics)
    keep = keep_fractions_from_scales(method, s, scales, architecture.n_weights)
    sw = per_layer(sigma_w, architecture.depth, "sigma_w", positive=True)
    sw_eff = effective_sigma_w(method, keep, sw)
    if np.any(sw_eff == 0):
        i = int(np.flatnonzero(sw_eff == 0)[0])
        raise ValueError(f"layer {i} is fully pruned at sparsity={s!r}: the network computes a constant")
    prof = layer_profile(architecture, act, sw_eff, sigma_b, input_q=input_q, numerics=resolve_numerics(numerics))
    hidden = prof.chi[:-1] if prof.chi.size > 1 else prof.chi
    mean = float(np.exp(np.mean(np.log(hidden))))
    label = PHASES[0] if mean < 1 - tol else (PHASES[2] if mean > 1 + tol else PHASES[1])
    return PrunedNetwork(method, s, keep, sw_eff, prof.q, prof.chi, mean, label)

