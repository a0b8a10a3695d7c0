"""Finding claim files of every kind, in the shipped claims and in the user's directories.

Contents
--------
DiscoveredClaim    : one claim file: its kind, path, loaded claim or the error that stops it.
claim_file_hashes  : test id -> path and SHA-256 of each claim file (run metadata).
claim_files_digest : one hash over them (shards of one run must agree on it).
discover           : every claim file of every registered kind under some directories.
selectable_ids     : the names ``--claim`` selects a claim by (its id; an invalid file's folder).

One code path for every kind: a directory ``<root>/<slug>/`` holding a file named after a kind
(``claim.yaml``, ``intervention.yaml``, ``model_agreement.yaml``) is a claim of that kind. Test
ids are the claim ids; an invalid file keeps a test id of its own (``<slug>(invalid)``) and
fails alone. Two claims with one id are both errors, each naming the other file.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.schema import ClaimFileError
from kinds.spec import ClaimKind


@dataclass(frozen=True)
class DiscoveredClaim:
    """A claim file found on disk.

    Attributes
    ----------
    kind : ClaimKind
    path : Path
    claim : the loaded claim record, or None when the file is invalid
    error : ClaimFileError or None
        Why the file cannot be used; raised when the claim's test runs (an error, never a verdict).
    """

    kind: ClaimKind
    path: Path
    claim: Any | None
    error: ClaimFileError | None = None

    @property
    def test_id(self) -> str:
        """The claim id; ``<folder>(invalid)`` for a file that does not load."""
        return self.claim.id if self.claim is not None else f"{self.path.parent.name}(invalid)"

    def loaded(self) -> Any:
        """The claim, or its `ClaimFileError` raised."""
        if self.error is not None:
            raise self.error
        assert self.claim is not None
        return self.claim


def _load(kind: ClaimKind, path: Path) -> DiscoveredClaim:
    try:
        return DiscoveredClaim(kind, path, kind.load(path))
    except ClaimFileError as exc:
        return DiscoveredClaim(kind, path, None, exc)


def discover(roots: Sequence[str | Path], *, kinds: Iterable[ClaimKind] | None = None) -> list[DiscoveredClaim]:
    """Every claim file of `kinds` under `roots`, in kind order, then root order, then folder name.

    A directory given twice (or the shipped one given again) is read once. Claims sharing one
    id are all turned into errors naming every file with that id.

    Examples
    --------
    >>> [c.test_id for c in discover([shipped_claims_dir()])][:3]   # doctest: +SKIP
    ['H1', 'H1d', 'H1p']
    """
    if kinds is None:
        from kinds import BUILTIN_KINDS

        kinds = BUILTIN_KINDS
    unique_roots = list(dict.fromkeys(Path(r).resolve() for r in roots))
    found = [_load(kind, path) for kind in kinds for root in unique_roots
             for path in sorted(root.glob(f"*/{kind.file_name}"))]
    by_id: dict[str, list[DiscoveredClaim]] = {}
    for entry in found:
        if entry.claim is not None:
            by_id.setdefault(entry.claim.id, []).append(entry)
    out = []
    for entry in found:
        twins = by_id.get(entry.claim.id, []) if entry.claim is not None else []
        if len(twins) > 1:
            others = ", ".join(str(t.path) for t in twins if t is not entry)
            entry = DiscoveredClaim(entry.kind, entry.path, entry.claim, ClaimFileError(
                entry.path, [f"`id` {entry.claim.id!r} is also the id of {others}; claim ids must be unique"]))
        out.append(entry)
    return out


def selectable_ids(claims: Iterable[DiscoveredClaim]) -> set[str]:
    """The names ``--claim`` accepts: every claim id, and an invalid file's folder name."""
    return {name for c in claims for name in (c.test_id, c.test_id.removesuffix("(invalid)"))}


def claim_file_hashes(claims: Iterable[DiscoveredClaim]) -> dict[str, dict[str, str]]:
    """Test id -> ``{"path", "sha256"}`` of each discovered claim file (its bytes as on disk).

    Recorded in a run's metadata so that results of different runs are merged only when they
    evaluated the same claim files (see `claim_files_digest`).
    """
    import hashlib

    return {c.test_id: {"path": str(c.path), "sha256": hashlib.sha256(c.path.read_bytes()).hexdigest()}
            for c in claims}


def claim_files_digest(hashes: dict[str, dict[str, str]]) -> str:
    """One SHA-256 over every claim file's id and hash (paths left out: a checkout's location
    does not change a claim)."""
    import hashlib
    import json

    blob = json.dumps(sorted((cid, h["sha256"]) for cid, h in hashes.items()))
    return hashlib.sha256(blob.encode()).hexdigest()
