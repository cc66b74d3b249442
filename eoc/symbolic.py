r"""Symbolic derivations (sympy) of the closed forms of the theory, rendered to LaTeX.

Every result here is *derived* by sympy from its definition (Gaussian integrals,
series, limits), not typed in, and every one has a numerical twin in the tests
(``tests/test_symbolic.py``) that compares it with the numeric core of :mod:`eoc`.

Use :func:`derive` (or ``python -m eoc derive NAME``) to get a list of
:class:`Derivation` objects for one topic; :func:`topics` lists the topics.

Topics
------
``relu``
    Variance map, arc-cosine kernel (derived in polar coordinates), correlation
    map and its slope, chi_1, the EOC conditions, and the EOC asymptotic
    :math:`1 - c^l \sim 9\pi^2/(2l^2)`.
``leaky_relu``
    Second moment, chi_1 and the EOC :math:`\sigma_w^2 = 2/(1+a^2)`.
``linear``
    Variance map, chi_1, EOC (1, 0).
``mbp``
    Magnitude pruning: keep fraction and kept second moment at threshold tau,
    :math:`\mathbb E[Z^2\mathbf 1\{|Z|>\tau\}] = k + 2\tau\varphi(\tau)`.
``resnet``
    ReLU ResNet recursions solved in closed form, and the Stable ResNet limit
    :math:`(1 + \sigma_w^2/(2L))^L \to e^{\sigma_w^2/2}`.
``random_pruning``
    Random pruning at keep fraction k scales chi_1 by k and moves the EOC to
    :math:`\sigma_w/\sqrt k` (ReLU: :math:`\sqrt{2/k}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

__all__ = ["Derivation", "derive", "topics", "symbols", "render_latex"]


# Shared symbols: positive where the theory says so, so that sympy can simplify.
q, q1, q2 = sp.symbols("q q_1 q_2", positive=True)
sigma_w, sigma_b = sp.symbols("sigma_w sigma_b", nonnegative=True)
a = sp.symbols("a", real=True)
c = sp.symbols("c", real=True)
z = sp.symbols("z", real=True)
r, theta, theta_c = sp.symbols("r theta theta_c", positive=True)
eps = sp.symbols("epsilon", positive=True)
ell = sp.symbols("ell", positive=True)
tau, k_keep, alpha, L_depth, q0 = sp.symbols("tau k alpha L q_0", positive=True)
n_layer = sp.symbols("n", integer=True, nonnegative=True)

_PDF = sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)


def symbols() -> dict[str, sp.Symbol]:
    """The sympy symbols used in the derivations, by name."""
    return {
        "q": q,
        "q1": q1,
        "q2": q2,
        "sigma_w": sigma_w,
        "sigma_b": sigma_b,
        "a": a,
        "c": c,
        "epsilon": eps,
        "ell": ell,
        "tau": tau,
        "k": k_keep,
        "alpha": alpha,
        "L": L_depth,
        "q0": q0,
        "n": n_layer,
    }


@dataclass(frozen=True)
class Derivation:
    """One derived identity ``lhs = rhs``.

    Attributes
    ----------
    name : str
        Short identifier, e.g. ``"relu.correlation_map"``.
    description : str
        What it is, in words.
    lhs : str
        LaTeX of the left-hand side.
    rhs : sympy.Expr
        The derived (simplified) expression.
    free : tuple of sympy.Symbol
        The symbols ``rhs`` depends on, in the order :meth:`numeric` takes them.
    """

    name: str
    description: str
    lhs: str
    rhs: sp.Expr
    free: tuple

    @property
    def latex(self) -> str:
        return f"{self.lhs} = {sp.latex(self.rhs)}"

    def numeric(self) -> Callable:
        """A numpy function of :attr:`free` evaluating :attr:`rhs`."""
        return sp.lambdify(self.free, self.rhs, modules=["scipy", "numpy"])


def _gauss_expect_piecewise(right: sp.Expr, left: sp.Expr) -> sp.Expr:
    """E[g(Z)] for g = right on z > 0 and left on z < 0 (both in terms of z)."""
    return sp.simplify(
        sp.integrate(right * _PDF, (z, 0, sp.oo)) + sp.integrate(left * _PDF, (z, -sp.oo, 0))
    )


def _relu_family(slope: sp.Expr) -> dict[str, sp.Expr]:
    """Second moment and E[phi'^2] of phi(x) = x (x > 0), slope x (x < 0)."""
    u = sp.sqrt(q) * z
    m2 = _gauss_expect_piecewise(u**2, (slope * u) ** 2)
    d2 = _gauss_expect_piecewise(sp.Integer(1), slope**2)
    return {"m2": m2, "d2": d2}


def _relu_kernel() -> sp.Expr:
    r"""E[relu(u1) relu(u2)] in polar coordinates: both positive on theta in (theta_c - pi/2, pi/2)."""
    radial = sp.integrate(r**3 * sp.exp(-(r**2) / 2), (r, 0, sp.oo))
    angular = sp.integrate(sp.cos(theta) * sp.cos(theta - theta_c), (theta, theta_c - sp.pi / 2, sp.pi / 2))
    k = sp.sqrt(q1 * q2) / (2 * sp.pi) * radial * angular
    return sp.simplify(k.subs(theta_c, sp.acos(c)))


def _relu() -> list[Derivation]:
    fam = _relu_family(sp.Integer(0))
    F = sigma_b**2 + sigma_w**2 * fam["m2"]
    chi1 = sp.simplify(sigma_w**2 * fam["d2"])
    K = _relu_kernel()
    # Correlation map at a fixed point q* (= F(q*)), q1 = q2 = q*.
    f = sp.simplify((sigma_b**2 + sigma_w**2 * K.subs({q1: q, q2: q})) / q)
    eoc_sw2 = sp.solve(sp.Eq(chi1, 1), sigma_w**2)
    sw_eoc = sp.sqrt(eoc_sw2[0]) if eoc_sw2 else sp.solve(sp.Eq(chi1, 1), sigma_w)[0]
    # On the EOC with sigma_b = 0 every q is fixed: F(q) - q = 0 identically.
    fixed = sp.simplify(F.subs({sigma_w: sw_eoc}) - q)
    sb_eoc = sp.solve(sp.Eq(fixed, 0), sigma_b)
    f_eoc = sp.simplify(f.subs({sigma_w: sw_eoc, sigma_b: 0}))
    df_eoc = sp.simplify(sp.diff(f_eoc, c))
    # 1 - f(1 - eps) = eps - k eps^{3/2} + ...: leading coefficient k.
    series = sp.series(1 - f_eoc.subs(c, 1 - eps), eps, 0, 2).removeO()
    k = sp.simplify(-sp.expand(series - eps).coeff(eps ** sp.Rational(3, 2)))
    # Continuum limit d eps / d ell = -k eps^{3/2}  =>  eps ~ 4 / (k^2 ell^2).
    e = sp.Function("e")
    sol = sp.dsolve(sp.Eq(e(ell).diff(ell), -k * e(ell) ** sp.Rational(3, 2)), e(ell))
    sol = sol[0] if isinstance(sol, list) else sol
    asym = sp.limit(sol.rhs * ell**2, ell, sp.oo)
    return [
        Derivation("relu.moment2", "Second moment of ReLU", r"\mathbb{E}[\mathrm{relu}(\sqrt{q}Z)^2]", fam["m2"], (q,)),
        Derivation("relu.variance_map", "Variance map", r"F(q)", sp.expand(F), (q, sigma_w, sigma_b)),
        Derivation("relu.chi_1", "Slope of the correlation map at c = 1", r"\chi_1", chi1, (sigma_w,)),
        Derivation(
            "relu.kernel",
            "Arc-cosine kernel (polar coordinates)",
            r"\mathbb{E}[\mathrm{relu}(u_1)\mathrm{relu}(u_2)]",
            K,
            (q1, q2, c),
        ),
        Derivation(
            "relu.correlation_map",
            "Correlation map at the fixed point q*",
            r"f(c)",
            f,
            (c, q, sigma_w, sigma_b),
        ),
        Derivation("relu.eoc_sigma_w", "EOC weight scale (chi_1 = 1)", r"\sigma_w^{\mathrm{EOC}}", sw_eoc, ()),
        Derivation(
            "relu.eoc_sigma_b",
            "EOC bias scale (q* exists with chi_1 = 1)",
            r"\sigma_b^{\mathrm{EOC}}",
            sb_eoc[0] if sb_eoc else sp.Integer(0),
            (),
        ),
        Derivation("relu.eoc_correlation_map", "Correlation map on the EOC", r"f_{\mathrm{EOC}}(c)", f_eoc, (c,)),
        Derivation("relu.eoc_slope", "Its slope", r"f_{\mathrm{EOC}}'(c)", df_eoc, (c,)),
        Derivation(
            "relu.eoc_contraction",
            "Contraction on the EOC: with eps = 1 - c, eps' = eps - k eps^(3/2) + O(eps^2)",
            r"k",
            k,
            (),
        ),
        Derivation(
            "relu.eoc_asymptotic",
            "Limit of l^2 (1 - c^l) on the EOC",
            r"\lim_{\ell\to\infty} \ell^2 (1 - c^\ell)",
            sp.simplify(asym),
            (),
        ),
    ]


def _leaky_relu() -> list[Derivation]:
    fam = _relu_family(a)
    chi1 = sp.simplify(sigma_w**2 * fam["d2"])
    sw2 = sp.solve(sp.Eq(chi1, 1), sigma_w**2)
    sw_eoc = sp.simplify(sp.sqrt(sw2[0])) if sw2 else sp.simplify(sp.solve(sp.Eq(chi1, 1), sigma_w)[0])
    return [
        Derivation("leaky_relu.moment2", "Second moment", r"\mathbb{E}[\phi_a(\sqrt{q}Z)^2]", fam["m2"], (q, a)),
        Derivation("leaky_relu.chi_1", "chi_1", r"\chi_1", chi1, (sigma_w, a)),
        Derivation("leaky_relu.eoc_sigma_w", "EOC weight scale (sigma_b = 0)", r"\sigma_w^{\mathrm{EOC}}", sw_eoc, (a,)),
    ]


def _linear() -> list[Derivation]:
    fam = _relu_family(sp.Integer(1))
    F = sigma_b**2 + sigma_w**2 * fam["m2"]
    chi1 = sp.simplify(sigma_w**2 * fam["d2"])
    sw_eoc = sp.solve(sp.Eq(chi1, 1), sigma_w)[0]
    sb_eoc = sp.solve(sp.Eq(F.subs(sigma_w, sw_eoc), q), sigma_b)
    return [
        Derivation("linear.variance_map", "Variance map", r"F(q)", sp.expand(F), (q, sigma_w, sigma_b)),
        Derivation("linear.chi_1", "chi_1", r"\chi_1", chi1, (sigma_w,)),
        Derivation("linear.eoc_sigma_w", "EOC weight scale", r"\sigma_w^{\mathrm{EOC}}", sw_eoc, ()),
        Derivation("linear.eoc_sigma_b", "EOC bias scale", r"\sigma_b^{\mathrm{EOC}}", sb_eoc[0], ()),
    ]


def _mbp() -> list[Derivation]:
    pdf_tau = _PDF.subs(z, tau)
    keep = sp.simplify(2 * sp.integrate(_PDF, (z, tau, sp.oo)))
    kept_moment = sp.simplify(2 * sp.integrate(z**2 * _PDF, (z, tau, sp.oo)))
    # The identity E[Z^2; |Z| > tau] = k + 2 tau phi(tau), derived: the difference simplifies to 0.
    residual = sp.simplify(kept_moment - keep - 2 * tau * pdf_tau)
    if residual != 0:  # pragma: no cover - a sympy regression would show here
        raise ArithmeticError(f"MBP identity failed to simplify: {residual}")
    return [
        Derivation("mbp.keep_fraction", "Fraction of weights with |W| above tau sigma", r"k(\tau)", keep, (tau,)),
        Derivation(
            "mbp.kept_second_moment",
            "Kept second moment (in units of the weight variance)",
            r"\mathbb{E}[Z^2 \mathbf{1}\{|Z|>\tau\}]",
            kept_moment,
            (tau,),
        ),
        Derivation(
            "mbp.effective_variance",
            "Effective weight variance after magnitude pruning, k = k(tau)",
            r"\sigma_{w,\mathrm{eff}}^2 / \sigma_w^2",
            k_keep + 2 * tau * pdf_tau,
            (k_keep, tau),
        ),
    ]


def _resnet() -> list[Derivation]:
    qf = sp.Function("q")
    factor = 1 + alpha**2 * sigma_w**2 / 2  # ReLU, sigma_b = 0: F(q) = sigma_w^2 q / 2
    sol = sp.rsolve(qf(n_layer + 1) - qf(n_layer) * factor, qf(n_layer), {qf(0): q0})
    stable = sp.simplify(sol.subs({alpha: 1 / sp.sqrt(L_depth), n_layer: L_depth}) / q0)
    limit = sp.limit(stable, L_depth, sp.oo)
    return [
        Derivation(
            "resnet.variance",
            "ReLU ResNet variance after n residual layers (sigma_b = 0); gradients grow by the same factor",
            r"q^{n}",
            sp.simplify(sol),
            (q0, alpha, sigma_w, n_layer),
        ),
        Derivation(
            "resnet.stable_growth",
            "Stable ResNet (alpha = 1/sqrt(L)): growth over all L layers",
            r"q^{L}/q^{0}",
            stable,
            (sigma_w, L_depth),
        ),
        Derivation("resnet.stable_limit", "Its limit as L grows: bounded", r"\lim_{L\to\infty} q^L/q^0", limit, (sigma_w,)),
    ]


def _random_pruning() -> list[Derivation]:
    u = sp.symbols("u", positive=True)
    # Random pruning keeps each weight independently of its value (uniform score U below k),
    # so E[Z^2 1{kept}] = E[Z^2] P(U < k) with E[Z^2] = 1; k <= 1 resolves Min(1, k).
    kept = sp.integrate(sp.Piecewise((1, u < k_keep), (0, True)), (u, 0, 1))
    kept = sp.simplify(kept.subs(sp.Min(1, k_keep), k_keep))
    chi_ratio = sp.simplify(kept)  # chi_1 is linear in sigma_w^2
    relu_chi = sp.simplify(kept * sigma_w**2 / 2)
    eoc_sw = sp.solve(sp.Eq(relu_chi, 1), sigma_w)
    return [
        Derivation("random_pruning.effective_variance", "sigma_eff^2 / sigma_w^2 at keep fraction k", r"\sigma_{w,\mathrm{eff}}^2/\sigma_w^2", kept, (k_keep,)),
        Derivation("random_pruning.chi_ratio", "chi_1 of the pruned network over chi_1 before pruning", r"\chi_1^{\mathrm{pruned}}/\chi_1", chi_ratio, (k_keep,)),
        Derivation("random_pruning.relu_eoc_sigma_w", "ReLU EOC weight scale of the pruned network", r"\sigma_w^{\mathrm{EOC}}(k)", eoc_sw[0], (k_keep,)),
    ]


_TOPICS: dict[str, Callable[[], list[Derivation]]] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
    "mbp": _mbp,
    "resnet": _resnet,
    "random_pruning": _random_pruning,
}


def topics() -> tuple[str, ...]:
    """Names accepted by :func:`derive`."""
    return tuple(_TOPICS)


def derive(topic: str) -> list[Derivation]:
    """Run the derivations of one topic (see :func:`topics`)."""
    if topic not in _TOPICS:
        raise ValueError(f"unknown derivation topic {topic!r}; available: {', '.join(topics())}")
    return _TOPICS[topic]()


def render_latex(derivations: list[Derivation]) -> str:
    """A LaTeX ``align*`` block with one line per derivation, each with its description."""
    lines = [r"\begin{align*}"]
    for i, d in enumerate(derivations):
        end = r" \\" if i < len(derivations) - 1 else ""
        text = d.description.replace("_", r"\_").replace("^", r"\^{}")
        lines.append(f"  {d.lhs} &= {sp.latex(d.rhs)} && \\text{{{text}}}{end}")
    lines.append(r"\end{align*}")
    return "\n".join(lines)
