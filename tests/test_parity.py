"""Parity guards: features agree across batching, padding side, attention kernel and dtype."""
from __future__ import annotations

import numpy as np
import pytest

from engine.cache import ActivationCache
from engine.parity import PARITY_CHECKS, cached_parity, relative_error, run_parity
from engine.model.tiny import build_tiny_config, build_tiny_model, build_tiny_tokenizer

TEXTS = ["What is the capital of France?", "Hi",
         "If Bern is the capital of Switzerland and Switzerland is in Europe, what continent is Bern in?"]


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def tiny(request):
    config = build_tiny_config(architecture=request.param)
    config.initializer_range = 0.2
    return build_tiny_model(seed=5, config=config), build_tiny_tokenizer()


def test_all_checks_pass_within_tolerance_and_model_is_restored(tiny):
    model, tok = tiny
    results = run_parity(model, tok, TEXTS, add_special_tokens=True)
    assert [r.name for r in results] == list(PARITY_CHECKS)
    for r in results:
        assert r.passed, r.describe()
    exact = {r.name: r.max_error for r in results}
    assert exact["float32_vs_bfloat16"] > exact["batched_vs_one_by_one"]  # bf16 really ran
    assert model.config._attn_implementation == "eager"
    assert next(model.parameters()).dtype.is_floating_point and str(next(model.parameters()).dtype) == "torch.float32"


def test_relative_error_reference_values():
    y = np.array([3.0, 4.0])
    assert relative_error(y, y) == 0.0
    assert relative_error(np.array([3.0, 4.5]), y) == pytest.approx(0.1)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == 0.0  # NaN entries skipped


def test_a_real_discrepancy_fails_the_check(tiny, monkeypatch):
    import engine.parity as parity

    model, tok = tiny
    real = parity.capture_activations

    def skewed(*args, **kwargs):  # right padding "breaks" the last-token features
        out = real(*args, **kwargs)
        if kwargs.get("padding_side") == "right":
            out["mlp_last"] = out["mlp_last"] * 1.01
        return out

    monkeypatch.setattr(parity, "capture_activations", skewed)
    results = {r.name: r for r in run_parity(model, tok, TEXTS, add_special_tokens=True,
                                             checks=("left_vs_right_padding",))}
    check = results["left_vs_right_padding"]
    assert not check.passed and check.worst_array == "mlp_last" and check.max_error == pytest.approx(0.01, rel=1e-3)


def test_unknown_check_is_named(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="unknown parity checks \\['fp8'\\]"):
        run_parity(model, tok, TEXTS, add_special_tokens=True, checks=("fp8",))


def test_cached_parity_needs_no_model_when_warm(tmp_path):
    from engine.model.lazy import LazyModel

    cache = ActivationCache(tmp_path)
    lazy = LazyModel("tiny")
    first = cached_parity(lazy, TEXTS, add_special_tokens=True, cache=cache)
    fresh = LazyModel("tiny")
    second = cached_parity(fresh, TEXTS, add_special_tokens=True, cache=cache)
    assert not fresh.is_loaded
    assert [r.describe() for r in second] == [r.describe() for r in first]
