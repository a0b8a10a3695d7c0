"""Reading and writing task files (YAML).

Contents
--------
load_tasks      : a built-in set by name, or a task file by path -> TaskSet.
load_task_file  : read and validate one YAML task file.
read_yaml_file  : the parsed YAML of a file, within a size cap and an alias-expansion budget
                  (task files here, claim files in `evaluation.schema`).
parse_tasks     : validate already-parsed YAML data (reports every problem at once).
dump_tasks      : a TaskSet as YAML text that `load_task_file` reads back identically.

Input limits (each exceeded one is a named `TaskFileError` problem)
-------------------------------------------------------------------
MAX_TASK_FILE_BYTES : 8 MiB per task file (the largest built-in file is 17 kB; parsing 8 MiB
                      of YAML takes about 10 s). With aliases expanded, a document may hold no
                      more than twice that many characters (no "billion laughs").
MAX_PAIRS           : 10,000 pairs per file (25 x the largest built-in set). Split a larger
                      file and run each part. This bounds memory: a capture holds
                      2 x MAX_PAIRS prompts of at most `engine.capture.MAX_PROMPT_TOKENS`
                      tokens, and its arrays take 4 bytes x L x (2D + 3N + 5H + 2) per prompt
                      (0.7 MB on smollm2: at most 14 GB; `engine.capture` also refuses
                      arrays larger than half the machine's memory, whatever the model).
MAX_PROMPT_CHARS, MAX_ANSWER_CHARS, MAX_NAME_CHARS : lengths of a prompt, an answer or
                      alias, and of a name, id, category or label.

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

from tasks.errors import TaskFileError, YAMLReadError, shown
from tasks.taskset import CATEGORIES, DEFAULT_LABELS, Prompt, TaskPair, TaskSet

MAX_TASK_FILE_BYTES = 8 * 2**20
MAX_PAIRS = 10_000
MAX_PROMPT_CHARS = 20_000
MAX_ANSWER_CHARS = 200
MAX_NAME_CHARS = 100

TOP_KEYS = ("name", "description", "labels", "categories", "pairs")
SIDE_KEYS = ("prompt", "answer", "aliases")
_RESERVED_PAIR_KEYS = ("id", "category")


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that counts the size of the document with every alias expanded.

    Each composed node weighs 1 plus its scalar's length or its children's weights; an alias
    weighs what its anchored node weighs, so the root's weight is the size of the expanded
    document. Composing stops once it passes `budget`: an alias bomb is refused after reading
    a few nodes, before anything is built from it.
    """

    budget = 2 * MAX_TASK_FILE_BYTES

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._weights: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._weights:
                raise _ExpansionError(f"alias *{shown(event.anchor, 40)} refers to a node that contains it "
                                      f"(line {event.start_mark.line + 1}); recursive aliases are not allowed")
        node = super().compose_node(parent, index)
        weight = self._weights.get(id(node))
        if weight is None:
            if isinstance(node, yaml.ScalarNode):
                weight = 1 + len(node.value)
            elif isinstance(node, yaml.SequenceNode):
                weight = 1 + sum(self._weights[id(child)] for child in node.value)
            else:
                weight = 1 + sum(self._weights[id(k)] + self._weights[id(v)] for k, v in node.value)
            self._weights[id(node)] = weight
        if weight > self.budget:
            raise _ExpansionError(
                f"with its aliases expanded the document exceeds {self.budget:,} characters "
                f"(at line {node.start_mark.line + 1}); aliases may not expand it past the size limit")
        return node


class _ExpansionError(Exception):
    """Raised by `_BoundedLoader` past its budget (turned into a `YAMLReadError`)."""


def read_yaml_file(path: str | os.PathLike[str], *, max_bytes: int) -> Any:
    """The parsed YAML of `path`, read within limits; anything else is a `YAMLReadError`.

    The file must be at most `max_bytes` bytes of UTF-8 text (only that much is ever read), a
    valid single YAML document, nested less deeply than Python's recursion limit, and with its
    aliases expanded no larger than ``2 * max_bytes`` characters (a file without aliases stays
    below that). Each `YAMLReadError.problem` names
    the limit.

    Examples
    --------
    >>> read_yaml_file("tasks/data/core.yaml", max_bytes=MAX_TASK_FILE_BYTES)["name"]  # doctest: +SKIP
    'core'
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            raw = stream.read(max_bytes + 1)
    except OSError as exc:
        raise YAMLReadError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise YAMLReadError(str(path), f"the file is larger than the limit of {max_bytes:,} bytes "
                                       f"({max_bytes / 2**20:g} MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YAMLReadError(str(path), f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                                       "cannot be decoded; save the file as UTF-8") from None
    loader = _BoundedLoader(text)
    loader.budget = 2 * max_bytes  # room for the +1 per node of a plain file; no room for a bomb
    try:
        return loader.get_single_data()
    except _ExpansionError as exc:
        raise YAMLReadError(str(path), str(exc)) from None
    except yaml.YAMLError as exc:
        raise YAMLReadError(str(path), f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YAMLReadError(str(path), "not usable YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML resolves but Python cannot build
        text = str(exc) if len(str(exc)) <= 200 else str(exc)[:200] + "..."
        raise YAMLReadError(str(path), f"not usable YAML: a value cannot be read ({text}); quote it") from None
    finally:
        loader.dispose()


def _hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    # A long word is cut first: difflib's work grows with its length.
    close = difflib.get_close_matches(word[:MAX_NAME_CHARS], list(choices), n=1)
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
        and all(isinstance(x, str) and x.strip() and len(x) <= MAX_NAME_CHARS for x in labels)
        and labels[0] != labels[1]
        and not set(labels) & set(_RESERVED_PAIR_KEYS)
    )
    if not ok:
        problems.append(
            f"`labels` must be a list of two distinct, non-empty names of at most "
            f"{MAX_NAME_CHARS} characters, other than 'id' and 'category', got {shown(labels)}"
        )
        return DEFAULT_LABELS
    return (labels[0], labels[1])


def _parse_categories(data: dict[str, Any], problems: list[str]) -> tuple[str, ...]:
    extra = data.get("categories", [])
    if not isinstance(extra, list) or not all(isinstance(c, str) and c.strip() and len(c) <= MAX_NAME_CHARS
                                              for c in extra):
        problems.append(f"`categories` must be a list of non-empty strings of at most {MAX_NAME_CHARS} "
                        f"characters, got {shown(extra)}")
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
                f"{where}: side '{label}': unknown key {shown(key)}{_hint(str(key), SIDE_KEYS)}; "
                f"allowed keys: {_allowed(SIDE_KEYS)}"
            )
    text = raw.get("prompt")
    if "prompt" not in raw:
        problems.append(f"{where}: side '{label}': missing key 'prompt' (the question text)")
    elif not isinstance(text, str) or not text.strip():
        problems.append(f"{where}: side '{label}': empty prompt; expected a non-empty string")
    elif len(text) > MAX_PROMPT_CHARS:
        problems.append(f"{where}: side '{label}': the prompt has {len(text):,} characters; "
                        f"at most {MAX_PROMPT_CHARS:,} are allowed")
    answer = _answer_text(raw.get("answer"))
    if "answer" not in raw or raw.get("answer") is None:
        problems.append(f"{where}: side '{label}': missing answer; expected a non-empty string")
    elif answer is None:
        problems.append(
            f"{where}: side '{label}': answer must be a non-empty string, got {shown(raw['answer'])}"
            " (quote it in YAML)"
        )
    aliases_raw = raw.get("aliases", [])
    aliases = [_answer_text(a) for a in aliases_raw] if isinstance(aliases_raw, list) else None
    if aliases is None or any(a is None for a in aliases):
        problems.append(
            f"{where}: side '{label}': `aliases` must be a list of non-empty strings, "
            f"got {shown(aliases_raw)}"
        )
    elif any(len(a) > MAX_ANSWER_CHARS for a in [answer or "", *aliases]):
        problems.append(f"{where}: side '{label}': an answer or alias is longer than "
                        f"{MAX_ANSWER_CHARS} characters")
    if len(problems) > n_before:
        return None
    return Prompt(text.strip(), answer, tuple(aliases), label)  # type: ignore[arg-type]


def _where(index: int, raw: Any) -> str:
    pid = raw.get("id") if isinstance(raw, dict) else None
    return f"pairs[{index}] (id {shown(pid)})" if isinstance(pid, str) and pid else f"pairs[{index}]"


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
                f"unknown top-level key {shown(key)}{_hint(str(key), TOP_KEYS)}; "
                f"allowed keys: {_allowed(TOP_KEYS)}"
            )
    labels = _parse_labels(data, problems)
    categories = _parse_categories(data, problems)
    set_name = data.get("name", name if name is not None else Path(source).stem)
    if not isinstance(set_name, str) or not set_name.strip() or len(set_name) > MAX_NAME_CHARS:
        problems.append(f"`name` must be a non-empty string of at most {MAX_NAME_CHARS} characters, "
                        f"got {shown(set_name)}")
        set_name = Path(source).stem
    raw_pairs = data.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        problems.append(f"`pairs` must be a non-empty list of pairs, got {shown(raw_pairs)}")
        raw_pairs = []
    elif len(raw_pairs) > MAX_PAIRS:
        # Checked before any pair is read: memory stays bounded (see the module doc).
        raise TaskFileError(source, [*problems, f"`pairs` has {len(raw_pairs):,} pairs; a task file may hold "
                                     f"at most {MAX_PAIRS:,}: split it into files of at most {MAX_PAIRS:,} "
                                     "pairs and run each"])

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
                    f"{where}: unknown key {shown(key)}{_hint(str(key), pair_keys)}; "
                    f"allowed keys: {_allowed(pair_keys)}"
                )
        pid = raw.get("id")
        if not isinstance(pid, str) or not pid.strip():
            problems.append(f"{where}: missing or empty 'id'; expected a non-empty string")
        elif len(pid) > MAX_NAME_CHARS or not pid.isprintable():
            problems.append(f"{where}: 'id' must be printable and at most {MAX_NAME_CHARS} characters")
        elif pid in first_index:
            problems.append(
                f"{where}: duplicate id {shown(pid)} (first used by pairs[{first_index[pid]}]); "
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
                f"{where}: unknown category {shown(category)}{_hint(category, categories)}; "
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
    """Read a YAML task file within the input limits (see the module doc) and validate it
    (see `parse_tasks`); every problem is a `TaskFileError` naming the file."""
    path = Path(path)
    try:
        data = read_yaml_file(path, max_bytes=MAX_TASK_FILE_BYTES)
    except YAMLReadError as exc:
        raise TaskFileError(str(path), [exc.problem]) from None
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
