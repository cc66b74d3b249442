"""Reference values for ``tests/test_laws.py``, computed with mpmath at high precision.

Run from the repository root::

    .venv/bin/python tests/_precompute/mpmath_laws.py            # writes tests/data/mpmath_laws.json
    .venv/bin/python tests/_precompute/mpmath_laws.py --check    # also the slow Bessel-quadrature check

Routes (each independent of the float64 code in ``eoc/_laws.py``):

* half-normal: ``mp.erf`` / ``mp.erfc`` of ``x / sqrt 2``; quantiles by ``mp.findroot``
  on ``log erfc(x / sqrt 2) = log p`` (or ``erf(x / sqrt 2) = q``).
* product-normal: the closed form ``F(x) = x [K_0(x) L_{-1}(x) + K_1(x) L_0(x)]``
  (``mp.besselk``, ``mp.struvel``; Abramowitz & Stegun 11.1.8) evaluated with
  ``DPS + x / ln 10 + 10`` digits so that ``sf = 1 - F`` keeps ``DPS`` digits after
  the cancellation; every sf is cross-checked against ``mp.quad`` of the integral
  ``(2/pi) int_0^inf exp(-x cosh s) / cosh s ds`` (a different formula) and the
  script stops if they differ by more than 1e-25 relative.  With ``--check`` a few
  points are also compared with ``mp.quad`` of ``besselk(0, t)`` itself (slow, ~30 s each).
* truncated second moments: ``mp.quad`` of the definitions
  ``2 int_t^inf z^2 phi(z) dz`` and ``2 int_0^inf z^2 phi(z) erfc(t / (z sqrt 2)) dz``
  (integrands rescaled to O(1): ``mp.quad``'s tolerance is absolute), checked against the
  closed forms ``sf(t) + t pdf(t)`` of the docstrings to 1e-25 (the script stops otherwise).

Every value is stored as the float64 nearest to the mpmath result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mpmath as mp

DPS = 30
OUT = Path(__file__).resolve().parents[1] / "data" / "mpmath_laws.json"


# ---------------------------------------------------------------- half-normal
def hn_cdf(x):
    return mp.erf(mp.mpf(x) / mp.sqrt(2))


def hn_sf(x):
    return mp.erfc(mp.mpf(x) / mp.sqrt(2))


def hn_isf(p):
    p = mp.mpf(p)
    if p > 0.5:
        f = lambda x: hn_cdf(x) - (1 - p)  # noqa: E731
        x0 = mp.sqrt(mp.pi / 2) * (1 - p)
    else:
        f = lambda x: mp.log(hn_sf(x)) - mp.log(p)  # noqa: E731
        x0 = mp.sqrt(-2 * mp.log(p))
    return mp.findroot(f, x0, tol=mp.mpf(10) ** (-2 * DPS + 5))


def hn_trunc(t):
    """E[Z^2; |Z| > t] = 2 int_t^inf z^2 phi(z) dz; the integrand decays on the scale 1/t."""
    t = mp.mpf(t)
    step = 1 / max(t, mp.mpf(1))
    with mp.workdps(DPS + 15):
        # z = t + u, integrand scaled by 1/phi(t) to O(1): mp.quad's tolerance is absolute.
        f = lambda u: 2 * (t + u) ** 2 * mp.exp(-t * u - u * u / 2)  # noqa: E731
        val = mp.npdf(t) * mp.quad(f, [k * step for k in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)] + [40])
    return +val


# ---------------------------------------------------------------- product-normal
def _digits(x):
    return DPS + int(float(x) / 2.302585) + 10


def pn_cdf(x):
    x = mp.mpf(x)
    with mp.workdps(_digits(x)):
        return +(x * (mp.besselk(0, x) * mp.struvel(-1, x) + mp.besselk(1, x) * mp.struvel(0, x)))


def pn_sf(x):
    x = mp.mpf(x)
    with mp.workdps(_digits(x)):
        s = 1 - x * (mp.besselk(0, x) * mp.struvel(-1, x) + mp.besselk(1, x) * mp.struvel(0, x))
    return +s


def pn_sf_cosh(x):
    """Second route: (2/pi) int_0^inf exp(-x cosh s)/cosh s ds, integrand cut where < 10^-(DPS+20)."""
    with mp.workdps(DPS + 10):
        x = mp.mpf(x)
        smax = mp.acosh(1 + (DPS + 20) * mp.log(10) / x)
        pts = sorted({mp.mpf(0), *[q for q in (1 / mp.sqrt(x), 3 / mp.sqrt(x), 1, 3) if q < smax], smax})
        val = 2 / mp.pi * mp.exp(-x) * mp.quad(lambda s: mp.exp(-2 * x * mp.sinh(s / 2) ** 2) / mp.cosh(s), pts)
    return +val


def pn_sf_bessel(x):
    """Third route (slow): (2/pi) int_x^inf K_0."""
    x = mp.mpf(x)
    return 2 / mp.pi * mp.quad(lambda t: mp.besselk(0, t), [x, x + 1, x + 10, x + 50, x + 120])


def pn_logsf(x):
    if x < 1:  # log(1 - F) with F tiny: log1p keeps the digits of F
        return mp.log1p(-pn_cdf(x))
    return mp.log(pn_sf_cosh(x))


def _solve(f, x0, lo, hi):
    try:
        return mp.findroot(f, (mp.mpf(lo), mp.mpf(hi)), solver="anderson", tol=mp.mpf(10) ** (-2 * DPS + 5))
    except (ValueError, ZeroDivisionError):
        return mp.findroot(f, mp.mpf(x0), tol=mp.mpf(10) ** (-2 * DPS + 5))


def pn_isf(p):
    p = mp.mpf(p)
    if p >= 0.5:
        return pn_ppf(1 - p)
    lp = mp.log(p)
    return _solve(lambda x: pn_logsf(x) - lp, -lp, mp.mpf("0.3"), -lp)


def pn_ppf(p):
    p = mp.mpf(p)
    if p <= 0.5:  # lower tail: F(q u) / q = 1 for u in [1/1000, min(1, 0.375/q)], relative residual
        u = _solve(lambda u: pn_cdf(p * u) / p - 1, mp.mpf("0.5"), mp.mpf("0.001"), min(1, mp.mpf("0.375") / p))
        return p * u
    return pn_isf(1 - p)


def pn_trunc(t):
    """E[Z1^2 erfc(t/(|Z1| sqrt 2))] = 2 int_0^inf z^2 phi(z) erfc(t/(z sqrt 2)) dz."""
    t = mp.mpf(t)
    if t == 0:
        return mp.mpf(1)
    r = mp.sqrt(t)
    zmax = 2 * r + 16
    pts = sorted({mp.mpf(0), r / 4, r / 2, r, 2 * r, 2 * r + 4, zmax})
    with mp.workdps(DPS + 15):
        # scaled by e^t (the integrand peaks at z = sqrt t with height ~ e^-t): mp.quad's tolerance is absolute.
        et = mp.exp(t)
        f = lambda z: et * 2 * z * z * mp.npdf(z) * mp.erfc(t / (z * mp.sqrt(2))) if z > 0 else mp.mpf(0)  # noqa: E731
        val = mp.quad(f, pts) / et
    return +val


# ---------------------------------------------------------------- grids
X_HN = [1e-6, 1e-3, 0.01, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 37.0]
X_HN_LOG = X_HN + [38.5, 40.0, 60.0, 100.0]
X_PN = [1e-300, 1e-30, 1e-12, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.36, 0.37, 0.375,
        0.38, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 40.0,
        100.0, 300.0, 700.0]
#: plus 41 log-spaced points spanning [1e-6, 40]
X_PN = sorted(set(X_PN) | {float(f"{10 ** (-6 + k * (6 + 1.6020599913279623) / 40):.6g}") for k in range(41)})
X_PN_LOG = X_PN + [745.0, 1000.0, 5000.0]
P_UPPER = [1 - 1e-12, 1 - 1e-6, 0.999, 0.99, 0.9, 0.75, 0.6, 0.5, 0.45, 0.3, 0.1, 1e-2, 1e-3,
           1e-4, 1e-6, 1e-9, 1e-12, 1e-20, 1e-50, 1e-100, 1e-200, 1e-300, 1e-310]
P_LOWER = [1e-300, 1e-100, 1e-20, 1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.6, 0.9, 0.999, 1 - 1e-9]
#: plus 23 log-spaced points in [1e-12, 0.5]
P_UPPER = sorted(set(P_UPPER) | {float(f"{10 ** (-12 + k * 0.5):.6g}") for k in range(23)}, reverse=True)
T_TRUNC = [1e-6, 1e-3, 0.01, 0.1, 0.3, 0.375, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 40.0]


def _table(fun, points):
    return [[float(x), float(fun(x))] for x in points]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="also compare with mp.quad of besselk (slow)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    mp.mp.dps = DPS
    t0 = time.time()

    for x in X_PN:  # the two product-normal routes must agree
        a, b = pn_sf(x), pn_sf_cosh(x)
        if abs(a - b) > mp.mpf("1e-25") * abs(a):
            raise SystemExit(f"product-normal sf routes disagree at x={x}: {a} vs {b}")
    for t in T_TRUNC:  # the quadratures of the definitions against the closed forms of the docstrings
        for name, quad, closed in (
            ("half-normal", hn_trunc, lambda t: hn_sf(t) + 2 * t * mp.npdf(t)),
            ("product-normal", pn_trunc, lambda t: pn_sf(t) + 2 * t / mp.pi * mp.besselk(0, t)),
        ):
            a, b = quad(t), closed(t)
            if abs(a - b) > mp.mpf("1e-25") * abs(b):
                raise SystemExit(f"{name} truncated second moment: quadrature {a} != closed form {b} at t={t}")
    if args.check:
        for x in (0.01, 0.365, 1.0, 5.0):
            a, c = pn_sf(x), pn_sf_bessel(x)
            print(f"x={x}: struve {mp.nstr(a, 25)}  besselk-quad {mp.nstr(c, 25)}", flush=True)
            if abs(a - c) > mp.mpf("1e-25") * abs(a):
                raise SystemExit(f"product-normal sf disagrees with the Bessel quadrature at x={x}")

    data = {
        "provenance": (
            "Computed by tests/_precompute/mpmath_laws.py with mpmath "
            f"{mp.__version__} at mp.dps={DPS} (extra digits where cancelling); values are the "
            "float64 nearest to the mpmath result. Do not edit by hand."
        ),
        "dps": DPS,
        "half_normal": {
            "cdf": _table(hn_cdf, X_HN),
            "sf": _table(hn_sf, X_HN),
            "logsf": _table(lambda x: mp.log(hn_sf(x)), X_HN_LOG),
            "isf": _table(hn_isf, P_UPPER),
            "ppf": _table(lambda p: hn_isf(1 - mp.mpf(p)) if p > 0.5 else hn_isf_lower(p), P_LOWER),
            "truncated_second_moment": _table(hn_trunc, T_TRUNC),
        },
        "product_normal": {
            "pdf": _table(lambda x: 2 / mp.pi * mp.besselk(0, x), X_PN),
            "cdf": _table(pn_cdf, X_PN),
            "sf": _table(pn_sf, X_PN),
            "logsf": _table(pn_logsf, X_PN_LOG),
            "isf": _table(pn_isf, P_UPPER),
            "ppf": _table(pn_ppf, P_LOWER),
            "truncated_second_moment": _table(pn_trunc, T_TRUNC),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out} in {time.time() - t0:.1f} s")
    return 0


def hn_isf_lower(p):
    """Half-normal lower quantile for p <= 1/2: erf(x / sqrt 2) = p."""
    p = mp.mpf(p)
    u = mp.findroot(lambda u: hn_cdf(p * u) / p - 1, mp.sqrt(mp.pi / 2), tol=mp.mpf(10) ** (-2 * DPS + 5))
    return p * u


if __name__ == "__main__":
    sys.exit(main())
