"""What every claim file shares: reading its YAML, and validating fields with named errors.

Contents
--------
ClaimFileError : every problem of one claim file, named with file and key.
read_yaml      : the parsed YAML of a claim file (an unreadable or invalid file is a ClaimFileError).
check_keys     : a mapping's missing and unknown keys, as problems.
field_number   : a number within bounds, or a problem.
field_choice   : one of the allowed values, or a problem.
field_text     : a non-empty string, or a problem.

Every claim kind's loader (`evaluation.component_claim`, `evaluation.intervention_claim`,
`evaluation.agreement_claim`) collects problems with these helpers and raises one
`ClaimFileError` listing them all, so a user fixes a file in one go and every kind words its
problems alike.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml


class ClaimFileError(ValueError):
    """A claim file that cannot be used; `problems` lists every issue found."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid claim file {self.path}:\n{lines}")


def field_number(data: dict, key: str, problems: list[str], *, low: float, high: float,
            closed_low: bool = False, closed_high: bool = False, integer: bool = False) -> Any:
    if key not in data:  # already reported as a missing key
        return None
    value = data.get(key)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        problems.append(f"`{key}` must be {kind}, got {value!r}")
        return None
    ok_low = value >= low if closed_low else value > low
    ok_high = value <= high if closed_high else value < high
    if not (ok_low and ok_high and math.isfinite(value)):
        lo, hi = ("[" if closed_low else "("), ("]" if closed_high else ")")
        problems.append(f"`{key}` must be in {lo}{low:g}, {high:g}{hi}, got {value!r}")
        return None
    return value


def check_keys(data: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...],
          problems: list[str]) -> dict:
    if not isinstance(data, dict):
        problems.append(f"`{where}` must be a mapping with keys {list(required + optional)}, got {data!r}")
        return {}
    for key in required:
        if key not in data:
            problems.append(f"missing key `{where}.{key}`" if where else f"missing key `{key}`")
    unknown = sorted(set(map(str, data)) - set(required) - set(optional))
    for key in unknown:
        name = f"{where}.{key}" if where else key
        problems.append(f"unknown key `{name}`; allowed keys: {', '.join(required + optional)}")
    return data


def field_choice(value: Any, key: str, allowed: tuple[str, ...], problems: list[str]) -> Any:
    if value is None:  # a missing key is reported once, by `_keys`
        return None
    if value not in allowed:
        problems.append(f"`{key}` is {value!r}; allowed: {', '.join(allowed)}")
        return None
    return value


def field_text(data: dict, key: str, problems: list[str]) -> str:
    if key not in data:  # already reported as a missing key
        return ""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"`{key}` must be a non-empty string, got {value!r}")
        return ""
    return value.strip()


def read_yaml(path: Path) -> Any:
    """The parsed YAML of a claim file; an unreadable or invalid file is a `ClaimFileError`."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClaimFileError(path, [f"cannot read the file: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ClaimFileError(path, [f"not valid YAML: {exc}"]) from None
