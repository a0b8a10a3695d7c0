"""The model-agreement kind (``model_agreement.yaml``): per-layer profiles agree across models
(H4), evaluated once per run over every ``--model`` and earlier runs' evidence."""
from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.agreement_claim import AgreementClaim, load_agreement_claim
from evaluation.result import ClaimResult
from kinds.spec import ClaimKind, CostModel
from report.plots_agreement import AGREEMENT_PLOTS

if TYPE_CHECKING:
    from fixtures.session import RunSession


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


AGREEMENT = ClaimKind(
    name="model_agreement", file_name="model_agreement.yaml",
    description="per-layer profiles agree across models",
    scope="run", load=load_agreement_claim, evaluate=evaluate_agreement, plots=AGREEMENT_PLOTS,
    merge_inputs=agreement_merge_inputs, evaluate_merged=evaluate_agreement_merged,
    # Reads what the per-model claims cached; the bootstrap over pairs takes seconds.
    cost=CostModel(cold_seconds=10.0, scale_exponent=0.0),
)
