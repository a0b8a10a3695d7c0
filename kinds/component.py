"""The component kind (``claim.yaml``): layers, heads or neurons that differ between the two
sides of the pairs (H1-H3, H1d, the factorial F claims), with the controls the claim lists."""
from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.component_claim import Claim, load_claim
from evaluation.result import ClaimResult
from kinds.spec import ClaimKind, CostModel
from report.plots_components import COMPONENT_PLOTS

if TYPE_CHECKING:
    from engine.activations import Activations
    from fixtures.session import ModelRun


def evaluate_component(claim: Claim, run: ModelRun) -> ClaimResult:
    """A component claim on one model, with the controls the claim lists."""
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


def claim_activations(claim: object, run: ModelRun) -> tuple[Activations, tuple[str, ...]] | None:
    """The activations and captured arrays a component claim analysed on `run`'s model (its own
    task set and pair subset when it names one, as `evaluate_component` does); None for other
    kinds. Used by ``--export parquet``."""
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


COMPONENT = ClaimKind(
    name="component", file_name="claim.yaml",
    description="components (layers, heads, neurons) that differ between the two sides of the pairs",
    scope="model", load=load_claim, evaluate=evaluate_component, plots=COMPONENT_PLOTS,
    # Statistics and the 200-draw permutation null of one claim: 10 s on smollm2 (H1-H3 with every
    # control and H4 on smollm2 and qwen0.5b, cold: 9:14 in all); the shared captures are extra.
    cost=CostModel(cold_seconds=10.0, scale_exponent=0.5, cache_kinds=("permutation-null",),
                   needs_model_captures=True),
)
