"""Claims, their results and the verdict rules.

A claim is a named function of a :class:`CheckContext` returning a list of
:class:`Comparison` (prediction from :mod:`eoc`, Monte-Carlo measurement, standard
error, tolerance).  The verdict of a claim is

* **FAIL** if any comparison misses its tolerance (the numbers are reported, not hidden);
* **INCONCLUSIVE** if none misses but some tolerance is too wide to say anything
  (wider than the comparison's ``resolution``), or the claim reports a reason
  (for example an overflow that prevents the measurement);
* **PASS** otherwise.

Tolerances are statistical: ``z`` standard errors of the measurement (``z = 4`` by
default, so a true claim fails a given comparison with probability ~6e-5), plus a
stated allowance for finite-width bias where the claim explains one.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

__all__ = [
    "Comparison",
    "ClaimResult",
    "Claim",
    "CheckContext",
    "claim",
    "list_claims",
    "get_claim",
    "run_claim",
    "mean_se",
    "verdict_of",
    "PROFILES",
    "VERDICTS",
    "Z",
]

PROFILES = ("tiny", "quick", "full")
#: Resolutions (the widest informative tolerance) scale with the profile's statistical power:
#: the tiny sizes of the test suite can only resolve coarser effects.
RESOLUTION_SCALE = {"tiny": 3.0, "quick": 1.0, "full": 0.5}
VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")
#: Standard errors allowed per comparison.
Z = 4.0
_REGISTRY: dict[str, "Claim"] = {}


@dataclass
class Comparison:
    """One predicted quantity against its measurement.

    Attributes
    ----------
    quantity : str
        What is compared, e.g. ``"q^20 tanh EOC"``.
    predicted, measured, stderr : float
        Prediction, Monte-Carlo estimate and its standard error over replicates.
    tolerance : float
        Allowed ``|measured - predicted|``.
    resolution : float or None
        Largest tolerance that still makes the comparison informative; a wider
        tolerance makes it inconclusive.
    """

    quantity: str
    predicted: float
    measured: float
    stderr: float
    tolerance: float
    resolution: float | None = None

    def __post_init__(self):
        for name in ("predicted", "measured", "stderr", "tolerance"):
            setattr(self, name, float(getattr(self, name)))
        if self.resolution is not None:
            self.resolution = float(self.resolution)

    @property
    def passed(self) -> bool:
        return bool(abs(self.measured - self.predicted) <= self.tolerance)

    @property
    def informative(self) -> bool:
        return bool(self.resolution is None or self.tolerance <= self.resolution)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        d["informative"] = self.informative
        return d


@dataclass
class ClaimResult:
    """The outcome of one claim (everything the report records)."""

    id: str
    title: str
    statement: str
    verdict: str
    comparisons: list[Comparison]
    sizes: dict
    seed: int
    device: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def worst(self) -> Comparison | None:
        """The comparison with the largest ``|measured - predicted| / tolerance``."""
        if not self.comparisons:
            return None
        return max(self.comparisons, key=lambda c: abs(c.measured - c.predicted) / max(c.tolerance, 1e-300))

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "statement": self.statement,
            "verdict": self.verdict,
            "comparisons": [c.as_dict() for c in self.comparisons],
            "sizes": self.sizes,
            "seed": self.seed,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


@dataclass
class CheckContext:
    """What a claim needs to run: sizes for the profile, device, dtype and a seeded generator."""

    profile: str
    sizes: dict
    seed: int
    device: torch.device
    dtype: torch.dtype = torch.float64
    notes: list[str] = field(default_factory=list)
    inconclusive: list[str] = field(default_factory=list)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the claim's seed (+ offset): reproducible on any device."""
        return torch.Generator().manual_seed(self.seed + offset)

    def resolution(self, value: float) -> float:
        """A comparison's resolution at this profile (``value`` is the quick-profile one)."""
        return value * RESOLUTION_SCALE[self.profile]

    def note(self, text: str) -> None:
        self.notes.append(text)

    def cannot_conclude(self, reason: str) -> None:
        """Mark the claim inconclusive (the reason goes into the report)."""
        self.inconclusive.append(reason)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    sizes: dict
    check: Callable[[CheckContext], list[Comparison]]


def claim(id: str, *, title: str, statement: str, sizes: dict) -> Callable:
    """Register ``check(ctx) -> list[Comparison]`` as the claim ``id`` with sizes per profile."""
    missing = set(PROFILES) - set(sizes)
    if missing:
        raise ValueError(f"claim {id} lacks sizes for profiles {sorted(missing)}")

    def wrap(fn):
        _REGISTRY[id] = Claim(id, title, statement, sizes, fn)
        return fn

    return wrap


def _load_all() -> None:
    pkg = importlib.import_module(f"{__package__}.claims")
    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{mod.name}")


def list_claims() -> list[Claim]:
    """Every registered claim, in registration order."""
    _load_all()
    return list(_REGISTRY.values())


def get_claim(claim_id: str) -> Claim:
    _load_all()
    if claim_id not in _REGISTRY:
        raise ValueError(f"unknown claim {claim_id!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[claim_id]


def verdict_of(comparisons: list[Comparison], inconclusive: list[str]) -> str:
    if any(not c.passed for c in comparisons):
        return "FAIL"
    if inconclusive or any(not c.informative for c in comparisons) or not comparisons:
        return "INCONCLUSIVE"
    return "PASS"


def run_claim(c: Claim, profile: str, *, device: torch.device, seed: int = 0, dtype=torch.float64) -> ClaimResult:
    """Run one claim at a profile's sizes and return its :class:`ClaimResult`."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    ctx = CheckContext(profile, dict(c.sizes[profile]), seed, device, dtype)
    t0 = time.perf_counter()
    comparisons = c.check(ctx)
    seconds = time.perf_counter() - t0
    notes = ctx.notes + [f"inconclusive: {r}" for r in ctx.inconclusive]
    return ClaimResult(
        c.id, c.title, c.statement, verdict_of(comparisons, ctx.inconclusive), comparisons, ctx.sizes, seed,
        str(device), seconds, notes,
    )


def mean_se(samples) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the first axis (the replicates)."""
    x = np.asarray(samples, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError("need at least 2 replicates for a standard error")
    return x.mean(axis=0), x.std(axis=0, ddof=1) / math.sqrt(n)

