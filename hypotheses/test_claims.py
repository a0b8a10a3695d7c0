"""Every claim under ``hypotheses/`` and ``--claims DIR``, one test each, whatever its kind.

test_claim     : claims evaluated on each ``--model`` (components H1-H3, interventions H5),
                 test id ``<claim id>-<model>``.
test_run_claim : claims that compare the run's models (H4), after the per-model claims.

This module is the single piece of glue between pytest and the claims: the kinds, their files
their evaluators and plots are declared in `kinds` (one module per kind); discovery is
`kinds.discovery`, run once per run by `fixtures.plugin.discovered_claims`.
supported -> pass; refuted or confounded -> fail with required vs measured; inconclusive (too
few usable items, an undefined measure, nothing selected) -> skipped with "INCONCLUSIVE: <why>",
its evidence still recorded; a malformed claim file or a crash -> error (never a refutation).
"""
from __future__ import annotations

import pytest

from evaluation.component_names import with_tl_names
from evaluation.result import InsufficientEvidence
from fixtures.plugin import discovered_claims
from fixtures.session import ModelRun, RunSession
from kinds.discovery import DiscoveredClaim, claim_file_hashes, claim_files_digest
from report.evidence import RUN_METADATA_KEY, record_merge_inputs, record_result, set_run_metadata


def _record_claim_files(config: pytest.Config) -> None:
    """The run's claim files and their hashes in its metadata (a merge refuses runs of other files)."""
    if "claim_files" not in config.stash.get(RUN_METADATA_KEY, {}):
        hashes = claim_file_hashes(discovered_claims(config))
        set_run_metadata(config, claim_files=hashes, claim_files_sha256=claim_files_digest(hashes))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    _record_claim_files(metafunc.config)
    for fixture, scope in (("model_claim", "model"), ("run_claim", "run")):
        if fixture in metafunc.fixturenames:
            found = [c for c in discovered_claims(metafunc.config) if c.kind.scope == scope]
            metafunc.parametrize(fixture, found, ids=[c.test_id for c in found], indirect=True)


@pytest.fixture
def model_claim(request: pytest.FixtureRequest) -> DiscoveredClaim:
    """A claim of a per-model kind; a malformed file raises here, so the test errors at setup."""
    request.param.loaded()
    return request.param


@pytest.fixture
def run_claim(request: pytest.FixtureRequest) -> DiscoveredClaim:
    """A claim of a cross-model kind; a malformed file raises here (an error at setup)."""
    request.param.loaded()
    return request.param


def _assert_verdict(result) -> None:
    if result.verdict == "inconclusive":
        pytest.skip(f"INCONCLUSIVE: {result.message}")
    if not result.passed:
        pytest.fail(f"{result.verdict.upper()}: {result.message}", pytrace=False)


def test_claim(model_claim: DiscoveredClaim, model_run: ModelRun, request: pytest.FixtureRequest) -> None:
    options = model_run.options
    per_model = model_run.environment
    if len(options.models) > 1:  # one row per model and field in the Environment table
        per_model = {f"{model_run.name} {k}": v for k, v in per_model.items()}
    set_run_metadata(request.config, model=", ".join(options.models),
                     task_file=str(model_run.taskset.source_path or model_run.taskset.name),
                     task_hash=model_run.taskset.sha256, seed=options.seed, **per_model)
    result = model_claim.kind.judge(model_claim.loaded(), model_run, model=model_run.name)
    result = with_tl_names(result, model_run.tl_naming)
    record_result(request, result)
    if "parquet" in options.exports:
        from kinds.component import claim_activations
        from report.parquet_export import export_for_test

        used = claim_activations(model_claim.loaded(), model_run) if result.components is not None else None
        export_for_test(request, result, acts=used[0] if used else None, features=used[1] if used else (),
                        naming=model_run.tl_naming)
    _assert_verdict(result)


def test_run_claim(run_claim: DiscoveredClaim, run_session: RunSession, request: pytest.FixtureRequest) -> None:
    from evaluation.agreement import NotEnoughModelsError

    kind, options = run_claim.kind, run_session.options
    if options.shard is not None and kind.merge_inputs is not None:
        try:  # one shard's models, for the merge (`python -m cluster merge`)
            record_merge_inputs(request, run_claim.test_id, kind.merge_inputs(run_claim.loaded(), run_session))
        except InsufficientEvidence:
            pass  # the claim's own evaluation below says why (inconclusive); nothing to merge
    try:
        result = run_claim.kind.judge(run_claim.loaded(), run_session,
                                      model=", ".join(run_session.options.models))
    except NotEnoughModelsError as exc:
        pytest.skip(f"{run_claim.test_id} needs two or more models (--model a,b or --compare-with): {exc}")
    record_result(request, result)
    _assert_verdict(result)
