"""What every claim file shares: reading its YAML, and validating fields with named errors.

Contents
--------
ClaimFileError : every problem of one claim file, named with file and key.
load_claim_file : the one skeleton every kind's loader runs (read, keys, texts, fields, one error).
read_yaml      : the parsed YAML of a claim file (an unreadable or invalid file is a ClaimFileError).
check_keys     : a mapping's missing and unknown keys, as problems.
field_number   : a finite number within bounds, or a problem.
field_choice   : one of the allowed values, or a problem.
field_text     : a non-empty string of bounded length, or a problem.
claim_texts    : id, title, statement, notes and reported: the fields every kind shows in the report.
shipped_claims_dir : where the shipped claims are (the `hypotheses` package directory).
sibling_claim_path : a claim a claim refers to by its folder name (H5a's selection claim).

Every claim kind's loader (`evaluation.component_claim`, `evaluation.intervention_claim`,
`evaluation.agreement_claim`, `evaluation.pattern_claim`, `evaluation.knockout_claim`) is
`load_claim_file` with the kind's keys and field parser: problems are collected with these
helpers and raised as one `ClaimFileError` listing them all, so a user fixes a file in one go
and every kind words its problems alike.

Input limits: a claim file is at most `MAX_CLAIM_FILE_BYTES` (1 MiB) of UTF-8 YAML whose aliases
cannot expand it past twice that (`tasks.loader.read_yaml_file`); what reaches the report or a
file name is bounded (`MAX_ID_CHARS`, `MAX_TITLE_CHARS`, `MAX_STATEMENT_CHARS`,
`MAX_NOTES_CHARS`, `MAX_REPORTED_CHARS`); and a message shows a user's value cut to
`tasks.errors.SHOWN_CHARS` characters (`shown`), never whole.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tasks.errors import YAMLReadError, problem_lines, shown
from tasks.loader import read_yaml_file

MAX_CLAIM_FILE_BYTES = 2**20
MAX_ID_CHARS = 64
MAX_TITLE_CHARS = 200
MAX_STATEMENT_CHARS = 2_000
MAX_NOTES_CHARS = 4_000
#: Characters of the `reported` mapping's repr (the study's figures shown beside the measured ones).
MAX_REPORTED_CHARS = 10_000

T = TypeVar("T")
Keys = tuple[tuple[str, ...], tuple[str, ...]]


class ClaimFileError(ValueError):
    """A claim file that cannot be used; `problems` lists every issue found."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        lines = "\n".join(problem_lines(self.problems))
        super().__init__(f"invalid claim file {self.path}:\n{lines}")


def field_number(data: dict, key: str, problems: list[str], *, low: float, high: float,
            closed_low: bool = False, closed_high: bool = False, integer: bool = False) -> Any:
    if key not in data:  # already reported as a missing key
        return None
    value = data.get(key)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        problems.append(f"`{key}` must be {kind}, got {shown(value)}")
        return None
    ok_low = value >= low if closed_low else value > low
    ok_high = value <= high if closed_high else value < high
    if not (ok_low and ok_high and math.isfinite(value)):
        lo, hi = ("[" if closed_low else "("), ("]" if closed_high else ")")
        problems.append(f"`{key}` must be in {lo}{low:g}, {high:g}{hi}, got {shown(value)}")
        return None
    return value


def check_keys(data: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...],
          problems: list[str]) -> dict:
    if not isinstance(data, dict):
        problems.append(f"`{where}` must be a mapping with keys {list(required + optional)}, got {shown(data)}")
        return {}
    for key in required:
        if key not in data:
            problems.append(f"missing key `{where}.{key}`" if where else f"missing key `{key}`")
    unknown = sorted(set(map(str, data)) - set(required) - set(optional))
    for key in unknown:
        key = key if len(key) <= MAX_ID_CHARS else key[:MAX_ID_CHARS] + "..."
        name = f"{where}.{key}" if where else key
        problems.append(f"unknown key `{name}`; allowed keys: {', '.join(required + optional)}")
    return data


def field_choice(value: Any, key: str, allowed: tuple[str, ...], problems: list[str]) -> Any:
    if value is None:  # a missing key is reported once, by `_keys`
        return None
    if value not in allowed:
        problems.append(f"`{key}` is {shown(value)}; allowed: {', '.join(allowed)}")
        return None
    return value


def field_text(data: dict, key: str, problems: list[str], *, max_chars: int = MAX_STATEMENT_CHARS) -> str:
    if key not in data:  # already reported as a missing key
        return ""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"`{key}` must be a non-empty string, got {shown(value)}")
        return ""
    if len(value.strip()) > max_chars:
        problems.append(f"`{key}` has {len(value.strip()):,} characters; at most {max_chars:,} are allowed")
        return ""
    return value.strip()


def field_id(data: dict, problems: list[str]) -> str:
    """The claim id: printable (no newline or control character), at most `MAX_ID_CHARS` long.

    It names the test, the report's rows and (through `report.evidence.file_slug`) files.
    """
    value = field_text(data, "id", problems, max_chars=MAX_ID_CHARS)
    if value and not value.isprintable():
        problems.append(f"`id` must be printable text (no newline, tab or control character), got {shown(value)}")
        return ""
    return value


def claim_texts(data: dict, problems: list[str]) -> dict[str, Any]:
    """``id``, ``title``, ``statement``, ``notes`` and ``reported`` of any claim kind, each bounded.

    Examples
    --------
    >>> problems = []
    >>> claim_texts({"id": "H9", "title": "t" * 500, "statement": "s"}, problems)["id"]
    'H9'
    >>> problems
    ['`title` has 500 characters; at most 200 are allowed']
    """
    out: dict[str, Any] = {"id": field_id(data, problems),
                           "title": field_text(data, "title", problems, max_chars=MAX_TITLE_CHARS),
                           "statement": field_text(data, "statement", problems, max_chars=MAX_STATEMENT_CHARS)}
    notes = data.get("notes", "")
    # Bounded: `read_yaml` refuses documents whose aliases expand past the file size limit.
    notes = notes if isinstance(notes, str) else str(notes)
    if len(notes) > MAX_NOTES_CHARS:
        problems.append(f"`notes` has {len(notes):,} characters; at most {MAX_NOTES_CHARS:,} are allowed")
        notes = ""
    out["notes"] = notes
    reported = data.get("reported", {})
    if not isinstance(reported, dict):
        problems.append(f"`reported` must be a mapping of the study's figures (may be empty: {{}}), "
                        f"got {shown(reported)}")
        reported = {}
    elif len(repr(reported)) > MAX_REPORTED_CHARS:
        problems.append(f"`reported` takes {len(repr(reported)):,} characters; at most {MAX_REPORTED_CHARS:,} "
                        "are allowed")
        reported = {}
    out["reported"] = reported
    return out


def read_yaml(path: Path) -> Any:
    """The parsed YAML of a claim file; an unreadable, oversized, non-UTF-8 or invalid file, or
    one whose aliases expand it past the limit, is a `ClaimFileError` naming the limit."""
    try:
        return read_yaml_file(path, max_bytes=MAX_CLAIM_FILE_BYTES)
    except YAMLReadError as exc:
        raise ClaimFileError(path, [exc.problem]) from None


def shipped_claims_dir() -> Path:
    """The ``hypotheses/`` package directory (a checkout's or an installed wheel's).

    Found from the package's import spec, so nothing is imported (no test module runs).
    """
    import importlib.util

    spec = importlib.util.find_spec("hypotheses")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the `hypotheses` package (the shipped claims) is not importable")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def sibling_claim_path(claim_file: Path, folder: str, file_name: str = "claim.yaml") -> Path:
    """The claim ``<folder>/<file_name>`` next to `claim_file`'s folder, else the shipped one.

    A user's intervention claim may select components with a claim of its own directory or with
    a shipped one (``selection.claim: h2_heads``).
    """
    beside = Path(claim_file).resolve().parent.parent / folder / file_name
    return beside if beside.is_file() else shipped_claims_dir() / folder / file_name


def load_claim_file(path: str | Path, *, keys: Keys | Callable[[dict, list[str]], Keys],
                    parse: Callable[[dict, Path, list[str]], dict[str, Any]],
                    build: Callable[..., T]) -> T:
    r"""Load one claim file of any kind: the skeleton every kind's loader runs.

    Reads the YAML (bounded, `read_yaml`), requires a non-empty mapping, checks its keys
    (`keys` is ``(required, optional)``, or a function of the data and the problem list for a
    kind whose keys depend on a field), reads the texts every kind shows (`claim_texts`) and
    the kind's own fields (``parse(data, path, problems)``), and raises one `ClaimFileError`
    listing every problem; else returns ``build(path=..., **texts, **fields)``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "claim.yaml"
    >>> _ = f.write_text("id: X1\ntitle: t\nstatement: s\nn: 0\n")
    >>> try:
    ...     load_claim_file(f, keys=(("id", "title", "statement", "n"), ()), build=dict,
    ...                     parse=lambda d, p, problems: {"n": field_number(d, "n", problems, low=0, high=9)})
    ... except ClaimFileError as exc:
    ...     print(exc.problems)
    ['`n` must be in (0, 9), got 0']
    """
    path = Path(path)
    data = read_yaml(path)
    if data is None or data == {}:
        raise ClaimFileError(path, ["the file is empty"])
    problems: list[str] = []
    required, optional = keys(data, problems) if callable(keys) and isinstance(data, dict) else (
        keys if not callable(keys) else ((), ()))
    if not isinstance(data, dict):
        raise ClaimFileError(path, [f"the file must be a mapping with keys {list(required + optional)}, "
                                    f"got {shown(data)}"])
    check_keys(data, "", required, optional, problems)
    fields: dict[str, Any] = {"path": path, **claim_texts(data, problems)}
    fields.update(parse(data, path, problems))
    if problems:
        raise ClaimFileError(path, problems)
    return build(**fields)

