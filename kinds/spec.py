"""What one claim kind declares, in one place: file, schema and loader, evaluator, plots, run
cost and Sensitivity rows.

Contents
--------
ClaimKind      : the declaration of one kind; incomplete declarations are refused on creation.
CostModel      : a kind's cold and warm cost per claim, for the run plan.
Plot           : ``f(ClaimResult) -> PNG bytes | None`` (None: the result lacks what it draws).
figures_sensitivity : the Sensitivity rows a result carries in ``figures["sensitivity"]``.
REFERENCE_PARAMS : parameters of the model the costs are calibrated on (smollm2).

A kind is evaluated on each ``--model`` from that model's `fixtures.session.ModelRun` (scope
"model") or once per run from the `fixtures.session.RunSession` (scope "run").
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.result import ClaimResult, InsufficientEvidence, inconclusive_result

SCOPES = ("model", "run")
Plot = Callable[[ClaimResult], "bytes | None"]
Sensitivity = Callable[[ClaimResult], "Mapping[str, str] | None"]

#: smollm2 (SmolLM2-135M-Instruct): the model the seconds below are measured on.
REFERENCE_PARAMS = 134_515_008
#: A claim whose measurements are all cached: statistics and the report only.
WARM_CLAIM_SECONDS = 2.0


@dataclass(frozen=True)
class CostModel:
    """Seconds one claim of a kind takes, for the run plan (`fixtures.plan`).

    Attributes
    ----------
    cold_seconds : float
        One claim with nothing cached, on the reference model (`REFERENCE_PARAMS`) and machine
        (`fixtures.plan.REFERENCE_GFLOPS`).
    scale_exponent : float
        Seconds grow as ``(parameters / REFERENCE_PARAMS) ** scale_exponent``.
    cache_kinds : tuple of str
        Activation-cache entry kinds (``key.capture.kind``) that hold a claim's finished
        measurement; ``entries_per_claim`` of them make one claim warm. Empty: never cached.
    entries_per_claim : int
    needs_model_captures : bool
        The claim reads the model's captures and its controls' (paid once per model, shared by
        every such claim: `fixtures.plan.MODEL_CAPTURES_SECONDS`).
    """

    cold_seconds: float
    scale_exponent: float = 1.0
    cache_kinds: tuple[str, ...] = ()
    entries_per_claim: int = 1
    needs_model_captures: bool = False

    def __post_init__(self) -> None:
        if not (self.cold_seconds >= 0 and self.scale_exponent >= 0 and self.entries_per_claim >= 1):
            raise ValueError(f"CostModel: `cold_seconds` and `scale_exponent` must be >= 0 and "
                             f"`entries_per_claim` >= 1, got {self}")

    def seconds(self, n_claims: int, *, scale: float, cached: Mapping[str, int]) -> float:
        """Seconds for `n_claims` claims of this kind on a model `scale` times the reference's
        size, given the cache's entry counts by kind (`cached`).

        Examples
        --------
        >>> CostModel(100.0, 1.0, ("h5",)).seconds(2, scale=2.0, cached={"h5": 1})
        202.0
        """
        done = sum(cached.get(k, 0) for k in self.cache_kinds) // self.entries_per_claim
        warm = min(n_claims, done) if self.cache_kinds else 0
        return (n_claims - warm) * self.cold_seconds * scale ** self.scale_exponent + warm * WARM_CLAIM_SECONDS


def figures_sensitivity(result: ClaimResult) -> Mapping[str, str] | None:
    """``result.figures["sensitivity"]``: the claim's verdict under its own criteria on the
    trained model (``"trained"``) and on each control model (twins), when it measured them."""
    rows = result.figures.get("sensitivity")
    return rows if isinstance(rows, Mapping) and rows else None


@dataclass(frozen=True)
class ClaimKind:
    """One kind of claim file, declared whole.

    Attributes
    ----------
    name : str
        Recorded in each result (``ClaimResult.kind``).
    file_name : str
        ``<slug>/<file_name>`` under a claims directory is a claim of this kind.
    description : str
    scope : "model" or "run"
    load : callable(Path) -> claim
        The schema: validates the file, raises `evaluation.schema.ClaimFileError` listing every problem.
    evaluate : callable(claim, ModelRun | RunSession) -> ClaimResult
        Raises `evaluation.result.InsufficientEvidence` when the data cannot decide.
    plots : tuple of (title, Plot)
        Every plot a card of this kind can carry (at least one).
    cost : CostModel
    sensitivity : callable(ClaimResult) -> mapping or None
        The result's rows in the report's Sensitivity table (condition -> verdict), if any.
    merge_inputs : callable(claim, RunSession) -> {model: JSON payload}, optional
        For "run" kinds: what one run records of each of its models (``--shard``), so that a
        merge of several runs (`cluster.merge`) evaluates the claim across all of them.
    evaluate_merged : callable(claim, inputs, records, *, models, seed) -> ClaimResult, optional
        The claim on the payloads of several runs, by the same rule as `evaluate`.
    """

    name: str
    file_name: str
    description: str
    scope: str
    load: Callable[[Path], Any]
    evaluate: Callable[..., ClaimResult]
    plots: tuple[tuple[str, Plot], ...]
    cost: CostModel
    sensitivity: Sensitivity = figures_sensitivity
    merge_inputs: Callable[..., dict] | None = None
    evaluate_merged: Callable[..., ClaimResult] | None = None

    def __post_init__(self) -> None:
        problems = []
        for field_name in ("name", "file_name", "description"):
            if not isinstance(getattr(self, field_name), str) or not getattr(self, field_name):
                problems.append(f"`{field_name}` must be a non-empty string")
        if self.scope not in SCOPES:
            problems.append(f"`scope` must be one of {SCOPES}, got {self.scope!r}")
        for field_name in ("load", "evaluate", "sensitivity"):
            if not callable(getattr(self, field_name)):
                problems.append(f"`{field_name}` must be callable")
        for field_name in ("merge_inputs", "evaluate_merged"):
            if getattr(self, field_name) is not None and not callable(getattr(self, field_name)):
                problems.append(f"`{field_name}` must be callable or None")
        if (self.merge_inputs is None) != (self.evaluate_merged is None) or (self.merge_inputs and self.scope != "run"):
            problems.append("`merge_inputs` and `evaluate_merged` go together, on a \"run\" kind")
        if (not isinstance(self.plots, tuple) or not self.plots
                or not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and callable(p[1])
                           for p in self.plots)):
            problems.append("`plots` must be a non-empty tuple of (title, function) pairs")
        if not isinstance(self.cost, CostModel):
            problems.append(f"`cost` must be a CostModel, got {type(self.cost).__name__}")
        if problems:
            raise TypeError(f"claim kind {self.name!r} is incomplete: " + "; ".join(problems))

    def judge(self, claim: Any, context: Any, *, model: str) -> ClaimResult:
        """`evaluate`, with `InsufficientEvidence` turned into an "inconclusive" result on `model`
        (too few items or an undefined measure is not a refutation, nor a crash), and the
        kind's Sensitivity rows placed in ``figures["sensitivity"]``."""
        try:
            result = self.evaluate(claim, context)
        except InsufficientEvidence as exc:
            result = inconclusive_result(claim, model, self.name, exc)
        rows = self.sensitivity(result)
        if rows:
            result.figures = {**result.figures, "sensitivity": dict(rows)}
        return result
