"""The fourth verdict: "inconclusive" when the data cannot decide a claim.

Too few usable items, an undefined measure or nothing selected is neither a refutation nor a
crash: the evaluator raises `InsufficientEvidence` (or returns an inconclusive result), the kind
turns it into a `ClaimResult`, the claim's test is skipped with "INCONCLUSIVE: ...", and the
report and the run's last line count it on its own.
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_report import INNER_CONFTEST, QUIET

from evaluation.components import InsufficientPairs
from evaluation.intervention_data import InsufficientData
from kinds.spec import ClaimKind, CostModel
from evaluation.result import VERDICTS, ClaimResult, InsufficientEvidence, inconclusive_result
from report.outcome import RunOutcome
from report.summary import verdict_lines

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
CLAIM = SimpleNamespace(id="H9", title="A claim", statement="Something holds.", level="head",
                        path=Path("hypotheses/h9/claim.yaml"))


def test_insufficient_errors_are_insufficient_evidence():
    assert "inconclusive" in VERDICTS
    assert issubclass(InsufficientPairs, InsufficientEvidence)
    assert issubclass(InsufficientData, InsufficientEvidence)


def _kind(evaluate) -> ClaimKind:
    return ClaimKind(name="component", file_name="claim.yaml", description="test kind", scope="model",
                     load=lambda p: CLAIM, evaluate=evaluate, plots=(("none", lambda r: None),),
                     cost=CostModel(1.0))


def test_judge_turns_insufficient_evidence_into_an_inconclusive_result_with_its_figures():
    def evaluate(claim, run):
        raise InsufficientData("3 recall prompts answered correctly, 8 needed", figures={"n_correct": 3})

    result = _kind(evaluate).judge(CLAIM, object(), model="smollm2")
    assert result.verdict == "inconclusive" and not result.passed
    assert result.message == "H9: 3 recall prompts answered correctly, 8 needed"
    assert result.figures == {"n_correct": 3, "model": "smollm2"}
    assert result.model == "smollm2" and result.kind == "component" and result.level == "head"


def test_judge_lets_real_errors_through():
    def evaluate(claim, run):
        raise RuntimeError("capture failed")

    with pytest.raises(RuntimeError, match="capture failed"):
        _kind(evaluate).judge(CLAIM, object(), model="m")


def test_judge_returns_a_verdict_unchanged():
    made = inconclusive_result(CLAIM, "m", "component", "H9: nothing selected")
    assert made.message == "H9: nothing selected"  # not prefixed twice
    assert _kind(lambda c, r: made).judge(CLAIM, object(), model="m") is made


def test_outcome_counts_inconclusive_as_a_verdict():
    outcome = RunOutcome.of([{"verdict": "supported"}, {"verdict": "inconclusive"}, {"verdict": "refuted"}], [])
    assert outcome.every_claim_has_a_verdict and outcome.total == 3 and outcome.inconclusive == 1
    assert outcome.counts() == "1 of 3 claims supported, 1 refuted or confounded, 1 inconclusive"
    assert verdict_lines([{"id": "H1", "model": "m", "verdict": "inconclusive"},
                          {"id": "H2", "model": "m", "verdict": "refuted"}]) == [
        "0 of 2 claims supported on m: H2 refuted; H1 inconclusive"]


INNER_TESTS = """
import pytest
from evaluation.result import inconclusive_result, InsufficientEvidence
from report.evidence import record_result
from types import SimpleNamespace

CLAIM = SimpleNamespace(id="H9", title="t", statement="s", level="head", path="x")

def test_claim(request):
    result = inconclusive_result(CLAIM, "tiny", "component",
                                 InsufficientEvidence("2 pairs left, 10 needed", figures={"n_pairs": 2}))
    record_result(request, result)
    pytest.skip(f"INCONCLUSIVE: {result.message}")
"""


def test_an_inconclusive_claim_is_skipped_recorded_and_shown(pytester):
    pytester.syspathinsert(str(ROOT))
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TESTS)
    out = pytester.path / "out"
    run = pytester.runpytest("-p", "report.plugin", "--report-dir", str(out), "--html", str(out / "report.html"),
                             "--exit-zero-on-verdicts", *QUIET, "-rs")
    assert run.ret == pytest.ExitCode.OK
    run.stdout.fnmatch_lines(["*INCONCLUSIVE: H9: 2 pairs left, 10 needed*"])
    assert run.outlines[-1].endswith("0 of 1 claim supported, 0 refuted or confounded, 1 inconclusive")
    evidence = json.loads((out / "evidence.json").read_text())
    assert [(r["verdict"], r["figures"]["n_pairs"]) for r in evidence["records"]] == [("inconclusive", 2)]
    html = (out / "report.html").read_text()
    assert "H9 inconclusive" in html and "hx-v-inconclusive" in html
