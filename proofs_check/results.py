"""Claim results and the run folder: one file per finished claim, written atomically.

Torch-free.  A run folder (``--out DIR``) holds

* ``run.json``: the run's configuration (profile, seed, dtype, device), written first;
* ``claims/<id>.json``: each claim's :class:`ClaimResult`, written as soon as the claim
  finishes (:func:`eoc._io.write_json`: a killed run keeps every finished claim, and
  never a half-written file);
* ``report.json`` and ``report.md`` (:mod:`proofs_check.report`), rewritten after every
  claim, with the claims still pending listed.

``--resume`` reuses the finished claims of a folder whose ``run.json`` has the same
configuration; a different configuration is an error that names what differs.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from eoc._io import read_json, write_json

from .verdict import Comparison

__all__ = ["SCHEMA", "ClaimResult", "RunConfig", "RunFolder", "prepare_out_dir"]

#: Version of the result files; a folder of another schema cannot be resumed.
SCHEMA = 1


@dataclass
class ClaimResult:
    """Everything recorded about one claim: verdict, comparisons, seed, sizes, device, time."""

    id: str
    title: str
    statement: str
    verdict: str
    comparisons: list[Comparison]
    sizes: dict
    seed: int
    device: str
    dtype: str
    started: str
    seconds: float
    notes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def worst(self) -> Comparison | None:
        """The comparison with the largest ``|measured - predicted| / tolerance``."""
        if not self.comparisons:
            return None
        return max(self.comparisons, key=lambda c: abs(c.gap) / max(c.tolerance, 1e-300))

    def as_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "title": self.title,
            "statement": self.statement,
            "verdict": self.verdict,
            "comparisons": [c.as_dict() for c in self.comparisons],
            "sizes": self.sizes,
            "seed": self.seed,
            "device": self.device,
            "dtype": self.dtype,
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
            "reasons": self.reasons,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClaimResult":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"claim result of schema {d.get('schema')!r}, expected {SCHEMA}")
        return cls(
            d["id"], d["title"], d["statement"], d["verdict"], [Comparison.from_dict(c) for c in d["comparisons"]],
            d["sizes"], int(d["seed"]), d["device"], d["dtype"], d["started"], float(d["seconds"]),
            list(d.get("notes", [])), list(d.get("reasons", [])),
        )  # fmt: skip


@dataclass(frozen=True)
class RunConfig:
    """What must match for ``--resume`` to reuse finished claims."""

    profile: str
    seed: int
    dtype: str
    device: str

    def as_dict(self) -> dict:
        return {"schema": SCHEMA, "profile": self.profile, "seed": self.seed, "dtype": self.dtype, "device": self.device}


def prepare_out_dir(path, flag: str = "--out") -> Path:
    """Create ``path`` if needed and check that files can be written in it, before any work.

    Raises
    ------
    ValueError
        Naming ``flag`` and the path: not a folder, cannot be created, or not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {str(path)!r} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{flag} {str(path)!r} is not a writable folder: {exc.strerror or exc}") from None
    return path


class RunFolder:
    """The files of one run under ``--out`` (module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.run_file = self.path / "run.json"
        self.claims_dir = self.path / "claims"

    def claim_file(self, claim_id: str) -> Path:
        return self.claims_dir / f"{claim_id}.json"

    def start(self, config: RunConfig, *, resume: bool) -> None:
        """Begin a run: a fresh one clears earlier claim files; a resumed one checks the configuration."""
        if resume:
            if not self.run_file.exists():
                raise ValueError(f"--resume: {str(self.path)!r} holds no proofs_check run (no run.json); run without --resume")
            try:
                old = read_json(self.run_file)
            except (OSError, ValueError) as exc:
                raise ValueError(f"--resume: cannot read {str(self.run_file)!r} ({exc})") from None
            new = config.as_dict()
            diff = [k for k in new if old.get(k) != new[k]]
            if diff:
                was = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
                now = ", ".join(f"{k}={new[k]!r}" for k in diff)
                raise ValueError(
                    f"--resume: {str(self.path)!r} was run with {was}, this run asks {now}; "
                    "resume with the same options, or choose another --out"
                )
            return
        if self.claims_dir.exists():
            for f in self.claims_dir.glob("*.json"):
                f.unlink()
        write_json(self.run_file, config.as_dict())

    def load(self, claim_id: str) -> ClaimResult | None:
        """The finished result of ``claim_id``, or None (missing or unreadable: the claim reruns)."""
        f = self.claim_file(claim_id)
        if not f.exists():
            return None
        try:
            result = ClaimResult.from_dict(read_json(f))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return result if result.id == claim_id else None

    def save(self, result: ClaimResult) -> Path:
        """Write ``claims/<id>.json`` atomically."""
        return write_json(self.claim_file(result.id), result.as_dict())
