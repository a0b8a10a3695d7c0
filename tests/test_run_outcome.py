"""How a run ends and where it leaves its results: per-run report directories and ``latest``,
``--report-dir`` as before, ``--claim`` selection, the last line and the exit status."""
from __future__ import annotations

import inspect
import json
import os
import re
from pathlib import Path

import pytest
from test_report import INNER_CONFTEST, QUIET, make_result

from evaluation.schema import shipped_claims_dir
from report.outcome import RunOutcome
from report.run_dir import (
    LATEST_FILE,
    discard_if_empty,
    latest_run_dir,
    new_run_dir,
    point_latest,
)

pytest_plugins = ["pytester"]

CLAIMS_DIR = shipped_claims_dir()
ROOT = CLAIMS_DIR.parent
STAMP = r"\d{8}-\d{6}(-\d+)?"


@pytest.fixture(autouse=True)
def importable_suite(monkeypatch):
    """Subprocess runs import the suite from this checkout, installed or not."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


# ---- run directories -------------------------------------------------------------------------

def test_new_run_dirs_never_collide(tmp_path):
    first = new_run_dir(tmp_path / "reports", now=1_700_000_000)
    second = new_run_dir(tmp_path / "reports", now=1_700_000_000)
    assert re.fullmatch(STAMP, first.name) and second.name == first.name + "-2"
    assert first.is_dir() and second.is_dir()


def test_latest_is_a_relative_link_replaced_atomically(tmp_path):
    root = tmp_path / "reports"
    first, second = new_run_dir(root, now=1), new_run_dir(root, now=2)
    point_latest(root, first)
    point_latest(root, second)
    assert os.readlink(root / "latest") == second.name and latest_run_dir(root) == second.resolve()


def test_latest_falls_back_to_a_text_file_where_links_fail(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    run = new_run_dir(root, now=1)

    def no_links(*args, **kwargs):
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(os, "symlink", no_links)
    written = point_latest(root, run)
    assert written == root / LATEST_FILE and written.read_text().strip() == run.name
    assert latest_run_dir(root) == run


def test_empty_run_dirs_are_discarded(tmp_path):
    run = new_run_dir(tmp_path, now=1)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "report.html").write_text("x")
    assert discard_if_empty(run) and not run.exists()
    assert not discard_if_empty(tmp_path / "kept")


def _collect(pytester, *args):
    # A subprocess: importing the claims module twice in one process trips numpy's C modules.
    return pytester.runpytest_subprocess(str(CLAIMS_DIR), "--model", "tiny", "--co", "-q", *QUIET, *args)


def _evaluate(pytester, *args):
    # The cheapest claim that writes a report: H1 on `tiny` without controls (--collect-only
    # writes nothing).
    return pytester.runpytest_subprocess(str(CLAIMS_DIR), "--model", "tiny", "--claim", "H1", "--no-controls",
                                         "--exit-zero-on-verdicts", "--cache-dir", str(pytester.path / "cache"),
                                         "-q", *QUIET, *args)


def test_default_runs_keep_their_results_and_latest_points_to_the_newest(pytester):
    first = _evaluate(pytester)
    second = _evaluate(pytester)
    assert first.ret == second.ret == 0
    root = pytester.path / "reports"
    runs = sorted(p for p in root.iterdir() if re.fullmatch(STAMP, p.name))
    assert len(runs) == 2
    for run in runs:
        assert {p.name for p in run.iterdir()} >= {"report.html", "evidence.json"}
    assert latest_run_dir(root) == runs[-1].resolve()
    assert not (root / "report.html").exists() and not (root / "evidence.json").exists()
    second.stdout.fnmatch_lines([f"report written: reports{os.sep}latest{os.sep}report.html — *"])


def test_an_explicit_report_dir_is_written_directly(pytester):
    run = _evaluate(pytester, "--report-dir", "mine")
    assert run.ret == 0
    assert {p.name for p in (pytester.path / "mine").iterdir()} >= {"report.html", "evidence.json"}
    assert not (pytester.path / "reports").exists()


def test_a_run_stopped_by_a_usage_error_leaves_no_empty_directory(pytester):
    run = _collect(pytester, "--claim", "NO_SUCH_CLAIM")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert not [p for p in (pytester.path / "reports").glob("*") if re.fullmatch(STAMP, p.name)]


# ---- --claim -----------------------------------------------------------------------------------

def _selected(run) -> list[str]:
    return sorted(re.findall(r"test_claim\[([^\]]+)\]", run.stdout.str()))


def test_claim_selects_by_exact_id(pytester):
    assert _selected(_collect(pytester, "--claim", "H2", "--report-dir", "r")) == ["H2-tiny"]
    both = _collect(pytester, "--claim", "H2p", "--claim", "H1", "--report-dir", "r")
    assert _selected(both) == ["H1-tiny", "H2p-tiny"]


def test_unknown_claim_is_a_usage_error_listing_the_ids(pytester):
    run = _collect(pytester, "--claim", "h2", "--report-dir", "r")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["*--claim h2: no claim has this id*H1, H1d, H1p, H2, H2p*"])


def test_an_invalid_claim_file_is_selected_by_its_folder_name(pytester):
    bad = pytester.path / "mine" / "zz_bad"
    bad.mkdir(parents=True)
    (bad / "claim.yaml").write_text("id: BAD\nalpha: 7\n")
    run = _collect(pytester, "--claims", str(pytester.path / "mine"), "--claim", "zz_bad", "--report-dir", "r")
    assert _selected(run) == ["zz_bad(invalid)-tiny"]


# ---- the last line and the exit status -----------------------------------------------------

def test_outcome_counts_and_line():
    outcome = RunOutcome.of([{"verdict": "supported"}, {"verdict": "confounded"}, {"verdict": "refuted"}],
                            [{"test": "t[H5a-m]"}], [{"test": "t[H4]"}])
    assert outcome.total == 5 and not outcome.every_claim_has_a_verdict
    assert outcome.line(Path("/w/reports/latest/report.html"), base=Path("/w")) == (
        "report written: reports/latest/report.html — 1 of 5 claims supported, 2 refuted or confounded, "
        "1 without a verdict (crash or error: see the report), 1 skipped")
    assert RunOutcome.of([{"verdict": "refuted"}], [], [{"test": "t[H4]"}]).every_claim_has_a_verdict
    assert RunOutcome.of([], [], write_failures=["x"]).line(None).startswith("report NOT written")


VERDICT_TESTS = """
import pytest
from report.evidence import record_result

{source}

@pytest.mark.parametrize("level, verdict", [("layer", "supported"), ("head", "confounded"), ("neuron", "refuted")])
def test_claim(request, level, verdict):
    result = make_result(level, verdict)
    record_result(request, result)
    assert result.passed, result.message
"""


def _verdict_run(pytester, *args, crash=False):
    pytester.syspathinsert(str(ROOT))
    pytester.makeconftest(INNER_CONFTEST)
    source = VERDICT_TESTS.format(source=inspect.getsource(make_result))
    if crash:
        source += "\ndef test_crash():\n    raise RuntimeError('capture failed')\n"
    pytester.makepyfile(test_verdicts=source)
    out = pytester.path / "out"
    return pytester.runpytest("-p", "report.plugin", "--report-dir", str(out), "--html", str(out / "report.html"),
                              *QUIET, *args)


def test_refuted_claims_exit_1_by_default_and_print_the_last_line(pytester):
    run = _verdict_run(pytester)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.outlines[-1] == ("report written: out/report.html — 1 of 3 claims supported, "
                                "2 refuted or confounded")


def test_exit_zero_on_verdicts_when_every_claim_has_one(pytester):
    run = _verdict_run(pytester, "--exit-zero-on-verdicts")
    assert run.ret == pytest.ExitCode.OK
    assert "1 of 3 claims supported, 2 refuted or confounded" in run.outlines[-1]
    evidence = json.loads((pytester.path / "out" / "evidence.json").read_text())
    assert [r["verdict"] for r in evidence["records"]] == ["supported", "confounded", "refuted"]


def test_a_crash_is_never_exit_zero(pytester):
    run = _verdict_run(pytester, "--exit-zero-on-verdicts", crash=True)
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert "1 without a verdict" in run.outlines[-1]
