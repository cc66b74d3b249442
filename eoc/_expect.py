r"""Gaussian expectations of an activation: closed form where known, quadrature otherwise.

These five functions are all the mean-field maps need (THEORY.md sections 2-3).
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
from ._quad import DEFAULT_ORDER_1D, DEFAULT_ORDER_2D, gauss_1d, gauss_2d, gauss_2d_fn

__all__ = [
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


def moment2(act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D) -> np.ndarray:
    r""":math:`\mathbb E[\phi(\sqrt q Z)^2]`."""
    if _use_closed(act, method):
        return np.asarray(act.closed_forms.moment2(q), dtype=np.float64)
    f = act.fn
    return gauss_1d(lambda u: f(u) ** 2, q, order=order)


def deriv_moment2(act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D) -> np.ndarray:
    r""":math:`\mathbb E[\phi'(\sqrt q Z)^2]`."""
    if _use_closed(act, method):
        return np.asarray(act.closed_forms.deriv_moment2(q), dtype=np.float64)
    d = act.derivative
    return gauss_1d(lambda u: d(u) ** 2, q, order=order)


def dq_moment2(act: Activation, q, *, method: str = "auto", order: int = DEFAULT_ORDER_1D) -> np.ndarray:
    r""":math:`\frac{d}{dq}\mathbb E[\phi(\sqrt q Z)^2] = \mathbb E[u\phi(u)\phi'(u)]/q`."""
    if _use_closed(act, method):
        return np.asarray(act.closed_forms.dq_moment2(q), dtype=np.float64)
    q = np.maximum(np.asarray(q, dtype=np.float64), _Q_FLOOR)
    f, d = act.fn, act.derivative
    return gauss_1d(lambda u: u * f(u) * d(u), q, order=order) / q


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
        return np.asarray(act.closed_forms.kernel(q1, q2, c), dtype=np.float64)
    return gauss_2d(act.fn, act.fn, q1, q2, c, order=order)


def deriv_kernel(
    act: Activation, q1, q2, q12, *, method: str = "auto", order: tuple[int, int] = DEFAULT_ORDER_2D
) -> np.ndarray:
    r""":math:`\mathbb E[\phi'(u_1)\phi'(u_2)]`."""
    q1, q2, c = _correlation(q1, q2, q12)
    if _use_closed(act, method):
        return np.asarray(act.closed_forms.deriv_kernel(q1, q2, c), dtype=np.float64)
    return gauss_2d(act.derivative, act.derivative, q1, q2, c, order=order)


def half_sq_diff(
    act: Activation, q, c, *, method: str = "auto", order: tuple[int, int] = DEFAULT_ORDER_2D
) -> np.ndarray:
    r""":math:`\tfrac12\mathbb E[(\phi(u_1) - \phi(u_2))^2]` for equal variances q and correlation c.

    Equals :math:`M_2(q) - K(q, q, c)`, but is integrated (or written in closed form)
    directly, so that it keeps full relative accuracy as :math:`c\to 1`, where both
    terms approach each other; it vanishes exactly at c = 1.
    """
    q = np.asarray(q, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    if _use_closed(act, method):
        return np.asarray(act.closed_forms.half_sq_diff(q, c), dtype=np.float64)
    f = act.fn

    def h(u1, u2):
        d = f(u1) - f(u2)
        return 0.5 * d * d

    return gauss_2d_fn(h, q, q, c, order=order)


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
        if int(self.order_1d) < 2:
            raise ValueError(f"order_1d must be >= 2, got order_1d={self.order_1d!r}")
        if len(self.order_2d) != 2 or min(int(o) for o in self.order_2d) < 2:
            raise ValueError(f"order_2d must be two integers >= 2, got order_2d={self.order_2d!r}")
        if not (0 < self.xrtol < 1e-2):
            raise ValueError(f"xrtol must lie in (0, 1e-2), got xrtol={self.xrtol!r}")

    def moment2(self, act, q):
        return moment2(act, q, method=self.method, order=self.order_1d)

    def deriv_moment2(self, act, q):
        return deriv_moment2(act, q, method=self.method, order=self.order_1d)

    def dq_moment2(self, act, q):
        return dq_moment2(act, q, method=self.method, order=self.order_1d)

    def kernel(self, act, q1, q2, q12):
        return kernel(act, q1, q2, q12, method=self.method, order=self.order_2d)

    def deriv_kernel(self, act, q1, q2, q12):
        return deriv_kernel(act, q1, q2, q12, method=self.method, order=self.order_2d)

    def half_sq_diff(self, act, q, c):
        return half_sq_diff(act, q, c, method=self.method, order=self.order_2d)


DEFAULT_NUMERICS = Numerics()


def resolve_numerics(numerics: "Numerics | None") -> Numerics:
    """``numerics`` or the defaults; rejects other types with a clear message."""
    if numerics is None:
        return DEFAULT_NUMERICS
    if not isinstance(numerics, Numerics):
        raise ValueError(f"numerics must be an eoc.Numerics, got {numerics!r}")
    return numerics
