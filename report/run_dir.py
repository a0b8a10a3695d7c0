"""Where a run's report goes when no ``--report-dir`` is given: a directory of its own.

Contents
--------
new_run_dir    : create ``<root>/<YYYYmmdd-HHMMSS>[-N]/`` (never an existing one).
point_latest   : make ``<root>/latest`` a symbolic link to a run directory (``<root>/LATEST``, a
                 text file holding its name, where links cannot be made).
latest_run_dir : the run directory ``latest`` / ``LATEST`` names, or None.
discard_if_empty : remove a run directory that nothing was written to (a run stopped early).
report_dir_of  : a pytest run's report directory: ``--report-dir``, the ``--html`` file's
                 directory, or a new run directory (removed again if the run writes nothing).

An explicit ``--report-dir DIR`` bypasses all of this: files go directly into DIR, as before.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fixtures.options import DEFAULT_REPORT_ROOT, OPT_REPORT_DIR, unwritable_reason

LATEST_LINK = "latest"
LATEST_FILE = "LATEST"
STAMP_FORMAT = "%Y%m%d-%H%M%S"


def new_run_dir(root: Path, *, now: float | None = None) -> Path:
    """Create and return ``root/<YYYYmmdd-HHMMSS>``, or ``...-2``, ``-3``, ... when runs started
    within the same second (``mkdir`` is atomic, so two processes never share one).

    Examples
    --------
    >>> new_run_dir(Path("reports"))            # doctest: +SKIP
    PosixPath('reports/20250601-142233')
    """
    stamp = time.strftime(STAMP_FORMAT, time.localtime(now))
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        candidate = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"no free run directory for {stamp} under {root}")


def point_latest(root: Path, run_dir: Path) -> Path:
    """Point ``root/latest`` at `run_dir` (a relative link, replaced atomically); where links
    cannot be made (some Windows accounts, some network file systems) write ``root/LATEST``
    with the directory's name instead. Returns the link or file written."""
    link = root / LATEST_LINK
    tmp = root / f".{LATEST_LINK}.{os.getpid()}.tmp"
    try:
        if os.path.lexists(tmp):
            tmp.unlink()
        os.symlink(run_dir.name, tmp, target_is_directory=True)
        if link.is_dir() and not link.is_symlink():  # a real directory named "latest": leave it
            raise OSError(f"{link} is a directory")
        os.replace(tmp, link)
        return link
    except (OSError, NotImplementedError):
        if os.path.lexists(tmp):
            tmp.unlink()
        marker = root / LATEST_FILE
        marker.write_text(run_dir.name + "\n", encoding="utf-8")
        return marker


def latest_run_dir(root: Path) -> Path | None:
    """The run directory named by ``root/latest`` or ``root/LATEST``, if it exists."""
    link = root / LATEST_LINK
    if link.is_symlink() and link.resolve().is_dir():
        return link.resolve()
    marker = root / LATEST_FILE
    if marker.is_file():
        target = root / marker.read_text(encoding="utf-8").strip()
        return target if target.is_dir() else None
    return None


def discard_if_empty(run_dir: Path) -> bool:
    """Remove `run_dir` when nothing was written to it; True when removed."""
    try:
        run_dir.rmdir()  # fails unless empty
    except OSError:
        return False
    return True


def report_dir_of(config: pytest.Config, *, claim_run: bool, default_root: str = DEFAULT_REPORT_ROOT,
                  worker_key: str = "hypotheses_report_dir") -> tuple[Path, Path | None]:
    """``(report dir, run root)``: ``--report-dir`` (fixtures.options) when given; else the
    --html file's directory; else, on a claims run, a new ``reports/<YYYYmmdd-HHMMSS>/`` (run
    root ``reports``; an xdist worker takes its controller's); else ``reports`` (nothing is
    written). Resolved against the invocation directory, so a test that changes the working
    directory cannot move the evidence."""
    def resolve(value: str | Path) -> Path:
        path = Path(value).expanduser()
        return (path if path.is_absolute() else config.invocation_params.dir / path).resolve()

    value = config.getoption(OPT_REPORT_DIR, None)
    if value is None and config.getoption("htmlpath", None):
        value = Path(config.getoption("htmlpath")).expanduser().parent
    if value is not None:
        return resolve(value), None
    given = getattr(config, "workerinput", {}).get(worker_key)
    if given:
        return Path(given), None
    root = resolve(default_root)
    if not claim_run:
        return root, None
    reason = unwritable_reason(root)
    if reason is not None:
        raise pytest.UsageError(f"{root}: {reason}; each run writes its report into a new directory there "
                                f"(pass a writable {OPT_REPORT_DIR})")
    try:
        run_dir = new_run_dir(root)
    except OSError as exc:
        raise pytest.UsageError(f"{root}: cannot create this run's report directory: {exc.strerror or exc} "
                                f"(pass a writable {OPT_REPORT_DIR})") from None
    # A run stopped before writing anything (a usage error, an interrupt) leaves no empty directory.
    config.add_cleanup(lambda: discard_if_empty(run_dir))
    return run_dir, root
