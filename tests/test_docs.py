"""The theory reference docs/theory.md: its structure, its references to the code, and a
numerical twin of every closed form it states.

Structure: the ten fixed sections (helper guide section 1) and their numbered subsections;
every ``docs/theory.md §N`` citation anywhere in the repository's ``.py`` and ``.md`` files
points to a section (or subsection) that exists; every code name the document cites
(``eoc.x.y``, ``proofs_check...``, ``paper_repro...``, file paths) exists, found by parsing
the source with :mod:`ast` (no import, so no torch); every claim id it cites is registered;
every setting it quotes as ``name`` (= value) equals the value in the code.

Mathematics: each closed form of the document is checked by an independent route
(scipy/mpmath quadrature, a Monte-Carlo histogram, a fitted rate, an ODE solve), and, where
the library implements it, against the library.  All randomness is seeded; tolerances are
stated where they are used.
"""

from __future__ import annotations

import ast
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, special

import eoc
from eoc._arch import as_architecture, layer_profile

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "theory.md"

#: The fixed section numbering of docs/theory.md (helper guide, section 1).
SECTIONS = {
    1: "Networks and initialization",
    2: "Forward mean-field maps, fixed points, phases, EOC",
    3: "Backward (gradient) maps",
    4: "Pruning at initialization: scores, score laws, critical sparsity (iid model), keep fractions",
    5: "The pruned network leaves the EOC; effective variance; the rescaling trick",
    6: "ResNets and Stable ResNet",
    7: "The experiments E1-E9",
    8: "Finite width and batch: the corrected critical-sparsity model",
    9: "Numerics (quadrature, root finding, interpolants, tolerances)",
    10: "Where the founding notes were wrong",
}


@lru_cache(maxsize=None)
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


# ============================================================================ structure


def headings() -> tuple[list[tuple[int, str]], list[tuple[int, int, str]]]:
    sections, subsections = [], []
    for line in doc_text().splitlines():
        m = re.match(r"^## §(\d+) (.+)$", line)
        if m:
            sections.append((int(m.group(1)), m.group(2).strip()))
        m = re.match(r"^### §(\d+)\.(\d+) (.+)$", line)
        if m:
            subsections.append((int(m.group(1)), int(m.group(2)), m.group(3).strip()))
    return sections, subsections


def test_the_document_has_exactly_the_ten_fixed_sections_in_order():
    sections, _ = headings()
    assert sections == list(SECTIONS.items())


def test_subsections_are_numbered_consecutively_inside_their_section():
    sections, subsections = headings()
    order = []
    current = None
    for line in doc_text().splitlines():
        m = re.match(r"^## §(\d+) ", line)
        if m:
            current = int(m.group(1))
        m = re.match(r"^### §(\d+)\.(\d+) ", line)
        if m:
            assert int(m.group(1)) == current, f"subsection {m.group(0)} sits in section {current}"
            order.append((int(m.group(1)), int(m.group(2))))
    by_section: dict[int, list[int]] = {}
    for s, n in order:
        by_section.setdefault(s, []).append(n)
    for s, nums in by_section.items():
        assert nums == list(range(1, len(nums) + 1)), f"section {s}: subsections {nums}"
    assert len(subsections) >= 20


_NUM = r"\d+(?:\.\d+)?"
_CITATION = re.compile(rf"docs/theory\.md\s*(§+\s*{_NUM}(?:\s*(?:,|-|–|and|&)\s*§*\s*{_NUM})*)")


def cited_sections(text: str) -> list[str]:
    """Every section id cited as ``docs/theory.md §N`` (also ``§N.M``, ``§4-5``, ``§§4, 6``) in ``text``.

    A range ``§4-6`` yields its endpoints and everything between.
    """
    out = []
    for m in _CITATION.finditer(text):
        group = m.group(1)
        parts = re.findall(r"\d+(?:\.\d+)?", group)
        out.extend(parts)
        for a, b in re.findall(r"(\d+)\s*[-–]\s*§*\s*(\d+)(?!\.)", group):
            out.extend(str(n) for n in range(int(a) + 1, int(b)))
    return out


def test_citation_parser_reads_single_ranges_and_subsections():
    text = "see docs/theory.md §4, docs/theory.md §2.5 and docs/theory.md §§5-7; docs/theory.md§9"
    assert sorted(cited_sections(text), key=float) == ["2.5", "4", "5", "6", "7", "9"]
    assert cited_sections("THEORY.md section 4") == []


def repository_sources() -> list[Path]:
    """The .py and .md files of the checkout, outside hidden folders (.venv, .git, .cache)."""
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        files.extend(Path(folder) / n for n in names if n.endswith((".py", ".md")))
    return files


def test_every_theory_md_citation_in_the_repository_resolves_to_an_existing_section():
    """Every ``docs/theory.md §N`` (or ``§N.M``) in a .py or .md file of the repository exists."""
    sections, subsections = headings()
    known = {str(n) for n, _ in sections} | {f"{s}.{n}" for s, n, _ in subsections}
    bad, found = [], 0
    for path in repository_sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for sec in cited_sections(text):
            found += 1
            if sec not in known:
                bad.append(f"{path.relative_to(ROOT)}: docs/theory.md §{sec}")
    assert found > 0, "no docs/theory.md citation found: the scan is broken"
    assert not bad, "citations of missing sections:\n" + "\n".join(bad)


# ---------------------------------------------------------------- code references (by ast)

_PACKAGES = ("eoc", "proofs_check", "paper_repro")


@lru_cache(maxsize=None)
def module_ast(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def module_file(parts: tuple[str, ...]) -> Path | None:
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def top_level_names(tree: ast.Module) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def class_members(node: ast.ClassDef) -> set[str]:
    out = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out.add(item.target.id)
        elif isinstance(item, ast.Assign):
            out.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return out


def resolve(dotted: str) -> str | None:
    """None when ``dotted`` names an existing module, module attribute or class member; else why not."""
    parts = tuple(dotted.split("."))
    for cut in range(len(parts), 0, -1):
        path = module_file(parts[:cut])
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return None
        names = top_level_names(module_ast(path))
        if rest[0] not in names:
            return f"{rest[0]!r} is not defined in {path.relative_to(ROOT)}"
        if len(rest) == 1:
            return None
        node = names[rest[0]]
        if isinstance(node, ast.ClassDef) and len(rest) == 2 and rest[1] in class_members(node):
            return None
        return f"{'.'.join(rest[1:])!r} is not a member of {rest[0]!r} in {path.relative_to(ROOT)}"
    return "no such module"


def code_spans() -> list[str]:
    return re.findall(r"`([^`\n]+)`", doc_text())


def test_every_code_name_the_document_cites_exists():
    dotted = sorted({s for s in code_spans() if re.fullmatch(r"[A-Za-z_][\w.]*", s) and s.split(".")[0] in _PACKAGES and "." in s})
    assert len(dotted) > 60
    bad = [f"{name}: {why}" for name in dotted if (why := resolve(name)) is not None]
    assert not bad, "\n".join(bad)


def test_every_file_or_folder_the_document_cites_exists():
    # figures/ is written by `make figures` (generated, not in the checkout).
    paths = sorted(
        {s for s in code_spans() if "/" in s and " " not in s and "<" not in s and not s.startswith(("docs/theory.md", "figures/"))}
    )
    assert len(paths) > 10
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, missing


def registered_claims() -> set[str]:
    ids = set()
    for path in (ROOT / "proofs_check" / "claims").glob("*.py"):
        ids.update(re.findall(r"@claim\(\s*\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    return ids


def test_every_claim_id_the_document_cites_is_registered_in_proofs_check():
    cited = {s for s in code_spans() if re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)+", s)}
    assert len(cited) >= 8
    assert cited <= registered_claims(), sorted(cited - registered_claims())


_SETTING = re.compile(r"`([A-Za-z_]\w*(?:\.\w+)+)`\s+\(= ([^()]*(?:\([^()]*\))?[^()]*)\)")


def test_every_setting_quoted_as_name_equals_value_matches_the_code():
    quoted = _SETTING.findall(doc_text())
    assert len(quoted) >= 5
    for dotted, value in quoted:
        parts = tuple(dotted.split("."))
        path = module_file(parts[:-1])
        assert path is not None, dotted
        node = top_level_names(module_ast(path)).get(parts[-1])
        assert isinstance(node, (ast.Assign, ast.AnnAssign)), f"{dotted} is not a module-level constant"
        assert ast.literal_eval(node.value) == ast.literal_eval(value), f"{dotted}: code {ast.unparse(node.value)}, doc {value}"


# ============================================================================ mathematics

SQRT2 = math.sqrt(2.0)


def gauss(g, q: float) -> float:
    """E[g(sqrt(q) Z)] by adaptive quadrature, split at the origin (independent of eoc._quad)."""
    s = math.sqrt(q)

    def integrand(z):
        return (g(s * z) + g(-s * z)) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    return integrate.quad(integrand, 0.0, 12.0, limit=200, epsabs=1e-14, epsrel=1e-12)[0]


# ---------------------------------------------------------------- §4.4 the product-normal law


def test_product_normal_density_2_k0_over_pi_integrates_to_one_and_k0_over_pi_to_one_half():
    total = integrate.quad(lambda x: 2.0 / math.pi * special.k0(x), 0.0, np.inf, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-12)
    half = integrate.quad(lambda x: special.k0(x) / math.pi, 0.0, np.inf, limit=200)[0]
    assert half == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("x", [0.01, 0.3, 1.0, 4.0])
def test_conditioning_on_one_factor_gives_the_bessel_integral(x):
    """int_0^inf exp(-(x^2/y^2 + y^2)/2) dy / y = K_0(x) (the step y = sqrt(x) e^{s/2} of the derivation)."""
    val = integrate.quad(lambda y: math.exp(-0.5 * (x * x / (y * y) + y * y)) / y, 0.0, np.inf, limit=400)[0]
    assert val == pytest.approx(special.k0(x), rel=1e-10)


def test_product_normal_density_matches_a_monte_carlo_histogram_of_abs_z1_z2():
    """Counts of |Z1 Z2| per bin against n times the integral of 2 K0/pi over the bin: every bin within
    5 binomial standard errors.  With K0/pi the counts would be twice the expectation."""
    rng = np.random.default_rng(20210101)
    n = 400_000
    g = np.abs(rng.standard_normal(n) * rng.standard_normal(n))
    edges = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5, 7.0])
    counts, _ = np.histogram(g, bins=edges)
    probs = np.array(
        [integrate.quad(lambda x: 2.0 / math.pi * special.k0(x), a, b, limit=200)[0] for a, b in zip(edges[:-1], edges[1:])]
    )
    expected = n * probs
    z = (counts - expected) / np.sqrt(expected * (1.0 - probs))
    assert np.max(np.abs(z)) < 5.0, z
    z_half = (counts - expected / 2.0) / np.sqrt(expected / 2.0)
    assert np.min(z_half) > 20.0  # the founding note's K0/pi is far off


@pytest.mark.parametrize("x", [0.05, 0.3652, 1.0, 3.0, 8.0])
def test_product_normal_cdf_is_the_struve_closed_form(x):
    quad = integrate.quad(lambda t: 2.0 / math.pi * special.k0(t), 0.0, x, limit=200)[0]
    struve = x * (special.k0(x) * special.modstruve(-1, x) + special.k1(x) * special.modstruve(0, x))
    assert struve == pytest.approx(quad, rel=1e-11)
    assert float(eoc.ProductNormal().cdf(x)) == pytest.approx(quad, rel=1e-12)


def test_product_normal_moments_are_2_over_pi_and_1():
    m1 = integrate.quad(lambda x: x * 2.0 / math.pi * special.k0(x), 0.0, np.inf, limit=200)[0]
    m2 = integrate.quad(lambda x: x * x * 2.0 / math.pi * special.k0(x), 0.0, np.inf, limit=200)[0]
    assert m1 == pytest.approx(2.0 / math.pi, rel=1e-11)
    assert m2 == pytest.approx(1.0, rel=1e-11)
    assert eoc.ProductNormal().mean == pytest.approx(2.0 / math.pi, rel=1e-15)


# ---------------------------------------------------------------- §4.5 critical sparsity of the iid model


def expected_s_cr(law, a, m) -> float:
    """E[s(t_cr)] = int s'(t) prod_l (1 - F(t/a_l)^{M_l}) dt by scipy quadrature (independent of eoc)."""
    a, m = np.asarray(a, float), np.asarray(m, float)
    total = m.sum()

    def survival(t):
        return float(np.prod(-np.expm1(m * np.log1p(-law.sf(t / a)))))

    def ds(t):
        return float(np.sum(m * law.pdf(t / a) / a) / total)

    lo = float(np.min(a * law.isf(np.minimum(50.0 / m, 0.5))))
    hi = float(np.min(a * law.isf(1e-12 / m)))
    s_lo = float(np.sum(m * law.cdf(lo / a)) / total)
    return s_lo + integrate.quad(lambda t: ds(t) * survival(t), lo, hi, limit=400, epsabs=1e-14, epsrel=1e-12)[0]


@pytest.mark.parametrize("L, m", [(1, 2_000), (2, 5_000), (20, 3_000)])
@pytest.mark.parametrize("law", [eoc.HalfNormal(), eoc.ProductNormal()], ids=lambda l: l.name)
def test_expected_s_cr_of_equal_layers_is_the_gamma_function_closed_form(L, m, law):
    closed = math.exp(math.lgamma(L + 1) + math.lgamma(1 + 1 / m) - math.lgamma(L + 1 + 1 / m))
    a, mm = np.ones(L), np.full(L, float(m))
    assert expected_s_cr(law, a, mm) == pytest.approx(closed, abs=1e-10)
    method = "magnitude" if law.name == "half_normal" else "snip"
    assert eoc.critical_sparsity_from_scales(method, a, mm).s_cr == pytest.approx(closed, abs=1e-9)
    if L >= 2:  # competition: the extreme-value estimate 1 - 1/m is biased high
        assert 1.0 - 1.0 / m > closed


def test_exact_expected_s_cr_matches_monte_carlo_iid_scores_and_the_extreme_value_estimate_is_low():
    """One layer (scale 0.6) collapses well before two others: the location effect dominates.

    Tolerance: 4 standard errors of the Monte-Carlo mean plus L/M, the bound on the difference
    between the expectation of the empirical count and E[s(t_cr)] (docs/theory.md §4.5)."""
    a, m = np.array([0.6, 1.0, 1.0]), np.array([2000, 2000, 2000])
    law = eoc.HalfNormal()
    exact = expected_s_cr(law, a, m)
    rng = np.random.default_rng(7)
    reps = 1500
    scores = [np.abs(rng.standard_normal((reps, int(mm)), dtype=np.float32)) * np.float32(aa) for aa, mm in zip(a, m)]
    t_cr = np.min(np.stack([s.max(axis=1) for s in scores], axis=1), axis=1)
    s_hat = sum((s < t_cr[:, None]).sum(axis=1) for s in scores) / m.sum()
    mean, se = s_hat.mean(), s_hat.std(ddof=1) / math.sqrt(reps)
    tol = 4 * se + len(m) / m.sum()
    assert abs(mean - exact) < tol
    ev = eoc.critical_sparsity_from_scales("magnitude", a, m, estimator="extreme_value").s_cr
    t_ev = float(np.min(a * law.isf(1.0 / m)))
    assert ev == pytest.approx(float(np.sum(m * law.cdf(t_ev / a)) / m.sum()), rel=1e-14)
    assert ev < mean - tol
    assert eoc.critical_sparsity_from_scales("magnitude", a, m).s_cr == pytest.approx(exact, abs=1e-10)


def test_extreme_value_bias_is_positive_and_of_the_first_order_size_for_a_magnitude_pruned_ffnn():
    """784-100x9-10 under magnitude pruning: E[s(t_cr)] - s_EV > 0, and the first-order location term
    s'(t_EV) (E[t_cr] - t_EV) overestimates it only by the (negative) concavity term: within a factor 1.5."""
    arch = as_architecture([784] + [100] * 9 + [10])
    law = eoc.HalfNormal()
    a, m = eoc.score_scales("magnitude", arch, "tanh", 1.0, 0.2), arch.n_weights
    exact = eoc.critical_sparsity_from_scales("magnitude", a, m)
    ev = eoc.critical_sparsity_from_scales("magnitude", a, m, estimator="extreme_value")
    bias = exact.s_cr - ev.s_cr
    s_prime = float(np.sum(m * law.pdf(ev.t_cr / a) / a) / m.sum())
    first_order = s_prime * (exact.t_cr - ev.t_cr)
    assert exact.t_cr > ev.t_cr
    assert 0 < bias < first_order < 1.5 * bias
    # The Gumbel location b_M = Q(1 - 1/M) sits below the mean by about gamma * beta_M.
    l_star = ev.first_layer
    beta = 1.0 / (m[l_star] * float(law.pdf(law.isf(1.0 / m[l_star]))))
    gumbel = np.euler_gamma * a[l_star] * beta
    assert exact.t_cr - ev.t_cr == pytest.approx(gumbel, rel=0.15)


@pytest.mark.parametrize("mult, depth", [(0.8, 30), (1.5, 30)], ids=["ordered", "chaotic"])
def test_extreme_value_estimate_is_biased_low_for_snip_off_the_eoc(mult, depth):
    """SNIP on a tanh FFNN 784-100x(L-1)-10 off the EOC: one end of the network collapses first."""
    sw = mult * float(eoc.edge_of_chaos("tanh", 0.2))
    widths = [784] + [100] * (depth - 1) + [10]
    exact = eoc.critical_sparsity("snip", widths, "tanh", sw, 0.2, model="iid")
    ev = eoc.critical_sparsity("snip", widths, "tanh", sw, 0.2, model="iid", estimator="extreme_value")
    assert exact.s_cr > ev.s_cr and exact.t_cr > ev.t_cr


def test_expected_s_cr_is_invariant_under_a_common_scale_of_the_layers():
    a, m = np.array([0.3, 1.0, 0.7, 2.0]), np.array([4000.0, 900.0, 2500.0, 100.0])
    law = eoc.HalfNormal()
    assert expected_s_cr(law, 7.5 * a, m) == pytest.approx(expected_s_cr(law, a, m), abs=1e-11)


# ---------------------------------------------------------------- §5 effective variance


@pytest.mark.parametrize("k", [0.01, 0.1, 0.5, 0.9])
def test_magnitude_kept_second_moment_is_k_plus_2_tau_phi_tau(k):
    tau = special.ndtri(1.0 - k / 2.0)
    quad = 2.0 * integrate.quad(lambda z: z * z * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi), tau, np.inf)[0]
    closed = k + 2.0 * tau * math.exp(-0.5 * tau * tau) / math.sqrt(2 * math.pi)
    assert quad == pytest.approx(closed, rel=1e-11)
    assert float(eoc.effective_sigma_w("magnitude", k, 1.0)) ** 2 == pytest.approx(closed, rel=1e-12)
    assert float(eoc.rescale_factor("magnitude", k)) == pytest.approx(closed**-0.5, rel=1e-12)


@pytest.mark.parametrize("k", [0.02, 0.2, 0.6])
def test_snip_kept_second_moment_is_k_plus_t_f_of_t_under_the_product_normal_model(k):
    """E[Z1^2 1{|Z1 Z2| > t}] by conditioning on |Z2| (1-D quadrature) against k + (2t/pi) K0(t)."""
    law = eoc.ProductNormal()
    t = float(law.isf(k))

    def inner(y):  # E[Z1^2 1{|Z1| > t / y}] times the half-normal density of y
        tau = t / y
        return (special.erfc(tau / SQRT2) + 2 * tau * math.exp(-0.5 * tau * tau) / math.sqrt(2 * math.pi)) * (
            2 * math.exp(-0.5 * y * y) / math.sqrt(2 * math.pi)
        )

    quad = integrate.quad(inner, 0.0, np.inf, limit=400, epsabs=1e-14)[0]
    closed = k + 2.0 * t / math.pi * special.k0(t)
    assert quad == pytest.approx(closed, rel=1e-9)
    assert float(law.truncated_second_moment(t)) == pytest.approx(closed, rel=1e-12)


def test_random_pruning_keeps_k_of_the_variance():
    assert float(eoc.effective_sigma_w("random", 0.3, 2.0)) ** 2 == pytest.approx(0.3 * 4.0, rel=1e-14)


# ---------------------------------------------------------------- §2.6 closed forms


def relu_kernel_by_quadrature(c: float) -> float:
    """E[relu(Z1) relu(c Z1 + s Z2)] = E_z1[relu(z1) (m Phi(m/s) + s phi(m/s))], m = c z1, s = sqrt(1-c^2)."""
    s = math.sqrt(1.0 - c * c)

    def integrand(z):
        mz = c * z
        return z * (mz * special.ndtr(mz / s) + s * math.exp(-0.5 * (mz / s) ** 2) / math.sqrt(2 * math.pi)) * math.exp(
            -0.5 * z * z
        ) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, 0.0, 12.0, epsabs=1e-15, epsrel=1e-13)[0]


def relu_eoc_map(c: float) -> float:
    return c + (math.sqrt(1.0 - c * c) - c * math.acos(c)) / math.pi


@pytest.mark.parametrize("c", [-0.9, -0.3, 0.0, 0.4, 0.95])
def test_relu_eoc_correlation_map_is_the_arc_cosine_kernel(c):
    assert 2.0 * relu_kernel_by_quadrature(c) == pytest.approx(relu_eoc_map(c), rel=1e-11)
    assert float(eoc.correlation_map(c, "relu", SQRT2, 0.0)) == pytest.approx(relu_eoc_map(c), rel=1e-13)
    h = 1e-6
    slope = (relu_eoc_map(c + h) - relu_eoc_map(c - h)) / (2 * h)
    assert slope == pytest.approx(1.0 - math.acos(c) / math.pi, rel=1e-8)


def relu_gap(eps: float) -> float:
    """1 - f(1 - eps) on the ReLU EOC, without cancellation: eps - (sin t - t cos t)/pi, t = arccos(1 - eps)."""
    theta = 2.0 * math.asin(math.sqrt(eps / 2.0))
    if theta > 0.5:
        h = math.sin(theta) - theta * math.cos(theta)
    else:  # sin t - t cos t = sum_k (-1)^(k+1) 2k t^(2k+1) / (2k+1)!
        h = sum((-1) ** (k + 1) * 2 * k * theta ** (2 * k + 1) / math.factorial(2 * k + 1) for k in range(1, 9))
    return eps - h / math.pi


def test_relu_eoc_gap_has_the_three_halves_coefficient_2_sqrt2_over_3_pi():
    k = 2.0 * SQRT2 / (3.0 * math.pi)
    eps = np.geomspace(1e-8, 1e-3, 6)
    coef = np.array([(e - relu_gap(e)) / e**1.5 for e in eps])
    assert np.all(np.abs(coef / k - 1.0) < 10 * eps)  # next term O(eps)


def test_relu_eoc_one_minus_c_decays_like_9_pi_squared_over_2_l_squared():
    """Rate test: log-log slope -2 over l in [2e3, 2e4], and l^2 (1 - c^l) -> 9 pi^2 / 2 with an error
    that shrinks by more than 5x from l = 2e3 to l = 2e4 (the correction is O(log l / l))."""
    eps, depth = 1.0, 20_000
    record = {}
    for l in range(1, depth + 1):
        eps = relu_gap(eps)
        if l in (2_000, 4_000, 8_000, 20_000):
            record[l] = eps
    ls = np.array(sorted(record), dtype=float)
    slope = np.polyfit(np.log(ls), np.log([record[int(l)] for l in ls]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.01)
    limit = 9 * math.pi**2 / 2
    err = {l: abs(l * l * record[l] / limit - 1.0) for l in (2_000, 20_000)}
    assert err[20_000] < 0.005
    assert err[20_000] < err[2_000] / 5


@pytest.mark.parametrize("a", [0.0, 0.1, 0.5, 1.0])
def test_leaky_relu_moments_and_eoc_weight_scale(a):
    phi = lambda x: x if x > 0 else a * x  # noqa: E731
    dphi = lambda x: 1.0 if x > 0 else a  # noqa: E731
    assert gauss(lambda u: phi(u) ** 2, 2.5) == pytest.approx((1 + a * a) / 2 * 2.5, rel=1e-11)
    assert gauss(lambda u: dphi(u) ** 2, 2.5) == pytest.approx((1 + a * a) / 2, rel=1e-11)
    act = eoc.get_activation("leaky_relu", negative_slope=a)
    assert float(eoc.edge_of_chaos(act, 0.0)) ** 2 == pytest.approx(2.0 / (1 + a * a), rel=1e-14)


@pytest.mark.parametrize("q1, q2, c", [(0.5, 2.0, 0.3), (3.0, 3.0, -0.7), (1.0, 0.2, 0.95)])
def test_erf_kernel_closed_form_and_its_price_derivative(q1, q2, c):
    """E over z1 of erf(sqrt(q1) z1) erf(m / sqrt(1 + 2 v)) with m, v the conditional mean and variance of u2."""
    m_coef, v = math.sqrt(q2) * c, q2 * (1 - c * c)

    def integrand(z):
        return special.erf(math.sqrt(q1) * z) * special.erf(m_coef * z / math.sqrt(1 + 2 * v)) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    quad = integrate.quad(integrand, -12.0, 12.0, epsabs=1e-15, epsrel=1e-13)[0]

    def kernel(q12):
        return 2 / math.pi * math.asin(2 * q12 / math.sqrt((1 + 2 * q1) * (1 + 2 * q2)))

    q12 = c * math.sqrt(q1 * q2)
    assert kernel(q12) == pytest.approx(quad, rel=1e-11)
    h = 1e-6
    price = (kernel(q12 + h) - kernel(q12 - h)) / (2 * h)
    assert price == pytest.approx(4 / (math.pi * math.sqrt((1 + 2 * q1) * (1 + 2 * q2) - 4 * q12 * q12)), rel=1e-8)


def test_eoc_at_zero_bias_is_one_over_phi_prime_squared_or_the_two_sided_limit_at_a_kink():
    assert float(eoc.edge_of_chaos("tanh", 0.0)) == pytest.approx(1.0, rel=1e-14)
    from eoc._activations import SELU_ALPHA, SELU_SCALE

    selu = math.sqrt(2.0 / (SELU_SCALE**2 * (1.0 + SELU_ALPHA**2)))
    assert float(eoc.edge_of_chaos("selu", 0.0)) == pytest.approx(selu, rel=1e-12)


# ---------------------------------------------------------------- §2.5 stability of the EOC

_S = special.expit
ACTS = {
    "gelu": (lambda x: x * special.ndtr(x), lambda x: special.ndtr(x) + x * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
             lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * (2 - x * x)),
    "silu": (lambda x: x * _S(x), lambda x: _S(x) + x * _S(x) * (1 - _S(x)),
             lambda x: _S(x) * (1 - _S(x)) * (2 + x * (1 - 2 * _S(x)))),
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2, lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
}  # fmt: skip


def eoc_point(name: str, q: float) -> tuple[float, float]:
    """(sigma_w^2, sigma_b^2) of the EOC parametrized by the fixed point q (docs/theory.md §2.4)."""
    f, d, _ = ACTS[name]
    sw2 = 1.0 / gauss(lambda u: d(u) ** 2, q)
    return sw2, q - sw2 * gauss(lambda u: f(u) ** 2, q)


@pytest.mark.parametrize("name, q", [("gelu", 0.4), ("silu", 1.5), ("tanh", 0.8)])
def test_chi_q_minus_chi_1_is_sigma_w_squared_times_e_phi_phi_second(name, q):
    f, d, d2 = ACTS[name]
    h = 1e-4 * q
    dm2 = (gauss(lambda u: f(u) ** 2, q + h) - gauss(lambda u: f(u) ** 2, q - h)) / (2 * h)
    stein = gauss(lambda u: u * f(u) * d(u), q) / q
    direct = gauss(lambda u: d(u) ** 2 + f(u) * d2(u), q)
    assert dm2 == pytest.approx(direct, rel=1e-7)
    assert stein == pytest.approx(direct, rel=1e-10)
    assert float(eoc.chi_q(name, 1.3, 0.0, q=q)) - float(eoc.chi_1(name, 1.3, 0.0, q=q)) == pytest.approx(
        1.3**2 * gauss(lambda u: f(u) * d2(u), q), rel=1e-9, abs=1e-13
    )


@pytest.mark.parametrize("name", ["gelu", "silu"])
def test_the_small_bias_eoc_fixed_point_of_gelu_and_silu_is_unstable_and_never_reached(name):
    """At sigma_b = 0.1 the EOC fixed point q* has chi_q > 1: from just above, q^l grows far away; from
    just below it falls to a smaller stable fixed point, where chi_1 < 1 (ordered)."""
    f, d, _ = ACTS[name]
    q_star = optimize.brentq(lambda q: eoc_point(name, q)[1] - 0.01, 0.01, 3.0, xtol=1e-14)
    sw2, _ = eoc_point(name, q_star)
    chi_q = sw2 * gauss(lambda u: u * f(u) * d(u), q_star) / q_star
    assert chi_q > 1.02

    def F(q):
        return 0.01 + sw2 * gauss(lambda u: f(u) ** 2, q)

    q = 1.05 * q_star
    for _ in range(120):
        q = F(q)
    assert q > 10 * q_star
    q, prev = 0.95 * q_star, None
    for _ in range(300):
        prev, q = q, F(q)
        assert q < prev  # monotone decrease towards the lower fixed point
    assert abs(F(q) - q) < 1e-6 * q and q < 0.9 * q_star
    assert sw2 * gauss(lambda u: d(u) ** 2, q) < 1.0


def test_every_tanh_eoc_fixed_point_is_stable():
    f, d, d2 = ACTS["tanh"]
    for q in (0.01, 0.5, 3.0, 20.0):
        sw2, _ = eoc_point("tanh", q)
        assert sw2 * gauss(lambda u: d(u) ** 2 + f(u) * d2(u), q) < 1.0


def test_softplus_has_no_eoc_at_any_bias():
    """sigma_b^2(q) = q - E[phi^2] / E[phi'^2] < 0 on a grid of fixed points spanning 8 decades."""
    f = lambda x: float(np.logaddexp(0.0, x))  # noqa: E731
    d = lambda x: float(_S(x))  # noqa: E731
    for q in np.geomspace(1e-4, 1e4, 17):
        assert q - gauss(lambda u: f(u) ** 2, q) / gauss(lambda u: d(u) ** 2, q) < 0
    with pytest.raises(ValueError, match="no edge of chaos"):
        eoc.edge_of_chaos("softplus", 0.5)


# ---------------------------------------------------------------- §4.1 SynFlow conservation


def _synflow_totals(weights, biases):
    """R = 1^T (f(1)) of the linear network with non-negative weights and biases, and, per layer,
    sum_ij W_ij dR/dW_ij (dR/dW^l = outer(backward row sums, forward signal))."""
    fwd = [np.ones(weights[0].shape[1])]
    for w, b in zip(weights, biases):
        fwd.append(w @ fwd[-1] + b)
    R = fwd[-1].sum()
    back = np.ones(weights[-1].shape[0])
    totals = [0.0] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grad = np.outer(back, fwd[l])
        totals[l] = float(np.sum(weights[l] * grad))
        back = weights[l].T @ back
    return R, totals


def test_synflow_saliency_is_conserved_layer_by_layer_without_biases_and_not_with_them():
    rng = np.random.default_rng(3)
    sizes = [12, 30, 25, 40, 8]
    weights = [np.abs(rng.standard_normal((b, a))) / math.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    zeros = [np.zeros(b) for b in sizes[1:]]
    R, totals = _synflow_totals(weights, zeros)
    np.testing.assert_allclose(totals, R, rtol=1e-12)
    biases = [np.abs(rng.standard_normal(b)) for b in sizes[1:]]
    R_b, totals_b = _synflow_totals(weights, biases)
    for l in range(len(weights)):  # total of layer l = R minus the flow of paths starting at biases m >= l
        no_w = [w if m != l else np.zeros_like(w) for m, w in enumerate(weights)]
        R_without, _ = _synflow_totals(no_w, [b if m >= l else np.zeros_like(b) for m, b in enumerate(biases)])
        assert totals_b[l] == pytest.approx(R_b - R_without, rel=1e-12)
    assert all(x < y for x, y in zip(totals_b[:-1], totals_b[1:]))  # input-side layers carry the least


# ---------------------------------------------------------------- §6 ResNets


def test_stable_resnet_growth_tends_to_exp_sigma_w_squared_over_2_at_rate_one_over_l():
    sw = 1.7
    limit = math.exp(sw**2 / 2)
    depths = np.array([100, 400, 1600, 6400])
    growth = (1 + sw**2 / (2 * depths)) ** depths
    assert np.all(np.diff(growth) > 0) and np.all(growth < limit)
    err = limit - growth
    slope = np.polyfit(np.log(depths), np.log(err), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.01)
    assert err[-1] * depths[-1] == pytest.approx(limit * sw**4 / 8, rel=0.01)
    for L in (10, 200):
        q = eoc.resnet_variances(L, "relu", sw, 0.0, "stable", q0=1.0)
        assert q[-1] == pytest.approx((1 + sw**2 / (2 * L)) ** L, rel=1e-13)
        g = eoc.resnet_gradient_variances(L, "relu", sw, 0.0, "stable", q0=1.0)
        assert g[0] / g[-1] <= limit


def test_stable_resnet_correlation_tends_to_the_ode_solution_at_rate_one_over_l():
    sw, c0 = SQRT2, 0.2
    sol = integrate.solve_ivp(lambda t, c: [sw**2 / 2 * (relu_eoc_map(c[0]) - c[0])], (0, 1), [c0], rtol=1e-12, atol=1e-14)
    c_inf = sol.y[0, -1]
    err = {L: eoc.resnet_correlations(L, c0, "relu", sw, 0.0, "stable")[-1] - c_inf for L in (250, 1000)}
    assert abs(err[1000]) < 2e-4
    assert err[250] / err[1000] == pytest.approx(4.0, rel=0.05)


def test_standard_resnet_correlation_decays_polynomially_with_the_residual_constant():
    """1 - c^l ~ ((1+x)/x)^2 9 pi^2 / (2 l^2) for the standard ReLU ResNet, x = sigma_w^2/2; the recursion
    (docs/theory.md §6.4) agrees with the library for the first 200 layers."""
    sw = 1.2
    x = sw**2 / 2
    eps, record = 0.8, []
    for l in range(1, 20_001):
        eps = (eps + x * relu_gap(eps)) / (1 + x)
        if l <= 200:
            record.append(eps)
    lib = 1.0 - eoc.resnet_correlations(200, 0.2, "relu", sw, 0.0, 1.0)[1:]
    np.testing.assert_allclose(record, lib, rtol=1e-10)
    assert 20_000**2 * eps / (((1 + x) / x) ** 2 * 9 * math.pi**2 / 2) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("alpha", ["standard", "stable"])
def test_every_residual_branch_of_a_relu_resnet_has_the_same_weight_gradient_variance(alpha):
    sw, n_res = SQRT2, 30
    arch = as_architecture([50] + [100] * (n_res + 1) + [10], "resnet", alpha=alpha)
    p = layer_profile(arch, "relu", sw, 0.0)
    x = arch.alpha**2 * sw**2 / 2
    branch = p.weight_grad[1:-1]
    closed = 0.5 * arch.alpha**2 * p.grad_q[-2] * p.q[0] * (1 + x) ** (n_res - 1)
    np.testing.assert_allclose(branch, closed, rtol=1e-12)


def test_float32_standard_resnet_overflows_on_squares_at_about_half_the_depth_of_the_activations():
    """Width-64 ReLU ResNets (sigma_w^2 = 2, q^0 = 1), 8 networks: the first layer where an elementwise
    square overflows is within [-8, +12] of log2(f_max / (2 ln N)) (finite width delays it, docs/theory.md
    §6.2), and the activations overflow at 1.85-2.25 times that depth."""
    rng = np.random.default_rng(11)
    n, reps, depth = 64, 8, 300
    y = rng.standard_normal((reps, n)).astype(np.float32)
    y *= np.float32(math.sqrt(n)) / np.linalg.norm(y, axis=1, keepdims=True)
    first_sq = np.zeros(reps)
    first_act = np.zeros(reps)
    with np.errstate(over="ignore", invalid="ignore"):
        for l in range(1, depth + 1):
            w = rng.standard_normal((reps, n, n), dtype=np.float32) * np.float32(math.sqrt(2.0 / n))
            y = y + (w @ np.maximum(y, 0)[..., None])[..., 0]
            first_sq[(first_sq == 0) & ~np.isfinite(y * y).all(axis=1)] = l
            first_act[(first_act == 0) & ~np.isfinite(y).all(axis=1)] = l
    assert np.all(first_sq > 0) and np.all(first_act > 0)
    f_max = float(np.finfo(np.float32).max)
    assert math.log2(f_max) == pytest.approx(127 + math.log2(2 - 2.0**-23), rel=1e-15)
    predicted = math.log2(f_max / (2 * math.log(n)))
    assert predicted - 8 < np.median(first_sq) < predicted + 12
    assert 1.85 < np.median(first_act) / np.median(first_sq) < 2.25
