"""stats.estimands: Storey's pi1 by hand, Bonferroni over features, bootstrap intervals and their
coverage in a small simulation, and the paired difference behind the control rule."""
import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as ss

import stats.estimands as est
from stats.estimands import (
    bootstrap_indices,
    component_pvalue,
    effect_summary,
    pair_bootstrap,
    paired_difference,
    storey_pi0,
    storey_pi1,
)
from stats.tests import mann_whitney


def test_doctests():
    assert doctest.testmod(est).failed == 0


def hand_pi0(p, lam):
    """Storey (2002), eq. 6, written out for one list of p-values."""
    above = sum(1 for v in p if v > lam)
    return min(1.0, above / ((1 - lam) * len(p)))


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 0.8])
def test_pi0_matches_a_hand_computation(lam):
    rng = np.random.default_rng(3)
    p = np.r_[rng.uniform(size=70), rng.uniform(0, 0.01, size=30)]
    assert float(storey_pi0(p, lambda_=lam)) == pytest.approx(hand_pi0(p, lam), rel=1e-12)
    assert float(storey_pi1(p, lambda_=lam)) == pytest.approx(1 - hand_pi0(p, lam), rel=1e-12)


def test_pi0_is_vectorized_over_leading_axes_and_ignores_nan():
    p = np.array([[0.9, 0.8, 0.01, np.nan], [0.01, 0.02, 0.03, 0.04]])
    np.testing.assert_allclose(storey_pi0(p), [min(1, 2 / (0.5 * 3)), 0.0])
    assert np.isnan(storey_pi0([np.nan, np.nan]))


def test_pi1_estimates_the_planted_share_with_strong_effects():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((60, 400)), rng.standard_normal((60, 400))
    a[:, :100] += 1.5
    assert float(storey_pi1(mann_whitney(a, b).pvalue)) == pytest.approx(0.25, abs=0.08)


@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1)), st.floats(0, 0.95))
def test_pi1_lies_in_the_unit_interval(p, lam):
    value = float(storey_pi1(p, lambda_=lam))
    assert 0.0 <= value <= 1.0


def test_lambda_is_validated():
    with pytest.raises(ValueError, match="lambda_"):
        storey_pi0([0.5], lambda_=1.0)


def test_component_pvalue_is_bonferroni_over_features():
    p = np.array([[0.01, 0.5, np.nan], [0.2, 0.3, np.nan], [0.04, 0.6, np.nan]])
    out = component_pvalue(p)
    np.testing.assert_allclose(out[:2], [0.03, 0.9])
    assert np.isnan(out[2])


def test_effect_summary_by_hand():
    s = effect_summary([[0.1, -0.9, 1.2, np.nan], [0.0, 0.0, 2.0, 3.0]], min_effect=1.0)
    np.testing.assert_allclose(s["median_abs_effect"], [0.9, 1.0])
    np.testing.assert_allclose(s["share_large_effect"], [1 / 3, 0.5])


def test_same_seed_same_pairs_gives_a_paired_bootstrap():
    np.testing.assert_array_equal(bootstrap_indices(20, 5, rng=1), bootstrap_indices(20, 5, rng=1))
    x = np.random.default_rng(0).normal(size=40)
    one = pair_bootstrap(40, lambda i: {"m": x[i].mean()}, n_boot=100, rng=1)
    two = pair_bootstrap(40, lambda i: {"m": x[i].mean() - 0.1}, n_boot=100, rng=1)
    diff = paired_difference(one, two, "m")
    assert diff.paired and diff.estimate == pytest.approx(0.1)
    assert diff.low == pytest.approx(0.1) and diff.high == pytest.approx(0.1)  # no spread at all
    other = pair_bootstrap(40, lambda i: {"m": x[i].mean()}, n_boot=100, rng=2)
    assert not paired_difference(one, other, "m").paired


def test_bootstrap_se_of_a_mean_matches_the_textbook_se():
    x = np.random.default_rng(5).normal(size=200)
    res = pair_bootstrap(200, lambda i: {"m": x[i].mean()}, n_boot=2000, rng=0)
    assert res.se("m") == pytest.approx(ss.sem(x), rel=0.08)
    low, high = res.interval("m", 0.9)
    assert res.lower_bound("m", 0.05) == pytest.approx(low)
    assert high - low == pytest.approx(2 * ss.norm.ppf(0.95) * res.se("m"), rel=1e-12)


def test_pi1_interval_covers_the_planted_share_in_a_simulation():
    """60 simulated studies, 200 components (30% non-null, strong effects so that pi1's
    conservative bias is negligible) with a shared factor making components dependent; the
    95% interval must cover 0.3 in >= 51 of 60 (the 0.5th binomial percentile at 95% is 52)."""
    m, n, true_pi1, hits, lower_ok, studies = 200, 40, 0.3, 0, 0, 60
    for s in range(studies):
        rng = np.random.default_rng(s)
        a = rng.standard_normal((n, m)) + 0.5 * rng.standard_normal((n, 1))
        b = rng.standard_normal((n, m)) + 0.5 * rng.standard_normal((n, 1))
        a[:, :int(true_pi1 * m)] += 1.5
        res = pair_bootstrap(n, lambda i, a=a, b=b: {"pi1": storey_pi1(mann_whitney(a[i], b[i]).pvalue)},
                             n_boot=100, rng=s)
        low, high = res.interval("pi1")
        hits += low <= true_pi1 <= high
        lower_ok += res.lower_bound("pi1", 0.05) <= true_pi1
    assert hits >= 51
    assert lower_ok >= 52
