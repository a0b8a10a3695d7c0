"""H5a's causal machinery on tiny models: content offsets, content-only position-matched ablation,
attribution patching against exact ablation, cross-fitted selection, the bootstrap interval."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.intervention.ablation import Ablation, position_means
from engine.intervention.content import content_offsets, packed_offsets
from engine.intervention.runner import embed, final_logits, pack, run_layers
from engine.intervention.runs import ablation_metrics, clean_run

QUESTIONS = ["What is the capital of France?", "Who wrote Hamlet?",
             "If Bern is in Switzerland and Switzerland is in Europe, where is Bern?",
             "Which element has the symbol He?", "Name the largest planet.", "What colour is the sky?"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bench_parts():
    """Tiny random model, chat-formatted questions, their content offsets and targets (the clean
    arg-max, so every prompt is 'answered')."""
    from engine.capture import tokenize_prompts
    from engine.model.tiny import build_tiny_model, build_tiny_tokenizer
    from tasks.formatting import content_token_spans, format_prompt

    torch.manual_seed(0)
    model, tok = build_tiny_model(0), build_tiny_tokenizer()
    seqs = tokenize_prompts(tok, [format_prompt(q, tok, "chat") for q in QUESTIONS], add_special_tokens=False)
    spans = content_token_spans(tok, QUESTIONS, "chat")
    offsets = [content_offsets(len(s), sp) for s, sp in zip(seqs, spans)]
    means = position_means(model, seqs, offsets, pad_id=tok.pad_token_id)
    with torch.inference_mode():
        flat = pack(seqs, tok.pad_token_id, share_prefix=False)
        h = run_layers(model, embed(model, flat.ids, flat.positions), positions=flat.positions, valid=flat.valid)
        targets = final_logits(model, h[:, -1]).argmax(-1).numpy()
    packed = pack(seqs, tok.pad_token_id, max_prefix=min(a for a, _ in spans))
    clean = clean_run(model, packed, torch.as_tensor(targets))
    return model, tok, seqs, offsets, means, targets, packed, clean


def test_content_offsets_cover_exactly_the_question(bench_parts):
    model, tok, seqs, offsets, *_ = bench_parts
    for q, s, off in zip(QUESTIONS, seqs, offsets):
        assert tok.decode([t for t, o in zip(s, off) if o >= 0]) == q
        assert off[-1] == -1 and off[0] == -1  # template tail and head untouched
    with pytest.raises(ValueError, match="does not fit"):
        content_offsets(3, (1, 5))


def test_position_means_match_a_hand_computed_mean(bench_parts):
    """Offset 0 (each question's last token) mean of the last layer's neurons, by hand."""
    from engine.capture import left_pad
    from engine.hooks import HookSet, hooks
    from engine.model.site_hooks import read_site
    from engine.model.sites import model_layout

    model, tok, seqs, offsets, means, *_ = bench_parts
    layout = model_layout(model)
    last = layout.n_layers - 1
    seen = {}
    hs = HookSet()
    read_site(model, layout, "mlp_neurons", last, lambda x: seen.update(x=x.detach().clone()), hs)
    rows = []
    for s, off in zip(seqs, offsets):
        ids, mask, pos = left_pad([s], tok.pad_token_id)
        with hooks(model, hs.forward, pre=hs.pre), torch.inference_mode():
            model.model(input_ids=ids, attention_mask=mask, position_ids=pos)
        rows.append(seen["x"][0, int(np.flatnonzero(off == 0)[0])].double().numpy())
    np.testing.assert_allclose(means.values["mlp_neurons"][last, 0], np.mean(rows, axis=0), rtol=1e-4, atol=1e-6)
    assert means.counts[0] == len(seqs)


def test_content_only_ablation_leaves_non_content_positions_alone(bench_parts):
    """With every content offset set to -1 an ablation of every head changes nothing; with the
    real offsets it does (the content is where it acts)."""
    model, tok, seqs, offsets, means, targets, packed, clean = bench_parts
    every = Ablation(heads=frozenset((l, h) for l in range(model.config.num_hidden_layers)
                                     for h in range(model.config.num_attention_heads)))
    off = packed_offsets(packed, offsets)
    none = torch.full_like(off, -1)
    untouched = ablation_metrics(model, packed, targets, clean, [every], means=means, offsets=none)
    np.testing.assert_allclose(untouched["logit_diff"][0], clean.metrics.logit_diff, atol=1e-5)
    touched = ablation_metrics(model, packed, targets, clean, [every], means=means, offsets=off)
    assert np.abs(touched["logit_diff"][0] - clean.metrics.logit_diff).max() > 1e-3


def test_attribution_patching_agrees_with_exact_ablation(bench_parts):
    """Every head and neuron of the tiny model, AtP vs exact single-component ablation of the
    prompt's logit difference (content positions, position-matched means). Measured (seed 0):
    neurons r = 0.999 (max |error| 2e-4 of effects up to 4e-3: nearly linear), heads r = 0.87
    (max |error| 0.04 of effects up to 0.05: softmax nonlinearity, AtP's known weak spot)."""
    from engine.intervention.attribution import attribution_effects

    model, tok, seqs, offsets, means, targets, packed, clean = bench_parts
    est = attribution_effects(model, seqs, targets, offsets, means, pad_id=tok.pad_token_id)
    n_layers, n_heads = est["head"].shape[1:]
    off = packed_offsets(packed, offsets)
    for level, width, r_min in (("head", n_heads, 0.8), ("neuron", est["neuron"].shape[2], 0.99)):
        key = "heads" if level == "head" else "neurons"
        conds = [Ablation(**{key: frozenset({(l, u)})}) for l in range(n_layers) for u in range(width)]
        m = ablation_metrics(model, packed, targets, clean, conds, means=means, offsets=off)
        exact = (m["logit_diff"] - clean.metrics.logit_diff[None]).T.reshape(len(seqs), n_layers, width)
        r = np.corrcoef(est[level].ravel(), exact.ravel())[0, 1]
        assert r > r_min, (level, r)
    with pytest.raises(ValueError, match="`levels` must be among"):
        attribution_effects(model, seqs, targets, offsets, means, levels=("layer",))


def test_bootstrap_interval_straddles_zero_without_a_dissociation():
    from evaluation.causal_dissociation import hierarchical_bootstrap

    rng = np.random.default_rng(0)
    rec = np.arange(40) < 20
    sel = {d: rng.normal(0.1, 0.05, 40) for d in ("recall", "reasoning")}  # same drop on both tasks
    rnd = {d: rng.normal(0.1, 0.05, (30, 40)) for d in sel}
    lo, hi = hierarchical_bootstrap(sel, rnd, rec, n_boot=1000)
    assert lo < 0 < hi


def test_crossfit_folds_partition_the_pairs():
    from evaluation.causal_selection import crossfit_folds

    folds = crossfit_folds(17, 3, seed=4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(17))
    assert {len(f) for f in folds} <= {5, 6}
    with pytest.raises(ValueError, match="`folds` must be"):
        crossfit_folds(3, 4, seed=0)


@pytest.fixture(scope="module")
def planted_dissociation():
    from planted_causal import build_planted_dissociation, planted_bench, planted_prompts

    planted = build_planted_dissociation(0)
    bench, is_recall, pair_of_row = planted_bench(planted, planted_prompts(24))
    return planted, bench, is_recall, pair_of_row


def test_planted_causal_neurons_are_selected_and_their_dissociation_supported(planted_dissociation):
    """Every fold selects the planted neuron first in its direction (by verified differential
    effect), and the test supports the dissociation: selectivity ~1.74 of the clean margin each
    way, no random set as selective, so p < 0.05 is settled after 191 draws (curtailed
    Besag-Clifford, h = 10), excess interaction interval ~[3.47, 3.49] (seed 0)."""
    from evaluation.causal_dissociation import dissociation_test
    from evaluation.causal_selection import crossfit_folds

    planted, bench, is_recall, pair_of_row = planted_dissociation
    assert bench.clean.metrics.top1.all()
    out = dissociation_test(bench, "neuron", is_recall, pair_of_row, crossfit_folds(24, 3, 0), k=4, candidates=8,
                            dose_k=(1, 2, 4), exceedances=10, max_draws=1000, batch=50, n_boot=500, alpha=0.05,
                            seed=0)
    for fold in out.folds:
        for d in ("recall", "reasoning"):
            assert fold.selected[d][0] == planted.neurons[d]
            assert fold.verified[d][0] > 1.0 > fold.verified[d][1:].max()
    for d in ("recall", "reasoning"):
        assert out.selectivity[d] > 1.0
        # No random set is as selective: p < 0.05 is settled after 191 draws (p = 10 / 201).
        assert out.pvalue[d] == pytest.approx(10 / 201) and out.draws[d] == 191 and out.exceedances[d] == 0
    assert out.interval[0] > 0


def test_sequential_p_is_calibrated_on_the_planted_models_null(planted_dissociation):
    """Random neuron sets (3 per draw, last layer and layer 0) are exchangeable: taking each of
    117 draws (120 less those touching a planted neuron) in turn as the 'observed' set and the
    others (shuffled) as its null stream, the Besag-Clifford p is uniform: P(p <= u) within 3
    binomial SD of u (measured, seed 0: 0.103, 0.239, 0.496 at u = 0.1, 0.25, 0.5)."""
    from evaluation.causal_selection import _as_ablation
    from evaluation.dissociation import random_matched
    from stats.sequential import besag_clifford_pvalue

    planted, bench, is_recall, _ = planted_dissociation
    width = planted.model.config.intermediate_size
    template = [(3, 0), (0, 0), (0, 1)]
    sets = random_matched(template, width, 120, np.random.default_rng(0))
    sets = [s for s in sets if not set(s) & set(planted.neurons.values())]
    drops = bench.drops(np.arange(len(is_recall)), [_as_ablation("neuron", s) for s in sets])
    sel = drops[:, is_recall].mean(axis=1) - drops[:, ~is_recall].mean(axis=1)
    rng = np.random.default_rng(1)
    p = np.array([besag_clifford_pvalue(rng.permutation(np.delete(sel, i)), sel[i], exceedances=10,
                                        max_draws=len(sel) - 1).pvalue for i in range(len(sel))])
    for u in (0.1, 0.25, 0.5):
        assert abs((p <= u).mean() - u) < 3 * np.sqrt(u * (1 - u) / len(p)) + 1 / len(p), (u, (p <= u).mean())


class _FlatBench:
    """A bench on which no component does anything (every drop 0)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def atp_drops(self, level):
        return np.zeros((self.n, 2, 3))

    def drops(self, rows, ablations):
        return np.zeros((len(ablations), len(rows)))


def test_nothing_selected_is_inconclusive():
    from evaluation.causal_dissociation import dissociation_test
    from evaluation.causal_selection import crossfit_folds
    from evaluation.result import InsufficientEvidence

    n = 8
    with pytest.raises(InsufficientEvidence, match="nothing selected"):
        dissociation_test(_FlatBench(2 * n), "head", np.arange(2 * n) < n, np.arange(2 * n) % n,
                          crossfit_folds(n, 2, 0), k=2, candidates=3)


def _write_claim(tmp_path, **changes):
    import yaml

    data = yaml.safe_load(open("hypotheses/h5a_double_dissociation/intervention.yaml"))
    for key, value in changes.items():
        parent, _, child = key.partition(".")
        if child:
            data[parent][child] = value
        else:
            data[parent] = value
    path = tmp_path / "h5x" / "intervention.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_causal_claim_schema_names_each_problem(tmp_path):
    from evaluation.intervention_claim import load_intervention_claim
    from evaluation.schema import ClaimFileError

    claim = load_intervention_claim("hypotheses/h5a_double_dissociation/intervention.yaml")
    assert (claim.selection.method, claim.selection.folds, claim.exceedances, claim.max_draws) == ("causal", 3, 10, 1000)
    study = load_intervention_claim("hypotheses/study_variants/h5a_h2_criteria/intervention.yaml")
    assert (study.selection.method, study.selection.claim, study.draws) == ("criteria", "h2_heads", 100)
    bad = _write_claim(tmp_path, ablation="mean", metric="logprob", **{"random.max_draws": 100,
                                                                       "selection.folds": 1})
    with pytest.raises(ClaimFileError) as err:
        load_intervention_claim(bad)
    text = str(err.value)
    for needle in ("needs `ablation: position_mean`", "`metric` must be logit_diff", "random.max_draws",
                   "selection.folds"):
        assert needle in text, needle
    with pytest.raises(ClaimFileError, match="selection.method"):
        load_intervention_claim(_write_claim(tmp_path, **{"selection.method": "vibes"}))


def test_claim_task_set_and_pair_cap_make_their_own_data(tmp_path):
    """`tasks:` / `max_pairs:` give the claim its own InterventionData: a seeded subsample of the
    claim's task set (the same pairs on every run), on the same model and caches."""
    from types import SimpleNamespace

    from evaluation.causal_dissociation import _claim_data
    from evaluation.intervention_claim import load_intervention_claim
    from evaluation.intervention_data import InterventionData
    from tasks.loader import load_tasks

    data = InterventionData(SimpleNamespace(name="m"), load_tasks("core"), None, prompt_format="chat",
                            cache=None, seed=3, progress=False)
    h5a = load_intervention_claim("hypotheses/h5a_double_dissociation/intervention.yaml")
    assert _claim_data(h5a, data) is data
    h5f = load_intervention_claim("hypotheses/h5f_factorial_dissociation/intervention.yaml")
    first, again = _claim_data(h5f, data), _claim_data(h5f, data)
    assert first.n_pairs == h5f.max_pairs == 60 and first.taskset.sha256 == again.taskset.sha256
    full = {p.id for p in load_tasks("factorial-hops-closed").pairs}
    assert {p.id for p in first.taskset.pairs} <= full and first.model is data.model and first.seed == 3


class _ScriptedBench:
    """A bench whose single-component drops are given: component (0, u) has drops[u] [prompts]."""

    def __init__(self, drops: np.ndarray, atp: np.ndarray):
        self._drops, self._atp = drops, atp

    def atp_drops(self, level):
        return self._atp

    def drops(self, rows, ablations):
        out = []
        for a in ablations:
            (layer, unit), = a.heads
            out.append(self._drops[unit][rows])
        return np.array(out)


def test_selection_requires_the_component_to_lower_its_own_task():
    """A 'recall' head whose differential comes only from raising the reasoning answer when
    ablated (own drop 0, other drop -1: differential +1) is not selected; one that lowers recall
    (own 0.5, other 0: differential +0.5) is, although its differential is smaller."""
    from evaluation.causal_selection import select_causal

    n = 6
    is_recall = np.arange(2 * n) < n
    side = np.where(is_recall, 1.0, 0.0)
    drops = np.stack([np.where(is_recall, 0.0, -1.0),   # helps reasoning by its absence
                      0.5 * side,                      # lowers recall
                      np.zeros(2 * n)])                # does nothing
    atp = drops.T[:, None, :]  # [B, L=1, units=3]
    rows = np.arange(2 * n)
    (fold,), _ = select_causal(_ScriptedBench(drops, atp), "head", is_recall, [(rows, rows)], k=3, candidates=3)
    assert fold.verified["recall"][fold.candidates["recall"].index((0, 0))] == pytest.approx(1.0)
    assert fold.selected["recall"] == [(0, 1)]
    # Reversed roles: the reasoning direction keeps no component (none lowers reasoning).
    assert fold.selected["reasoning"] == []
