"""The README's recipes run as written, and what it states is true.

Every ```python block of README.md is executed in order in one namespace (the recipes build
on each other, as a reader would type them); a line ending in ``# -> value`` is checked:
the value of its expression (or of the right-hand side of its assignment) must print as
``value`` to the number of decimals written.  The accuracy statements of the prose are
checked against the stored validation table they summarize
(``bench/data/validate_critical_sparsity.json``, written by
``bench/validate_critical_sparsity.py``).
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
VALIDATION = json.loads((ROOT / "bench" / "data" / "validate_critical_sparsity.json").read_text())["table"]

_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
_EXPECT = re.compile(r"#\s*->\s*(\S+)")


def python_blocks() -> list[str]:
    return _BLOCK.findall(README)


def _matches(value, expected: str) -> bool:
    literal = ast.literal_eval(expected)
    if isinstance(literal, (bool, str)):
        return bool(value == literal)
    decimals = len(expected.split(".")[1]) if "." in expected else 0
    return round(float(value), decimals) == float(literal)


def test_readme_has_the_recipes():
    assert len(python_blocks()) >= 3
    assert sum(len(_EXPECT.findall(b)) for b in python_blocks()) >= 4


def test_the_expectation_parser_fails_on_a_wrong_value():
    assert _matches(np.float64(1.304145), "1.30415")
    assert not _matches(np.float64(1.3046), "1.30415")
    assert _matches("ordered", "'ordered'") and not _matches("chaotic", "'ordered'")
    assert _matches(np.bool_(True), "True") and not _matches(False, "True")


def test_every_python_block_runs_and_every_stated_value_holds():
    pytest.importorskip("torch")
    namespace: dict = {"__name__": "readme"}
    checked = 0
    for block in python_blocks():
        lines = block.splitlines()
        for stmt in ast.parse(block).body:
            source = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
            found = _EXPECT.search(lines[stmt.end_lineno - 1])
            with warnings.catch_warnings(record=True):  # the recipes show warnings (layer collapse) on purpose
                warnings.simplefilter("always")
                if found is None:
                    exec(compile(source, "README.md", "exec"), namespace)
                    continue
                node = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
                assert node is not None, f"a '# ->' on a line that is not an expression: {source!r}"
                value = eval(compile(ast.Expression(node), "README.md", "eval"), namespace)
                exec(compile(source, "README.md", "exec"), namespace)
            assert _matches(value, found.group(1)), f"README says {source.strip()!r}; it computes {value!r}"
            checked += 1
    assert checked == sum(len(_EXPECT.findall(b)) for b in python_blocks())


def _rows(kind: str, variant: str | None = None, group: str = "target") -> list[dict]:
    return [r for r in VALIDATION if r["kind"] == kind and r["group"] == group and (variant is None or r["variant"] == variant)]


def test_the_readme_accuracy_statements_hold_on_the_stored_validation():
    """'within 0.02 ... FFNNs ... all three phases'; 'within 0.005 for Stable ResNets'; 'standard ResNets
    low by up to 0.023 at depth 100'; 'the iid model is off by up to 0.06 for SNIP FFNNs and gets the
    standard-vs-Stable comparison backwards'."""
    ffnn = _rows("ffnn")
    assert {r["variant"] for r in ffnn} == {"ordered", "eoc", "chaotic"}
    assert {r["depth"] for r in ffnn} == {10, 30, 50, 100}
    assert "within 0.02 of the" in README and max(abs(r["finite"] - r["measured"]) for r in ffnn) <= 0.02
    stable, standard = _rows("resnet", "stable"), _rows("resnet", "standard")
    assert "within 0.005 for Stable ResNets" in README
    assert max(abs(r["finite"] - r["measured"]) for r in stable) <= 0.005
    worst = max(standard, key=lambda r: r["measured"] - r["finite"])
    assert "low by up to 0.023 at depth 100" in README
    assert worst["depth"] == 100 and round(worst["measured"] - worst["finite"], 3) == 0.023
    assert all(r["finite"] < r["measured"] for r in standard)
    assert "off by up to\n0.06 for SNIP FFNNs" in README
    assert round(max(abs(r["iid"] - r["measured"]) for r in ffnn), 2) == 0.06
    by_depth = {r["depth"]: r for r in standard}
    for r in stable:  # measured: Stable above standard; iid model: the other way round
        assert r["measured"] > by_depth[r["depth"]]["measured"]
        assert r["iid"] < by_depth[r["depth"]]["iid"]
        assert r["finite"] > by_depth[r["depth"]]["finite"]


def test_the_readme_cnn_statement_holds_on_the_stored_cnn_validation():
    """'within 0.015 ... tanh CNNs of 32 channels on 8x8 images (depths 5-20, all three phases)', 'one position per
    example is off by up to 0.14' (bench/data/validate_cnn_critical_sparsity.json, its target points)."""
    rows = [r for r in json.loads((ROOT / "bench" / "data" / "validate_cnn_critical_sparsity.json").read_text())["table"]
            if r["group"] == "target"]  # fmt: skip
    assert {(r["channels"], r["image_size"]) for r in rows} == {(32, 8)}
    assert {r["depth"] for r in rows} == {5, 10, 20} and len({r["phase"] for r in rows}) == 3
    text = " ".join(README.split())
    assert "within 0.015 of the measured SNIP critical sparsity" in text
    assert max(abs(r["positions"] - r["measured"]) for r in rows) <= 0.015
    assert "one position per example is off by up to 0.14" in text
    assert round(max(abs(r["one_position"] - r["measured"]) for r in rows), 2) == 0.14
