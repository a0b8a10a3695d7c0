"""stats.power against statsmodels' power functions and by properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.power import TTestIndPower, TTestPower

from stats.power import min_detectable_effect, per_test_alpha, power_t


@pytest.mark.parametrize("n", [10, 38, 120, 250])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.001])
def test_unpaired_equals_statsmodels_solve_power(n, alpha):
    ref = TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=alpha, power=0.8, ratio=1.0)
    got = float(min_detectable_effect(n, alpha=alpha).effect)
    assert got == pytest.approx(ref, rel=1e-4)  # statsmodels' root finder stops at ~1e-5
    assert TTestIndPower().power(got, n, alpha) == pytest.approx(0.8, abs=1e-9)


@pytest.mark.parametrize("n", [10, 38, 120])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_paired_equals_statsmodels_solve_power(n, alpha):
    ref = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=0.8)
    got = float(min_detectable_effect(n, alpha=alpha, paired=True).effect)
    assert got == pytest.approx(ref, rel=1e-4)
    assert TTestPower().power(got, n, alpha) == pytest.approx(0.8, abs=1e-9)


def test_unequal_groups_and_one_sided_equal_statsmodels():
    ref = TTestIndPower().solve_power(effect_size=None, nobs1=40, ratio=1.5, alpha=0.01, power=0.9,
                                      alternative="larger")
    got = min_detectable_effect(40, 60, alpha=0.01, power=0.9, alternative="larger").effect
    assert got == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("d, n, alpha", [(1.144, 38, 1e-4), (0.5, 200, 1e-3), (0.3, 500, 1e-3)])
def test_power_equals_statsmodels_where_its_noncentral_t_is_finite(d, n, alpha):
    # statsmodels' power is NaN in parts of the far tail (its solver then stops short): compare
    # the power function itself where it is defined.
    assert float(power_t(d, n, alpha=alpha)) == pytest.approx(TTestIndPower().power(d, n, alpha), rel=1e-6)


def test_small_alpha_solution_has_the_requested_power():
    r = min_detectable_effect(np.array([38, 30, 200]), alpha=1e-4)
    np.testing.assert_allclose(power_t(r.effect, r.n_a, alpha=1e-4), 0.8, atol=1e-8)


def test_per_test_alpha_by_correction():
    assert per_test_alpha(0.05, 4, correction="holm") == pytest.approx(0.0125)
    assert per_test_alpha(0.05, 4, correction="bh") == pytest.approx(0.0125)
    assert per_test_alpha(0.05, 3, correction="fdr_by") == pytest.approx(0.05 / (3 * (1 + 1 / 2 + 1 / 3)))
    with pytest.raises(ValueError, match="`method` must be one of"):
        per_test_alpha(0.05, 3, correction="sidak-ish")
    with pytest.raises(ValueError, match="`n_tests`"):
        per_test_alpha(0.05, 0)
    with pytest.raises(ValueError, match="`alpha`"):
        per_test_alpha(1.5, 3)


def test_covariate_costs_one_degree_of_freedom():
    plain = min_detectable_effect(20, alpha=0.05).effect
    adjusted = min_detectable_effect(20, alpha=0.05, n_covariates=1).effect
    assert adjusted > plain
    assert adjusted == pytest.approx(min_detectable_effect(20, 19.5, alpha=0.05).effect, rel=0.02)


@given(n=st.integers(5, 2000), alpha=st.floats(1e-6, 0.2), power=st.floats(0.5, 0.95))
def test_properties(n, alpha, power):
    r = min_detectable_effect([n, n + 10], alpha=alpha, power=power)
    assert np.all(r.effect > 0)
    assert r.effect[1] < r.effect[0]  # more samples, smaller detectable effect
    stricter = min_detectable_effect(n, alpha=alpha / 10, power=power).effect
    assert stricter > r.effect[0]
    assert float(power_t(r.effect[0], n, alpha=alpha)) == pytest.approx(power, abs=1e-6)
    assert 0.0 <= float(power_t(0.0, n, alpha=alpha)) <= alpha + 1e-12
