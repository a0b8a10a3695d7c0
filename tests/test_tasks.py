"""Tests for `tasks/`: task files, validation, generated sets, controls, length matching, formats."""
from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tasks import (
    BUILTIN_SETS,
    CATEGORIES,
    FILLER_POOL,
    LengthMatchError,
    Prompt,
    PromptFormatError,
    TaskFileError,
    TaskPair,
    TaskSet,
    count_words,
    dump_tasks,
    filler_contrast,
    format_prompt,
    length_matched,
    load_task_file,
    load_tasks,
    resolve_prompt_format,
)
from tasks.filler import BOTH_SIDES_PAD, pad_prompt
from tasks.generate import FACTS_DIR, generate_extended, main, read_fact_table
from tasks.templates import RELATIONS

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers

def _pair(pid: str = "p1", category: str = "capital") -> dict:
    return {
        "id": pid,
        "category": category,
        "recall": {"prompt": "What is the capital of Peru?", "answer": "Lima"},
        "reasoning": {
            "prompt": "If Lima is the capital of Peru and Peru is in South America, "
                      "what continent is Lima in?",
            "answer": "South America",
        },
    }


def _write(tmp_path: Path, data: object, name: str = "tasks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _load_error(path: Path) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load_task_file(path)
    assert str(path) in str(info.value), "the error must name the file"
    return info.value


@pytest.fixture(scope="module")
def bpe_tokenizer():
    """A small byte-level BPE tokenizer trained offline on the task prompts (no hub access).

    Its merges make counts non-additive across the filler/question boundary, like a real
    model tokenizer, unlike the word and character counters.
    """
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    # Trained on every built-in wording, as a real tokenizer covers ordinary English.
    names = ("core", "extended", "surface-reasoning", "surface-reasoning-extended")
    corpus = [p.text for name in names for pair in load_tasks(name)
              for p in (pair.a, pair.b)] + list(FILLER_POOL)
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], show_progress=False,
    )
    core.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>")


@pytest.fixture(scope="module")
def bpe_count(bpe_tokenizer):
    return lambda s: len(bpe_tokenizer(s, add_special_tokens=False)["input_ids"])


# ----------------------------------------------------------------------------- validation

def _case(case_id: str, mutate, *expected: str):
    return pytest.param(mutate, list(expected), id=case_id)


INVALID_CASES = [
    _case("duplicate-id", lambda d: d["pairs"].append(_pair("p1")),
          "pairs[1] (id 'p1')", "duplicate id 'p1'", "first used by pairs[0]"),
    _case("missing-side", lambda d: d["pairs"][0].pop("reasoning"),
          "pairs[0] (id 'p1')", "missing side 'reasoning'"),
    _case("empty-prompt", lambda d: d["pairs"][0]["recall"].update(prompt="   "),
          "pairs[0] (id 'p1')", "side 'recall'", "empty prompt"),
    _case("missing-answer", lambda d: d["pairs"][0]["reasoning"].pop("answer"),
          "pairs[0] (id 'p1')", "side 'reasoning'", "missing answer"),
    _case("unknown-category", lambda d: d["pairs"][0].update(category="captial"),
          "unknown category 'captial'", "did you mean 'capital'", "expected one of"),
    _case("missing-category", lambda d: d["pairs"][0].pop("category"),
          "pairs[0] (id 'p1')", "missing 'category'"),
    _case("missing-id", lambda d: d["pairs"][0].pop("id"), "pairs[0]:", "missing or empty 'id'"),
    _case("unknown-pair-key", lambda d: d["pairs"][0].update(notes="x"),
          "pairs[0] (id 'p1')", "unknown key 'notes'", "allowed keys: id, category, recall, reasoning"),
    _case("unknown-side-key", lambda d: d["pairs"][0]["recall"].update(anser="x"),
          "side 'recall'", "unknown key 'anser'", "did you mean 'answer'"),
    _case("unknown-top-key", lambda d: d.update(pair=[]),
          "unknown top-level key 'pair'", "did you mean 'pairs'"),
    _case("bool-answer", lambda d: d["pairs"][0]["recall"].update(answer=False),
          "answer must be a non-empty string", "quote it"),
    _case("aliases-not-list", lambda d: d["pairs"][0]["recall"].update(aliases="Lima"),
          "`aliases` must be a list"),
    _case("bad-labels", lambda d: d.update(labels=["recall"]), "`labels` must be a list of two distinct"),
    _case("no-pairs", lambda d: d.update(pairs=[]), "`pairs` must be a non-empty list"),
]


@pytest.mark.parametrize("mutate, expected", INVALID_CASES)
def test_invalid_file_names_file_entry_and_expectation(tmp_path, mutate, expected):
    data = {"pairs": [_pair("p1")]}
    mutate(data)
    err = _load_error(_write(tmp_path, data))
    for text in expected:
        assert text in str(err), f"{text!r} not in:\n{err}"


def test_all_problems_reported_at_once(tmp_path):
    bad_side = _pair("p2")
    bad_side.pop("recall")
    bad_cat = _pair("p3", category="planets")
    empty = _pair("p4")
    empty["reasoning"]["prompt"] = ""
    data = {"pairs": [_pair("p1"), _pair("p1"), bad_side, bad_cat, empty]}
    err = _load_error(_write(tmp_path, data))
    assert len(err.problems) == 4, err
    joined = "\n".join(err.problems)
    for text in ("duplicate id 'p1'", "(id 'p2'): missing side 'recall'",
                 "(id 'p3'): unknown category 'planets'", "(id 'p4'): side 'reasoning': empty prompt"):
        assert text in joined


def test_invalid_yaml_and_wrong_top_level(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("pairs: [\n  - id: x\n", encoding="utf-8")
    assert "not valid YAML" in str(_load_error(path))
    assert "top level must be a mapping" in str(_load_error(_write(tmp_path, [1, 2], "list.yaml")))


def test_missing_file_and_unknown_builtin():
    with pytest.raises(TaskFileError, match="cannot read"):
        load_tasks("/nonexistent/dir/tasks.yaml")
    with pytest.raises(TaskFileError) as info:
        load_tasks("cor")
    assert "did you mean 'core'" in str(info.value)
    for name in BUILTIN_SETS:
        assert name in str(info.value)


def test_valid_file_options(tmp_path):
    pair = _pair("p1", category="planet")
    pair["recall"]["answer"] = 47  # YAML ints are accepted as answers
    pair["recall"]["aliases"] = ["forty-seven"]
    path = _write(tmp_path, {"name": "mine", "categories": ["planet"], "pairs": [pair]})
    ts = load_task_file(path)
    assert (ts.name, ts.source_path, ts.labels) == ("mine", str(path), ("recall", "reasoning"))
    assert ts.pairs[0].a == Prompt("What is the capital of Peru?", "47", ("forty-seven",), "recall")
    assert load_tasks(str(path)) == ts

    custom = {"labels": ["x", "y"], "pairs": [{"id": "q", "category": "capital",
              "x": {"prompt": "A?", "answer": "a"}, "y": {"prompt": "B?", "answer": "b"}}]}
    ts2 = load_task_file(_write(tmp_path, custom, "custom.yaml"))
    assert ts2.labels == ("x", "y") and ts2.side("y")[0].kind == "y"


# ----------------------------------------------------------------------------- schema

def test_taskset_invariants_and_accessors():
    core = load_tasks("core")
    assert core.side("recall") == core.side("a") == core.side(0)
    assert core.pair("capital-switzerland").a.answer == "Bern"
    with pytest.raises(ValueError, match="`which`"):
        core.side("c")
    with pytest.raises(ValueError, match="duplicate pair id"):
        TaskSet("x", (core.pairs[0], core.pairs[0]))
    with pytest.raises(ValueError, match="kinds"):
        TaskSet("x", core.pairs[:1], labels=("recall", "other"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        core.name = "y"  # type: ignore[misc]
    matched = length_matched(core, count_words, seed=0)
    assert pickle.loads(pickle.dumps(matched)) == matched  # crosses process boundaries
    assert copy.deepcopy(matched).provenance == matched.provenance


def test_hash_covers_content_not_name():
    core = load_tasks("core")
    assert dataclasses.replace(core, name="renamed").sha256 == core.sha256
    first = core.pairs[0]
    edited = dataclasses.replace(first, a=dataclasses.replace(first.a, text=first.a.text + " "))
    assert dataclasses.replace(core, pairs=(edited, *core.pairs[1:])).sha256 != core.sha256
    flipped_answer = dataclasses.replace(first, b=dataclasses.replace(first.b, answer="Asia"))
    assert dataclasses.replace(core, pairs=(flipped_answer, *core.pairs[1:])).sha256 != core.sha256


def test_prompt_accepts():
    assert Prompt("q", "Bogotá").accepts("It is Bogota.")
    assert Prompt("q", "United States", ("USA",)).accepts("the usa")
    assert Prompt("q", "Au").accepts("The symbol is Au.")
    assert not Prompt("q", "S").accepts("it's sulfur")        # short answers are case-sensitive
    assert not Prompt("q", "Lima").accepts("Limassol")          # whole words only
    assert Prompt("q", "47").accepts("Its atomic number is 47.")


# ----------------------------------------------------------------------------- built-in sets

def test_builtin_names_all_load():
    assert set(BUILTIN_SETS) >= {"core", "extended", "surface-recall", "surface-reasoning"}
    for name in BUILTIN_SETS:
        ts = load_tasks(name)
        assert ts.name == name and len(ts) >= 30


def test_core_size_and_variety():
    core = load_tasks("core")
    assert len(core) >= 30
    counts = Counter(core.categories)
    assert len(counts) >= 6 and set(counts) <= set(CATEGORIES)
    assert max(counts.values()) <= len(core) / 3, counts


def test_extended_size_and_variety():
    ext = load_tasks("extended")
    assert len(ext) >= 300
    assert len(set(ext.ids)) == len(ext)
    counts = Counter(ext.categories)
    assert set(counts) == {r.category for r in RELATIONS} and min(counts.values()) >= 20, counts


@pytest.mark.parametrize("name", ["core", "extended"])
def test_answers_short_and_recall_not_copyable(name):
    for pair in load_tasks(name):
        for p in (pair.a, pair.b):
            assert len(p.answer.split()) <= 2, (pair.id, p.answer)
            assert p.text.endswith("?") and "{" not in p.text, (pair.id, p.text)
        # A recall prompt containing its own answer would test copying, not recall.
        assert not pair.a.accepts(pair.a.text), (pair.id, pair.a.text)


def test_extended_reasoning_states_its_facts():
    # Study style: the reasoning prompt states both facts, so the answer is in the prompt,
    # and so is the recall answer (the bridge entity). Catches template/column mix-ups.
    for pair in load_tasks("extended"):
        assert pair.b.accepts(pair.b.text), (pair.id, pair.b.text)
        assert pair.a.accepts(pair.b.text), (pair.id, pair.b.text)


def test_extended_facts_spot_checks():
    # Hand-checked facts, independent of the tables: guards against shifted CSV columns.
    ext = load_tasks("extended")
    expected = {
        "capital-france": ("Paris", "Europe"), "capital-brazil": ("Brasília", "South America"),
        "language-japan": ("Japanese", "Japanese"), "currency-united-kingdom": ("pound", "pound"),
        "chemical-symbol-gold": ("Au", "solid"), "chemical-symbol-mercury": ("Hg", "liquid"),
        "element-iron": ("iron", "26"), "element-tungsten": ("tungsten", "74"),
        "author-hamlet": ("Shakespeare", "English"), "author-war-and-peace": ("Tolstoy", "Russian"),
        "painter-guernica": ("Picasso", "Spanish"), "landmark-eiffel-tower": ("Paris", "France"),
        "landmark-statue-of-liberty": ("New York", "United States"),
    }
    for pid, (recall, reasoning) in expected.items():
        pair = ext.pair(pid)
        assert (pair.a.answer, pair.b.answer) == (recall, reasoning), pid


def test_extended_is_deterministic_and_seeded():
    a, b = generate_extended(seed=0), generate_extended(seed=0)
    assert a == b and a.sha256 == b.sha256 == load_tasks("extended").sha256
    other = generate_extended(seed=1)
    assert other.ids == a.ids and other.sha256 != a.sha256
    assert [p.a.answer for p in other] == [p.a.answer for p in a]
    changed = sum(p.a.text != q.a.text or p.b.text != q.b.text for p, q in zip(a, other))
    assert changed > len(a) / 3


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"\{\w+\}", template)
    return re.compile(".+?".join(re.escape(x) for x in parts) + r"\Z", re.IGNORECASE | re.DOTALL)


def test_every_template_is_used_and_every_prompt_comes_from_one():
    ext, reworded = load_tasks("extended"), load_tasks("surface-reasoning-extended")
    for rel in RELATIONS:
        pairs = [(p, r) for p, r in zip(ext, reworded) if p.category == rel.category]
        for family, prompts in (("recall", [p.a.text for p, _ in pairs]),
                                ("reasoning", [p.b.text for p, _ in pairs]),
                                ("reworded", [r.b.text for _, r in pairs])):
            regexes = [_template_regex(t) for t in getattr(rel, family)]
            used = Counter(next((i for i, rx in enumerate(regexes) if rx.match(text)), None)
                           for text in prompts)
            assert None not in used, (rel.category, family)
            assert set(used) == set(range(len(regexes))), (rel.category, family, used)


def test_extended_hash_independent_of_process_hash_seed():
    code = "from tasks import load_tasks; print(load_tasks('extended').sha256)"
    shas = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO,
                             capture_output=True, text=True, check=True)
        shas.add(out.stdout.strip())
    assert shas == {load_tasks("extended").sha256}


def test_dump_round_trip_and_cli(tmp_path):
    for name in ("core", "extended", "surface-recall"):
        ts = load_tasks(name)
        path = tmp_path / f"{name}.yaml"
        path.write_text(dump_tasks(ts), encoding="utf-8")
        again = load_task_file(path)
        assert again.sha256 == ts.sha256 and again.pairs == ts.pairs
    out = tmp_path / "ext.yaml"
    assert main(["--seed", "0", "--out", str(out)]) == 0
    assert load_task_file(out).sha256 == load_tasks("extended").sha256


def test_fact_table_errors(tmp_path):
    bad = tmp_path / "countries.csv"
    bad.write_text("country,capital\nFrance,Paris,Europe\n", encoding="utf-8")
    with pytest.raises(TaskFileError) as info:
        read_fact_table(bad, ("country", "capital", "continent"))
    msg = str(info.value)
    assert str(bad) in msg and "line 2" in msg and "missing column(s) continent" in msg

    facts = tmp_path / "facts"
    shutil.copytree(FACTS_DIR, facts)
    with (facts / "books.csv").open("a", encoding="utf-8") as fh:
        fh.write("Hamlet,William Shakespeare,Shakespeare,,English,British\n")
    with pytest.raises(TaskFileError, match="duplicate id 'author-hamlet'"):
        generate_extended(facts_dir=facts)


# ----------------------------------------------------------------------------- surface-only controls

def test_surface_reasoning_sides_match_main_sets():
    for main_name, control_name in (("core", "surface-reasoning"),
                                    ("extended", "surface-reasoning-extended")):
        main_set, control = load_tasks(main_name), load_tasks(control_name)
        assert control.labels == ("reasoning", "reasoning-reworded")
        assert control.ids == main_set.ids and control.categories == main_set.categories
        for m, c in zip(main_set, control):
            assert (c.a.text, c.a.answer, c.a.aliases) == (m.b.text, m.b.answer, m.b.aliases), m.id
            assert (c.b.answer, c.b.aliases) == (m.b.answer, m.b.aliases) and c.b.text != m.b.text


def test_surface_recall_is_recall_plus_filler():
    for main_name, control_name in (("core", "surface-recall"), ("extended", "surface-recall-extended")):
        main_set, control = load_tasks(main_name), load_tasks(control_name)
        assert control.labels == ("recall", "recall-filler")
        for m, c in zip(main_set, control):
            assert c.a.text == m.a.text and c.b.text.endswith(" " + m.a.text), m.id
            assert c.b.answer == m.a.answer


@pytest.mark.parametrize("main_name, suffix", [("core", ""), ("extended", "-extended")])
@pytest.mark.parametrize("counter", ["words", "chars"])
def test_surface_controls_differ_about_as_much_as_the_main_contrast(main_name, suffix, counter):
    # Words and characters stand in for a real tokenizer here (measured separately on the
    # Qwen2.5 and SmolLM2 tokenizers: ratios 1.0-1.1); a toy BPE trained on these very
    # prompts turns repeated template phrases into single tokens and is not representative.
    count = count_words if counter == "words" else len

    def mean_gap(ts: TaskSet) -> float:
        return sum(b - a for a, b in ts.token_counts(count)) / len(ts)

    main_set = load_tasks(main_name)
    gap = mean_gap(main_set)
    # The built-in surface-recall sets pad by words; in a tokenizer's units, the control is
    # built with that tokenizer's own counter.
    recall_control = (load_tasks("surface-recall" + suffix) if count is count_words
                      else filler_contrast(main_set, count, seed=0))
    for control in (recall_control, load_tasks("surface-reasoning" + suffix)):
        ratio = mean_gap(control) / gap
        assert 0.7 <= ratio <= 1.4, (control.name, counter, ratio)


# ----------------------------------------------------------------------------- length matching

COUNTERS = ["words", "chars", "bpe"]


def _counter(name, request):
    return {"words": count_words, "chars": len}.get(name) or request.getfixturevalue("bpe_count")


@pytest.mark.parametrize("name", ["core", "extended"])
@pytest.mark.parametrize("counter", COUNTERS)
def test_length_matched_within_one_token(name, counter, request):
    count = _counter(counter, request)
    base = load_tasks(name)
    matched = length_matched(base, count, seed=0)
    counts = matched.token_counts(count)
    assert all(abs(a - b) <= 1 for a, b in counts)
    assert counts == matched.provenance["token_counts"]
    assert matched.provenance["seed"] == 0 and matched.provenance["base_sha256"] == base.sha256
    assert (matched.ids, matched.categories, matched.labels) == (base.ids, base.categories, base.labels)
    assert matched.provenance["both_sides"] == BOTH_SIDES_PAD
    for m, b, side, (na, nb) in zip(matched, base, matched.provenance["padded_side"],
                                    matched.provenance["original_token_counts"]):
        assert side == "ab", "both sides carry filler"
        assert m.a.answer == b.a.answer and m.b.answer == b.b.answer and m.a.kind == "recall"
        assert m.a.text.endswith(" " + b.a.text) and m.b.text.endswith(" " + b.b.text)
        # Both reach the longer side's count plus the shared pad.
        assert abs(count(m.a.text) - (max(na, nb) + BOTH_SIDES_PAD)) <= 1


def test_both_sides_draw_filler_from_the_same_pool(bpe_count):
    base = load_tasks("extended")
    matched = length_matched(base, bpe_count, seed=0)
    sentences = {"a": Counter(), "b": Counter()}
    for m, b in zip(matched, base):
        for side in "ab":
            filler = getattr(m, side).text[: -len(getattr(b, side).text)]
            sentences[side].update(x for x in FILLER_POOL if x in filler)
    # The same pool on both sides, each side drawing its own, varied sentences. (The longer
    # side's smaller pad fits shorter sentences more often: the pool's short ones recur there.)
    assert len(sentences["b"]) >= 10 and len(set(sentences["a"]) & set(sentences["b"])) >= 10
    assert max(sentences["b"].values()) <= 0.15 * len(base)
    assert sum(m.a.text[:30] == m.b.text[:30] for m in matched) < 0.1 * len(base)


def test_both_sides_zero_pads_only_the_shorter_side():
    core = load_tasks("core")
    matched = length_matched(core, count_words, seed=0, both_sides=0)
    assert set(matched.provenance["padded_side"]) <= {"a", ""}
    assert all(m.b == b.b for m, b in zip(matched, core))
    with pytest.raises(ValueError, match="`both_sides`"):
        length_matched(core, count_words, seed=0, both_sides=-1)


@pytest.mark.parametrize("counter", COUNTERS)
def test_filler_varies_across_prompts(counter, request):
    count = _counter(counter, request)
    base = load_tasks("extended")
    matched = length_matched(base, count, seed=0)
    fillers = [m.a.text[: -len(b.a.text)] for m, b in zip(matched, base)]
    usage = Counter(s for f in fillers for s in FILLER_POOL if s in f)
    assert max(usage.values()) <= 0.10 * len(base), usage.most_common(3)
    assert len(usage) >= 40
    openings = Counter(f.split(".")[0] for f in fillers)
    assert max(openings.values()) <= 0.1 * len(base), openings.most_common(3)


def test_length_matching_is_seeded(bpe_count):
    core = load_tasks("core")
    a, b = length_matched(core, bpe_count, seed=3), length_matched(core, bpe_count, seed=3)
    assert a == b and a.sha256 == b.sha256
    c = length_matched(core, bpe_count, seed=4)
    assert sum(p.a.text != q.a.text for p, q in zip(a, c)) > len(core) / 2


def test_length_matching_pads_whichever_side_is_shorter():
    core = load_tasks("core")
    swapped = TaskSet("swapped", tuple(
        TaskPair(p.id, p.category, dataclasses.replace(p.b, kind="x"), dataclasses.replace(p.a, kind="y"))
        for p in core), labels=("x", "y"))
    matched = length_matched(swapped, count_words, seed=0, both_sides=0)
    assert set(matched.provenance["padded_side"]) == {"b"}
    assert all(abs(a - b) <= 1 for a, b in matched.token_counts(count_words))


def test_length_matching_errors_name_the_pair():
    core = load_tasks("core")
    with pytest.raises(LengthMatchError, match="pair 'capital-switzerland'.*cannot reach"):
        length_matched(core, count_words, seed=0, pool=("Quiet.",))
    with pytest.raises(LengthMatchError, match="only lengthen"):
        pad_prompt("one two three four", 2, count_words, rng=random.Random(0))


@given(
    words=st.lists(st.sampled_from("what is the of capital river city which".split()),
                   min_size=1, max_size=12),
    extra=st.integers(min_value=0, max_value=120),
    seed=st.integers(min_value=0, max_value=10_000),
    chars=st.booleans(),
)
def test_pad_prompt_hits_any_reachable_target(words, extra, seed, chars):
    count = len if chars else count_words
    text = " ".join(words) + "?"
    target = count(text) + extra
    out = pad_prompt(text, target, count, rng=random.Random(seed))
    assert abs(count(out) - target) <= 1 and out.endswith(text)


def test_filler_contrast_tracks_the_length_gap(bpe_count):
    ext = load_tasks("extended")
    control = filler_contrast(ext, bpe_count, seed=0)
    for (a, b), (oa, ob) in zip(control.token_counts(bpe_count), ext.token_counts(bpe_count)):
        assert abs((b - a) - abs(ob - oa)) <= 1


def test_filler_pool_is_neutral():
    assert len(FILLER_POOL) >= 40 and len(set(FILLER_POOL)) == len(FILLER_POOL)
    task_words = {"capital", "city", "country", "continent", "language", "currency", "symbol",
                  "element", "atomic", "wrote", "author", "painted", "painter", "nationality"}
    answers = {a for name in ("core", "extended") for pair in load_tasks(name)
               for p in (pair.a, pair.b) for a in p.answers}
    for sentence in FILLER_POOL:
        assert sentence.endswith(".") and "?" not in sentence and not re.search(r"\d", sentence)
        words = set(re.findall(r"[a-z]+", sentence.lower()))
        assert not words & task_words, sentence
        hit = [a for a in answers if Prompt("", a).accepts(sentence)]
        assert not hit, (sentence, hit)


# ----------------------------------------------------------------------------- prompt formats

@pytest.fixture(scope="module")
def chat_tokenizer(bpe_tokenizer):
    tok = bpe_tokenizer.__class__(tokenizer_object=bpe_tokenizer.backend_tokenizer,
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
        "message['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    return tok


def test_resolve_prompt_format(chat_tokenizer, bpe_tokenizer):
    assert bpe_tokenizer.chat_template is None
    assert resolve_prompt_format("auto", chat_tokenizer) == "chat"
    assert resolve_prompt_format("auto", bpe_tokenizer) == "plain"
    assert resolve_prompt_format("plain", chat_tokenizer) == "plain"
    assert resolve_prompt_format("chat", chat_tokenizer) == "chat"
    with pytest.raises(PromptFormatError, match="has no chat template"):
        resolve_prompt_format("chat", bpe_tokenizer)
    with pytest.raises(PromptFormatError, match="auto, chat, plain"):
        resolve_prompt_format("instruct", chat_tokenizer)


def test_format_prompt(chat_tokenizer, bpe_tokenizer):
    q = "What is the capital of Peru?"
    assert format_prompt(q, chat_tokenizer, "plain") == q
    assert format_prompt(q, chat_tokenizer, "chat") == (
        f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n"
    )
    with pytest.raises(PromptFormatError, match="no chat template"):
        format_prompt(q, bpe_tokenizer, "chat")
    with pytest.raises(PromptFormatError, match="resolve 'auto'"):
        format_prompt(q, chat_tokenizer, "auto")
