r"""The theory of pruning at initialization: score laws, critical sparsity, keep fractions,
the effective variance of a pruned network, and the rescaling factor.

docs/theory.md §4-5 and §8; Hayou et al. (2021), sections 2-3.

Two score models
----------------
Every prediction takes ``model=``:

* ``"finite"`` (default) — the finite-width, batch-aware model of docs/theory.md §8
  (:mod:`eoc._finite`): SNIP scores of layer :math:`l` follow
  :class:`~eoc.LowRankProductNormal`, :math:`a_l|Z_1Z_2|\sqrt{V_l}` with
  :math:`V_l\sim\mathrm{Gamma}(n_l/2, n_l/2)`, where the scale :math:`a_l` and the effective
  rank :math:`n_l` of the layer's batch gradient are random, sampled for ``n_networks``
  virtual networks from low-dimensional Gram matrices of the gradients over the scoring
  batch of ``batch_size`` examples (cross-entropy, ``labels`` drawn uniformly or balanced),
  and the layer maxima follow the row model of :mod:`eoc._finite_laws`;
* ``"iid"`` — the paper's infinite-width model, below.

For ``magnitude`` and ``random`` pruning the scores are exactly iid at initialization
(Gaussian weights, independent uniforms), so both models coincide and are exact but for
the estimator.

The iid model
-------------
The scores of weight layer l are modelled as iid :math:`a_l G` with a fixed law G
(:mod:`eoc._laws`) and a per-layer scale:

=============  =======================  =============================================================
method         law G                    scale :math:`a_l`
=============  =======================  =============================================================
``random``     Uniform(0, 1)            1
``magnitude``  :math:`|Z|`              :math:`\sigma_{w,l}/\sqrt{v_l}`
``snip``       :math:`|Z_1Z_2|`         :math:`(\sigma_{w,l}/\sqrt{v_l})\,\sqrt{\mathbb E[(\partial\mathcal L/\partial W^l_{ij})^2]}`
=============  =======================  =============================================================

Approximations of the iid model for SNIP: *gradient independence* (Schoenholz et al. 2017)
— the gradient :math:`\partial\mathcal L/\partial W^l_{ij}` is Gaussian, independent of
:math:`W^l_{ij}` and of the other entries, with the variance of the mean-field backward
map (:mod:`eoc._propagation`, :mod:`eoc._arch`) — and the neglect of cross-example
covariances, so that the ratios :math:`a_l/a_{l'}` do not depend on the batch.  Measured
on finite networks both fail: docs/theory.md §8 and ``bench/validate_critical_sparsity.py``
give the numbers, and the finite model corrects them.

Critical sparsity: with :math:`M_l` weights in layer l, :math:`M = \sum_l M_l`, the
CDF F and quantile function Q of G, and :math:`s(t) = \frac1M\sum_l M_l F(t/a_l)` the
fraction of scores below t, the founding notes' extreme-value estimate (docs/theory.md §10) is

.. math::

    t_{cr} \approx \min_l a_l\,Q(1 - 1/M_l),\qquad s_{cr} \approx s(t_{cr})
    \qquad (\texttt{estimator="extreme_value"}).

The default ``estimator="expected"`` computes instead the exact expectation of
:math:`s(t_{cr})` under the iid model: :math:`t_{cr}` is the minimum over layers of
independent layer maxima, :math:`P(t_{cr} > t) = \prod_l (1 - F(t/a_l)^{M_l})`, and

.. math::

    \mathbb E[s(t_{cr})] = s(t_0) + \int_{t_0}^{t_1} s'(t)\,P(t_{cr} > t)\,dt,

integrated in :math:`\log t` (48 Gauss-Legendre panels of 32 nodes) between
:math:`t_0 = \min_l a_lQ(\epsilon^{1/M_l})` and :math:`t_1 = \min_l a_lQ(1 - \epsilon/M_l)`,
:math:`\epsilon = 10^{-17}`, outside which :math:`P(t_{cr}\le t_0)` and
:math:`P(t_{cr} > t_1)` are below :math:`L\epsilon` — so a one-layer network of M weights
gives :math:`M/(M+1)` to ~1e-12.  Identical layers are merged and the rest processed in
blocks, so time and memory are :math:`O(L)` (:math:`O(1)` for a network of identical
layers).  The extreme-value estimate uses the mode-like value :math:`Q(1 - 1/M)` of a
maximum instead of its mean and is biased low: by 0.004-0.007 for magnitude pruning of
the 784-100x(L-1)-10 FFNN.

The keep fraction of layer l at global sparsity s is :math:`P(a_l G > t(s))` with
:math:`\sum_l M_l P(a_l G \le t) = sM`.  Only the ratios of the :math:`a_l` matter.

Effective variance after pruning (docs/theory.md §5):
:math:`\sigma_{w,\rm eff}^2 = \sigma_w^2\,\mathbb E[Z^2\,\mathbf 1\{\text{kept}\}]`, i.e.
:math:`k\sigma_w^2` for random pruning, :math:`\sigma_w^2(k + 2\tau\varphi(\tau))`,
:math:`\tau = \Phi^{-1}(1-k/2)`, for magnitude pruning, and for SNIP (under the
product-normal law) :math:`\sigma_w^2\,\mathbb E[Z_1^2;\,|Z_1Z_2| > Q_{|Z_1Z_2|}(1-k)]`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._arch import Architecture, as_architecture, layer_profile
from ._expect import Numerics, resolve_numerics
from ._finite import FINITE_MODELS, LABELS, finite_critical_sparsity, finite_keep_fractions, simulate_virtual_networks
from ._laws import law_for_method
from ._phase import PHASE_TOL, PHASES
from ._propagation import per_layer
from ._roots import solve_bracketed
from ._validate import check_closed_interval, check_int, check_positive, check_sparsity, scalar_out

__all__ = [
    "THEORY_METHODS",
    "SCORE_MODELS",
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
#: Score models of the predictions: the finite-width batch-aware model and the paper's iid one.
SCORE_MODELS = FINITE_MODELS


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
    """Predicted critical sparsity, and the layer maxima behind it.

    Attributes
    ----------
    method : str
    s_cr : float
        Largest global sparsity at which no layer is fully pruned (prediction: the
        expectation of the empirical :math:`s_{cr}` under the model).
    t_cr : float
        The critical threshold: :math:`\\min_l a_l Q(1 - 1/M_l)` (extreme-value estimator),
        its expectation (expected estimator), or the geometric mean over the virtual
        networks (finite model), in the units of ``scales``.
    first_layer : int
        Index (0 = first weight layer) of the layer predicted to be emptied first: the
        smallest threshold (iid model), the most frequent first-emptied layer of the
        virtual networks (finite model).
    thresholds : ndarray
        The predicted maximum score of each layer: :math:`a_l Q(1 - 1/M_l)` (iid), the
        median over the virtual networks (finite).
    scales, n_weights : ndarray
        :math:`a_l` (the geometric mean over virtual networks for the finite model) and
        :math:`M_l`.
    model : {"finite", "iid"}
    batch_size : int or None
        The scoring batch of the finite model (None for the iid model).
    s_cr_se : float
        Monte-Carlo standard error of ``s_cr`` (0 for the iid model, a quadrature).
    ranks : ndarray or None
        Median effective rank :math:`n_l` of each layer's batch gradient (finite model).
    first_probabilities : ndarray or None
        Fraction of virtual networks whose first emptied layer is each layer (finite model).
    """

    method: str
    s_cr: float
    t_cr: float
    first_layer: int
    thresholds: np.ndarray
    scales: np.ndarray
    n_weights: np.ndarray
    model: str = "iid"
    batch_size: int | None = None
    s_cr_se: float = 0.0
    ranks: np.ndarray | None = None
    first_probabilities: np.ndarray | None = None

    @property
    def collapse_order(self) -> tuple[int, ...]:
        """Layer indices ordered by their predicted maximum score, the first to be emptied first."""
        return tuple(int(i) for i in np.argsort(self.thresholds, kind="stable"))


ESTIMATORS = ("expected", "extreme_value")
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(32)
_PANELS = 48
_EPS = 1e-17
_BLOCK = 256


def _unique_layers(a: np.ndarray, m: np.ndarray):
    """Distinct (a_l, M_l) pairs and their multiplicities (identical layers are merged)."""
    pairs, counts = np.unique(np.stack([a, m], axis=1), axis=0, return_counts=True)
    return pairs[:, 0], pairs[:, 1], counts.astype(np.float64)


def _expected_scr(law, a: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    r"""E[s(t_cr)] and E[t_cr] under the iid model (module docstring), in O(L) time and memory.

    Gauss-Legendre panels in :math:`\log t` between :math:`t_0 = \min_l a_l Q(\epsilon^{1/M_l})`
    and :math:`t_1 = \min_l a_l Q(1 - \epsilon/M_l)`; layers enter in blocks of 256
    distinct (scale, size) pairs, accumulating :math:`\log P(t_{cr} > t)` and :math:`s'(t)`.
    """
    au, mu, cu = _unique_layers(a, m)
    eps = _EPS / max(au.size, 1)
    lo = float(np.min(au * law.ppf(eps ** (1.0 / mu))))
    hi = float(np.min(au * law.isf(np.minimum(eps / mu, 0.5))))
    lo = lo if lo > 0 else hi * 1e-30
    edges = np.linspace(np.log(lo), np.log(hi), _PANELS + 1)
    half = 0.5 * np.diff(edges)
    x = ((0.5 * (edges[:-1] + edges[1:]))[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    t = np.exp(x)
    w = (half[:, None] * _GL_WEIGHTS[None, :]).ravel() * t  # dt = t dx
    log_surv = np.zeros_like(t)
    ds = np.zeros_like(t)
    s_lo = 0.0
    for b0 in range(0, au.size, _BLOCK):
        ab, mb, cb = au[b0 : b0 + _BLOCK], mu[b0 : b0 + _BLOCK], cu[b0 : b0 + _BLOCK]
        z = t[:, None] / ab[None, :]
        with np.errstate(divide="ignore"):
            log_f_m = mb * np.log1p(-law.sf(z))  # log F^M, accurate when F is near 1
            log_surv += np.log(-np.expm1(log_f_m)) @ cb  # log P(all maxima of these layers > t)
        ds += (law.pdf(z) / ab) @ (mb * cb)
        s_lo += float(np.sum(cb * mb * law.cdf(lo / ab)))
    total = float(np.sum(m))
    surv = np.exp(log_surv)
    return s_lo / total + float(np.sum(w * ds * surv)) / total, lo + float(np.sum(w * surv))


def _check_sizes(n_weights) -> np.ndarray:
    m = np.asarray(check_positive(n_weights, "n_weights")).reshape(-1)
    bad = (m < 1) | (m != np.round(m))
    if bad.any():
        raise ValueError(
            f"n_weights must hold positive integers (the number of weights of each layer), "
            f"got n_weights={float(m[bad][0])!r}"
        )
    return m


def critical_sparsity_from_scales(method: str, scales, n_weights, *, estimator: str = "expected") -> CriticalSparsity:
    r"""Predicted s_cr of the iid model from explicit scales :math:`a_l` and sizes :math:`M_l` (module docstring).

    Invariant under ``scales -> lambda * scales`` for any :math:`\lambda > 0`.
    ``estimator`` is ``"expected"`` (exact expectation under the iid score model,
    default) or ``"extreme_value"`` (the founding notes' estimate, docs/theory.md §10).  ``n_weights`` must be
    positive integers.
    """
    law = law_for_method(_check_method(method))
    a = check_positive(scales, "scales").reshape(-1)
    m = _check_sizes(n_weights)
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
    return CriticalSparsity(method, float(s_cr), float(t_cr), first, thresholds, a, m)


def keep_fractions_from_scales(method: str, sparsity, scales, n_weights) -> np.ndarray:
    """Per-layer keep fractions :math:`P(a_l G > t(s))` at global sparsity ``s``.

    Returns an array of shape ``np.shape(sparsity) + (L,)``; the size-weighted mean of
    each row is ``1 - s`` (to the root finder's tolerance).
    """
    law = law_for_method(_check_method(method))
    s = check_sparsity(sparsity)
    a = check_positive(scales, "scales").reshape(-1)
    m = _check_sizes(n_weights)
    if a.shape != m.shape:
        raise ValueError(f"scales and n_weights must have one entry per layer, got {a.shape} and {m.shape}")
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


def _finite_covers(arch: Architecture) -> bool:
    """Whether the finite model applies: a plain FFNN or CNN (no normalization), or a ResNet of
    one-layer branches without projection shortcuts (docs/theory.md §8).  Other graphs
    (BatchNorm, multi-layer blocks, shortcuts) get the iid model, and ``CriticalSparsity.model``
    says so."""
    if arch.batch_norm.any():
        return False
    if arch.kind == "resnet":
        return arch.n_blocks == arch.depth - 2 and "shortcut" not in arch.roles
    return arch.kind in ("ffnn", "cnn")


def _check_model(model, method, architecture, batch_size, labels, input_correlation, n_networks, seed) -> bool:
    """Validate the score-model options; True when the finite SNIP model applies."""
    if model not in FINITE_MODELS:
        raise ValueError(f"model must be one of {FINITE_MODELS}, got model={model!r}")
    check_int(batch_size, "batch_size", minimum=1)
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got labels={labels!r}")
    c = float(check_closed_interval(input_correlation, "input_correlation", 0.0, 1.0))
    if c >= 1.0:
        raise ValueError(f"input_correlation must lie in [0, 1), got input_correlation={input_correlation!r}")
    check_int(n_networks, "n_networks", minimum=2)
    check_int(seed, "seed", minimum=0)
    finite = model == "finite" and method == "snip" and _finite_covers(architecture)
    if finite and architecture.widths[-1] < 2:
        raise ValueError(
            f"the finite SNIP model scores with a softmax cross-entropy, whose gradient vanishes with a single "
            f"output; got {architecture.widths[-1]} output(s): use model='iid' or at least 2 outputs"
        )
    return finite


def _finite(architecture, act, sigma_w, sigma_b, input_q, numerics, batch_size, labels, input_correlation,
            n_networks, seed):
    return simulate_virtual_networks(
        architecture, act, sigma_w, sigma_b, batch_size=batch_size, input_q=float(check_positive(input_q, "input_q")),
        input_correlation=float(input_correlation), labels=labels, n_networks=n_networks, seed=seed,
        numerics=resolve_numerics(numerics),
    )


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
    image_size=None,
    input_q: float = 1.0,
    model: str = "finite",
    batch_size: int = 128,
    labels: str = "random",
    input_correlation: float = 0.0,
    n_networks: int = 128,
    seed: int = 0,
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
    image_size : int or (int, int), optional
        CNN input size (:func:`eoc.as_architecture`): the finite SNIP model then counts the
        ``B * H * W`` (example, position) samples of every convolution's gradient
        (docs/theory.md §8.6); None treats one position per example.
    input_q : float
        :math:`|x|^2/d` of the inputs.
    model : {"finite", "iid"}
        ``"finite"`` (default): the finite-width, batch-aware model of docs/theory.md §8;
        ``"iid"``: the paper's infinite-width model of iid scores (module docstring).  The
        two coincide for ``magnitude`` and ``random``, whose scores are exactly iid.  The
        finite model covers plain FFNNs and CNNs (no normalization) and ResNets of one-layer
        branches; other architectures (BatchNorm, multi-layer blocks, projection
        shortcuts) get the iid model, and the result's ``model`` is then ``"iid"``.
    batch_size : int
        Size of the scoring batch (finite SNIP model only; default 128).
    labels : {"random", "balanced"}
        Labels of the scoring batch: drawn uniformly at random, or each class equally
        often (finite SNIP model; cross-entropy loss averaged over the batch).
    input_correlation : float
        Mean pairwise correlation of the scoring inputs, in [0, 1) (0 for iid Gaussian
        inputs; finite SNIP model).
    n_networks : int
        Virtual networks of the finite model (Monte-Carlo error ~ n_networks^-1/2,
        reported as ``s_cr_se``).
    seed : int
        Seed of the finite model's sampling (the prediction is deterministic given it).
    estimator : {"expected", "extreme_value"}
        Estimator of the iid model (:func:`critical_sparsity_from_scales`); the finite model
        computes the expectation only.
    numerics : Numerics, optional
    """
    architecture = as_architecture(widths, arch, alpha=alpha, kernel_size=kernel_size, image_size=image_size)
    if _check_model(model, method, architecture, batch_size, labels, input_correlation, n_networks, seed):
        if estimator != "expected":
            raise ValueError(f"estimator={estimator!r} is only defined for model='iid'; the finite model is an expectation")
        vn = _finite(architecture, act, sigma_w, sigma_b, input_q, numerics, batch_size, labels, input_correlation,
                     n_networks, seed)
        est = finite_critical_sparsity(vn)
        return CriticalSparsity(
            method, float(est.s_cr), float(est.t_cr), int(np.argmax(est.first_probabilities)),
            est.thresholds, np.exp(np.mean(np.log(vn.scales), axis=0)), vn.n_weights, "finite", int(batch_size),
            float(est.s_cr_se), np.median(vn.ranks, axis=0), est.first_probabilities,
        )
    _, scales = _setup(method, architecture, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics)
    res = critical_sparsity_from_scales(method, scales, architecture.n_weights, estimator=estimator)
    uncovered = model == "finite" and method == "snip"  # the finite SNIP model does not cover this graph
    return replace(res, model="iid" if uncovered else model)


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
    image_size=None,
    input_q: float = 1.0,
    model: str = "finite",
    batch_size: int = 128,
    labels: str = "random",
    input_correlation: float = 0.0,
    n_networks: int = 128,
    seed: int = 0,
    estimator: str = "expected",
    numerics: Numerics | None = None,
) -> np.float64:
    r"""Predicted critical sparsity :math:`s_{cr}` (module docstring; docs/theory.md §4, §8).

    Keywords as in :func:`critical_sparsity`; the default is the finite-width,
    batch-aware model with a scoring batch of 128 (``model="iid"`` gives the paper's).

    Examples
    --------
    SNIP on a deep tanh FFNN keeps :math:`s_{cr}` near 1 on the edge of chaos and lets
    it fall with depth off it:

    >>> import eoc
    >>> w = [784] + [100] * 50 + [10]
    >>> sw = float(eoc.edge_of_chaos("tanh", 0.2))
    >>> eoc.predict_critical_sparsity("snip", w, "tanh", sw, 0.2) > 0.9
    np.True_

    A Stable ResNet keeps it above the standard ResNet:

    >>> w = [100] * 32 + [10]
    >>> std = eoc.predict_critical_sparsity("snip", w, "relu", 2**0.5, 0.0, arch="resnet")
    >>> stable = eoc.predict_critical_sparsity("snip", w, "relu", 2**0.5, 0.0, arch="resnet", alpha="stable")
    >>> bool(stable > std)
    True
    """
    return np.float64(critical_sparsity(
        method, widths, act, sigma_w, sigma_b, arch=arch, alpha=alpha, kernel_size=kernel_size, image_size=image_size,
        input_q=input_q, model=model, batch_size=batch_size, labels=labels, input_correlation=input_correlation,
        n_networks=n_networks, seed=seed, estimator=estimator, numerics=numerics,
    ).s_cr)


def _keep(method, sparsity, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, model, batch_size,
          labels, input_correlation, n_networks, seed, numerics, *, with_scr: bool = False, image_size=None):
    """(architecture, keep fractions) and, with ``with_scr``, the CriticalSparsity of the same model."""
    architecture = as_architecture(widths, arch, alpha=alpha, kernel_size=kernel_size, image_size=image_size)
    s = check_sparsity(sparsity)
    if _check_model(model, method, architecture, batch_size, labels, input_correlation, n_networks, seed):
        vn = _finite(architecture, act, sigma_w, sigma_b, input_q, numerics, batch_size, labels, input_correlation,
                     n_networks, seed)
        keep = finite_keep_fractions(vn, s.reshape(-1)).reshape(s.shape + (architecture.depth,))
        if not with_scr:
            return architecture, keep, None
        est = finite_critical_sparsity(vn)
        res = CriticalSparsity(method, float(est.s_cr), float(est.t_cr), int(np.argmax(est.first_probabilities)),
                               est.thresholds, np.exp(np.mean(np.log(vn.scales), axis=0)), vn.n_weights, "finite",
                               int(batch_size), float(est.s_cr_se), np.median(vn.ranks, axis=0),
                               est.first_probabilities)
        return architecture, keep, res
    _, scales = _setup(method, architecture, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, numerics)
    keep = keep_fractions_from_scales(method, s, scales, architecture.n_weights)
    uncovered = model == "finite" and method == "snip"
    res = (replace(critical_sparsity_from_scales(method, scales, architecture.n_weights), model="iid" if uncovered else model)
           if with_scr else None)
    return architecture, keep, res


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
    image_size=None,
    input_q: float = 1.0,
    model: str = "finite",
    batch_size: int = 128,
    labels: str = "random",
    input_correlation: float = 0.0,
    n_networks: int = 128,
    seed: int = 0,
    numerics: Numerics | None = None,
) -> np.ndarray:
    r"""Predicted keep fraction of every weight layer at global sparsity ``sparsity``.

    Under the finite model (default) each virtual network prunes at its own threshold
    :math:`t(s)`, :math:`\sum_l M_l F_{n_l}(t/a_l) = sM`, and the fractions are averaged
    over the virtual networks; under ``model="iid"`` the threshold is that of the iid
    scores (module docstring).  Other keywords as in :func:`critical_sparsity`.

    Returns
    -------
    ndarray
        Shape ``np.shape(sparsity) + (L,)``; entries in [0, 1], size-weighted mean ``1 - s``.
    """
    return _keep(method, sparsity, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, model,
                 batch_size, labels, input_correlation, n_networks, seed, numerics, image_size=image_size)[1]


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
    image_size=None,
    input_q: float = 1.0,
    model: str = "finite",
    batch_size: int = 128,
    labels: str = "random",
    input_correlation: float = 0.0,
    n_networks: int = 128,
    seed: int = 0,
    numerics: Numerics | None = None,
) -> tuple[int, ...]:
    """Layer indices (0 = first weight layer) in the order global pruning empties them.

    Ordered by the predicted maximum score of each layer (:attr:`CriticalSparsity.thresholds`);
    keywords as in :func:`critical_sparsity`.
    """
    return critical_sparsity(
        method, widths, act, sigma_w, sigma_b, arch=arch, alpha=alpha, kernel_size=kernel_size, image_size=image_size,
        input_q=input_q, model=model, batch_size=batch_size, labels=labels, input_correlation=input_correlation,
        n_networks=n_networks, seed=seed, numerics=numerics,
    ).collapse_order


def _kept_second_moment(method: str, keep_fraction) -> np.ndarray:
    law = law_for_method(_check_method(method))
    k = check_closed_interval(keep_fraction, "keep_fraction", 0.0, 1.0)
    out = np.asarray(law.truncated_second_moment(law.isf(np.maximum(k, 1e-300))), dtype=np.float64)
    return np.where(k == 0, 0.0, np.where(k == 1, 1.0, out))


def effective_sigma_w(method: str, keep_fraction, sigma_w) -> np.ndarray:
    r""":math:`\sigma_{w,\rm eff} = \sigma_w\sqrt{\mathbb E[Z^2\mathbf 1\{\text{kept}\}]}` of a layer keeping ``keep_fraction``.

    random: :math:`\sqrt k\,\sigma_w`; magnitude: :math:`\sigma_w\sqrt{k + 2\tau\varphi(\tau)}`,
    :math:`\tau = \Phi^{-1}(1 - k/2)`; snip: under the product-normal law (module
    docstring).  Increasing in k, equal to ``sigma_w`` at k = 1.  Scalar in, numpy scalar
    out; arrays broadcast.
    """
    sw = check_positive(sigma_w, "sigma_w")
    return scalar_out(sw * np.sqrt(_kept_second_moment(method, keep_fraction)))


def rescale_factor(method: str, keep_fraction) -> np.ndarray:
    r"""Population rescaling factor :math:`\rho = \sigma_w/\sigma_{w,\rm eff}` (docs/theory.md §5).

    Multiplying the kept weights by :math:`\rho` restores the pre-pruning variance, so a
    network initialized on the EOC is back on it after pruning.  Infinite at k = 0.
    """
    m = _kept_second_moment(method, keep_fraction)
    with np.errstate(divide="ignore"):
        return scalar_out(np.where(m > 0, 1.0 / np.sqrt(np.where(m > 0, m, 1.0)), np.inf))


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
    image_size=None,
    input_q: float = 1.0,
    model: str = "finite",
    batch_size: int = 128,
    labels: str = "random",
    input_correlation: float = 0.0,
    n_networks: int = 128,
    seed: int = 0,
    tol: float = PHASE_TOL,
    numerics: Numerics | None = None,
) -> PrunedNetwork:
    """Where the pruned network sits relative to the EOC (docs/theory.md §5).

    Keep fractions from :func:`predict_keep_fractions` (same ``model`` keywords), effective
    scales from :func:`effective_sigma_w`, then the mean-field maps of the network with
    those scales.  A network initialized on the EOC lands in the ordered phase.

    Raises
    ------
    ValueError
        A layer is fully pruned: ``sparsity`` exceeds the predicted critical sparsity of
        the same model, or some layer's expected number of kept weights :math:`k_lM_l` is
        below one (the network then computes a constant); the message names the layer
        and the critical sparsity.
    """
    s = float(check_sparsity(sparsity))
    architecture, keep, scr = _keep(method, s, widths, act, sigma_w, sigma_b, arch, alpha, kernel_size, input_q, model,
                                    batch_size, labels, input_correlation, n_networks, seed, numerics, with_scr=True,
                                    image_size=image_size)
    kept = keep * architecture.n_weights
    if s > scr.s_cr or np.any(kept < 1.0):
        if s > scr.s_cr:
            i = scr.first_layer
            why = (f"sparsity={s!r} exceeds the predicted critical sparsity {float(scr.s_cr):.4f} (model={scr.model!r}), "
                   f"above which layer {i} is emptied")
        else:
            i = int(np.argmin(kept))
            why = (f"at sparsity={s!r} layer {i} keeps {kept[i]:.3g} of its {int(architecture.n_weights[i])} weights in "
                   f"expectation, fewer than one (the predicted critical sparsity, {float(scr.s_cr):.4f} with "
                   f"model={scr.model!r}, is the typical sparsity at which a layer is emptied)")
        raise ValueError(f"layer {i} is fully pruned: {why}; the network would compute a constant")
    sw = per_layer(sigma_w, architecture.depth, "sigma_w", positive=True)
    sw_eff = effective_sigma_w(method, keep, sw)
    prof = layer_profile(architecture, act, sw_eff, sigma_b, input_q=input_q, numerics=resolve_numerics(numerics))
    hidden = prof.chi[:-1] if prof.chi.size > 1 else prof.chi
    mean = float(np.exp(np.mean(np.log(hidden))))
    label = PHASES[0] if mean < 1 - tol else (PHASES[2] if mean > 1 + tol else PHASES[1])
    return PrunedNetwork(method, s, keep, sw_eff, prof.q, prof.chi, mean, label)
