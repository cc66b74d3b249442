"""Running claims: the registry of checks, their context, and :func:`run_claim`.

A claim's check is a function of a :class:`CheckContext` returning a list of
:class:`~proofs_check.verdict.Comparison`; it registers itself with :func:`claim`
under an id of the static :mod:`~proofs_check.catalog`, with its sizes per profile.
The verdict rules and tolerances are those of :mod:`proofs_check.verdict`.

:func:`run_claim_job` runs one claim of a command-line run where it is executed (this
process, or a Ray task on a cluster through the executors of
:mod:`paper_repro.executor`) and writes its result file there, atomically, before it
returns: a killed driver keeps every finished claim.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .catalog import CLAIM_IDS, PROFILES, claim_info
from .results import ClaimResult
from .verdict import Comparison, verdict_of

__all__ = [
    "Claim",
    "CheckContext",
    "ClaimJob",
    "claim",
    "list_claims",
    "get_claim",
    "run_claim",
    "run_claim_job",
    "RESOLUTION_SCALE",
]

#: Resolutions (the widest informative tolerance) scale with the profile's statistical power:
#: the tiny sizes of the test suite can only resolve coarser effects.
RESOLUTION_SCALE = {"tiny": 3.0, "quick": 1.0, "full": 0.5}
_REGISTRY: dict[str, "Claim"] = {}


@dataclass
class CheckContext:
    """What a claim needs to run: the profile's sizes, seed, device and dtype; notes it records."""

    profile: str
    sizes: dict
    seed: int
    device: torch.device
    dtype: torch.dtype = torch.float64
    notes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def seed_for(self, offset: int) -> int:
        """The seed of one measurement: the claim's seed plus a fixed offset per measurement."""
        return self.seed + int(offset)

    def resolution(self, value: float) -> float:
        """A comparison's resolution at this profile (``value`` is the quick-profile one)."""
        return value * RESOLUTION_SCALE[self.profile]

    def note(self, text: str) -> None:
        self.notes.append(text)

    def cannot_conclude(self, reason: str) -> None:
        """Mark the claim inconclusive (the reason goes into the report)."""
        self.reasons.append(reason)


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    statement: str
    sizes: dict
    check: Callable[[CheckContext], list[Comparison]]


def claim(id: str, *, sizes: dict) -> Callable:
    """Register ``check(ctx) -> list[Comparison]`` as the catalog claim ``id`` with sizes per profile."""
    info = claim_info(id)
    missing = set(PROFILES) - set(sizes)
    if missing:
        raise ValueError(f"claim {id} lacks sizes for profiles {sorted(missing)}")

    def wrap(fn):
        _REGISTRY[id] = Claim(id, info.title, info.statement, sizes, fn)
        return fn

    return wrap


def _load(claim_id: str) -> Claim:
    importlib.import_module(f"{__package__}.claims.{claim_info(claim_id).module}")
    return _REGISTRY[claim_id]


def list_claims() -> list[Claim]:
    """Every claim of the catalog, in catalog order."""
    return [_load(i) for i in CLAIM_IDS]


def get_claim(claim_id: str) -> Claim:
    """The claim ``claim_id`` (ValueError naming the available ids if unknown)."""
    return _load(claim_id)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def run_claim(c: Claim, profile: str, *, device: torch.device, seed: int = 0, dtype=torch.float64) -> ClaimResult:
    """Run one claim at a profile's sizes and return its :class:`~proofs_check.results.ClaimResult`."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got profile={profile!r}")
    device = torch.device(device)
    ctx = CheckContext(profile, dict(c.sizes[profile]), int(seed), device, dtype)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    t0 = time.perf_counter()
    comparisons = c.check(ctx)
    seconds = time.perf_counter() - t0
    return ClaimResult(
        c.id, c.title, c.statement, verdict_of(comparisons, ctx.reasons), comparisons, ctx.sizes, int(seed),
        str(device), _dtype_name(dtype), started, seconds, ctx.notes, ctx.reasons,
    )  # fmt: skip


@dataclass(frozen=True)
class ClaimJob:
    """One claim of a command-line run, ready to execute anywhere (picklable, plain fields)."""

    claim_id: str
    profile: str
    seed: int
    dtype: str
    device: str
    threads: int | None = None


def run_claim_job(job: ClaimJob, *, out: str) -> dict:
    """Run ``job``, write ``<out>/claims/<id>.json`` (:class:`~proofs_check.results.RunFolder`), return its dict."""
    from .results import RunFolder

    if job.threads is not None:
        torch.set_num_threads(job.threads)
    result = run_claim(get_claim(job.claim_id), job.profile, device=torch.device(job.device), seed=job.seed,
                       dtype=getattr(torch, job.dtype))  # fmt: skip
    RunFolder(Path(out)).save(result)
    return result.as_dict()
