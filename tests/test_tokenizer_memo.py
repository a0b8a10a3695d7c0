"""The tokenizer memo: same answers as the tokenizer, read back without loading it, robust on disk."""
from __future__ import annotations

import json

import pytest

from engine.activations import get_activations
from engine.behaviour import get_behaviour
from engine.cache import ActivationCache
from engine.model.lazy import LazyModel
from engine.model.tiny import build_tiny_tokenizer
from engine.tokenizer_memo import TokenizerMemo, memo_path
from tasks.formatting import format_prompt, resolve_prompt_format
from tasks.loader import load_tasks

TEXTS = ["What is the capital of Switzerland?", "If Bern is the capital of Switzerland, where is Bern?",
         "Zürich – ein Test ✓"]


def _never() -> None:
    raise AssertionError("the tokenizer was loaded although every answer was in the memo")


def _fill(path) -> TokenizerMemo:
    memo = TokenizerMemo(build_tiny_tokenizer, path)
    memo.resolve_format("auto")
    memo.format_prompts(TEXTS, "chat")
    for text in TEXTS:
        memo.count_tokens(text)
    memo.decode_many([[72, 105], [1, 2, 3]])
    memo.save()
    return memo


def test_answers_equal_the_tokenizer():
    tok = build_tiny_tokenizer()
    memo = TokenizerMemo(build_tiny_tokenizer)
    assert memo.resolve_format("auto") == resolve_prompt_format("auto", tok) == "chat"
    assert memo.format_prompts(TEXTS, "chat") == [format_prompt(t, tok, "chat") for t in TEXTS]
    assert memo.format_prompts(TEXTS, "plain") == TEXTS
    assert [memo.count_tokens(t) for t in TEXTS] == [len(tok(t, add_special_tokens=False)["input_ids"])
                                                     for t in TEXTS]
    rows = [[72, 105, 33], [], [200, 201]]
    assert memo.decode_many(rows) == [tok.decode(r, skip_special_tokens=True) for r in rows]


def test_saved_answers_are_read_back_without_the_tokenizer(tmp_path):
    path = tmp_path / "memo.json"
    first = _fill(path)
    second = TokenizerMemo(_never, path)
    assert second.resolve_format("auto") == "chat"
    assert second.format_prompts(TEXTS, "chat") == first.format_prompts(TEXTS, "chat")
    assert [second.count_tokens(t) for t in TEXTS] == [first.count_tokens(t) for t in TEXTS]
    assert second.decode_many([[72, 105]]) == first.decode_many([[72, 105]])
    assert not second.tokenizer_loaded


def test_an_unknown_answer_loads_the_tokenizer_once(tmp_path):
    path = tmp_path / "memo.json"
    _fill(path)
    loads = []
    memo = TokenizerMemo(lambda: loads.append(1) or build_tiny_tokenizer(), path)
    memo.format_prompts(TEXTS + ["A new question?"], "chat")
    memo.count_tokens("another text")
    assert len(loads) == 1


def test_a_format_error_is_not_remembered(tmp_path):
    class NoTemplate:
        chat_template = None

    memo = TokenizerMemo(NoTemplate, tmp_path / "memo.json")
    for _ in range(2):
        with pytest.raises(ValueError, match="no chat template"):
            memo.resolve_format("chat")
    assert memo.resolve_format("auto") == "plain"


@pytest.mark.parametrize("damage", ["garbage", "wrong_version", "truncated"])
def test_a_corrupt_memo_is_reported_and_rebuilt(tmp_path, damage):
    path = tmp_path / "memo.json"
    _fill(path)
    raw = path.read_text()
    if damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "wrong_version":
        path.write_text(json.dumps({"format_version": 999, "tables": {}}))
    else:
        path.write_text(raw[: len(raw) // 2])
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        memo = TokenizerMemo(build_tiny_tokenizer, path)
    assert memo.format_prompts(TEXTS[:1], "chat") == [format_prompt(TEXTS[0], build_tiny_tokenizer(), "chat")]
    assert TokenizerMemo(_never, path).format_prompts(TEXTS[:1], "chat")  # rebuilt file is whole


def test_two_writers_merge(tmp_path):
    path = tmp_path / "memo.json"
    a, b = TokenizerMemo(build_tiny_tokenizer, path), TokenizerMemo(build_tiny_tokenizer, path)
    a.count_tokens("only in a")
    b.count_tokens("only in b")
    a.save()
    b.save()
    reader = TokenizerMemo(_never, path)
    assert reader.count_tokens("only in a") > 0 and reader.count_tokens("only in b") > 0


def test_path_depends_on_the_tokenizer_identity(tmp_path):
    assert memo_path(tmp_path, "sha256:a") != memo_path(tmp_path, "sha256:b")
    assert memo_path(tmp_path, "sha256:a") == memo_path(tmp_path, "sha256:a")


def test_a_warm_session_loads_neither_tokenizer_nor_weights(tmp_path):
    taskset = load_tasks("core")
    cache = ActivationCache(tmp_path)
    cold = LazyModel("tiny", device="cpu", dtype="float32")
    fmt = cold.tokenizer_memo(cache).resolve_format("auto")
    acts = get_activations(taskset, cold, prompt_format=fmt, cache=cache, progress=False)
    behaviour = get_behaviour(taskset, cold, prompt_format=fmt, cache=cache)

    warm = LazyModel("tiny", device="cpu", dtype="float32")
    fmt2 = warm.tokenizer_memo(cache).resolve_format("auto")
    acts2 = get_activations(taskset, warm, prompt_format=fmt2, cache=cache, progress=False)
    behaviour2 = get_behaviour(taskset, warm, prompt_format=fmt2, cache=cache)
    assert (fmt2, acts2.meta["cache"], acts2.meta["cache_key"]) == (fmt, "hit", acts.meta["cache_key"])
    assert behaviour2.answers == behaviour.answers
    assert warm._tokenizer is None and not warm.is_loaded


def test_a_random_weights_twin_shares_the_memo(tmp_path):
    cache = ActivationCache(tmp_path)
    model, twin = LazyModel("tiny"), LazyModel("tiny", random_init_seed=3)
    assert model.identity != twin.identity
    assert model.tokenizer_memo(cache).path == twin.tokenizer_memo(cache).path
    assert LazyModel("tiny").tokenizer_memo(ActivationCache(tmp_path, enabled=False)).path is None
