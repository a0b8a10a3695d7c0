"""Every family of the architecture table, on a tiny random model built offline from its config class.

What is checked, per family (the same checks as tests/test_capture.py and
tests/test_interventions.py make on qwen2 / llama)
-----------------------------------------------------------------------------------------------
* capture: the residual stream equals HF's ``output_hidden_states`` (the last layer through the
  final norm); the attention features equal those of HF's ``output_attentions``; head h's slice
  of the per-head outputs is the head whose weights are ``attentions[h]``; per-head outputs
  written through the attention output projection sum (plus its bias) to the attention output;
  neuron activations through the down projection (MoE: the experts' down projections side by
  side) give the MLP output.
* interventions: `check_runner` passes (prefix + padded suffixes, a sliding window that bites
  where the family has one); ablating nothing is bit-identical to the clean run; zero-ablating
  every head of a layer is bit-identical to replacing its attention output by the output
  projection's bias; the batched runner's ablation metrics equal HF's forward under the same
  ablation; causal tracing with zero noise restores the clean run everywhere, and with noise
  restoring the last layer's residual stream restores the clean probability.
* the table: an unknown model type with a known layout is discovered (and its site sums checked
  on the spot); one without, or whose sums fail (BLOOM), is refused with a message naming the
  file to edit; a Falcon with ALiBi is refused for interventions, with the reason.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from engine.capture import capture_activations, head_writes
from engine.hooks import HookSet, hooks
from engine.intervention.ablation import Ablation, ablate
from engine.intervention.runner import RunContext, check_runner, pack
from engine.model.site_hooks import down_weight, projection_weight, read_site
from engine.model.sites import UnsupportedArchitectureError, model_layout
from engine.model.tiny import build_tiny_tokenizer

VOCAB = 260  # the tiny byte-level tokenizer: 256 bytes + 3 specials (ids 256-258)
_ATTN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128)
_GQA = dict(_ATTN, num_key_value_heads=2, intermediate_size=64)

# model_type -> config kwargs: 2-3 layers, d_model 32, 4 heads; windows of 3-4 tokens, so that the
# test prompts (30-90 tokens) cross them; soft-capping and multipliers far from 1, so they matter.
TINY_CONFIGS: dict[str, tuple[str, dict]] = {
    "gpt2": ("gpt2", dict(n_embd=32, n_layer=2, n_head=4, n_positions=128)),
    "gpt_neox": ("gpt_neox", dict(_ATTN, intermediate_size=64, rotary_pct=0.5, use_parallel_residual=True)),
    "gptj": ("gptj", dict(n_embd=32, n_layer=2, n_head=4, n_positions=128, rotary_dim=4)),
    "llama": ("llama", _GQA),
    "mistral": ("mistral", dict(_GQA, sliding_window=3)),
    "mixtral": ("mixtral", dict(_GQA, intermediate_size=16, num_local_experts=4, num_experts_per_tok=2)),
    "qwen2": ("qwen2", dict(_GQA, num_hidden_layers=3, use_sliding_window=True, sliding_window=3,
                            max_window_layers=1)),
    "qwen3": ("qwen3", dict(_GQA, head_dim=8)),
    "gemma": ("gemma", dict(_GQA, head_dim=8)),
    "gemma2": ("gemma2", dict(_GQA, num_hidden_layers=3, head_dim=8, sliding_window=3, attn_logit_softcapping=2.0,
                              final_logit_softcapping=0.5, query_pre_attn_scalar=8)),
    "gemma3_text": ("gemma3_text", dict(_GQA, num_hidden_layers=3, head_dim=8, sliding_window=3,
                                        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                                        final_logit_softcapping=0.5, query_pre_attn_scalar=8)),
    "phi": ("phi", dict(_ATTN, intermediate_size=64, partial_rotary_factor=0.5)),
    "phi3": ("phi3", dict(_GQA, sliding_window=4)),
    "olmo": ("olmo", _GQA),
    "olmo2": ("olmo2", _GQA),
    "falcon": ("falcon", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_hidden_size=64,
                              parallel_attn=True, multi_query=True, new_decoder_architecture=False, bias=True)),
    "falcon-new-decoder": ("falcon", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                          num_kv_heads=2, ffn_hidden_size=64, new_decoder_architecture=True)),
    "stablelm": ("stablelm", dict(_GQA, partial_rotary_factor=0.25, use_parallel_residual=True)),
    "granite": ("granite", dict(_GQA, embedding_multiplier=6.0, residual_multiplier=0.5, attention_multiplier=0.2,
                                logits_scaling=4.0)),
    "cohere": ("cohere", dict(_GQA, logit_scale=0.5)),
}

TEXTS = ["What is the capital of France?", "Au is the symbol of which element?",
         "If Bern is the capital of Switzerland, what is the capital of France?"]


def build(model_type: str, seed: int = 0, **kwargs):
    """A tiny randomly initialised CausalLM of `model_type` (no download), eager attention."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(model_type, vocab_size=VOCAB, pad_token_id=256, bos_token_id=None,
                                  eos_token_id=258, initializer_range=0.2, tie_word_embeddings=False, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: intra-op threads only contend on a 2-core runner
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module", params=list(TINY_CONFIGS))
def family(request, tok):
    model_type, kwargs = TINY_CONFIGS[request.param]
    model = build(model_type, **kwargs)
    return model, model_layout(model), capture_activations(model, tok, TEXTS, progress=False)


def _reference(model, tok, text):
    with torch.no_grad():
        return model(**tok(text, return_tensors="pt"), output_hidden_states=True, output_attentions=True)


def _grab(model, layout, reads: dict, text, tok):
    """Run `text` through the HF forward and return each (site, layer) value read, cloned."""
    seen, hook_set = {}, HookSet()
    for key in reads:
        read_site(model, layout, key[0], key[1], lambda x, key=key: seen.__setitem__(key, x.detach().clone()), hook_set)
    with hooks(model, hook_set), torch.no_grad():
        model(**tok(text, return_tensors="pt"))
    return seen


def test_residual_and_attention_equal_hf_outputs(family, tok):
    model, layout, captured = family
    final_norm = model.get_submodule(layout.path("final_norm"))
    for p, text in enumerate(TEXTS):
        out = _reference(model, tok, text)
        hs = out.hidden_states
        assert len(hs) == layout.n_layers + 1 and len(out.attentions) == layout.n_layers
        for layer in range(layout.n_layers - 1):
            np.testing.assert_allclose(captured["resid_last"][p, layer], hs[layer + 1][0, -1].numpy(), rtol=1e-5,
                                       atol=1e-4)
        last = torch.tensor(captured["resid_last"][p, -1])[None, None]
        np.testing.assert_allclose(final_norm(last)[0, 0].numpy(), hs[-1][0, -1].numpy(), rtol=1e-5, atol=1e-4)
        for layer, att in enumerate(out.attentions):
            row = att[0, :, -1, :].double()
            ent = -(row * row.clamp_min(1e-300).log()).sum(-1)
            np.testing.assert_allclose(captured["attn_entropy"][p, layer], ent.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(captured["attn_max"][p, layer], row.max(-1).values.numpy(), rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_allclose(captured["attn_first"][p, layer], row[:, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_heads_and_neurons_sum_to_attention_and_mlp_outputs(family, tok):
    model, layout, captured = family
    text, p = TEXTS[2], 2
    keys = [(s, l) for l in range(layout.n_layers) for s in ("head_in", "attn", "mlp_neurons", "mlp")]
    seen = _grab(model, layout, dict.fromkeys(keys), text, tok)
    for layer in range(layout.n_layers):
        out_proj = model.get_submodule(layout.path("head_in", layer))
        z = seen[("head_in", layer)]
        writes = head_writes(z, projection_weight(out_proj), layout.n_heads, layout.head_dim)  # [1, T, H, D]
        bias = out_proj.bias if getattr(out_proj, "bias", None) is not None else 0
        np.testing.assert_allclose((writes.sum(-2) + bias).numpy(), seen[("attn", layer)].numpy(), atol=1e-5)
        np.testing.assert_allclose(captured["head_in_last"][p, layer].reshape(-1), z[0, -1].numpy(), atol=1e-5)
        w, b = down_weight(model, layout, layer)
        neurons = seen[("mlp_neurons", layer)]
        assert neurons.shape[-1] == layout.d_mlp == w.shape[1]
        mlp_out = neurons @ w.T + (b if b is not None else 0)
        np.testing.assert_allclose(mlp_out.numpy(), seen[("mlp", layer)].numpy(), atol=1e-5)
        np.testing.assert_allclose(captured["mlp_last"][p, layer], neurons[0, -1].numpy(), atol=1e-5)
    if layout.is_moe:  # a token's neurons are non-zero in exactly its routed experts
        units = layout.d_mlp // layout.n_experts
        active = seen[("mlp_neurons", 0)][0].reshape(-1, layout.n_experts, units).abs().sum(-1) > 0
        assert (active.sum(-1) == model.config.num_experts_per_tok).all()


def test_head_slices_are_the_heads_of_the_attention_weights(family, tok, monkeypatch):
    """Head h's slice of the output projection's input is the output of the head whose weights are
    ``attentions[h]``: each family's own per-head attention output, taken where it is computed
    (its module's ``eager_attention_forward``; Falcon, which has none: its weights times its values)."""
    model, layout, _ = family
    module = sys.modules[type(model.get_submodule(layout.path("attn", 0))).__module__]
    own_eager = hasattr(module, "eager_attention_forward")
    per_head, inputs, seen = [], {}, {}
    if own_eager:
        original = module.eager_attention_forward

        def recording(*args, **kwargs):
            out = original(*args, **kwargs)
            per_head.append(out[0])  # [B, T, H, E]: head h computed with the weights out[1][:, h]
            return out
        monkeypatch.setattr(module, "eager_attention_forward", recording)
    else:
        assert layout.model_type == "falcon"
    hook_set = HookSet()
    for layer in range(layout.n_layers):
        read_site(model, layout, "head_in", layer, lambda x, layer=layer: seen.__setitem__(layer, x.clone()), hook_set)
        if not own_eager:  # Falcon calls its attention with the hidden states first
            hook_set.add(layout.path("attn", layer), lambda m, args, layer=layer: inputs.__setitem__(layer, args[0]),
                         pre=True)
    with hooks(model, hook_set), torch.no_grad():
        model(**tok(TEXTS[0], return_tensors="pt"))
    if not own_eager:  # Falcon: A_h @ V_h, the values from its own fused-projection split
        weights = _reference(model, tok, TEXTS[0]).attentions
        for layer in range(layout.n_layers):
            attn = model.get_submodule(layout.path("attn", layer))
            value = attn._split_heads(attn.query_key_value(inputs[layer]))[2].transpose(1, 2)  # [B, kv, T, E]
            per_head.append((weights[layer] @ value).transpose(1, 2))
    assert len(per_head) == layout.n_layers
    for layer in range(layout.n_layers):
        np.testing.assert_allclose(seen[layer].reshape(per_head[layer].shape).numpy(), per_head[layer].numpy(),
                                   atol=1e-5)


def test_runner_matches_the_model_and_empty_ablation_is_bit_identical(family, tok):
    model, layout, _ = family
    check_runner(model)
    from engine.capture import left_pad

    ids, mask, pos = left_pad([tok(t)["input_ids"] for t in TEXTS], tok.pad_token_id)

    def logits():
        with torch.inference_mode():
            return model(input_ids=ids, attention_mask=mask, position_ids=pos).logits

    clean = logits()
    with ablate(model, Ablation(), method="zero"):
        assert torch.equal(logits(), clean)
    layer = layout.n_layers - 1
    ctx = RunContext(valid=mask.bool())
    with ablate(model, Ablation(heads=frozenset((layer, h) for h in range(layout.n_heads))), method="zero", ctx=ctx):
        heads = logits()
    out_proj = model.get_submodule(layout.path("head_in", layer))
    bias = getattr(out_proj, "bias", None)

    def only_bias(module, args, output):  # the attention output with every head removed
        value = torch.zeros_like(output[0]) + (bias if bias is not None else 0)
        return (value, *output[1:])

    with hooks(model, {layout.path("attn", layer): only_bias}):
        removed = logits()
    assert not torch.equal(heads, clean)
    assert torch.equal(heads[mask.bool()], removed[mask.bool()])
    assert torch.equal(logits(), clean)


def test_batched_runner_ablations_equal_the_hf_forward(family, tok):
    from engine.intervention.ablation import reference_means
    from engine.intervention.runs import ablation_metrics, clean_run

    model, layout, _ = family
    texts = ["<|im_start|>user\nWhat is the capital of France?<|im_end|>\n",
             "<|im_start|>user\nWho wrote Hamlet?<|im_end|>\n"]
    seqs = [tok(t)["input_ids"] for t in texts]
    packed, targets = pack(seqs, tok.pad_token_id), torch.tensor([70, 71])
    means = reference_means(model, tok, texts)
    clean = clean_run(model, packed, targets)
    last = layout.n_layers - 1
    conditions = [Ablation(), Ablation(heads=frozenset({(0, 1)}), neurons=frozenset({(last, 3), (last, 5)})),
                  Ablation(mlp_layers=frozenset({0}), attn_layers=frozenset({last}))]
    out = ablation_metrics(model, packed, targets, clean, conditions, means=means)
    for c, abl in enumerate(conditions):
        for i, seq in enumerate(seqs):
            with ablate(model, abl, means=means), torch.inference_mode():
                ref = torch.log_softmax(model(input_ids=torch.tensor([seq])).logits[0, -1].float(), -1)[70 + i]
            assert out["logprob"][c, i] == pytest.approx(float(ref), abs=1e-4)
    assert np.abs(out["logprob"][1:] - out["logprob"][:1]).max() > 1e-6


def test_tracing_restore_everything_is_the_clean_run(family, tok):
    from engine.intervention.tracing import causal_trace, noise_scale, trace_item

    model, _, _ = family
    # The lead-ins end 3 tokens after a subject: within reach of a 3-token window in two layers.
    texts = ["<|im_start|>user\nWhat is the capital of France?<|im_end|>\nFrance is",
             "<|im_start|>user\nIs Bern in Switzerland? Switzerland is big.<|im_end|>\nIn Switzerland it"]
    items = [trace_item(tok, tuple(tok(t)["input_ids"]), 65, s, question=s) for t, s in
             zip(texts, ["France", "Switzerland"])]
    none = causal_trace(model, items, corruption="noise", pad_id=tok.pad_token_id, scale=0.0)
    np.testing.assert_allclose(none.p_corrupt, none.p_clean, rtol=1e-5)
    for value in none.p_restored.values():
        np.testing.assert_allclose(value, none.p_clean[None].repeat(len(value), 0), rtol=1e-4)
    noisy = causal_trace(model, items, corruption="noise", pad_id=tok.pad_token_id, scale=noise_scale(model), seed=1,
                         sites=("resid",), kinds=("last",))
    assert np.abs(noisy.p_corrupt - noisy.p_clean).max() > 1e-7
    np.testing.assert_allclose(noisy.p_restored[("resid", "last")][-1], noisy.p_clean, rtol=1e-4)


def test_noise_scale_follows_the_embedding_path():
    from engine.intervention.tracing import noise_scale

    llama, gemma = build("llama", **_GQA), build("gemma", **dict(_GQA, head_dim=8))
    raw = [3 * float(m.get_input_embeddings().weight.std()) for m in (llama, gemma)]
    assert noise_scale(llama) == raw[0]  # the first layer sees the embedding rows themselves
    assert noise_scale(gemma) == pytest.approx(raw[1] * 32 ** 0.5, rel=1e-3)  # Gemma scales by sqrt(d)


def test_an_unknown_type_with_a_known_layout_is_discovered_and_verified():
    model = build("smollm3", **_GQA)  # Llama-like modules, not in the table
    layout = model_layout(model)
    assert "discovered" in layout.family and layout.path("mlp_neurons", 1) == "model.layers.1.mlp.down_proj"
    check_runner(model)


@pytest.mark.parametrize("model_type, kwargs, fragment", [
    ("gpt_neo", dict(hidden_size=32, num_layers=2, num_heads=4, attention_types=[[["global", "local"], 1]]),
     "engine/model/families.py"),
    ("qwen2_moe", dict(_GQA, moe_intermediate_size=16, shared_expert_intermediate_size=16, num_experts=4,
                       num_experts_per_tok=2), "shared_expert"),
    # named like Falcon, but its attention and MLP modules add the residual themselves: caught by
    # the site-sum check every discovered family gets
    ("bloom", dict(hidden_size=32, n_layer=2, n_head=4), "adds something more, e.g. the residual"),
])
def test_an_unknown_layout_is_refused_with_what_to_add(model_type, kwargs, fragment):
    with pytest.raises(UnsupportedArchitectureError, match=fragment) as err:
        model_layout(build(model_type, **kwargs))
    assert model_type in str(err.value)


def test_falcon_with_alibi_is_refused_for_interventions_only(tok):
    model = build("falcon", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_hidden_size=64,
                  alibi=True)
    assert capture_activations(model, tok, TEXTS[:1], progress=False)["resid_last"].shape == (1, 2, 32)
    with pytest.raises(NotImplementedError, match=r"^interventions not supported for Falcon: ALiBi"):
        check_runner(model)
