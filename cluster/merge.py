"""Merge the report directories of several runs (a sharded run's shards) into one report.

Contents
--------
MergeRefused  : shards that cannot be one run (other claim files, suite version, seed or task
                set); the message names the shards and the values.
ShardDir      : one input directory: its evidence (or why there is none) and its status.
load_shard    : a `ShardDir` from a report directory (`report.evidence.read_evidence`).
check_compatible : raise `MergeRefused` unless every shard ran the same claim files, suite,
                   seed and task set.
merge_records : every (claim, model) record once; the same pair measured twice with different
                figures is a conflict (the first kept, the other preserved and flagged).
merge_reports : the whole merge: records, cross-model claims recomputed from the shards'
                ``merge_inputs`` (H4 by `evaluate_h4`, as in one run), failed shards listed,
                component CSVs and Parquet files copied; writes evidence.json (through
                `report.evidence.write_evidence`) and report.html.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.shards import ShardOutcome, read_status
from report.evidence import EvidenceFileError, compact_record, read_evidence, write_evidence

EVIDENCE_NAME = "evidence.json"
REPORT_NAME = "report.html"
#: Run metadata every shard must share, with the words a refusal uses for each.
MUST_AGREE = (("claim_files_sha256", "claim files"), ("suite", "suite version"),
              ("seed", "seed"), ("tasks", "task set"))


class MergeRefused(ValueError):
    """The shards cannot be merged into one run; the message names them and why."""


@dataclass(frozen=True)
class ShardDir:
    """One report directory given to the merge."""

    name: str
    directory: Path
    evidence: dict | None
    status: ShardOutcome | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.evidence is not None and not self.problem

    def agreed(self, key: str) -> Any:
        run = (self.evidence or {}).get("run") or {}
        if key in ("seed", "tasks"):
            return (run.get("options") or {}).get(key)
        return run.get(key)


def load_shard(directory: str | os.PathLike[str]) -> ShardDir:
    """The shard in `directory`: its evidence.json (None, with the reason, when missing or
    unreadable) and its ``shard.json`` status when the launcher wrote one."""
    directory = Path(directory)
    try:
        status = read_status(directory)
    except ValueError as exc:
        status, status_problem = None, str(exc)
    else:
        status_problem = ""
    evidence, problem = None, ""
    try:
        evidence = read_evidence(directory / EVIDENCE_NAME)
    except EvidenceFileError as exc:
        problem = f"no usable evidence.json ({exc})"
    name = ((evidence or {}).get("run") or {}).get("shard") or (status.name if status else directory.name)
    if status is not None and status.error:
        problem = "; ".join(p for p in (status.error, problem) if p)
    return ShardDir(str(name), directory, evidence, status, "; ".join(p for p in (problem, status_problem) if p))


def _short(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {str(v)[:12]}" for k, v in value.items())
    return str(value)[:16]


def check_compatible(shards: Sequence[ShardDir]) -> None:
    """Raise `MergeRefused` when shards with evidence differ in any `MUST_AGREE` field.

    The message names each group of shards and its value, and for claim files which claims'
    files differ.
    """
    problems = []
    with_evidence = [s for s in shards if s.evidence is not None]
    for key, words in MUST_AGREE:
        groups: dict[str, list[str]] = {}
        for shard in with_evidence:
            groups.setdefault(json.dumps(shard.agreed(key), sort_keys=True), []).append(shard.name)
        if len(groups) < 2:
            continue
        parts = [f"shard{'s' if len(names) > 1 else ''} {', '.join(names)}: "
                 f"{'not recorded (an older suite)' if value == 'null' else _short(json.loads(value))}"
                 for value, names in groups.items()]
        text = f"different {words} ({'; '.join(parts)})"
        if key == "claim_files_sha256":
            text += _claim_file_differences(with_evidence)
        problems.append(text)
    if problems:
        raise MergeRefused("cannot merge these shards into one run: " + "; ".join(problems)
                           + ". Merge only shards of one run (same claim files, suite, seed and tasks).")


def _claim_file_differences(shards: Sequence[ShardDir]) -> str:
    hashes = {s.name: ((s.evidence or {}).get("run") or {}).get("claim_files") or {} for s in shards}
    ids = sorted({cid for h in hashes.values() for cid in h})
    differ = [cid for cid in ids if len({(h.get(cid) or {}).get("sha256") for h in hashes.values()}) > 1]
    return f"; claim files that differ: {', '.join(differ)}" if differ else ""


def _figures_key(record: Mapping[str, Any]) -> str:
    return json.dumps({"verdict": record.get("verdict"), "figures": record.get("figures")}, sort_keys=True)


def _differing(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    if a.get("verdict") != b.get("verdict"):
        return ["verdict"]
    fa, fb = a.get("figures") or {}, b.get("figures") or {}
    return sorted(k for k in set(fa) | set(fb) if json.dumps(fa.get(k), sort_keys=True)
                  != json.dumps(fb.get(k), sort_keys=True))


def merge_records(shards: Sequence[ShardDir], *, skip_kinds: Sequence[str] = ()) -> tuple[list[dict], list[dict]]:
    """Records of `shards` (in order), each (claim, model) once, and the conflicts.

    A record carries ``shard`` (where it came from). The same (claim, model) from two shards with
    equal verdict and figures is kept once; with different ones the first is kept, flagged
    (``merge_conflict``), and the conflict (both shards, the differing figures, the other record)
    is returned. Records of `skip_kinds` (cross-model claims the merge recomputes) are left out.
    """
    kept: dict[tuple[str, str], dict] = {}
    conflicts: list[dict] = []
    for shard in shards:
        for record in (shard.evidence or {}).get("records", []):
            if record.get("kind") in skip_kinds:
                continue
            key = (str(record["id"]), str(record["model"]))
            record = {**record, "shard": shard.name}
            first = kept.get(key)
            if first is None:
                kept[key] = record
            elif _figures_key(first) != _figures_key(record):
                differs = _differing(first, record)
                conflicts.append({"id": key[0], "model": key[1], "shards": [first["shard"], shard.name],
                                  "differs": differs, "record": record})
                first.setdefault("merge_conflict", {"shards": [first["shard"]], "differs": []})
                first["merge_conflict"]["shards"].append(shard.name)
                first["merge_conflict"]["differs"] = sorted(set(first["merge_conflict"]["differs"]) | set(differs))
    return list(kept.values()), conflicts


@dataclass
class MergeResult:
    """What a merge wrote and found."""

    evidence_path: Path
    report_path: Path
    records: list[dict]
    errors: list[dict]
    skipped: list[dict]
    conflicts: list[dict]
    shards: list[ShardDir] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [s.name for s in self.shards if not s.ok]


def _unique_names(shards: list[ShardDir]) -> list[ShardDir]:
    seen: dict[str, int] = {}
    out = []
    for shard in shards:
        n = seen.get(shard.name, 0)
        seen[shard.name] = n + 1
        out.append(shard if n == 0 else ShardDir(f"{shard.name}#{n + 1}", shard.directory, shard.evidence,
                                                 shard.status, shard.problem))
    return out


def _copy_tree(source: Path, target: Path, notes: list[str]) -> None:
    """Copy files under `source` to `target` (same relative paths); an existing file is kept."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            dest = target / path.relative_to(source)
            if dest.exists():
                if hashlib.sha256(dest.read_bytes()).digest() != hashlib.sha256(path.read_bytes()).digest():
                    notes.append(f"{dest.relative_to(target.parent)}: kept the first shard's file; "
                                 f"{path} differs")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)


def merge_reports(directories: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
                  models: Sequence[str] | None = None) -> MergeResult:
    """Merge the report directories into `out_dir` (evidence.json, report.html, CSVs, Parquet).

    Parameters
    ----------
    directories : report directories (``--report-dir`` of each shard), in order
    out_dir : where the merged report goes (created)
    models : the order of models in cross-model claims (default: order of first appearance),
        the ``--model a,b`` order of the one-host run the merge should equal.

    Raises
    ------
    MergeRefused
        Shards of different claim files, suite versions, seeds or task sets (named).
    """
    from cluster.cross_model import evaluate_cross_model

    out = Path(out_dir)
    shards = _unique_names([load_shard(d) for d in directories])
    check_compatible(shards)
    usable = [s for s in shards if s.evidence is not None]
    from kinds import BUILTIN_KINDS

    cross_kinds = tuple(k.name for k in BUILTIN_KINDS if k.scope == "run")  # recomputed here, across every shard
    records, conflicts = merge_records(usable, skip_kinds=cross_kinds)
    order = list(models or [])
    for shard in usable:
        for rec in shard.evidence["records"]:
            if rec.get("kind") not in cross_kinds and rec["model"] not in order:
                order.append(str(rec["model"]))
        for per_model in shard.evidence["merge_inputs"].values():
            order += [m for m in per_model if m not in order]
    inputs: dict[str, dict] = {}
    for shard in usable:
        for claim_id, per_model in shard.evidence["merge_inputs"].items():
            inputs.setdefault(claim_id, {}).update({m: p for m, p in per_model.items()
                                                    if m not in inputs.get(claim_id, {})})
    errors = [{**e, "shard": s.name} for s in usable for e in s.evidence["errors"]]
    errors += [{"test": f"(shard {s.name})", "when": "shard", "error": s.problem or "failed",
                "shard": s.name} for s in shards if not s.ok]
    errors += [{"test": f"{c['id']} on {c['model']}", "when": "merge", "shard": ", ".join(c["shards"]),
                "error": f"measured twice with different figures (shards {', '.join(c['shards'])}; differing: "
                         f"{', '.join(c['differs'])})"} for c in conflicts]
    cross, skipped, cross_errors = evaluate_cross_model(usable, inputs, records, order)
    records += [compact_record(r) for r in cross]
    errors += cross_errors
    notes: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    for shard in usable:
        for sub in ("components", "parquet"):
            _copy_tree(shard.directory / sub, out / sub, notes)
    run = _merged_run(shards, order, conflicts, notes, out)
    evidence_path = write_evidence(out / EVIDENCE_NAME, records, run=run, errors=errors, merge_inputs=inputs)
    from report.merged_page import merged_report_html

    html = merged_report_html(records, errors, skipped, run, href=lambda rel: Path(rel).as_posix())
    report_path = out / REPORT_NAME
    tmp = report_path.with_name(f".{REPORT_NAME}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, report_path)
    return MergeResult(evidence_path, report_path, records, errors, skipped, conflicts, shards)


def _merged_run(shards: Sequence[ShardDir], models: Sequence[str], conflicts: list[dict], notes: list[str],
                out: Path) -> dict[str, Any]:
    first = next((s.evidence["run"] for s in shards if s.evidence is not None), {})
    shared = {k: first[k] for k in ("claim_files", "claim_files_sha256", "suite", "options", "packages")
              if k in first}
    rows = []
    for s in shards:
        status = s.status
        report = s.directory / REPORT_NAME
        rows.append({"name": s.name, "directory": str(s.directory), "ok": s.ok, "error": s.problem,
                     "models": list(status.models) if status else list(((s.evidence or {}).get("run") or {})
                                                                         .get("options", {}).get("models") or []),
                     "claims": list(status.claims) if status else [],
                     "records": len((s.evidence or {}).get("records", [])),
                     "returncode": status.returncode if status else None,
                     "wall_s": status.wall_s if status else None, "host": status.host if status else "",
                     "report": os.path.relpath(report, out) if report.is_file() else None,
                     "run": (s.evidence or {}).get("run")})
    return {**shared, "model": ", ".join(models),
            "merge": {"shards": rows, "failed_shards": [s.name for s in shards if not s.ok],
                      "conflicts": conflicts, "notes": notes}}
