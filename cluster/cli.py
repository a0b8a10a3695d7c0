"""``python -m cluster run`` (shard, launch, merge) and ``python -m cluster merge`` (merge only).

Contents
--------
main         : parse the command line and run; exit 0 when every shard succeeded and the
               merged report is written, 1 when a shard failed (the report still lists it),
               2 on a usage error or a refused merge.
claim_groups : the shards' claim groups from ``--claims`` / ``--by-claim`` / ``--claim-groups``.

    python -m cluster run --models smollm2,qwen0.5b --out /shared/run1 --cache-dir /shared/cache \\
        --executor slurm --partition gpu --gpus 1 --mem-gb 64 -- --device cuda
    python -m cluster merge /shared/run1/shards/* --out /shared/run1/merged
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cluster.launch import EXECUTORS, ShardResources, launch, make_executor
from cluster.merge import MergeRefused, MergeResult, merge_reports
from cluster.shards import plan_shards


def claim_groups(claims: str | None, *, by_claim: bool, groups: str | None) -> list[list[str]]:
    """``--claim-groups "H1,H2;H4"`` -> [[H1, H2], [H4]]; ``--claims H1,H4 --by-claim`` -> [[H1], [H4]];
    ``--claims H1,H4`` -> [[H1, H4]]; nothing -> [] (every claim, one shard per model).

    Examples
    --------
    >>> claim_groups("H1,H4", by_claim=True, groups=None), claim_groups(None, by_claim=False, groups="H1,H2;H4")
    ([['H1'], ['H4']], [['H1', 'H2'], ['H4']])
    """
    if groups:
        return [[c.strip() for c in g.split(",") if c.strip()] for g in groups.split(";") if g.strip()]
    listed = [c.strip() for c in (claims or "").split(",") if c.strip()]
    if not listed:
        return []
    return [[c] for c in listed] if by_claim else [listed]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite as shards (one per model, optionally per claim group) "
                                     "and merge them")
    run.add_argument("--models", required=True, help="models, comma-separated: one shard per model")
    run.add_argument("--out", required=True, help="shared directory: shards/<name>/, jobs/, merged/")
    run.add_argument("--cache-dir", default=None, help="the shared --cache-dir of every shard")
    run.add_argument("--claims", default=None, help="claim ids, comma-separated (default: every claim)")
    run.add_argument("--by-claim", action="store_true", help="one shard per model and claim of --claims")
    run.add_argument("--claim-groups", default=None, help='claim groups, e.g. "H1,H2,H3,H4;H5a": one shard '
                                                         "per model and group")
    run.add_argument("--executor", choices=EXECUTORS, default="slurm",
                     help="slurm (a job array through submitit) or local (processes on this machine)")
    run.add_argument("--gpus", type=int, default=None, help="GPUs per shard (default: 1 on slurm, 0 locally)")
    run.add_argument("--cpus", type=int, default=8, help="CPU cores per shard (default: 8)")
    run.add_argument("--mem-gb", type=float, default=64.0, help="host memory per shard (default: 64)")
    run.add_argument("--timeout-min", type=int, default=240, help="wall-time limit per shard (default: 240)")
    run.add_argument("--partition", default=None, help="Slurm partition")
    run.add_argument("--array-parallelism", type=int, default=64, help="shards at once (default: 64)")
    run.add_argument("pytest_args", nargs="*", help="after --: flags for every shard's pytest")
    merge = sub.add_parser("merge", help="merge report directories into one report")
    merge.add_argument("directories", nargs="+", help="report directories of the shards")
    merge.add_argument("--out", required=True, help="where the merged report.html and evidence.json go")
    merge.add_argument("--models", default=None, help="model order of cross-model claims (default: "
                                                      "order of first appearance)")
    return parser


def _print(result: MergeResult, wall: float | None = None) -> None:
    for shard in result.shards:
        print(f"shard {shard.name}: {'ok' if shard.ok else 'FAILED: ' + shard.problem}")
    for conflict in result.conflicts:
        print(f"CONFLICT: {conflict['id']} on {conflict['model']} measured twice with different figures "
              f"(shards {', '.join(conflict['shards'])}: {', '.join(conflict['differs'])})")
    verdicts = ", ".join(f"{r['id']}/{r['model']} {r['verdict']}" for r in result.records)
    print(f"merged: {len(result.records)} records ({verdicts})")
    took = f" in {wall:.1f} s" if wall is not None else ""
    print(f"report written: {result.report_path}{took}; evidence: {result.evidence_path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        if args.command == "merge":
            models = [m.strip() for m in args.models.split(",")] if args.models else None
            result = merge_reports(args.directories, args.out, models=models)
            _print(result)
            return 1 if result.failed else 0
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        groups = claim_groups(args.claims, by_claim=args.by_claim, groups=args.claim_groups)
        out = Path(args.out).absolute()
        local = args.executor == "local"
        specs = plan_shards(models, out, claim_groups=groups,
                            cache_dir=str(Path(args.cache_dir).absolute()) if args.cache_dir else None,
                            pytest_args=args.pytest_args,
                            threads=max(1, (os.cpu_count() or 1) // max(1, len(models) * max(1, len(groups))))
                            if local else None)
        gpus = args.gpus if args.gpus is not None else (0 if local else 1)
        resources = ShardResources(gpus=gpus, cpus=args.cpus, mem_gb=args.mem_gb, timeout_min=args.timeout_min,
                                   partition=args.partition, array_parallelism=args.array_parallelism)
        print(f"{len(specs)} shards on {args.executor}: {', '.join(s.name for s in specs)}")
        outcomes = launch(specs, make_executor(args.executor, out / "jobs", resources))
        for outcome in outcomes:
            print(f"shard {outcome.name}: exit {outcome.returncode}, {outcome.wall_s} s on {outcome.host or '?'}")
        result = merge_reports([s.report_dir for s in specs], out / "merged", models=models)
        _print(result, time.perf_counter() - started)
        return 1 if result.failed else 0
    except (MergeRefused, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
