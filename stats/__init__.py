"""stats: pure, vectorized statistics for circuit-specialization claims.

Data are numpy arrays with samples (prompts) on axis 0 and components on the other axes
(``[P, L]`` layers, ``[P, L, H]`` heads, ``[P, L, N]`` neurons). Effects are always a minus b,
a = recall, b = reasoning. Options are keyword-only; results are frozen dataclasses.

Contents
--------
effect_size    : cohens_d, hedges_g, paired_d (+ ``confidence_interval(level)``).
tests          : mann_whitney, welch_t, paired_t, wilcoxon_paired, permutation_test.
multiple       : adjust_pvalues (fdr_bh, fdr_by, holm, bonferroni, none + aliases).
crossval       : pair_folds, consistency, cross_fit.
regression     : covariate_adjusted_test, covariate_adjusted_two_sample.
specialization : FeatureResult, feature_result, label_components, specialization_table.
monte_carlo    : monte_carlo_pvalue (the one (1 + #extreme) / (1 + n) of every resampling test).
decision       : sesoi_decision (supported / refuted / inconclusive against a SESOI), n_for_sesoi.
"""
from stats.crossval import (
                               ConsistencyResult,
                               CrossFitResult,
                               consistency,
                               cross_fit,
                               pair_folds,
)
from stats.decision import SesoiDecision, n_for_sesoi, sesoi_decision
from stats.effect_size import (
                               ConfidenceInterval,
                               EffectSizeResult,
                               cohens_d,
                               hedges_g,
                               paired_d,
)
from stats.monte_carlo import MonteCarloPValue, monte_carlo_pvalue
from stats.multiple import METHOD_ALIASES, METHODS, adjust_pvalues
from stats.regression import (
                               CovariateTestResult,
                               covariate_adjusted_test,
                               covariate_adjusted_two_sample,
)
from stats.specialization import (
                               LABELS,
                               FeatureResult,
                               feature_result,
                               label_components,
                               specialization_table,
)
from stats.tests import (
                               MannWhitneyResult,
                               PermutationResult,
                               TTestResult,
                               WilcoxonResult,
                               mann_whitney,
                               paired_t,
                               permutation_test,
                               welch_t,
                               wilcoxon_paired,
)

__all__ = [
    "ConfidenceInterval", "EffectSizeResult", "cohens_d", "hedges_g", "paired_d",
    "MannWhitneyResult", "TTestResult", "WilcoxonResult", "PermutationResult",
    "mann_whitney", "welch_t", "paired_t", "wilcoxon_paired", "permutation_test",
    "METHODS", "METHOD_ALIASES", "adjust_pvalues",
    "pair_folds", "consistency", "cross_fit", "ConsistencyResult", "CrossFitResult",
    "CovariateTestResult", "covariate_adjusted_test", "covariate_adjusted_two_sample",
    "MonteCarloPValue", "monte_carlo_pvalue",
    "SesoiDecision", "n_for_sesoi", "sesoi_decision",
    "LABELS", "FeatureResult", "feature_result", "label_components", "specialization_table",
]
