"""Exceptions raised by `tasks/`.

Contents
--------
TaskFileError     : a task file or fact table is invalid; lists every problem at once.
LengthMatchError  : a pair's prompts cannot be brought to the same token count.
PromptFormatError : an unknown or impossible prompt format was requested.
"""
from __future__ import annotations

from collections.abc import Sequence


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
        lines = [f"{self.path}: {n} problem{'s' if n != 1 else ''}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class LengthMatchError(ValueError):
    """A pair's shorter prompt could not be padded to the longer one's token count."""


class PromptFormatError(ValueError):
    """An unknown prompt format, or `chat` for a tokenizer that has no chat template."""
