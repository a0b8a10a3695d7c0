"""A planted ground truth: a tiny model whose specialized components are known by construction.

Contents
--------
PlantedModel         : the model, its tokenizer and the planted layers, heads and neurons.
build_planted_model  : a seeded tiny Qwen2 model with marker-detecting heads and neurons.
planted_prompts      : length-matched byte-string pairs: the marker is the only difference, or
                       (the nulls) both sides drawn from one distribution.
planted_activations  : capture a list of pairs into `engine.activations.Activations`.
Recovery, recovery   : precision and recall of a found component mask against the truth.

How the ground truth is made exact
----------------------------------
Three residual dimensions are reserved: ``marker``, ``neutral`` and ``write``. Only the marker
token has a value on ``marker`` and only the neutral token one on ``neutral``, both equal to
`flag`, and the marker token's other dimensions copy the neutral token's. A side-a prompt is a
side-b prompt with the neutral token swapped for the marker, so the two residual streams have
the same norm (RMSNorm therefore scales every other dimension identically) and differ only on
which reserved dimension holds `flag`. No unplanted component reads or writes a reserved
dimension, so every unplanted head and neuron sees the same numbers on both sides (up to float
rounding), and so does every layer before the last.

* Planted heads read ``marker`` through one key dimension (the slowest rotary pair, so the
  score does not depend on distance) against a constant query (the q_proj bias), so they
  attend to the marker from every position; their o_proj columns are zero, so they write
  nothing and change nothing downstream.
* Planted neurons add ``marker`` to their gate and up inputs, so act(gate) * up is large at
  the marker. Those in layers before the last write nothing (zero down_proj column); those in
  the last layer write into ``write``.
* Planted layers: the residual stream is cumulative and every later component reads it
  through RMSNorm, so a norm change is clean only where nothing reads it: the last layer's MLP.
  Its planted neurons' writes into ``write`` raise the residual norm at the marker, which makes
  the last layer (and only it) the planted layer.

Without the marker the planted components are ordinary random components. The model is
Qwen2 because the constant query uses q_proj's bias (Llama has none by default).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.activations import Activations
from engine.capture import CaptureConfig, capture_activations
from engine.model.tiny import build_tiny_config, build_tiny_model, build_tiny_tokenizer

MARKER = "#"
NEUTRAL = "_"
# Content bytes never include the marker or the neutral byte, so each prompt holds exactly one
# of them; single ASCII bytes so that one character is one token of the byte-level tokenizer.
CONTENT_ALPHABET = "abcdefghijklmnopqrstuvwxyz "
RESERVED = ("marker", "neutral", "write")


@dataclass(frozen=True)
class PlantedModel:
    """A model with planted components and everything a test needs to score their recovery.

    Attributes
    ----------
    model, tokenizer
        A HF Qwen2 causal LM (eager attention, eval mode) and the byte-level tokenizer.
    planted_layers : frozenset of int
        Layers whose residual-stream norm depends on the marker.
    planted_heads : frozenset of (layer, head)
        Heads that attend to the marker.
    planted_neurons : frozenset of (layer, neuron)
        MLP neurons (down_proj inputs) that fire on the marker.
    reserved : dict str -> int
        Residual dimension of ``marker``, ``neutral`` and ``write``.
    marker, neutral : str
        The marker byte (side a only) and the byte in its place on side b.
    seed : int
    """

    model: Any
    tokenizer: Any
    planted_layers: frozenset[int]
    planted_heads: frozenset[tuple[int, int]]
    planted_neurons: frozenset[tuple[int, int]]
    reserved: dict[str, int]
    marker: str
    neutral: str
    seed: int

    @property
    def grid_shapes(self) -> dict[str, tuple[int, ...]]:
        """Component grid per level, as `evaluation.components.ComponentAnalysis.labels` has it."""
        cfg = self.model.config
        n_layers = int(cfg.num_hidden_layers)
        return {"layer": (n_layers,), "head": (n_layers, int(cfg.num_attention_heads)),
                "neuron": (n_layers, int(cfg.intermediate_size))}

    def truth(self, level: str) -> np.ndarray:
        """Boolean mask of the planted components at `level` ("layer", "head" or "neuron").

        Examples
        --------
        >>> planted = build_planted_model(0)   # doctest: +SKIP
        >>> planted.truth("head").shape        # doctest: +SKIP
        (4, 4)
        """
        members = {"layer": [(layer,) for layer in self.planted_layers],
                   "head": list(self.planted_heads), "neuron": list(self.planted_neurons)}
        if level not in members:
            raise ValueError(f"`level` must be one of {sorted(members)}; got {level!r}")
        mask = np.zeros(self.grid_shapes[level], dtype=bool)
        for index in members[level]:
            mask[index] = True
        return mask


def _choose(rng: np.random.Generator, n_layers: int, size: int, per_layer: int) -> frozenset[tuple[int, int]]:
    if not 0 <= per_layer <= size:
        raise ValueError(f"cannot plant {per_layer} components per layer among {size}")
    return frozenset((layer, int(i)) for layer in range(n_layers)
                     for i in rng.choice(size, per_layer, replace=False))


def build_planted_model(
    seed: int = 0,
    *,
    n_layers: int = 4,
    n_heads: int = 4,
    d_model: int = 64,
    d_mlp: int = 128,
    heads_per_layer: int = 1,
    neurons_per_layer: int = 8,
    initializer_range: float = 0.125,
    flag: float = 8.0,
    head_gain: float = 4.0,
    neuron_gain: float = 1.0,
    write_gain: float = 1.0,
    plant: bool = True,
) -> PlantedModel:
    """Build a seeded tiny Qwen2 model and plant marker-specialized heads and neurons in it.

    Parameters
    ----------
    seed : int
        Seeds the random weights and the choice of planted components.
    n_layers, n_heads, d_model, d_mlp : int, keyword-only
        Model size. Every head has its own key/value head (no grouping), so planting a key
        changes exactly one head.
    heads_per_layer, neurons_per_layer : int, keyword-only
        Planted components per layer, at random indices.
    initializer_range : float, keyword-only
        Standard deviation of the HF initialisation. The default 1/sqrt(64) gives pre-activations
        of order one, so attention is content-dependent and MLPs are non-linear; the HF default
        of 0.02 leaves attention nearly uniform, which would make the null test too easy.
    flag : float, keyword-only
        Value of the marker (and neutral) token on its reserved dimension.
    head_gain : float, keyword-only
        Constant query and key weight of the planted rotary dimension; the marker's attention
        score rises by about ``head_gain**2 * normalized flag / sqrt(head_dim)``.
    neuron_gain : float, keyword-only
        Weight of ``marker`` in a planted neuron's gate and up inputs.
    write_gain : float, keyword-only
        Weight with which a last-layer planted neuron writes into ``write``.
    plant : bool, keyword-only
        False builds the planted model's random-weights twin: the same architecture and input
        construction (marker and neutral tokens differ only on their reserved dimensions, which
        no component reads) with the seed's random weights and nothing planted, i.e. what the
        suite's random-weights control is for this stimulus design.

    Returns
    -------
    PlantedModel

    Examples
    --------
    >>> planted = build_planted_model(0)                       # doctest: +SKIP
    >>> sorted(planted.planted_layers), len(planted.planted_heads)   # doctest: +SKIP
    ([3], 4)
    """
    import torch

    if d_model % n_heads or (d_model // n_heads) % 2:
        raise ValueError(f"`d_model` ({d_model}) must split into `n_heads` ({n_heads}) heads of even size")
    if plant and neurons_per_layer < 1:
        raise ValueError("`neurons_per_layer` must be >= 1: the last layer's planted neurons "
                         "make the planted layer")
    config = build_tiny_config(num_hidden_layers=n_layers, num_attention_heads=n_heads,
                               num_key_value_heads=n_heads, hidden_size=d_model, intermediate_size=d_mlp)
    config.initializer_range = initializer_range
    model = build_tiny_model(seed, config=config)
    tokenizer = build_tiny_tokenizer()
    rng = np.random.default_rng(seed)
    heads = _choose(rng, n_layers, n_heads, heads_per_layer) if plant else frozenset()
    neurons = _choose(rng, n_layers, d_mlp, neurons_per_layer) if plant else frozenset()
    reserved = {name: d_model - len(RESERVED) + i for i, name in enumerate(RESERVED)}
    res = list(reserved.values())
    m, n, w = reserved["marker"], reserved["neutral"], reserved["write"]
    marker_id, neutral_id = tokenizer.convert_tokens_to_ids([MARKER, NEUTRAL])
    head_dim = d_model // n_heads
    # rotate_half pairs dimension i with i + head_dim/2; the last pair turns slowest
    # (rope_theta**-(1 - 2/head_dim) rad per token), so its score is distance-independent.
    slow = head_dim // 2 - 1
    partner = slow + head_dim // 2

    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, res] = 0.0
        emb[marker_id] = emb[neutral_id]
        emb[marker_id, m] = flag
        emb[neutral_id, n] = flag
        for layer, block in enumerate(model.model.layers):
            attn, mlp = block.self_attn, block.mlp
            # Unplanted components must not see (read) or change (write) a reserved dimension.
            for lin in (attn.q_proj, attn.k_proj, attn.v_proj, mlp.gate_proj, mlp.up_proj):
                lin.weight[:, res] = 0.0
            attn.o_proj.weight[res, :] = 0.0
            mlp.down_proj.weight[res, :] = 0.0
            for (hl, h) in heads:
                if hl != layer:
                    continue
                rows = [h * head_dim + slow, h * head_dim + partner]
                attn.q_proj.weight[rows] = 0.0
                attn.k_proj.weight[rows] = 0.0
                attn.q_proj.bias[rows] = 0.0
                attn.k_proj.bias[rows] = 0.0
                attn.q_proj.bias[rows[0]] = head_gain
                attn.k_proj.weight[rows[0], m] = head_gain
                attn.o_proj.weight[:, h * head_dim:(h + 1) * head_dim] = 0.0
            for (nl, j) in neurons:
                if nl != layer:
                    continue
                mlp.gate_proj.weight[j, m] = neuron_gain
                mlp.up_proj.weight[j, m] = neuron_gain
                mlp.down_proj.weight[:, j] = 0.0
                if layer == n_layers - 1:
                    mlp.down_proj.weight[w, j] = write_gain
    return PlantedModel(model=model, tokenizer=tokenizer,
                        planted_layers=frozenset({n_layers - 1}) if plant else frozenset(),
                        planted_heads=heads, planted_neurons=neurons, reserved=reserved,
                        marker=MARKER, neutral=NEUTRAL, seed=seed)


CONDITIONS = ("planted", "null", "null_marked")


def planted_prompts(
    n_pairs: int,
    *,
    seed: int,
    condition: str = "planted",
    min_tokens: int = 24,
    max_tokens: int = 48,
) -> list[tuple[str, str]]:
    """Length-matched prompt pairs ``(a, b)`` of random content bytes with one special byte each.

    Parameters
    ----------
    n_pairs : int
    seed : int, keyword-only
    condition : {"planted", "null", "null_marked"}, keyword-only
        "planted": `b` is `a` with the marker replaced by the neutral byte, so the marker is
        the only difference. The two nulls remove the planted signal: `a` and `b` are drawn
        independently from one distribution, with the neutral byte ("null": the planted
        components stay silent) or with the marker on both sides ("null_marked": they fire on
        both), so every test is under its null hypothesis and each discovery is false.
    min_tokens, max_tokens : int, keyword-only
        Range of the pair's length in tokens (one byte = one token); both sides share it.

    Returns
    -------
    list of (str, str)

    Examples
    --------
    >>> a, b = planted_prompts(1, seed=0)[0]
    >>> len(a) == len(b), a.count("#"), b.count("#"), a.replace("#", "_") == b
    (True, 1, 0, True)
    """
    if condition not in CONDITIONS:
        raise ValueError(f"`condition` must be one of {list(CONDITIONS)}; got {condition!r}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"`n_pairs` must be an integer >= 1; got {n_pairs!r}")
    if not 2 <= min_tokens <= max_tokens:
        raise ValueError(f"need 2 <= `min_tokens` <= `max_tokens`; got {min_tokens!r}, {max_tokens!r}")
    rng = np.random.default_rng(seed)
    alphabet = list(CONTENT_ALPHABET)

    def side(length: int, special: str) -> str:
        chars = list(rng.choice(alphabet, size=length))
        # Never the last token: head features are read at the last query position, which must
        # look back at the special token rather than be it.
        chars[int(rng.integers(0, length - 1))] = special
        return "".join(chars)

    pairs = []
    for _ in range(n_pairs):
        length = int(rng.integers(min_tokens, max_tokens + 1))
        if condition == "planted":
            a = side(length, MARKER)
            pairs.append((a, a.replace(MARKER, NEUTRAL)))
        else:
            special = MARKER if condition == "null_marked" else NEUTRAL
            pairs.append((side(length, special), side(length, special)))
    return pairs


def planted_activations(
    planted: PlantedModel,
    pairs: list[tuple[str, str]],
    *,
    labels: tuple[str, str] = ("marker", "control"),
    config: CaptureConfig | None = None,
) -> Activations:
    """Capture `pairs` with the planted model; rows 0..n-1 are the `a` sides, n..2n-1 the `b` sides.

    Examples
    --------
    >>> planted = build_planted_model(0)                                     # doctest: +SKIP
    >>> acts = planted_activations(planted, planted_prompts(10, seed=1))    # doctest: +SKIP
    >>> acts.sides("attn_entropy")[0].shape                                  # doctest: +SKIP
    (10, 4, 4)
    """
    import torch

    texts = [a for a, _ in pairs] + [b for _, b in pairs]
    # The matmuls of this model are far too small to gain from intra-op threads, and on a
    # busy 2-core CI runner two threads contend badly (measured here: 1.5 s vs 0.15 s a capture).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        arrays = capture_activations(planted.model, planted.tokenizer, texts,
                                     config=config if config is not None else CaptureConfig(),
                                     progress=False, desc="capture planted")
    finally:
        torch.set_num_threads(threads)
    return Activations(arrays=arrays, pair_ids=tuple(f"planted-{i}" for i in range(len(pairs))),
                       labels=labels, meta={"model": "planted", "seed": planted.seed,
                                            "n_pairs": len(pairs)})


@dataclass(frozen=True)
class Recovery:
    """Precision and recall of found components against planted ones.

    Attributes
    ----------
    precision : float
        ``hits / found``; NaN when nothing was found.
    recall : float
        ``hits / planted``; NaN when nothing was planted.
    hits, found, planted : int
    """

    precision: float
    recall: float
    hits: int
    found: int
    planted: int


def recovery(found: np.ndarray, truth: np.ndarray) -> Recovery:
    """Score a boolean mask of found components against the planted mask of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> r = recovery(np.array([True, True, False]), np.array([True, False, False]))
    >>> r.precision, r.recall
    (0.5, 1.0)
    """
    found, truth = np.asarray(found, dtype=bool), np.asarray(truth, dtype=bool)
    if found.shape != truth.shape:
        raise ValueError(f"`found` has shape {found.shape}, `truth` {truth.shape}; they must match")
    hits, n_found, n_true = int((found & truth).sum()), int(found.sum()), int(truth.sum())
    return Recovery(precision=hits / n_found if n_found else float("nan"),
                    recall=hits / n_true if n_true else float("nan"),
                    hits=hits, found=n_found, planted=n_true)
