"""The subject of a prompt pair: the entity a recall question asks about ("Switzerland").

Contents
--------
SUBJECT_COLUMNS     : category -> (fact table, subject column, recall-answer column).
known_subjects      : every subject of a category in the shipped fact tables, longest first.
find_subject        : the subject of a pair, read from its recall prompt (side a).
subject_char_spans  : where a subject occurs in a text, as character spans (whole words).
replacement_pool    : other (subject, answer) of the same category with a different answer.

Causal tracing corrupts "the subject tokens" of a prompt, so it needs the subject's span.
The task files have no subject field; the subject is the one field of a category's recall
template (`tasks.templates.RELATIONS`: ``What is the capital of {the_country}?`` -> the
country), so its values are the fact-table column of that field. A pair's subject is the
longest such value found as a whole word in the recall prompt (so "United Kingdom" wins over
a shorter match). A leading lower-case article is dropped ("the Eiffel Tower" -> "Eiffel
Tower"): the article is part of the sentence, not of the name. Names of two characters or
fewer (chemical symbols: "He") match case-sensitively, so "he" in a sentence is not "He".
"""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from tasks.generate import FACTS_DIR, read_fact_table
from tasks.taskset import TaskPair, TaskSet
from tasks.templates import RELATIONS


def _subject_columns() -> dict[str, tuple[str, str, str]]:
    columns: dict[str, tuple[str, str, str]] = {}
    for rel in RELATIONS:
        fields = {f for t in rel.recall for f in re.findall(r"{(\w+)}", t)}
        if len(fields) == 1:
            field = fields.pop()
            columns[rel.category] = (rel.table, field[4:] if field.startswith("the_") else field,
                                     rel.recall_answer)
    # The core set's "continent" pairs ask for a country's continent; no generated relation
    # has that category, but its subjects are the countries of the same table.
    columns.setdefault("continent", ("countries.csv", "country", "continent"))
    return columns


SUBJECT_COLUMNS: dict[str, tuple[str, str, str]] = _subject_columns()


def _strip_article(name: str) -> str:
    return name[4:] if name.startswith("the ") else name


@functools.cache
def _table_facts(category: str) -> tuple[tuple[str, str], ...]:
    """``(subject, recall answer)`` rows of the category's fact table."""
    if category not in SUBJECT_COLUMNS:
        return ()
    table, column, answer = SUBJECT_COLUMNS[category]
    rows = read_fact_table(FACTS_DIR / table, (column, answer))
    return tuple((_strip_article(r[column]), r[answer]) for r in rows if r.get(column) and r.get(answer))


@functools.cache
def known_subjects(category: str) -> tuple[str, ...]:
    """Subjects of `category` in the shipped fact tables, longest first (empty if unknown).

    Examples
    --------
    >>> "Switzerland" in known_subjects("capital")
    True
    >>> known_subjects("no-such-category")
    ()
    """
    names = {name for name, _ in _table_facts(category)}
    return tuple(sorted(names, key=lambda s: (-len(s), s)))


def subject_char_spans(text: str, subject: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of every whole-word occurrence of `subject` in `text`.

    Case-insensitive, except for subjects of at most two characters.

    Examples
    --------
    >>> subject_char_spans("If He is the symbol for helium, what is He?", "He")
    [(3, 5), (40, 42)]
    >>> subject_char_spans("The capital of switzerland is Bern.", "Switzerland")
    [(15, 26)]
    """
    if not subject:
        return []
    flags = 0 if len(subject) <= 2 else re.IGNORECASE
    pattern = re.compile(rf"(?<!\w){re.escape(subject)}(?!\w)", flags)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def find_subject(pair: TaskPair, *, extra: Iterable[str] = ()) -> str | None:
    """The subject of `pair`: the longest known subject of its category in the recall prompt.

    Parameters
    ----------
    pair : TaskPair
        Side `a` is the recall prompt (as in every main task set).
    extra : iterable of str, keyword-only
        More candidate subjects (e.g. from a user's own fact list).

    Returns
    -------
    str or None
        None when no candidate occurs in the recall prompt (a user category without a fact
        table): such a pair is left out of causal tracing, and counted.

    Examples
    --------
    >>> from tasks.loader import load_tasks
    >>> find_subject(load_tasks("core").pair("capital-switzerland"))
    'Switzerland'
    """
    candidates = sorted({*known_subjects(pair.category), *extra}, key=lambda s: (-len(s), s))
    for name in candidates:
        if subject_char_spans(pair.a.text, name):
            return name
    return None


def replacement_pool(taskset: TaskSet, pair: TaskPair, subject: str) -> tuple[tuple[str, str], ...]:
    """Other ``(subject, answer)`` of the pair's category whose recall answer differs.

    Symmetric token replacement swaps a subject for another of the same kind; the swap must
    change the correct answer (Brazil -> Argentina keeps "South America" and would corrupt
    nothing). Subjects the task set itself uses come first (as familiar as the original), then
    the fact table's.

    Examples
    --------
    >>> from tasks.loader import load_tasks
    >>> core = load_tasks("core")
    >>> pool = replacement_pool(core, core.pair("capital-switzerland"), "Switzerland")
    >>> pool[0], any(s == "Switzerland" for s, _ in pool)
    (('Japan', 'Tokyo'), False)
    """
    own = [(find_subject(p), p.a.answer) for p in taskset.pairs if p.category == pair.category]
    ordered = [(s, a) for s, a in own if s] + list(_table_facts(pair.category))
    wrong = {x.casefold() for x in pair.a.answers}
    seen: set[str] = {subject}
    pool = []
    for name, answer in ordered:
        if name not in seen and answer.casefold() not in wrong:
            seen.add(name)
            pool.append((name, answer))
    return tuple(pool)
