"""stats.paired_bootstrap: a hand-computed reference, scipy's bootstrap, calibration, properties."""
import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as sps

import stats.paired_bootstrap as pb
from stats.paired_bootstrap import paired_bootstrap_difference


def test_doctest():
    assert doctest.testmod(pb, optionflags=doctest.ELLIPSIS).failed == 0


def test_replicates_match_an_explicit_loop_over_resamples():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    for measure in ("mean", "max_mean"):
        res = paired_bootstrap_difference(x, y, measure=measure, n_resamples=50, rng=11)
        picks = np.random.default_rng(11).integers(0, 9, size=(50, 9))
        f = (lambda m: m.max()) if measure == "max_mean" else (lambda m: m)
        expected = np.array([f(x[p].mean(axis=0)) - f(y[p].mean(axis=0)) for p in picks])
        np.testing.assert_allclose(res.replicates, expected, rtol=1e-12)
        np.testing.assert_allclose(res.statistic, f(x.mean(axis=0)) - f(y.mean(axis=0)), rtol=1e-12)
        np.testing.assert_allclose(res.low, np.quantile(expected, 0.05, axis=0), rtol=1e-12)


def test_lower_bound_agrees_with_scipy_percentile_bootstrap():
    # scipy's two-sided 90% percentile interval has the one-sided 95% lower bound as its low end.
    rng = np.random.default_rng(5)
    x = rng.normal(0.3, 1.0, size=40)
    y = x + rng.normal(-0.2, 0.5, size=40)
    ours = paired_bootstrap_difference(x, y, n_resamples=20000, level=0.95, rng=1)
    ref = sps.bootstrap((x, y), lambda a, b, axis=-1: a.mean(axis=axis) - b.mean(axis=axis), paired=True,
                        vectorized=True, n_resamples=20000, confidence_level=0.90, method="percentile",
                        random_state=2)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.01)


def test_calibration_under_the_null_vectorized_over_components():
    # 600 independent components with no difference: the share decided "x > y" must be near
    # 1 - level (percentile bootstrap, n = 30: slightly liberal; binomial 99.9% bounds around 5-8%).
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(30, 600)), rng.normal(size=(30, 600))
    res = paired_bootstrap_difference(x, y, n_resamples=1000, rng=0)
    share = float(res.exceeds(0.0).mean())
    assert 0.02 <= share <= 0.11


def test_a_real_difference_is_decided_and_max_mean_selects_inside_the_bootstrap():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 0.1, size=(20, 30))
    x[:, 7] += 0.8                       # one large component
    y = rng.normal(0.0, 0.1, size=(20, 30))
    assert paired_bootstrap_difference(x, y, measure="max_mean", rng=0).exceeds(0.0)
    # Twin as large in another component: the largest mean is no higher, so not decided.
    y[:, 3] += 0.8
    assert not paired_bootstrap_difference(x, y, measure="max_mean", rng=0).exceeds(0.0)


@given(arrays(np.float64, (8, 3), elements=st.floats(-5, 5)), arrays(np.float64, (8, 3), elements=st.floats(-5, 5)),
       st.floats(-3, 3), st.floats(0.1, 4))
def test_properties_swap_shift_and_scale(x, y, shift, scale):
    a = paired_bootstrap_difference(x, y, n_resamples=200, rng=4)
    swapped = paired_bootstrap_difference(y, x, n_resamples=200, rng=4)
    np.testing.assert_allclose(swapped.replicates, -a.replicates, atol=1e-9)
    shifted = paired_bootstrap_difference(x + shift, y + shift, n_resamples=200, rng=4)
    np.testing.assert_allclose(shifted.low, a.low, atol=1e-9)
    scaled = paired_bootstrap_difference(x * scale, y * scale, n_resamples=200, rng=4)
    np.testing.assert_allclose(scaled.low, a.low * scale, atol=1e-8)
    assert np.all(a.low <= a.replicates.max(axis=0) + 1e-12)


@pytest.mark.parametrize("kwargs, match", [
    ({"measure": "median"}, "measure"),
    ({"level": 1.5}, "level"),
    ({"n_resamples": 3}, "n_resamples"),
])
def test_bad_options_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_difference(np.ones(4), np.zeros(4), **kwargs)


def test_bad_data_is_named():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap_difference(np.ones(4), np.zeros(5))
    with pytest.raises(ValueError, match="n >= 2"):
        paired_bootstrap_difference(np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="finite"):
        paired_bootstrap_difference(np.array([1.0, np.nan]), np.zeros(2))
