"""stats.effect_size: hand-computed references, Hypothesis properties, edge-case policies."""
import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import stats.effect_size as es
from stats.effect_size import cohens_d, hedges_g, paired_d

RTOL = 1e-10


def reference_d(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook Cohen's d for one component, written independently of the library."""
    n1, n2 = len(a), len(b)
    s1 = sum((v - sum(a) / n1) ** 2 for v in a) / (n1 - 1)
    s2 = sum((v - sum(b) / n2) ** 2 for v in b) / (n2 - 1)
    pooled = math.sqrt(((n1 - 1) * s1 + (n2 - 1) * s2) / (n1 + n2 - 2))
    return (sum(a) / n1 - sum(b) / n2) / pooled


@pytest.mark.parametrize("shape", [(7,), (9, 3), (8, 2, 5)])
def test_cohens_d_matches_hand_computation_on_every_component(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.normal(0.4, 1.3, size=shape)
    b = rng.normal(0.0, 0.8, size=(shape[0] + 3,) + shape[1:])
    res = cohens_d(a, b)
    flat_a, flat_b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    expected = np.array([reference_d(flat_a[:, j], flat_b[:, j]) for j in range(flat_a.shape[1])])
    np.testing.assert_allclose(np.ravel(res.effect), expected, rtol=RTOL)
    assert np.shape(res.effect) == shape[1:]
    assert (res.n_a, res.n_b) == (shape[0], shape[0] + 3)


def test_hedges_g_uses_exact_j_which_is_close_to_the_usual_approximation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 4)), rng.normal(size=(10, 4))
    df = 20
    j_exact = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2))
    np.testing.assert_allclose(hedges_g(a, b).effect, j_exact * cohens_d(a, b).effect, rtol=RTOL)
    assert abs(j_exact - (1 - 3 / (4 * df - 1))) < 1e-3
    np.testing.assert_allclose(hedges_g(a, b).se, j_exact * cohens_d(a, b).se, rtol=RTOL)


def test_paired_d_is_mean_over_sd_of_differences_and_axis_is_respected():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4, 15)), rng.normal(size=(4, 15))  # samples on axis 1
    diff = a - b
    expected = diff.mean(axis=1) / diff.std(axis=1, ddof=1)
    np.testing.assert_allclose(paired_d(a, b, axis=1).effect, expected, rtol=RTOL)
    np.testing.assert_allclose(paired_d(a.T, b.T).effect, expected, rtol=RTOL)


def test_float32_input_is_computed_in_float64():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(30, 50)).astype(np.float32)
    b = rng.normal(size=(30, 50)).astype(np.float32)
    expected = cohens_d(a.astype(np.float64), b.astype(np.float64)).effect
    np.testing.assert_allclose(cohens_d(a, b).effect, expected, rtol=RTOL)


def test_confidence_interval_is_the_documented_normal_approximation():
    rng = np.random.default_rng(4)
    a, b = rng.normal(1, 1, size=(20, 6)), rng.normal(size=(25, 6))
    res = cohens_d(a, b)
    se = np.sqrt(45 / (20 * 25) + res.effect ** 2 / (2 * 45))
    np.testing.assert_allclose(res.se, se, rtol=RTOL)
    ci = res.confidence_interval(0.9)
    np.testing.assert_allclose(ci.low, res.effect - 1.6448536269514722 * se, rtol=RTOL)
    np.testing.assert_allclose(ci.high, res.effect + 1.6448536269514722 * se, rtol=RTOL)
    wide = res.confidence_interval(0.99)
    assert np.all(wide.low < ci.low) and np.all(wide.high > ci.high)
    pd_res = paired_d(a[:20], b[:20])
    np.testing.assert_allclose(pd_res.se, np.sqrt(1 / 20 + pd_res.effect ** 2 / 40), rtol=RTOL)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, "x", None])
def test_bad_confidence_level_is_rejected(level):
    res = cohens_d([1.0, 2.0, 3.0], [0.0, 1.0, 5.0])
    with pytest.raises((ValueError, TypeError), match="`level`"):
        res.confidence_interval(level)


# --- edge cases -----------------------------------------------------------------------

def test_constant_data_gives_zero_effect_and_unequal_constants_give_nan():
    a = np.array([[2.0, 1.0, 5.0], [2.0, 1.0, 5.0], [2.0, 1.0, 5.0]])
    b = np.array([[2.0, 3.0, 4.0], [2.0, 3.0, 5.0]])
    d = cohens_d(a, b).effect
    assert d[0] == 0.0            # everything identical: no effect
    assert np.isnan(d[1])         # zero spread but different means: undefined
    assert np.isfinite(d[2]) and d[2] > 0
    # np.var of 30 copies of this value is 5e-32, not 0, and the mean is off by 2e-16:
    # that rounding noise must not become a huge finite d
    same = np.full((30, 1), 0.6404226504432821)
    assert cohens_d(same, same).effect[0] == 0.0 and paired_d(same, same).effect[0] == 0.0
    assert np.isnan(cohens_d(same, np.zeros((30, 1))).effect[0])
    assert np.isnan(paired_d(same, np.zeros((30, 1))).effect[0])


def test_too_few_samples_give_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="cohens_d"):
        res = cohens_d([[1.0, 2.0]], [[3.0, 5.0]])
    assert np.all(np.isnan(res.effect))
    with pytest.warns(RuntimeWarning, match="paired_d"):
        assert np.isnan(paired_d([1.0], [2.0]).effect)
    assert np.isfinite(cohens_d([1.0, 2.0], [4.0]).effect)  # n_a + n_b = 3 is enough


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_make_only_their_component_nan(bad):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(9, 3))
    a[4, 1] = bad
    for fn in (cohens_d, hedges_g):
        eff = fn(a, b).effect
        assert np.isnan(eff[1]) and np.all(np.isfinite(eff[[0, 2]]))
    eff = paired_d(a[:9], b).effect
    assert np.isnan(eff[1]) and np.all(np.isfinite(eff[[0, 2]]))
    with pytest.raises(ValueError, match="`a` contains NaN or inf"):
        cohens_d(a, b, nan_policy="raise")


def test_input_errors_name_the_argument():
    with pytest.raises(ValueError, match="`b` is empty"):
        cohens_d([1.0, 2.0], [])
    with pytest.raises(ValueError, match="`a` is empty"):
        paired_d(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="same component shape"):
        cohens_d(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="paired samples need equal sizes"):
        paired_d(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(TypeError, match="`a` must be real"):
        cohens_d(np.ones(3) * 1j, np.ones(3))
    with pytest.raises(TypeError, match="`b` must be an array of real numbers"):
        cohens_d([1.0, 2.0], ["x", "y"])
    with pytest.raises(ValueError, match="`axis`=2 is out of range"):
        cohens_d(np.ones((3, 2)), np.ones((3, 2)), axis=2)
    with pytest.raises(ValueError, match="`nan_policy`"):
        cohens_d([1.0, 2.0], [3.0, 4.0], nan_policy="omit")


# --- properties ------------------------------------------------------------------------

values = st.integers(-30, 30).map(float)  # integer-valued: shifts and 2**k scalings are exact
samples = st.tuples(st.integers(2, 12), st.integers(2, 12), st.integers(1, 4)).flatmap(
    lambda s: st.tuples(arrays(np.float64, (s[0], s[2]), elements=values),
                        arrays(np.float64, (s[1], s[2]), elements=values)))


@given(samples)
def test_swapping_groups_negates_d_and_g(ab):
    a, b = ab
    for fn in (cohens_d, hedges_g):
        np.testing.assert_array_equal(fn(b, a).effect, -fn(a, b).effect)


@given(samples, st.integers(-1000, 1000), st.integers(-4, 4))
def test_d_is_invariant_to_shift_and_positive_scale(ab, shift, power):
    a, b = ab
    scale = 2.0 ** power
    np.testing.assert_allclose(cohens_d(a * scale + shift, b * scale + shift).effect,
                               cohens_d(a, b).effect, rtol=1e-9, atol=1e-9)


@given(samples)
def test_paired_d_swap_and_shift(ab):
    a, b = ab
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    np.testing.assert_array_equal(paired_d(b, a).effect, -paired_d(a, b).effect)
    np.testing.assert_allclose(paired_d(a + 7.0, b + 7.0).effect, paired_d(a, b).effect,
                               rtol=1e-9, atol=1e-9)


def test_docstring_examples_run():
    assert doctest.testmod(es).failed == 0


def reference_d_av(a, b) -> float:
    """Lakens (2013) eq. 10 by hand: mean difference over the average of the two SDs."""
    n = len(a)
    diff = [x - y for x, y in zip(a, b)]
    sd = lambda v: math.sqrt(sum((x - sum(v) / n) ** 2 for x in v) / (n - 1))  # noqa: E731
    return (sum(diff) / n) / ((sd(a) + sd(b)) / 2)


def test_d_av_matches_hand_computation_on_every_component():
    from stats.effect_size import d_av
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.5, 1.2, (12, 4)), rng.normal(0.0, 0.7, (12, 4))
    expected = [reference_d_av(a[:, j].tolist(), b[:, j].tolist()) for j in range(4)]
    np.testing.assert_allclose(d_av(a, b).effect, expected, rtol=RTOL)
    assert d_av(a, b).kind == "d_av"


def test_d_av_does_not_grow_with_the_within_pair_correlation_but_d_z_does():
    """Same means (shift 0.5) and unit SDs, within-pair correlation 0 vs 0.9: d_z = d / sqrt(2 (1 - r))
    goes from ~0.35 to ~1.1, d_av stays ~0.5."""
    from stats.effect_size import d_av
    rng = np.random.default_rng(2)
    n = 20000
    for r, expected_dz in ((0.0, 0.5 / math.sqrt(2)), (0.9, 0.5 / math.sqrt(0.2))):
        shared = rng.standard_normal(n)
        a = math.sqrt(r) * shared + math.sqrt(1 - r) * rng.standard_normal(n) + 0.5
        b = math.sqrt(r) * shared + math.sqrt(1 - r) * rng.standard_normal(n)
        assert float(d_av(a, b).effect) == pytest.approx(0.5, abs=0.03)
        assert float(paired_d(a, b).effect) == pytest.approx(expected_dz, rel=0.05)


def test_d_av_interval_covers_at_about_the_nominal_rate():
    """95% intervals, 400 samples of 30 pairs, r = 0.7, SDs 1 and 1.5, true d_av = 0.6 * 1.25 / 1.25;
    coverage within [0.91, 0.98]."""
    from stats.effect_size import d_av
    rng = np.random.default_rng(9)
    n, reps, r, s1, s2 = 30, 400, 0.7, 1.0, 1.5
    shift = 0.6 * (s1 + s2) / 2
    shared = rng.standard_normal((n, reps))
    a = s1 * (math.sqrt(r) * shared + math.sqrt(1 - r) * rng.standard_normal((n, reps))) + shift
    b = s2 * (math.sqrt(r) * shared + math.sqrt(1 - r) * rng.standard_normal((n, reps)))
    ci = d_av(a, b).confidence_interval(0.95)
    coverage = float(np.mean((ci.low <= 0.6) & (0.6 <= ci.high)))
    assert 0.91 <= coverage <= 0.98, coverage
