r"""Activation functions, their derivatives and their closed-form Gaussian kernels.

An :class:`Activation` is a small frozen object: the function, its derivative,
and optional closed forms of the Gaussian expectations used by the mean-field maps
(:mod:`eoc._expect`).  Closed forms are provided for the **leaky ReLU family**
(ReLU is ``leaky_relu(0)``, linear is ``leaky_relu(1)``; the identities are tested)
and for **erf**; every other activation is integrated numerically by
:mod:`eoc._quad`, which splits at 0, so a kink (or a jump of the derivative) at the
origin is handled exactly.  Kinks elsewhere are not supported.

Closed forms (Cho & Saul 2009; Williams 1997; docs/theory.md §2), with
:math:`c = q_{12}/\sqrt{q_1 q_2}`:

.. math::

    \phi_a(x) = \tfrac{1+a}{2}x + \tfrac{1-a}{2}|x|,\qquad
    \mathbb E[\phi_a(u_1)\phi_a(u_2)] = \big(\tfrac{1+a}{2}\big)^2 q_{12}
        + \big(\tfrac{1-a}{2}\big)^2 \tfrac{2}{\pi}\sqrt{q_1q_2}\big(\sqrt{1-c^2} + c\arcsin c\big),

    \mathbb E[\phi_a'(u_1)\phi_a'(u_2)] = \big(\tfrac{1+a}{2}\big)^2
        + \big(\tfrac{1-a}{2}\big)^2 \tfrac{2}{\pi}\arcsin c,

    \mathbb E[\operatorname{erf}(u_1)\operatorname{erf}(u_2)]
        = \tfrac{2}{\pi}\arcsin\frac{2q_{12}}{\sqrt{(1+2q_1)(1+2q_2)}},\qquad
    \mathbb E[\operatorname{erf}'(u_1)\operatorname{erf}'(u_2)]
        = \frac{4}{\pi\sqrt{(1+2q_1)(1+2q_2) - 4q_{12}^2}}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import special

__all__ = [
    "Activation",
    "ClosedForms",
    "get_activation",
    "available_activations",
]

ArrayFn = Callable[[np.ndarray], np.ndarray]

# SELU constants (Klambauer et al. 2017), to the digits published with the paper.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class ClosedForms:
    r"""Closed-form Gaussian expectations of an activation :math:`\phi`.

    Each function takes variances and returns an array; ``c`` is the correlation.

    Attributes
    ----------
    moment2 : q -> E[phi(sqrt(q) Z)^2]
    deriv_moment2 : q -> E[phi'(sqrt(q) Z)^2]
    dq_moment2 : q -> d/dq E[phi(sqrt(q) Z)^2]
    kernel : (q1, q2, c) -> E[phi(u1) phi(u2)]
    deriv_kernel : (q1, q2, c) -> E[phi'(u1) phi'(u2)]
    half_sq_diff : (q, c, theta=None) -> E[(phi(u1) - phi(u2))^2] / 2 with q1 = q2 = q, i.e.
        moment2(q) - kernel(q, q, c), written without cancellation as c -> 1
        (it sets 1 - f(c) in :mod:`eoc._correlation`).  When ``theta`` (the angle,
        c = cos theta) is given it is used instead of c, so that 1 - c = 2 sin^2(theta/2)
        is exact however close c is to 1.
    """

    moment2: Callable
    deriv_moment2: Callable
    dq_moment2: Callable
    kernel: Callable
    deriv_kernel: Callable
    half_sq_diff: Callable


@dataclass(frozen=True)
class Activation:
    """A scalar activation function with what the mean-field theory needs of it.

    Attributes
    ----------
    name : str
        Registry name (``"tanh"``, ``"leaky_relu"``, ...) or the user's name.
    params : tuple of (str, float)
        Parameters, e.g. ``(("negative_slope", 0.1),)``; with ``name`` they define equality.
    fn, derivative : callable
        Vectorized numpy functions :math:`\\phi` and :math:`\\phi'`.
    homogeneous : bool
        Positively homogeneous of degree 1 (:math:`\\phi(\\lambda x) = \\lambda\\phi(x)`,
        :math:`\\lambda > 0`): the leaky ReLU family.  With ``sigma_b = 0`` their
        correlation map does not depend on q and every q is a fixed point on the EOC.
    closed_forms : ClosedForms or None
        Closed-form Gaussian expectations, when known.
    """

    name: str
    fn: ArrayFn = field(compare=False, repr=False)
    derivative: ArrayFn = field(compare=False, repr=False)
    params: tuple = ()
    homogeneous: bool = field(default=False, compare=False)
    closed_forms: ClosedForms | None = field(default=None, compare=False, repr=False)

    def __call__(self, x):
        return self.fn(np.asarray(x, dtype=np.float64))

    @property
    def label(self) -> str:
        """Human-readable name with parameters, e.g. ``leaky_relu(negative_slope=0.1)``."""
        shown = [(k, v) for k, v in self.params if k != "id"]  # "id" tells user callables apart
        if not shown:
            return self.name
        inner = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown)
        return f"{self.name}({inner})"

    @classmethod
    def from_callable(
        cls,
        fn: ArrayFn,
        derivative: ArrayFn | None = None,
        *,
        name: str | None = None,
        step: float = 1e-3,
    ) -> "Activation":
        """Wrap a user-defined vectorized function.

        Parameters
        ----------
        fn : callable
            Vectorized :math:`\\phi`, smooth except possibly at 0.
        derivative : callable, optional
            :math:`\\phi'`.  When omitted it is computed by a fourth-order one-sided
            finite difference pointing away from 0 (so a kink at 0 is never straddled),
            :math:`\\phi'(x) \\approx (-25f_0 + 48f_1 - 36f_2 + 16f_3 - 3f_4)/(12h)`
            with :math:`h = \\text{step}\\cdot\\max(1, |x|)`; truncation ~ h^4/5 |phi^(5)|,
            rounding ~ 10 eps / h, i.e. ~1e-12 for the default step.
        name : str, optional
            Defaults to ``fn.__name__``.
        """
        if not callable(fn):
            raise ValueError(f"activation must be a name or a callable, got {fn!r}")
        probe = np.asarray(fn(np.linspace(-2.0, 2.0, 5)), dtype=np.float64)
        if probe.shape != (5,) or not np.isfinite(probe).all():
            raise ValueError(
                f"activation {getattr(fn, '__name__', fn)!r} must map a float array to a finite array "
                f"of the same shape; on [-2, -1, 0, 1, 2] it returned {probe!r}"
            )
        if derivative is None:
            derivative = _one_sided_derivative(fn, step)
        label = name or getattr(fn, "__name__", "custom")
        return cls(name=label, fn=fn, derivative=derivative, params=(("id", id(fn)),))


def _one_sided_derivative(fn: ArrayFn, step: float) -> ArrayFn:
    coef = np.array([-25.0, 48.0, -36.0, 16.0, -3.0]) / 12.0

    def derivative(x):
        x = np.asarray(x, dtype=np.float64)
        direction = np.where(x < 0, -1.0, 1.0)
        h = step * np.maximum(1.0, np.abs(x)) * direction
        acc = np.zeros(np.broadcast(x, h).shape)
        for k, ck in enumerate(coef):
            acc = acc + ck * np.asarray(fn(x + k * h), dtype=np.float64)
        return acc / h

    return derivative


def _real(value, name: str, activation: str, *, low: float | None = None, strict: bool = False) -> float:
    """A finite real parameter of an activation (``> low`` if strict, else ``>= low``)."""
    bad = isinstance(value, (bool, np.bool_, str, bytes))
    try:
        v = float(value)
    except (TypeError, ValueError):
        bad = True
    if bad or not math.isfinite(v) or (low is not None and (v <= low if strict else v < low)):
        cond = "a finite number" if low is None else f"a finite number {'>' if strict else '>='} {low:g}"
        raise ValueError(f"{activation} needs {name} to be {cond}, got {name}={value!r}")
    return v


# ---------------------------------------------------------------- leaky ReLU family

# A(s) = arcsin(s) - s sqrt(1 - s^2) = int_0^s 2 t^2 / sqrt(1 - t^2) dt, by its series
# 2 sum_k C(2k, k) / 4^k s^(2k+3) / (2k + 3) below s = 0.3 (ratio of terms < 0.09).
_A_SERIES = np.array([2.0 * math.comb(2 * k, k) / 4**k / (2 * k + 3) for k in range(16)])


def _arcsin_gap(s):
    s = np.asarray(s, dtype=np.float64)
    small = s < 0.3
    s2 = s * s
    series = np.polynomial.polynomial.polyval(s2, _A_SERIES) * s2 * s
    with np.errstate(invalid="ignore"):
        direct = np.arcsin(s) - s * np.sqrt(np.clip(1.0 - s2, 0.0, None))
    return np.where(small, series, direct)


def arc_gap(c, theta=None):
    r""":math:`T(c) = \pi/2 - \sqrt{1-c^2} - c\arcsin c = (1-c)\arcsin c + 2A(\sqrt{(1-c)/2})`.

    :math:`\mathbb E|u_1||u_2|` differs from its value at c = 1 by :math:`(2/\pi) q T(c)`;
    the second form has no cancellation as :math:`c\to 1` (where :math:`T\sim\pi(1-c)/2`).
    With the angle ``theta`` (:math:`c = \cos\theta`) it is
    :math:`2\sin^2(\theta/2)(\pi/2 - \theta) + 2A(\sin(\theta/2))`, exact for every theta.
    """
    if theta is not None:
        th = np.clip(np.asarray(theta, dtype=np.float64), 0.0, np.pi)
        s = np.sin(0.5 * th)
        return 2.0 * s * s * (0.5 * np.pi - th) + 2.0 * _arcsin_gap(s)
    c = np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)
    return (1.0 - c) * np.arcsin(c) + 2.0 * _arcsin_gap(np.sqrt(0.5 * (1.0 - c)))


def _gap(c, theta):
    """1 - c, from theta when given (exact), else from c."""
    if theta is not None:
        return 2.0 * np.sin(0.5 * np.clip(np.asarray(theta, dtype=np.float64), 0.0, np.pi)) ** 2
    return 1.0 - np.clip(np.asarray(c, dtype=np.float64), -1.0, 1.0)



def _leaky_closed_forms(a: float) -> ClosedForms:
    even = 0.5 * (1.0 + a)  # coefficient of x
    odd = 0.5 * (1.0 - a)  # coefficient of |x|
    m2 = 0.5 * (1.0 + a * a)

    def moment2(q):
        return m2 * np.asarray(q, dtype=np.float64)

    def deriv_moment2(q):
        return np.full(np.shape(q), m2)

    def kernel(q1, q2, c):
        c = np.clip(c, -1.0, 1.0)
        s = np.sqrt(np.asarray(q1) * np.asarray(q2))
        abs_part = (2.0 / np.pi) * s * (np.sqrt(1.0 - c * c) + c * np.arcsin(c))
        return even * even * c * s + odd * odd * abs_part

    def deriv_kernel(q1, q2, c):
        c = np.clip(c, -1.0, 1.0)
        out = even * even + odd * odd * (2.0 / np.pi) * np.arcsin(c)
        return np.broadcast_to(out, np.broadcast(q1, q2, c).shape).copy()

    def half_sq_diff(q, c, theta=None):
        q = np.asarray(q, dtype=np.float64)
        return q * (even * even * _gap(c, theta) + odd * odd * (2.0 / np.pi) * arc_gap(c, theta))

    return ClosedForms(moment2, deriv_moment2, deriv_moment2, kernel, deriv_kernel, half_sq_diff)


def _leaky_relu(negative_slope: float = 0.01, *, name: str = "leaky_relu") -> Activation:
    a = _real(negative_slope, "negative_slope", name)

    def fn(x):
        return np.where(x > 0, x, a * x)

    def derivative(x):
        return np.where(x > 0, 1.0, a)

    params = () if name != "leaky_relu" else (("negative_slope", a),)
    return Activation(name, fn, derivative, params, homogeneous=True, closed_forms=_leaky_closed_forms(a))


def _relu() -> Activation:
    return _leaky_relu(0.0, name="relu")


def _linear() -> Activation:
    return _leaky_relu(1.0, name="linear")


# ---------------------------------------------------------------- erf

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf() -> Activation:
    def moment2(q):
        # (2/pi) arcsin(2q/(1+2q)) = 1 - (4/pi) arcsin(1/sqrt(2 + 4q)): no loss as 2q/(1+2q) -> 1.
        q = np.asarray(q, dtype=np.float64)
        with np.errstate(divide="ignore"):
            large = 1.0 - (4.0 / np.pi) * np.arcsin(1.0 / np.sqrt(2.0 + 4.0 * q))
        return np.where(q < 1.0, (2.0 / np.pi) * np.arcsin(2.0 * q / (1.0 + 2.0 * q)), large)

    def deriv_moment2(q):
        q = np.asarray(q, dtype=np.float64)
        return (4.0 / np.pi) / np.sqrt(1.0 + 4.0 * q)

    def dq_moment2(q):
        q = np.asarray(q, dtype=np.float64)
        return (4.0 / np.pi) / ((1.0 + 2.0 * q) * np.sqrt(1.0 + 4.0 * q))

    def kernel(q1, q2, c):
        q1, q2 = np.asarray(q1, dtype=np.float64), np.asarray(q2, dtype=np.float64)
        q12 = np.clip(c, -1.0, 1.0) * np.sqrt(q1 * q2)
        return (2.0 / np.pi) * np.arcsin(2.0 * q12 / np.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2)))

    def deriv_kernel(q1, q2, c):
        q1, q2 = np.asarray(q1, dtype=np.float64), np.asarray(q2, dtype=np.float64)
        q12 = np.clip(c, -1.0, 1.0) * np.sqrt(q1 * q2)
        return (4.0 / np.pi) / np.sqrt((1.0 + 2.0 * q1) * (1.0 + 2.0 * q2) - 4.0 * q12 * q12)

    def half_sq_diff(q, c, theta=None):
        # (2/pi)[arcsin x - arcsin(c x)], x = 2q/(1+2q); for c >= 0 by
        # arcsin x - arcsin y = arcsin(x sqrt(1-y^2) - y sqrt(1-x^2)), rationalized,
        # with 1 - c^2 = (1 - c)(1 + c) from the exact gap.
        q = np.asarray(q, dtype=np.float64)
        gap = _gap(c, theta)
        c = 1.0 - gap
        x = 2.0 * q / (1.0 + 2.0 * q)
        y = c * x
        cp = np.maximum(c, 0.0)  # the stable branch is used (and well defined) for c >= 0
        one_m_c2 = np.where(c >= 0, gap * (2.0 - gap), 1.0)
        stable = np.arcsin(x * one_m_c2 / (np.sqrt(1.0 - cp * cp * x * x) + cp * np.sqrt(1.0 - x * x)))
        return (2.0 / np.pi) * np.where(c >= 0, stable, np.arcsin(x) - np.arcsin(y))

    def derivative(x):
        return _TWO_OVER_SQRT_PI * np.exp(-x * x)

    forms = ClosedForms(moment2, deriv_moment2, dq_moment2, kernel, deriv_kernel, half_sq_diff)
    return Activation("erf", special.erf, derivative, closed_forms=forms)


# ---------------------------------------------------------------- smooth, numerical


def _tanh() -> Activation:
    def derivative(x):
        t = np.tanh(x)
        return 1.0 - t * t

    return Activation("tanh", np.tanh, derivative)


def _sigmoid() -> Activation:
    def derivative(x):
        s = special.expit(x)
        return s * (1.0 - s)

    return Activation("sigmoid", special.expit, derivative)


def _softplus(beta: float = 1.0) -> Activation:
    b = _real(beta, "beta", "softplus", low=0.0, strict=True)

    def fn(x):
        return np.logaddexp(0.0, b * x) / b

    def derivative(x):
        return special.expit(b * x)

    return Activation("softplus", fn, derivative, (("beta", b),))


def _elu_pair(alpha: float, scale: float):
    def fn(x):
        return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))

    def derivative(x):
        return scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))

    return fn, derivative


def _elu(alpha: float = 1.0) -> Activation:
    a = _real(alpha, "alpha", "elu", low=0.0)
    fn, derivative = _elu_pair(a, 1.0)
    return Activation("elu", fn, derivative, (("alpha", a),))


def _selu() -> Activation:
    fn, derivative = _elu_pair(SELU_ALPHA, SELU_SCALE)
    return Activation("selu", fn, derivative)


_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_K = math.sqrt(2.0 / math.pi)


def _gelu(approximate: str = "none") -> Activation:
    if approximate == "none":

        def fn(x):
            return x * special.ndtr(x)

        def derivative(x):
            return special.ndtr(x) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)

    elif approximate == "tanh":

        def fn(x):
            return 0.5 * x * (1.0 + np.tanh(_GELU_K * (x + 0.044715 * x**3)))

        def derivative(x):
            t = np.tanh(_GELU_K * (x + 0.044715 * x**3))
            return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _GELU_K * (1.0 + 3 * 0.044715 * x * x)

    else:
        raise ValueError(f"gelu approximate must be 'none' or 'tanh', got approximate={approximate!r}")
    params = () if approximate == "none" else (("approximate", approximate),)
    return Activation("gelu", fn, derivative, params)


def _silu(beta: float = 1.0) -> Activation:
    b = _real(beta, "beta", "silu", low=0.0, strict=True)

    def fn(x):
        return x * special.expit(b * x)

    def derivative(x):
        s = special.expit(b * x)
        return s + b * x * s * (1.0 - s)

    params = () if b == 1.0 else (("beta", b),)
    return Activation("silu", fn, derivative, params)


_REGISTRY: dict[str, Callable[..., Activation]] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "linear": _linear,
    "tanh": _tanh,
    "erf": _erf,
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "silu": _silu,
}
_ALIASES = {"swish": "silu", "identity": "linear", "lrelu": "leaky_relu"}


def available_activations() -> tuple[str, ...]:
    """Names accepted by :func:`get_activation`."""
    return tuple(_REGISTRY)


def get_activation(name, **params) -> Activation:
    """Look up an activation by name (or wrap a callable).

    Parameters
    ----------
    name : str, Activation or callable
        One of :func:`available_activations` (aliases: ``swish``, ``identity``,
        ``lrelu``), an :class:`Activation` (returned as is), or a vectorized callable
        (see :meth:`Activation.from_callable`).
    **params
        ``leaky_relu(negative_slope=0.01)``, ``softplus(beta=1)``, ``elu(alpha=1)``,
        ``gelu(approximate="none"|"tanh")``, ``silu(beta=1)``.

    Raises
    ------
    ValueError
        Unknown name or parameter.
    """
    if isinstance(name, Activation):
        if params:
            raise ValueError(f"parameters {params!r} given with an Activation object {name.label!r}")
        return name
    if callable(name) and not isinstance(name, str):
        return Activation.from_callable(name, **params)
    if not isinstance(name, str):
        raise ValueError(f"activation must be a name or a callable, got {name!r}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown activation {name!r}; available: {', '.join(available_activations())}"
        )
    try:
        return _REGISTRY[key](**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters {params!r} for activation {name!r}: {exc}") from None
