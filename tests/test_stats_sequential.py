"""stats.sequential: the Besag-Clifford p-value is valid, decided early when unremarkable, and
more precise near alpha than a fixed 100 draws (simulations with their numbers stated)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stats.monte_carlo import monte_carlo_pvalue
from stats.sequential import besag_clifford_pvalue, monte_carlo_se, sequential_pvalue


def _simulate(observed: np.ndarray, rng: np.random.Generator, *, h: int, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Besag-Clifford p and draws for each observed value against U(0, 1) draws (vectorized
    over replicates, an independent reimplementation of the rule)."""
    draws = rng.random((len(observed), n_max))
    cum = np.cumsum(draws >= observed[:, None], axis=1)
    reached = cum[:, -1] >= h
    stop = np.argmax(cum >= h, axis=1) + 1
    p = np.where(reached, h / stop, (cum[:, -1] + 1) / (n_max + 1))
    return p, np.where(reached, stop, n_max)


def test_hand_computed_values():
    r = besag_clifford_pvalue([0.9, 0.1, 0.8, 0.2, 0.95], 0.7, exceedances=2, max_draws=10)
    assert (r.pvalue, r.n_draws, r.n_extreme, r.stopped_early) == (2 / 3, 3, 2, True)
    r = besag_clifford_pvalue([0.1, 0.9, 0.2], 0.5, exceedances=2, max_draws=3)
    assert (r.pvalue, r.n_draws, r.n_extreme, r.stopped_early) == (0.5, 3, 1, False)  # (1 + 1) / (3 + 1)
    # A tie is extreme, as in monte_carlo_pvalue; a NaN draw too (conservative).
    assert besag_clifford_pvalue([0.5, 0.1], 0.5, exceedances=1, max_draws=5).pvalue == 1.0
    assert besag_clifford_pvalue([np.nan], 0.5, exceedances=1, max_draws=5).pvalue == 1.0


def test_undecided_stream_and_bad_arguments_are_errors():
    with pytest.raises(ValueError, match="neither `exceedances`"):
        besag_clifford_pvalue([0.1, 0.2], 0.5, exceedances=2, max_draws=10)
    with pytest.raises(ValueError, match="`max_draws` must be"):
        besag_clifford_pvalue([0.1], 0.5, exceedances=20, max_draws=10)
    with pytest.raises(ValueError, match="`exceedances` must be"):
        besag_clifford_pvalue([0.1], 0.5, exceedances=0, max_draws=10)
    with pytest.raises(ValueError, match="`observed` must be finite"):
        besag_clifford_pvalue([0.1], np.nan, exceedances=1, max_draws=1)
    with pytest.raises(ValueError, match="`batch` must be"):
        sequential_pvalue(lambda b: np.zeros(b), 0.5, batch=0)


def test_uniform_under_the_null():
    """20,000 replicates, observed and null both U(0,1), h = 20, max 1,000 draws: P(p <= u) is u
    to within 4 binomial standard errors at every level (measured: 0.0108, 0.0494, 0.0987, 0.504
    at u = 0.01, 0.05, 0.1, 0.5, seed 0), and the mean number of draws is small (98)."""
    rng = np.random.default_rng(0)
    reps = 20_000
    p, draws = _simulate(rng.random(reps), rng, h=20, n_max=1000)
    for u in (0.01, 0.05, 0.1, 0.5):
        se = np.sqrt(u * (1 - u) / reps)
        assert abs((p <= u).mean() - u) < 4 * se, (u, (p <= u).mean())
    assert draws.mean() < 150
    assert (p > 0).all() and (p <= 1).all()


def test_the_implementation_matches_the_simulation_rule():
    rng = np.random.default_rng(3)
    for _ in range(50):
        obs = rng.random()
        stream = rng.random(300)
        r = besag_clifford_pvalue(stream, obs, exceedances=5, max_draws=300)
        cum = np.cumsum(stream >= obs)
        if cum[-1] >= 5:
            stop = int(np.argmax(cum >= 5)) + 1
            assert (r.pvalue, r.n_draws) == (5 / stop, stop)
        else:
            assert r.pvalue == monte_carlo_pvalue(stream, obs).pvalue.item()


def test_more_precise_near_alpha_than_a_fixed_100_draws():
    """True p = 0.05 (observed at the 95th percentile of U(0,1)): a fixed 100 draws estimates it
    with standard deviation ~0.022 (binomial), Besag-Clifford with h = 20 and max 1,000 with
    ~0.011 at ~400 draws on average (seed 0: 0.0212 vs 0.0119, 398 draws)."""
    rng = np.random.default_rng(0)
    reps = 4000
    fixed = (1 + (rng.random((reps, 100)) >= 0.95).sum(axis=1)) / 101
    seq, draws = _simulate(np.full(reps, 0.95), rng, h=20, n_max=1000)
    assert abs(fixed.std() - float(monte_carlo_se(0.05, 100))) < 0.003
    assert seq.std() < 0.6 * fixed.std()
    assert abs(seq.std() - float(monte_carlo_se(0.05, 400, exceedances=20))) < 0.003
    assert 300 < draws.mean() < 500


def test_unremarkable_statistic_stops_after_few_draws():
    rng = np.random.default_rng(1)
    calls = []
    r = sequential_pvalue(lambda b: (calls.append(b), rng.random(b))[1], 0.5, exceedances=20, max_draws=1000,
                          batch=10)
    assert r.stopped_early and r.n_draws <= sum(calls) <= 80 and 0.2 < r.pvalue < 0.9


@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 50), h=st.integers(1, 30),
       obs=st.floats(0, 1))
def test_batching_never_changes_the_pvalue(seed, batch, h, obs):
    stream = np.random.default_rng(seed).random(200)
    pos = {"i": 0}

    def sample(b):
        out = stream[pos["i"]:pos["i"] + b]
        pos["i"] += b
        return out

    r = sequential_pvalue(sample, obs, exceedances=h, max_draws=200, batch=batch)
    ref = besag_clifford_pvalue(stream, obs, exceedances=h, max_draws=200)
    assert r.pvalue == ref.pvalue and r.n_draws == ref.n_draws
    assert 0 < r.pvalue <= 1


@given(seed=st.integers(0, 2**32 - 1), a=st.floats(0, 1), b=st.floats(0, 1))
def test_a_larger_statistic_never_gets_a_larger_pvalue(seed, a, b):
    stream = np.random.default_rng(seed).random(500)
    lo, hi = sorted((a, b))
    p_lo = besag_clifford_pvalue(stream, lo, exceedances=10, max_draws=500).pvalue
    p_hi = besag_clifford_pvalue(stream, hi, exceedances=10, max_draws=500).pvalue
    assert p_hi <= p_lo


def test_curtailed_p_is_never_below_the_full_procedures_and_decides_alike():
    """Curtailing at alpha reports a p at least the uncurtailed one's (so it is valid), with the
    same decision at alpha, and a statistic no draw reaches stops at 191 draws (h = 10)."""
    rng = np.random.default_rng(5)
    for _ in range(400):
        obs = rng.choice([rng.random(), 0.99, 0.999, 1.5])
        stream = rng.random(1000)
        full = besag_clifford_pvalue(stream, obs, exceedances=10, max_draws=1000)
        cut = besag_clifford_pvalue(stream, obs, exceedances=10, max_draws=1000, alpha=0.05)
        assert cut.pvalue >= full.pvalue and (cut.pvalue < 0.05) == (full.pvalue < 0.05)
        assert cut.n_draws <= full.n_draws
    r = besag_clifford_pvalue(np.zeros(1000), 1.0, exceedances=10, max_draws=1000, alpha=0.05)
    assert r.curtailed and r.n_draws == 191 and r.pvalue == 10 / 201
    rng = np.random.default_rng(0)
    s = sequential_pvalue(lambda b: rng.random(b) * 0.5, 1.0, exceedances=10, max_draws=1000, batch=20, alpha=0.05)
    assert s.curtailed and s.n_draws == 191
