"""The power table of a component claim: the smallest |d| its run can detect per component.

Contents
--------
power_figures : for a claim's item count, alpha, correction and component count, the smallest
                |Cohen's d| detected with 80% power by one component's test, on all pairs and in
                one cross-validation fold's training pairs.

The tests approximated: Mann-Whitney, Welch and the covariate-adjusted regression by the
two-sample t-test (n pairs per side; Mann-Whitney's efficiency relative to t is 0.955 under
normality, so its figure is slightly optimistic; the regression spends one df on its
covariate), the paired tests by the paired t-test. The correction's per-test level is
`stats.power.per_test_alpha` (Bonferroni level for Holm and for BH with one non-null
component: the conservative figure).
"""
from __future__ import annotations

from typing import Any

from stats.power import min_detectable_effect

POWER = 0.8


def power_figures(claim: Any, n_pairs: int, n_components: int) -> dict[str, Any]:
    """JSON-ready power table of `claim` (a component `Claim`) on `n_pairs` pairs."""
    paired = claim.test in ("paired_t", "wilcoxon_paired")
    n_cov = 1 if claim.test == "covariate_adjusted" else 0
    folds = claim.cv.folds
    train = max(2, n_pairs - -(-n_pairs // folds))  # pairs left when one fold is held out
    kw = {"alpha": claim.alpha, "power": POWER, "paired": paired, "n_tests": max(1, int(n_components)),
          "correction": claim.correction, "n_covariates": n_cov}
    full = min_detectable_effect(n_pairs, **kw) if n_pairs > 2 + n_cov else None
    fold = min_detectable_effect(train, **kw) if train > 2 + n_cov else None
    return {
        "power": POWER,
        "n_pairs": int(n_pairs),
        "design": "paired t" if paired else ("two-sample t, 1 covariate" if n_cov else "two-sample t"),
        "alpha": claim.alpha,
        "correction": claim.correction,
        "components_per_feature": int(n_components),
        "alpha_per_component": full.alpha_per_test if full is not None else None,
        "min_detectable_d": float(full.effect) if full is not None else None,
        "fold_train_pairs": int(train),
        "min_detectable_d_fold": float(fold.effect) if fold is not None else None,
        "claim_min_effect": claim.min_effect,
    }
