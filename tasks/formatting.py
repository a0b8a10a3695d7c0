"""Prompt formats: how a question is presented to the model.

Contents
--------
PROMPT_FORMATS        : the concrete formats, ``("chat", "plain")``.
REQUESTABLE_FORMATS   : what a user may ask for, ``("auto", "chat", "plain")``.
has_chat_template     : whether a tokenizer carries a chat template.
resolve_prompt_format : ``auto`` -> ``chat`` if the tokenizer has a template, else ``plain``.
format_prompt         : the text to feed the model for one question.
content_token_spans   : per text, the [start, end) token indices of its user content in the
                        formatted prompt (system prompt, template tokens and BOS excluded).
text_token_spans      : the same for given character spans of each text (e.g. its subject).

``chat`` matters for instruct models (measured greedy recall accuracy: SmolLM2 25/30 with
the template vs 1/30 plain). The chat string already contains the template's special
tokens, so tokenize it with ``add_special_tokens=False`` to avoid a second BOS.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tasks.errors import PromptFormatError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PROMPT_FORMATS: tuple[str, ...] = ("chat", "plain")
REQUESTABLE_FORMATS: tuple[str, ...] = ("auto", *PROMPT_FORMATS)


def has_chat_template(tokenizer: PreTrainedTokenizerBase | None) -> bool:
    """True if `tokenizer` has a non-empty ``chat_template`` (str or dict of named templates)."""
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_prompt_format(requested: str, tokenizer: PreTrainedTokenizerBase | None) -> str:
    """Turn a requested format into a concrete one for `tokenizer`.

    Parameters
    ----------
    requested : {"auto", "chat", "plain"}
        ``auto`` picks ``chat`` when the tokenizer has a chat template, else ``plain``.
    tokenizer : PreTrainedTokenizerBase or None
        A Hugging Face tokenizer (anything with an optional ``chat_template``).

    Returns
    -------
    str
        ``"chat"`` or ``"plain"``.

    Raises
    ------
    PromptFormatError
        For an unknown name, or ``chat`` with a tokenizer that has no chat template.

    Examples
    --------
    >>> class Tok: chat_template = None
    >>> resolve_prompt_format("auto", Tok())
    'plain'
    """
    if requested not in REQUESTABLE_FORMATS:
        raise PromptFormatError(
            f"unknown prompt format {requested!r}; choose one of {', '.join(REQUESTABLE_FORMATS)}"
        )
    if requested == "auto":
        return "chat" if has_chat_template(tokenizer) else "plain"
    if requested == "chat" and not has_chat_template(tokenizer):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise PromptFormatError(
            f"prompt format 'chat' was requested but the tokenizer {name!r} has no chat "
            "template; use 'plain' (or 'auto')"
        )
    return requested


def format_prompt(text: str, tokenizer: PreTrainedTokenizerBase | None, fmt: str) -> str:
    """Return the string to feed the model for question `text` in format `fmt`.

    ``plain`` returns `text` unchanged. ``chat`` wraps it as a single user turn and
    appends the assistant generation prompt, so the next token is the answer's first.

    Examples
    --------
    >>> format_prompt("What is the capital of Peru?", None, "plain")
    'What is the capital of Peru?'
    """
    if fmt == "plain":
        return text
    if fmt != "chat":
        raise PromptFormatError(
            f"unknown prompt format {fmt!r}; choose one of {', '.join(PROMPT_FORMATS)} "
            "(resolve 'auto' with resolve_prompt_format first)"
        )
    resolve_prompt_format("chat", tokenizer)  # clear error when there is no template
    out = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    if not isinstance(out, str):
        # Guard against API drift (transformers 5.x returns a str here; older ones too).
        raise TypeError(f"apply_chat_template(tokenize=False) returned {type(out).__name__}, not str")
    return out


# A string no question contains: formatting it shows the template's text around the content.
_CONTENT_MARK = "\x00CONTENT\x00"


def _content_chars(formatted: str, text: str, tokenizer: PreTrainedTokenizerBase | None,
                   fmt: str) -> tuple[int, int]:
    """[start, end) characters of `text`'s content inside `formatted` (its `fmt` formatting)."""
    if fmt == "plain":
        return 0, len(formatted)
    # The template's own text around a marker: robust to any system prompt, and to a template
    # that strips or otherwise edits the content (the content is what lies between).
    prefix, sep, suffix = format_prompt(_CONTENT_MARK, tokenizer, fmt).partition(_CONTENT_MARK)
    if not sep or not formatted.startswith(prefix) or not formatted.endswith(suffix) \
            or len(prefix) + len(suffix) > len(formatted) \
            or formatted[len(prefix):len(formatted) - len(suffix)].strip() != text.strip():
        raise PromptFormatError(
            f"cannot locate the user content {text[:60]!r} in its chat-formatted prompt: the chat "
            "template does not place the content verbatim between a fixed prefix and suffix")
    return len(prefix), len(formatted) - len(suffix)


def content_token_spans(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
                        fmt: str) -> list[tuple[int, int]]:
    """Per text, the [start, end) token indices of its user content in the formatted prompt.

    Indices refer to the ids `engine.capture.tokenize_prompts` gives for
    ``format_prompt(text, tokenizer, fmt)`` (chat: ``add_special_tokens=False``; plain: the
    tokenizer's specials, e.g. a BOS, which lie outside the span). A token straddling the
    content's edge (a template newline merged with the first word) counts as content.
    Character offsets come from a fast tokenizer; a slow one is measured by tokenizing the
    formatted prompt's prefix up to each edge, checked to be a prefix of the whole.

    Raises
    ------
    PromptFormatError
        If the chat template does not hold the content verbatim between a fixed prefix and
        suffix, or the content tokenizes to no token.

    Examples
    --------
    >>> from engine.model.tiny import build_tiny_tokenizer
    >>> tok = build_tiny_tokenizer()
    >>> content_token_spans(tok, ["Hi"], "plain")
    [(0, 2)]
    """
    return text_token_spans(tokenizer, texts, fmt, [None] * len(texts))


def text_token_spans(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], fmt: str,
                     char_spans: Sequence[tuple[int, int] | None]) -> list[tuple[int, int]]:
    """Per text, the [start, end) token indices covering characters `char_spans[i]` of it.

    `char_spans[i]` is ``(start, end)`` in the user's text (before formatting), or None for the
    whole content (`content_token_spans`). Every token overlapping the characters counts.
    Indices refer to `engine.capture.tokenize_prompts`'s ids of the formatted prompt.

    Examples
    --------
    >>> from engine.model.tiny import build_tiny_tokenizer
    >>> text_token_spans(build_tiny_tokenizer(), ["Who wrote Hamlet?"], "plain", [(10, 16)])
    [(10, 16)]
    """
    if len(char_spans) != len(texts):
        raise ValueError(f"`char_spans` has {len(char_spans)} entries for {len(texts)} texts")
    spans = []
    bos = getattr(tokenizer, "bos_token", None)
    fast = bool(getattr(tokenizer, "is_fast", False))
    for text, chars in zip(texts, char_spans):
        formatted = format_prompt(text, tokenizer, fmt)
        lo, hi = _content_chars(formatted, text, tokenizer, fmt)
        if chars is not None:
            # The content as placed may be the text stripped by the template: shift to it.
            shift = lo - text.find(formatted[lo:hi])
            if not 0 <= chars[0] < chars[1] <= len(text):
                raise ValueError(f"character span {chars} is outside the text {text[:60]!r}")
            lo, hi = max(lo, chars[0] + shift), min(hi, chars[1] + shift)
        # The same rule as tokenize_prompts: specials only for plain text without its own BOS.
        add_special = fmt == "plain" and not (bos and formatted.startswith(bos))
        if fast:
            enc = tokenizer(formatted, add_special_tokens=add_special, return_offsets_mapping=True)
            inside = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > s and s < hi and e > lo]
            span = (inside[0], inside[-1] + 1) if inside else (0, 0)
        else:
            span = (_prefix_tokens(tokenizer, formatted, lo, add_special, edge="start"),
                    _prefix_tokens(tokenizer, formatted, hi, add_special, edge="end"))
        if span[1] <= span[0]:
            raise PromptFormatError(f"the characters {lo}..{hi} of {text[:60]!r} have no token in its "
                                    "formatted prompt")
        spans.append(span)
    return spans


def _prefix_tokens(tokenizer: PreTrainedTokenizerBase, formatted: str, at: int, add_special: bool,
                   *, edge: str) -> int:
    """Token index of character `at` in `formatted` for a tokenizer without offsets."""
    whole = list(tokenizer(formatted, add_special_tokens=add_special)["input_ids"])
    head = list(tokenizer(formatted[:at], add_special_tokens=add_special)["input_ids"])
    # A merge across the edge changes the prefix's last token: it then belongs to the content.
    n = len(head)
    while n > 0 and head[:n] != whole[:n]:
        n -= 1
    if edge == "end":
        return len(head) if head == whole[:len(head)] else min(len(whole), n + 1)
    return n
