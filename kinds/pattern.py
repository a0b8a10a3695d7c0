"""The attention-pattern kind (``pattern.yaml``): positive controls on heads with a known
attention pattern (P1 induction, P2 previous token), on the model and its twins."""
from __future__ import annotations

from typing import TYPE_CHECKING

from evaluation.pattern_claim import PatternClaim, load_pattern_claim
from evaluation.result import ClaimResult
from kinds.spec import ClaimKind, CostModel
from report.plots_patterns import PATTERN_PLOTS

if TYPE_CHECKING:
    from fixtures.session import ModelRun


def evaluate_pattern(claim: PatternClaim, run: ModelRun) -> ClaimResult:
    """A positive control on attention patterns on one model and its random-weights twins."""
    from evaluation.attention_patterns import evaluate_pattern as evaluate

    return evaluate(claim, run)


PATTERN = ClaimKind(
    name="attention_pattern", file_name="pattern.yaml",
    description="positive controls: heads with a known attention pattern (induction, previous token)",
    scope="model", load=load_pattern_claim, evaluate=evaluate_pattern, plots=PATTERN_PLOTS,
    # Scores on the model and two random-weights twins: 6 CPU-min for P1 and P2 on smollm2; a
    # claim is warm when its three score entries (model and twins) are cached.
    cost=CostModel(cold_seconds=90.0, scale_exponent=0.8, cache_kinds=("attention-pattern",),
                   entries_per_claim=3),
)
