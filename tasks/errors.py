"""Exceptions raised by `tasks/`.

Contents
--------
TaskFileError     : a task file or fact table is invalid; lists every problem at once.
YAMLReadError     : a YAML file (task or claim) that cannot be read within the input limits.
LengthMatchError  : a pair's prompts cannot be brought to the same token count.
PromptFormatError : an unknown or impossible prompt format was requested.
shown             : a value as a message shows it: its repr, cut to a bounded length.
problem_lines     : the listed problems of a file error (at most `LISTED_PROBLEMS`).
"""
from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any

#: The longest repr of a user's value a message shows (then "...").
SHOWN_CHARS = 80
#: Problems a file error's message lists (all of them stay in its `problems`).
LISTED_PROBLEMS = 100

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 4, 6, 6, 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS + 2


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """`value`'s repr as an error message shows it: at most `limit` characters, then "...".

    Bounded work whatever the value (`reprlib` visits a few items of each container), so a
    huge or deeply nested value from a user's file never becomes a huge message.

    Examples
    --------
    >>> shown(0.5), shown("x" * 200)[-6:], shown(list(range(10**6)))
    ('0.5', 'xxx...', '[0, 1, 2, 3, 4, 5, ...]')
    """
    # A string is cut at its end, not in its middle as reprlib does.
    text = repr(value[:limit + 1]) if isinstance(value, str) else _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def problem_lines(problems: Sequence[str]) -> list[str]:
    """``  - <problem>`` lines of a file error, the first `LISTED_PROBLEMS` and a count of the rest."""
    lines = [f"  - {p}" for p in problems[:LISTED_PROBLEMS]]
    if len(problems) > LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - LISTED_PROBLEMS:,} more problems")
    return lines


class TaskFileError(ValueError):
    """A task file (YAML) or fact table (CSV) failed validation.

    All problems found in the file are collected before raising, so a user fixes
    them in one pass rather than one error per run.

    Parameters
    ----------
    path : str
        The file that was read (or a description such as ``"<string>"``).
    problems : sequence of str
        One message per problem, each naming the entry (``pairs[3] (id 'x')``)
        and what was expected.

    Examples
    --------
    >>> err = TaskFileError("my.yaml", ["pairs[0]: missing key 'id'"])
    >>> print(err)
    my.yaml: 1 problem:
      - pairs[0]: missing key 'id'
    """

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = str(path)
        self.problems = tuple(problems)
        n = len(self.problems)
        lines = [f"{self.path}: {n} problem{'s' if n != 1 else ''}:", *problem_lines(self.problems)]
        super().__init__("\n".join(lines))


class YAMLReadError(ValueError):
    """A YAML file that cannot be read within the input limits (`tasks.loader.read_yaml_file`).

    Attributes
    ----------
    path : str
    problem : str
        One line saying why (unreadable, too large, not UTF-8, not valid YAML, aliases that
        expand past the limit), for the caller's own error (`TaskFileError`,
        `evaluation.schema.ClaimFileError`) to list.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class LengthMatchError(ValueError):
    """A pair's shorter prompt could not be padded to the longer one's token count."""


class PromptFormatError(ValueError):
    """An unknown prompt format, or `chat` for a tokenizer that has no chat template."""
