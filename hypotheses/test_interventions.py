"""One test per intervention claim file under ``hypotheses/*/intervention.yaml`` (H5).

Same contract as `hypotheses.test_claims`: supported -> pass; refuted or confounded -> fail
with required vs measured; a malformed claim file, too few usable prompts
(`InsufficientData`) or a crash -> error, never a refutation.

The model's weights, the clean runs and the reference means are shared by every intervention
claim through the module-scoped `intervention_data` fixture, built from the session fixtures.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hypotheses.claims import ClaimFileError
from hypotheses.intervention_claims import discover_intervention_claims, load_intervention_claim


def _claim_id(path: Path) -> str:
    try:
        return load_intervention_claim(path).id
    except ClaimFileError:
        return f"{path.parent.name}(invalid)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "intervention_claim" not in metafunc.fixturenames:
        return
    paths = discover_intervention_claims(Path(__file__).parent)
    metafunc.parametrize("intervention_claim", paths, ids=[_claim_id(p) for p in paths], indirect=True)


@pytest.fixture
def intervention_claim(request):
    """The validated claim; a malformed file raises here, so the test errors at setup."""
    return load_intervention_claim(request.param)


@pytest.fixture(scope="module")
def intervention_data(model_under_test, taskset, activations, prompt_format, activation_cache, run_options):
    import os

    from hypotheses.intervention_data import InterventionData

    return InterventionData(model_under_test, taskset, activations, prompt_format=prompt_format,
                            cache=activation_cache, seed=run_options.seed, progress=not os.environ.get("CI"))


def test_intervention(intervention_claim, intervention_data, model_under_test, request):
    from hypotheses.evaluate_interventions import evaluate_dissociation, evaluate_localization
    from hypotheses.evidence import record_result

    evaluate = (evaluate_dissociation if intervention_claim.kind == "double_dissociation"
                else evaluate_localization)
    result = evaluate(intervention_claim, intervention_data, model=model_under_test.name)
    record_result(request, result)
    if not result.passed:
        pytest.fail(f"{result.verdict.upper()}: {result.message}", pytrace=False)
