r"""Forward variance and covariance maps and the variance fixed point q*.

THEORY.md section 2; Poole et al. (2016), eqs. (3)-(5).

.. math::

    F(q) = \sigma_b^2 + \sigma_w^2\,\mathbb E[\phi(\sqrt q Z)^2],\qquad
    F_{12}(q_1, q_2, q_{12}) = \sigma_b^2 + \sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)].

Arguments follow the order ``(..., act, sigma_w, sigma_b)`` and broadcast like numpy
arrays; scalars in give numpy scalars (0-d arrays) out.
"""

from __future__ import annotations

import numpy as np

from ._activations import Activation, get_activation
from ._expect import Numerics, resolve_numerics
from ._roots import ladder_bracket, solve_bracketed
from ._validate import check_int, check_nonnegative, check_positive

__all__ = [
    "parse_params",
    "variance_map",
    "covariance_map",
    "variance_iterates",
    "q_star",
    "HOMOGENEOUS_TOL",
]

#: |chi - 1| below which a homogeneous activation with sigma_b = 0 counts as critical.
HOMOGENEOUS_TOL = 1e-12
_LADDER = 2.0 ** np.arange(1, 65)  # q0 * 2^{+-k}: up to 1.8e19 q0 and down to 5e-20 q0


def parse_params(act, sigma_w, sigma_b) -> tuple[Activation, np.ndarray, np.ndarray]:
    """Validate ``(act, sigma_w, sigma_b)``: sigma_w > 0, sigma_b >= 0, known activation."""
    return (
        get_activation(act),
        check_positive(sigma_w, "sigma_w"),
        check_nonnegative(sigma_b, "sigma_b"),
    )


def variance_map(q, act, sigma_w, sigma_b, *, numerics: Numerics | None = None) -> np.ndarray:
    r"""The variance map :math:`F(q) = \sigma_b^2 + \sigma_w^2 \mathbb E[\phi(\sqrt q Z)^2]`.

    Parameters
    ----------
    q : array_like
        Pre-activation variance of the previous layer, ``q >= 0``.
    act : str or Activation
    sigma_w, sigma_b : array_like
        Weight and bias standard deviations (weights have variance sigma_w^2 / fan-in).

    Returns
    -------
    ndarray
        :math:`F(q)`, broadcast over all arguments.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q = check_nonnegative(q, "q")
    return sb**2 + sw**2 * resolve_numerics(numerics).moment2(act, q)


def covariance_map(q1, q2, q12, act, sigma_w, sigma_b, *, numerics: Numerics | None = None) -> np.ndarray:
    r"""Covariance map :math:`\sigma_b^2 + \sigma_w^2\mathbb E[\phi(u_1)\phi(u_2)]`.

    :math:`(u_1, u_2)` is centred Gaussian with variances ``q1, q2`` and covariance
    ``q12`` (``|q12| <= sqrt(q1 q2)``).  With ``q1 = q2 = q12 = q`` it equals
    :func:`variance_map`.
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q1 = check_nonnegative(q1, "q1")
    q2 = check_nonnegative(q2, "q2")
    q12 = np.asarray(q12, dtype=np.float64)
    bound = np.sqrt(q1 * q2) * (1.0 + 1e-12) + 1e-300
    bad = ~(np.abs(q12) <= bound)
    if bad.any():
        raise ValueError(
            "q12 must satisfy |q12| <= sqrt(q1 q2) (a valid covariance), "
            f"got q12={float(np.broadcast_to(q12, bad.shape)[bad].flat[0])!r}"
        )
    return sb**2 + sw**2 * resolve_numerics(numerics).kernel(act, q1, q2, q12)


def variance_iterates(q0, depth: int, act, sigma_w, sigma_b, *, numerics: Numerics | None = None) -> np.ndarray:
    r"""Iterate the variance map: :math:`q^0 = q_0`, :math:`q^{l} = F(q^{l-1})`.

    Returns
    -------
    ndarray
        Shape ``(depth + 1,) + broadcast shape``; row ``l`` is :math:`q^l`.
    """
    depth = check_int(depth, "depth")
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q = check_nonnegative(q0, "q0")
    num = resolve_numerics(numerics)
    q, sw, sb = np.broadcast_arrays(q, sw, sb)
    out = [q.astype(np.float64)]
    for _ in range(depth):
        out.append(sb**2 + sw**2 * num.moment2(act, out[-1]))
    return np.stack(out)


def q_star(act, sigma_w, sigma_b, *, q0=1.0, numerics: Numerics | None = None) -> np.ndarray:
    r"""The variance fixed point :math:`q^* = F(q^*)` reached by iterating F from ``q0``.

    Found by bracketing, not by iteration (which is slow where
    :math:`\chi_q = F'(q^*)` is close to 1): a geometric ladder
    :math:`q_0 2^{\pm k}` finds a sign change of :math:`F(q) - q` on the side of ``q0``
    towards which the iteration moves, then Chandrupatla's method solves to a few
    ulps.  For a monotone F this is the limit of :math:`q^l`.

    Special cases
    -------------
    * Positively homogeneous activations (ReLU, leaky ReLU, linear), where
      :math:`F(q) = \sigma_b^2 + \chi q` with :math:`\chi = \sigma_w^2 \mathbb E[\phi(Z)^2]`:
      :math:`q^* = \sigma_b^2/(1-\chi)` when :math:`\chi < 1`; with :math:`\sigma_b = 0`
      and :math:`\chi = 1` (within 1e-12; the EOC, e.g. ReLU at sigma_w = sqrt 2) every q
      is a fixed point and ``q0`` is returned.
    * Below the last rung :math:`q_0 2^{-64}` the bracket is closed by 0 when
      :math:`F(0) > 0`; when :math:`F(0) = 0` (sigma_b = 0, phi(0) = 0, e.g. tanh with
      sigma_w <= 1) the variance decays to :math:`q^* = 0`.

    Raises
    ------
    ValueError
        When no finite fixed point exists (e.g. ReLU with :math:`\sigma_w^2 > 2`, or
        :math:`\sigma_w^2 = 2` with :math:`\sigma_b > 0`); the message names the first
        offending (sigma_w, sigma_b).
    """
    act, sw, sb = parse_params(act, sigma_w, sigma_b)
    q0 = check_positive(q0, "q0")
    num = resolve_numerics(numerics)
    q0, sw, sb = np.broadcast_arrays(q0, sw, sb)
    shape = q0.shape
    q0, sw, sb = (a.reshape(-1).astype(np.float64) for a in (q0, sw, sb))
    if act.homogeneous:
        out = _q_star_homogeneous(act, q0, sw, sb, num)
    else:
        out = _q_star_general(act, q0, sw, sb, num)
    return out.reshape(shape)


def _no_fixed_point(act: Activation, sw: float, sb: float) -> ValueError:
    return ValueError(
        f"no finite variance fixed point for activation {act.label!r} at sigma_w={float(sw)!r}, "
        f"sigma_b={float(sb)!r}: the variance grows without bound with depth"
    )


def _q_star_homogeneous(act, q0, sw, sb, num):
    chi = sw**2 * num.moment2(act, np.ones_like(sw))  # F(q) = sb^2 + chi q
    critical = np.abs(chi - 1.0) <= HOMOGENEOUS_TOL
    bad = (chi > 1.0) & ~(critical & (sb == 0))
    bad |= critical & (sb > 0)
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise _no_fixed_point(act, sw[i], sb[i])
    out = np.where(critical, q0, 0.0)
    sub = ~critical
    out[sub] = sb[sub] ** 2 / (1.0 - chi[sub])
    return out


def _q_star_general(act, q0, sw, sb, num):
    def excess(q, sw_, sb_):
        return sb_**2 + sw_**2 * num.moment2(act, q) - q

    g0 = excess(q0, sw, sb)
    out = q0.copy()
    up = g0 > 0
    down = g0 < 0
    idx_up, idx_down = np.flatnonzero(up), np.flatnonzero(down)
    if idx_up.size:
        rungs = q0[idx_up][None, :] * _LADDER[:, None]
        found, prev, hit, _ = ladder_bracket(
            lambda x, i: excess(x, sw[idx_up][i], sb[idx_up][i]),
            q0[idx_up],
            rungs,
            -np.ones(idx_up.size),
        )
        if not found.all():
            i = idx_up[np.flatnonzero(~found)[0]]
            raise _no_fixed_point(act, sw[i], sb[i])
        out[idx_up] = solve_bracketed(excess, prev, hit, (sw[idx_up], sb[idx_up]), xrtol=num.xrtol)
    if idx_down.size:
        rungs = q0[idx_down][None, :] / _LADDER[:, None]
        found, prev, hit, _ = ladder_bracket(
            lambda x, i: excess(x, sw[idx_down][i], sb[idx_down][i]),
            q0[idx_down],
            rungs,
            np.ones(idx_down.size),
        )
        # Below the last rung: if F(0) > 0 the root still lies in (0, last rung); if F(0) = 0
        # (sigma_b = 0 and phi(0) = 0) the variance decays to q* = 0.
        tail = ~found & (excess(np.zeros(idx_down.size), sw[idx_down], sb[idx_down]) > 0)
        hit[tail] = 0.0
        found |= tail
        res = np.zeros(idx_down.size)
        if found.any():
            f = np.flatnonzero(found)
            res[f] = solve_bracketed(
                excess, hit[f], prev[f], (sw[idx_down][f], sb[idx_down][f]), xrtol=num.xrtol
            )
        out[idx_down] = res
    return out
