"""Cross-model claims (H4) at the merge: which ones, from which claim file, on which inputs.

Contents
--------
run_scope_claims     : claim id -> (kind, claim file) of the cross-model claims the shards ran.
evaluate_cross_model : each such claim evaluated on the shards' ``merge_inputs`` by its kind's
                       ``evaluate_merged`` (the rule of a one-host run), as evidence records;
                       too few models is a skip, an evaluation error is listed, never raised.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kinds import BUILTIN_KINDS
from kinds.spec import ClaimKind
from evaluation.result import InsufficientEvidence, inconclusive_result

if TYPE_CHECKING:
    from cluster.merge import ShardDir

OUTCOME_OF_VERDICT = {"supported": "passed", "inconclusive": "skipped"}


def _selected(shard: ShardDir, claim_id: str) -> bool:
    chosen = ((shard.evidence or {}).get("run", {}).get("options") or {}).get("claim_ids") or []
    return not chosen or claim_id in chosen


def _claim_file(claim_id: str, recorded: Mapping[str, str]) -> Path:
    """The claim file whose bytes hash to what the shards recorded: where they read it, else the
    shipped claims of this installation (a merge on another host or checkout)."""
    wanted = recorded.get("sha256")
    candidates = [Path(recorded.get("path", ""))]
    try:
        from kinds.discovery import discover
        from fixtures.options import shipped_claims_dir

        candidates += [c.path for c in discover([shipped_claims_dir()]) if c.test_id == claim_id]
    except ModuleNotFoundError:
        pass
    for path in candidates:
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == wanted:
            return path
    raise FileNotFoundError(f"{claim_id}: no claim file with the SHA-256 the shards recorded ({str(wanted)[:12]}...; "
                            f"they read {recorded.get('path')}); it changed since they ran")


def run_scope_claims(shards: Sequence[ShardDir], inputs: Mapping[str, Any]) -> dict[str, tuple[ClaimKind, dict]]:
    """Cross-model claims to evaluate: those of a "run" kind in the shards' claim files that some
    shard selected (no ``--claim``, or its id) or recorded inputs for."""
    if not shards:
        return {}
    claim_files = (shards[0].evidence or {}).get("run", {}).get("claim_files") or {}
    found = {}
    for claim_id, recorded in claim_files.items():
        kind = next((k for k in BUILTIN_KINDS if k.file_name == Path(str(recorded.get("path", ""))).name), None)
        if kind is None or kind.scope != "run" or kind.evaluate_merged is None:
            continue
        if claim_id in inputs or any(_selected(s, claim_id) for s in shards):
            found[claim_id] = (kind, recorded)
    return found


def evaluate_cross_model(shards: Sequence[ShardDir], inputs: Mapping[str, Mapping[str, Any]],
                         records: Sequence[Mapping[str, Any]], models: Sequence[str]
                         ) -> tuple[list[dict], list[dict], list[dict]]:
    """``(records, skipped, errors)`` of the cross-model claims over `models`.

    The seed is the shards' (`cluster.merge.check_compatible` made sure they share one).
    """
    from evaluation.agreement import NotEnoughModelsError

    seed = int(((shards[0].evidence or {}).get("run", {}).get("options") or {}).get("seed", 0)) if shards else 0
    out, skipped, errors = [], [], []
    for claim_id, (kind, recorded) in run_scope_claims(shards, inputs).items():
        test = f"merge::{claim_id}"
        try:
            claim = kind.load(_claim_file(claim_id, recorded))
            try:
                result = kind.evaluate_merged(claim, dict(inputs.get(claim_id, {})), list(records),
                                              models=list(models), seed=seed)
            except InsufficientEvidence as exc:
                result = inconclusive_result(claim, ", ".join(models), kind.name, exc)
        except NotEnoughModelsError as exc:
            skipped.append({"test": test, "id": claim_id, "model": None, "reason": str(exc)})
            continue
        except Exception as exc:  # noqa: BLE001 - the merge completes; the error is listed
            errors.append({"test": test, "when": "merge", "id": claim_id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        record = result.to_record()
        out.append({**record, "test": test, "outcome": OUTCOME_OF_VERDICT.get(result.verdict, "failed"),
                    "shard": "(merge)"})
    return out, skipped, errors
