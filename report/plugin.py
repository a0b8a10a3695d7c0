"""pytest plugin: the HTML evidence report, evidence.json and component CSVs of a claim run.

Contents
--------
pytest_configure          : on runs that collect the claims, default ``--html`` to
                            ``<report-dir>/report.html`` (self-contained), where the report
                            dir is ``--report-dir`` or else a new ``reports/<YYYYmmdd-HHMMSS>/``
                            (`report.run_dir`); stop with a usage error when it cannot be
                            written; register `EvidenceReport`.
pytest_runtest_makereport : attach the test's claim (``report.claim_ref``) to its reports and
                            its recorded `ClaimResult` to its call report, as a JSON record
                            (``report.claim_record``) and pytest-html extras.
EvidenceReport            : gathers records from reports; results-table columns, the summary
                            (`report.summary`: verdicts first, confound audit), files at session
                            end, ``reports/latest``, terminal lines, the run's last line and,
                            with ``--exit-zero-on-verdicts``, exit status 0 when every claim
                            got a verdict (`report.outcome`).
card_html, key_figure      : re-exported from `report.cards` and `report.fragments`.

Records travel on the reports rather than through process state, so the report is the same
whether tests run in this process or on pytest-xdist workers. HTML fragments are in
`report.fragments` and `report.summary`, plots in `report.plots`.

No result is lost at the end of a run: if report.html, evidence.json or a CSV still cannot be
written where asked, evidence.json goes to a new temporary directory, the terminal names it
and the reason, and the run exits with `EXIT_EVIDENCE_NOT_WRITTEN` (3, pytest's
INTERNAL_ERROR), never with 1, the status of a refuted claim.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from fixtures.options import (
    DEFAULT_REPORT_ROOT,
    OPT_EXIT_ZERO_ON_VERDICTS,
    RUN_OPTIONS,
    RunOptions,
    is_claims_run,
)
from report.cards import card_html, claim_extras, claim_ref
from report.checks import check_writable
from report.evidence import (
    MERGE_INPUTS_KEY,
    RESULT_KEY,
    RESULTS_KEY,
    RUN_METADATA_KEY,
    compact_record,
    components_path,
    package_versions,
    set_run_metadata,
    write_components,
    write_evidence,
)
from report.fragments import (
    key_figure,
    row_cells,
    table_header_cells,
)
from report.outcome import RunOutcome, write_verdicts
from report.provenance import suite_version
from report.run_dir import point_latest, report_dir_of
from report.summary import summary_html

DEFAULT_REPORT_DIR = DEFAULT_REPORT_ROOT
REPORT_NAME = "report.html"
EVIDENCE_NAME = "evidence.json"
#: Exit status of a run whose evidence could not be written where asked (not 1: no claim failed
#: because of it). pytest's INTERNAL_ERROR: the run, not a claim, went wrong.
EXIT_EVIDENCE_NOT_WRITTEN = pytest.ExitCode.INTERNAL_ERROR

EVIDENCE_REPORT_KEY = pytest.StashKey["EvidenceReport"]()

__all__ = ["EVIDENCE_REPORT_KEY", "EvidenceReport", "card_html", "key_figure"]


@pytest.hookimpl(tryfirst=True)  # before pytest-html's configure reads --html
def pytest_configure(config: pytest.Config) -> None:
    # --collect-only lists the claims and evaluates none: no report directory, no files.
    claim_run = is_claims_run(config) and not config.option.collectonly
    report_dir, run_root = report_dir_of(config, claim_run=claim_run, default_root=DEFAULT_REPORT_DIR,
                                         worker_key=_WORKER_REPORT_DIR)
    if claim_run and hasattr(config.option, "htmlpath"):
        if not config.option.htmlpath:
            config.option.htmlpath = str(report_dir / REPORT_NAME)
        # A claim report is made to be shared: one file, plots inline, no assets directory.
        config.option.self_contained_html = True
    plugin = EvidenceReport(config, report_dir=report_dir, claim_run=claim_run, run_root=run_root)
    if plugin.writes_files:
        check_writable(config, report_dir)
    config.stash[EVIDENCE_REPORT_KEY] = plugin
    config.pluginmanager.register(plugin, "hypotheses-evidence-report")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.stash.get(EVIDENCE_REPORT_KEY, None)
    if plugin is not None and config.pluginmanager.is_registered(plugin):
        config.pluginmanager.unregister(plugin)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    claim = claim_ref(item)
    if claim is not None:  # every phase: a setup error or a skip names its claim too
        report.claim_ref = claim
    if report.when == "call" and MERGE_INPUTS_KEY in item.stash:  # travels like records (xdist)
        report.merge_inputs = item.stash[MERGE_INPUTS_KEY]
    result = item.stash.get(RESULT_KEY, None)
    if report.when != "call" or result is None:
        return report
    record = compact_record(result.to_record())
    plugin = item.config.stash.get(EVIDENCE_REPORT_KEY, None)
    if result.components is not None and plugin is not None:
        path = components_path(plugin.report_dir, result.model, result.claim_id)
        record["components_csv"] = path.relative_to(plugin.report_dir).as_posix()
    report.claim_record = record
    if report.passed and not result.passed:
        # The test forgot to assert the verdict: the Result column would contradict the claim.
        item.warn(pytest.PytestWarning(
            f"{result.claim_id} recorded verdict {result.verdict!r} but the test passed; "
            "assert result.passed, result.message"))
    if item.config.getoption("htmlpath", None):
        href = plugin.href(record["components_csv"]) if plugin is not None and "components_csv" in record else None
        report.extras = [*getattr(report, "extras", []), *claim_extras(item, result, record, href)]
    return report


class EvidenceReport:
    """Collects claim records during a run and writes the evidence at its end.

    Parameters
    ----------
    config : pytest.Config
    report_dir : Path
        Where evidence.json and ``components/`` go (absolute).
    claim_run : bool
        The run collects the claim tests: files are written even if every claim crashed.
    run_root : Path, optional
        Set when `report_dir` is a per-run directory under it (no ``--report-dir``):
        ``<run_root>/latest`` is pointed at `report_dir` once the report is written.

    Attributes
    ----------
    records : list of dict
        One record per claim test (`ClaimResult.to_record` plus ``test`` and ``outcome``).
    unverdicted : list of dict
        Tests and collectors that failed without recording a verdict: crashes, bad claim files.
    skipped : list of dict
        Claim tests that were skipped (a cross-model claim with one model).
    evidence_path : Path or None
        evidence.json, once written.
    component_paths : list of Path
        Component CSVs written by this process.
    write_failures : list of str
        What could not be written at the end of the run, and why (then the run exits with
        `EXIT_EVIDENCE_NOT_WRITTEN`).
    """

    def __init__(self, config: pytest.Config, *, report_dir: Path, claim_run: bool,
                 run_root: Path | None = None) -> None:
        self.config = config
        self.report_dir = report_dir
        self.claim_run = claim_run
        self.run_root = run_root
        self.records: list[dict] = []
        self.unverdicted: list[dict] = []
        self.skipped: list[dict] = []
        self._started = time.time()
        self.evidence_path: Path | None = None
        self.component_paths: list[Path] = []
        self.write_failures: list[str] = []
        self.merge_inputs: dict[str, dict] = {}

    @property
    def writes_files(self) -> bool:
        """Claim runs and runs with an HTML report write evidence; plain unit-test runs do not."""
        return self.claim_run or bool(self.config.getoption("htmlpath", None))

    @pytest.hookimpl(tryfirst=True)  # before pytest-html (trylast) reads the Environment
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        options = _run_options(self.config)
        if options is not None:  # the options as given, so evidence.json can rerun the run
            set_run_metadata(self.config, options={k: str(v) if isinstance(v, Path) else v
                                                   for k, v in asdict(options).items()})
        # set_run_metadata also copies what conftest hooks set before pytest-metadata existed.
        set_run_metadata(self.config, packages=package_versions(), suite=suite_version())
        if options is not None and options.shard is not None:
            set_run_metadata(self.config, shard=options.shard)
        if self.writes_files:
            set_run_metadata(self.config, report_dir=str(self.report_dir))

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if not self.writes_files or hasattr(config, "workerinput"):
            return []
        where = self.report_path_planned()
        latest = f" ({self.run_root / 'latest'} once written)" if self.run_root is not None else ""
        return [f"report: {where}{latest}"]

    def report_path_planned(self) -> Path:
        html_path = self.config.getoption("htmlpath", None)
        if html_path:
            return (self.config.invocation_params.dir / Path(html_path).expanduser()).resolve()
        return self.report_dir / EVIDENCE_NAME

    def href(self, relative: str) -> str:
        """A link from report.html to `relative` (a path relative to the report directory)."""
        html_path = self.config.getoption("htmlpath", None)
        if not html_path:
            return relative
        html_dir = (self.config.invocation_params.dir / Path(html_path).expanduser()).resolve().parent
        return Path(os.path.relpath(self.report_dir / relative, html_dir)).as_posix()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: every worker writes its CSVs into this run's directory."""
        node.workerinput[_WORKER_REPORT_DIR] = str(self.report_dir)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for claim_id, per_model in (getattr(report, "merge_inputs", None) or {}).items():
            self.merge_inputs.setdefault(claim_id, {}).update(per_model)
        record = getattr(report, "claim_record", None)
        claim = getattr(report, "claim_ref", None) or {}
        if record is not None:
            self.records.append({**record, "test": report.nodeid, "outcome": report.outcome})
        elif report.failed and not any(r["test"] == report.nodeid for r in self.records):
            self.unverdicted.append({"test": report.nodeid, "when": report.when,
                                     "error": _crash_message(report), **claim})
        elif report.skipped and claim:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skipped.append({"test": report.nodeid, **claim,
                                 "reason": str(reason).removeprefix("Skipped: ")})

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:  # e.g. a malformed claim file: no verdict, and it must be visible
            self.unverdicted.append({"test": report.nodeid, "when": "collect",
                                     "error": _crash_message(report)})

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        models = self._models()
        report.title = ("Circuit-specialization evidence" +
                        (f": {', '.join(models)}" if models else ""))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = table_header_cells()

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        # Every row gets the cells (empty without a record) or the columns would shift.
        cells[1:1] = row_cells(getattr(report, "claim_record", None))

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: pytest.Session) -> None:
        prefix.append(summary_html(self.records, self.unverdicted, self.skipped, href=self.href))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.writes_files:
            return
        try:
            self.component_paths = write_components(self.config.stash.get(RESULTS_KEY, []), self.report_dir)
        except OSError as exc:  # the CSVs are lost, evidence.json must not be
            self._failed(session, f"component CSVs not written under {self.report_dir}: {_os_reason(exc)}")
        if hasattr(self.config, "workeroutput"):  # the xdist controller writes evidence.json
            self.config.workeroutput[_WORKER_OUTPUT] = {
                "run": self.config.stash.get(RUN_METADATA_KEY, {}),
                "components": [str(p) for p in self.component_paths]}
            return
        self._write_evidence(session, self.report_dir)

    # Innermost wrapper (trylast): the terminal reporter's wrapper, outside it, still prints the
    # summary. It wraps every plain implementation, pytest-html's (trylast) after this one's.
    @pytest.hookimpl(wrapper=True, trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_guard(self, session: pytest.Session) -> Any:
        """A report.html that cannot be written is named on the terminal, in evidence.json and
        in the exit status, instead of a traceback that hides the verdicts."""
        try:
            result = yield
        except OSError as exc:
            if not self.writes_files:
                raise
            self._failed(session, f"report.html not written: {_os_reason(exc)}")
            if self.evidence_path is not None:  # written before: add the failure to it
                self._write_evidence(session, self.evidence_path.parent)
            result = None
        if self.writes_files and not hasattr(self.config, "workeroutput"):
            self._finish_run(session)
        return result

    def _finish_run(self, session: pytest.Session) -> None:
        """Point ``latest`` at this run's directory; with ``--exit-zero-on-verdicts``, turn the
        status of refuted or confounded claims (pytest's 1) into 0 when nothing else failed."""
        if self.run_root is not None and any(self.report_dir.iterdir()):
            try:
                point_latest(self.run_root, self.report_dir)
            except OSError as exc:  # the report is written; only the pointer to it is missing
                self.write_failures.append(f"{self.run_root / 'latest'} not updated: {_os_reason(exc)}")
        outcome = self.outcome()
        if (self.config.getoption(OPT_EXIT_ZERO_ON_VERDICTS, False)
                and session.exitstatus == pytest.ExitCode.TESTS_FAILED
                and outcome.every_claim_has_a_verdict and self.report_path() is not None):
            session.exitstatus = pytest.ExitCode.OK

    def outcome(self) -> RunOutcome:
        return RunOutcome.of(self.records, self.unverdicted, self.skipped, self.write_failures)

    def report_path(self) -> Path | None:
        """report.html (or, without pytest-html, evidence.json) when this run wrote it."""
        if self.config.getoption("htmlpath", None):
            path = self.report_path_planned()
            written = path.is_file() and path.stat().st_mtime >= self._started - 1
            return path if written else None
        return self.evidence_path

    # Outermost wrapper (tryfirst): after the terminal reporter's summary line, so this is the
    # run's last line.
    @pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_last_line(self, session: pytest.Session) -> Any:
        result = yield
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if self.writes_files and reporter is not None and not hasattr(self.config, "workeroutput"):
            outcome = self.outcome()
            path = self.report_path()
            if path is not None and self.run_root is not None:
                latest = self.run_root / "latest" / path.name
                path = latest if latest.exists() and latest.resolve() == path else path
            reporter.write_line(outcome.line(path, base=self.config.invocation_params.dir), **outcome.markup())
        return result

    def _write_evidence(self, session: pytest.Session, directory: Path | None) -> None:
        """evidence.json in `directory`; failing that (or with None), in a new temporary directory."""
        for target in ([directory] if directory is not None else []) + [None]:
            try:
                if target is None:
                    target = Path(tempfile.mkdtemp(prefix="hypotheses-evidence-"))
                errors = self.unverdicted + [{"test": "(run)", "when": "sessionfinish", "error": failure}
                                             for failure in self.write_failures]
                self.evidence_path = write_evidence(
                    target / EVIDENCE_NAME, self.records,
                    run=self.config.stash.get(RUN_METADATA_KEY, {}), errors=errors,
                    merge_inputs=self.merge_inputs)
                return
            except OSError as exc:
                self._failed(session, f"evidence.json not written in {target or 'a temporary directory'}: "
                                      f"{_os_reason(exc)}")

    def _failed(self, session: pytest.Session, message: str) -> None:
        self.write_failures.append(message)
        session.exitstatus = EXIT_EVIDENCE_NOT_WRITTEN

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: take a worker's run metadata (set by its fixtures) and CSV list."""
        output = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT)
        if output:
            set_run_metadata(self.config, **output["run"])
            self.component_paths += [Path(p) for p in output["components"]]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.records or self.evidence_path or self.write_failures):
            return
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "claim verdicts")
        write_verdicts(write, self.records, self.unverdicted)
        for failure in self.write_failures:
            write(f"NOT WRITTEN: {failure}", red=True, bold=True)
        if self.evidence_path is not None:
            moved = self.write_failures and self.evidence_path.parent != self.report_dir
            write(f"evidence.json: {self.evidence_path}" + (f" (instead of {self.report_dir}; exit status "
                                                           f"{int(EXIT_EVIDENCE_NOT_WRITTEN)})" if moved else ""),
                  **({"red": True, "bold": True} if moved else {}))
        if self.component_paths:
            write(f"component CSVs: {self.report_dir / 'components'} "
                  f"({len(self.component_paths)} files)")

    def _models(self) -> list[str]:
        options = _run_options(self.config)
        if options is not None:
            return list(options.models)
        model = self.config.stash.get(RUN_METADATA_KEY, {}).get("model")
        return [str(model)] if model else []


_WORKER_OUTPUT = "hypotheses_evidence"
_WORKER_REPORT_DIR = "hypotheses_report_dir"

def _run_options(config: pytest.Config) -> RunOptions | None:
    """The suite's `RunOptions` when `fixtures.plugin` registered them, else None."""
    return config.stash.get(RUN_OPTIONS, None)


def _os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"{exc.strerror or exc}{where}"


_CRASH_CHARS = 500


def _crash_message(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        lines = str(crash.message).splitlines()
        # A file error lists its problems on the lines after "invalid claim file <path>:".
        text = lines[0] if not lines[0].endswith(":") else " ".join(line.strip() for line in lines)
        return text if len(text) <= _CRASH_CHARS else text[:_CRASH_CHARS] + "..."
    lines = [line for line in str(report.longreprtext).splitlines() if line.strip()]
    return lines[-1] if lines else report.outcome
