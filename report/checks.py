"""Usage checks of a claims run at configure time: a typo stops the run before any work and
before any file is written.

Contents
--------
check_claim_ids : every ``--claim ID`` names a claim of this run (shipped or ``--claims DIR``).
check_writable  : the report directory and the ``--html`` file's directory can be written.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.options import (
    OPT_CLAIM,
    OPT_CLAIMS,
    OPT_REPORT_DIR,
    shipped_claims_dir,
    unwritable_reason,
)


def check_claim_ids(config: pytest.Config) -> None:
    """``--claim ID`` must name a claim of this run (shipped or ``--claims DIR``): a typo stops
    the run before any work and before any report is written."""
    wanted = config.getoption(OPT_CLAIM, None) or []
    if not wanted:
        return
    from evaluation.discovery import discover, selectable_ids

    roots = [shipped_claims_dir(), *(config.getoption(OPT_CLAIMS, None) or [])]
    known = selectable_ids(discover(roots))
    unknown = [claim_id for claim_id in dict.fromkeys(wanted) if claim_id not in known]
    if unknown:
        raise pytest.UsageError(f"{OPT_CLAIM} {', '.join(unknown)}: no claim has this id (ids are exact and "
                                f"case-sensitive); the claims: {', '.join(sorted(known))}")


def check_writable(config: pytest.Config, report_dir: Path) -> None:
    """Stop before any work when the report directory (or the --html file's) cannot be written."""
    reason = unwritable_reason(report_dir)
    if reason is not None:
        raise pytest.UsageError(f"{OPT_REPORT_DIR} {report_dir}: {reason}; report.html, evidence.json and "
                                f"the component CSVs go there (pass a writable {OPT_REPORT_DIR})")
    html_path = config.getoption("htmlpath", None)
    if html_path:
        html_file = (config.invocation_params.dir / Path(html_path).expanduser())
        if html_file.is_dir():
            raise pytest.UsageError(f"--html {html_path}: {html_file} is a directory, not a file")
        reason = unwritable_reason(html_file.parent)
        if reason is not None:
            raise pytest.UsageError(f"--html {html_path}: {reason}")
