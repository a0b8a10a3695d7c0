"""The attention-knockout kind (``knockout.yaml``): blocking attention edges to the last
position and measuring the answer (P3, after Geva et al. 2023)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.knockout_claim import KnockoutClaim, load_knockout_claim
from evaluation.result import ClaimResult
from kinds.spec import ClaimKind, CostModel
from report.plots_patterns import KNOCKOUT_PLOTS

if TYPE_CHECKING:
    from fixtures.session import ModelRun


def evaluate_knockout(claim: KnockoutClaim, run: ModelRun) -> ClaimResult:
    """Attention knockout on one model's plain recall prompts."""
    from evaluation.knockout_claim import evaluate_knockout as evaluate

    return evaluate(claim, run)


KNOCKOUT = ClaimKind(
    name="attention_knockout", file_name="knockout.yaml",
    description="positive control: blocking attention to the last position changes recall (Geva et al.)",
    scope="model", load=load_knockout_claim, evaluate=evaluate_knockout, plots=KNOCKOUT_PLOTS,
    cost=CostModel(cold_seconds=120.0, scale_exponent=0.8),  # windows x prompts of knockout runs
)
