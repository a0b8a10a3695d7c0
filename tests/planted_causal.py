"""A planted causal double dissociation: two neurons, each the cause of one task's answer.

Contents
--------
PlantedDissociation : the model, tokenizer, the two planted neurons and the answer tokens.
build_planted_dissociation : a seeded tiny Qwen2 with the two neurons planted in its last MLP.
planted_bench       : an `evaluation.causal_selection.AblationBench` of recall / reasoning prompts.

Construction. Prompts are plain byte strings that end with a marker: "#" (recall) or "%"
(reasoning); the answer is "R" for recall, "Q" for reasoning. Four residual dimensions are
reserved: ``m_recall`` and ``m_reason`` (only the markers' embeddings hold them, value `flag`),
``w_recall`` and ``w_reason`` (only the planted neurons write them). No other component reads
or writes a reserved dimension (their rows / columns are zeroed), and only the answer tokens'
unembedding rows read ``w_*``.

The recall neuron's gate reads ``m_recall + m_reason`` (it fires on either marker) and its
up projection ``m_recall - m_reason``, so its activation is +A after "#" and -A after "%";
it writes ``w_recall``, read by "R". Its mean over both kinds of prompt at the last content
token is ~0, so mean-ablating it there removes R's boost from recall prompts (a large drop) and
only lifts R from -A to ~0 on reasoning prompts, where Q stays ahead (a small drop): a
dissociation by construction. The reasoning neuron mirrors it. Every other component is random
and the same on both sides apart from the marker, so random neuron sets dissociate nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RECALL_MARKER, REASON_MARKER = "#", "%"
RECALL_ANSWER, REASON_ANSWER = "R", "Q"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class PlantedDissociation:
    """The planted model; `neurons` maps direction -> (layer, neuron)."""

    model: Any
    tokenizer: Any
    neurons: dict
    answers: dict


def build_planted_dissociation(seed: int = 0, *, flag: float = 6.0, write: float = 3.0) -> PlantedDissociation:
    """A tiny Qwen2 (4 layers, d=64, 128 neurons) with the two planted neurons (see module)."""
    import torch

    from engine.model.tiny import build_tiny_model, build_tiny_tokenizer

    torch.manual_seed(seed)
    model, tok = build_tiny_model(seed), build_tiny_tokenizer()
    cfg = model.config
    d, last = cfg.hidden_size, cfg.num_hidden_layers - 1
    rng = np.random.default_rng(seed)
    m_rec, m_rea, w_rec, w_rea = (int(i) for i in rng.choice(d, 4, replace=False))
    reserved = [m_rec, m_rea, w_rec, w_rea]
    n_rec, n_rea = (int(i) for i in rng.choice(cfg.intermediate_size, 2, replace=False))
    tid = {c: tok.convert_tokens_to_ids(c) for c in (RECALL_MARKER, REASON_MARKER, RECALL_ANSWER, REASON_ANSWER)}
    with torch.no_grad():
        emb = model.get_input_embeddings().weight  # tied: also the unembedding
        emb[:, reserved] = 0.0
        emb[tid[RECALL_MARKER], m_rec] = flag
        emb[tid[REASON_MARKER], m_rea] = flag
        emb[tid[RECALL_ANSWER]] = 0.0
        emb[tid[REASON_ANSWER]] = 0.0
        emb[tid[RECALL_ANSWER], w_rec] = 1.0
        emb[tid[REASON_ANSWER], w_rea] = 1.0
        for layer in model.model.layers:
            attn, mlp = layer.self_attn, layer.mlp
            for proj in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
                proj.weight[:, reserved] = 0.0
            attn.o_proj.weight[reserved] = 0.0
            mlp.down_proj.weight[reserved] = 0.0
        mlp = model.model.layers[last].mlp
        for n, sign, out in ((n_rec, 1.0, w_rec), (n_rea, -1.0, w_rea)):
            mlp.gate_proj.weight[n] = 0.0
            mlp.up_proj.weight[n] = 0.0
            mlp.down_proj.weight[:, n] = 0.0
            mlp.gate_proj.weight[n, [m_rec, m_rea]] = 1.0
            mlp.up_proj.weight[n, m_rec] = sign
            mlp.up_proj.weight[n, m_rea] = -sign
            mlp.down_proj.weight[out, n] = write
    model.eval()
    return PlantedDissociation(model, tok, {"recall": (last, n_rec), "reasoning": (last, n_rea)},
                               {"recall": tid[RECALL_ANSWER], "reasoning": tid[REASON_ANSWER]})


def planted_prompts(n_pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    """Pairs (recall, reasoning): the same random letters, then "#" or "%"."""
    rng = np.random.default_rng([seed, 0xD15])
    out = []
    for _ in range(n_pairs):
        body = "".join(rng.choice(list(ALPHABET), size=int(rng.integers(6, 14))))
        out.append((body + RECALL_MARKER, body + REASON_MARKER))
    return out


def planted_bench(planted: PlantedDissociation, pairs: list[tuple[str, str]]):
    """``(bench, is_recall, pair_of_row)``: rows 0..n-1 recall, n..2n-1 reasoning; the whole
    prompt is content (plain format, no template), so the last token has content offset 0."""
    import torch

    from evaluation.causal_selection import AblationBench
    from engine.intervention.ablation import position_means
    from engine.intervention.content import content_offsets
    from engine.intervention.runner import pack
    from engine.intervention.runs import clean_run

    tok, model = planted.tokenizer, planted.model
    texts = [a for a, _ in pairs] + [b for _, b in pairs]
    seqs = [list(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    offsets = [content_offsets(len(s), (0, len(s))) for s in seqs]
    n = len(pairs)
    targets = np.array([planted.answers["recall"]] * n + [planted.answers["reasoning"]] * n)
    means = position_means(model, seqs, offsets, pad_id=tok.pad_token_id)
    packed = pack(seqs, tok.pad_token_id, max_prefix=0)
    clean = clean_run(model, packed, torch.as_tensor(targets))
    bench = AblationBench(model, seqs, packed, clean, targets, offsets, means, pad_id=tok.pad_token_id)
    return bench, np.arange(2 * n) < n, np.arange(2 * n) % n
