"""One shard of a sharded run: what it runs, the plain pytest command, and its status file.

Contents
--------
ShardSpec      : one shard: its name, model(s), claims, report and cache directories, pytest flags.
ShardOutcome   : how a shard ended: exit status, wall time, host, log; written as ``shard.json``.
plan_shards    : the shards of a run: one per model, or one per model and claim group.
shard_command  : the shard's command line, ``python -m pytest hypotheses/ --model M --report-dir ...``.
run_shard      : run one shard in a subprocess and write its status (what a cluster job calls).
write_status   : write a shard's ``shard.json`` (atomically).
read_status    : a shard directory's ``shard.json``, or None when it has none.

``shard.json`` is this module's file (one owner per format); evidence.json belongs to
`report.evidence`. A shard is a plain pytest run: anyone can run `shard_command` by hand.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUS_NAME = "shard.json"
LOG_NAME = "pytest.log"
STATUS_VERSION = 1
#: pytest exit statuses of a shard that wrote its evidence and gave every claim a verdict
#: (``--exit-zero-on-verdicts``: refuted and confounded claims exit 0 too).
OK_STATUSES = (0,)


@dataclass(frozen=True)
class ShardSpec:
    """One shard.

    Attributes
    ----------
    name : str
        File-name-safe; the shard's report directory is ``<out>/shards/<name>``.
    models : tuple of str
        Usually one model (one GPU per shard).
    claims : tuple of str
        Claim ids (``--claim``); empty = every claim.
    report_dir : str
        The shard's ``--report-dir`` (on the shared file system).
    cache_dir : str or None
        The shared ``--cache-dir``.
    pytest_args : tuple of str
        Further flags for every shard (``--device cuda``, ``--tasks extended``, ``--export parquet``).
    threads : int or None
        torch / OpenMP threads of the shard's process (local shards sharing one machine's cores).
    python : str
        The interpreter that runs pytest (the suite's environment).
    """

    name: str
    models: tuple[str, ...]
    report_dir: str
    claims: tuple[str, ...] = ()
    cache_dir: str | None = None
    pytest_args: tuple[str, ...] = ()
    threads: int | None = None
    python: str = field(default_factory=lambda: sys.executable)


@dataclass(frozen=True)
class ShardOutcome:
    """How one shard ended (``shard.json``).

    Attributes
    ----------
    name : str
    returncode : int or None
        pytest's exit status; None when the job never ran pytest to the end (killed, lost).
    wall_s : float or None
    host : str
    command : list of str
    log : str
        Where its output went.
    error : str
        Why it failed, in words ("" when it did not).
    """

    name: str
    returncode: int | None
    wall_s: float | None = None
    host: str = ""
    command: tuple[str, ...] = ()
    log: str = ""
    error: str = ""
    models: tuple[str, ...] = ()
    claims: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.returncode in OK_STATUSES and not self.error


def plan_shards(models: Sequence[str], out_dir: str | os.PathLike[str], *,
                claim_groups: Sequence[Sequence[str]] = (), cache_dir: str | None = None,
                pytest_args: Sequence[str] = (), threads: int | None = None) -> list[ShardSpec]:
    """One shard per model, or per model and claim group (``claim_groups``), under ``<out>/shards``.

    Examples
    --------
    >>> [s.name for s in plan_shards(["smollm2", "qwen0.5b"], "/shared/run")]
    ['smollm2', 'qwen0.5b']
    >>> [s.name for s in plan_shards(["tiny"], "/r", claim_groups=[["H1", "H4"], ["H5a"]])]
    ['tiny-H1.H4', 'tiny-H5a']
    """
    from report.evidence import slugify

    if not models:
        raise ValueError("no models to shard: give at least one (--models a,b)")
    groups = [tuple(g) for g in claim_groups] or [()]
    if any(not g for g in groups) and len(groups) > 1:
        raise ValueError(f"an empty claim group among {groups}: each group needs at least one claim id")
    specs = []
    for model in dict.fromkeys(models):
        for group in groups:
            name = slugify(model) + (f"-{'.'.join(slugify(c) for c in group)}" if group else "")
            specs.append(ShardSpec(name=name, models=(model,), claims=group,
                                   report_dir=str(Path(out_dir) / "shards" / name), cache_dir=cache_dir,
                                   pytest_args=tuple(pytest_args), threads=threads))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two shards would share a name: {names}")
    return specs


def shard_command(spec: ShardSpec) -> list[str]:
    """The plain pytest command of `spec` (``--shard`` names it in its evidence). The claims are
    the installed ``hypotheses`` package (``--pyargs``), so the job's working directory does not
    matter.

    Examples
    --------
    >>> shard_command(ShardSpec("tiny", ("tiny",), "/r/shards/tiny", claims=("H1",), python="python"))[:7]
    ['python', '-m', 'pytest', '--pyargs', 'hypotheses', '--model', 'tiny']
    """
    command = [spec.python, "-m", "pytest", "--pyargs", "hypotheses", "--model", ",".join(spec.models),
               "--report-dir", spec.report_dir, "--shard", spec.name, "--exit-zero-on-verdicts",
               "--progress", "lines", "-p", "no:cacheprovider"]
    if spec.cache_dir:
        command += ["--cache-dir", spec.cache_dir]
    for claim in spec.claims:
        command += ["--claim", claim]
    return command + list(spec.pytest_args)


def run_shard(spec: ShardSpec) -> ShardOutcome:
    """Run the shard's pytest in a subprocess (output to ``<report_dir>.log``), write its
    ``shard.json`` and return the outcome. Never raises for a failing shard: the merge lists it.
    """
    report_dir = Path(spec.report_dir)
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    log = report_dir.parent / f"{report_dir.name}.{LOG_NAME}"
    command = shard_command(spec)
    env = dict(os.environ)
    if spec.threads:
        env.update(OMP_NUM_THREADS=str(spec.threads), MKL_NUM_THREADS=str(spec.threads))
    started = time.perf_counter()
    error = ""
    try:
        with open(log, "w", encoding="utf-8") as out:
            returncode: int | None = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                                    check=False).returncode
    except OSError as exc:
        returncode, error = None, f"could not start pytest: {exc}"
    wall = time.perf_counter() - started
    if returncode is not None and returncode not in OK_STATUSES:
        error = f"pytest exited with status {returncode}: {_last_lines(log)}"
    outcome = ShardOutcome(spec.name, returncode, round(wall, 2), socket.gethostname(), tuple(command),
                           str(log), error, spec.models, spec.claims)
    write_status(report_dir, outcome)
    return outcome


def _last_lines(log: Path, n: int = 3) -> str:
    """The log's first ``ERROR`` line (pytest's usage errors come first), else its last lines."""
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return "(no log)"
    first_error = next((line for line in lines if line.startswith(("ERROR", "error:"))), None)
    return (first_error or " | ".join(lines[-n:]))[-600:]


def write_status(report_dir: str | os.PathLike[str], outcome: ShardOutcome) -> Path:
    """Write ``<report_dir>/shard.json`` atomically (the directory is created when missing)."""
    path = Path(report_dir) / STATUS_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STATUS_NAME}.{socket.gethostname()}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"status_version": STATUS_VERSION, **asdict(outcome)}, indent=1) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_status(report_dir: str | os.PathLike[str]) -> ShardOutcome | None:
    """The `ShardOutcome` in ``<report_dir>/shard.json``; None without one.

    Raises
    ------
    ValueError
        A ``shard.json`` that is not one (named, with what is wrong).
    """
    path = Path(report_dir) / STATUS_NAME
    if not path.is_file():
        return None
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable shard status ({exc})") from None
    if not isinstance(data, Mapping) or data.get("status_version") != STATUS_VERSION or "name" not in data:
        raise ValueError(f"{path}: not a shard status of version {STATUS_VERSION}")
    known = set(ShardOutcome.__dataclass_fields__)
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
    return ShardOutcome(**fields)
