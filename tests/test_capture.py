"""Activation capture against independent references, on the seeded tiny models."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.capture import (
    ARRAY_SHAPES,
    BATCH_COST_TOKENS,
    MAX_PROMPT_TOKENS,
    CaptureConfig,
    CaptureMemoryError,
    PromptTooLongError,
    capture_activations,
    head_writes,
    plan_batches,
    tokenize_prompts,
)
from engine.hooks import active_hook_count, hooks
from engine.model.sites import UnsupportedArchitectureError, model_layout
from engine.model.tiny import (
    build_tiny_config,
    build_tiny_model,
    build_tiny_tokenizer,
)

TEXTS = [
    "What is the capital of France?",
    "If Bern is the capital of Switzerland and Switzerland is in Europe, what continent is Bern in?",
    "Hi",
    "Which currency does Japan use?",
    "Au is the symbol of which element?",
]


@pytest.fixture(scope="module", params=["qwen2", "llama"])
def tiny(request):
    """A tiny model per verified architecture family, with trained-looking (non-uniform) attention."""
    config = build_tiny_config(architecture=request.param)
    config.initializer_range = 0.2  # sharper attention than the default 0.02, so features vary
    return build_tiny_model(seed=3, config=config), build_tiny_tokenizer()


@pytest.fixture(scope="module")
def captured(tiny):
    model, tok = tiny
    return capture_activations(model, tok, TEXTS, progress=False)


def _reference(model, tok, text):
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        return model(**ids, output_hidden_states=True, output_attentions=True), ids


def test_shapes_match_the_documented_layout(tiny, captured):
    model, _ = tiny
    lay = model_layout(model)
    sizes = {"P": len(TEXTS), "L": lay.n_layers, "H": lay.n_heads, "N": lay.d_mlp,
             "D": lay.d_model, "E": lay.head_dim}
    for name, shape in ARRAY_SHAPES.items():
        assert captured[name].shape == tuple(sizes[s] for s in shape), name


def test_residual_equals_output_hidden_states(tiny, captured):
    model, tok = tiny
    for p, text in enumerate(TEXTS):
        out, _ = _reference(model, tok, text)
        hs = out.hidden_states  # embeddings, layers 0..L-2, then the final norm of layer L-1
        for layer in range(len(hs) - 2):
            ref = hs[layer + 1][0]
            np.testing.assert_allclose(captured["resid_last"][p, layer], ref[-1].numpy(), rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(captured["resid_norm_last"][p, layer], ref[-1].norm().item(), rtol=1e-5)
            np.testing.assert_allclose(captured["resid_norm_mean"][p, layer], ref.norm(dim=-1).mean().item(), rtol=1e-5)
        last = torch.tensor(captured["resid_last"][p, -1])[None]
        np.testing.assert_allclose(model.model.norm(last)[0].detach().numpy(), hs[-1][0, -1].numpy(), rtol=1e-5, atol=1e-4)


def test_attention_features_match_output_attentions(tiny, captured):
    model, tok = tiny
    for p, text in enumerate(TEXTS):
        out, _ = _reference(model, tok, text)
        for layer, att in enumerate(out.attentions):
            row = att[0, :, -1, :].double()  # [H, T]
            np.testing.assert_allclose(row.sum(-1).numpy(), 1.0, atol=1e-6)  # rows sum to 1
            ent = -(row * row.clamp_min(1e-300).log()).sum(-1)
            np.testing.assert_allclose(captured["attn_entropy"][p, layer], ent.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(captured["attn_max"][p, layer], row.max(-1).values.numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(captured["attn_first"][p, layer], row[:, 0].numpy(), rtol=1e-5, atol=1e-6)
        assert np.all(captured["attn_entropy"][p] <= np.log(captured["n_tokens"][p]) + 1e-5)


def test_head_writes_sum_to_o_proj_output(tiny):
    model, tok = tiny
    lay = model_layout(model)
    seen = {}

    def grab(module, args, output):
        seen["z"], seen["out"], seen["w"] = args[0], output, module.weight
        seen["bias"] = module.bias

    with hooks(model, {lay.path("head_in", 1): grab}), torch.no_grad():
        model(**tok(TEXTS[1], return_tensors="pt"))
    writes = head_writes(seen["z"], seen["w"], lay.n_heads, lay.head_dim)  # [1, T, H, D]
    total = writes.sum(dim=-2) + (seen["bias"] if seen["bias"] is not None else 0)
    np.testing.assert_allclose(total.numpy(), seen["out"].numpy(), atol=1e-5)


def test_mlp_neurons_equal_act_gate_times_up(tiny, captured):
    model, tok = tiny
    lay = model_layout(model)
    seen = {}
    mlp_name = lay.path("mlp", 2)
    with hooks(model, {mlp_name: lambda m, a, o: seen.update(x=a[0])}), torch.no_grad():
        model(**tok(TEXTS[0], return_tensors="pt"))
    mlp = model.get_submodule(mlp_name)
    acts = (mlp.act_fn(mlp.gate_proj(seen["x"])) * mlp.up_proj(seen["x"]))[0]  # [T, N]
    np.testing.assert_allclose(captured["mlp_mean"][0, 2], acts.mean(0).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(captured["mlp_last"][0, 2], acts[-1].detach().numpy(), atol=1e-5)
    frac = (acts.abs() < CaptureConfig().sparsity_threshold).float().mean(0)
    np.testing.assert_allclose(captured["mlp_sparsity"][0, 2], frac.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_batched_equals_one_by_one(tiny, captured, batch_size):
    model, tok = tiny
    config = CaptureConfig(max_batch_size=batch_size)
    alone = [capture_activations(model, tok, [t], progress=False) for t in TEXTS]
    batched = capture_activations(model, tok, TEXTS, config=config, progress=False)
    for name in ARRAY_SHAPES:
        ref = np.concatenate([a[name] for a in alone])
        np.testing.assert_allclose(batched[name], ref, rtol=1e-5, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(captured[name], ref, rtol=1e-5, atol=2e-5, err_msg=name)


def test_token_budget_splits_batches_without_changing_results(tiny, captured):
    model, tok = tiny
    small = capture_activations(model, tok, TEXTS, config=CaptureConfig(max_batch_tokens=64), progress=False)
    for name in ARRAY_SHAPES:
        np.testing.assert_allclose(small[name], captured[name], rtol=1e-5, atol=2e-5, err_msg=name)


def _greedy_batches(lengths, config):
    """Reference: fill sorted prompts into a batch until a bound is hit."""
    out, current = [], []
    for idx in np.argsort(lengths, kind="stable"):
        longest = max([lengths[i] for i in current] + [lengths[idx]])
        if current and (len(current) + 1 > config.max_batch_size
                        or (len(current) + 1) * longest > config.max_batch_tokens):
            out.append(current)
            current = []
        current.append(idx)
    return out + ([current] if current else [])


def _cost(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) + BATCH_COST_TOKENS for b in batches)


@given(lengths=st.lists(st.integers(1, 300), min_size=1, max_size=80),
       size=st.integers(1, 40), tokens=st.integers(1, 3000))
def test_batches_cover_each_prompt_once_within_bounds_and_beat_greedy(lengths, size, tokens):
    lengths = np.array(lengths)
    config = CaptureConfig(max_batch_size=size, max_batch_tokens=tokens)
    batches = plan_batches(lengths, config)
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert 1 <= len(b) <= size
        assert len(b) == 1 or len(b) * lengths[b].max() <= tokens
    assert _cost(batches, lengths) <= _cost(_greedy_batches(lengths, config), lengths)


def test_hooks_removed_after_capture_and_after_error(tiny):
    model, tok = tiny
    baseline = active_hook_count(model)  # transformers registers output-recording hooks of its own
    capture_activations(model, tok, TEXTS[:2], progress=False)
    assert active_hook_count(model) == baseline

    def boom(module, args, output):
        raise RuntimeError("forward failed")

    with pytest.raises(RuntimeError, match="forward failed"):
        with hooks(model, {"model.layers.0": boom}):
            assert active_hook_count(model) == baseline + 1
            model(**tok("x", return_tensors="pt"))
    assert active_hook_count(model) == baseline


def test_unknown_module_name_suggests_and_registers_nothing(tiny):
    model, _ = tiny
    baseline = active_hook_count(model)
    with pytest.raises(LookupError, match=r"model\.layers\.0\.self_attn"):
        with hooks(model, {"model.layers.0": lambda *a: None, "model.layers.0.self_atn": lambda *a: None}):
            pass
    assert active_hook_count(model) == baseline


def test_pre_hook_can_replace_inputs(tiny):
    model, tok = tiny
    lay = model_layout(model)
    ids = tok(TEXTS[0], return_tensors="pt")
    with torch.no_grad():
        clean = model(**ids).logits
        with hooks(model, pre={lay.path("mlp_neurons", 0): lambda m, a: (torch.zeros_like(a[0]),)}):
            ablated = model(**ids).logits
        again = model(**ids).logits
    assert not torch.allclose(clean, ablated)
    assert torch.equal(clean, again)


def test_chat_text_with_bos_gets_no_second_bos():
    class Tok:
        bos_token = "<s>"

        def __call__(self, text, add_special_tokens):
            return {"input_ids": ([1] if add_special_tokens else []) + [2] * len(text.split())}

    assert tokenize_prompts(Tok(), ["<s> a b", "a b"]) == [[2, 2, 2], [1, 2, 2]]


def test_unsupported_architecture_is_named():
    config = build_tiny_config()
    model = build_tiny_model(config=config)
    model.config.model_type = "gpt_neox"
    with pytest.raises(UnsupportedArchitectureError, match="gpt_neox"):
        model_layout(model)


def test_capture_config_rejects_bad_values():
    with pytest.raises(ValueError, match="sparsity_threshold"):
        CaptureConfig(sparsity_threshold=0)
    with pytest.raises(ValueError, match="max_batch_size"):
        CaptureConfig(max_batch_size=0)
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        CaptureConfig(max_prompt_tokens=0)
    with pytest.raises(ValueError, match="max_array_bytes"):
        CaptureConfig(max_array_bytes=0)


def test_capture_with_layers_offloaded_to_disk_equals_plain(tmp_path):
    """accelerate device maps: layers on "cpu" and on "disk" (meta tensors outside forward)."""
    from engine.model.loading import load_model

    plain = load_model("tiny")
    device_map = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "cpu",
                  "model.layers.2": "disk", "model.layers.3": "disk", "model.norm": "cpu",
                  "model.rotary_emb": "cpu", "lm_head": "cpu"}
    offloaded = load_model("tiny", device_map=device_map, offload_folder=str(tmp_path))
    assert offloaded.model.model.layers[3].mlp.down_proj.weight.device.type == "meta"
    ref = capture_activations(plain.model, plain.tokenizer, TEXTS, progress=False)
    got = capture_activations(offloaded.model, offloaded.tokenizer, TEXTS, progress=False)
    for name in ARRAY_SHAPES:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)


# ---- bounds checked before any forward pass ---------------------------------

def _forward_count(model) -> list:
    calls: list = []
    model.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls


def test_a_prompt_over_the_models_context_is_named_before_any_forward_pass():
    model, tok = build_tiny_model(seed=0), build_tiny_tokenizer()
    calls = _forward_count(model)
    context = model.config.max_position_embeddings  # 512; the tiny tokenizer spells bytes
    with pytest.raises(PromptTooLongError) as err:
        capture_activations(model, tok, [TEXTS[0], "x" * (context + 10), TEXTS[1]], progress=False,
                            names=["short (recall)", "long-one (recall)", "other (reasoning)"])
    assert str(err.value).startswith(f"1 prompt longer than {context} tokens (the model's context, "
                                     "max_position_embeddings): long-one (recall) (")
    assert err.value.too_long[0][0] == "long-one (recall)" and calls == []
    with pytest.raises(PromptTooLongError, match=r"\(CaptureConfig.max_prompt_tokens\): prompt 0 \("):
        capture_activations(model, tok, TEXTS[:1], config=CaptureConfig(max_prompt_tokens=5), progress=False)
    assert calls == []


def test_get_activations_names_the_pairs_whose_prompts_are_too_long(tmp_path):
    from engine.activations import get_activations
    from engine.cache import ActivationCache
    from engine.model.lazy import LazyModel
    from tasks.taskset import Prompt, TaskPair, TaskSet

    pairs = [TaskPair(f"p{i}", "capital", Prompt(text, "A", kind="recall"), Prompt("Q?", "B", kind="reasoning"))
             for i, text in enumerate(["Q?", "y " * 300, "Q?", "z " * 400])]
    model = LazyModel("tiny", device="cpu", dtype="float32")
    calls = _forward_count(model.model)
    with pytest.raises(PromptTooLongError) as err:
        get_activations(TaskSet("long", tuple(pairs)), model, prompt_format="plain",
                        cache=ActivationCache(tmp_path, enabled=False), progress=False)
    assert [name for name, _ in err.value.too_long] == ["p1 (recall)", "p3 (recall)"] and calls == []


def test_greedy_answers_refuse_prompts_over_the_cap_before_generating():
    from engine.behaviour import greedy_answers

    model, tok = build_tiny_model(seed=0), build_tiny_tokenizer()
    model.generate = lambda **kw: pytest.fail("generate ran")
    # tiny's context is 512 tokens: prompt + 16 answer tokens must fit, so 496 is the limit here,
    # below the general cap MAX_PROMPT_TOKENS
    assert model.config.max_position_embeddings == 512 < MAX_PROMPT_TOKENS
    for text in ("x" * 600, "x" * (MAX_PROMPT_TOKENS + 1)):
        with pytest.raises(PromptTooLongError, match="longer than 496 tokens \\(the model's context, less the "
                                                     "answer's tokens\\): prompt 1 "):
            greedy_answers(model, tok, ["Hi", text])


def test_the_tokenizers_own_limit_applies():
    tok = build_tiny_tokenizer()
    tok.model_max_length = 8
    with pytest.raises(PromptTooLongError, match="the tokenizer's model_max_length"):
        tokenize_prompts(tok, ["What is the capital of France?"])
    assert tokenize_prompts(tok, ["Hi"], limits={"a caller's limit": 100})


def test_arrays_larger_than_allowed_are_refused_before_allocation():
    model, tok = build_tiny_model(seed=0), build_tiny_tokenizer()
    calls = _forward_count(model)
    with pytest.raises(CaptureMemoryError, match=r"the activations of 5 prompts would take .* GiB, more than"):
        capture_activations(model, tok, TEXTS, config=CaptureConfig(max_array_bytes=1000), progress=False)
    assert calls == []


# --- content-token and subject features --------------------------------------------------------

SUBJECTS = ["France", "Bern", None, "Japan", "Au"]


@pytest.fixture(scope="module")
def chat_captured(tiny):
    """Chat-formatted TEXTS captured with their content and subject spans (left and right padded)."""
    from tasks.formatting import content_token_spans, format_prompt, text_token_spans
    from tasks.subjects import subject_char_spans

    model, tok = tiny
    chat = [format_prompt(t, tok, "chat") for t in TEXTS]
    content = content_token_spans(tok, TEXTS, "chat")
    chars = [subject_char_spans(t, s)[-1] if s else None for t, s in zip(TEXTS, SUBJECTS)]
    known = [i for i, c in enumerate(chars) if c is not None]
    found = text_token_spans(tok, [TEXTS[i] for i in known], "chat", [chars[i] for i in known])
    subject = [None] * len(TEXTS)
    for i, span in zip(known, found):
        subject[i] = span
    kw = dict(progress=False, add_special_tokens=False, content_spans=content, subject_spans=subject,
              config=CaptureConfig(max_batch_size=2))
    left = capture_activations(model, tok, chat, **kw)
    right = capture_activations(model, tok, chat, padding_side="right", **kw)
    return chat, content, subject, left, right


def test_content_and_subject_features_match_hf_outputs(tiny, chat_captured):
    model, tok = tiny
    chat, content, subject, captured, _ = chat_captured
    lay = model_layout(model)
    for p, text in enumerate(chat):
        ids = tok(text, add_special_tokens=False, return_tensors="pt")
        seen = {}
        with hooks(model, {lay.path("mlp", 1): lambda m, a, o: seen.update(x=a[0])}), torch.no_grad():
            out = model(**ids, output_hidden_states=True, output_attentions=True)
        s, e = content[p]
        assert captured["n_content_tokens"][p] == e - s
        assert 0 < s and e < ids["input_ids"].shape[1]  # template tokens on both sides
        for layer in range(len(out.hidden_states) - 2):
            norms = out.hidden_states[layer + 1][0].norm(dim=-1)
            np.testing.assert_allclose(captured["resid_norm_content"][p, layer], norms[s:e].mean().item(), rtol=1e-5)
            att = out.attentions[layer][0, :, -1, :].double()
            np.testing.assert_allclose(captured["attn_content"][p, layer], att[:, s:e].sum(-1).numpy(), atol=1e-6)
            if subject[p] is None:
                assert np.isnan(captured["resid_norm_subject"][p, layer])
            else:
                np.testing.assert_allclose(captured["resid_norm_subject"][p, layer],
                                           norms[subject[p][1] - 1].item(), rtol=1e-5)
        mlp = model.get_submodule(lay.path("mlp", 1))
        acts = (mlp.act_fn(mlp.gate_proj(seen["x"])) * mlp.up_proj(seen["x"]))[0]
        np.testing.assert_allclose(captured["mlp_content"][p, 1], acts[s:e].mean(0).numpy(), atol=1e-5)
        if subject[p] is None:
            assert np.isnan(captured["mlp_subject"][p]).all()
        else:
            np.testing.assert_allclose(captured["mlp_subject"][p, 1], acts[subject[p][1] - 1].numpy(), atol=1e-5)
        # The pooled twin differs: it averages the template's tokens in.
        assert not np.allclose(captured["resid_norm_content"][p], captured["resid_norm_mean"][p])


def test_content_features_do_not_depend_on_padding_side(chat_captured):
    *_, left, right = chat_captured
    for name in ("resid_norm_content", "mlp_content", "attn_content", "resid_norm_subject", "mlp_subject"):
        np.testing.assert_allclose(left[name], right[name], rtol=1e-4, atol=1e-5, equal_nan=True)


def test_without_spans_content_arrays_are_nan(captured):
    for name in ("resid_norm_content", "mlp_content", "attn_content", "resid_norm_subject", "mlp_subject"):
        assert np.isnan(captured[name]).all()
    assert (captured["n_content_tokens"] == 0).all()


def test_a_span_outside_its_prompt_is_an_error(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match=r"`content_spans\[0\]`"):
        capture_activations(model, tok, ["Hi"], content_spans=[(0, 9)], progress=False)
    with pytest.raises(ValueError, match="has 1 entries for 2 prompts"):
        capture_activations(model, tok, ["Hi", "Ho"], subject_spans=[(0, 1)], progress=False)


def test_prompt_subjects_come_from_provenance_or_the_fact_tables():
    from engine.activations import prompt_subjects
    from tasks.filler import count_words, length_matched
    from tasks.loader import load_tasks

    fact = load_tasks("factorial250-hops-closed")
    subjects = prompt_subjects(fact)
    assert len(subjects) == 2 * len(fact.pairs) and all(subjects)
    assert subjects[0] == fact.provenance["subjects"][fact.pairs[0].id] == subjects[len(fact.pairs)]
    assert prompt_subjects(length_matched(fact, count_words, seed=0)) == subjects  # carried through
    core = load_tasks("core")
    assert prompt_subjects(core)[core.ids.index("capital-switzerland")] == "Switzerland"
