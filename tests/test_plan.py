"""The plan a run prints before its first long step: claims, size, cache state, estimate.

The estimate is checked for its logic (cold above warm, bigger models slower), never against
the clock: the speed of this machine is an argument.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures.options import RunOptions
from kinds.component import COMPONENT
from kinds.intervention import INTERVENTION
from kinds.knockout import KNOCKOUT
from kinds.pattern import PATTERN
from fixtures.plan import (
    KNOWN_PARAMS,
    CacheState,
    ModelPlan,
    cache_state,
    estimate_seconds,
    format_estimate,
    parameter_count,
    plan_models,
)

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]

SMOLLM2 = {"hidden_size": 576, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
           "intermediate_size": 1536, "vocab_size": 49152, "tie_word_embeddings": True}
QWEN05 = {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
          "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": True}
CLAIMS = [("H1", COMPONENT), ("H2", COMPONENT), ("H5a", INTERVENTION)]


@pytest.fixture(autouse=True)
def importable_suite(monkeypatch):
    """Subprocess runs import the suite from this checkout, installed or not."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_parameter_count_matches_the_models():
    assert parameter_count(SMOLLM2) == KNOWN_PARAMS["smollm2"] == 134_515_008
    # Qwen2.5-0.5B: 494,032,768 with its q/k/v biases; the count leaves biases out.
    assert abs(parameter_count(QWEN05) - KNOWN_PARAMS["qwen0.5b"]) / KNOWN_PARAMS["qwen0.5b"] < 0.001
    assert parameter_count({**SMOLLM2, "tie_word_embeddings": False}) == 134_515_008 + 49152 * 576
    assert parameter_count({"hidden_size": 8}) is None


def test_cache_state_counts_entries_by_model_and_kind(tmp_path):
    def entry(name, identity, kind=None):
        (tmp_path / name).mkdir()
        capture = {"kind": kind} if kind else {"dtype": "float32"}
        (tmp_path / name / "manifest.json").write_text(json.dumps({"key": {"model_identity": identity,
                                                                          "capture": capture}}))

    entry("a", "gguf-sha256:x")
    entry("b", "gguf-sha256:x+random-init:seed=0:torch=2")
    entry("c", "gguf-sha256:x", "permutation-null")
    entry("d", "gguf-sha256:other")
    state = cache_state(tmp_path, "gguf-sha256:x")
    assert (state.activations, state.random_twins, state.by_kind) == (1, 1, {"permutation-null": 1})
    assert cache_state(tmp_path / "missing", "x") == CacheState()


def test_estimates_follow_cache_and_size():
    cold = ModelPlan("smollm2", CLAIMS, n_params=KNOWN_PARAMS["smollm2"], converted=False)
    warm = ModelPlan("smollm2", CLAIMS, n_params=KNOWN_PARAMS["smollm2"], converted=True,
                     cache=CacheState(4, 3, {"permutation-null": 2, "h5a": 1}))
    big = ModelPlan("qwen0.5b", CLAIMS, n_params=KNOWN_PARAMS["qwen0.5b"], converted=False)
    low_cold, high_cold = estimate_seconds(cold, speed=180.0)
    low_warm, high_warm = estimate_seconds(warm, speed=180.0)
    assert low_cold < high_cold and high_warm < low_cold
    assert estimate_seconds(big, speed=180.0)[0] > low_cold
    assert estimate_seconds(cold, speed=90.0)[0] == pytest.approx(2 * low_cold)  # a slower CPU
    assert estimate_seconds(ModelPlan("x", CLAIMS), speed=180.0) is None


def test_plan_line_reads_as_documented():
    plan = ModelPlan("smollm2", CLAIMS, n_params=134_515_008, converted=True, estimate=(120, 250))
    assert plan.describe() == ("smollm2 (135M parameters): 3 claims (2 component, 1 intervention), "
                               "activations cached: no, weights converted: yes (est. 2-4 min on this CPU)")
    assert format_estimate(5, 20) == "under a minute" and format_estimate(4000, 9000) == "1.1-2.5 h"


def test_plan_models_reads_no_weights(tmp_path):
    options = RunOptions(models=("tiny",), tasks="core", prompt_format="auto", device="cpu", dtype="auto",
                         cache_dir=str(tmp_path), use_cache=True, seed=0, trust_remote_code=False,
                         report_dir=None, correct_only=False, controls=True, claim_dirs=())
    (plan,) = plan_models(options, {"tiny": CLAIMS}, cache_root=tmp_path, speed=180.0)
    assert plan.n_params and plan.n_params < 1_000_000 and not plan.cache.has_activations
    assert plan.converted is None and plan.estimate is not None
    assert not any(tmp_path.iterdir())  # nothing fetched, converted or cached


def test_a_claims_run_prints_its_plan_before_the_first_test(pytester, tmp_path):
    from evaluation.schema import shipped_claims_dir

    run = pytester.runpytest_subprocess(str(shipped_claims_dir()), "--model", "tiny", "--claim", "H1",
                                        "--no-controls", "--cache-dir", str(tmp_path / "cache"),
                                        "--report-dir", "r", "-p", "no:cacheprovider")
    out = run.stdout.str()
    assert "plan: tiny (" in out and "1 claim (1 component), activations cached: no" in out
    assert out.index("plan: tiny") < out.index("test_claims.py")


def test_pattern_claims_cost_more_until_their_scores_are_cached():
    claims = [("P1", PATTERN), ("P2", PATTERN)]
    cold = ModelPlan("smollm2", claims, n_params=KNOWN_PARAMS["smollm2"], converted=True)
    warm = ModelPlan("smollm2", claims, n_params=KNOWN_PARAMS["smollm2"], converted=True,
                     cache=CacheState(1, 0, {"attention-pattern": 6}))
    assert estimate_seconds(warm, speed=180.0)[1] < estimate_seconds(cold, speed=180.0)[0]
    knockout = ModelPlan("smollm2", claims + [("P3", KNOCKOUT)], n_params=KNOWN_PARAMS["smollm2"],
                         converted=True)
    assert estimate_seconds(knockout, speed=180.0)[0] > estimate_seconds(cold, speed=180.0)[0]
