"""The SESOI decision rule (`stats.decision`): hand-computed cases, exclusivity, and the n it
needs checked by simulation."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from stats.decision import n_for_sesoi, sesoi_decision


@pytest.mark.parametrize(("est", "lo", "hi", "outcome"), [
    (0.30, 0.10, 0.50, "supported"),     # above 0, estimate >= SESOI
    (0.20, 0.01, 0.39, "supported"),     # estimate exactly at the SESOI
    (0.15, 0.02, 0.40, "inconclusive"),  # above 0 but the estimate is below the SESOI
    (0.05, -0.10, 0.15, "refuted"),      # an effect of the SESOI's size is excluded
    (0.05, 0.01, 0.10, "refuted"),       # a real but negligible effect still refutes
    (0.25, -0.05, 0.55, "inconclusive"), # contains 0 and reaches the SESOI
    (-0.4, -0.6, -0.2, "refuted"),       # the opposite direction
    (np.nan, 0.1, 0.3, "inconclusive"),
    (0.3, np.nan, 0.5, "inconclusive"),
])
def test_rule_by_hand(est, lo, hi, outcome):
    assert sesoi_decision(est, lo, hi, sesoi=0.2).outcome.item() == outcome


def test_an_8_prompt_interval_that_spans_a_large_effect_is_not_refuted():
    # H5f on 8-9 prompts per side: interaction +0.42 with [-1.12, +2.11].
    d = sesoi_decision(0.424, -1.12, 2.11, sesoi=0.1)
    assert d.outcome.item() == "inconclusive" and "contains 0" in d.reason()


def test_vectorized_and_reasons_name_the_deciding_bound():
    d = sesoi_decision([0.3, 0.05], [0.1, -0.1], [0.5, 0.15], sesoi=0.2)
    assert d.outcome.tolist() == ["supported", "refuted"]
    assert "above 0" in d.reason(0) and "upper bound 0.15 < SESOI 0.2" in d.reason(1)


@pytest.mark.parametrize("bad", [0.0, -0.1, np.nan, np.inf])
def test_sesoi_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="`sesoi`"):
        sesoi_decision(0.1, 0.0, 0.2, sesoi=bad)


def test_inverted_interval_is_an_error():
    with pytest.raises(ValueError, match="`ci_low` must not exceed `ci_high`"):
        sesoi_decision(0.1, 0.3, 0.2, sesoi=0.1)


@given(est=st.floats(-5, 5), half_lo=st.floats(0, 5), half_hi=st.floats(0, 5), sesoi=st.floats(0.01, 3))
def test_supported_and_refuted_exclude_each_other(est, half_lo, half_hi, sesoi):
    d = sesoi_decision(est, est - half_lo, est + half_hi, sesoi=sesoi)
    outcome = d.outcome.item()
    if outcome == "supported":
        assert est - half_lo > 0 and est >= sesoi and not est + half_hi < sesoi
    elif outcome == "refuted":
        assert est + half_hi < sesoi and not (est - half_lo > 0 and est >= sesoi)


def test_n_for_sesoi_matches_the_normal_approximation_at_large_n():
    # ((z_.975 + z_.8) * sd / sesoi)^2 for the refutation side; the t correction adds a little.
    approx = ((sps.norm.isf(0.025) + sps.norm.isf(0.2)) * 1.0 / 0.1) ** 2
    n = n_for_sesoi(1.0, 0.1)
    assert approx <= n <= approx * 1.02 + 2


def _decisive_rate(n, true_effect, sesoi, reps, rng):
    x = rng.normal(true_effect, 1.0, size=(reps, n))
    est = x.mean(axis=1)
    half = sps.t.isf(0.025, n - 1) * x.std(axis=1, ddof=1) / np.sqrt(n)
    outcome = sesoi_decision(est, est - half, est + half, sesoi=sesoi).outcome
    wanted = "refuted" if true_effect == 0 else "supported"
    return float(np.mean(outcome == wanted))


def test_n_for_sesoi_gives_the_power_it_promises_in_simulation():
    rng = np.random.default_rng(7)
    sesoi, reps = 0.5, 20_000
    n = n_for_sesoi(1.0, sesoi)
    # at n: both decisions reach 0.8 (3 binomial SEs of slack); at n - 3: the binding one does not
    se = np.sqrt(0.8 * 0.2 / reps)
    assert _decisive_rate(n, 0.0, sesoi, reps, rng) >= 0.8 - 3 * se
    assert _decisive_rate(n, 2 * sesoi, sesoi, reps, rng) >= 0.8 - 3 * se
    assert _decisive_rate(n - 3, 0.0, sesoi, reps, rng) < 0.8


def test_n_for_sesoi_reports_when_the_cap_is_not_enough():
    assert n_for_sesoi(10.0, 0.01, n_max=1000) == 1001
