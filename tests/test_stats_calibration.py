"""Statistical tests of the library itself: error rates, FDR, power and CI coverage.

Every check uses a fixed seed (so it is deterministic) and a tolerance of three binomial
standard errors around the nominal rate, sqrt(r (1 - r) / N) for N independent trials;
the seeds are not tuned, so a failure means a real miscalibration (or a 0.3% fluke that the
fixed seed turns into a permanent, reproducible result to investigate).
"""
import numpy as np
import pytest
from statsmodels.stats.power import TTestIndPower

from stats.crossval import consistency, pair_folds
from stats.effect_size import cohens_d, hedges_g, paired_d
from stats.multiple import adjust_pvalues
from stats.tests import mann_whitney, paired_t, permutation_test, welch_t, wilcoxon_paired

N_COMPONENTS = 2000
N = 30  # per group, as in the study


def three_se(rate: float, trials: int) -> float:
    return 3.0 * np.sqrt(rate * (1.0 - rate) / trials)


@pytest.fixture(scope="module")
def null_data():
    rng = np.random.default_rng(20240601)
    return rng.normal(size=(N, N_COMPONENTS)), rng.normal(size=(N, N_COMPONENTS))


@pytest.mark.parametrize("fn", [mann_whitney, welch_t, paired_t, wilcoxon_paired])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_raw_rejection_rate_under_the_null_is_alpha(null_data, fn, alpha):
    a, b = null_data
    rate = np.mean(fn(a, b).pvalue < alpha)
    assert abs(rate - alpha) <= three_se(alpha, N_COMPONENTS), f"{fn.__name__}: {rate:.4f}"


def test_bh_under_the_global_null_rarely_discovers_anything():
    # Under the global null FDR = P(any discovery); 100 independent families of 2,000.
    rng = np.random.default_rng(11)
    families = 100
    a = rng.normal(size=(N, families, N_COMPONENTS)).astype(np.float32)
    b = rng.normal(size=(N, families, N_COMPONENTS)).astype(np.float32)
    p = welch_t(a, b).pvalue
    discoveries = np.stack([adjust_pvalues(row, method="fdr_bh") < 0.05 for row in p])
    assert discoveries.mean() <= 0.05  # fraction of discoveries: essentially zero
    any_rate = discoveries.any(axis=1).mean()
    assert any_rate <= 0.05 + three_se(0.05, families), f"P(any discovery) = {any_rate:.3f}"


def test_bh_controls_the_false_discovery_proportion_with_planted_effects():
    rng = np.random.default_rng(12)
    families, n_true = 50, 200
    a = rng.normal(size=(N, families, N_COMPONENTS))
    b = rng.normal(size=(N, families, N_COMPONENTS))
    a[:, :, :n_true] += 1.0
    p = mann_whitney(a, b).pvalue
    fdp, power = [], []
    for row in p:
        found = adjust_pvalues(row, method="bh") < 0.05
        fdp.append(found[n_true:].sum() / max(found.sum(), 1))
        power.append(found[:n_true].mean())
    # expected FDR = q * m0 / m = 0.045; per-family FDP has SD < 0.03, so 3 SE < 0.013
    assert np.mean(fdp) <= 0.045 + 0.013, f"mean FDP {np.mean(fdp):.4f}"
    assert np.mean(power) > 0.6


def test_power_is_high_for_d_1_5_with_30_per_group():
    rng = np.random.default_rng(13)
    a, b = rng.normal(1.5, 1.0, size=(N, N_COMPONENTS)), rng.normal(size=(N, N_COMPONENTS))
    for fn in (mann_whitney, welch_t):
        p = fn(a, b).pvalue
        assert np.mean(p < 0.05) >= 0.99, fn.__name__
        assert np.mean(adjust_pvalues(p, method="fdr_bh") < 0.05) >= 0.99, fn.__name__
    pairs_a = b + rng.normal(1.5, 1.0, size=b.shape)  # d_z = 1.5
    assert np.mean(wilcoxon_paired(pairs_a, b).pvalue < 0.05) >= 0.99


def test_welch_power_matches_noncentral_t_theory():
    rng = np.random.default_rng(14)
    a, b = rng.normal(0.8, 1.0, size=(N, 4000)), rng.normal(size=(N, 4000))
    expected = TTestIndPower().power(0.8, N, 0.05, ratio=1.0)  # ~0.86
    observed = np.mean(welch_t(a, b).pvalue < 0.05)
    assert abs(observed - expected) <= three_se(expected, 4000), (observed, expected)


@pytest.mark.parametrize("true_d", [0.0, 0.5, 1.5])
def test_effect_size_intervals_cover_the_true_value_95_percent(true_d):
    rng = np.random.default_rng(15)
    a, b = rng.normal(true_d, 1.0, size=(N, N_COMPONENTS)), rng.normal(size=(N, N_COMPONENTS))
    tol = three_se(0.95, N_COMPONENTS)
    for fn in (cohens_d, hedges_g):
        ci = fn(a, b).confidence_interval(0.95)
        coverage = np.mean((ci.low <= true_d) & (true_d <= ci.high))
        assert abs(coverage - 0.95) <= tol, f"{fn.__name__}: {coverage:.4f}"
    diffs_a = b + rng.normal(true_d, 1.0, size=b.shape)  # d_z = true_d
    ci = paired_d(diffs_a, b).confidence_interval(0.95)
    coverage = np.mean((ci.low <= true_d) & (true_d <= ci.high))
    assert abs(coverage - 0.95) <= tol, f"paired_d: {coverage:.4f}"


def test_permutation_pvalues_and_max_t_fwer_are_calibrated():
    rng = np.random.default_rng(16)
    runs, comps = 200, 50
    rejections, family_errors = [], []
    for seed in range(runs):
        a, b = rng.normal(size=(12, comps)), rng.normal(size=(12, comps))
        res = permutation_test(a, b, paired=True, n_resamples=199, rng=seed)
        rejections.append(np.mean(res.pvalue < 0.05))
        family_errors.append(np.any(res.fwer_pvalue() < 0.05))
    assert abs(np.mean(rejections) - 0.05) <= three_se(0.05, runs * comps)
    assert np.mean(family_errors) <= 0.05 + three_se(0.05, runs)


def test_label_permutation_rejection_rate_under_the_null():
    rng = np.random.default_rng(17)
    a, b = rng.normal(size=(12, N_COMPONENTS)), rng.normal(size=(12, N_COMPONENTS))
    res = permutation_test(a, b, n_resamples=999, rng=1)
    assert abs(np.mean(res.pvalue < 0.05) - 0.05) <= three_se(0.05, N_COMPONENTS)


def test_fold_consistency_separates_null_from_planted_components():
    rng = np.random.default_rng(18)
    a, b = rng.normal(size=(N, N_COMPONENTS)), rng.normal(size=(N, N_COMPONENTS))
    a[:, :200] += 1.5
    res = consistency(a, b, pair_folds(N, 5, rng=0), alpha=0.05, min_effect=0.5)
    null_fraction = res.fraction[200:]
    assert np.mean(null_fraction == 1.0) <= 0.05  # passing all 5 folds by chance is rare
    assert np.mean(null_fraction) <= 0.05 + three_se(0.05, 1800)
    assert np.mean(res.fraction[:200] == 1.0) >= 0.95
