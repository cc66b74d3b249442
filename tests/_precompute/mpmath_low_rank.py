"""Reference values of the low-rank product-normal law for ``tests/test_laws.py`` (mpmath, 20 digits).

Run from the repository root::

    .venv/bin/python tests/_precompute/mpmath_low_rank.py    # writes tests/data/mpmath_low_rank.json

:math:`G = |Z_1Z_2|\\sqrt V`, :math:`V\\sim\\mathrm{Gamma}(n/2,\\ \\mathrm{rate}\\ n/2)` (``eoc._laws.LowRankProductNormal``).
Route, independent of the float64 code: the product-normal survival function from its
Struve closed form :math:`\\bar F(y) = 1 - y[K_0(y)\\mathbf L_{-1}(y) + K_1(y)\\mathbf L_0(y)]`
(Abramowitz & Stegun 11.1.8, evaluated with extra digits against the cancellation), then
``mp.quad`` of :math:`\\mathbb E_V[\\bar F(x/\\sqrt V)]` against the Gamma density, split at
the mode of the integrand's weight.  ``cdf = 1 - sf`` is stored where sf > 1e-3, else sf.
"""

from __future__ import annotations

import json
from pathlib import Path

import mpmath as mp

DPS = 20
OUT = Path(__file__).resolve().parents[1] / "data" / "mpmath_low_rank.json"
RANKS = (1.0, 2.0, 3.0, 9.0)
XS = (0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


def pn_sf(y):
    with mp.workdps(DPS + int(y / 2.3) + 15):
        y = mp.mpf(y)
        if y == 0:
            return mp.mpf(1)
        return 1 - y * (mp.besselk(0, y) * mp.struvel(-1, y) + mp.besselk(1, y) * mp.struvel(0, y))


def low_rank_sf(x, n):
    a = mp.mpf(n) / 2
    dens = lambda v: a**a * v ** (a - 1) * mp.exp(-a * v) / mp.gamma(a)  # noqa: E731
    f = lambda v: pn_sf(x / mp.sqrt(v)) * dens(v)  # noqa: E731
    return mp.quad(f, [0, mp.mpf(1) / 16, mp.mpf(1) / 2, 1, 2, 4, 8, 16, 64, mp.inf])


def main() -> None:
    mp.mp.dps = DPS
    out = {"dps": DPS, "route": "Struve closed form of the product-normal sf, mp.quad over the Gamma law",
           "points": []}
    for n in RANKS:
        for x in XS:
            sf = low_rank_sf(mp.mpf(x), n)
            out["points"].append({"rank": n, "x": x, "sf": float(sf), "cdf": float(1 - sf)})
            print(n, x, mp.nstr(sf, 12), flush=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
