"""Run a run's shards on a cluster through submitit: a Slurm job array, or local processes.

Contents
--------
ShardResources : what each shard asks the scheduler for (GPUs, CPUs, memory, time, partition).
make_executor  : a submitit executor: ``"slurm"`` (one array task per shard) or ``"local"``
                 (one process per shard on this machine: the same code path, for tests).
launch         : submit every shard as one job array, wait, and return each shard's outcome;
                 a job that died (killed, timed out, lost) becomes a failed outcome, never an
                 exception, and gets a ``shard.json`` too, so the merge lists it.

The job each array task runs is `cluster.shards.run_shard`: a plain pytest in a subprocess.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster.shards import ShardOutcome, ShardSpec, read_status, run_shard, shard_command, write_status

EXECUTORS = ("slurm", "local")


@dataclass(frozen=True)
class ShardResources:
    """Per shard (one Slurm array task).

    Attributes
    ----------
    gpus : int
        GPUs per shard (``gpus_per_node``); 1 for one model per GPU, 0 on CPU.
    cpus : int
        CPU cores per shard.
    mem_gb : float
        Host memory per shard (the model's weights once in float32 on CPU, or the loading peak).
    timeout_min : int
        Wall-time limit of a shard.
    partition : str or None
        Slurm partition.
    array_parallelism : int
        At most this many shards at once.
    slurm_extra : dict
        Further ``slurm_*`` parameters of submitit (account, qos, constraint, ...).
    """

    gpus: int = 1
    cpus: int = 8
    mem_gb: float = 64.0
    timeout_min: int = 240
    partition: str | None = None
    array_parallelism: int = 64
    slurm_extra: tuple[tuple[str, Any], ...] = ()


def make_executor(kind: str, folder: str | os.PathLike[str], resources: ShardResources) -> Any:
    """A submitit executor of `kind` ("slurm" or "local") writing its job files in `folder`.

    Raises
    ------
    ValueError
        An unknown `kind`.
    ImportError
        submitit is not installed (``pip install submitit``).
    """
    if kind not in EXECUTORS:
        raise ValueError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")
    try:
        import submitit
    except ImportError:
        raise ImportError("sharded runs need submitit: pip install 'circuit-hypotheses[cluster]' "
                          "(or pip install submitit)") from None
    executor = submitit.AutoExecutor(folder=str(folder), cluster=kind)
    params: dict[str, Any] = {"timeout_min": resources.timeout_min, "name": "circuit-hypotheses"}
    if kind == "slurm":
        params.update(gpus_per_node=resources.gpus, cpus_per_task=resources.cpus, mem_gb=resources.mem_gb,
                      slurm_array_parallelism=resources.array_parallelism, tasks_per_node=1, nodes=1)
        if resources.partition:
            params["slurm_partition"] = resources.partition
        params.update(dict(resources.slurm_extra))
    executor.update_parameters(**params)
    return executor


def launch(specs: Sequence[ShardSpec], executor: Any) -> list[ShardOutcome]:
    """Submit `specs` as one job array on `executor`, wait for all, return their outcomes in order.

    Examples
    --------
    >>> outcomes = launch(plan_shards(["tiny", "tiny:1"], out), make_executor("local", out / "jobs",
    ...                                                                  ShardResources(gpus=0)))  # doctest: +SKIP
    >>> [o.ok for o in outcomes]                                                               # doctest: +SKIP
    [True, True]
    """
    jobs = executor.map_array(run_shard, list(specs))
    outcomes = []
    for spec, job in zip(specs, jobs):
        try:
            outcomes.append(job.result())
        except Exception as exc:  # noqa: BLE001 - a dead job is a failed shard, listed by the merge
            known = _status_or_none(spec)
            outcome = ShardOutcome(spec.name, known.returncode if known else None, known.wall_s if known else None,
                                   known.host if known else "", tuple(shard_command(spec)),
                                   str(getattr(getattr(job, "paths", None), "stderr", "")),
                                   f"the cluster job {getattr(job, 'job_id', '?')} failed: "
                                   f"{type(exc).__name__}: {_first_line(exc)}", spec.models, spec.claims)
            write_status(spec.report_dir, outcome)
            outcomes.append(outcome)
    return outcomes


def _status_or_none(spec: ShardSpec) -> ShardOutcome | None:
    try:
        return read_status(Path(spec.report_dir))
    except ValueError:
        return None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:500]
