"""Ablations, causal tracing and the H5 claim machinery on `tiny` and the planted model.

What is tested, precisely
-------------------------
* An empty ablation leaves every logit bit-identical; the unablated model is bit-identical
  after ablation runs; hooks are gone afterwards, also when the forward pass raises.
* Zero-ablating every head of a layer is exactly zeroing that layer's attention output (o_proj
  has no bias in Qwen2, asserted), and mean-ablating them equals mean-ablating the output.
* Mean ablation on the reference set: the reference mean (prompt-weighted token mean, padding
  excluded) of the ablated layer's attention / MLP output is unchanged (rel. error < 1e-5),
  where zero ablation moves it; the neuron means equal the capture's ``mlp_mean`` averaged.
* Restoring clean states into a clean run (tracing with zero noise) changes nothing; the
  batched runner's ablation metrics agree with single ablations through the HF forward.
* Planted model: the planted last-layer neurons write into a reserved residual dimension no
  other component writes; ablating them removes that output, ablating random neurons of the
  same layer leaves it exactly unchanged, and neurons selected by the H3 criteria (as H5a
  selects them) beat 100 layer-matched random sets.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.hooks import active_hook_count
from engine.intervention.ablation import Ablation, ablate, reference_means, resample_sources
from engine.intervention.runner import RunContext, check_runner, pack

TEXTS = ["<|im_start|>user\nWhat is the capital of France?<|im_end|>\n",
         "<|im_start|>user\nWho wrote Hamlet?<|im_end|>\n",
         "<|im_start|>user\nIf Bern is in Switzerland and Switzerland is in Europe, where is Bern?<|im_end|>\n",
         "<|im_start|>user\nWhich element has the symbol He?<|im_end|>\n"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are far too small to gain from intra-op threads; on a busy 2-core runner two
    threads contend (planted measured 10x), so the module runs single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    from engine.model.tiny import build_tiny_model, build_tiny_tokenizer

    torch.manual_seed(0)
    return build_tiny_model(0), build_tiny_tokenizer()


@pytest.fixture(scope="module")
def batch(tiny):
    from engine.capture import left_pad

    model, tok = tiny
    seqs = [tok(t)["input_ids"] for t in TEXTS]
    return left_pad(seqs, tok.pad_token_id)


@pytest.fixture(scope="module")
def means(tiny):
    model, tok = tiny
    return reference_means(model, tok, TEXTS)


def _logits(model, batch):
    ids, mask, pos = batch
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask, position_ids=pos).logits


def test_runner_matches_hf_forward(tiny):
    check_runner(tiny[0])


def test_empty_ablation_and_model_after_ablation_are_bit_identical(tiny, batch, means):
    model, _ = tiny
    clean = _logits(model, batch)
    with ablate(model, Ablation(), means=means):
        assert torch.equal(_logits(model, batch), clean)
    with ablate(model, Ablation(heads=frozenset({(1, 2)}), neurons=frozenset({(2, 7)})), means=means):
        changed = _logits(model, batch)
    assert not torch.equal(changed, clean)
    assert active_hook_count(model) == 0
    assert torch.equal(_logits(model, batch), clean)


def test_hooks_removed_when_forward_raises(tiny, means):
    model, _ = tiny
    with pytest.raises(IndexError):
        with ablate(model, Ablation(mlp_layers=frozenset({1})), method="zero"):
            model(input_ids=torch.tensor([[10_000]]))  # out of the vocabulary
    assert active_hook_count(model) == 0
    with pytest.raises(IndexError, match="outside the model"):
        with ablate(model, Ablation(heads=frozenset({(0, 99)})), method="zero"):
            pass
    assert active_hook_count(model) == 0


@pytest.mark.parametrize("method", ["zero", "mean"])
def test_all_heads_equal_whole_attention_output(tiny, batch, means, method):
    model, _ = tiny
    layer = 2
    assert model.model.layers[layer].self_attn.o_proj.bias is None  # premise: no o_proj bias
    ctx = RunContext(valid=batch[1].bool())
    with ablate(model, Ablation(heads=frozenset((layer, h) for h in range(4))), method=method, means=means, ctx=ctx):
        heads = _logits(model, batch)
    with ablate(model, Ablation(attn_layers=frozenset({layer})), method=method, means=means, ctx=ctx):
        whole = _logits(model, batch)
    real = batch[1].bool()
    if method == "zero":
        assert torch.equal(heads[real], whole[real])
    else:  # o_proj(mean z) == mean(o_proj z) up to float rounding
        assert torch.allclose(heads[real], whole[real], atol=1e-5)


def _site_reference_mean(model, batch, path, ablation, method, means):
    """Prompt-weighted token mean (padding excluded) of a module's output, under an ablation."""
    from engine.hooks import hooks

    seen = {}
    ids, mask, pos = batch
    real = mask.bool()

    def keep(module, args, out):
        x = out[0] if isinstance(out, tuple) else out
        m = real[..., None].double()
        seen["mean"] = ((x.double() * m).sum(1) / m.sum(1)).mean(0)

    ctx = RunContext(valid=real)
    with ablate(model, ablation, method=method, means=means, ctx=ctx), hooks(model, {path: keep}):
        _logits(model, batch)
    return seen["mean"]


@pytest.mark.parametrize("site", ["heads", "neurons"])
def test_mean_ablation_keeps_the_reference_mean(tiny, batch, means, site):
    model, _ = tiny
    layer = 1
    if site == "heads":
        path, abl = f"model.layers.{layer}.self_attn", Ablation(heads=frozenset({(layer, 0), (layer, 3)}))
    else:
        path, abl = f"model.layers.{layer}.mlp", Ablation(neurons=frozenset((layer, j) for j in range(0, 128, 3)))
    clean = _site_reference_mean(model, batch, path, Ablation(), "mean", means)
    mean_ablated = _site_reference_mean(model, batch, path, abl, "mean", means)
    zero_ablated = _site_reference_mean(model, batch, path, abl, "zero", means)
    scale = clean.abs().max()
    assert float((mean_ablated - clean).abs().max() / scale) < 1e-5
    assert float((zero_ablated - clean).abs().max() / scale) > 1e-3


def test_neuron_means_match_the_capture(tiny, means):
    from engine.capture import capture_activations

    model, tok = tiny
    arrays = capture_activations(model, tok, TEXTS, progress=False)
    np.testing.assert_allclose(means.mlp_neurons, arrays["mlp_mean"].mean(axis=0), rtol=1e-4, atol=1e-6)


def test_batched_runs_agree_with_single_ablations(tiny, means):
    from engine.intervention.runs import ablation_metrics, clean_run, record_sources

    model, tok = tiny
    seqs = [tok(t)["input_ids"] for t in TEXTS]
    packed, targets = pack(seqs, tok.pad_token_id), torch.tensor([70, 71, 72, 73])
    clean = clean_run(model, packed, targets)
    conditions = [Ablation(), Ablation(heads=frozenset({(1, 1)})), Ablation(neurons=frozenset({(0, 5), (3, 9)})),
                  Ablation(mlp_layers=frozenset({2}))]
    out = ablation_metrics(model, packed, targets, clean, conditions, means=means, max_batch_tokens=60)
    np.testing.assert_allclose(out["logprob"][0], clean.metrics.logprob, atol=1e-5)
    for c, abl in enumerate(conditions):  # reference: HF forward of each prompt alone
        for i, seq in enumerate(seqs):
            with ablate(model, abl, means=means), torch.inference_mode():
                logits = model(input_ids=torch.tensor([seq])).logits[0, -1]
            assert out["logprob"][c, i] == pytest.approx(float(torch.log_softmax(logits, -1)[70 + i]), abs=1e-4)
    sites = {("head_in", 1), ("mlp_neurons", 0), ("mlp_neurons", 3), ("mlp", 2)}
    itself = record_sources(model, packed, sites, np.arange(len(seqs)))
    same = ablation_metrics(model, packed, targets, clean, conditions, method="resample", resample=itself)
    np.testing.assert_allclose(same["logprob"], out["logprob"][:1].repeat(4, 0), atol=1e-5)
    other = record_sources(model, packed, sites, resample_sources(["a"] * 4, seed=0))
    moved = ablation_metrics(model, packed, targets, clean, conditions, method="resample", resample=other)
    assert np.abs(moved["logprob"][1:] - clean.metrics.logprob).max() > 1e-4


def test_tracing_clean_into_clean_changes_nothing_and_final_restore_is_clean(tiny):
    from engine.intervention.tracing import causal_trace, noise_scale, trace_item

    model, tok = tiny
    texts = [t + "The answer is" for t in TEXTS[:3]]
    subjects = ["France", "Hamlet", "Switzerland"]
    items = [trace_item(tok, tuple(tok(t)["input_ids"]), 65, s, question=s) for t, s in zip(texts, subjects)]
    assert [len(it.subject_last) for it in items] == [1, 1, 2]
    assert tok.decode(list(items[0].ids[min(items[0].subject_tokens):max(items[0].subject_tokens) + 1])) == "France"
    none = causal_trace(model, items, corruption="noise", pad_id=tok.pad_token_id, scale=0.0)
    np.testing.assert_allclose(none.p_corrupt, none.p_clean, rtol=1e-5)
    for value in none.p_restored.values():
        np.testing.assert_allclose(value, none.p_clean[None].repeat(len(value), 0), rtol=1e-4)
    noisy = causal_trace(model, items, corruption="noise", pad_id=tok.pad_token_id, scale=noise_scale(model), seed=1)
    assert np.abs(noisy.p_corrupt - noisy.p_clean).max() > 1e-6
    np.testing.assert_allclose(noisy.p_restored[("resid", "last")][-1], noisy.p_clean, rtol=1e-4)


def test_symmetric_replacement_keeps_length_and_changes_only_the_subject(tiny):
    from engine.intervention.tracing import trace_item

    _, tok = tiny
    ids = tuple(tok("<|im_start|>user\nWhat is the capital of Peru?<|im_end|>\nPeru")["input_ids"])
    item = trace_item(tok, ids, 1, "Peru", question="What is the capital", pool=(("Cuba", "Havana"), ("Chad", "N")))
    assert item.replacement in {"Cuba", "Chad"} and len(item.replaced_ids) == len(ids)
    changed = [i for i, (a, b) in enumerate(zip(ids, item.replaced_ids)) if a != b]
    assert changed and set(changed) <= set(item.subject_tokens)
    assert trace_item(tok, ids, 1, "Peru", question="x", pool=(("Venezuela", "Caracas"),)).replaced_ids is None


def test_answer_target_is_where_the_model_starts_the_answer(tiny):
    from engine.intervention.answer_metrics import answer_targets, find_answer
    from tasks.taskset import Prompt

    _, tok = tiny
    prompt = Prompt("What is the capital of Switzerland?", "Bern", ("Berne",), "recall")
    gen = np.array([tok("The capital is Bern.")["input_ids"] + [-1, -1]])
    (target,), counts = answer_targets([prompt], [[1, 2]], gen, tok)
    assert counts["located"] == 1 and tok.decode([target.target]) == "B"
    assert tok.decode(list(target.ids[2:])) == "The capital is "
    assert find_answer("it is AU", ("Au",)) is None and find_answer("Bogotá!", ("Bogota",)) == 0
    wrong, _ = answer_targets([prompt], [[1]], np.array([tok("Zurich")["input_ids"]]), tok)
    assert wrong == [None]


@pytest.fixture(scope="module")
def planted():
    from planted import build_planted_model, planted_activations, planted_prompts

    model = build_planted_model(0)
    pairs = planted_prompts(24, seed=3)
    return model, pairs, planted_activations(model, pairs)


def _write_out(planted_model, texts, ablations, means):
    """Last layer's residual output, `write` coordinate (max |.| over positions), per condition
    and prompt; read before the final norm, which would mix in every other dimension."""
    from engine.capture import left_pad
    from engine.hooks import hooks

    model, tok = planted_model.model, planted_model.tokenizer
    ids, mask, pos = left_pad([tok(t)["input_ids"] for t in texts], tok.pad_token_id)
    n = len(texts)
    ctx = RunContext(condition=torch.arange(len(ablations)).repeat_interleave(n), valid=mask.bool().repeat(len(ablations), 1))
    seen = {}
    last = f"model.layers.{model.config.num_hidden_layers - 1}"
    keep = {last: lambda module, args, out: seen.update(h=out[0] if isinstance(out, tuple) else out)}
    with ablate(model, ablations, method="mean", means=means, ctx=ctx), hooks(model, keep), torch.inference_mode():
        model.model(input_ids=ids.repeat(len(ablations), 1), attention_mask=mask.repeat(len(ablations), 1),
                    position_ids=pos.repeat(len(ablations), 1))
    write = seen["h"][..., planted_model.reserved["write"]].abs() * mask.repeat(len(ablations), 1)
    return write.amax(dim=1).view(len(ablations), n).numpy()


def test_planted_neurons_matter_and_random_neighbours_do_not(planted):
    planted_model, pairs, _ = planted
    texts = [a for a, _ in pairs]
    means = reference_means(planted_model.model, planted_model.tokenizer, texts + [b for _, b in pairs])
    last = planted_model.model.config.num_hidden_layers - 1
    mine = sorted(n for l, n in planted_model.planted_neurons if l == last)
    others = [j for j in range(planted_model.model.config.intermediate_size) if j not in mine]
    rng = np.random.default_rng(0)
    conditions = [Ablation(), Ablation(neurons=frozenset((last, j) for j in mine))]
    conditions += [Ablation(neurons=frozenset((last, int(j)) for j in rng.choice(others, len(mine), replace=False)))
                   for _ in range(5)]
    out = _write_out(planted_model, texts, conditions, means)
    assert out[0].min() > 0.1
    assert (out[1] < 0.5 * out[0]).all()
    np.testing.assert_allclose(out[2:], out[:1].repeat(5, 0), rtol=1e-5)


def test_selected_planted_neurons_beat_layer_matched_random_sets(planted):
    from evaluation.component_claim import load_claim
    from evaluation.components import analyse_components
    from evaluation.dissociation import random_matched, select_components

    planted_model, pairs, acts = planted
    claim = load_claim("hypotheses/h3_neurons/claim.yaml")
    train, held = np.arange(0, 24, 2), np.arange(1, 24, 2)
    # Every neuron labelled recall on the training pairs; only the last layer's planted ones
    # write anything (by construction), so the set matters only if selection found them.
    selected = select_components(analyse_components(claim, acts, seed=0, pairs=train), 32)["recall"]
    last = planted_model.model.config.num_hidden_layers - 1
    assert set(selected) <= set(planted_model.planted_neurons)
    assert any(layer == last for layer, _ in selected)
    texts = [pairs[i][0] for i in held]
    means = reference_means(planted_model.model, planted_model.tokenizer, [t for p in pairs for t in p])
    sets = [selected] + random_matched(selected, planted_model.model.config.intermediate_size, 100,
                                       np.random.default_rng(1))
    out = _write_out(planted_model, texts, [Ablation()] + [Ablation(neurons=frozenset(s)) for s in sets], means)
    drop = (out[0][None] - out[1:]).mean(axis=1)
    p = (1 + (drop[1:] >= drop[0]).sum()) / (1 + 100)
    assert drop[0] > 0 and p < 0.05


def test_intervention_claim_files_load_and_problems_are_listed_at_once(tmp_path):
    from evaluation.schema import ClaimFileError
    from kinds.discovery import discover
    from evaluation.intervention_claim import load_intervention_claim

    claims = {load_intervention_claim(c.path).id: load_intervention_claim(c.path)
              for c in discover(["hypotheses"]) if c.kind.name == "intervention"}
    assert claims["H5a"].draws >= 100 and claims["H5a"].k in claims["H5a"].dose_k
    assert claims["H5b"].site == "mlp" and claims["H5b"].criteria == "rome" and claims["H5b"].noise_after == 1
    study = load_intervention_claim("hypotheses/study_variants/h5b_study_criteria/intervention.yaml")
    assert study.criteria == "study" and study.replace_must_survive is True and study.noise_after == 0
    bad = tmp_path / "intervention.yaml"
    bad.write_text("id: X\ntitle: t\nstatement: s\nkind: double_dissociation\nreported: {}\n"
                   "selection: {level: layer, claim: h2_heads, train_fraction: 1.5}\nablation: median\n"
                   "metric: logprob\nk: 3\nrandom: {draws: 10, alpha: 0.05}\ndose_response: {k: [1, 2], band_draws: 5}\n"
                   "min_prompts: 4\nwindow: 10\n")
    with pytest.raises(ClaimFileError) as err:
        load_intervention_claim(bad)
    text = str(err.value)
    for fragment in ("selection.level", "train_fraction", "`ablation`", "random.draws", "include the tested `k`",
                     "unknown key `window`", str(bad)):
        assert fragment in text


def test_localization_stats_needs_a_real_early_peak():
    from evaluation.dissociation import random_matched
    from evaluation.localization import localization_stats

    rng = np.random.default_rng(0)
    early = np.zeros((10, 12))
    early[2] = 0.4 + 0.05 * rng.random(12)
    s = localization_stats(early, max_depth=0.5, alpha=0.05, bootstrap=200, rng=rng)
    assert s["peak_layer"] == 2 and s["passed"] and s["bootstrap_peak_early"] == 1.0
    late = early[::-1]
    assert not localization_stats(late, max_depth=0.5, alpha=0.05, bootstrap=200, rng=rng)["passed"]
    spike_then_late = np.zeros((10, 12))  # arg-max early, but later layers carry more effect
    spike_then_late[1] = 0.3 + 0.01 * rng.random(12)
    spike_then_late[6:] = 0.25 + 0.01 * rng.random((4, 12))
    vetoed = localization_stats(spike_then_late, max_depth=0.5, alpha=0.05, bootstrap=200, rng=rng)
    assert vetoed["early_region"] and not vetoed["passed"]
    sets = random_matched([(0, 1), (0, 2), (3, 0)], 4, 50, rng)
    assert all(sorted(l for l, _ in s) == [0, 0, 3] and len(set(s)) == 3 for s in sets)


def test_reference_means_are_cached_under_their_own_key(tmp_path):
    import dataclasses

    from engine.cache import ActivationCache
    from engine.intervention.ablation import get_reference_means
    from engine.model.lazy import LazyModel
    from tasks.loader import load_tasks

    core = load_tasks("core")
    small = dataclasses.replace(core, pairs=core.pairs[:3])
    cache = ActivationCache(tmp_path)
    first_model = LazyModel("tiny", cache_dir=str(tmp_path))
    first = get_reference_means(small, first_model, prompt_format="chat", cache=cache)
    assert first_model.load_count == 1 and len(list(tmp_path.glob("*/manifest.json"))) == 1
    again_model = LazyModel("tiny", cache_dir=str(tmp_path))
    again = get_reference_means(small, again_model, prompt_format="chat", cache=cache)
    assert again_model.load_count == 0  # a hit needs no weights
    np.testing.assert_array_equal(first.head_in, again.head_in)
    assert first.n_prompts == 6 and first.mlp_neurons.shape == (4, 128)
