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
    from evaluation.agreement import (
        NotEnoughModelsError,
        baseline_activations,
        bundles_from_records,
        evaluate_h4,
        profiles_from_activations,
    )
    from evaluation.components import InsufficientPairs

    options = session.options
    if len(options.models) + len(options.compare_with) < 2:  # said before any model is touched
        raise NotEnoughModelsError(f"{claim.id}: the run has one model ({options.models[0]}) and no "
                                   "--compare-with evidence")
    needed = max(2 * c.cv.folds for c in claim.sources.values())
    bundles = []
    for name in options.models:
        run = session.model_run(name)
        try:
            acts = run.activations
            if acts.n_pairs < needed:
                raise InsufficientPairs(
                    f"{claim.id}: --correct-only leaves {acts.n_pairs} pairs of {len(run.taskset.pairs)} that "
                    f"{name} answers correctly on both sides; its source claims need at least {needed}")
            bundles.append(profiles_from_activations(acts, claim.sources, seed=options.seed,
                                                     n_boot=claim.n_bootstrap, name=name,
                                                     architecture=run.architecture,
                                                     baseline=baseline_activations(claim, run),
                                                     baseline_contrast=claim.baseline))
        finally:
            run.release()
    if options.compare_with:
        live = {b.name for b in bundles}
        earlier = bundles_from_records(session.earlier_records, claims=sorted(claim.sources))
        bundles += [b for b in earlier if b.name not in live]
    return evaluate_h4(claim, bundles, seed=options.seed)


AGREEMENT = ClaimKind(
    name="model_agreement", file_name="model_agreement.yaml",
    description="per-layer profiles agree across models",
    scope="run", load=load_agreement_claim, evaluate=evaluate_agreement, plots=AGREEMENT_PLOTS,
    # Reads what the per-model claims cached; the bootstrap over pairs takes seconds.
    cost=CostModel(cold_seconds=10.0, scale_exponent=0.0),
)
