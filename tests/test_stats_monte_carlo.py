"""stats.monte_carlo: the one (1 + #extreme) / (1 + n) p-value, against hand counts and invariants."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stats.monte_carlo import monte_carlo_pvalue

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def test_hand_counts_per_alternative():
    null = np.array([-3.0, -1.0, 0.5, 1.0, 2.0, np.nan])
    # greater: 1.0, 2.0 reach 1.0 -> (1 + 2) / (1 + 6); the NaN draw counts in n only
    assert monte_carlo_pvalue(null, 1.0).pvalue == pytest.approx(3 / 7)
    # less: -3, -1, 0.5, 1.0 are <= 1.0 -> 5 / 7
    assert monte_carlo_pvalue(null, 1.0, alternative="less").pvalue == pytest.approx(5 / 7)
    # two-sided: |x| >= 1: -3, -1, 1, 2 -> 5 / 7
    assert monte_carlo_pvalue(null, 1.0, alternative="two-sided").pvalue == pytest.approx(5 / 7)
    # the conservative policy counts the undefined draw as extreme: (1 + 3) / 7
    assert monte_carlo_pvalue(null, 1.0, undefined="extreme").pvalue == pytest.approx(4 / 7)


def test_ties_within_tolerance_count_as_extreme():
    null = np.array([1.0 - 1e-13, 0.0])
    assert monte_carlo_pvalue(null, 1.0).pvalue == pytest.approx(1 / 3)
    assert monte_carlo_pvalue(null, 1.0, tie_tol=1e-12).pvalue == pytest.approx(2 / 3)


def test_vectorized_over_components_matches_a_loop():
    rng = np.random.default_rng(0)
    null, observed = rng.normal(size=(50, 3, 4)), rng.normal(size=(3, 4))
    res = monte_carlo_pvalue(null, observed)
    for i in range(3):
        for j in range(4):
            expected = (1 + np.sum(null[:, i, j] >= observed[i, j])) / 51
            assert res.pvalue[i, j] == pytest.approx(expected)
    assert res.n_draws == 50


def test_nan_observed_gives_nan_and_bad_options_are_named():
    assert np.isnan(monte_carlo_pvalue([1.0, 2.0], np.nan).pvalue)
    with pytest.raises(ValueError, match="`alternative`"):
        monte_carlo_pvalue([1.0], 0.0, alternative="bigger")
    with pytest.raises(ValueError, match="`undefined`"):
        monte_carlo_pvalue([1.0], 0.0, undefined="skip")
    with pytest.raises(ValueError, match="`null` must have shape"):
        monte_carlo_pvalue(np.zeros((4, 2)), np.zeros(3))


@given(arrays(float, st.integers(1, 60), elements=finite), finite)
def test_pvalue_is_in_its_lattice_and_never_zero(null, observed):
    res = monte_carlo_pvalue(null, observed)
    p = float(res.pvalue)
    assert 1 / (1 + null.size) <= p <= 1.0
    assert p * (1 + null.size) == pytest.approx(round(p * (1 + null.size)))


@given(arrays(float, st.integers(1, 40), elements=finite), finite, finite)
def test_greater_and_less_are_mirror_images(null, observed, shift):
    greater = monte_carlo_pvalue(null, observed).pvalue
    assert monte_carlo_pvalue(-null, -observed, alternative="less").pvalue == greater
    # shifting null and observed together changes nothing (exact ties aside: keep shift integral)
    s = float(np.round(shift))
    assert monte_carlo_pvalue(np.round(null) + s, np.round(observed) + s).pvalue == \
        monte_carlo_pvalue(np.round(null), np.round(observed)).pvalue


@given(arrays(float, st.integers(1, 40), elements=finite), finite, finite)
def test_monotone_in_the_observed_value(null, a, b):
    low, high = min(a, b), max(a, b)
    assert monte_carlo_pvalue(null, high).pvalue <= monte_carlo_pvalue(null, low).pvalue
