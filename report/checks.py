"""Usage checks of the report at configure time: an unwritable report directory stops the run
before any work (``--claim`` ids are checked earlier, by `fixtures.plugin`).

Contents
--------
check_writable  : the report directory and the ``--html`` file's directory can be written.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.options import OPT_REPORT_DIR, unwritable_reason


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
