r"""Gaussian expectations of an activation: closed form where known, quadrature otherwise.

These functions are all the mean-field maps need (docs/theory.md §2-§3).
``method="auto"`` uses the activation's :class:`~eoc._activations.ClosedForms` when
it has them and :mod:`eoc._quad` otherwise; ``"quadrature"`` forces the numerical
route (the tests check the two agree), ``"closed"`` demands the closed form.

.. math::

    M_2(q) = \mathbb E[\phi(\sqrt q Z)^2],\quad
    M_2'(q) = \frac{d M_2}{dq} = \frac{\mathbb E[u\,\phi(u)\phi'(u)]}{q}
            = \mathbb E[\phi'(u)^2 + \phi(u)\phi''(u)],\quad u = \sqrt q Z,

    D_2(q) = \mathbb E[\phi'(\sqrt q Z)^2],\quad
    K(q_1, q_2, c) = \mathbb E[\phi(u_1)\phi(u_2)],\quad
    K'(q_1, q_2, c) = \mathbb E[\phi'(u_1)\phi'(u_2)].

The form of :math:`M_2'` with :math:`u\phi\phi'` (Stein's lemma) avoids
:math:`\phi''`, which is a Dirac mass for kinked activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._activations import Activation
from ._quad import DEFAULT_ORDER_1D, DEFAULT_ORDER_2D, Z_MAX, gauss_1d, gauss_2d, gauss_2d_sqdiff

__all__ = [
    "mean",
    "moment2",
    "deriv_moment2",
    "dq_moment2",
    "kernel",
    "deriv_kernel",
    "half_sq_diff",
    "METHODS",
    "Numerics",
    "DEFAULT_NUMERICS",
    "resolve_numerics",
    "check_result",
]

METHODS = ("auto", "closed", "quadrature")
_Q_FLOOR = 1e-200


def _use_closed(act: Activation, method: str) -> bool:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    if method == "closed":
        if act.closed_forms is None:
            raise ValueError(f"activation {act.label!r} has no closed forms; use method='auto'")
        return True
    return method == "auto" and act.closed_forms is not None


def _bad_inputs(fn, u: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        vals = np.asarray(fn(u), dtype=np.float64)
    return u[~np.isfinite(np.broadcast_to(vals, u.shape))]


def _intervals(grid: np.ndarray, bad: np.ndarray, most: int = 3) -> str:
    """The bad points of a sorted grid as intervals, e.g. ``[-10.5, -3.01] and [3.01, 10.5]``."""
    mask = np.isin(grid, bad)
    runs, start = [], None
    for i, m in enumerate(mask):
        if m and start is None:
            start = i
        if start is not None and (not m or i == mask.size - 1):
            end = i if m else i - 1
            runs.append(f"[{grid[start]:.4g}, {grid[end]:.4g}]")
            start = None
    more = f" (and {len(runs) - most} more)" if len(runs) > most else ""
    return " and ".join(runs[:most]) + more


def check_result(act: Activation, value, what: str, q, *, overflow: str = "raise") -> np.ndarray:
    r"""Raise a ValueError naming the activation if ``value`` (an expectation) is not finite.

    A user activation that returns NaN or inf somewhere in the integration range
    (:math:`|u| \le Z_{\max}\sqrt q`) poisons every map built on it; say where.  If the
    activation and its derivative are finite on the nodes, the expectation itself
    overflowed float64: with ``overflow="raise"`` that is an error naming the
    variance, with ``overflow="inf"`` (used internally by the fixed-point ladders)
    ``inf`` is returned.
    """
    value = np.asarray(value, dtype=np.float64)
    if np.all(np.isfinite(value)):
        return value
    q = np.broadcast_to(np.asarray(q, dtype=np.float64), value.shape)
    bad_q = q[~np.isfinite(value)]
    qmax = float(np.max(bad_q)) if bad_q.size else float("nan")
    reach = Z_MAX * np.sqrt(np.max(bad_q)) if bad_q.size else 1.0
    reach = max(float(reach), 1e-300)
    tiny = np.geomspace(1e-300, reach, 400)
    probe = np.unique(np.concatenate([-tiny, [0.0], tiny, np.linspace(-reach, reach, 4001)]))
    for fn, label in ((act.fn, "the activation"), (act.derivative, "its derivative")):
        bad = _bad_inputs(fn, probe)
        if bad.size:
            with np.errstate(all="ignore"):
                sample = float(np.asarray(fn(bad[:1]), dtype=np.float64)[0])
            raise ValueError(
                f"activation {act.label!r}: {label} returns non-finite values ({sample!r}) for "
                f"pre-activations u in {_intervals(probe, bad)}, inside the integration range "
                f"|u| <= {reach:.4g} of {what} at q={qmax:.6g}; an activation must be finite on the real line"
            )
    with np.errstate(all="ignore"):
        top = float(np.max(np.abs(np.asarray(act.fn(probe), dtype=np.float64))))
    if np.isnan(value).any() and top * top < 1e300:
        raise ValueError(
            f"activation {act.label!r}: {what} is NaN at q={qmax:.6g}; the activation or its derivative "
            f"returns NaN somewhere in |u| <= {reach:.4g}"
        )
    if overflow == "inf":
        return np.where(np.isnan(value), np.inf, value)
    raise ValueError(
        f"overflow: {what} of activation {act.label!r} exceeds the float64 range at q={qmax:.6g}"
    )


def mean(act: Activation, q, *, order: int = DEFAULT_ORDER_1D, overflow: str = "raise") -> np.ndarray:
    r""":math:`\mathbb E[\phi(\sqrt q Z)]` (it sets :math:`f(0)`, the correlation map at c = 0)."""
    f = act.fn
    return check_result(act, gauss_1d(f, q, order=order), "E[phi(u)]", q, overflow=overflow)


def _square_moment(act, q, method, order, overflow, closed: str, fn, what) -> np.ndarray:
    """E[g(sqrt(q) Z)^2] for g = phi or phi': the closed form ``closed`` or quadrature, checked."""
    if _use_closed(act, method):
        with np.errstate(over="ignore"):
            out = np.asarray(getattr(act.closed_forms, closed)(q), dtype=np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = gauss_1d(lambda u: fn(u) ** 2, q, order=order)
    return check_result(act, out, what, q, overflow=overflow)


def moment2(
    act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D, overflow: str = "raise"
) -> np.ndarray:
    r""":math:`\mathbb E[\phi(\sqrt q Z)^2]`."""
    return _square_moment(act, q, method, order, overflow, "moment2", act.fn, "E[phi(u)^2]")


def deriv_moment2(
    act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D, overflow: str = "raise"
) -> np.ndarray:
    r""":math:`\mathbb E[\phi'(\sqrt q Z)^2]`."""
    return _square_moment(act, q, method, order, overflow, "deriv_moment2", act.derivative, "E[phi'(u)^2]")


def dq_moment2(
    act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D, overflow: str = "raise"
) -> np.ndarray:
    r""":math:`\frac{d}{dq}\mathbb E[\phi(\sqrt q Z)^2] = \mathbb E[u\phi(u)\phi'(u)]/q`."""
    if _use_closed(act, method):
        out = np.asarray(act.closed_forms.dq_moment2(q), dtype=np.float64)
    else:
        qf = np.maximum(np.asarray(q, dtype=np.float64), _Q_FLOOR)
        f, d = act.fn, act.derivative
        with np.errstate(over="ignore", invalid="ignore"):
            out = gauss_1d(lambda u: u * f(u) * d(u), qf, order=order) / qf
    return check_result(act, out, "d/dq E[phi(u)^2]", q, overflow=overflow)


def _correlation(q1, q2, q12):
    q1, q2, q12 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (q1, q2, q12)))
    denom = np.sqrt(q1 * q2)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(denom > 0, q12 / np.where(denom > 0, denom, 1.0), 0.0)
    return q1, q2, np.clip(c, -1.0, 1.0)


def kernel(
    act: Activation, q1, q2, q12, *, method: str = "auto", order: tuple[int, int] = DEFAULT_ORDER_2D
) -> np.ndarray:
    r""":math:`\mathbb E[\phi(u_1)\phi(u_2)]`, :math:`\operatorname{Cov}(u) = [[q_1, q_{12}], [q_{12}, q_2]]`."""
    q1, q2, c = _correlation(q1, q2, q12)
    if _use_closed(act, method):
        out = np.asarray(act.closed_forms.kernel(q1, q2, c), dtype=np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = gauss_2d(act.fn, act.fn, q1, q2, c, order=order)
    return check_result(act, out, "E[phi(u1) phi(u2)]", np.maximum(q1, q2))


def deriv_kernel(
    act: Activation, q1, q2, q12, *, method: str = "auto", order: tuple[int, int] = DEFAULT_ORDER_2D
) -> np.ndarray:
    r""":math:`\mathbb E[\phi'(u_1)\phi'(u_2)]`."""
    q1, q2, c = _correlation(q1, q2, q12)
    if _use_closed(act, method):
        out = np.asarray(act.closed_forms.deriv_kernel(q1, q2, c), dtype=np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = gauss_2d(act.derivative, act.derivative, q1, q2, c, order=order)
    return check_result(act, out, "E[phi'(u1) phi'(u2)]", np.maximum(q1, q2))


def half_sq_diff(
    act: Activation,
    q,
    c=None,
    *,
    theta=None,
    method: str = "auto",
    order: tuple[int, int] = DEFAULT_ORDER_2D,
) -> np.ndarray:
    r""":math:`\tfrac12\mathbb E[(\phi(u_1) - \phi(u_2))^2]` for equal variances q and correlation c.

    Equals :math:`M_2(q) - K(q, q, c)`, but is integrated (or written in closed form)
    directly, so that it keeps full relative accuracy as :math:`c\to 1`, where both
    terms approach each other; it vanishes exactly at c = 1.  Give ``theta`` (the
    angle, :math:`c = \cos\theta`) instead of ``c`` when it is known exactly: near c = 1
    a rounded c carries a relative error :math:`\epsilon/(1-c)` in :math:`1 - c`.
    """
    q = np.asarray(q, dtype=np.float64)
    if c is None and theta is None:
        raise ValueError("half_sq_diff needs c or theta")
    if _use_closed(act, method):
        cc = None if c is None else np.asarray(c, dtype=np.float64)
        out = np.asarray(act.closed_forms.half_sq_diff(q, cc, theta), dtype=np.float64)
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = gauss_2d_sqdiff(act.fn, act.derivative, q, c, theta=theta, order=order)
    return check_result(act, out, "E[(phi(u1) - phi(u2))^2] / 2", q)


@dataclass(frozen=True)
class Numerics:
    """Numerical settings shared by every map (one frozen object, passed as ``numerics=``).

    Attributes
    ----------
    method : {"auto", "closed", "quadrature"}
        Closed forms where the activation has them (``"auto"``), or force one route.
    order_1d : int
        Gauss-Legendre nodes per half-line for 1-D expectations (:func:`eoc._quad.gauss_1d`).
    order_2d : (int, int)
        (angular nodes per half-arc, radial nodes) for 2-D expectations.
    xrtol : float
        Relative tolerance of the bracketing root finders (fixed points, EOC).
    """

    method: str = "auto"
    order_1d: int = DEFAULT_ORDER_1D
    order_2d: tuple[int, int] = DEFAULT_ORDER_2D
    xrtol: float = 4.0 * np.finfo(np.float64).eps

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got method={self.method!r}")
        o1 = self.order_1d
        if isinstance(o1, (bool, np.bool_)) or not isinstance(o1, (int, np.integer)) or o1 < 2:
            raise ValueError(f"order_1d must be an integer >= 2, got order_1d={o1!r}")
        o2 = self.order_2d
        ok = isinstance(o2, (tuple, list)) and len(o2) == 2 and all(
            isinstance(o, (int, np.integer)) and not isinstance(o, (bool, np.bool_)) and o >= 2 for o in o2
        )
        if not ok:
            raise ValueError(f"order_2d must be two integers >= 2, got order_2d={o2!r}")
        object.__setattr__(self, "order_1d", int(o1))
        object.__setattr__(self, "order_2d", (int(o2[0]), int(o2[1])))
        x = self.xrtol
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.floating)) or not (0 < x < 1e-2):
            raise ValueError(f"xrtol must lie in (0, 1e-2), got xrtol={x!r}")

    def moment2(self, act, q, **kw):
        return moment2(act, q, method=self.method, order=self.order_1d, **kw)

    def deriv_moment2(self, act, q, **kw):
        return deriv_moment2(act, q, method=self.method, order=self.order_1d, **kw)

    def dq_moment2(self, act, q, **kw):
        return dq_moment2(act, q, method=self.method, order=self.order_1d, **kw)

    def kernel(self, act, q1, q2, q12):
        return kernel(act, q1, q2, q12, method=self.method, order=self.order_2d)

    def deriv_kernel(self, act, q1, q2, q12):
        return deriv_kernel(act, q1, q2, q12, method=self.method, order=self.order_2d)

    def half_sq_diff(self, act, q, c=None, *, theta=None):
        return half_sq_diff(act, q, c, theta=theta, method=self.method, order=self.order_2d)

    def mean(self, act, q, **kw):
        return mean(act, q, order=self.order_1d, **kw)


DEFAULT_NUMERICS = Numerics()


def resolve_numerics(numerics: "Numerics | None") -> Numerics:
    """``numerics`` or the defaults; rejects other types with a clear message."""
    if numerics is None:
        return DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise ValueError(f"numerics must be an eoc.Numerics, got {numerics!r}")
    return numerics
