"""Reading and writing task files (YAML).

Contents
--------
load_tasks      : a built-in set by name, or a task file by path -> TaskSet.
load_task_file  : read and validate one YAML task file.
parse_tasks     : validate already-parsed YAML data (reports every problem at once).
dump_tasks      : a TaskSet as YAML text that `load_task_file` reads back identically.

File format::

    name: core                      # optional, default: the file stem
    labels: [recall, reasoning]     # optional, the keys of the two sides
    categories: [my-relation]       # optional, categories added to the known ones
    pairs:
      - id: capital-switzerland
        category: capital
        recall:    {prompt: "What is the capital of Switzerland?", answer: Bern}
        reasoning: {prompt: "If Bern is ... what continent is Bern in?", answer: Europe,
                    aliases: [...]}
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml

from tasks.errors import TaskFileError
from tasks.schema import CATEGORIES, DEFAULT_LABELS, Prompt, TaskPair, TaskSet

TOP_KEYS = ("name", "description", "labels", "categories", "pairs")
SIDE_KEYS = ("prompt", "answer", "aliases")
_RESERVED_PAIR_KEYS = ("id", "category")


def _hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed(keys: tuple[str, ...] | list[str]) -> str:
    return ", ".join(keys)


def _answer_text(value: Any) -> str | None:
    # YAML reads `answer: 47` as an int; accept it, but not bools (`answer: no` -> False).
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _parse_labels(data: dict[str, Any], problems: list[str]) -> tuple[str, str]:
    labels = data.get("labels", list(DEFAULT_LABELS))
    ok = (
        isinstance(labels, list)
        and len(labels) == 2
        and all(isinstance(x, str) and x.strip() for x in labels)
        and labels[0] != labels[1]
        and not set(labels) & set(_RESERVED_PAIR_KEYS)
    )
    if not ok:
        problems.append(
            f"`labels` must be a list of two distinct, non-empty names other than "
            f"'id' and 'category', got {labels!r}"
        )
        return DEFAULT_LABELS
    return (labels[0], labels[1])


def _parse_categories(data: dict[str, Any], problems: list[str]) -> tuple[str, ...]:
    extra = data.get("categories", [])
    if not isinstance(extra, list) or not all(isinstance(c, str) and c.strip() for c in extra):
        problems.append(f"`categories` must be a list of non-empty strings, got {extra!r}")
        return CATEGORIES
    return CATEGORIES + tuple(c for c in extra if c not in CATEGORIES)


def _parse_side(raw: Any, where: str, label: str, problems: list[str]) -> Prompt | None:
    if not isinstance(raw, dict):
        problems.append(
            f"{where}: side '{label}' must be a mapping with keys {_allowed(SIDE_KEYS)} "
            f"(prompt and answer required), got {type(raw).__name__}"
        )
        return None
    n_before = len(problems)
    for key in raw:
        if key not in SIDE_KEYS:
            problems.append(
                f"{where}: side '{label}': unknown key {key!r}{_hint(str(key), SIDE_KEYS)}; "
                f"allowed keys: {_allowed(SIDE_KEYS)}"
            )
    text = raw.get("prompt")
    if "prompt" not in raw:
        problems.append(f"{where}: side '{label}': missing key 'prompt' (the question text)")
    elif not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: side '{label}': empty prompt; expected a non-empty string")
    answer = _answer_text(raw.get("answer"))
    if "answer" not in raw or raw.get("answer") is None:
        problems.append(f"{where}: side '{label}': missing answer; expected a non-empty string")
    elif answer is None:
        problems.append(
            f"{where}: side '{label}': answer must be a non-empty string, got {raw['answer']!r}"
            " (quote it in YAML)"
        )
    aliases_raw = raw.get("aliases", [])
    aliases = [_answer_text(a) for a in aliases_raw] if isinstance(aliases_raw, list) else None
    if aliases is None or any(a is None for a in aliases):
        problems.append(
            f"{where}: side '{label}': `aliases` must be a list of non-empty strings, "
            f"got {aliases_raw!r}"
        )
    if len(problems) > n_before:
        return None
    return Prompt(text.strip(), answer, tuple(aliases), label)  # type: ignore[arg-type]


def _where(index: int, raw: Any) -> str:
    pid = raw.get("id") if isinstance(raw, dict) else None
    return f"pairs[{index}] (id {pid!r})" if isinstance(pid, str) and pid else f"pairs[{index}]"


def parse_tasks(data: Any, *, source: str = "<string>", name: str | None = None) -> TaskSet:
    """Validate parsed YAML `data` and build a TaskSet; raise `TaskFileError` listing all problems.

    Parameters
    ----------
    data : Any
        The result of ``yaml.safe_load`` on a task file.
    source : str
        File name used in error messages and stored as `source_path`.
    name : str, optional
        Name for the set when the data has no ``name:`` key (default: `source`'s stem).

    Examples
    --------
    >>> ts = parse_tasks({"pairs": [{"id": "p", "category": "capital",
    ...     "recall": {"prompt": "What is the capital of Peru?", "answer": "Lima"},
    ...     "reasoning": {"prompt": "If Lima is the capital of Peru and Peru is in South "
    ...                   "America, what continent is Lima in?", "answer": "South America"}}]})
    >>> ts.pairs[0].b.answer
    'South America'
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        raise TaskFileError(
            source,
            [f"the top level must be a mapping with keys {_allowed(TOP_KEYS)} "
             f"('pairs' required), got {type(data).__name__}"],
        )
    for key in data:
        if key not in TOP_KEYS:
            problems.append(
                f"unknown top-level key {key!r}{_hint(str(key), TOP_KEYS)}; "
                f"allowed keys: {_allowed(TOP_KEYS)}"
            )
    labels = _parse_labels(data, problems)
    categories = _parse_categories(data, problems)
    set_name = data.get("name", name if name is not None else Path(source).stem)
    if not isinstance(set_name, str) or not set_name.strip():
        problems.append(f"`name` must be a non-empty string, got {set_name!r}")
        set_name = Path(source).stem
    raw_pairs = data.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        problems.append(f"`pairs` must be a non-empty list of pairs, got {raw_pairs!r:.80}")
        raw_pairs = []

    pair_keys = (*_RESERVED_PAIR_KEYS, *labels)
    first_index: dict[str, int] = {}
    pairs: list[TaskPair] = []
    for index, raw in enumerate(raw_pairs):
        where = _where(index, raw)
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be a mapping with keys {_allowed(pair_keys)}")
            continue
        n_before = len(problems)
        for key in raw:
            if key not in pair_keys:
                problems.append(
                    f"{where}: unknown key {key!r}{_hint(str(key), pair_keys)}; "
                    f"allowed keys: {_allowed(pair_keys)}"
                )
        pid = raw.get("id")
        if not isinstance(pid, str) or not pid.strip():
            problems.append(f"{where}: missing or empty 'id'; expected a non-empty string")
        elif pid in first_index:
            problems.append(
                f"{where}: duplicate id {pid!r} (first used by pairs[{first_index[pid]}]); "
                "ids must be unique"
            )
        else:
            first_index[pid] = index
        category = raw.get("category")
        if not isinstance(category, str) or not category.strip():
            problems.append(
                f"{where}: missing 'category'; expected one of {_allowed(categories)}"
            )
        elif category not in categories:
            problems.append(
                f"{where}: unknown category {category!r}{_hint(category, categories)}; "
                f"expected one of {_allowed(categories)} (or declare it under `categories:`)"
            )
        sides: list[Prompt | None] = []
        for label in labels:
            if label not in raw:
                problems.append(
                    f"{where}: missing side {label!r}; each pair needs both sides "
                    f"{labels[0]!r} and {labels[1]!r}"
                )
                sides.append(None)
            else:
                sides.append(_parse_side(raw[label], where, label, problems))
        if len(problems) == n_before and sides[0] is not None and sides[1] is not None:
            pairs.append(TaskPair(pid, category, sides[0], sides[1]))
    if problems:
        raise TaskFileError(source, problems)
    return TaskSet(name=set_name, pairs=tuple(pairs), source_path=source, labels=labels)


def load_task_file(path: str | os.PathLike[str]) -> TaskSet:
    """Read a YAML task file with ``yaml.safe_load`` and validate it (see `parse_tasks`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskFileError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaskFileError(str(path), [f"not valid YAML: {exc}"]) from exc
    return parse_tasks(data, source=str(path), name=path.stem)


def load_tasks(source: str | os.PathLike[str]) -> TaskSet:
    """Load a built-in task set by name, or a task file by path.

    A string containing a path separator or ending in ``.yaml``/``.yml`` is a path;
    any other string is a built-in name (see `tasks.builtin.BUILTIN_SETS`).

    Examples
    --------
    >>> len(load_tasks("core")) >= 30
    True
    """
    # Deferred import: the built-in sets are themselves built with `load_task_file`.
    from tasks.builtin import BUILTIN_SETS, builtin_taskset

    if isinstance(source, str) and not (
        os.sep in source or "/" in source or source.endswith((".yaml", ".yml"))
    ):
        if source in BUILTIN_SETS:
            return builtin_taskset(source)
        if not Path(source).is_file():
            raise TaskFileError(
                source,
                [f"not a built-in task set{_hint(source, tuple(BUILTIN_SETS))} and not a file; "
                 f"built-in sets: {_allowed(tuple(BUILTIN_SETS))}"],
            )
    return load_task_file(source)


def dump_tasks(taskset: TaskSet) -> str:
    """Serialise `taskset` to YAML text in the task-file format (round-trips exactly).

    Examples
    --------
    >>> ts = load_tasks("core")
    >>> parse_tasks(yaml.safe_load(dump_tasks(ts))).sha256 == ts.sha256
    True
    """

    def side(p: Prompt) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": p.text, "answer": p.answer}
        if p.aliases:
            out["aliases"] = list(p.aliases)
        return out

    extra = sorted({p.category for p in taskset.pairs} - set(CATEGORIES))
    doc: dict[str, Any] = {"name": taskset.name, "labels": list(taskset.labels)}
    if extra:
        doc["categories"] = extra
    doc["pairs"] = [
        {"id": p.id, "category": p.category, taskset.labels[0]: side(p.a), taskset.labels[1]: side(p.b)}
        for p in taskset.pairs
    ]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
