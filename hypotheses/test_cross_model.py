"""H4 (and any ``*/model_agreement.yaml`` claim): do layer profiles agree across models?

Runs after the per-model claims (module order), on every ``--model`` of the run plus the
models of ``--compare-with`` evidence files. Activations come from the cache the per-model
claims filled; a model is loaded only if they are missing, one at a time.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hypotheses.claims import ClaimFileError

CLAIM_PATHS = sorted(Path(__file__).parent.glob("*/model_agreement.yaml"))


def _claim_id(path: Path) -> str:
    from hypotheses.cross_model_claim import load_agreement_claim

    try:
        return load_agreement_claim(path).id
    except ClaimFileError:
        return f"{path.parent.name}(invalid)"


@pytest.fixture
def agreement_claim(request):
    from hypotheses.cross_model_claim import load_agreement_claim

    return load_agreement_claim(request.param)


def _live_bundle(name, claim, run_options, taskset, cache_root, activation_cache):
    from fixtures.lazy_model import LazyModel
    from fixtures.models import load_config
    from fixtures.provider import ActivationProvider
    from hypotheses.cross_model import profiles_from_activations

    model = LazyModel(name, device=run_options.device, dtype=run_options.dtype,
                      trust_remote_code=run_options.trust_remote_code, cache_dir=str(cache_root),
                      device_map=run_options.device_map, max_memory=run_options.max_memory)
    try:
        fmt = model.tokenizer_memo(activation_cache).resolve_format(run_options.prompt_format)
        acts = ActivationProvider(model, fmt, activation_cache, seed=run_options.seed).get(taskset)
        if run_options.correct_only:
            acts = _correct_pairs_only(acts, claim, name, taskset, model, fmt, activation_cache)
        architecture = load_config(model.spec, cache_dir=str(cache_root)).model_type
        return profiles_from_activations(acts, claim.sources, seed=run_options.seed, n_boot=claim.n_bootstrap,
                                         name=name, architecture=architecture)
    finally:
        model.release()


def _correct_pairs_only(acts, claim, name, taskset, model, fmt, activation_cache):
    """`acts` restricted to the pairs this model answers correctly on both sides (--correct-only)."""
    from fixtures.behaviour import get_behaviour

    pairs = get_behaviour(taskset, model, prompt_format=fmt, cache=activation_cache).correct_pairs()
    needed = max(2 * c.cv.folds for c in claim.sources.values())
    if len(pairs) < needed:
        pytest.fail(f"{claim.id}: --correct-only leaves {len(pairs)} pairs of {len(taskset.pairs)} that "
                    f"{name} answers correctly on both sides; its source claims need at least {needed}",
                    pytrace=False)
    return acts.subset(pairs)


@pytest.mark.parametrize("agreement_claim", CLAIM_PATHS, ids=[_claim_id(p) for p in CLAIM_PATHS], indirect=True)
def test_cross_model_agreement(agreement_claim, run_options, taskset, cache_root, activation_cache, request):
    from hypotheses.cross_model import (
        NotEnoughModelsError,
        bundles_from_evidence,
        evaluate_h4,
    )
    from hypotheses.evidence import record_result

    bundles = [_live_bundle(name, agreement_claim, run_options, taskset, cache_root, activation_cache)
               for name in run_options.models]
    if run_options.compare_with:
        live = {b.name for b in bundles}
        earlier = bundles_from_evidence(*run_options.compare_with, claims=sorted(agreement_claim.sources))
        bundles += [b for b in earlier if b.name not in live]
    try:
        result = evaluate_h4(agreement_claim, bundles, seed=run_options.seed)
    except NotEnoughModelsError as exc:
        pytest.skip(f"{agreement_claim.id} needs two or more models (--model a,b or --compare-with): {exc}")
    record_result(request, result)
    if not result.passed:
        pytest.fail(f"{result.verdict.upper()}: {result.message}", pytrace=False)
