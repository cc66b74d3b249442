"""eoc against high-precision mpmath reference values.

The references in ``tests/data/mpmath_references.json`` are computed by
``tests/_precompute/mpmath_references.py`` (an independent mpmath implementation;
its header records the precision, the formulas and how accurate the values are).
Regenerate them with that script, never by hand.

Tolerances (relative unless stated):

* 1-D expectations M2, D2, dM2/dq, the variance fixed point and the edge of chaos:
  ``RTOL_1D = 1e-12``;
* 2-D expectations K, K' and what is solved from them (c*, chi_c): ``RTOL_2D = 1e-11``,
  plus an **absolute** part ``ATOL_2D_SCALE`` times the Cauchy-Schwarz bound
  ``sqrt(E[g(u1)^2] E[g(u2)^2])`` of ``|E[g(u1) g(u2)]|``.  It matters only where the
  reference is ~0 relative to that bound: K at c = 0 for odd activations (tanh, erf;
  exactly 0) and for SELU at q = 1 (E[selu(Z)] = 0 by design of its constants).

Closed-form activations (erf, ReLU, leaky ReLU, linear) are checked through both
routes, ``method="auto"`` (closed form) and ``method="quadrature"``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _helpers import FuncData, RefPoint

import eoc
from eoc import Numerics, get_activation

REFS = json.loads((Path(__file__).parent / "data" / "mpmath_references.json").read_text())

RTOL_1D = 1e-12
RTOL_2D = 1e-11
ATOL_2D_SCALE = 1e-14
QUANTITIES_1D = ("moment2", "deriv_moment2", "dq_moment2")
QUANTITIES_2D = ("kernel", "deriv_kernel")
#: The 1-D second moment whose product bounds each 2-D quantity (Cauchy-Schwarz).
BOUND_2D = {"kernel": "moment2", "deriv_kernel": "deriv_moment2"}


def _activation(row: dict) -> eoc.Activation:
    return get_activation(row["activation"], **row["params"])


def _rows(table: str, method: str) -> list[dict]:
    """Rows of ``table``; for ``method="quadrature"`` only closed-form activations (else it repeats "auto")."""
    rows = REFS[table]
    if method == "quadrature":
        rows = [r for r in rows if _activation(r).closed_forms is not None]
    return rows


@pytest.mark.parametrize("method", ["auto", "quadrature"])
@pytest.mark.parametrize("quantity", QUANTITIES_1D)
def test_expectations_1d_match_mpmath(quantity: str, method: str) -> None:
    """M2(q), D2(q) and dM2/dq agree with mpmath to RTOL_1D for every activation and q."""
    num = Numerics(method=method)
    rows = _rows("one_d", method)
    acts = {_activation(r).label: _activation(r) for r in rows}
    points = [RefPoint(_activation(r).label, {"q": r["q"]}, float(r[quantity])) for r in rows]

    def func(p: RefPoint) -> float:
        return float(getattr(num, quantity)(acts[p.activation], p.args["q"]))

    FuncData(f"{quantity}, method={method!r}", func, points, RTOL_1D).check()


@pytest.mark.parametrize("method", ["auto", "quadrature"])
@pytest.mark.parametrize("quantity", QUANTITIES_2D)
def test_expectations_2d_match_mpmath(quantity: str, method: str) -> None:
    """K and K' at (q1, q2, c) agree with mpmath to RTOL_2D (absolute part: module docstring)."""
    num = Numerics(method=method)
    rows = _rows("two_d", method)
    acts = {_activation(r).label: _activation(r) for r in rows}
    bound = getattr(num, BOUND_2D[quantity])
    points = []
    for r in rows:
        act = acts[_activation(r).label]
        scale = math.sqrt(float(bound(act, r["q1"])) * float(bound(act, r["q2"])))
        args = {"q1": r["q1"], "q2": r["q2"], "c": r["c"]}
        points.append(RefPoint(act.label, args, float(r[quantity]), atol=ATOL_2D_SCALE * scale))

    def func(p: RefPoint) -> float:
        q1, q2, c = p.args["q1"], p.args["q2"], p.args["c"]
        return float(getattr(num, quantity)(acts[p.activation], q1, q2, c * math.sqrt(q1 * q2)))

    FuncData(f"{quantity}, method={method!r}", func, points, RTOL_2D).check()


@pytest.mark.parametrize("field", ["sigma_w", "q_star"])
def test_tanh_edge_of_chaos_matches_mpmath(field: str) -> None:
    """The tanh EOC (sigma_w and its fixed point q*) agrees with mpmath to RTOL_1D."""
    rows = REFS["tanh_eoc"]
    curve = eoc.eoc_curve("tanh", sigma_b=[r["sigma_b"] for r in rows])
    got = dict(zip((r["sigma_b"] for r in rows), getattr(curve, field)))
    points = [RefPoint("tanh", {"sigma_b": r["sigma_b"]}, float(r[field])) for r in rows]
    FuncData(f"tanh EOC {field}", lambda p: got[p.args["sigma_b"]], points, RTOL_1D).check()


def test_tanh_edge_of_chaos_scalar_api_matches_mpmath() -> None:
    """``edge_of_chaos`` on one sigma_b at a time gives the same sigma_w (to RTOL_1D)."""
    points = [RefPoint("tanh", {"sigma_b": r["sigma_b"]}, float(r["sigma_w"])) for r in REFS["tanh_eoc"]]
    name = "edge_of_chaos('tanh', sigma_b)"
    FuncData(name, lambda p: eoc.edge_of_chaos("tanh", p.args["sigma_b"]), points, RTOL_1D).check()


def test_tanh_variance_fixed_point_matches_mpmath() -> None:
    """q* of tanh at several (sigma_w, sigma_b) agrees with mpmath to RTOL_1D."""
    points = [
        RefPoint("tanh", {"sigma_w": r["sigma_w"], "sigma_b": r["sigma_b"]}, float(r["q_star"]))
        for r in REFS["tanh_q_star"]
    ]
    FuncData("q_star", lambda p: eoc.q_star("tanh", **p.args), points, RTOL_1D).check()


@pytest.mark.parametrize("field", ["q_star", "c_star", "chi_c"])
def test_tanh_correlation_fixed_point_matches_mpmath(field: str) -> None:
    """In the chaotic phase, q*, c* and chi_c of tanh agree with mpmath (c*, chi_c: RTOL_2D)."""
    funcs = {
        "q_star": lambda p: eoc.q_star("tanh", **p.args),
        "c_star": lambda p: eoc.c_star("tanh", **p.args),
        "chi_c": lambda p: eoc.chi_c("tanh", **p.args),
    }
    points = [
        RefPoint("tanh", {"sigma_w": r["sigma_w"], "sigma_b": r["sigma_b"]}, float(r[field]))
        for r in REFS["tanh_c_star"]
    ]
    rtol = RTOL_1D if field == "q_star" else RTOL_2D
    FuncData(field, funcs[field], points, rtol).check()


def _other_eoc_cases() -> list[tuple[str, str]]:
    """(activation name, method) pairs: "quadrature" only where it differs from "auto"."""
    names = sorted({r["activation"] for r in REFS["eoc_other"]})
    return [
        (name, method)
        for name in names
        for method in ("auto", "quadrature")
        if method == "auto" or get_activation(name).closed_forms is not None
    ]


@pytest.mark.parametrize(("name", "method"), _other_eoc_cases())
def test_other_edge_of_chaos_matches_mpmath(name: str, method: str) -> None:
    """The chi_1 = 1 points of erf and GELU agree with mpmath to RTOL_1D where they exist, and are refused where not.

    ``missing="keep"`` returns the GELU point at sigma_b = 0.1 too, whose fixed point is
    unstable (so ``edge_of_chaos`` refuses it; tests/test_eoc_stability.py).
    """
    rows = [r for r in REFS["eoc_other"] if r["activation"] == name]
    act = _activation(rows[0])
    num = Numerics(method=method)
    for r in rows:
        if not r.get("exists", True):
            with pytest.raises(ValueError, match="no edge of chaos"):
                eoc.edge_of_chaos(act, r["sigma_b"], numerics=num)
    present = [r for r in rows if r.get("exists", True)]
    curve = eoc.eoc_curve(act, sigma_b=[r["sigma_b"] for r in present], numerics=num, missing="keep")
    for field in ("sigma_w", "q_star"):
        got = dict(zip((r["sigma_b"] for r in present), getattr(curve, field)))
        points = [RefPoint(act.label, {"sigma_b": r["sigma_b"]}, float(r[field])) for r in present]
        name = f"{act.label} EOC {field}, method={method!r}"
        FuncData(name, lambda p: got[p.args["sigma_b"]], points, RTOL_1D).check()


# The founding notes (docs/theory.md §10) quoted the tanh EOC to 4 decimals (measured when it was written).
THEORY_TANH_EOC = [
    (0.2, "sigma_w", 1.3041),
    (0.2, "q_star", 0.5121),
    (0.5, "sigma_w", 1.5497),
    (1.0, "sigma_w", 1.8556),
]


@pytest.mark.parametrize(("sigma_b", "field", "quoted"), THEORY_TANH_EOC)
def test_tanh_edge_of_chaos_matches_theory_md(sigma_b: float, field: str, quoted: float) -> None:
    """The numbers quoted in the founding notes are the exact EOC rounded to their 4 decimals."""
    got = float(getattr(eoc.eoc_curve("tanh", sigma_b=[sigma_b]), field)[0])
    assert round(got, 4) == quoted, f"tanh EOC {field} at sigma_b={sigma_b}: {got!r} rounds to {round(got, 4)!r}"


def test_published_tanh_eoc_value_is_off_by_about_0p006() -> None:
    """The authors' code hard-codes sigma_w = 1.2981 at sigma_b = 0.2 (a Monte-Carlo
    estimate); the exact value is 1.3041458..., i.e. about 0.006 larger."""
    exact = float(eoc.edge_of_chaos("tanh", 0.2))
    reference = next(float(r["sigma_w"]) for r in REFS["tanh_eoc"] if r["sigma_b"] == 0.2)
    assert exact == pytest.approx(reference, rel=RTOL_1D)
    assert 0.005 <= exact - 1.2981 <= 0.007


def test_reference_file_records_its_accuracy() -> None:
    """The reference values were cross-checked by an independent evaluation to better than 1e-14."""
    ver = REFS["provenance"]["verification"]
    for key in ("1d_all_values", "dq_moment2_vs_mp_diff", "2d_subset"):
        assert float(ver[key]["max_rel_diff"]) < 1e-14, (key, ver[key])
    assert float(ver["max_quad_error_estimate_rel"]) < 1e-18


def test_funcdata_failure_lists_the_worst_points_first() -> None:
    """The helper's report names the failing points, worst (by error / tolerance) first."""
    points = [RefPoint("f", {"x": x}, 1.0) for x in (0.0, 1.0, 2.0)]
    errors = {0.0: 0.0, 1.0: 1e-9, 2.0: 1e-6}
    data = FuncData("demo", lambda p: 1.0 + errors[p.args["x"]], points, rtol=1e-12)
    with pytest.raises(AssertionError, match=r"2 of 3 points") as info:
        data.check()
    report = str(info.value)
    assert report.index("x=2.0") < report.index("x=1.0") < report.index("x=0.0")
