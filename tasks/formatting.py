"""Prompt formats: how a question is presented to the model.

Contents
--------
PROMPT_FORMATS        : the concrete formats, ``("chat", "plain")``.
REQUESTABLE_FORMATS   : what a user may ask for, ``("auto", "chat", "plain")``.
has_chat_template     : whether a tokenizer carries a chat template.
resolve_prompt_format : ``auto`` -> ``chat`` if the tokenizer has a template, else ``plain``.
format_prompt         : the text to feed the model for one question.

``chat`` matters for instruct models (measured greedy recall accuracy: SmolLM2 25/30 with
the template vs 1/30 plain). The chat string already contains the template's special
tokens, so tokenize it with ``add_special_tokens=False`` to avoid a second BOS.
"""
from __future__ import annotations

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
