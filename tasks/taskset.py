"""Data structures for prompt pairs.

Contents
--------
CATEGORIES     : the known pair categories (the fact relation a pair is about).
DEFAULT_LABELS : ``("recall", "reasoning")``, the side labels of the main contrast.
Prompt         : one prompt with its expected answer(s) and its side label (`kind`).
TaskPair       : two matched prompts, side `a` and side `b`, sharing an id and a category.
TaskSet        : an immutable, hashed collection of pairs; the unit every later stage consumes.

A contrast is always "side a vs side b". The main set has labels ``recall`` / ``reasoning``;
the surface-only control sets reuse the same structure with other labels (for example
``recall`` / ``recall-filler``), so one pipeline runs on all of them.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LABELS: tuple[str, str] = ("recall", "reasoning")

# One category per fact relation; a user file may declare more under `categories:`.
CATEGORIES: tuple[str, ...] = (
    "capital",          # recall a capital; reasoning: the capital's continent
    "continent",        # recall a country's continent; reasoning: a place in it
    "language",         # recall a country's language; reasoning: language in its capital
    "currency",         # recall a country's currency; reasoning: currency in a city
    "chemical-symbol",  # recall an element's symbol; reasoning: a property of that symbol
    "element",          # recall the element for a symbol; reasoning: its atomic number
    "author",           # recall a book's author; reasoning: the author's nationality
    "painter",          # recall a painting's painter; reasoning: the painter's nationality
    "landmark",         # recall a landmark's city; reasoning: the landmark's country
)

# Version of the canonical serialisation; bump it when `canonical_json` changes shape.
HASH_FORMAT = 1


def _fold(text: str) -> str:
    """Lower-case and strip accents, so "Bogota" matches "Bogotá"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Prompt:
    """One prompt and the answer(s) that count as correct.

    Parameters
    ----------
    text : str
        The question as the user would type it (no chat formatting).
    answer : str
        The expected answer, short (one or two words).
    aliases : tuple of str
        Other accepted spellings or names (``"USA"`` for ``"United States"``).
    kind : str
        The side label this prompt belongs to (``"recall"``, ``"reasoning"``, ...).

    Examples
    --------
    >>> p = Prompt("What is the capital of Switzerland?", "Bern", ("Berne",), "recall")
    >>> p.accepts("The capital is Bern.")
    True
    """

    text: str
    answer: str
    aliases: tuple[str, ...] = ()
    kind: str = ""

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer followed by its aliases."""
        return (self.answer, *self.aliases)

    def accepts(self, completion: str) -> bool:
        """Whether `completion` contains the answer or an alias as a whole word.

        Matching ignores case and accents, except for answers of at most two
        characters (chemical symbols), where case is the meaning ("Co" is not "CO")
        and a case-insensitive match would find "s" in "it's".

        Examples
        --------
        >>> Prompt("Symbol of gold?", "Au").accepts("It is Au.")
        True
        >>> Prompt("Symbol of sulfur?", "S").accepts("it's unknown")
        False
        """
        for answer in self.answers:
            if len(answer) <= 2:
                if re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", completion):
                    return True
            elif re.search(rf"(?<!\w){re.escape(_fold(answer))}(?!\w)", _fold(completion)):
                return True
        return False


@dataclass(frozen=True)
class TaskPair:
    """Two matched prompts about the same fact.

    Parameters
    ----------
    id : str
        Unique within its task set; shared by the two sides.
    category : str
        The fact relation (one of `CATEGORIES` or a category the file declares).
    a, b : Prompt
        Side `a` (``recall`` in the main set) and side `b` (``reasoning``).

    Examples
    --------
    >>> pair = TaskPair("x", "capital", Prompt("Q1?", "A", kind="recall"),
    ...                 Prompt("Q2?", "B", kind="reasoning"))
    >>> pair.side(1).answer
    'B'
    """

    id: str
    category: str
    a: Prompt
    b: Prompt

    def side(self, which: int | str) -> Prompt:
        """Return side ``0``/``"a"`` or ``1``/``"b"``."""
        if which in (0, "a"):
            return self.a
        if which in (1, "b"):
            return self.b
        raise ValueError(f"`which` must be 0, 1, 'a' or 'b', got {which!r}")


@dataclass(frozen=True)
class TaskSet:
    """An immutable set of prompt pairs with a content hash.

    Parameters
    ----------
    name : str
        Short name (``"core"``, ``"extended"``, a file stem, ...).
    pairs : tuple of TaskPair
        The pairs, in a fixed order (prompt index ``i`` is pair ``i``).
    source_path : str or None
        The file the set was read from, if any.
    labels : tuple of (str, str)
        Labels of side `a` and side `b`; every prompt's `kind` equals its side's label.
    provenance : mapping
        How a derived set was made (base set hash, transform, seed, token counts);
        recorded in the report, not part of the hash or of equality. Treat as read-only.

    Attributes
    ----------
    sha256 : str
        SHA-256 of `canonical_json()`: prompts, answers, aliases, ids, categories and
        labels. Name, path and provenance are excluded, so the same prompts give the
        same cache key wherever they came from.

    Examples
    --------
    >>> ts = TaskSet("demo", (TaskPair("x", "capital",
    ...     Prompt("What is the capital of Peru?", "Lima", kind="recall"),
    ...     Prompt("If Lima is the capital of Peru and Peru is in South America, "
    ...            "what continent is Lima in?", "South America", kind="reasoning")),))
    >>> len(ts), len(ts.sha256)
    (1, 64)
    >>> ts.token_counts(lambda s: len(s.split()))
    ((6, 18),)
    """

    name: str
    pairs: tuple[TaskPair, ...]
    source_path: str | None = None
    labels: tuple[str, str] = DEFAULT_LABELS
    provenance: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    sha256: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Frozen: normalise containers once here so the set is immutable all the way down.
        object.__setattr__(self, "pairs", tuple(self.pairs))
        object.__setattr__(self, "labels", tuple(self.labels))
        # A private copy (not a MappingProxyType, which cannot be pickled or deep-copied).
        object.__setattr__(self, "provenance", dict(self.provenance))
        self._validate()
        digest = hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()
        object.__setattr__(self, "sha256", digest)

    def _validate(self) -> None:
        if len(self.labels) != 2 or self.labels[0] == self.labels[1]:
            raise ValueError(f"`labels` must be two distinct strings, got {self.labels!r}")
        seen: set[str] = set()
        for pair in self.pairs:
            if pair.id in seen:
                raise ValueError(f"duplicate pair id {pair.id!r} in task set {self.name!r}")
            seen.add(pair.id)
            if (pair.a.kind, pair.b.kind) != self.labels:
                raise ValueError(
                    f"pair {pair.id!r} has kinds {(pair.a.kind, pair.b.kind)!r}, "
                    f"expected the set's labels {self.labels!r}"
                )

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[TaskPair]:
        return iter(self.pairs)

    @property
    def ids(self) -> tuple[str, ...]:
        """Pair ids in order."""
        return tuple(p.id for p in self.pairs)

    @property
    def categories(self) -> tuple[str, ...]:
        """Each pair's category, in order."""
        return tuple(p.category for p in self.pairs)

    def side(self, which: int | str) -> tuple[Prompt, ...]:
        """All prompts of one side: ``0``/``"a"``/``labels[0]`` or ``1``/``"b"``/``labels[1]``."""
        if which == self.labels[0]:
            which = 0
        elif which == self.labels[1]:
            which = 1
        try:
            return tuple(p.side(which) for p in self.pairs)
        except ValueError:
            raise ValueError(
                f"`which` must be 0, 1, 'a', 'b' or one of {self.labels!r}, got {which!r}"
            ) from None

    def pair(self, pair_id: str) -> TaskPair:
        """The pair with id `pair_id`."""
        for p in self.pairs:
            if p.id == pair_id:
                return p
        raise KeyError(f"no pair with id {pair_id!r} in task set {self.name!r}")

    def token_counts(self, count_tokens: Callable[[str], int]) -> tuple[tuple[int, int], ...]:
        """Token count of each pair's two prompts, ``((a, b), ...)`` in pair order.

        `count_tokens` maps a prompt text to its number of tokens, for example
        ``lambda s: len(tok(s, add_special_tokens=False)["input_ids"])``.
        """
        return tuple((int(count_tokens(p.a.text)), int(count_tokens(p.b.text))) for p in self.pairs)

    def canonical_json(self) -> str:
        """The canonical serialisation hashed into `sha256` (sorted keys, no whitespace)."""

        def side(p: Prompt) -> dict[str, Any]:
            return {"text": p.text, "answer": p.answer, "aliases": list(p.aliases), "kind": p.kind}

        content = {
            "format": HASH_FORMAT,
            "labels": list(self.labels),
            "pairs": [
                {"id": p.id, "category": p.category, "a": side(p.a), "b": side(p.b)}
                for p in self.pairs
            ],
        }
        return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
