"""Positive controls P1 (induction heads) and P2 (previous-token heads): task generation, the
pattern capture against HF's own attentions, a planted previous-token head found (and not on
random weights), the verdict rules, and the claim files."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.attention_patterns import condition_sequences, head_scores, judge_scores, pattern_result
from evaluation.pattern_claim import PatternClaim, load_pattern_claim
from evaluation.schema import ClaimFileError
from engine.hooks import active_hook_count
from engine.model.tiny import build_tiny_model, build_tiny_tokenizer
from engine.patterns import attention_to, induction_keys, previous_keys
from tasks.control_sequences import natural_and_shuffled, repeated_random

ROOT = "hypotheses"


def claim(**overrides) -> PatternClaim:
    base = dict(id="PX", title="t", statement="s", path="x.yaml", score="previous_token", sequences=12, length=16,
                threshold=0.5, min_heads=1, min_share=0.0, contrast="reported", random_twins=(1,), resamples=500,
                confidence=0.95, reported={"finding": "f", "model": "m"})
    base.update(overrides)
    return PatternClaim(**base)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_repeated_and_not_repeated_are_length_matched_paired_and_seeded(tok):
    rep, non = repeated_random(tok, n=5, half=12, seed=3)
    assert rep.ids.shape == non.ids.shape == (5, 24)          # the tiny tokenizer has no BOS
    assert (rep.ids[:, :12] == rep.ids[:, 12:]).all()
    assert (rep.ids[:, :12] == non.ids[:, :12]).all()         # paired by row: same first half
    assert all(len(set(row)) == 24 for row in non.ids)        # distinct tokens: targets unique
    again, _ = repeated_random(tok, n=5, half=12, seed=3)
    assert (again.ids == rep.ids).all()
    other, _ = repeated_random(tok, n=5, half=12, seed=4)
    assert not (other.ids == rep.ids).all()


def test_natural_and_shuffled_hold_the_same_tokens(tok):
    nat, shuf = natural_and_shuffled(tok, n=4, length=30, seed=0)
    assert nat.ids.shape == shuf.ids.shape == (4, 30)
    for a, b in zip(nat.ids, shuf.ids):
        assert sorted(a) == sorted(b) and list(a) != list(b)
    assert tok.decode(list(nat.ids[0]))[:5].isascii()


def test_keys_point_back_to_the_induction_target_and_the_previous_token():
    keys = induction_keys(half=4, prefix=1)            # [BOS] a b c d a b c d
    assert keys.tolist() == [-1, -1, -1, -1, -1, 2, 3, 4, 5]
    assert previous_keys(length=5, prefix=1).tolist() == [-1, -1, 1, 2, 3]


def test_attention_to_matches_hf_attentions_and_removes_its_hooks(tok):
    import torch

    model = build_tiny_model(seed=2)
    rep, _ = repeated_random(tok, n=3, half=6, seed=0)
    keys = induction_keys(half=6, prefix=rep.prefix)
    before = active_hook_count(model)
    got = attention_to(model, rep.ids, keys, batch_size=2)
    assert active_hook_count(model) == before
    with torch.inference_mode():
        att = model(input_ids=torch.as_tensor(rep.ids), output_attentions=True).attentions
    q = np.flatnonzero(keys >= 0)
    expected = np.stack([a[:, :, q, keys[q]].mean(-1).numpy() for a in att], axis=1)  # [N, L, H]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_attention_to_refuses_keys_after_their_query():
    with pytest.raises(ValueError, match="earlier position"):
        attention_to(None, np.zeros((1, 3), dtype=int), np.array([-1, 1, 2]))


def plant_previous_token_head(model, layer: int = 1, head: int = 0, amplitude: float = 12.0):
    """Make head `head` of `layer` attend to the previous token, whatever the tokens: constant
    query and key (zero weights, biases only) whose rotary phases differ by one position's angle
    on every frequency, so the score a^2 sum_i cos((d - 1) theta_i) peaks at distance d = 1."""
    import torch

    attn = model.model.layers[layer].self_attn
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kv = head // (cfg.num_attention_heads // cfg.num_key_value_heads)
    theta = 1.0 / (cfg.rope_parameters["rope_theta"] if hasattr(cfg, "rope_parameters") and cfg.rope_parameters
                   else cfg.rope_theta) ** (torch.arange(0, head_dim, 2).float() / head_dim)
    half = head_dim // 2
    q = torch.zeros(head_dim)
    k = torch.zeros(head_dim)
    q[:half] = amplitude                                  # q_i = a (real part), 0 imaginary
    k[:half], k[half:] = amplitude * torch.cos(theta), amplitude * torch.sin(theta)  # k_i = a e^{i theta_i}
    rows_q = slice(head * head_dim, (head + 1) * head_dim)
    rows_k = slice(kv * head_dim, (kv + 1) * head_dim)
    with torch.no_grad():
        attn.q_proj.weight[rows_q] = 0
        attn.q_proj.bias[rows_q] = q
        attn.k_proj.weight[rows_k] = 0
        attn.k_proj.bias[rows_k] = k
    return model


def test_a_planted_previous_token_head_is_found_and_random_weights_are_not(tok):
    c = claim()
    planted = plant_previous_token_head(build_tiny_model(seed=0))
    seqs = condition_sequences(c, tok, seed=0)
    main, contrast = head_scores(planted, c, seqs[0]), head_scores(planted, c, seqs[1])
    own = judge_scores(main, contrast, c, rng=0)
    assert own["top_head"] == (1, 0) and own["top_score"] > 0.9 and own["verdict"] == "supported"
    assert contrast[:, 1, 0].mean() > 0.9                 # positional: survives shuffling
    twin = build_tiny_model(seed=1)
    twin_scores = (head_scores(twin, c, seqs[0]), head_scores(twin, c, seqs[1]))
    result = pattern_result(c, "tiny-planted", seqs, main, contrast, own, {1: twin_scores}, seed=0)
    assert result.verdict == "supported"
    assert result.figures["sensitivity"] == {"trained": "supported", "random-1": "refuted"}
    assert [r.passed for r in result.controls if r.control == "random_weights"] == [True]


def test_verdict_rules_on_given_scores():
    rng = np.random.default_rng(0)
    low = rng.uniform(0.0, 0.1, size=(12, 3, 4))
    high = low.copy()
    high[:, 2, 1] = rng.uniform(0.8, 0.95, size=12)
    fake = type("S", (), {"ids": np.zeros((12, 17))})()
    seqs = (fake, fake)
    c = claim(score="induction", contrast="greater", min_share=0.0)
    own = judge_scores(high, low, c, rng=0)
    # a twin with as large a head: the trained model does not beat it -> confounded
    res = pattern_result(c, "m", seqs, high, low, own, {1: (high.copy(), low)}, seed=0)
    assert res.verdict == "confounded" and res.figures["sensitivity"]["random-1"] == "supported"
    # no contrast: repeated no higher than not repeated -> refuted
    flat = judge_scores(high, high, c, rng=0)
    assert flat["verdict"] == "refuted" and not flat["contrast_ok"]
    # the stated share: 1 large head of 12 is not 10% of the heads
    assert judge_scores(high, low, claim(min_share=0.1), rng=0)["verdict"] == "refuted"
    assert claim(min_share=0.01).required_heads(270) == 3


@pytest.mark.parametrize("slug", ["p1_induction_heads", "p2_previous_token_heads"])
def test_shipped_positive_controls_load_and_state_the_literature(slug):
    c = load_pattern_claim(f"{ROOT}/{slug}/pattern.yaml")
    assert {"finding", "model"} <= set(c.reported) and c.random_twins


def test_a_bad_pattern_file_lists_every_problem(tmp_path):
    path = tmp_path / "pattern.yaml"
    path.write_text("id: PX\ntitle: t\nstatement: s\nscore: copying\nsequences: 1\nlength: 10\nthreshold: 2\n"
                    "min_heads: 1\nmin_share: 0.01\ncontrast: greater\nrandom_twins: [1, 1]\n"
                    "decision: {resamples: 2000}\nreported: {finding: f}\nextra: 1\n")
    with pytest.raises(ClaimFileError) as err:
        load_pattern_claim(path)
    text = str(err.value)
    for needle in ("`score`", "`sequences`", "`threshold`", "`random_twins`", "decision.level", "`reported`",
                   "unknown key `extra`", str(path)):
        assert needle in text, needle


def test_the_pattern_card_draws_trained_and_twin_heatmaps(tok):
    from kinds.pattern import PATTERN
    from report.plots import plots_for

    c = claim()
    planted = plant_previous_token_head(build_tiny_model(seed=0))
    seqs = condition_sequences(c, tok, seed=1)
    main, contrast = head_scores(planted, c, seqs[0]), head_scores(planted, c, seqs[1])
    result = pattern_result(c, "tiny", seqs, main, contrast, judge_scores(main, contrast, c, rng=0),
                            {3: (contrast, contrast)}, seed=0)
    plots = plots_for(result, PATTERN.plots)
    assert len(plots) == 1 and plots[0][1].startswith(b"\x89PNG")
    assert "pattern_scores:random-3" in result.profiles


def test_scores_are_cached_so_a_warm_run_loads_no_twin(tok, tmp_path):
    from types import SimpleNamespace

    from evaluation.attention_patterns import _scores
    from engine.cache import ActivationCache

    class Lazy:
        loads = 0
        identity, name = "tiny-planted-test", "tiny"

        @property
        def model(self):
            Lazy.loads += 1
            return build_tiny_model(seed=0)

        def capture_fields(self):
            return {"dtype": "float32", "device_kind": "cpu"}

    run = SimpleNamespace(cache=ActivationCache(tmp_path), progress=False)
    c = claim()
    seqs = condition_sequences(c, tok, seed=0)
    first = _scores(Lazy(), c, seqs, run)
    again = _scores(Lazy(), c, seqs, run)
    assert Lazy.loads == 2  # two conditions measured once; the second call read the cache
    np.testing.assert_array_equal(first[0], again[0])
    other = condition_sequences(c, tok, seed=1)
    _scores(Lazy(), c, other, run)
    assert Lazy.loads == 4  # other tokens: a miss
