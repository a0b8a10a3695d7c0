"""Neutral filler: length-matched pairs and the recall-vs-recall-with-filler control.

Contents
--------
FILLER_POOL     : neutral sentences (no facts, names, numbers or task words).
count_words     : a whitespace token counter, the tokenizer-free default.
pad_prompt      : prefix seeded filler to one prompt until it has a target token count.
length_matched  : pad both prompts of every pair, from the same pool, to one token count.
filler_contrast : surface-only control: side `a` vs the same side `a` padded with filler
                  by as many tokens as side `b` is longer (``recall`` vs ``recall-filler``).

Why varied filler: one constant filler sentence is itself a uniform surface difference
between the two sides (on Qwen 0.5B it raised the share of "task-specific" neurons from 7%
to 35%). Each prompt therefore draws its own sentences, in its own order, from the pool,
with a generator seeded by ``(seed, pair id)``.

How a count is hit: whole sentences are added while the prompt stays at or below the target;
then a last sentence is appended (or swapped for the last one added) so that the count lands
within the tolerance, an intact sentence if one fits, else one cut after a word (ending with
a period), and as a last resort after a character. Counts are
always measured on the full padded text, so tokenizers that merge across boundaries are
handled.
"""
from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence

from tasks.errors import LengthMatchError
from tasks.taskset import Prompt, TaskPair, TaskSet
from tasks.seeding import item_rng

CountTokens = Callable[[str], int]

FILLER_POOL: tuple[str, ...] = (
    "The weather was mild that afternoon.",
    "A cat slept on the warm windowsill.",
    "Someone left a cup of tea on the table.",
    "The kitchen smelled faintly of fresh bread.",
    "Rain tapped gently against the window.",
    "The reading room was quiet except for turning pages.",
    "A small dog barked somewhere down the street.",
    "The bus arrived a few minutes late.",
    "Leaves drifted slowly across the empty path.",
    "She folded the blanket and put it away.",
    "The clock on the wall ticked steadily.",
    "The plants were watered before breakfast.",
    "A gentle breeze moved the curtains.",
    "The children played quietly in the garden.",
    "It was an ordinary day at the office.",
    "The kettle began to whistle on the stove.",
    "A bird sang from the top of the fence.",
    "The room was tidy and bright.",
    "Someone was humming a tune in the hallway.",
    "The shop on the corner opened early.",
    "Clouds gathered slowly over the hills.",
    "The floor creaked under his footsteps.",
    "A pile of notebooks sat on the desk.",
    "The lamp cast a soft glow over the room.",
    "Nobody said much during the short walk.",
    "The grass was still wet with dew.",
    "She tied her shoes and stepped outside.",
    "A delivery van parked across the road.",
    "The soup was simmering on the stove.",
    "A window was opened to let in fresh air.",
    "The train moved steadily through the countryside.",
    "A few people waited patiently in line.",
    "The paint on the door had started to fade.",
    "Somewhere a radio was playing softly.",
    "The sky turned pink as evening came.",
    "Her umbrella dripped by the front door.",
    "The garden gate swung open in the breeze.",
    "They shared a quiet lunch on the porch.",
    "A stack of envelopes waited by the door.",
    "The candle flickered but did not go out.",
    "The pond was calm and very still.",
    "The papers on the desk were tidied.",
    "The morning began like any other.",
    "Steam rose from the cup of coffee.",
    "A soft knock came from the next room.",
    "The path wound gently between the trees.",
    "The streetlights came on one by one.",
    # Short sentences finish a filler when the remaining gap is small; many of them, so
    # that no single one becomes a frequent ending.
    "Time passed.",
    "Nobody spoke.",
    "Rain fell.",
    "Wind blew.",
    "Dogs barked.",
    "Bells rang.",
    "Leaves rustled.",
    "Someone waved.",
    "Nobody answered.",
    "Morning came.",
    "Clouds drifted.",
    "Water dripped.",
    "Music played.",
    "Children laughed.",
    "Footsteps echoed.",
    "The cat purred.",
    "It grew dark.",
    "The fire crackled.",
    "A door opened.",
    "Time went by.",
    "Snow fell.",
    "Birds sang.",
    "Night came.",
    "It was quiet.",
    "All was calm.",
    "The door creaked.",
    "Someone laughed softly.",
    "The tea cooled.",
    "Nothing much happened.",
    "The day went on.",
    "The street was empty.",
    "A car drove past.",
    "The lights were dim.",
    "The air felt cool.",
    "The phone stayed silent.",
    "The sun was setting.",
    "It was getting late.",
    "A dog yawned lazily.",
    "The wind picked up slightly.",
    "Someone closed a door upstairs.",
    "The kettle clicked off quietly.",
)


def count_words(text: str) -> int:
    """Whitespace token count: the tokenizer-free default for the built-in control sets.

    Examples
    --------
    >>> count_words("What is the capital of Peru?")
    6
    """
    return len(text.split())


def _join(parts: Sequence[str], text: str) -> str:
    return " ".join([*parts, text])


def _cut_words(sentence: str) -> list[str]:
    # Word prefixes, longest first, each ending in a period so it reads as a sentence.
    words = sentence.rstrip(".").split()
    return [" ".join(words[:k]) + "." for k in range(len(words) - 1, 0, -1)]


def _cut_chars(sentence: str) -> list[str]:
    body = sentence.rstrip(".")
    return [body[:k].rstrip() + "." for k in range(len(body) - 1, 0, -1) if body[:k].strip()]


def pad_prompt(
    text: str,
    target: int,
    count_tokens: CountTokens,
    *,
    rng: random.Random,
    pool: Sequence[str] = FILLER_POOL,
    tolerance: int = 1,
) -> str:
    """Prefix neutral filler to `text` so that ``count_tokens(result)`` is within
    `tolerance` of `target`.

    Parameters
    ----------
    text : str
        The prompt to pad; it stays last (filler goes before the question).
    target : int
        Token count to reach.
    count_tokens : callable
        Maps a text to its token count (any tokenizer, or `count_words`).
    rng : random.Random
        Chooses the order of filler sentences; seed it per prompt.
    pool : sequence of str
        Filler sentences.
    tolerance : int
        Allowed ``|count - target|``.

    Returns
    -------
    str
        `text` unchanged if already within tolerance, else ``"<filler> <text>"``.

    Raises
    ------
    LengthMatchError
        If `text` is already longer than ``target + tolerance``, or no filler reaches the
        target within the tolerance.

    Examples
    --------
    >>> import random
    >>> out = pad_prompt("What is the capital of Peru?", 12, count_words, rng=random.Random(0))
    >>> abs(count_words(out) - 12) <= 1, out.endswith("What is the capital of Peru?")
    (True, True)
    """
    lo, hi = target - tolerance, target + tolerance
    n = count_tokens(text)
    if lo <= n <= hi:
        return text
    if n > hi:
        raise LengthMatchError(
            f"prompt {text!r} has {n} tokens, more than the target {target} (+{tolerance}); "
            "padding can only lengthen a prompt"
        )
    order = rng.sample(list(pool), len(pool))
    chosen: list[str] = []
    i = 0
    while i < len(order):
        m = count_tokens(_join([*chosen, order[i]], text))
        if m > hi:
            break
        chosen.append(order[i])
        i += 1
        if m >= lo:
            return _join(chosen, text)
    best = count_tokens(_join(chosen, text))
    rest = order[i:]
    # The last sentence is either appended or swapped for the last greedy one: with append
    # alone only the shortest sentences fit a small remaining gap and would recur often.
    heads = [chosen, chosen[:-1]] if chosen else [chosen]
    # Prefer an intact sentence, then one cut after a word, then after a character.
    for cut in (lambda s: [s], _cut_words, _cut_chars):
        for sentence in rest:
            for piece in cut(sentence):
                for head in heads:
                    candidate = _join([*head, piece], text)
                    m = count_tokens(candidate)
                    if lo <= m <= hi:
                        return candidate
                    if abs(m - target) < abs(best - target):
                        best = m
    raise LengthMatchError(
        f"prompt {text!r}: cannot reach {target} (+/-{tolerance}) tokens with filler; "
        f"closest was {best} (the pool of {len(pool)} sentences may be too short)"
    )


def _pad_pair_side(prompt: Prompt, target: int, count_tokens: CountTokens, rng: random.Random,
                   pool: Sequence[str], pair_id: str, kind: str) -> Prompt:
    try:
        text = pad_prompt(prompt.text, target, count_tokens, rng=rng, pool=pool)
    except LengthMatchError as exc:
        raise LengthMatchError(f"pair {pair_id!r}: {exc}") from None
    return dataclasses.replace(prompt, text=text, kind=kind)


#: Filler tokens the longer prompt of a pair gets too in `length_matched` (about one sentence).
BOTH_SIDES_PAD = 8


def length_matched(
    taskset: TaskSet,
    count_tokens: CountTokens,
    *,
    seed: int,
    pool: Sequence[str] = FILLER_POOL,
    both_sides: int = BOTH_SIDES_PAD,
) -> TaskSet:
    """Pad both prompts of each pair, from the same pool, to the same token count (+/-1).

    The target is the longer prompt's count plus `both_sides` tokens: each side carries filler
    drawn from `pool` (its own sentences and order), so "has filler" is not itself a difference
    between the sides, as it was when only the shorter side was padded. Labels, ids, answers
    and categories are unchanged; only prompt texts gain a filler prefix.

    Parameters
    ----------
    taskset : TaskSet
        The pairs to match.
    count_tokens : callable
        Token counter of the model's tokenizer, e.g.
        ``lambda s: len(tok(s, add_special_tokens=False)["input_ids"])``.
    seed : int
        Filler choice; recorded in ``provenance["seed"]``.
    pool : sequence of str
        Filler sentences (default `FILLER_POOL`), the one pool of both sides.
    both_sides : int
        Tokens of filler the longer side gets (>= 0; 0 pads the shorter side only).

    Returns
    -------
    TaskSet
        Named ``"<name>-length-matched"``. ``provenance`` holds ``seed``, ``base_sha256``,
        ``token_counts`` (achieved ``(a, b)`` per pair), ``original_token_counts``,
        ``padded_side`` (``"ab"``, ``"a"``, ``"b"`` or ``""`` per pair), ``both_sides`` and the
        base set's ``subjects`` where it has them.

    Raises
    ------
    LengthMatchError
        Naming the first pair that cannot be matched.

    Examples
    --------
    >>> from tasks.loader import load_tasks
    >>> m = length_matched(load_tasks("core"), count_words, seed=0)
    >>> all(abs(a - b) <= 1 for a, b in m.provenance["token_counts"])
    True
    """
    if isinstance(both_sides, bool) or not isinstance(both_sides, int) or both_sides < 0:
        raise ValueError(f"`both_sides` must be an integer >= 0, got {both_sides!r}")
    pairs: list[TaskPair] = []
    padded: list[str] = []
    original = taskset.token_counts(count_tokens)
    for pair, (na, nb) in zip(taskset.pairs, original):
        target = max(na, nb) + both_sides
        a, b, side = pair.a, pair.b, ""
        # One stream per side: the two prompts draw their own sentences from the same pool.
        if target - na > 1:
            rng = item_rng(seed, pair.id, stream="length-matched")
            a, side = _pad_pair_side(a, target, count_tokens, rng, pool, pair.id, a.kind), "a"
        target_b = count_tokens(a.text) if side else target  # b meets a's achieved count: |a - b| <= 1
        if target_b - nb > 1:
            rng = item_rng(seed, pair.id, stream="length-matched-b")
            b, side = _pad_pair_side(b, target_b, count_tokens, rng, pool, pair.id, b.kind), side + "b"
        pairs.append(dataclasses.replace(pair, a=a, b=b))
        padded.append(side)
    result = TaskSet(name=f"{taskset.name}-length-matched", pairs=tuple(pairs), labels=taskset.labels)
    provenance = {
        "transform": "length_matched", "base": taskset.name, "base_sha256": taskset.sha256,
        "seed": seed, "tolerance": 1, "padded_side": tuple(padded), "both_sides": both_sides,
        "original_token_counts": original, "token_counts": result.token_counts(count_tokens),
    }
    if taskset.provenance.get("subjects"):  # subject features of the padded prompts
        provenance["subjects"] = taskset.provenance["subjects"]
    return dataclasses.replace(result, provenance=provenance)


def filler_contrast(
    taskset: TaskSet,
    count_tokens: CountTokens,
    *,
    seed: int,
    pool: Sequence[str] = FILLER_POOL,
    name: str | None = None,
) -> TaskSet:
    """Surface-only control: side `a` vs the same prompt with varied filler.

    Side `b` of the result is side `a` padded by ``|count(b) - count(a)|`` tokens, so the
    two sides differ in length (and surface) as much as the original pair did, but not in
    task. Labels become ``(label_a, label_a + "-filler")``.

    Examples
    --------
    >>> from tasks.loader import load_tasks
    >>> c = filler_contrast(load_tasks("core"), count_words, seed=0)
    >>> c.labels
    ('recall', 'recall-filler')
    """
    label = taskset.labels[0]
    filler_label = f"{label}-filler"
    pairs: list[TaskPair] = []
    original = taskset.token_counts(count_tokens)
    for pair, (na, nb) in zip(taskset.pairs, original):
        rng = item_rng(seed, pair.id, stream="filler-contrast")
        a = dataclasses.replace(pair.a, kind=label)
        b = _pad_pair_side(pair.a, na + abs(nb - na), count_tokens, rng, pool, pair.id, filler_label)
        pairs.append(TaskPair(pair.id, pair.category, a, b))
    result = TaskSet(name=name or f"{taskset.name}-{filler_label}", pairs=tuple(pairs),
                     labels=(label, filler_label))
    provenance = {
        "transform": "filler_contrast", "base": taskset.name, "base_sha256": taskset.sha256,
        "seed": seed, "tolerance": 1, "original_token_counts": original,
        "token_counts": result.token_counts(count_tokens),
    }
    if taskset.provenance.get("subjects"):
        provenance["subjects"] = taskset.provenance["subjects"]
    return dataclasses.replace(result, provenance=provenance)
