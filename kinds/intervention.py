"""The intervention kind (``intervention.yaml``): causal tests that ablate or restore components
and measure the answer (H5a/H5f double dissociation, H5b causal-tracing localization)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.intervention_claim import (
    DissociationClaim,
    LocalizationClaim,
    load_intervention_claim,
)
from evaluation.result import ClaimResult
from kinds.spec import ClaimKind, CostModel
from report.plots_interventions import INTERVENTION_PLOTS

if TYPE_CHECKING:
    from fixtures.session import ModelRun


def evaluate_intervention(claim: DissociationClaim | LocalizationClaim, run: ModelRun) -> ClaimResult:
    """An intervention claim on one model.

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


INTERVENTION = ClaimKind(
    name="intervention", file_name="intervention.yaml",
    description="causal tests: ablating or restoring components changes the answer",
    scope="model", load=load_intervention_claim, evaluate=evaluate_intervention, plots=INTERVENTION_PLOTS,
    # The mean of H5a, H5f and H5b at two idle cores on smollm2, cold: about 12 min (the runner
    # is at the matmul roofline; H5a's conditions follow its null's draws).
    cost=CostModel(cold_seconds=720.0, scale_exponent=0.8,
                   cache_kinds=("h5a", "h5b", "h5a_causal", "h5b-rome")),
)
