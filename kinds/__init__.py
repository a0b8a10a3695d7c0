"""kinds: one declaration per claim kind, and finding claim files of every kind.

A kind is declared whole in one module (`kinds.spec.ClaimKind`): its file name, its schema and
loader, its evaluator, its plots, its run cost and its Sensitivity rows. Discovery, the run
plan, the report and the Sensitivity table read the declaration and nothing else, so adding a
kind is one module (and its test), or, outside the suite, one `pytest_claim_kinds` hook.

This room sits on top of the flow (tasks -> engine -> stats -> evaluation -> report -> kinds):
a declaration ties an evaluator to its plots, so it reaches both sides.

Contents
--------
spec         : ClaimKind, CostModel, figures_sensitivity.
component    : ``claim.yaml`` (H1-H3, H1d, F claims).
intervention : ``intervention.yaml`` (H5a, H5b, H5f).
agreement    : ``model_agreement.yaml`` (H4, once per run).
pattern      : ``pattern.yaml`` (P1, P2).
knockout     : ``knockout.yaml`` (P3).
hookspecs    : ``pytest_claim_kinds``: kinds a plugin adds.
discovery    : every claim file of every kind under some directories; unique ids.
BUILTIN_KINDS, registered_kinds, kind_named : the kinds of a run.
"""
from __future__ import annotations

from collections.abc import Iterable

from kinds.agreement import AGREEMENT
from kinds.component import COMPONENT
from kinds.intervention import INTERVENTION
from kinds.knockout import KNOCKOUT
from kinds.pattern import PATTERN
from kinds.spec import ClaimKind, CostModel

#: The shipped kinds, in the order their tests run.
BUILTIN_KINDS: tuple[ClaimKind, ...] = (COMPONENT, INTERVENTION, AGREEMENT, PATTERN, KNOCKOUT)

__all__ = ["BUILTIN_KINDS", "ClaimKind", "CostModel", "kind_named", "registered_kinds"]


def registered_kinds(config=None) -> tuple[ClaimKind, ...]:
    """The built-in kinds, then those a plugin adds through ``pytest_claim_kinds`` (when
    `config` is a pytest config). Two kinds with one name or one file name are an error."""
    kinds = list(BUILTIN_KINDS)
    if config is not None and hasattr(config.hook, "pytest_claim_kinds"):
        for answer in config.hook.pytest_claim_kinds(config=config):
            kinds.extend(answer or ())
    _check_unique(kinds)
    return tuple(kinds)


def _check_unique(kinds: Iterable[ClaimKind]) -> None:
    names: dict[str, ClaimKind] = {}
    files: dict[str, ClaimKind] = {}
    for kind in kinds:
        if not isinstance(kind, ClaimKind):
            raise TypeError(f"a claim kind must be a kinds.spec.ClaimKind, got {type(kind).__name__}")
        for key, seen in ((kind.name, names), (kind.file_name, files)):
            if key in seen and seen[key] is not kind:
                raise ValueError(f"two claim kinds share {key!r}: {seen[key].name} and {kind.name}")
            seen[key] = kind


def kind_named(name: str, kinds: Iterable[ClaimKind] = BUILTIN_KINDS) -> ClaimKind:
    """The kind called `name` (an unknown name lists the known ones)."""
    kinds = tuple(kinds)
    for kind in kinds:
        if kind.name == name:
            return kind
    raise KeyError(f"no claim kind {name!r}; registered: {', '.join(k.name for k in kinds)}")
