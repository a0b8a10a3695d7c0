"""One test per claim file under ``hypotheses/*/claim.yaml``.

A claim is data; this module is the single piece of glue that evaluates any claim on the
session's activations: supported -> pass; refuted or confounded -> fail with required vs
measured; a malformed claim file or a crash -> error (never a refutation).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hypotheses.claims import ClaimFileError, discover_claims, load_claim

CLAIM_PATHS = discover_claims(Path(__file__).parent)


def _claim_id(path: Path) -> str:
    try:
        return load_claim(path).id
    except ClaimFileError:
        return f"{path.parent.name}(invalid)"


@pytest.fixture
def claim(request):
    """The validated claim; a malformed file raises here, so the test errors at setup."""
    return load_claim(request.param)


@pytest.mark.parametrize("claim", CLAIM_PATHS, ids=[_claim_id(p) for p in CLAIM_PATHS], indirect=True)
def test_claim(claim, activations, behaviour, claim_controls, run_options, model_under_test, request):
    from hypotheses.evaluate import evaluate_claim
    from hypotheses.evidence import record_result

    result = evaluate_claim(claim, activations, behaviour=behaviour, seed=run_options.seed,
                            model=model_under_test.name, correct_only=run_options.correct_only,
                            controls=claim_controls)
    record_result(request, result)
    if not result.passed:
        pytest.fail(f"{result.verdict.upper()}: {result.message}", pytrace=False)
