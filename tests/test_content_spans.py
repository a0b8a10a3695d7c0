"""`tasks.formatting.content_token_spans` on the real chat templates and the plain format."""
from __future__ import annotations

import pytest

from engine.capture import tokenize_prompts
from engine.model.loading import load_tokenizer
from engine.model.specs import resolve_model
from tasks.errors import PromptFormatError
from tasks.formatting import content_token_spans, format_prompt, text_token_spans

TEXTS = [
    "Who wrote Hamlet?",
    "Hamlet was written by William Shakespeare, who was English. What nationality was the author of Hamlet?",
    "  What is the capital of Peru?  ",
    "assistant",  # a word the template itself holds: found by position, not by search
    "Hi",
]


@pytest.fixture(scope="module", params=["tiny", "smollm2", "qwen0.5b"])
def tokenizer(request):
    try:
        return load_tokenizer(resolve_model(request.param))
    except Exception as error:  # noqa: BLE001 (a missing offline model is a skip, named)
        pytest.skip(f"{request.param} tokenizer unavailable: {error}")


class _Slow:
    """A tokenizer without character offsets (as a slow tokenizer): the prefix path runs."""

    is_fast = False

    def __init__(self, tok):
        self._tok = tok

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def __call__(self, text, **kwargs):
        kwargs.pop("return_offsets_mapping", None)
        return self._tok(text, **kwargs)


@pytest.mark.parametrize("fmt", ["chat", "plain"])
def test_span_holds_exactly_the_content_tokens(tokenizer, fmt) -> None:
    texts = [format_prompt(t, tokenizer, fmt) for t in TEXTS]
    ids = tokenize_prompts(tokenizer, texts, add_special_tokens=fmt == "plain")
    spans = content_token_spans(tokenizer, TEXTS, fmt)
    assert len(spans) == len(TEXTS)
    for text, seq, (start, end) in zip(TEXTS, ids, spans):
        assert 0 <= start < end <= len(seq)
        inside = tokenizer.decode(seq[start:end])
        assert inside.strip() == text.strip()
        # Nothing of the content outside the span, and the template's tokens stay outside.
        before, after = tokenizer.decode(seq[:start]), tokenizer.decode(seq[end:])
        if fmt == "chat":
            assert before.rstrip().endswith("user") and "<|im_end|>" in after
            assert end < len(seq) - 2  # the generation prompt follows the content
            assert start > 3
        else:
            assert text.strip() not in before + after or text == "Hi"


def test_plain_span_excludes_a_bos_the_tokenizer_adds(tokenizer) -> None:
    seq = tokenize_prompts(tokenizer, ["Who wrote Hamlet?"])[0]
    (start, end), = content_token_spans(tokenizer, ["Who wrote Hamlet?"], "plain")
    bos = tokenizer.bos_token_id
    added = 1 if bos is not None and seq[0] == bos else 0
    assert (start, end) == (added, len(seq))


@pytest.mark.parametrize("fmt", ["chat", "plain"])
def test_prefix_path_for_slow_tokenizers_agrees_with_offsets(tokenizer, fmt) -> None:
    assert content_token_spans(_Slow(tokenizer), TEXTS, fmt) == content_token_spans(tokenizer, TEXTS, fmt)


def test_template_that_rewrites_the_content_is_a_named_error() -> None:
    tok = load_tokenizer(resolve_model("tiny"))
    tok.chat_template = "{{ messages[0]['content'] | upper }}"
    with pytest.raises(PromptFormatError, match="cannot locate the user content"):
        content_token_spans(tok, ["who wrote hamlet?"], "chat")


@pytest.mark.parametrize("fmt", ["chat", "plain"])
def test_character_spans_map_to_the_subject_tokens(tokenizer, fmt) -> None:
    from tasks.subjects import subject_char_spans

    texts = ["Hamlet was written by William Shakespeare. Who wrote Hamlet?", "  Who painted the Mona Lisa? "]
    subjects = ["Hamlet", "Mona Lisa"]
    chars = [subject_char_spans(t, s)[-1] for t, s in zip(texts, subjects)]
    spans = text_token_spans(tokenizer, texts, fmt, chars)
    ids = tokenize_prompts(tokenizer, [format_prompt(t, tokenizer, fmt) for t in texts],
                           add_special_tokens=fmt == "plain")
    for seq, (start, end), subject in zip(ids, spans, subjects):
        assert tokenizer.decode(seq[start:end]).strip() == subject
        assert tokenizer.decode(seq[end:]).lstrip().startswith("?")  # the last occurrence


def test_character_span_outside_the_text_is_an_error() -> None:
    tok = load_tokenizer(resolve_model("tiny"))
    with pytest.raises(ValueError, match="outside the text"):
        text_token_spans(tok, ["Hi"], "plain", [(1, 5)])
