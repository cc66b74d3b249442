"""Reference values of the low-rank product-normal law for ``tests/test_laws.py`` (scipy adaptive quadrature).

Run from the repository root::

    .venv/bin/python tests/_precompute/low_rank_law.py    # writes tests/data/low_rank_law.json

:math:`G = |Z_1Z_2|\\sqrt V`, :math:`V\\sim\\mathrm{Gamma}(n/2,\\ \\mathrm{rate}\\ n/2)` (``eoc._laws.LowRankProductNormal``).
Route, independent of the code under test (which uses Gauss-Hermite nodes in the
Gamma's normal score and eoc's product-normal law): the product-normal survival function
:math:`\\bar F(y) = \\frac2\\pi\\int_0^\\infty e^{-y\\cosh s}/\\cosh s\\,ds` by ``scipy.integrate.quad``
(no cancellation at any y), then ``quad`` of :math:`\\int\\bar F(x/\\sqrt v)\\,g_n(v)\\,dv` against
the Gamma density, in the variable :math:`v = e^u` (so the singular density of rank 1 is
smooth), over a partition refined near the mode of the integrand.  Each value is computed
on two partitions and stored only if they agree to 1e-11 relative (the script stops otherwise);
``cdf`` is stored as ``1 - sf`` (every cdf stored exceeds 0.03).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import warnings

from scipy import integrate, special

OUT = Path(__file__).resolve().parents[1] / "data" / "low_rank_law.json"
RANKS = (1.0, 2.0, 3.0, 9.0)
XS = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


def pn_sf(y: float) -> float:
    if y <= 0:
        return 1.0
    if y > 700:
        return 0.0  # below 1e-304: negligible against every value stored
    # scaled: e^y sf(y) = (2/pi) int exp(-2 y sinh^2(s/2)) / cosh s ds, then times e^-y
    s_max = min(2.0 * math.asinh(math.sqrt(400.0 / y)), 60.0)  # beyond: integrand < e^-800 (or < 1e-25)
    val = integrate.quad(lambda s: math.exp(-2.0 * y * math.sinh(0.5 * s) ** 2) / math.cosh(s), 0, s_max,
                         epsabs=0, epsrel=2e-14, limit=400)[0]
    return (2.0 / math.pi) * val * math.exp(-y)


def mixture(fun, x: float, n: float, cuts) -> float:
    a = 0.5 * n
    logc = a * math.log(a) - special.gammaln(a)

    def integrand(u):  # v = e^u, dv = v du
        v = math.exp(u)
        return fun(x / math.sqrt(v)) * math.exp(logc + a * u - a * v)

    pts = sorted(set(cuts))
    return sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0] for lo, hi in zip(pts[:-1], pts[1:]))


def main() -> None:
    warnings.simplefilter("ignore", integrate.IntegrationWarning)  # the partition check below is the test
    out = {"route": "scipy quad: product-normal sf by the cosh integral, Gamma mixture in log v (relative 2e-14 per integral)", "points": []}
    for n in RANKS:
        for x in XS:
            # the sf integrand peaks where v ~ x^(2/3)-ish (tail) or v ~ 1 (bulk): two partitions
            c1 = [-60, -20, -8, -3, -1, 0, 1, 2, 3, 4, 6]
            c2 = [-60, -30, -12, -5, -2, -0.5, 0.5, 1.5, 2.5, 3.5, 6]
            sf1, sf2 = mixture(pn_sf, x, n, c1), mixture(pn_sf, x, n, c2)
            if abs(sf1 / sf2 - 1) > 1e-11:
                raise SystemExit(f"partitions disagree at n={n}, x={x}: {sf1!r} vs {sf2!r}")
            cdf = 1.0 - sf1  # sf is computed to ~1e-14 absolute, so cdf >= 0.03 keeps 1e-12 relative
            out["points"].append({"rank": n, "x": x, "sf": sf1, "cdf": cdf})
            print(n, x, sf1, cdf, flush=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
