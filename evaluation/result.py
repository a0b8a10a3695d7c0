"""What evaluating one claim on one model produces: the verdict and the evidence behind it.

Contents
--------
VERDICTS      : supported, refuted, confounded (a control explains the result), inconclusive
                (too few items, an undefined measure, nothing selected), error.
InsufficientEvidence : raised by an evaluator when the data cannot decide the claim.
inconclusive_result  : the `ClaimResult` of such a claim.
ComparisonRow : one line of the "study reported | measured here" table.
ControlRow    : one control condition: what it measured, against what, and whether the claim beat it.
ClaimResult   : verdict, message, figures, per-layer profiles for plots, component table;
                `ClaimResult.for_claim` builds one from any kind's claim record.
jsonable      : numpy scalars/arrays (and NaN) as plain JSON values.

`ClaimResult` is the only thing the report layer reads, so evaluation and presentation stay
independent: `to_record()` is the JSON record written to evidence.json.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

VERDICTS = ("supported", "refuted", "confounded", "inconclusive", "error")


class InsufficientEvidence(ValueError):
    """The data cannot decide the claim (too few usable items, an undefined measure, nothing
    selected): the verdict is "inconclusive", never "refuted".

    `figures` carries whatever was measured before the evaluator gave up (counts of usable
    items, per-cell accuracy), so the report still shows why.
    """

    def __init__(self, message: str, *, figures: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.figures = dict(figures or {})


@dataclass(frozen=True)
class ComparisonRow:
    """One figure of the claim: what the study reported beside what this run measured."""

    label: str
    reported: Any
    measured: Any


@dataclass(frozen=True)
class ControlRow:
    """One control condition of a claim, as one row of the card's controls table.

    Attributes
    ----------
    name : str
        What a reader sees, e.g. "random weights (seed 0)".
    control : str
        The control's kind (random_weights, surface_only, length_matched, permutation, random,
        replace), as in the claim file.
    passed : bool or None
        True: the claim beats the control. False: the control explains the result (the verdict
        becomes "confounded", or "refuted" where the control is the test itself). None:
        informational only.
    detail : str
        The numbers behind `passed`, in words.
    count : int or float, optional
        Components specialized under the control (for a permutation: the mean over draws).
    value, reference : float, optional
        The claim's measure under the control, and on the model itself.
    overlap : float, optional
        Share of the model's specialized components that are specialized under the control too.
    pvalue : float, optional
        Where the control is a Monte-Carlo test (label permutation, random component sets).
    extra : mapping, optional
        Numbers particular to one control kind (e.g. ``random_mean``, ``prompts``).
    """

    name: str
    control: str
    passed: bool | None
    detail: str = ""
    count: float | None = None
    value: float | None = None
    reference: float | None = None
    overlap: float | None = None
    pvalue: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict; fields left at None are omitted (a column the row has no value for)."""
        out: dict[str, Any] = {"name": self.name, "control": self.control}
        for key in ("count", "value", "reference"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["passed"] = self.passed
        for key in ("overlap", "pvalue"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out.update(self.extra)
        out["detail"] = self.detail
        return jsonable(out)


@dataclass
class ClaimResult:
    """The outcome of one claim on one model.

    Attributes
    ----------
    claim_id, title, statement, level : str
        From the claim file; `level` is "layer", "head" or "neuron" (or "depth", "model").
    model : str
        Model name as given to ``--model`` (alias or id).
    verdict : str
        One of `VERDICTS`.
    message : str
        Required vs measured, in the claim's own terms ("H1: 7/24 layers specialized (29%),
        required >= 50%").
    thresholds : dict
        alpha, correction, min effect, folds, required consistency, expectation.
    figures : dict
        Every measured number (counts, fractions, lists of layers/heads): JSON-serialisable.
    comparison : list of ComparisonRow
        The "study reported | measured here" table.
    profiles : dict of name -> ndarray
        Arrays for plots, e.g. ``effect`` [L] or [L, H], ``ci_low``/``ci_high`` [L],
        ``specialized`` [L, H] bool, ``frac_recall``/``frac_reasoning`` [L].
    components : pandas.DataFrame or None
        One row per component and feature (written as CSV).
    controls : list of ControlRow
        One row per control condition (empty until controls run).
    behaviour : dict
        Greedy accuracy on the two prompt sides, prompts analysed.
    meta : dict
        Task set, prompt format, model identity, seed, cache status.
    tl_names : dict
        Each component named in `figures` (``"L2H5"``) -> its TransformerLens address
        ``{"hook": "blocks.2.attn.hook_z", "index": 5}`` (`evaluation.component_names`).
    """

    claim_id: str
    title: str
    statement: str
    level: str
    model: str
    verdict: str
    message: str
    thresholds: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    comparison: list[ComparisonRow] = field(default_factory=list)
    profiles: dict[str, np.ndarray] = field(default_factory=dict)
    components: pd.DataFrame | None = None
    controls: list[ControlRow] = field(default_factory=list)
    behaviour: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    kind: str = "component"
    tl_names: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"`verdict` must be one of {VERDICTS}, got {self.verdict!r}")

    @classmethod
    def for_claim(cls, claim: Any, *, model: str, verdict: str, message: str, kind: str,
                  level: str | None = None, meta: Mapping[str, Any] | None = None, **fields: Any) -> ClaimResult:
        """The result of `claim` (any kind's claim record: ``id``, ``title``, ``statement``,
        ``path``) on `model`: its texts, its level (default: the claim's, else the kind) and
        ``meta["claim_file"]`` come from the claim; `fields` are the other attributes.

        Examples
        --------
        >>> from types import SimpleNamespace
        >>> claim = SimpleNamespace(id="H9", title="t", statement="s", path="h9/claim.yaml")
        >>> r = ClaimResult.for_claim(claim, model="tiny", verdict="refuted", message="H9: no", kind="component",
        ...                           level="head", figures={"n": 3})
        >>> r.claim_id, r.level, r.meta["claim_file"], r.figures
        ('H9', 'head', 'h9/claim.yaml', {'n': 3})
        """
        return cls(claim_id=claim.id, title=claim.title, statement=claim.statement,
                   level=level if level is not None else str(getattr(claim, "level", None) or kind),
                   model=model, verdict=verdict, message=message, kind=kind,
                   meta={"claim_file": str(getattr(claim, "path", "")), **(meta or {})}, **fields)

    @property
    def passed(self) -> bool:
        return self.verdict == "supported"

    def to_record(self) -> dict:
        """JSON-ready record (no arrays of components: those go to CSV)."""
        return jsonable({
            "id": self.claim_id,
            "kind": self.kind,
            "title": self.title,
            "statement": self.statement,
            "level": self.level,
            "model": self.model,
            "verdict": self.verdict,
            "message": self.message,
            "thresholds": self.thresholds,
            "figures": self.figures,
            "comparison": [{"label": r.label, "reported": r.reported, "measured": r.measured}
                           for r in self.comparison],
            "profiles": self.profiles,
            "controls": [row.to_record() for row in self.controls],
            "behaviour": self.behaviour,
            "meta": self.meta,
            "tl_names": self.tl_names,
        })


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (and NaN) into plain JSON values (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def inconclusive_result(claim: Any, model: str, kind: str, reason: InsufficientEvidence | str) -> ClaimResult:
    """The "inconclusive" `ClaimResult` of `claim` (any claim record with id, title, statement)
    on `model`, with the reason and any figures the evaluator had measured."""
    figures = dict(reason.figures) if isinstance(reason, InsufficientEvidence) else {}
    figures.setdefault("model", model)
    message = str(reason)
    if not message.startswith(f"{claim.id}:"):
        message = f"{claim.id}: {message}"
    return ClaimResult.for_claim(claim, model=model, verdict="inconclusive", message=message, kind=kind,
                                 figures=figures, meta={"inconclusive_reason": str(reason)})
