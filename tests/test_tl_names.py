"""TransformerLens names of our components, checked on every family's tiny random model.

The reference is TransformerLens's own definition of each hook, read from its source: ``hook_z``
is the input of the attention output matrix W_O, ``hook_post`` the input of the MLP output matrix
W_out, ``hook_resid_post`` the block's output, and a mixture of experts' ``experts.{e}.hook_post``
is act(W_gate x) * W_in x of expert e. Which HF module is W_O / W_out in each family is taken from
TransformerLens's weight conversions (``pretrained/weight_conversions/<family>.py``) and its
TransformerBridge (``model_bridge/supported_architectures``), written out below, not from our
architecture table. Each check parses the hook name and index that `engine.model.tl_names`
returns and fetches that tensor independently: a wrong layer, head, unit or expert fails.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from engine.capture import capture_activations
from engine.model.sites import model_layout
from engine.model.tiny import build_tiny_tokenizer
from engine.model.tl_names import TLNaming, naming_for_config, naming_for_layout, parse_component
from test_architectures import TEXTS, TINY_CONFIGS, build

_LLAMA_LIKE = ("model.layers.{L}", "model.layers.{L}.self_attn.o_proj", "model.layers.{L}.mlp.down_proj")
# model_type -> (block, W_O module, W_out module), as TransformerLens's conversions read them
TL_MODULES: dict[str, tuple[str, str, str | None]] = {
    "gpt2": ("transformer.h.{L}", "transformer.h.{L}.attn.c_proj", "transformer.h.{L}.mlp.c_proj"),
    "gpt_neox": ("gpt_neox.layers.{L}", "gpt_neox.layers.{L}.attention.dense",
                 "gpt_neox.layers.{L}.mlp.dense_4h_to_h"),
    "gptj": ("transformer.h.{L}", "transformer.h.{L}.attn.out_proj", "transformer.h.{L}.mlp.fc_out"),
    "phi": ("model.layers.{L}", "model.layers.{L}.self_attn.dense", "model.layers.{L}.mlp.fc2"),
    "falcon": ("transformer.h.{L}", "transformer.h.{L}.self_attention.dense",
               "transformer.h.{L}.mlp.dense_4h_to_h"),
    "mixtral": ("model.layers.{L}", "model.layers.{L}.self_attn.o_proj", None),  # experts: below
}
_HOOK = re.compile(r"blocks\.(\d+)\.(hook_resid_post|attn\.hook_z|mlp\.hook_post|mlp\.experts\.(\d+)\.hook_post)")


def _modules(model_type: str) -> tuple[str, str, str | None]:
    return TL_MODULES.get(model_type, _LLAMA_LIKE)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


@pytest.fixture(scope="module", params=list(TINY_CONFIGS))
def family(request, tok):
    torch.set_num_threads(1)
    model_type, kwargs = TINY_CONFIGS[request.param]
    model = build(model_type, **kwargs)
    return model_type, model, model_layout(model), capture_activations(model, tok, TEXTS, progress=False)


def _tl_tensors(model, model_type: str, n_layers: int, text: str, tok) -> dict[str, torch.Tensor]:
    """TransformerLens's hook values for `text` ([T, ...], batch of one), by hook name."""
    block, w_o, w_out = _modules(model_type)
    seen: dict[str, torch.Tensor] = {}
    handles = []

    def keep(name, reshape=None):
        def pre(module, args, kwargs=None):
            x = args[0][0].detach().clone()
            seen[name] = reshape(x) if reshape else x
        return pre

    try:
        for layer in range(n_layers):
            n_heads = model.config.num_attention_heads if hasattr(model.config, "num_attention_heads") \
                else model.config.n_head
            attn_out = model.get_submodule(w_o.format(L=layer))
            handles.append(attn_out.register_forward_pre_hook(
                keep(f"blocks.{layer}.attn.hook_z", lambda x, h=n_heads: x.reshape(x.shape[0], h, -1))))
            handles.append(model.get_submodule(block.format(L=layer)).register_forward_hook(
                lambda m, a, out, layer=layer: seen.__setitem__(
                    f"blocks.{layer}.hook_resid_post", (out[0] if isinstance(out, tuple) else out)[0].detach().clone())))
            if w_out is not None:
                handles.append(model.get_submodule(w_out.format(L=layer)).register_forward_pre_hook(
                    keep(f"blocks.{layer}.mlp.hook_post")))
            else:  # MoE: the MLP block's input, from which each expert's hook_post is computed
                handles.append(model.get_submodule(f"model.layers.{layer}.mlp").register_forward_pre_hook(
                    keep(f"moe_input.{layer}")))
        with torch.no_grad():
            model(**tok(text, return_tensors="pt"))
    finally:
        for handle in handles:
            handle.remove()
    if w_out is None:
        act = torch.nn.functional.silu
        for layer in range(n_layers):
            experts = model.get_submodule(f"model.layers.{layer}.mlp.experts")
            x = seen.pop(f"moe_input.{layer}")
            for e in range(experts.gate_up_proj.shape[0]):
                # TransformerLens MoEGatedMLP: hook_post = act(W_gate x) * W_in x (HF: gate first, then up)
                gate, up = torch.nn.functional.linear(x, experts.gate_up_proj[e]).chunk(2, dim=-1)
                seen[f"blocks.{layer}.mlp.experts.{e}.hook_post"] = act(gate) * up
    return seen


def test_every_component_name_addresses_the_same_value_in_transformerlens(family, tok):
    model_type, model, layout, captured = family
    naming = naming_for_layout(layout)
    assert naming == naming_for_config(model.config)  # read without weights, the same
    for p, text in enumerate(TEXTS):
        tl = _tl_tensors(model, model_type, layout.n_layers, text, tok)
        for layer in range(layout.n_layers):
            hook, index = naming.address("layer", layer)
            assert index is None and _HOOK.fullmatch(hook)
            np.testing.assert_allclose(captured["resid_last"][p, layer], tl[hook][-1].numpy(), rtol=1e-5, atol=1e-4)
            for head in range(layout.n_heads):
                hook, index = naming.address("head", layer, head)
                np.testing.assert_allclose(captured["head_in_last"][p, layer, head], tl[hook][-1, index].numpy(),
                                           rtol=1e-5, atol=1e-5)
            ours = captured["mlp_last"][p, layer]
            if not layout.is_moe:
                hooks, idx = naming.addresses("neuron", np.full(layout.d_mlp, layer), np.arange(layout.d_mlp))
                for n in (0, layout.d_mlp // 2, layout.d_mlp - 1):
                    np.testing.assert_allclose(ours[n], tl[hooks[n]][-1, idx[n]].numpy(), rtol=1e-5, atol=1e-5)
                continue
            # ours = TransformerLens's expert value times the routing weight (0 when not routed): per expert
            # one weight fits every unit, and a token's routed weights sum to 1 (Mixtral renormalizes top-k)
            hooks, idx = naming.addresses("neuron", np.full(layout.d_mlp, layer), np.arange(layout.d_mlp))
            weights = {}
            for hook in dict.fromkeys(hooks):
                mine = ours[hooks == hook]
                ref = tl[hook][-1, idx[hooks == hook]].numpy()
                w = float(mine @ ref / (ref @ ref))
                np.testing.assert_allclose(mine, w * ref, rtol=1e-4, atol=1e-6)
                weights[hook] = w
            routed = [w for w in weights.values() if abs(w) > 1e-6]
            assert len(routed) == model.config.num_experts_per_tok
            assert sum(routed) == pytest.approx(1.0, abs=1e-5)


def test_component_names_parse_and_map():
    assert TLNaming().of_name("L16H0") == {"hook": "blocks.16.attn.hook_z", "index": 0}
    assert TLNaming().of_name("L3N1234") == {"hook": "blocks.3.mlp.hook_post", "index": 1234}
    assert TLNaming().of_name("L7") == {"hook": "blocks.7.hook_resid_post", "index": None}
    moe = TLNaming(n_experts=4, units_per_expert=16)
    assert moe.of_name("L1N37") == {"hook": "blocks.1.mlp.experts.2.hook_post", "index": 5}
    with pytest.raises(ValueError, match="neuron indices must lie in"):
        moe.of_name("L1N64")
    with pytest.raises(ValueError, match="not a component name"):
        parse_component("H2L1")
    with pytest.raises(ValueError, match="units_per_expert"):
        TLNaming(n_experts=4)
