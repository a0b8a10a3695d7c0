"""One test per claim file under ``hypotheses/*/claim.yaml``.

A claim is data; this module is the single piece of glue that evaluates any claim on the
session's activations: supported -> pass; refuted or confounded -> fail with required vs
measured; a malformed claim file or a crash -> error (never a refutation).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hypotheses.claims import ClaimFileError, discover_claims, load_claim


def _claim_id(path: Path) -> str:
    try:
        return load_claim(path).id
    except ClaimFileError:
        return f"{path.parent.name}(invalid)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per claim file: those next to this module, then those of ``--claims DIR``."""
    if "claim" not in metafunc.fixturenames:
        return
    paths = discover_claims(Path(__file__).parent)
    for extra in metafunc.config.getoption("--claims", default=[]):
        if not Path(extra).is_dir():
            raise pytest.UsageError(f"--claims {extra!r} is not a directory")
        paths += discover_claims(extra)
    metafunc.parametrize("claim", paths, ids=[_claim_id(p) for p in paths], indirect=True)


@pytest.fixture
def claim(request):
    """The validated claim; a malformed file raises here, so the test errors at setup."""
    return load_claim(request.param)


def test_claim(claim, activations, behaviour, claim_controls, run_options, model_under_test, request):
    from hypotheses.evaluate import evaluate_claim
    from hypotheses.evidence import record_result

    result = evaluate_claim(claim, activations, behaviour=behaviour, seed=run_options.seed,
                            model=model_under_test.name, correct_only=run_options.correct_only,
                            controls=claim_controls)
    record_result(request, result)
    if not result.passed:
        pytest.fail(f"{result.verdict.upper()}: {result.message}", pytrace=False)
