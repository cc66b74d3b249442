r"""The finite-width, batch-aware model of SNIP scores and critical sparsity (docs/theory.md §8).

The paper's model (docs/theory.md §4) treats the SNIP scores of layer :math:`l` as iid
:math:`a_l|Z_1Z_2|` with the mean-field scale :math:`a_l`.  Measured on finite networks
(``bench/validate_critical_sparsity.py``) three things break it:

1. **The batch gradient is low-rank.**  :math:`\nabla_{W^l}\mathcal L = \Delta^l H^{l-1\top}`
   sums :math:`B` rank-one terms whose factors are far from orthogonal: the output
   gradients of a :math:`K`-way softmax span at most :math:`K-1` directions, and the
   forward activations share a batch-mean direction (correlation :math:`c_h`).  Its
   effective rank (the participation ratio :math:`n_l` of its singular values) is 1-3
   in the ordered phase, 1-20 elsewhere, far from the :math:`\min(N, B)` of iid scores,
   so the scores are heavier-tailed than :math:`|Z_1Z_2|`, with row structure.
2. **The layer scales are random and depend on the batch.**  The batch-mean part of the
   gradient (:math:`\sum_b\delta_b` times :math:`\bar h`) carries a fraction of the energy
   that depends on :math:`c_h`, :math:`B` and the label imbalance; the input layer, whose
   inputs are uncorrelated, loses it; and the log layer scales perform a random walk in
   depth (products of random matrices) with variance :math:`\propto` depth/width.
3. **The read-out has** :math:`K` **rows**, so the output gradient is a :math:`K\times B`
   object, sampled exactly here, not a mean-field variance.

The model keeps everything low-dimensional: per *virtual network* it samples the
:math:`K\times B` output gradient :math:`F` (softmax cross-entropy with uniformly random
labels at the mean-field output kernel), and propagates the batch Gram matrix of the
pre-activation gradients :math:`\Gamma^l = \Delta^{l\top}\Delta^l` (:math:`B\times B`)
in the form

.. math::

    \Gamma^l \approx F^\top Q^l F + \mathrm{diag}(w^l),

a coherent part in the :math:`K` output-gradient directions (:math:`Q^l = L^lL^{l\top}`,
:math:`K\times K`) plus per-example incoherent energies :math:`w^l_b`.  One layer back
(width :math:`N`, weights :math:`\sigma_w^2/N`, derivative kernel :math:`a_d = \sigma_w^2\mathbb
E\phi'^2`, :math:`a_o = \sigma_w^2\mathbb E[\phi'(u_b)\phi'(u_{b'})]`) the mean-field map
:math:`\Gamma \mapsto a_o\Gamma + (a_d - a_o)\mathrm{Diag}\,\Gamma` is applied with the
finite-width noise of a sum over :math:`N` units: :math:`L \leftarrow L\,A`,
:math:`AA^\top\sim (a_o/n_e)\,\mathrm{Wishart}_K(n_e)` with a random overall weight
(Bartlett factor; :math:`n_e = N(\mathbb E\bar d^2)^2/\mathbb E\bar d^4` for the per-unit
weights :math:`\bar d^2`), and :math:`w \leftarrow [a_d w + (a_d - a_o)\,\mathrm{diag}(F^\top QF)]`
times Gamma noise (common relative variance :math:`(\kappa_o - 1)/N`, per example
:math:`(3\kappa_d - \kappa_o)/N`, :math:`\kappa` the normalized fourth moments of
:math:`\phi'`).  A residual branch adds the identity path (docs/theory.md §8).
Every constant comes from the mean-field kernels and these moments; none is fitted.

From :math:`\Gamma^l` and the mean-field per-unit kernel :math:`\Sigma_H` of the layer input
(:math:`u I + v\mathbf 1\mathbf 1^\top`), the Frobenius energy and second spectral moment of
the layer gradient follow with the Wishart identity for the :math:`n_h` input units,

.. math::

    S_1 = n_h\,\mathrm{tr}(\Gamma\Sigma_H),\qquad
    S_2 = n_h(n_h+1)\,\mathrm{tr}(\Gamma\Sigma_H\Gamma\Sigma_H) + n_h\,\mathrm{tr}(\Gamma\Sigma_H)^2,

so the layer has the score scale :math:`a_l^2 = \frac{\sigma_w^2}{v_l}\frac{S_1}{N_lN_{l-1}}`
and the effective rank :math:`n_l = S_1^2/S_2`.  Its scores follow
:class:`~eoc._laws.LowRankProductNormal` (rank :math:`n_l`) and its maximum the row model of
:mod:`eoc._finite_laws`.  Each virtual network then draws its layer maxima, takes
:math:`t_{cr} = \min_l T_l` and :math:`s_{cr} = \sum_l M_lF_{n_l}(t_{cr}/a_l)/M`; the
prediction is the mean over virtual networks (seeded; its Monte-Carlo standard error
is reported).

Approximations (docs/theory.md §8 gives their measured sizes): gradient independence
(weights independent of the gradients they multiply), mean-field forward kernels
(forward finite-width fluctuations neglected), Gaussian delocalized singular vectors
(the Gamma row-variance law), the row model of the maximum, an isotropic treatment of
the coherent part's diagonal and of its cross term with the incoherent part.  CNNs use
the FFNN recursion with fan-ins :math:`n k^2`; where the architecture knows its spatial
sizes (``as_architecture(..., "cnn", image_size=...)``, :func:`eoc.nn.describe`) and its
convolutions keep them, a convolution's gradient sums over :math:`BP` (example, position)
samples that replicate their example's output gradient, and the read-out reads a global
average pool (:func:`sample_positions`, docs/theory.md §8.6); otherwise (sizes unknown,
pooling stages) one position per example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._activations import get_activation
from ._arch import Architecture
from ._expect import Numerics, resolve_numerics
from ._finite_laws import marginal_cdf, sample_row_maxima
from ._propagation import per_layer

__all__ = ["FINITE_MODELS", "LABELS", "VirtualNetworks", "simulate_virtual_networks", "sample_positions", "FiniteEstimate",
           "finite_critical_sparsity", "finite_keep_fractions"]

#: Names of the score models of :func:`eoc.predict_critical_sparsity` and friends.
FINITE_MODELS = ("finite", "iid")
#: Label draws of the scoring batch.
LABELS = ("random", "balanced")

# Nested Gauss-Hermite grid (common part z, per-example part e) for the per-unit moments of phi'.
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / _GH_W.sum()


@dataclass(frozen=True)
class VirtualNetworks:
    """Per-layer score laws of ``n`` virtual networks (docs/theory.md §8).

    Attributes
    ----------
    scales : ndarray, shape (n, L)
        Root-mean-square score :math:`a_l` of each layer of each virtual network.
    ranks : ndarray, shape (n, L)
        Effective rank :math:`n_l \\ge 1` of each layer's batch gradient.
    rows, cols : ndarray of int, shape (L,)
        The smaller and the larger side of each weight matrix (row model of the maximum).
    n_weights : ndarray, shape (L,)
        Weights per layer :math:`M_l`.
    batch_size : int
    seed : int
    """

    scales: np.ndarray
    ranks: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    n_weights: np.ndarray
    batch_size: int
    seed: int

    @property
    def n_networks(self) -> int:
        return self.scales.shape[0]

    @property
    def depth(self) -> int:
        return self.scales.shape[1]


# ----------------------------------------------------------------------------------------------
# Mean-field forward pass over the batch
# ----------------------------------------------------------------------------------------------


def _unit_moments(act, q: np.ndarray, c: np.ndarray) -> dict:
    r"""Fourth-order moments of :math:`d = \phi'(\sqrt q(\sqrt c z + \sqrt{1-c}\,e_b))` per unit layer.

    Returns normalized :math:`\kappa_d = \mathbb E d^4/(\mathbb E d^2)^2`, :math:`\kappa_o =
    \mathbb E[d_b^2 d_{b'}^2]/(\mathbb E d^2)^2` and the per-unit coherent weight ratio
    :math:`\rho_w = \mathbb E\bar d^4/(\mathbb E\bar d^2)^2` of :math:`\bar d = \mathbb E_e d`,
    by a 48 x 48 Gauss-Hermite grid (these set noise variances and degrees of freedom,
    where a percent is ample; the means use the exact kernels).
    """
    cc = np.clip(c, 0.0, 1.0)
    z = _GH_X[:, None, None]
    e = _GH_X[None, :, None]
    u = np.sqrt(q) * (np.sqrt(cc) * z + np.sqrt(1.0 - cc) * e)
    d = np.asarray(act.derivative(u), dtype=np.float64)
    d2 = d * d
    m1 = np.einsum("ijl,j->il", d, _GH_W)
    m2 = np.einsum("ijl,j->il", d2, _GH_W)
    ez = lambda f: np.einsum("il,i->l", f, _GH_W)  # noqa: E731
    ed2 = ez(m2)
    ed4 = ez(np.einsum("ijl,j->il", d2 * d2, _GH_W))
    safe = np.where(ed2 > 0, ed2, 1.0)
    w1 = ez(m1 * m1)
    w1s = np.where(w1 > 0, w1, 1.0)
    return {
        "kappa_d": np.where(ed2 > 0, ed4 / safe**2, 1.0),
        "kappa_o": np.where(ed2 > 0, ez(m2 * m2) / safe**2, 1.0),
        "rho_w": np.where(w1 > 0, ez(m1**4) / w1s**2, 1.0),
    }


class _Kernels:
    """M2(q) and K(q, q, q12) of the forward pass, and the derivative kernels.

    Closed forms where the activation has them (through ``numerics``); otherwise a
    nested 48 x 48 Gauss-Hermite rule in (common part, own part), exact to ~1e-12 for
    smooth activations and ample for a model whose own error is at the percent level
    (docs/theory.md §8); ``eoc``'s reference quadrature costs ~50x more per layer.
    """

    def __init__(self, act, num: Numerics):
        self.act, self.num = act, num
        self.closed = act.closed_forms is not None and num.method != "quadrature"

    def _nested(self, fn, q, q12):
        q = np.asarray(q, dtype=np.float64)
        cq = np.clip(np.asarray(q12, dtype=np.float64), 0.0, q)
        u = np.sqrt(cq)[..., None, None] * _GH_X[:, None] + np.sqrt(q - cq)[..., None, None] * _GH_X[None, :]
        f = np.asarray(fn(u), dtype=np.float64)
        inner = f @ _GH_W
        return (f * f) @ _GH_W @ _GH_W, (inner * inner) @ _GH_W

    def m2_k(self, q, q12):
        if self.closed:
            return self.num.moment2(self.act, q), self.num.kernel(self.act, q, q, q12)
        return self._nested(self.act.fn, q, q12)

    def d2_dk(self, q, q12):
        if self.closed:
            return self.num.deriv_moment2(self.act, q), self.num.deriv_kernel(self.act, q, q, q12)
        return self._nested(self.act.derivative, q, q12)


def _stream_forward(arch: Architecture, act, sw, sb, q_in, c_in, num: Numerics) -> dict:
    """Mean-field batch kernels: for every weight layer the input kernel (m, k) and, for
    every layer of units whose phi' enters the backward pass, (q, q12) and a_d, a_o."""
    ker = _Kernels(act, num)
    L = arch.depth
    m_in = np.empty(L)
    k_in = np.empty(L)
    m_in[0], k_in[0] = q_in, q_in * c_in
    if arch.kind != "resnet":
        q = np.empty(L)
        q12 = np.empty(L)
        for l in range(L):
            if l > 0:
                m_in[l], k_in[l] = ker.m2_k(q[l - 1], q12[l - 1])
            q[l] = sb[l] ** 2 + sw[l] ** 2 * m_in[l]
            q12[l] = sb[l] ** 2 + sw[l] ** 2 * k_in[l]
        unit_q, unit_q12 = q[:-1], q12[:-1]  # units y^1..y^{L-1}; phi' there, weights sw[l+1]
        unit_sw = sw[1:]
        out_q, out_q12 = q[-1], q12[-1]
    else:
        n = L - 2
        a2 = arch.alpha**2
        s = np.empty(n + 1)
        s12 = np.empty(n + 1)
        s[0] = sb[0] ** 2 + sw[0] ** 2 * q_in
        s12[0] = sb[0] ** 2 + sw[0] ** 2 * q_in * c_in
        for l in range(1, n + 1):
            m2, k = ker.m2_k(s[l - 1], s12[l - 1])
            s[l] = s[l - 1] + a2 * (sb[l] ** 2 + sw[l] ** 2 * m2)
            s12[l] = s12[l - 1] + a2 * (sb[l] ** 2 + sw[l] ** 2 * k)
        m_h, k_h = (np.atleast_1d(v) for v in ker.m2_k(s, s12))
        m_in[1:], k_in[1:] = m_h, k_h  # branches 1..n read phi(y^{l-1}), the read-out phi(y^n)
        unit_q, unit_q12 = s, s12  # stream units y^0..y^n
        unit_sw = sw[1:]  # branch l (and the read-out) multiplies phi'(y^{l-1})
        out_q = sb[-1] ** 2 + sw[-1] ** 2 * m_h[-1]
        out_q12 = sb[-1] ** 2 + sw[-1] ** 2 * k_h[-1]
    # the per-unit-layer moments, in blocks of layers (memory O(block x 48^2), not O(L x 48^2))
    parts = [(ker.d2_dk(unit_q[i : i + 512], unit_q12[i : i + 512]),
              _unit_moments(act, unit_q[i : i + 512], unit_q12[i : i + 512] / unit_q[i : i + 512]))
             for i in range(0, unit_q.size, 512)]
    a_d = unit_sw**2 * np.concatenate([np.atleast_1d(p[0][0]) for p in parts])
    a_o = unit_sw**2 * np.concatenate([np.atleast_1d(p[0][1]) for p in parts])
    mom = {k: np.concatenate([p[1][k] for p in parts]) for k in ("kappa_d", "kappa_o", "rho_w")}
    return {"m_in": m_in, "k_in": k_in, "a_d": a_d, "a_o": np.minimum(a_o, a_d), "out_q": out_q,
            "out_q12": out_q12, **mom}


# ----------------------------------------------------------------------------------------------
# The virtual networks
# ----------------------------------------------------------------------------------------------


def _output_gradients(q, q12, K, B, n, labels, rng) -> np.ndarray:
    """(n, K, B) gradients of the mean cross-entropy w.r.t. the logits, logits ~ mean-field kernel."""
    common = np.sqrt(max(q12, 0.0))
    own = np.sqrt(max(q - max(q12, 0.0), 0.0))
    o = common * rng.standard_normal((n, K, 1)) + own * rng.standard_normal((n, K, B))
    p = np.exp(o - o.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    if labels == "balanced":
        y = np.stack([rng.permutation(np.resize(np.arange(K), B)) for _ in range(n)])
    else:
        y = rng.integers(0, K, (n, B))
    p[np.arange(n)[:, None], y, np.arange(B)[None, :]] -= 1.0
    return p / B


def _wishart_factors(zl: np.ndarray, dof: np.ndarray, rng, r: int) -> np.ndarray:
    r"""Lower-triangular Bartlett factors A (A A^T ~ Wishart_r(dof, I)) from normals ``zl``.

    ``zl`` has shape (..., C, r (r + 1) / 2): the strict lower triangle, then the diagonal;
    ``dof`` has shape (C,), real.  The diagonal is :math:`\sqrt{\chi^2_{\nu - i}}`, from the
    Wilson-Hilferty cube of its normal where :math:`\nu - i \ge 30` (relative error of the
    law below 1e-3 there) and drawn exactly below; it is 0 where :math:`\nu - i \le 0` (a
    rank-deficient Wishart: the layer is narrower than the coherent dimension).
    """
    low = np.tril_indices(r, -1)
    m = low[0].size
    idx = np.arange(r)
    a = np.zeros(zl.shape[:-1] + (r, r))
    a[..., low[0], low[1]] = zl[..., :m]
    nu = dof[:, None] - idx[None, :]  # (C, r)
    h = 2.0 / (9.0 * np.maximum(nu, 1.0))
    diag = np.sqrt(np.maximum(nu, 0.0) * np.maximum(1.0 - h + zl[..., m:] * np.sqrt(h), 0.0) ** 3)
    small = (nu < 30.0) & (nu > 0)
    if small.any():
        diag[..., small] = np.sqrt(rng.chisquare(np.broadcast_to(nu[small], diag.shape[:-2] + (int(small.sum()),))))
    a[..., idx, idx] = diag
    return a


def _lognormal(z: np.ndarray, relvar) -> np.ndarray:
    """Mean-one positive noise of relative variance ``relvar`` from standard normals ``z``
    (log-normal; the relative variances here are O(1/N), where it and a Gamma law agree
    to O(1/N^2))."""
    s2 = np.log1p(np.maximum(relvar, 0.0))
    return np.exp(np.sqrt(s2) * z - 0.5 * s2)


#: Largest number of coherent output-gradient directions kept (many-class read-outs).
_MAX_COHERENT = 24


def _coherent_output(f: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Coherent coordinates of the output gradients (n, K, B) and the per-example energy left out.

    The columns of F sum to zero over the K classes, so K - 1 coordinates of an orthonormal
    basis of the complement of 1_K are exact when K - 1 <= 24.  With more classes a
    24-dimensional leading subspace of F's row space is kept (randomized range finder with
    one power iteration, Halko et al. 2011, alg. 4.3, orthonormalized by Cholesky-QR), and
    each example's remaining energy starts the incoherent part: with many classes the
    one-hot part of F is nearly orthogonal across examples, which is what that part models.
    """
    n, K, B = f.shape
    if K - 1 <= _MAX_COHERENT:
        basis = np.linalg.qr(np.concatenate([np.ones((K, 1)), np.eye(K)[:, : K - 1]], axis=1))[0][:, 1:]
        return np.einsum("kr,nkb->nrb", basis, f), np.zeros((n, B))
    r = min(_MAX_COHERENT, B)
    ft = f.transpose(0, 2, 1)  # (n, B, K)
    y = ft @ (f @ (ft @ rng.standard_normal((n, K, r))))  # (n, B, r)
    gram = y.transpose(0, 2, 1) @ y + 1e-300 * np.eye(r)
    chol = np.linalg.cholesky(gram + 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] * np.eye(r))
    q = np.linalg.solve(chol, y.transpose(0, 2, 1)).transpose(0, 2, 1)  # orthonormal basis (n, B, r)
    fq = f @ q  # (n, K, r)
    c = np.linalg.cholesky(fq.transpose(0, 2, 1) @ fq + 1e-300 * np.eye(r))  # C C^T = Q^T F^T F Q
    fc = c.transpose(0, 2, 1) @ q.transpose(0, 2, 1)  # (n, r, B): fc^T fc = Q Q^T F^T F Q Q^T
    rest = np.maximum(np.einsum("nkb,nkb->nb", f, f) - np.einsum("nrb,nrb->nb", fc, fc), 0.0)
    return fc, rest


@dataclass(frozen=True)
class _Transfer:
    """Per-step parameters of the backward pass from one recorded layer to the next (arrays over steps)."""

    residual: np.ndarray  # bool
    n_units: np.ndarray
    alpha: np.ndarray
    a_d: np.ndarray
    a_o: np.ndarray
    kappa_d: np.ndarray
    kappa_o: np.ndarray
    rho_w: np.ndarray

    def bulk(self):
        """(gain, leak, common relative variance, per-example relative variance) of w."""
        n, a2 = self.n_units, np.where(self.residual, self.alpha**2, 1.0)
        kd, ko, ad, ao = self.kappa_d, self.kappa_o, self.a_d, self.a_o
        g = np.where(self.residual, 1.0 + a2 * ad, ad)
        leak = a2 * (ad - ao)
        rv_c = np.where(self.residual, a2 * a2 * ad * ad * (ko - 1.0) / n / g**2, (ko - 1.0) / n)
        rv_i = np.where(self.residual, (4.0 * a2 * ad + a2 * a2 * ad * ad * (3.0 * kd - ko)) / n / g**2, (3.0 * kd - ko) / n)
        return g, leak, rv_c, rv_i

    def factors(self, sl: slice, n: int, r: int, rng) -> np.ndarray:
        r"""(n, C, r, r) factors A of the coherent part for the steps ``sl``: L <- L A.

        Dense step: a Bartlett factor, :math:`AA^\top \sim (a_o w/n_e)\,\mathrm{Wishart}_r(n_e)`,
        :math:`n_e = N/\rho_w`, with the random overall unit weight :math:`w\sim N(1, (\rho_w-1)/N)`.
        Residual step: :math:`M = (I + \alpha\Xi)^\top(I + \alpha\Xi) + \alpha^2\Omega_\perp` has mean
        :math:`gI`, :math:`g = 1 + \alpha^2 a_o`; it enters as :math:`c_0(I + G/(2g))` with the
        symmetric Gaussian fluctuation :math:`G = M - gI` at first order (off-diagonal variance
        :math:`v = (2\alpha^2a_o + \alpha^4a_o^2\rho_w)/N`, diagonal :math:`2v`) and :math:`c_0`
        restoring the exact mean :math:`\mathbb E[CC^\top] = gI` (docs/theory.md §8).
        """
        res = self.residual[sl]
        C = res.size
        out = np.empty((n, C, r, r))
        d = ~res
        if d.any():
            nu = (self.n_units / self.rho_w)[sl][d]
            scale = np.sqrt(self.a_o[sl][d] / nu)
            spread = np.sqrt(np.maximum(self.rho_w[sl][d] - 1.0, 0.0) / self.n_units[sl][d])
            weight = np.maximum(1.0 + spread * rng.standard_normal((n, int(d.sum()))), 1e-12)
            fac = _wishart_factors(rng.standard_normal((n, int(d.sum()), r * (r + 1) // 2)), nu, rng, r)
            fac *= (scale * np.sqrt(weight))[..., None, None]
            if d.all():
                out = fac
            else:
                out[:, d] = fac
        if res.any():
            a2 = self.alpha[sl][res] ** 2
            ao = self.a_o[sl][res]
            gc = 1.0 + a2 * ao
            v = (2.0 * a2 * ao + a2 * a2 * ao * ao * self.rho_w[sl][res]) / self.n_units[sl][res]
            zz = rng.standard_normal((n, int(res.sum()), r, r)) * np.sqrt(0.5 * v)[:, None, None]
            sym = zz + zz.swapaxes(-1, -2)
            c0 = np.sqrt(gc / (1.0 + (r + 1) * v / (4.0 * gc * gc)))
            fac = c0[:, None, None] * (np.eye(r) + sym / (2.0 * gc)[:, None, None])
            if res.all():
                out = fac
            else:
                out[:, res] = fac
        return out


_CHUNK = 128


def sample_positions(arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
    r"""Per layer: the samples per example of its gradient sum, and the pooling of its input.

    A convolution's weight gradient sums over the :math:`B P` (example, position) pairs of
    its output; the pairs of one example share its output gradient (docs/theory.md §8.6).
    Returns ``(positions, gap)``: :attr:`Architecture.positions` where the finite model
    resolves them, else ones; and per layer the number of positions a global average pool
    before it averages (1 elsewhere).  Resolved: a chain CNN whose convolutions all keep
    one known spatial size (stride 1, "same" padding, no pooling between them) and whose
    dense layers after a convolution read a global pooling (not a flatten).  Pooling stages
    (a VGG's max-pools) are not: counted as even splits of the gradient they make the
    prediction worse than one position per example (docs/theory.md §8.6), so they keep that.
    """
    L = arch.depth
    ones = np.ones(L)
    if arch.kind != "cnn":
        return ones, ones
    layers = arch.layers
    convs = [layer for layer in layers if layer.kind == "conv"]
    size = convs[0].out_spatial
    if not size or any(c.out_spatial != size or (c.in_spatial and c.in_spatial != size) for c in convs):
        return ones, ones
    gap = np.ones(L)
    for l in range(1, L):
        prev = layers[l - 1]
        if layers[l].kind == "dense" and prev.kind == "conv":
            if layers[l].in_channels != prev.out_channels:  # a flatten, not a global pooling
                return ones, ones
            gap[l] = math.prod(size)
        elif layers[l].kind == "conv" and prev.kind == "dense":  # a dense layer between convolutions
            return ones, ones
    return arch.positions, gap


def simulate_virtual_networks(
    arch: Architecture,
    act,
    sigma_w,
    sigma_b,
    *,
    batch_size: int = 128,
    input_q: float = 1.0,
    input_correlation: float = 0.0,
    labels: str = "random",
    n_networks: int = 128,
    seed: int = 0,
    numerics: Numerics | None = None,
    samples: tuple | None = None,
) -> VirtualNetworks:
    """Sample the per-layer SNIP score laws of ``n_networks`` virtual networks (module docstring).

    ``samples``: per-layer ``(positions, gap)`` replacing :func:`sample_positions` (to validate
    alternatives, e.g. pooling stages counted as even splits; ``bench/validate_cnn_critical_sparsity.py``).

    The backward pass runs in chunks of 128 layers, each chunk vectorized over its layers
    except for the product of the coherent factors: time :math:`O(nLK^3)`, memory
    :math:`O(n(L + 128K^2 + KB))`.
    """
    act = get_activation(act)
    num = resolve_numerics(numerics)
    L = arch.depth
    sw = per_layer(sigma_w, L, "sigma_w", positive=True)
    sb = per_layer(sigma_b, L, "sigma_b", positive=False)
    widths = np.asarray(arch.widths)
    K = int(widths[-1])
    B = int(batch_size)
    n = int(n_networks)
    rng = np.random.default_rng(seed)
    mf = _stream_forward(arch, act, sw, sb, float(input_q), float(input_correlation), num)
    pos, gap = sample_positions(arch) if samples is None else (np.asarray(v, dtype=np.float64) for v in samples)
    # output stage in chunks of virtual networks: (chunk, K, B) at a time
    step = max(1, int(2**22 // (K * B)))
    parts = [_coherent_output(_output_gradients(mf["out_q"], mf["out_q12"], K, B, min(step, n - i), labels, rng), rng)
             for i in range(0, n, step)]
    f = np.concatenate([p[0] for p in parts])
    w_out = np.concatenate([p[1] for p in parts])
    r = f.shape[1]
    ff = f @ f.transpose(0, 2, 1)
    f1 = f.sum(axis=2)
    col = np.einsum("nkb,nkb->nb", f, f)
    share = col / np.maximum(col.sum(axis=1, keepdims=True), 1e-300)
    p2 = (share * share).sum(axis=1)  # sum_b pi_b^2: how the coherent diagonal spreads over examples

    # Recorded layers, top down, and the steps between them (docs/theory.md §8).
    if arch.kind != "resnet":
        order = np.arange(L - 1, -1, -1)
        units = np.arange(L - 2, -1, -1)  # unit layer crossed after recording layer l: y^{l-1}
        residual = np.zeros(L - 1, bool)
        n_units = widths[1:-1][::-1].astype(np.float64)
        alpha = np.ones(L - 1)
    else:
        nres = L - 2
        order = np.concatenate([[L - 1], np.arange(nres, -1, -1)])
        units = np.arange(nres, -1, -1)  # read-out -> y^n (dense), then branch l -> y^{l-1}
        residual = np.arange(L - 1) > 0
        n_units = np.full(L - 1, float(widths[1]))
        alpha = np.full(L - 1, arch.alpha)
    tr = _Transfer(residual, n_units, alpha, mf["a_d"][units], mf["a_o"][units], mf["kappa_d"][units],
                   mf["kappa_o"][units], mf["rho_w"][units])
    gain, leak, rv_c, rv_i = tr.bulk()

    fan_in = arch.fan_in
    n_out = widths[1:].astype(np.float64)
    branch = np.ones(L)
    if arch.kind == "resnet":
        branch[1:-1] = arch.alpha**2
    u_all = ((mf["m_in"] - mf["k_in"]) / gap)[order]  # a global average pool keeps v + u/P of the per-position kernel
    pos_rec = pos[order]
    split = np.ones(L)
    split[:-1] = pos_rec[1:] / pos_rec[:-1]  # step p: every sample of record p spreads over this many below
    v_all = mf["k_in"][order]
    nh_all, nd_all = fan_in[order], n_out[order]
    var_all = (sw**2 / fan_in * branch / (fan_in * n_out))[order]

    scales = np.empty((n, L))
    ranks = np.empty((n, L))
    lf = np.broadcast_to(np.eye(r), (n, r, r)).copy()
    w1 = w_out.sum(axis=1)  # output-gradient energy outside the kept coherent directions (many classes)
    w2 = (w_out * w_out).sum(axis=1)
    wf = (w_out * share).sum(axis=1)
    for p0 in range(0, L, _CHUNK):
        p1 = min(p0 + _CHUNK, L)
        C = p1 - p0
        steps = slice(p0, min(p1, L - 1))  # the step after record p leads to record p + 1
        a = tr.factors(steps, n, r, rng) if steps.stop > steps.start else None
        lfs = np.empty((n, C, r, r))
        for k in range(C):
            lfs[:, k] = lf
            if p0 + k < L - 1:
                lf = lf @ a[:, k]
        lff = lfs.swapaxes(-1, -2) @ ff[:, None] @ lfs  # L^T FF^T L (the output has one position)
        if pos_rec[p0:p1].max() > 1.0:
            lff = lff / pos_rec[p0:p1, None, None]  # F replicated over P positions at 1/P: F'F'^T = FF^T/P
        lf1 = np.einsum("ncij,ni->ncj", lfs, f1)  # L^T f1
        tr_c = np.trace(lff, axis1=-2, axis2=-1)  # tr(Gamma_c), (n, C)
        c1 = np.einsum("nci,nci->nc", lf1, lf1)  # 1^T Gamma_c 1
        # incoherent energies at every record of the chunk: w_b <- (g w_b + leak tr_c pi_b) eps eps_b
        s1w = np.empty((n, C))
        s2w = np.empty((n, C))
        z_c = rng.standard_normal((n, C))
        z_i = rng.standard_normal((n, C))
        for k in range(C):
            s1w[:, k], s2w[:, k] = w1, w2
            p = p0 + k
            if p < L - 1:
                if split[p] != 1.0:  # each sample's energy spreads evenly over split[p] samples below
                    R = split[p]
                    w1, w2, wf, p2 = w1 / R, w2 / R**3, wf / R**2, p2 / R
                tc = leak[p] * tr_c[:, k] / split[p]
                g = gain[p]
                m1 = g * w1 + tc  # new mean energies: sum and sum of squares over examples
                m2 = g * g * w2 + 2.0 * g * tc * wf + tc * tc * p2
                # common noise, and the per-example noise that survives in the sum over the
                # n_ex = m1^2 / m2 effectively contributing examples (relative variance rv_i / n_ex)
                eps = _lognormal(z_c[:, k], rv_c[p]) * _lognormal(z_i[:, k], rv_i[p] * m2 / np.maximum(m1 * m1, 1e-300))
                w1, w2, wf = eps * m1, eps * eps * (1.0 + rv_i[p]) * m2, eps * (g * wf + tc * p2)
        # the layers' gradient moments (S1, S2) with input kernel u I + v 11^T over n_h units
        u, v = u_all[p0:p1], v_all[p0:p1]
        n_h, n_d = nh_all[p0:p1], nd_all[p0:p1]
        m = u + v
        t = u * tr_c + v * c1 + m * s1w
        amat = u[:, None, None] * lff + v[:, None, None] * lf1[..., :, None] * lf1[..., None, :]
        cc = np.einsum("ncij,ncji->nc", amat, amat)
        bp = B * pos_rec[p0:p1]  # samples in the layer's gradient sum
        cb = (s1w / bp) * (u * u * tr_c + (2 * u * v + v * v * bp) * c1)  # w uncorrelated with coherent directions
        bb = ((u * u + 2 * u * v) * s2w + v * v * s1w**2) * (1 + 1 / n_d) + (m * s1w) ** 2 / n_d
        s1 = n_h * t
        s2 = n_h * (n_h + 1) * (cc + 2 * cb + bb) + n_h * t * t
        cols = order[p0:p1]
        scales[:, cols] = np.sqrt(np.maximum(var_all[p0:p1] * s1, 1e-300))
        ranks[:, cols] = np.clip(s1 * s1 / np.maximum(s2, 1e-300), 1.0, None)
    dims = np.stack([fan_in, n_out])
    return VirtualNetworks(scales, ranks, dims.min(axis=0).astype(np.int64), dims.max(axis=0).astype(np.int64),
                           arch.n_weights, B, int(seed))


# ----------------------------------------------------------------------------------------------
# Critical sparsity and keep fractions of the virtual networks
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FiniteEstimate:
    """Monte-Carlo summary of the virtual networks (see :func:`finite_critical_sparsity`)."""

    s_cr: float
    s_cr_se: float
    t_cr: float
    thresholds: np.ndarray
    first_probabilities: np.ndarray
    per_network: np.ndarray


def _layer_maxima(vn: VirtualNetworks, rng) -> np.ndarray:
    n, L = vn.scales.shape
    u = rng.random((n, L))
    t = np.empty((n, L))
    for key in {(int(r), int(c)) for r, c in zip(vn.rows, vn.cols)}:
        cols = np.flatnonzero((vn.rows == key[0]) & (vn.cols == key[1]))
        t[:, cols] = vn.scales[:, cols] * sample_row_maxima(vn.ranks[:, cols], key[0], key[1], u[:, cols])
    return t


def _fraction_below(t: np.ndarray, vn: VirtualNetworks) -> np.ndarray:
    """s(t) per virtual network: sum_l M_l F_{n_l}(t / a_l) / M, t shape (n,) or (n, S)."""
    m = vn.n_weights
    x = t[..., None] / vn.scales[:, None, :] if t.ndim == 2 else t[:, None] / vn.scales
    ranks = vn.ranks[:, None, :] if t.ndim == 2 else vn.ranks
    return (marginal_cdf(x, ranks) * m).sum(axis=-1) / m.sum()


def finite_critical_sparsity(vn: VirtualNetworks, *, seed: int | None = None) -> FiniteEstimate:
    r"""Mean over the virtual networks of :math:`s_{cr} = s(\min_l T_l)` (module docstring).

    ``thresholds`` are the median layer maxima (scale of the mean score, so only their
    ratios mean something), ``first_probabilities`` the fraction of virtual networks
    whose first emptied layer is each layer, ``per_network`` the individual values.
    """
    rng = np.random.default_rng(vn.seed + 7919 if seed is None else seed)
    t = _layer_maxima(vn, rng)
    t_cr = t.min(axis=1)
    first = t.argmin(axis=1)
    s = _fraction_below(t_cr, vn)
    n = s.size
    se = float(s.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    probs = np.bincount(first, minlength=vn.depth) / n
    return FiniteEstimate(float(s.mean()), se, float(np.exp(np.mean(np.log(t_cr)))), np.median(t, axis=0), probs, s)


def finite_keep_fractions(vn: VirtualNetworks, sparsity: np.ndarray) -> np.ndarray:
    r"""Mean over virtual networks of each layer's keep fraction at global sparsities ``sparsity`` (1-D).

    Per virtual network the threshold solves :math:`s(t) = s` (bisection in :math:`\log t`,
    60 steps); the pruned fractions are then rescaled to :math:`s` exactly, so the
    size-weighted mean of every row is :math:`1 - s` to rounding.  Returns shape
    ``(sparsity.size, L)``.
    """
    s = np.asarray(sparsity, dtype=np.float64).reshape(-1)
    n = vn.n_networks
    lo = np.full((n, s.size), np.log(vn.scales.min()) - 40.0)
    hi = np.full((n, s.size), np.log(vn.scales.max()) + np.log(700.0))
    target = np.broadcast_to(s, (n, s.size))
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = _fraction_below(np.exp(mid), vn) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    t = np.exp(0.5 * (lo + hi))
    pruned = marginal_cdf(t[..., None] / vn.scales[:, None, :], vn.ranks[:, None, :])
    # exact size-weighted mean: rescale the pruned fractions to s (a no-op to ~1e-12 except
    # for sparsities below the tables' floor, where the split stays proportional)
    frac = pruned @ vn.n_weights / vn.n_weights.sum()
    pruned = pruned * (s[None, :] / np.where(frac > 0, frac, 1.0))[..., None]
    keep = np.where(s[None, :, None] > 0, 1.0 - np.minimum(pruned, 1.0), 1.0)
    return keep.mean(axis=0)
