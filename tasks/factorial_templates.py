"""Fact families and minimal-pair templates of the hops x book factorial (`tasks.factorial`).

Contents
--------
Family         : one chain ``subject -> bridge -> answer``: its fact tables, columns, templates.
FAMILIES       : the families `tasks.factorial.generate_factorial` builds, in output order.
row_fields     : a table row as template fields (adds ``the_X`` and ``a_X``).
render         : fill a template; upper-case the first letter.
split_names    : ``"a|b"`` alias cells as a tuple.
mentions       : which of some names a text contains (the `Prompt.accepts` rule).
filler_pool    : `tasks.filler.FILLER_POOL` sentences that name none of some names.
neutral_filler : whole filler sentences with exactly a given number of words.

Every prompt of the design is ``<context> <question>``:

================  =========================================  ==============================
cell              context                                    question
================  =========================================  ==============================
closed-1hop       neutral filler (states nothing)            one-hop: ``R1 of S``
closed-2hop       the same filler                            two-hop: ``R2 of the R1 of S``
open-1hop         both facts: ``S R1 B, B R2 A``             one-hop
open-2hop         the same two facts                         two-hop
================  =========================================  ==============================

So the hops factor changes only the question and the book factor only the context. A
family's ``questions`` are (one-hop, two-hop) pairs worded as minimal pairs: "Who is the
author of Hamlet?" / "What is the nationality of the author of Hamlet?". The two-hop
question names the bridge only by its relation ("the author of"), never by name. Each
item draws one ``questions`` pair and one ``contexts`` wording (both seeded); the four
cells of an item use the same draws.

Fields are table columns. ``{the_X}`` is column X with its ``X_article`` column prepended
("the Netherlands"); ``{a_X}`` is X after "a" or "an" ("an English"). A name stored with a
lower-case leading article ("the Mona Lisa") keeps it in the text, and the item's subject
is the name without it ("Mona Lisa"). A rendered sentence's first letter is upper-cased.
"""
from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tasks.errors import LengthMatchError
from tasks.filler import FILLER_POOL, count_words
from tasks.taskset import _fold


@dataclass(frozen=True)
class Family:
    """One two-hop chain ``subject -> bridge -> answer`` and its templates.

    Parameters
    ----------
    name : str
        Family key: the pair category and the item-id prefix (not one of
        `tasks.taskset.CATEGORIES`, whose subjects mean something else).
    chain : str
        The chain in words, for reports (``"book -> author -> nationality"``).
    tables : tuple of str
        Fact tables under ``tasks/data/facts/`` read in order; rows are concatenated.
    subject, bridge, answer : str
        Columns of the subject, the bridge entity (the one-hop answer) and the two-hop answer.
        ``<column>_aliases`` ("a|b"), when present, adds accepted spellings.
    bridge_names : tuple of str
        Further columns naming the bridge (an author's full name): accepted as answers,
        forbidden in closed-book prompts, used by the open-book context.
    contexts : tuple of str
        Open-book context wordings; each states both facts.
    questions : tuple of (str, str)
        (one-hop, two-hop) question pairs.
    """

    name: str
    chain: str
    tables: tuple[str, ...]
    subject: str
    bridge: str
    answer: str
    bridge_names: tuple[str, ...]
    contexts: tuple[str, ...]
    questions: tuple[tuple[str, str], ...]

    def columns(self) -> tuple[str, ...]:
        """Every table column the family reads (``X`` and ``X_article`` for ``{the_X}``)."""
        texts = [*self.contexts, *(q for pair in self.questions for q in pair)]
        fields = {f for t in texts for f in re.findall(r"{(\w+)}", t)}
        cols = {self.subject, self.bridge, self.answer, *self.bridge_names}
        for f in fields:
            if f.startswith("the_"):
                cols |= {f[4:], f"{f[4:]}_article"}
            else:
                cols.add(f.removeprefix("a_"))
        return tuple(sorted(cols))


def _person_family(name: str, chain: str, tables: tuple[str, ...], subject: str, person: str,
                   verbs: tuple[str, str], role: str,
                   questions: tuple[tuple[str, str], ...]) -> Family:
    # Works whose bridge is a person and whose answer is that person's nationality.
    return Family(
        name=name, chain=chain, tables=tables, subject=subject, bridge="surname",
        answer="nationality", bridge_names=(person,),
        contexts=(
            f"{{{subject}}} was {verbs[0]} by {{{person}}}, {{a_nationality}} {role}.",
            f"{{{person}}}, {{a_nationality}} {role}, {verbs[1]} {{{subject}}}.",
        ),
        questions=questions,
    )


FAMILIES: tuple[Family, ...] = (
    _person_family(
        "books", "book -> author -> nationality", ("books.csv", "books_more.csv"), "title",
        "author", ("written", "wrote"), "writer",
        (("Who is the author of {title}?", "What is the nationality of the author of {title}?"),
         ("Who was the writer of {title}?", "What was the nationality of the writer of {title}?")),
    ),
    _person_family(
        "paintings", "painting -> painter -> nationality", ("paintings.csv", "paintings_more.csv"),
        "title", "painter", ("painted", "painted"), "painter",
        (("Who is the painter of {title}?", "What is the nationality of the painter of {title}?"),
         ("Who was the artist who painted {title}?",
          "What was the nationality of the artist who painted {title}?")),
    ),
    _person_family(
        "films", "film -> director -> nationality", ("films.csv",), "film", "director",
        ("directed", "directed"), "filmmaker",
        (("Who is the director of the film {film}?",
          "What is the nationality of the director of the film {film}?"),
         ("Which filmmaker directed the film {film}?",
          "What is the nationality of the filmmaker who directed the film {film}?")),
    ),
    _person_family(
        "compositions", "musical work -> composer -> nationality", ("compositions.csv",), "work",
        "composer", ("composed", "composed"), "composer",
        (("Who is the composer of {work}?", "What is the nationality of the composer of {work}?"),
         ("Which composer wrote {work}?",
          "What is the nationality of the composer who wrote {work}?")),
    ),
    Family(
        name="landmarks", chain="landmark -> city -> country",
        tables=("landmarks.csv", "landmarks_more.csv"), subject="landmark", bridge="city",
        answer="country", bridge_names=(),
        contexts=("{landmark} is in {city}, a city in {the_country}.",
                  "{landmark} stands in {city}, which is a city in {the_country}."),
        questions=(
            ("What is the city that is home to {landmark}?",
             "In what country is the city that is home to {landmark}?"),
            ("In which city is {landmark} located?",
             "In which country is the city where {landmark} is located?"),
        ),
    ),
    Family(
        name="cities", chain="city -> country -> capital", tables=("cities.csv",),
        subject="city", bridge="country", answer="capital", bridge_names=(),
        contexts=("{city} is a city in {the_country}, whose capital is {capital}.",
                  "{city} lies in {the_country}, and the capital of {the_country} is {capital}."),
        questions=(
            ("Which country is {city} in?", "What is the capital of the country {city} is in?"),
            ("In which country is {city} located?",
             "What is the capital of the country in which {city} is located?"),
        ),
    ),
    Family(
        name="capitals", chain="capital -> country -> continent", tables=("capitals.csv",),
        subject="capital", bridge="country", answer="continent", bridge_names=(),
        contexts=("{capital} is the capital of {the_country}, which is in {continent}.",
                  "{capital} is the capital city of {the_country}, a country in {continent}."),
        questions=(
            ("Which country has {capital} as its capital?",
             "On which continent is the country that has {capital} as its capital?"),
            ("{capital} is the capital of which country?",
             "{capital} is the capital of a country on which continent?"),
        ),
    ),
    Family(
        name="symbols", chain="chemical symbol -> element -> atomic number",
        tables=("elements.csv", "elements_more.csv"), subject="symbol", bridge="name",
        answer="atomic_number", bridge_names=(),
        contexts=("The symbol {symbol} stands for {name}, whose atomic number is {atomic_number}.",
                  ("The chemical symbol {symbol} denotes {name}, which has atomic number "
                   "{atomic_number}.")),
        questions=(
            ("Which element has the symbol {symbol}?",
             "What is the atomic number of the element with the symbol {symbol}?"),
            ("Which element does the symbol {symbol} stand for?",
             "What is the atomic number of the element that the symbol {symbol} stands for?"),
        ),
    ),
)


# ----------------------------------------------------------------------------- wording helpers

def row_fields(row: dict[str, str]) -> dict[str, str]:
    """Template fields of a table row: its columns, ``the_X`` and ``a_X``.

    Examples
    --------
    >>> f = row_fields({"country": "Netherlands", "country_article": "the", "nationality": "English"})
    >>> f["the_country"], f["a_nationality"]
    ('the Netherlands', 'an English')
    """
    out = dict(row)
    for col, value in row.items():
        if col.endswith("_article"):
            base = col[: -len("_article")]
            out[f"the_{base}"] = f"{value} {row.get(base, '')}".strip()
        # "an" before a vowel letter; the tables' nationalities have no "a European" case.
        out[f"a_{col}"] = f"{'an' if value[:1].lower() in 'aeiou' else 'a'} {value}"
    return out


def render(template: str, fields: dict[str, str]) -> str:
    """`template` filled from `fields`, first letter upper-cased.

    Examples
    --------
    >>> render("{landmark} is in {city}.", {"landmark": "the Louvre", "city": "Paris"})
    'The Louvre is in Paris.'
    """
    text = template.format(**fields)
    return text[:1].upper() + text[1:]


def split_names(value: str | None) -> tuple[str, ...]:
    """The names of an alias cell ``"a|b"`` (empty for a blank or missing cell)."""
    return tuple(a.strip() for a in (value or "").split("|") if a.strip())


def _patterns(names: Iterable[str]) -> list[tuple[str, bool, re.Pattern[str]]]:
    out = []
    for name in names:
        if name:
            exact = len(name) <= 2
            key = name if exact else _fold(name)
            out.append((name, exact, re.compile(rf"(?<!\w){re.escape(key)}(?!\w)")))
    return out


def _found(text: str, folded: str, patterns: list[tuple[str, bool, re.Pattern[str]]]) -> tuple[str, ...]:
    return tuple(name for name, exact, rx in patterns if rx.search(text if exact else folded))


def mentions(text: str, names: Iterable[str]) -> tuple[str, ...]:
    """The `names` that occur in `text` as whole words, by `Prompt.accepts`'s rule.

    Case and accents are ignored, except for names of at most two characters (chemical
    symbols, atomic numbers), which must match exactly.

    Examples
    --------
    >>> mentions("Who is the author of Hamlet?", ["Shakespeare", "hamlet", "He"])
    ('hamlet',)
    """
    return _found(text, _fold(text), _patterns(names))


_FOLDED_POOL = tuple((s, _fold(s)) for s in FILLER_POOL)


def filler_pool(avoid: Iterable[str]) -> list[str]:
    """The `FILLER_POOL` sentences that mention none of `avoid` (see `mentions`).

    Examples
    --------
    >>> len(filler_pool(["grass"])) == len(FILLER_POOL) - 1
    True
    """
    patterns = _patterns(avoid)
    return [s for s, folded in _FOLDED_POOL if not _found(s, folded, patterns)]


_FILLER_DRAWS = 200


def neutral_filler(n_words: int, pool: Sequence[str], rng: random.Random) -> str:
    """Whole sentences of `pool`, in a random order, with exactly `n_words` words in all.

    Sentences are drawn in a shuffled order and kept while they fit; a shuffle that ends
    short is redrawn (the pool's two- and three-word sentences make that rare).

    Raises
    ------
    LengthMatchError
        If no draw reaches `n_words` (a pool without short sentences).

    Examples
    --------
    >>> count_words(neutral_filler(9, FILLER_POOL, random.Random(0)))
    9
    """
    sizes = {s: count_words(s) for s in pool}
    for _ in range(_FILLER_DRAWS):
        chosen, total = [], 0
        for sentence in rng.sample(list(pool), len(pool)):
            if total + sizes[sentence] <= n_words:
                chosen.append(sentence)
                total += sizes[sentence]
                if total == n_words:
                    return " ".join(chosen)
    raise LengthMatchError(f"no draw of whole filler sentences has exactly {n_words} words "
                           f"({_FILLER_DRAWS} draws from a pool of {len(pool)} sentences)")
