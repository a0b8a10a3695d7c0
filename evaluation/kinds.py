"""The one registry of claim kinds: which file is which kind, how it loads, how it is evaluated.

Contents
--------
ClaimKind             : file name, loader, scope ("model" or "run") and evaluator of one kind.
evaluate_component    : H1-H3 style claims on one model's activations, with their controls.
claim_activations     : the activations and arrays a component claim analysed (for exports).
evaluate_intervention : H5 claims (ablation dissociation, causal-tracing localization).
evaluate_agreement    : H4, across every model of the run and earlier runs' evidence.
KINDS                 : the registered kinds, in the order their tests run.
kind_named            : a kind by name (an unknown name lists the known ones).

Adding a kind is one `ClaimKind` entry here (plus its plots in `report.plots`): discovery
(`evaluation.discovery`), test ids and the pytest glue (`hypotheses/test_claims.py`) are one
code path for every kind. A "model" kind is evaluated once per ``--model`` from that model's
`fixtures.session.ModelRun`; a "run" kind once per run from the `fixtures.session.RunSession`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from evaluation.agreement_claim import AgreementClaim, load_agreement_claim
from evaluation.component_claim import Claim, load_claim
from evaluation.intervention_claim import (
    DissociationClaim,
    LocalizationClaim,
    load_intervention_claim,
)
from evaluation.knockout_claim import KnockoutClaim, load_knockout_claim
from evaluation.pattern_claim import PatternClaim, load_pattern_claim
from evaluation.result import ClaimResult, InsufficientEvidence, inconclusive_result

if TYPE_CHECKING:
    from engine.activations import Activations
    from fixtures.session import ModelRun, RunSession

AnyClaim = Union[Claim, DissociationClaim, LocalizationClaim, AgreementClaim, PatternClaim, KnockoutClaim]
SCOPES = ("model", "run")


@dataclass(frozen=True)
class ClaimKind:
    """One kind of claim file.

    Attributes
    ----------
    name : str
        Recorded in each result (``ClaimResult.kind``); the report's plot registry is keyed by it.
    file_name : str
        ``<slug>/<file_name>`` under a claims directory is a claim of this kind.
    load : callable(Path) -> claim
        Validates the file; raises `evaluation.schema.ClaimFileError` listing every problem.
    scope : "model" or "run"
        "model": evaluated on each model, ``evaluate(claim, ModelRun)``; "run": once per run
        across models, ``evaluate(claim, RunSession)``.
    evaluate : callable
        Returns the claim's `ClaimResult`; raises for what is an error, not a verdict, and
        `evaluation.result.InsufficientEvidence` when the data cannot decide (see `judge`).
    description : str
    merge_inputs : callable(claim, RunSession) -> {model: JSON payload}, optional
        For "run" kinds: what one run records of each of its models (``--shard``) so that a
        merge of several runs evaluates the claim across all of them.
    evaluate_merged : callable(claim, inputs, records, *, models, seed) -> ClaimResult, optional
        The claim on the payloads of several runs (`cluster.merge`), by the same rule as `evaluate`.
    """

    name: str
    file_name: str
    load: Callable[[Path], AnyClaim]
    scope: str
    evaluate: Callable[..., ClaimResult]
    description: str
    merge_inputs: Callable[..., dict] | None = None
    evaluate_merged: Callable[..., ClaimResult] | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"claim kind {self.name!r}: `scope` must be one of {SCOPES}, got {self.scope!r}")

    def judge(self, claim: AnyClaim, context: ModelRun | RunSession, *, model: str) -> ClaimResult:
        """`evaluate`, with `InsufficientEvidence` turned into an "inconclusive" result on `model`
        (too few items or an undefined measure is not a refutation, nor a crash)."""
        try:
            return self.evaluate(claim, context)
        except InsufficientEvidence as exc:
            return inconclusive_result(claim, model, self.name, exc)


def evaluate_component(claim: Claim, run: ModelRun) -> ClaimResult:
    """A component claim (H1-H3, H1d) on one model, with the controls the claim lists."""
    from evaluation.components import evaluate_claim
    from evaluation.controls import make_controls

    if claim.tasks is not None:  # the claim's own task set: activations, behaviour and controls on it
        from evaluation.factorial_effects import evaluate_factorial_claim

        run = run.session.model_run(run.name, tasks=claim.tasks,
                                    correct_only=claim.factorial.correct_only if claim.factorial else None)
        if claim.factorial is not None:
            return with_power(claim, evaluate_factorial_claim(claim, run))
    controls = None
    if run.options.controls:
        controls = run.shared("controls", lambda: make_controls(
            run.provider, run.taskset, run.activations, seed=run.options.seed, cache=run.cache))
    return with_power(claim, evaluate_claim(claim, run.activations, behaviour=run.behaviour,
                                            seed=run.options.seed, model=run.name, controls=controls))


def claim_activations(claim: AnyClaim, run: ModelRun) -> tuple[Activations, tuple[str, ...]] | None:
    """The activations and captured arrays a component claim analysed on `run`'s model (its own
    task set and pair subset when it names one, as `evaluate_component` does); None for other kinds."""
    if not isinstance(claim, Claim):
        return None
    if claim.tasks is not None:
        run = run.session.model_run(run.name, tasks=claim.tasks,
                                    correct_only=claim.factorial.correct_only if claim.factorial else None)
    return run.activations, tuple(claim.features)


def with_power(claim: Claim, result: ClaimResult) -> ClaimResult:
    """`result` with its power table (`evaluation.power_table`) in ``figures["power_table"]``."""
    from evaluation.power_table import power_figures

    n_pairs, total = result.figures.get("n_pairs"), result.figures.get("total")
    if isinstance(n_pairs, int) and isinstance(total, int):
        result.figures = {**result.figures, "power_table": power_figures(claim, n_pairs, total)}
    return result


def evaluate_intervention(claim: DissociationClaim | LocalizationClaim, run: ModelRun) -> ClaimResult:
    """An intervention claim (H5a dissociation or H5b localization) on one model.

    Interventions filter prompts themselves (only prompts the model answers correctly, see
    `evaluation.intervention_data`), so they read the activations of every pair.
    """
    from evaluation.dissociation import evaluate_dissociation
    from evaluation.intervention_data import InterventionData
    from evaluation.localization import evaluate_localization

    data = run.shared("intervention_data", lambda: InterventionData(
        run.model, run.taskset, run.all_activations, prompt_format=run.prompt_format, cache=run.cache,
        seed=run.options.seed, progress=run.progress))
    if isinstance(claim, DissociationClaim):
        return evaluate_dissociation(claim, data, model=run.name)
    return evaluate_localization(claim, data, model=run.name)


def evaluate_pattern(claim: PatternClaim, run: ModelRun) -> ClaimResult:
    """A positive control on attention patterns (P1, P2) on one model and its random-weights twins."""
    from evaluation.attention_patterns import evaluate_pattern as evaluate

    return evaluate(claim, run)


def evaluate_knockout(claim: KnockoutClaim, run: ModelRun) -> ClaimResult:
    """Attention knockout (P3) on one model's plain recall prompts."""
    from evaluation.knockout_claim import evaluate_knockout as evaluate

    return evaluate(claim, run)


def evaluate_agreement(claim: AgreementClaim, session: RunSession) -> ClaimResult:
    """H4 on every ``--model`` of the run plus the models of ``--compare-with`` evidence files.

    Raises `evaluation.agreement.NotEnoughModelsError` with fewer than two models (a skip) and
    `evaluation.components.InsufficientPairs` when ``--correct-only`` leaves a model too few pairs.
    """
    from evaluation.agreement import NotEnoughModelsError, bundles_from_records, evaluate_h4
    from evaluation.agreement_inputs import live_bundles

    options = session.options
    if len(options.models) + len(options.compare_with) < 2:  # said before any model is touched
        raise NotEnoughModelsError(f"{claim.id}: the run has one model ({options.models[0]}) and no "
                                   "--compare-with evidence")
    bundles = live_bundles(claim, session)
    if options.compare_with:
        live = {b.name for b in bundles}
        earlier = bundles_from_records(session.earlier_records, claims=sorted(claim.sources))
        bundles += [b for b in earlier if b.name not in live]
    return evaluate_h4(claim, bundles, seed=options.seed)


def agreement_merge_inputs(claim: AgreementClaim, session: RunSession) -> dict:
    """H4's per-model profiles and bootstrap replicates of the run's models (for a merge)."""
    from evaluation.agreement_inputs import shard_inputs

    return shard_inputs(claim, session)


def evaluate_agreement_merged(claim: AgreementClaim, inputs: dict, records: list, *, models: list,
                              seed: int) -> ClaimResult:
    """H4 on the profiles recorded by several runs, by `evaluate_h4` as in one run."""
    from evaluation.agreement_inputs import evaluate_from_inputs

    return evaluate_from_inputs(claim, inputs, records, models=models, seed=seed)


KINDS: tuple[ClaimKind, ...] = (
    ClaimKind("component", "claim.yaml", load_claim, "model", evaluate_component,
              "components (layers, heads, neurons) that differ between the two sides of the pairs"),
    ClaimKind("intervention", "intervention.yaml", load_intervention_claim, "model", evaluate_intervention,
              "causal tests: ablating or restoring components changes the answer"),
    ClaimKind("model_agreement", "model_agreement.yaml", load_agreement_claim, "run", evaluate_agreement,
              "per-layer profiles agree across models", merge_inputs=agreement_merge_inputs,
              evaluate_merged=evaluate_agreement_merged),
    ClaimKind("attention_pattern", "pattern.yaml", load_pattern_claim, "model", evaluate_pattern,
              "positive controls: heads with a known attention pattern (induction, previous token)"),
    ClaimKind("attention_knockout", "knockout.yaml", load_knockout_claim, "model", evaluate_knockout,
              "positive control: blocking last -> subject attention early-to-middle hurts recall (Geva et al.)"),
)


def kind_named(name: str) -> ClaimKind:
    """The registered kind called `name`."""
    for kind in KINDS:
        if kind.name == name:
            return kind
    raise KeyError(f"no claim kind {name!r}; registered: {', '.join(k.name for k in KINDS)}")
