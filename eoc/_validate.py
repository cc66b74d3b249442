"""Input checks shared by the public functions of :mod:`eoc`.

Every public entry point validates its arguments here, so that bad input gets a
:class:`ValueError` that names the argument and the offending value instead of a
silent NaN further down.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_positive",
    "check_nonnegative",
    "check_closed_interval",
    "check_sparsity",
    "check_widths",
    "check_int",
]


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> float:
    return float(arr[bad].flat[0])


def as_float_array(value, name: str) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting NaN and non-numeric input."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a real number or an array of them, got {value!r}") from exc
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: {value!r}")
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


def check_int(value, name: str, *, minimum: int = 0) -> int:
    """A Python integer ``>= minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {name}={value!r}")
    return int(value)


def check_widths(widths, name: str = "widths") -> tuple[int, ...]:
    """Layer widths: at least two positive integers (input dim, ..., output dim)."""
    try:
        seq = tuple(widths)
    except TypeError as exc:
        raise ValueError(f"{name} must be a sequence of positive integers, got {widths!r}") from exc
    if len(seq) < 2:
        raise ValueError(
            f"{name} needs at least two entries (input dimension and output dimension), got {widths!r}"
        )
    out = []
    for i, w in enumerate(seq):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w <= 0:
            raise ValueError(f"{name}[{i}] must be a positive integer, got {w!r} in {name}={widths!r}")
        out.append(int(w))
    return tuple(out)
