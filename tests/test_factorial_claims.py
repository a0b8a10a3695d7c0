"""F1-F3 machinery: claims naming their task set, book effect and interaction, power, tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from evaluation.component_claim import load_claim
from evaluation.factorial_effects import beyond_book, book_control_row, factorial_effects
from evaluation.power_table import power_figures
from evaluation.schema import ClaimFileError
from engine.activations import Activations
from report.factorial_tables import extra_tables_html, factorial_plot
from stats.power import min_detectable_effect

ROOT = Path(__file__).resolve().parents[1]
F1 = ROOT / "hypotheses" / "f1_layers" / "claim.yaml"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = F1.read_text()
    assert old in text
    path = tmp_path / "claim.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("path", sorted((ROOT / "hypotheses").glob("f*_*/claim.yaml")))
def test_shipped_f_claims_load_with_their_own_task_sets(path):
    claim = load_claim(path)
    assert claim.tasks == "factorial250-hops-closed" and claim.test == "covariate_adjusted"
    assert claim.factorial.open_tasks == "factorial250-hops-open" and claim.factorial.correct_only
    assert not {"resid_norm_mean", "mlp_mean", "attn_entropy"} & set(claim.features)  # no template pooling
    assert claim.controls.names  # controls on


def test_unknown_task_set_is_a_named_error(tmp_path):
    path = _variant(tmp_path, "tasks: factorial250-hops-closed", "tasks: factorial-hops-closd")
    with pytest.raises(ClaimFileError) as err:
        load_claim(path)
    text = str(err.value)
    assert "claim.yaml" in text and "`tasks`" in text and "factorial-hops-closd" in text
    assert "factorial250-hops-closed" in text  # the allowed names are listed


def test_factorial_block_is_validated(tmp_path):
    path = _variant(tmp_path, "correct_only: true", "correct_only: maybe")
    with pytest.raises(ClaimFileError, match="`factorial.correct_only` must be true or false"):
        load_claim(path)
    path = _variant(tmp_path, "tasks: factorial250-hops-closed\n", "")
    with pytest.raises(ClaimFileError, match="`factorial` needs `tasks`"):
        load_claim(path)
    path = _variant(tmp_path, "open_tasks: factorial250-hops-open", "open_tasks: nowhere")
    with pytest.raises(ClaimFileError, match="factorial.open_tasks"):
        load_claim(path)


def _acts(a, b, ids, labels, n_tokens):
    arrays = {"resid_norm_content": np.concatenate([a, b]), "resid_norm_last": np.concatenate([a, b]),
              "resid_norm_subject": np.concatenate([a, b]), "n_tokens": np.concatenate(n_tokens)}
    return Activations(arrays=arrays, pair_ids=tuple(ids), labels=labels)


@pytest.fixture(scope="module")
def planted():
    """Layer 0: a book effect only; layer 1: a hops effect only in closed book (an interaction);
    layer 2: nothing. Item order differs between the two sets (aligned by id)."""
    rng = np.random.default_rng(0)
    n, layers = 120, 3
    ids = [f"item-{i}" for i in range(n)]
    base = rng.normal(size=(n, layers))
    c1 = base + rng.normal(scale=0.3, size=(n, layers))
    c2 = base + rng.normal(scale=0.3, size=(n, layers))
    o1 = base + rng.normal(scale=0.3, size=(n, layers))
    o2 = base + rng.normal(scale=0.3, size=(n, layers))
    c2[:, 1] += 1.5
    o1[:, 0] += 1.5
    o2[:, 0] += 1.5
    tok = [rng.integers(20, 30, n) for _ in range(4)]
    closed = _acts(c1, c2, ids, ("closed-1hop", "closed-2hop"), (tok[0], tok[1]))
    perm = rng.permutation(n)
    opened = _acts(o1[perm], o2[perm], [ids[i] for i in perm], ("open-1hop", "open-2hop"), (tok[2][perm], tok[3][perm]))
    return closed, opened, (c1, c2, o1, o2)


def test_book_effect_and_interaction_find_what_was_planted(planted):
    closed, opened, (c1, c2, o1, o2) = planted
    claim = load_claim(F1)
    eff = factorial_effects(claim, closed, opened)
    book = eff.book_effect["resid_norm_content"]
    assert book[0] < -1.0 and abs(book[1]) < 0.5 and abs(book[2]) < 0.5  # larger on open book
    assert eff.book_p_adj["resid_norm_content"][0] < 1e-6
    # The interaction against a hand computation and scipy's one-sample t-test.
    diff = (c1 - c2) - (o1 - o2)
    np.testing.assert_allclose(eff.interaction["resid_norm_content"], diff.mean(0) / diff.std(0, ddof=1), rtol=1e-10)
    p = sps.ttest_1samp(diff, 0.0, axis=0).pvalue
    assert eff.interaction_p_adj["resid_norm_content"][1] < 1e-6 and p[1] < 1e-6
    assert eff.interaction_p_adj["resid_norm_content"][2] > 0.01
    assert eff.n_items == 120


def test_open_set_missing_items_is_an_error(planted):
    closed, opened, _ = planted
    short = opened.subset(np.arange(10))
    with pytest.raises(ValueError, match="lacks 110 items"):
        factorial_effects(load_claim(F1), closed, short)


def test_beyond_book_keeps_hops_components_larger_than_their_book_effect(planted):
    from evaluation.components import measure

    closed, opened, _ = planted
    claim = load_claim(F1)
    main = measure(claim, closed, seed=0)
    eff = factorial_effects(claim, closed, opened)
    beyond = beyond_book(claim, main, eff)
    assert main.analysis.specialized[1] and beyond[1]  # hops only: kept
    assert not beyond[0] and not beyond[2]
    row = book_control_row(claim, main, beyond)
    assert row.count == int(beyond.sum()) and row.control == "book_effect"
    assert row.passed == bool(claim.expect.holds(beyond.sum() / beyond.size))


def test_power_figures_equal_stats_power():
    claim = load_claim(ROOT / "hypotheses" / "f3_neurons" / "claim.yaml")
    figs = power_figures(claim, 120, 46080)
    ref = min_detectable_effect(120, alpha=0.05, correction="fdr_bh", n_tests=46080, n_covariates=1)
    assert figs["min_detectable_d"] == pytest.approx(float(ref.effect))
    assert figs["alpha_per_component"] == pytest.approx(0.05 / 46080)
    assert figs["fold_train_pairs"] == 96 and figs["min_detectable_d_fold"] > figs["min_detectable_d"]


def test_card_tables_and_plot_render_from_a_record():
    record = {"figures": {
        "cells": {"closed-1hop": {"accuracy": 0.5, "n_correct": 125, "n_items": 250, "answer_logprob_mean": -1.25}},
        "length_overlap": {"unit": "content tokens", "cells": {"closed-1hop": {"min": 9, "median": 20.0, "max": 31}},
                           "common_low": 12, "common_high": 30, "share_in_common_range": 0.9},
        "power_table": {"power": 0.8, "n_pairs": 38, "min_detectable_d": 1.144}},
        "profiles": {"factorial:hops": [0.1, -0.6, 0.2], "factorial:book": [0.0, 0.1, -1.0],
                     "factorial:interaction": [0.0, 0.5, 0.1]}}
    html = extra_tables_html(record)
    assert "125/250" in html and "-1.25" in html and "12-30" in html and "1.14" in html
    assert "data:image/png;base64," in html
    assert factorial_plot({}) is None
    assert extra_tables_html({"figures": {}}) == ""


def test_answer_logprobs_equal_one_by_one_log_softmax():
    import torch

    from engine.behaviour import answer_logprobs
    from engine.model.tiny import build_tiny_model, build_tiny_tokenizer

    model, tok = build_tiny_model(seed=1), build_tiny_tokenizer()
    texts = ["Who wrote Hamlet?", "What is the capital of Peru? Answer:", "Hi"]
    answers = ["Shakespeare", "Lima", "Hello there"]
    got = answer_logprobs(model, tok, texts, answers, add_special_tokens=True, leading_space=True, batch_size=2)
    for text, answer, value in zip(texts, answers, got):
        prompt = tok(text)["input_ids"]
        target = tok(" " + answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([prompt + target])).logits[0].double()
        logp = torch.log_softmax(logits, -1)
        ref = sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(target))
        assert value == pytest.approx(ref, abs=1e-4)
    assert np.all(got < 0)
