"""Hostile-input audit of the eoc core and ``python -m eoc`` (issue 8): about 300 inputs, by category.

Each input has an expectation, and its outcome is one of

* ``ok``: a correct value (verified against its defining equation), or a ValueError
  (CLI: exit status 2 with one ``error:`` line) whose message names the argument and value;
* ``silent``: bad input accepted, or a wrong value (NaN, an unstable "EOC", exit status 0);
* ``vague``: the right exception, but the message does not name what is wrong;
* ``refused``: a ValueError although a valid answer exists;
* ``crash``: any other exception (RuntimeError, TypeError, a traceback).

Run ``python bench/audit_eoc_inputs.py`` for the current tree, ``--impl DIR`` to audit the
``eoc`` package found in DIR, or ``--compare REF`` (default ``main``) to audit the tree of
a git ref (extracted with ``git archive`` into a temporary directory) and the current
tree, each in its own process, and print the before/after table.  Results are written to
``bench/results/audit_<label>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUTCOMES = ("ok", "silent", "vague", "refused", "crash")


def _cases(eoc, np):
    """(category, description, call, kind, check) for every audited input."""
    cases = []

    def err(cat, desc, call, *needles):
        cases.append((cat, desc, call, "error", needles))

    def val(cat, desc, call, check):
        cases.append((cat, desc, call, "value", check))

    # 1. Root finding where a root exists: c*, depth scales, q* at extreme sigma_w.
    for sw in (1.5, 1.65, 2.2, 2.25, 2.7, 3.1, 3.4, 3.9, 1.2, 5.0):
        for sb in (0.0, 1e-300, 1e-12, 1e-9):
            val("root finding", f"c_star tanh {sw} {sb}", lambda sw=sw, sb=sb: eoc.c_star("tanh", sw, sb),
                lambda c, sw=sw, sb=sb: abs(float(eoc.correlation_map(float(c), "tanh", sw, sb)) - float(c)) < 1e-13)
        val("root finding", f"depth_scales tanh {sw} 0", lambda sw=sw: eoc.depth_scales("tanh", sw, 0.0),
            lambda r: bool(np.all(np.isfinite(np.asarray(r[0]))) and np.all(np.asarray(r[1]) > 0)))
    for sw in (1e5, 1e10, 1e50, 1e100, 1e150):
        val("root finding", f"q_star tanh sigma_w={sw:g}", lambda sw=sw: eoc.q_star("tanh", sw, 0.0),
            lambda q, sw=sw: abs(float(q) / sw**2 - 1) < 1e-4
            and abs(float(eoc.variance_map(float(q), "tanh", sw, 0.0)) / float(q) - 1) < 1e-13)
    for act in ("erf", "sigmoid", "elu", "gelu", "silu"):
        for sw in (1.5, 2.5):
            # ELU, GELU, SiLU grow linearly: for large sigma_w there is no q*, hence no c*.
            cases.append((
                "root finding", f"c_star {act} {sw} 0", lambda act=act, sw=sw: eoc.c_star(act, sw, 0.0), "value_or_error",
                (lambda c, act=act, sw=sw: abs(float(eoc.correlation_map(float(c), act, sw, 0.0)) - float(c)) < 1e-13,
                 ("no finite variance fixed point", f"sigma_w={sw}")),
            ))
    # 2. One bad point in a vectorized call.
    for bad in (1.6, 2.0, 3.0):
        err("vectorized bad point", f"q_star relu [1, {bad}, 1.2]", lambda bad=bad: eoc.q_star("relu", [1.0, bad, 1.2], 0.1),
            f"sigma_w={bad}")
    val("vectorized bad point", "c_star tanh vector with sb=0", lambda: eoc.c_star("tanh", [1.2, 1.5, 2.5], 0.0),
        lambda c: bool(np.all(np.abs(np.asarray(c)) < 1e-14) or np.asarray(c)[0] == 1.0))
    # 3. Edge of chaos of non-monotone activations: a returned point must be stable and reached.
    def valid_eoc(act, sb):
        def check(sw):
            sw = float(sw)
            try:
                q = float(eoc.q_star(act, sw, sb))
            except ValueError:
                return False
            # stable, or the neutral q* = 0 that the variance approaches from above (sigma_b = 0)
            attracting = float(eoc.chi_q(act, sw, sb, q=q)) < 1 or q == 0.0
            return abs(float(eoc.chi_1(act, sw, sb, q=q)) - 1) < 1e-9 and attracting
        return check

    for act in ("gelu", "silu"):
        for sb in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4):
            cases.append(("non-monotone EOC", f"edge_of_chaos {act} {sb}", lambda act=act, sb=sb: eoc.edge_of_chaos(act, sb),
                          "value_or_error", (valid_eoc(act, sb), ("no edge of chaos", f"sigma_b={sb}"))))
        for sb in (0.8, 1.0, 1.5):
            val("non-monotone EOC", f"edge_of_chaos {act} {sb}", lambda act=act, sb=sb: eoc.edge_of_chaos(act, sb), valid_eoc(act, sb))
    for act in ("tanh", "erf", "elu", "selu"):
        for sb in (0.0, 0.5, 1.5):
            val("non-monotone EOC", f"edge_of_chaos {act} {sb}", lambda act=act, sb=sb: eoc.edge_of_chaos(act, sb), valid_eoc(act, sb))
    # 4. User activations that are not finite somewhere in the integration range.
    nan_act = lambda x: np.where(np.abs(x) > 3, np.nan, np.tanh(x))  # noqa: E731
    inf_act = lambda x: np.where(np.abs(x) > 4, np.inf, np.tanh(x))  # noqa: E731
    nan_far = lambda x: np.where(np.abs(x) > 8, np.nan, np.tanh(x))  # noqa: E731
    for label, fn in (("nan beyond 3", nan_act), ("inf beyond 4", inf_act), ("nan beyond 8", nan_far)):
        act = eoc.get_activation(fn)
        calls = {
            "q_star": lambda act=act: eoc.q_star(act, 1.0, 0.1),
            "variance_map": lambda act=act: eoc.variance_map(3.0, act, 1.0, 0.1),
            "chi_1": lambda act=act: eoc.chi_1(act, 1.0, 0.1, q=3.0),
            "chi_q": lambda act=act: eoc.chi_q(act, 1.0, 0.1, q=3.0),
            "phase": lambda act=act: eoc.phase(act, 1.0, 0.1),
            "correlation_map": lambda act=act: eoc.correlation_map(0.5, act, 1.0, 0.1, q=3.0),
            "covariance_map": lambda act=act: eoc.covariance_map(3.0, 3.0, 1.0, act, 1.0, 0.1),
            "c_star": lambda act=act: eoc.c_star(act, 2.0, 0.1, q=3.0),
            "edge_of_chaos": lambda act=act: eoc.edge_of_chaos(act, 0.3),
            "variance_iterates": lambda act=act: eoc.variance_iterates(3.0, 3, act, 1.0, 0.1),
            "gradient_variances": lambda act=act: eoc.gradient_variances([4, 4, 4], act, 1.0, 0.1, input_q=3.0),
        }
        for name, call in calls.items():
            err("non-finite activation", f"{name}, {label}", call, "non-finite")
    # 5. NaN and bad numbers never become a result.
    for tol in (float("nan"), -1.0, float("inf")):
        err("bad tolerances and counts", f"phase tol={tol}", lambda tol=tol: eoc.phase("tanh", 1.0, 0.1, tol=tol), "tol", repr(tol))
        err("bad tolerances and counts", f"depth_scales tol={tol}", lambda tol=tol: eoc.depth_scales("tanh", 1.0, 0.1, tol=tol), "tol", repr(tol))
    for num in (2.7, 0, -3, True, "5"):
        err("bad tolerances and counts", f"eoc_curve num={num!r}", lambda num=num: eoc.eoc_curve("tanh", num=num), "num", repr(num))
    for depth in (2.5, -1, "10", True, 1e3):
        err("bad tolerances and counts", f"variance_iterates depth={depth!r}",
            lambda depth=depth: eoc.variance_iterates(1.0, depth, "tanh", 1.0, 0.1), "depth", repr(depth))
        err("bad tolerances and counts", f"correlation_iterates depth={depth!r}",
            lambda depth=depth: eoc.correlation_iterates(0.5, depth, "tanh", 1.0, 0.1), "depth", repr(depth))
    for o in (1, 2.5, "64"):
        err("bad tolerances and counts", f"Numerics order_1d={o!r}", lambda o=o: eoc.Numerics(order_1d=o), "order_1d", repr(o))
    # 6. Overflow says overflow.
    for sw in (1e155, 1e200, 1e300):
        err("overflow", f"q_star tanh sigma_w={sw:g}", lambda sw=sw: eoc.q_star("tanh", sw, 0.0), "overflow")
        err("overflow", f"chi_1 tanh sigma_w={sw:g}", lambda sw=sw: eoc.chi_1("tanh", sw, 0.0), "overflow")
    for depth in (1100, 2000, 5000):
        err("overflow", f"resnet_variances relu standard depth {depth}", lambda depth=depth: eoc.resnet_variances(depth, "relu", 2**0.5, 0.0), "overflow")
        err("overflow", f"variance_iterates relu sigma_w=2 depth {depth}", lambda depth=depth: eoc.variance_iterates(1.0, depth, "relu", 2.0, 0.0), "overflow")
    err("overflow", "variance_map relu q=1e308 sigma_w=10", lambda: eoc.variance_map(1e308, "relu", 10.0, 0.0), "overflow")
    err("overflow", "edge_of_chaos sigma_b=1e200", lambda: eoc.edge_of_chaos("tanh", 1e200), "overflow")
    # 7. Generic bad values: each numeric argument with each kind of bad value.
    bad_values = {"negative": -1.0, "nan": float("nan"), "inf": float("inf"), "string": "x", "bool": True}
    targets = {
        "q_star sigma_w": lambda v: eoc.q_star("tanh", v, 0.1),
        "q_star sigma_b": lambda v: eoc.q_star("tanh", 1.0, v),
        "q_star q0": lambda v: eoc.q_star("tanh", 1.0, 0.1, q0=v),
        "variance_map q": lambda v: eoc.variance_map(v, "tanh", 1.0, 0.1),
        "correlation_map c": lambda v: eoc.correlation_map(v if v != -1.0 else -1.5, "tanh", 1.0, 0.1),
        "chi_1 q": lambda v: eoc.chi_1("tanh", 1.0, 0.1, q=v),
        "edge_of_chaos sigma_b": lambda v: eoc.edge_of_chaos("tanh", v),
        "eoc_curve sigma_b_max": lambda v: eoc.eoc_curve("tanh", sigma_b_max=v),
        "gradient_variances input_q": lambda v: eoc.gradient_variances([4, 4, 2], "tanh", 1.0, 0.0, input_q=v),
        "resnet_variances alpha": lambda v: eoc.resnet_variances(4, "relu", 1.0, 0.0, alpha=v),
        "get_activation elu alpha": lambda v: eoc.get_activation("elu", alpha=v),
        "get_activation softplus beta": lambda v: eoc.get_activation("softplus", beta=v),
    }
    for tname, call in targets.items():
        arg = tname.split()[-1]
        for vname, v in bad_values.items():
            shown = "-1.5" if (tname == "correlation_map c" and vname == "negative") else repr(v)
            err("bad values", f"{tname}={vname}", lambda call=call, v=v: call(v), arg, shown)
    # 8. Scalar in, numpy scalar out.
    for name, call in {
        "edge_of_chaos": lambda: eoc.edge_of_chaos("tanh", 0.2),
        "q_star": lambda: eoc.q_star("tanh", 1.3, 0.2),
        "c_star": lambda: eoc.c_star("tanh", 1.3, 0.2),
        "chi_1": lambda: eoc.chi_1("tanh", 1.3, 0.2),
        "chi_q": lambda: eoc.chi_q("tanh", 1.3, 0.2),
        "chi_c": lambda: eoc.chi_c("tanh", 1.3, 0.2),
        "variance_map": lambda: eoc.variance_map(1.0, "tanh", 1.3, 0.2),
        "correlation_map": lambda: eoc.correlation_map(0.5, "tanh", 1.3, 0.2),
        "depth_scales": lambda: eoc.depth_scales("tanh", 1.3, 0.2)[0],
    }.items():
        val("scalar convention", name, call, lambda r: isinstance(r, np.float64) and not isinstance(r, np.ndarray))
    return cases


CLI = [
    (["point", "--sigma-w", "-1"], ("--sigma-w", "-1")),
    (["point", "--sigma-w", "nan"], ("--sigma-w", "nan")),
    (["point", "--sigma-w", "inf"], ("--sigma-w", "inf")),
    (["point", "--sigma-w", "abc"], ("--sigma-w", "abc")),
    (["point", "--sigma-w", "1", "--sigma-b", "-1"], ("--sigma-b", "-1")),
    (["point", "--sigma-w", "1", "--sigma-b", "nan"], ("--sigma-b", "nan")),
    (["point", "-a", "swishy", "--sigma-w", "1"], ("--activation", "swishy")),
    (["point", "-a", "elu", "--param", "alpha", "--sigma-w", "1"], ("--param", "alpha")),
    (["point", "-a", "leaky_relu", "--param", "negative_slope=x", "--sigma-w", "1"], ("negative_slope", "x")),
    (["point", "-a", "relu", "--sigma-w", "1.6"], ("sigma_w", "1.6")),
    (["eoc", "--sigma-b", "-1"], ("--sigma-b", "-1")),
    (["eoc", "--curve", "--num", "2.7"], ("--num", "2.7")),
    (["eoc", "--curve", "--num", "0"], ("--num", "0")),
    (["eoc", "--curve", "--sigma-b-max", "nan"], ("--sigma-b-max", "nan")),
    (["eoc", "-a", "relu", "--sigma-b", "0.1"], ("sigma_b", "0.1")),
    (["eoc", "-a", "gelu", "--sigma-b", "0.1"], ("sigma_b", "0.1")),
    (["prune-predict", "--method", "snip", "--widths", "784,100x-5,10", "--sigma-w", "1"], ("--widths", "100x-5")),
    (["prune-predict", "--method", "snip", "--widths", "784,100x0,10", "--sigma-w", "1"], ("--widths", "100x0")),
    (["prune-predict", "--method", "snip", "--widths", "784,0,10", "--sigma-w", "1"], ("--widths", "0")),
    (["prune-predict", "--method", "snip", "--widths", "784,,10", "--sigma-w", "1"], ("--widths",)),
    (["prune-predict", "--method", "snip", "--widths", "784", "--sigma-w", "1"], ("--widths", "784")),
    (["prune-predict", "--method", "snip", "--widths", "784,100xq", "--sigma-w", "1"], ("--widths", "100xq")),
    (["prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "1.2"], ("--sparsity", "1.2")),
    (["prune-predict", "--method", "random", "--widths", "784,100,10", "--sigma-w", "1", "--sparsity", "nan"], ("--sparsity", "nan")),
    (["prune-predict", "--method", "snip", "--widths", "8,8,8,8,2", "--sigma-w", "1", "--arch", "resnet", "--alpha", "-1"], ("--alpha", "-1")),
    (["prune-predict", "--method", "snip", "--widths", "3,8,10", "--sigma-w", "1", "--arch", "cnn", "--kernel-size", "0"], ("--kernel-size", "0")),
    (["prune-predict", "--method", "grasp", "--widths", "8,8,2", "--sigma-w", "1"], ("--method", "grasp")),
    (["prune-predict", "--method", "snip", "--widths", "8,8,2", "--sigma-w", "-1"], ("--sigma-w", "-1")),
    (["derive", "elu"], ("elu",)),
    (["bogus"], ("bogus",)),
]


def _classify(case, eoc_module):
    cat, desc, call, kind, spec = case
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except ValueError as exc:
            msg = str(exc)
            if kind == "value":
                return "refused", msg
            needles = spec if kind == "error" else spec[1]
            return ("ok" if all(n in msg for n in needles) else "vague"), msg
        except Exception as exc:  # noqa: BLE001 - the audit records every kind
            return "crash", f"{type(exc).__name__}: {exc}"
    if kind == "error":
        return "silent", f"returned {result!r:.80}" + (f" with {len(caught)} warning(s)" if caught else "")
    check = spec if kind == "value" else spec[0]
    try:
        good = bool(check(result)) and not any(issubclass(w.category, RuntimeWarning) for w in caught)
    except Exception as exc:  # noqa: BLE001
        return "crash", f"check failed: {type(exc).__name__}: {exc}"
    return ("ok" if good else "silent"), f"returned {result!r:.80}"


def _cli_outcome(argv, needles, main):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
        except Exception as exc:  # noqa: BLE001
            return "crash", f"{type(exc).__name__}: {exc}"
    lines = [ln for ln in err.getvalue().strip().splitlines() if ln]
    if code == 0:
        return "silent", "exit status 0: " + out.getvalue()[:80].replace("\n", " ")
    if code != 2:
        return "crash", f"exit status {code}"
    if len(lines) != 1:
        return "vague", f"{len(lines)} lines on stderr"
    return ("ok" if all(n in lines[0] for n in needles) else "vague"), lines[0]


def audit(label: str) -> dict:
    import numpy as np

    import eoc
    from eoc.__main__ import main

    rows = []
    t0 = time.perf_counter()
    for case in _cases(eoc, np):
        outcome, detail = _classify(case, eoc)
        rows.append({"category": case[0], "input": case[1], "outcome": outcome, "detail": detail[:300]})
    for argv, needles in CLI:
        outcome, detail = _cli_outcome(argv, needles, main)
        rows.append({"category": "CLI (python -m eoc)", "input": " ".join(argv), "outcome": outcome, "detail": detail[:300]})
    table = {}
    for r in rows:
        table.setdefault(r["category"], dict.fromkeys(OUTCOMES, 0))[r["outcome"]] += 1
    return {"label": label, "eoc_file": eoc.__file__, "n_inputs": len(rows), "seconds": time.perf_counter() - t0,
            "by_category": table, "rows": rows}


def _print(report: dict) -> None:
    print(f"{report['label']}: {report['n_inputs']} inputs ({report['eoc_file']})")
    print(f"  {'category':28s} " + " ".join(f"{o:>8s}" for o in OUTCOMES))
    for cat, counts in report["by_category"].items():
        print(f"  {cat:28s} " + " ".join(f"{counts[o]:8d}" for o in OUTCOMES))


def _run_child(impl: str | None, label: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--label", label, "--json-only"]
    env = dict(os.environ)
    if impl:
        cmd += ["--impl", impl]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if res.returncode:
        raise SystemExit(f"audit of {label} failed:\n{res.stderr[-3000:]}")
    return json.loads((HERE / "results" / f"audit_{label}.json").read_text())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", help="directory containing the eoc package to audit (default: this tree)")
    ap.add_argument("--label", default="current")
    ap.add_argument("--compare", nargs="?", const="main", default=None, metavar="REF",
                    help="audit git REF (default main) and this tree, print before/after")
    ap.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    ns = ap.parse_args(argv)
    (HERE / "results").mkdir(exist_ok=True)
    if ns.compare:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "archive", ns.compare, "eoc"], capture_output=True, cwd=ROOT, check=True)
            subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
            before = _run_child(tmp, f"before_{ns.compare}")
        after = _run_child(None, "after")
        for rep in (before, after):
            _print(rep)
        print("\nbefore -> after (ok / not ok) per category:")
        for cat in after["by_category"]:
            b = before["by_category"].get(cat, dict.fromkeys(OUTCOMES, 0))
            a = after["by_category"][cat]
            nb, na = sum(b.values()), sum(a.values())
            print(f"  {cat:28s} {b['ok']:4d}/{nb:<4d} -> {a['ok']:4d}/{na:<4d}")
        return
    if ns.impl:
        sys.path.insert(0, ns.impl)
    report = audit(ns.label)
    (HERE / "results" / f"audit_{ns.label}.json").write_text(json.dumps(report, indent=1))
    if not ns.json_only:
        _print(report)
        for r in report["rows"]:
            if r["outcome"] != "ok":
                print(f"  [{r['outcome']}] {r['category']}: {r['input']} -> {r['detail'][:150]}")


if __name__ == "__main__":
    main()
