"""Input checks and the output convention shared by the public functions of :mod:`eoc`.

Every public entry point validates its arguments here, so that bad input gets a
:class:`ValueError` that names the argument and the offending value instead of a
silent NaN further down.

Output convention (numpy's own): **scalar in, numpy scalar out; array in, array out.**
A function whose inputs are all scalars returns ``np.float64`` (or ``np.bool_``,
``np.str_``), never a 0-d ndarray; any array input gives an ndarray of the broadcast
shape.  :func:`scalar_out` implements it; apply it to the return value of every
public function (``return scalar_out(result)``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "scalar_out",
    "as_float_array",
    "check_finite",
    "check_positive",
    "check_nonnegative",
    "check_closed_interval",
    "check_sparsity",
    "check_widths",
    "check_int",
    "check_tol",
    "check_choice",
    "check_squares_finite",
]


def scalar_out(value):
    """numpy's convention for results: 0-d arrays become numpy scalars, everything else is kept.

    Tuples and lists are converted element by element (``depth_scales`` returns a
    pair).  ``np.asarray(1.0) -> np.float64(1.0)``; ``np.zeros(3)`` is returned as is.

    Examples
    --------
    >>> scalar_out(np.asarray(2.5))
    np.float64(2.5)
    >>> scalar_out((np.asarray(1.0), np.ones(2)))
    (np.float64(1.0), array([1., 1.]))
    """
    if isinstance(value, np.ndarray):
        return value[()] if value.ndim == 0 else value
    if isinstance(value, tuple):
        return tuple(scalar_out(v) for v in value)
    if isinstance(value, list):
        return [scalar_out(v) for v in value]
    return value


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> float:
    return float(np.broadcast_to(arr, bad.shape)[bad].flat[0])


def as_float_array(value, name: str) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting NaN, booleans, strings and non-numeric input."""
    if isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray) and value.dtype.kind in "USO"):
        raise ValueError(f"{name} must be a real number or an array of them, got {name}={value!r}")
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got the boolean {name}={value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a real number or an array of them, got {name}={value!r}") from exc
    if np.iscomplexobj(value):
        raise ValueError(f"{name} must be real, got {name}={value!r}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: {name}={value!r}")
    return arr


def check_finite(value, name: str) -> np.ndarray:
    """A finite real number (or array of them)."""
    arr = as_float_array(value, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {name}={_first_bad(arr, bad)!r}")
    return arr


def check_positive(value, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """``value > 0`` elementwise (and finite unless ``allow_inf``)."""
    arr = as_float_array(value, name)
    bad = ~(arr > 0) | (~np.isfinite(arr) if not allow_inf else np.zeros(arr.shape, bool))
    if bad.any():
        raise ValueError(f"{name} must be > 0 and finite, got {name}={_first_bad(arr, bad)!r}")
    return arr


def check_nonnegative(value, name: str) -> np.ndarray:
    """``value >= 0`` elementwise and finite."""
    arr = as_float_array(value, name)
    bad = ~(arr >= 0) | ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} must be >= 0 and finite, got {name}={_first_bad(arr, bad)!r}")
    return arr


def check_squares_finite(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr**2`` must not overflow (sigma_w = 1e300 has no float64 variance)."""
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(arr * arr)
    if bad.any():
        raise ValueError(
            f"overflow: {name}^2 exceeds the float64 range (about 1.8e308), got {name}={_first_bad(arr, bad)!r}"
        )
    return arr


def check_closed_interval(value, name: str, lo: float, hi: float) -> np.ndarray:
    """``lo <= value <= hi`` elementwise."""
    arr = as_float_array(value, name)
    bad = ~((arr >= lo) & (arr <= hi))
    if bad.any():
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {name}={_first_bad(arr, bad)!r}")
    return arr


def check_sparsity(value, name: str = "sparsity") -> np.ndarray:
    """A sparsity must lie in [0, 1): sparsity 1 would remove every weight."""
    arr = as_float_array(value, name)
    bad = ~((arr >= 0) & (arr < 1))
    if bad.any():
        raise ValueError(f"{name} must lie in [0, 1), got {name}={_first_bad(arr, bad)!r}")
    return arr


def check_int(value, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """A Python or numpy integer in ``[minimum, maximum]`` (bools and floats rejected, as numpy does)."""
    rng = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer {rng}, got {name}={value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {rng}, got {name}={value!r}")
    return int(value)


def check_tol(value, name: str = "tol") -> float:
    """A tolerance: a finite real number >= 0 (NaN would silently make every comparison False)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return v


def check_choice(value, name: str, choices) -> str:
    """``value`` must be one of ``choices`` (compared with ``==``)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {name}={value!r}")
    return value


def check_widths(widths, name: str = "widths") -> tuple[int, ...]:
    """Layer widths: at least two positive integers (input dim, ..., output dim)."""
    if isinstance(widths, (str, bytes)):
        raise ValueError(f"{name} must be a sequence of positive integers, got {name}={widths!r}")
    try:
        seq = tuple(widths)
    except TypeError as exc:
        raise ValueError(f"{name} must be a sequence of positive integers, got {name}={widths!r}") from exc
    if len(seq) < 2:
        raise ValueError(
            f"{name} needs at least two entries (input dimension and output dimension), got {name}={widths!r}"
        )
    out = []
    for i, w in enumerate(seq):
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Integral) or w <= 0:
            shown = widths if len(seq) <= 12 else f"({', '.join(map(repr, seq[:6]))}, ... {len(seq)} entries)"
            raise ValueError(f"{name}[{i}] must be a positive integer, got {w!r} in {name}={shown}")
        out.append(int(w))
    return tuple(out)
