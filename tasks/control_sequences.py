"""Token sequences for the positive controls (circuits known to exist in trained models).

Contents
--------
TokenSequences        : a set of equal-length token sequences with the query/key layout of a score.
ordinary_token_ids    : ids of plain word-like tokens of a tokenizer (no special or odd tokens).
repeated_random       : random tokens repeated once, and the same number of random tokens not
                        repeated (Olsson et al. 2022's induction test), paired by sequence.
natural_and_shuffled  : natural English text and the same tokens shuffled (previous-token test).
ClozeFact, recall_cloze : plain fact-completion prompts from the fact tables, the subject at the
                        start and never repeated, for ROME-style causal tracing (H5b).

Everything is generated in code from a seed and is length-matched by construction: the two
conditions of a control have the same number of sequences and of tokens, and a shuffled
sequence holds exactly the tokens of its natural twin. A sequence starts with the tokenizer's
BOS token where it has one (as TransformerLens' induction test does): many trained models park
attention on the first position, and a sequence without it is out of their distribution.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tasks.filler import FILLER_POOL

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class TokenSequences:
    """Equal-length token sequences of one condition.

    Attributes
    ----------
    name : str
        The condition ("repeated", "not repeated", "natural", "shuffled").
    ids : ndarray [N, T] int64
    prefix : int
        Tokens before the generated part (1 with a BOS token, else 0).
    """

    name: str
    ids: np.ndarray
    prefix: int

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.ids.shape)  # type: ignore[return-value]


def _bos(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    bos = getattr(tokenizer, "bos_token_id", None)
    return [int(bos)] if bos is not None else []


def ordinary_token_ids(tokenizer: PreTrainedTokenizerBase, *, limit: int = 20000, needed: int = 100) -> np.ndarray:
    """Ids (below `limit`) of tokens that decode to a letters-only word piece of two or more
    letters, optionally after one leading space: no special, control, digit, punctuation or
    byte-fallback tokens. A tokenizer with fewer than `needed` of them (a byte-level one) gets
    its single printable non-space characters instead.

    Raises
    ------
    ValueError
        Fewer than `needed` usable tokens either way.
    """
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    vocab = min(len(tokenizer), limit)
    words, chars = [], []
    for index in range(vocab):
        if index in special:
            continue
        text = tokenizer.decode([index])
        word = text.removeprefix(" ")
        if len(word) >= 2 and word.isascii() and word.isalpha():
            words.append(index)
        elif len(text) == 1 and text.isascii() and text.isprintable() and not text.isspace():
            chars.append(index)
    keep = words if len(words) >= needed else chars
    if len(keep) < needed:
        raise ValueError(f"the tokenizer has {len(words)} word-like and {len(chars)} single-character tokens "
                         f"below id {limit}; {needed} distinct tokens needed")
    return np.asarray(keep, dtype=np.int64)


def repeated_random(tokenizer: PreTrainedTokenizerBase, *, n: int, half: int, seed: int
                    ) -> tuple[TokenSequences, TokenSequences]:
    """`n` sequences ``[BOS] A A`` and `n` sequences ``[BOS] A B`` (A, B: `half` random tokens).

    Row i of both conditions shares its first half A, so they are paired by row; B is drawn
    independently. Tokens within a half are distinct, so in ``A A`` a token's earlier copy is
    unique (the induction target is well defined).

    Examples
    --------
    >>> rep, non = repeated_random(tok, n=4, half=10, seed=0)      # doctest: +SKIP
    >>> rep.ids.shape, (rep.ids[:, 1:11] == rep.ids[:, 11:]).all()  # doctest: +SKIP
    ((4, 21), True)
    """
    if n < 1 or half < 2:
        raise ValueError(f"`n` must be >= 1 and `half` >= 2, got n={n}, half={half}")
    pool = ordinary_token_ids(tokenizer, needed=max(2 * half, 100) if len(tokenizer) > 1000 else 2 * half)
    rng = np.random.default_rng([seed, 0x1DC])
    bos = _bos(tokenizer)
    first, second = [], []
    for _ in range(n):
        draw = rng.choice(pool, size=2 * half, replace=False)
        first.append(bos + list(draw[:half]) * 2)
        second.append(bos + list(draw[:half]) + list(draw[half:]))
    return (TokenSequences("repeated", np.asarray(first, dtype=np.int64), len(bos)),
            TokenSequences("not repeated", np.asarray(second, dtype=np.int64), len(bos)))


def natural_and_shuffled(tokenizer: PreTrainedTokenizerBase, *, n: int, length: int, seed: int
                         ) -> tuple[TokenSequences, TokenSequences]:
    """`n` natural-text sequences of `length` tokens (after BOS) and the same tokens shuffled.

    A natural sequence joins sentences of `tasks.filler.FILLER_POOL` in a seeded order and keeps
    its first `length` tokens; its shuffled twin permutes those tokens (BOS stays first).
    """
    if n < 1 or length < 4:
        raise ValueError(f"`n` must be >= 1 and `length` >= 4, got n={n}, length={length}")
    sentences = [s for s in FILLER_POOL if len(s.split()) >= 5]
    rng = random.Random(f"{seed}:natural")
    shuffle_rng = np.random.default_rng([seed, 0x5F1])
    bos = _bos(tokenizer)
    natural, shuffled = [], []
    for _ in range(n):
        text, ids = "", []
        while len(ids) < length:
            text = (text + " " + rng.choice(sentences)).strip()
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = list(ids[:length])
        natural.append(bos + ids)
        shuffled.append(bos + list(shuffle_rng.permutation(ids)))
    return (TokenSequences("natural", np.asarray(natural, dtype=np.int64), len(bos)),
            TokenSequences("shuffled", np.asarray(shuffled, dtype=np.int64), len(bos)))


@dataclass(frozen=True)
class ClozeFact:
    """One plain recall prompt: ``text`` ends where the `answer` starts; `subject` occurs once."""

    text: str
    subject: str
    answer: str
    relation: str


# (table, subject column, answer column, template): the subject opens the sentence (ROME's
# CounterFact style: "The Eiffel Tower is located in the city of"), so it sits well before the
# answer and the lead-in never repeats it.
CLOZE_TEMPLATES: tuple[tuple[str, str, str, str], ...] = (
    ("landmarks.csv", "landmark", "city", "{} is located in the city of"),
    ("books.csv", "title", "author", "{} was written by"),
    ("paintings.csv", "title", "painter", "{} was painted by"),
    ("cities.csv", "city", "country", "{} is a city in the country of"),
    ("countries.csv", "country", "capital", "{}'s capital is the city of"),
    ("countries.csv", "country", "currency", "{}'s official currency is the"),
)


def recall_cloze(*, seed: int) -> list[ClozeFact]:
    """Every fact of `CLOZE_TEMPLATES` as a `ClozeFact`, in a seeded order (subject without its article).

    Examples
    --------
    >>> facts = recall_cloze(seed=0)
    >>> any(f.text == "The Eiffel Tower is located in the city of" and f.answer == "Paris" for f in facts)
    True
    """
    from tasks.generate import FACTS_DIR, read_fact_table

    facts = []
    for table, column, answer, template in CLOZE_TEMPLATES:
        for row in read_fact_table(FACTS_DIR / table, (column, answer)):
            name, value = row.get(column, ""), row.get(answer, "")
            if not name or not value:
                continue
            text = template.format(name)
            text = text[0].upper() + text[1:]
            subject = name[4:] if name.lower().startswith("the ") else name
            facts.append(ClozeFact(text, subject, value, f"{table}:{answer}"))
    order = np.random.default_rng([seed, 0xC10]).permutation(len(facts))
    return [facts[i] for i in order]
