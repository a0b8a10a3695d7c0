"""The hops x book factorial: one-hop vs two-hop questions, closed-book vs open-book prompts.

Contents
--------
CELLS              : the four cell labels, ``closed-1hop closed-2hop open-1hop open-2hop``.
CONTRASTS          : named two-cell contrasts (``hops-closed``, ``book-onehop``, ..., ``study``).
FactorialItem      : one fact chain ``subject -> bridge -> answer`` and its four prompts.
FactorialSet       : an immutable, hashed set of items (and the rows left out, with why).
generate_factorial : build the set from the fact tables, deterministically from a seed.
contrast           : two cells of a set as the pipeline's pair `TaskSet`.
named_contrast     : `contrast` by a name of `CONTRASTS`.
subsample          : a deterministic, family-stratified subset of n items (cheaper captures).
length_overlap     : per-cell length ranges and how the cells' ranges overlap.

Why. The study contrasted closed-book one-hop "recall" with open-book two-hop "reasoning",
which changes two things at once: whether the answer needs composing two facts (hops) and
whether the facts are in the prompt (book). Here every item has all four combinations:

=========  ===============================================  ==============================
           closed-book                                      open-book
=========  ===============================================  ==============================
one hop    "<filler> Who is the author of Hamlet?"          "Hamlet was written by William
           -> Shakespeare                                   Shakespeare, an English writer.
                                                            Who is the author of Hamlet?"
two hops   "<filler> What is the nationality of the         same facts + "What is the
           author of Hamlet?" -> English                    nationality of the author of
                                                            Hamlet?"
=========  ===============================================  ==============================

Design choices (see `tasks.factorial_templates` for the templates):

- Every prompt is ``<context> <question>``. The question depends only on the hops factor,
  the context only on the book factor, so each named contrast changes one part of the text.
- Both open-book cells state both facts. Stating only the first fact in the one-hop cell
  would make ``hops-open`` change the amount of stated context along with the hops.
- The closed-book context is neutral filler: whole sentences of `tasks.filler.FILLER_POOL`
  (no facts, names or numbers), drawn per item (seeded), with exactly as many words as the
  open-book context, so a book contrast is length-matched in words (a model's token counts
  differ a little: see `length_overlap`).
  Both closed cells of an item carry the same filler. Filler sentences that contain the
  item's subject, bridge or answer (or an alias) are never drawn.
- The closed-book prompts never contain the bridge or the answer; a row whose subject names
  one of them (``American Gothic`` -> American) cannot be asked closed-book and is left out,
  listed in `FactorialSet.excluded`.
- The subject appears verbatim in every prompt, once in each closed-book prompt, so causal
  tracing finds its tokens; a contrast records it in ``provenance["subjects"]``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tasks.errors import TaskFileError
from tasks.factorial_templates import (
    FAMILIES,
    Family,
    filler_pool,
    mentions,
    neutral_filler,
    render,
    row_fields,
    split_names,
)
from tasks.filler import count_words
from tasks.generate import FACTS_DIR, read_fact_table, slugify
from tasks.taskset import Prompt, TaskPair, TaskSet
from tasks.seeding import item_rng

CELLS: tuple[str, ...] = ("closed-1hop", "closed-2hop", "open-1hop", "open-2hop")

CONTRASTS: dict[str, tuple[str, str]] = {
    "hops-closed": ("closed-1hop", "closed-2hop"),   # the reasoning effect, no stated facts
    "book-onehop": ("closed-1hop", "open-1hop"),     # the copy effect on a one-hop question
    "hops-open": ("open-1hop", "open-2hop"),         # the reasoning effect with stated facts
    "book-twohop": ("closed-2hop", "open-2hop"),     # the copy effect on a two-hop question
    "study": ("closed-1hop", "open-2hop"),           # the study's contrast: both factors
}

# Version of `FactorialSet.canonical_json`; bump it when its shape changes.
HASH_FORMAT = 1


@dataclass(frozen=True)
class FactorialItem:
    """One chain ``subject -> bridge -> answer`` asked four ways.

    Parameters
    ----------
    id : str
        ``<family>-<slug of subject>``; the pair id in every contrast.
    family : str
        The chain's family (`tasks.factorial_templates.FAMILIES`); the pair category.
    subject : str
        The entity the questions are about, as it appears verbatim in every prompt.
    bridge : str
        The intermediate entity: the one-hop answer. `bridge_aliases` are other names for it.
    answer : str
        The two-hop answer. `aliases` are other accepted spellings.
    closed_one, closed_two, open_one, open_two : Prompt
        The four cells, with kinds ``closed-1hop``, ``closed-2hop``, ``open-1hop``,
        ``open-2hop``. One-hop prompts expect the bridge, two-hop prompts the answer.

    Examples
    --------
    >>> item = generate_factorial(seed=0).item("books-hamlet")
    >>> item.one_hop_answer, item.answer, item.cell("closed-2hop").answer
    ('Shakespeare', 'English', 'English')
    """

    id: str
    family: str
    subject: str
    bridge: str
    bridge_aliases: tuple[str, ...]
    answer: str
    aliases: tuple[str, ...]
    closed_one: Prompt
    closed_two: Prompt
    open_one: Prompt
    open_two: Prompt

    @property
    def one_hop_answer(self) -> str:
        """The one-hop answer, which is the bridge entity."""
        return self.bridge

    def cell(self, kind: str) -> Prompt:
        """The prompt of cell `kind` (one of `CELLS`)."""
        return self.cells()[_check_cell(kind, "kind")]

    def cells(self) -> dict[str, Prompt]:
        """The four prompts by cell label, in `CELLS` order."""
        return dict(zip(CELLS, (self.closed_one, self.closed_two, self.open_one, self.open_two)))


def _check_cell(kind: Any, argument: str) -> str:
    if kind not in CELLS:
        raise ValueError(f"`{argument}` must be one of {', '.join(CELLS)}; got {kind!r}")
    return kind


@dataclass(frozen=True)
class FactorialSet:
    """An immutable set of factorial items with a content hash.

    Parameters
    ----------
    name : str
        Short name (``"factorial"``).
    items : tuple of FactorialItem
        In a fixed order: family by family, table rows in order.
    seed : int
        The seed that chose fillers and wordings (not part of the hash: content is).
    excluded : tuple of (str, str)
        ``(id, reason)`` of table rows that yield no item.

    Attributes
    ----------
    sha256 : str
        SHA-256 of `canonical_json()`: every item's names and four prompts.
    """

    name: str
    items: tuple[FactorialItem, ...]
    seed: int
    excluded: tuple[tuple[str, str], ...] = ()
    sha256: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "excluded", tuple(tuple(x) for x in self.excluded))
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"duplicate item id {dup!r} in factorial set {self.name!r}")
        digest = hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()
        object.__setattr__(self, "sha256", digest)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[FactorialItem]:
        return iter(self.items)

    @property
    def ids(self) -> tuple[str, ...]:
        """Item ids in order."""
        return tuple(item.id for item in self.items)

    def cell(self, kind: str) -> tuple[Prompt, ...]:
        """Every item's prompt of cell `kind`, in item order."""
        _check_cell(kind, "kind")
        return tuple(item.cell(kind) for item in self.items)

    def item(self, item_id: str) -> FactorialItem:
        """The item with id `item_id`."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"no item with id {item_id!r} in factorial set {self.name!r}")

    def canonical_json(self) -> str:
        """The canonical serialisation hashed into `sha256` (sorted keys, no whitespace)."""

        def prompt(p: Prompt) -> dict[str, Any]:
            return {"text": p.text, "answer": p.answer, "aliases": list(p.aliases), "kind": p.kind}

        content = {"format": HASH_FORMAT, "items": [
            {"id": i.id, "family": i.family, "subject": i.subject, "bridge": i.bridge,
             "bridge_aliases": list(i.bridge_aliases), "answer": i.answer, "aliases": list(i.aliases),
             "cells": {kind: prompt(p) for kind, p in i.cells().items()}}
            for i in self.items]}
        return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ----------------------------------------------------------------------------- generation

def _unique(names: Iterable[str], *, drop: str) -> tuple[str, ...]:
    seen = {drop}
    out = []
    for n in names:
        if n not in seen:
            seen.add(n)
            out.append(n)
    return tuple(out)


def _family_items(family: Family, seed: int, facts_dir: Path, seen: set[str],
                  excluded: list[tuple[str, str]]) -> list[FactorialItem]:
    items: list[FactorialItem] = []
    needed = family.columns()
    for table in family.tables:
        path = facts_dir / table
        problems: list[str] = []
        for line, row in enumerate(read_fact_table(path, needed), start=2):
            name = row[family.subject]
            subject = name.removeprefix("the ")
            item_id = f"{family.name}-{slugify(name)}"
            if item_id in seen:
                problems.append(f"line {line}: {family.subject} {name!r} gives duplicate id {item_id!r}")
                continue
            seen.add(item_id)
            blank = [c for c in needed if not row.get(c) and not c.endswith("_article")]
            if blank:
                excluded.append((item_id, f"{table} line {line}: blank {', '.join(blank)}"))
                continue
            bridge, answer = row[family.bridge], row[family.answer]
            bridge_aliases = _unique((*split_names(row.get(f"{family.bridge}_aliases")),
                                      *(row[c] for c in family.bridge_names)), drop=bridge)
            aliases = _unique(split_names(row.get(f"{family.answer}_aliases")), drop=answer)
            forbidden = (bridge, *bridge_aliases, answer, *aliases)
            fields = row_fields(row)
            rng = item_rng(seed, item_id, stream="factorial-wording")
            one_t, two_t = rng.choice(family.questions)
            context = render(rng.choice(family.contexts), fields)
            one, two = render(one_t, fields), render(two_t, fields)
            leaked = mentions(f"{one} {two}", forbidden)
            if leaked:
                why = f"the subject {subject!r} names {leaked[0]!r}, which closed-book prompts must not"
                excluded.append((item_id, why))
                continue
            # Filler is counted in words: no tokenizer is known when the set is built.
            filler = neutral_filler(count_words(context), filler_pool((*forbidden, subject)),
                                    item_rng(seed, item_id, stream="factorial-filler"))
            items.append(FactorialItem(
                id=item_id, family=family.name, subject=subject, bridge=bridge,
                bridge_aliases=bridge_aliases, answer=answer, aliases=aliases,
                closed_one=Prompt(f"{filler} {one}", bridge, bridge_aliases, "closed-1hop"),
                closed_two=Prompt(f"{filler} {two}", answer, aliases, "closed-2hop"),
                open_one=Prompt(f"{context} {one}", bridge, bridge_aliases, "open-1hop"),
                open_two=Prompt(f"{context} {two}", answer, aliases, "open-2hop"),
            ))
        if problems:
            raise TaskFileError(str(path), problems)
    return items


def generate_factorial(seed: int = 0, *, facts_dir: str | os.PathLike[str] | None = None,
                       families: tuple[Family, ...] = FAMILIES) -> FactorialSet:
    """Build the hops x book factorial from the fact tables.

    Parameters
    ----------
    seed : int
        Chooses each item's wording and filler (per item id, so adding a table row leaves
        every other item unchanged). Same seed, same set and `sha256`.
    facts_dir : path, optional
        Directory of fact tables (default: the shipped ``tasks/data/facts``).
    families : tuple of Family
        The chains to build (default: all of `FAMILIES`).

    Raises
    ------
    TaskFileError
        A table lacks a needed column, has a ragged row, or two rows give the same id.

    Examples
    --------
    >>> fset = generate_factorial(seed=0)
    >>> len(fset) >= 200, fset.item("capitals-bern").closed_two.answer
    (True, 'Europe')
    """
    directory = Path(facts_dir) if facts_dir is not None else FACTS_DIR
    seen: set[str] = set()
    excluded: list[tuple[str, str]] = []
    items = [item for family in families
             for item in _family_items(family, seed, directory, seen, excluded)]
    return FactorialSet(name="factorial", items=tuple(items), seed=seed, excluded=tuple(excluded))


# ----------------------------------------------------------------------------- contrasts

def contrast(fset: FactorialSet, a_cell: str, b_cell: str, *, name: str | None = None) -> TaskSet:
    """Two cells of `fset` as a pair `TaskSet`: pair i is item i, side a vs side b.

    Labels are the two cell names, pair ids the item ids, categories the families (not in
    `tasks.taskset.CATEGORIES`; `tasks.loader.dump_tasks` declares them, so the set
    round-trips through a task file). ``provenance`` records the factorial's hash and seed,
    the cells, and each pair's ``subjects`` and ``bridges`` (for causal tracing).

    Examples
    --------
    >>> ts = contrast(generate_factorial(seed=0), "closed-1hop", "closed-2hop")
    >>> ts.labels, ts.categories[0]
    (('closed-1hop', 'closed-2hop'), 'books')
    """
    _check_cell(a_cell, "a_cell")
    _check_cell(b_cell, "b_cell")
    if a_cell == b_cell:
        raise ValueError(f"`a_cell` and `b_cell` must differ; both are {a_cell!r}")
    pairs = tuple(TaskPair(i.id, i.family, i.cell(a_cell), i.cell(b_cell)) for i in fset.items)
    return TaskSet(
        name=name or f"factorial-{a_cell}-vs-{b_cell}", pairs=pairs, labels=(a_cell, b_cell),
        provenance={"generator": "tasks.factorial.contrast", "factorial_sha256": fset.sha256,
                    "seed": fset.seed, "cells": (a_cell, b_cell),
                    "subjects": {i.id: i.subject for i in fset.items},
                    "bridges": {i.id: i.bridge for i in fset.items}},
    )


def named_contrast(fset: FactorialSet, name: str) -> TaskSet:
    """The contrast `name` of `CONTRASTS`, as a TaskSet named ``factorial-<name>``.

    Examples
    --------
    >>> named_contrast(generate_factorial(seed=0), "study").labels
    ('closed-1hop', 'open-2hop')
    """
    if name not in CONTRASTS:
        raise ValueError(f"`name` must be one of {', '.join(CONTRASTS)}; got {name!r}")
    return contrast(fset, *CONTRASTS[name], name=f"factorial-{name}")


def subsample(fset: FactorialSet, n: int, *, seed: int = 0) -> FactorialSet:
    """`n` items of `fset`, stratified by family (each family keeps its share, largest
    remainders first), drawn per family with a seeded permutation, in the set's item order.

    A smaller set for the claims' captures (each capture, and each random-weights twin, costs a
    forward pass per prompt); the same seed gives the same items.

    Examples
    --------
    >>> small = subsample(generate_factorial(seed=0), 240)
    >>> len(small), small.name
    (240, 'factorial-240')
    """
    import numpy as np

    if not 1 <= n <= len(fset):
        raise ValueError(f"`n` must be between 1 and {len(fset)} (the set's items), got {n!r}")
    families = sorted({i.family for i in fset.items})
    sizes = {f: sum(i.family == f for i in fset.items) for f in families}
    quota = {f: n * sizes[f] / len(fset) for f in families}
    take = {f: int(quota[f]) for f in families}
    for f in sorted(families, key=lambda f: (-(quota[f] - take[f]), f))[:n - sum(take.values())]:
        take[f] += 1
    keep: set[str] = set()
    for f in families:
        ids = [i.id for i in fset.items if i.family == f]
        order = np.random.default_rng([seed, len(ids), *map(ord, f)]).permutation(len(ids))
        keep.update(ids[j] for j in order[:take[f]])
    items = tuple(i for i in fset.items if i.id in keep)
    return FactorialSet(name=f"{fset.name}-{n}", items=items, seed=fset.seed, excluded=fset.excluded)


# ----------------------------------------------------------------------------- lengths

def length_overlap(fset: FactorialSet,
                   count_tokens: Callable[[str], int] = count_words) -> dict[str, Any]:
    """Per-cell length ranges, and how much each two cells' ranges overlap.

    Parameters
    ----------
    fset : FactorialSet
    count_tokens : callable
        Maps a prompt to its length (default: whitespace words; pass a model's token
        counter, e.g. ``lambda s: len(tok(s, add_special_tokens=False)["input_ids"])``).

    Returns
    -------
    dict
        ``cells``: ``{cell: {"min", "median", "max"}}``. ``pairs``: for each two cells
        ``"<a> vs <b>"``, the shared range ``low``..``high`` (``overlaps`` False when empty),
        ``share_a``/``share_b`` (fraction of each cell's prompts inside it) and the
        ``median_difference`` of ``b - a`` over items. ``common``: the range shared by all
        four cells and the fraction of all prompts inside it.

    Examples
    --------
    >>> lo = length_overlap(generate_factorial(seed=0))
    >>> lo["pairs"]["closed-1hop vs open-1hop"]["median_difference"]
    0
    """
    counts = {kind: [int(count_tokens(p.text)) for p in fset.cell(kind)] for kind in CELLS}

    def inside(values: list[int], low: int, high: int) -> float:
        return sum(low <= v <= high for v in values) / len(values) if values else 0.0

    cells = {k: {"min": min(v), "median": statistics.median(v), "max": max(v)}
             for k, v in counts.items() if v}
    pairs = {}
    for a, b in itertools.combinations(CELLS, 2):
        low = max(min(counts[a]), min(counts[b]))
        high = min(max(counts[a]), max(counts[b]))
        pairs[f"{a} vs {b}"] = {
            "low": low, "high": high, "overlaps": low <= high,
            "share_a": inside(counts[a], low, high), "share_b": inside(counts[b], low, high),
            "median_difference": statistics.median(y - x for x, y in zip(counts[a], counts[b])),
        }
    low = max(min(v) for v in counts.values())
    high = min(max(v) for v in counts.values())
    every = [n for v in counts.values() for n in v]
    return {"cells": cells, "pairs": pairs,
            "common": {"low": low, "high": high, "overlaps": low <= high,
                       "share": inside(every, low, high)}}
