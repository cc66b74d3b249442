"""Shared test helpers: tabulated reference values checked point by point.

:class:`FuncData` is modelled on ``FuncData`` in scipy's ``scipy/special/_testutils.py``:
a function, a table of points with reference values and a tolerance; ``check()``
evaluates every point and, on failure, reports the worst points (what was evaluated,
where, the value obtained, the reference, the relative error) instead of the first
mismatch only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["RefPoint", "FuncData"]


@dataclass(frozen=True)
class RefPoint:
    """One reference value.

    Attributes
    ----------
    activation : str
        Label of the activation (or of the case) the value belongs to.
    args : mapping of str to object
        Where the quantity is evaluated, e.g. ``{"q": 0.5}``.
    expected : float
        The reference value.
    atol : float
        Absolute part of the tolerance at this point (default 0: purely relative).
    """

    activation: str
    args: Mapping[str, object]
    expected: float
    atol: float = 0.0

    def describe(self) -> str:
        """``activation`` and ``args`` as one short string."""
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.activation} [{inner}]"


@dataclass(frozen=True)
class FuncData:
    """A quantity tabulated at reference points, and the function that should reproduce it.

    A point passes when ``|got - expected| <= atol + rtol |expected|`` (the rule of
    ``numpy.testing.assert_allclose``) and ``got`` is finite.

    Attributes
    ----------
    name : str
        What is checked, e.g. ``"moment2, method='auto'"``.
    func : callable
        ``func(point) -> float``.
    points : sequence of RefPoint
    rtol : float
        Relative tolerance.
    n_worst : int
        How many of the worst points a failure report lists.
    """

    name: str
    func: Callable[[RefPoint], float]
    points: Sequence[RefPoint] = field(repr=False)
    rtol: float
    n_worst: int = 12

    def evaluate(self) -> list[tuple[RefPoint, float, float, float]]:
        """``(point, got, relative error, error / tolerance)`` for every point."""
        out = []
        for p in self.points:
            got = float(self.func(p))
            diff = abs(got - p.expected)
            rel = diff / abs(p.expected) if p.expected else (0.0 if diff == 0 else math.inf)
            tol = p.atol + self.rtol * abs(p.expected)
            ratio = diff / tol if tol > 0 else (0.0 if diff == 0 else math.inf)
            if not math.isfinite(got):
                rel = ratio = math.inf
            out.append((p, got, rel, ratio))
        return out

    def check(self) -> float:
        """Raise ``AssertionError`` listing the worst points if any point fails.

        Returns
        -------
        float
            The largest relative error over points with a nonzero reference.
        """
        results = self.evaluate()
        if not results:
            raise AssertionError(f"{self.name}: no reference points")
        bad = [r for r in results if not r[3] <= 1.0]
        worst_rel = max((r[2] for r in results if r[0].expected), default=0.0)
        if bad:
            raise AssertionError(self._report(results, bad, worst_rel))
        return worst_rel

    def _report(self, results, bad, worst_rel) -> str:
        ranked = sorted(results, key=lambda r: r[3], reverse=True)[: self.n_worst]
        lines = [
            f"{self.name}: {len(bad)} of {len(results)} points out of tolerance "
            f"(rtol={self.rtol:g}, atol per point); max relative error {worst_rel:.3g}",
            f"worst {len(ranked)} points, by error / tolerance:",
            f"  {'activation [args]':<52} {'got':>24} {'expected':>24} {'rel err':>9} {'err/tol':>9}",
        ]
        for p, got, rel, ratio in ranked:
            lines.append(f"  {p.describe():<52} {got:>24.17g} {p.expected:>24.17g} {rel:>9.2e} {ratio:>9.2g}")
        return "\n".join(lines)
