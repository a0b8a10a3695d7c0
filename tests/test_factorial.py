"""Tests for `tasks.factorial`: the hops x book design, its invariants, contrasts and lengths."""
from __future__ import annotations

import csv
import dataclasses
import shutil
from collections import Counter

import pytest
import yaml

from tasks.errors import TaskFileError
from tasks.factorial import (
    CELLS,
    CONTRASTS,
    FactorialSet,
    contrast,
    generate_factorial,
    length_overlap,
    mentions,
    named_contrast,
)
from tasks.factorial_templates import FAMILIES
from tasks.filler import FILLER_POOL, count_words
from tasks.generate import FACTS_DIR
from tasks.loader import dump_tasks, load_tasks, parse_tasks
from tasks.taskset import CATEGORIES, Prompt
from tasks.subjects import subject_char_spans

MIN_PER_CELL = 200


@pytest.fixture(scope="module")
def fset() -> FactorialSet:
    return generate_factorial(seed=0)


def _names(item) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (item.bridge, *item.bridge_aliases), (item.answer, *item.aliases)


def _parts(item) -> tuple[str, str, str, str]:
    """``(filler, context, one-hop question, two-hop question)`` of an item."""
    rest, sentences = item.closed_one.text, []
    while True:
        head = next((s for s in FILLER_POOL if rest.startswith(s + " ")), None)
        if head is None:
            break
        sentences.append(head)
        rest = rest[len(head) + 1:]
    q1 = rest
    q2 = item.closed_two.text.removeprefix(" ".join(sentences) + " ")
    assert item.open_one.text.endswith(" " + q1), item.id
    return " ".join(sentences), item.open_one.text.removesuffix(" " + q1), q1, q2


def _contains(text: str, names) -> list[str]:
    # Independent of `mentions`: the grader's own rule, one name at a time.
    return [n for n in names if Prompt("", n).accepts(text)]


# ----------------------------------------------------------------------------- size and records

def test_at_least_200_items_per_cell(fset):
    for kind in CELLS:
        prompts = fset.cell(kind)
        assert len(prompts) >= MIN_PER_CELL, (kind, len(prompts))
        assert all(p.kind == kind and p.text.endswith("?") and "{" not in p.text for p in prompts)


def test_every_family_contributes(fset):
    counts = Counter(item.family for item in fset)
    assert set(counts) == {f.name for f in FAMILIES}, counts
    assert min(counts.values()) >= 40 and max(counts.values()) <= 0.25 * len(fset), counts
    # Family names are pair categories; none may reuse a built-in category, whose subjects
    # (`tasks.subjects`) mean something else.
    assert not set(counts) & set(CATEGORIES)


def test_items_record_subject_bridge_answer(fset):
    for item in fset:
        assert item.subject and item.bridge and item.answer, item.id
        assert item.one_hop_answer == item.bridge
        for p in (item.closed_one, item.open_one):
            assert (p.answer, p.aliases) == (item.bridge, item.bridge_aliases), item.id
        for p in (item.closed_two, item.open_two):
            assert (p.answer, p.aliases) == (item.answer, item.aliases), item.id
        assert [p.kind for p in item.cells().values()] == list(CELLS)
        assert len(item.answer.split()) <= 3 and len(item.bridge.split()) <= 5, item.id


def test_ids_unique_and_prefixed_by_family(fset):
    assert len(set(fset.ids)) == len(fset)
    assert all(item.id.startswith(f"{item.family}-") for item in fset)
    with pytest.raises(ValueError, match="duplicate item id"):
        FactorialSet("x", (fset.items[0], fset.items[0]), seed=0)


def test_fact_spot_checks(fset):
    # Checked by hand, independent of the tables: guards against shifted CSV columns.
    expected = {
        "books-hamlet": ("Hamlet", "Shakespeare", "English"),
        "books-war-and-peace": ("War and Peace", "Tolstoy", "Russian"),
        "paintings-mona-lisa": ("Mona Lisa", "Leonardo", "Italian"),
        "paintings-starry-night": ("The Starry Night", "van Gogh", "Dutch"),
        "films-jaws": ("Jaws", "Spielberg", "American"),
        "films-seven-samurai": ("Seven Samurai", "Kurosawa", "Japanese"),
        "compositions-swan-lake": ("Swan Lake", "Tchaikovsky", "Russian"),
        "landmarks-eiffel-tower": ("Eiffel Tower", "Paris", "France"),
        "landmarks-burj-khalifa": ("Burj Khalifa", "Dubai", "United Arab Emirates"),
        "cities-barcelona": ("Barcelona", "Spain", "Madrid"),
        "cities-sydney": ("Sydney", "Australia", "Canberra"),
        "capitals-bern": ("Bern", "Switzerland", "Europe"),
        "capitals-nairobi": ("Nairobi", "Kenya", "Africa"),
        "symbols-fe": ("Fe", "iron", "26"),
        "symbols-w": ("W", "tungsten", "74"),
    }
    for item_id, facts in expected.items():
        item = fset.item(item_id)
        assert (item.subject, item.bridge, item.answer) == facts, item_id


# ----------------------------------------------------------------------------- what each cell may say

def test_closed_two_hop_names_neither_bridge_nor_answer(fset):
    for item in fset:
        bridge, answer = _names(item)
        assert not _contains(item.closed_two.text, bridge + answer), (item.id, item.closed_two.text)


def test_closed_one_hop_does_not_name_the_bridge(fset):
    for item in fset:
        bridge, answer = _names(item)
        assert not _contains(item.closed_one.text, bridge), (item.id, item.closed_one.text)
        # Stronger: the filler does not give away the two-hop answer either.
        assert not _contains(item.closed_one.text, answer), (item.id, item.closed_one.text)


def test_open_prompts_state_the_facts_they_need(fset):
    for item in fset:
        _, context, _, _ = _parts(item)
        bridge, answer = _names(item)
        assert item.subject in context, item.id
        assert _contains(context, bridge) and _contains(context, answer), (item.id, context)
        assert item.open_one.accepts(item.open_one.text), item.id
        assert item.open_two.accepts(item.open_two.text), item.id


def test_subject_verbatim_in_every_cell(fset):
    for item in fset:
        for kind, p in item.cells().items():
            assert item.subject in p.text, (item.id, kind)
        # Once in a closed-book prompt (only the question names it), so tracing is unambiguous.
        for p in (item.closed_one, item.closed_two):
            assert len(subject_char_spans(p.text, item.subject)) == 1, (item.id, p.text)


def test_cells_are_context_plus_question(fset):
    # closed = filler + q, open = facts + q: the hops factor changes only the question, the
    # book factor only the context, and the filler has exactly the facts' word count.
    for item in fset:
        filler, context, q1, q2 = _parts(item)
        assert filler and q1 != q2 and item.subject in q1 and item.subject in q2, item.id
        assert item.closed_two.text == f"{filler} {q2}", item.id
        assert item.open_one.text == f"{context} {q1}", item.id
        assert item.open_two.text == f"{context} {q2}", item.id
        assert count_words(filler) == count_words(context), (item.id, filler, context)


def test_subjects_that_name_an_answer_are_excluded(fset):
    excluded = dict(fset.excluded)
    assert "paintings-american-gothic" in excluded and "American" in excluded["paintings-american-gothic"]
    assert not set(excluded) & set(fset.ids)
    assert len(excluded) <= 0.02 * len(fset), excluded


def test_mentions_rule():
    assert mentions("Which element has the symbol He?", ["helium", "He", "2"]) == ("He",)
    assert mentions("he said so", ["He"]) == ()                   # short names: exact case
    assert mentions("the city of bogota", ["Bogotá", "Lima"]) == ("Bogotá",)  # accents folded
    assert mentions("Limassol", ["Lima"]) == ()                    # whole words only


# ----------------------------------------------------------------------------- determinism

def test_deterministic_and_seeded(fset):
    again = generate_factorial(seed=0)
    assert again == fset and again.sha256 == fset.sha256
    other = generate_factorial(seed=1)
    assert other.ids == fset.ids and other.sha256 != fset.sha256
    assert [(i.bridge, i.answer) for i in other] == [(i.bridge, i.answer) for i in fset]
    changed = sum(a.closed_one.text != b.closed_one.text for a, b in zip(fset, other))
    assert changed > 0.9 * len(fset)


def test_hash_covers_content(fset):
    first = fset.items[0]
    edited = dataclasses.replace(first, answer="Welsh")
    assert FactorialSet("x", (edited, *fset.items[1:]), seed=0).sha256 != fset.sha256
    assert FactorialSet("renamed", fset.items, seed=5).sha256 == fset.sha256


def test_table_errors(tmp_path):
    facts = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, facts)
    with (facts / "books_more.csv").open("a", encoding="utf-8") as fh:
        fh.write("Hamlet,William Shakespeare,Shakespeare,,English,British\n")
    with pytest.raises(TaskFileError, match="duplicate id 'books-hamlet'"):
        generate_factorial(facts_dir=facts)
    other = tmp_path / "other"
    shutil.copytree(FACTS_DIR, other)
    (other / "films.csv").write_text("film,director\nJaws,Steven Spielberg\n", encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"(?s)films\.csv.*missing column\(s\) nationality, surname"):
        generate_factorial(facts_dir=other)


def _table(name: str) -> list[dict[str, str]]:
    with (FACTS_DIR / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_tables_agree_with_each_other():
    # Facts stated in two tables must agree (the factorial's tables extend the originals).
    capitals = {r["country"]: r for r in _table("capitals.csv")}
    for row in _table("countries.csv"):
        if row["country"] in capitals:
            names = {row["capital"], *row["capital_aliases"].split("|")}
            assert capitals[row["country"]]["capital"] in names, row["country"]
            if row["continent"]:
                assert capitals[row["country"]]["continent"] == row["continent"], row["country"]
    for row in _table("cities.csv"):
        if row["country"] in capitals:
            assert row["capital"] in capitals[row["country"]]["capital"], row["city"]
    for base in ("books", "paintings", "landmarks", "elements"):
        a, b = _table(f"{base}.csv"), _table(f"{base}_more.csv")
        assert list(a[0]) == list(b[0]), f"{base}_more.csv must keep {base}.csv's header"
    elements = _table("elements.csv") + _table("elements_more.csv")
    assert sorted(int(r["atomic_number"]) for r in elements) == list(range(1, len(elements) + 1))
    assert len({r["symbol"] for r in elements}) == len(elements)


# ----------------------------------------------------------------------------- contrasts

@pytest.mark.parametrize("name", list(CONTRASTS))
def test_named_contrasts_take_the_right_cells(fset, name):
    a, b = CONTRASTS[name]
    ts = named_contrast(fset, name)
    assert ts.name == f"factorial-{name}" and ts.labels == (a, b)
    assert ts.ids == fset.ids and ts.categories == tuple(i.family for i in fset)
    assert ts.side(a) == fset.cell(a) and ts.side(b) == fset.cell(b)
    assert ts.provenance["factorial_sha256"] == fset.sha256
    assert ts.provenance["subjects"] == {i.id: i.subject for i in fset}


def test_contrast_round_trips_through_a_task_file(fset):
    ts = contrast(fset, "closed-2hop", "open-1hop")
    assert ts.name == "factorial-closed-2hop-vs-open-1hop"
    again = parse_tasks(yaml.safe_load(dump_tasks(ts)))  # families declared as categories
    assert again.sha256 == ts.sha256 and again.pairs == ts.pairs


def test_contrast_rejects_bad_cells(fset):
    with pytest.raises(ValueError, match="`b_cell` must be one of closed-1hop, closed-2hop"):
        contrast(fset, "closed-1hop", "closed-3hop")
    with pytest.raises(ValueError, match="must differ"):
        contrast(fset, "open-1hop", "open-1hop")
    with pytest.raises(ValueError, match="one of hops-closed"):
        named_contrast(fset, "hops")


@pytest.mark.parametrize("name, cells", [("factorial-hops-closed", "hops-closed"),
                                         ("factorial-book-onehop", "book-onehop"),
                                         ("factorial-study", "study")])
def test_builtin_sets_load(fset, name, cells):
    ts = load_tasks(name)
    assert ts.name == name and ts.labels == CONTRASTS[cells]
    assert ts.sha256 == named_contrast(fset, cells).sha256


# ----------------------------------------------------------------------------- lengths

def test_length_overlap_in_words(fset):
    report = length_overlap(fset)
    assert set(report["cells"]) == set(CELLS)
    for kind, stats in report["cells"].items():
        counts = [count_words(p.text) for p in fset.cell(kind)]
        assert (stats["min"], stats["max"]) == (min(counts), max(counts)), kind
        assert stats["min"] <= stats["median"] <= stats["max"]
    assert len(report["pairs"]) == 6
    for key, pair in report["pairs"].items():
        assert pair["overlaps"] and pair["low"] <= pair["high"], key
        assert 0.8 <= pair["share_a"] <= 1 and 0.8 <= pair["share_b"] <= 1, (key, pair)
    # Book contrasts are matched word for word; hops contrasts differ by the question only.
    for a, b in (("closed-1hop", "open-1hop"), ("closed-2hop", "open-2hop")):
        pair = report["pairs"][f"{a} vs {b}"]
        assert pair["median_difference"] == 0 and pair["share_a"] == pair["share_b"] == 1
    assert 1 <= report["pairs"]["closed-1hop vs closed-2hop"]["median_difference"] <= 5
    assert report["common"]["overlaps"] and report["common"]["share"] >= 0.8


def test_length_overlap_takes_any_counter(fset):
    chars = length_overlap(fset, len)
    assert chars["cells"]["closed-1hop"]["max"] == max(len(p.text) for p in fset.cell("closed-1hop"))
