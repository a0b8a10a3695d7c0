"""stats.tests: agreement with scipy.stats, Hypothesis properties, edge-case policies."""
import doctest

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import stats._permutation as perm_module
import stats.tests as st_module
from stats.tests import mann_whitney, paired_t, permutation_test, welch_t, wilcoxon_paired

RTOL = 1e-10
ALTERNATIVES = ["two-sided", "less", "greater"]
SHAPES = [(12,), (15, 4), (9, 3, 5)]


def data(shape, n_b=None, *, ties=False, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.3, 1.0, size=shape)
    b = rng.normal(0.0, 1.5, size=((n_b or shape[0]),) + shape[1:])
    if ties:  # coarse rounding makes ties within and across groups, and zero differences
        a, b = np.round(a * 2), np.round(b * 2)
    return a, b


def close(x, y):
    np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=RTOL, atol=1e-14)


# --- references ------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("ties", [False, True])
def test_mann_whitney_equals_scipy_asymptotic(shape, alternative, ties):
    a, b = data(shape, shape[0] + 5, ties=ties, seed=len(shape))
    ours = mann_whitney(a, b, alternative=alternative)
    ref = ss.mannwhitneyu(a, b, method="asymptotic", alternative=alternative)
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)


def test_mann_whitney_respects_axis_and_rank_biserial():
    a, b = data((10, 6), 8, seed=3)
    ours = mann_whitney(a.T, b.T, axis=1)
    ref = ss.mannwhitneyu(a, b, method="asymptotic")
    close(ours.pvalue, ref.pvalue)
    close(ours.rank_biserial(), 2 * ref.statistic / 80 - 1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_welch_t_equals_scipy(shape, alternative):
    a, b = data(shape, shape[0] + 3, seed=7)
    ours = welch_t(a, b, alternative=alternative)
    ref = ss.ttest_ind(a, b, equal_var=False, alternative=alternative)
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)
    close(ours.df, ref.df)
    for level in (0.9, 0.95):
        ci, ref_ci = ours.confidence_interval(level), ref.confidence_interval(level)
        close(ci.low, ref_ci.low)
        close(ci.high, ref_ci.high)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_paired_t_equals_scipy(shape, alternative):
    a, b = data(shape, seed=11)
    ours = paired_t(a, b, alternative=alternative)
    ref = ss.ttest_rel(a, b, alternative=alternative)
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)
    ci, ref_ci = ours.confidence_interval(0.95), ref.confidence_interval(0.95)
    close(ci.low, ref_ci.low)
    close(ci.high, ref_ci.high)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
@pytest.mark.parametrize("correction", [False, True])
def test_wilcoxon_asymptotic_with_ties_and_zeros_equals_scipy(alternative, zero_method,
                                                                correction):
    a, b = data((25, 40), ties=True, seed=13)
    kw = dict(alternative=alternative, zero_method=zero_method, correction=correction,
              method="asymptotic")
    ours, ref = wilcoxon_paired(a, b, **kw), ss.wilcoxon(a, b, **kw)
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("shape", [(9,), (14, 6), (20, 2, 3)])
def test_wilcoxon_auto_uses_the_exact_null_like_scipy(alternative, shape):
    a, b = data(shape, seed=17)  # continuous: no ties, no zeros -> exact in both
    ours = wilcoxon_paired(a, b, alternative=alternative)
    ref = ss.wilcoxon(a, b, alternative=alternative)
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)
    assert np.all(np.isnan(ours.zstatistic))


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_wilcoxon_forced_exact_with_ties_equals_scipy(zero_method):
    a, b = data((16, 30), ties=True, seed=19)
    ours = wilcoxon_paired(a, b, method="exact", zero_method=zero_method)
    ref = ss.wilcoxon(a, b, method="exact", zero_method=zero_method)
    close(ours.pvalue, ref.pvalue)


def test_wilcoxon_auto_decides_per_component():
    a, b = data((20, 2), seed=23)
    b[3, 1] = a[3, 1]  # a zero difference in component 1 only
    ours = wilcoxon_paired(a, b)
    close(ours.pvalue[0], ss.wilcoxon(a[:, 0], b[:, 0], method="exact").pvalue)
    close(ours.pvalue[1], ss.wilcoxon(a[:, 1], b[:, 1], method="asymptotic").pvalue)


def test_wilcoxon_large_n_is_asymptotic():
    a, b = data((60, 3), seed=29)
    close(wilcoxon_paired(a, b).pvalue, ss.wilcoxon(a, b, method="asymptotic").pvalue)


# --- permutation test ------------------------------------------------------------------

def _vec(fn):
    return lambda x, y, axis: fn(x, y, axis=axis).statistic


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("statistic", ["t", "mean_diff"])
def test_sign_flip_exact_equals_scipy(alternative, statistic):
    a, b = data((9, 7), seed=31)
    ref_stat = _vec(ss.ttest_rel) if statistic == "t" else \
        (lambda x, y, axis: np.mean(x - y, axis=axis))
    ours = permutation_test(a, b, paired=True, statistic=statistic, alternative=alternative,
                            n_resamples=600)
    ref = ss.permutation_test((a, b), ref_stat, permutation_type="samples", vectorized=True,
                              alternative=alternative, n_resamples=600)
    assert ours.exact and ours.n_resamples == 2 ** 9
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)


@pytest.mark.parametrize("alternative", ["less", "greater"])
@pytest.mark.parametrize("statistic", ["t", "mean_diff"])
def test_label_permutation_exact_equals_scipy(alternative, statistic):
    a, b = data((6, 8), 5, seed=37)
    ref_stat = (lambda x, y, axis: ss.ttest_ind(x, y, equal_var=False, axis=axis).statistic) \
        if statistic == "t" else (lambda x, y, axis: x.mean(axis) - y.mean(axis))
    ours = permutation_test(a, b, statistic=statistic, alternative=alternative, n_resamples=500)
    ref = ss.permutation_test((a, b), ref_stat, vectorized=True, alternative=alternative,
                              n_resamples=500)
    assert ours.exact and ours.n_resamples == 462
    close(ours.statistic, ref.statistic)
    close(ours.pvalue, ref.pvalue)


def test_two_sided_permutation_p_counts_absolute_statistics():
    a, b = data((6, 4), 5, seed=41)
    res = permutation_test(a, b, statistic="mean_diff", n_resamples=1000)
    pooled = np.concatenate([a, b])
    null = []
    for idx in __import__("itertools").combinations(range(11), 6):
        mask = np.zeros(11, bool)
        mask[list(idx)] = True
        null.append(pooled[mask].mean(0) - pooled[~mask].mean(0))
    null = np.abs(np.array(null))
    obs = np.abs(a.mean(0) - b.mean(0))
    close(res.pvalue, (null >= obs * (1 - 1e-12)).mean(axis=0))
    close(res.null_max, null.max(axis=1))  # both enumerate splits in itertools order


def test_callable_statistic_matches_builtin_and_batches():
    a, b = data((12, 5), 10, seed=43)
    builtin = permutation_test(a, b, statistic="t", n_resamples=300, rng=5)
    welch = _vec(lambda x, y, axis: ss.ttest_ind(x, y, equal_var=False, axis=axis))
    custom = permutation_test(a, b, statistic=welch, n_resamples=300, rng=5)
    close(custom.pvalue, builtin.pvalue)
    close(custom.null_max, builtin.null_max)
    paired_custom = permutation_test(a[:10], b, paired=True, statistic=_vec(ss.ttest_rel),
                                     n_resamples=300, rng=5)
    paired_builtin = permutation_test(a[:10], b, paired=True, n_resamples=300, rng=5)
    close(paired_custom.pvalue, paired_builtin.pvalue)


def test_max_statistic_null_and_fwer_pvalues():
    a, b = data((14, 20), seed=47)
    a[:, 0] += 3.0
    res = permutation_test(a, b, paired=True, n_resamples=400, rng=1)
    assert res.null_max.shape == (400,) and not res.exact
    # brute force: the null of component j under the same flips, then the max over j
    flips = 1.0 - 2.0 * np.random.default_rng(1).integers(0, 2, size=(400, 14))
    d = a - b
    means = flips @ d / 14
    sds = np.sqrt((np.sum(d * d, axis=0) - 14 * means ** 2) / 13 / 14)
    close(res.null_max, np.max(np.abs(means / sds), axis=1))
    fwer = res.fwer_pvalue()
    assert np.all(fwer >= res.pvalue) and fwer[0] < 0.01
    close(fwer, (np.sum(res.null_max[:, None] >= np.abs(res.statistic) * (1 - 1e-12), 0) + 1) / 401)


def test_permutation_is_deterministic_under_rng_and_seed_matters():
    a, b = data((20, 6), seed=53)
    one = permutation_test(a, b, paired=True, n_resamples=200, rng=3)
    two = permutation_test(a, b, paired=True, n_resamples=200, rng=np.random.default_rng(3))
    other = permutation_test(a, b, paired=True, n_resamples=200, rng=4)
    np.testing.assert_array_equal(one.pvalue, two.pvalue)
    np.testing.assert_array_equal(one.null_max, two.null_max)
    assert not np.array_equal(one.null_max, other.null_max)
    default = permutation_test(a, b, paired=True, n_resamples=200)  # None means seed 0
    seeded = permutation_test(a, b, paired=True, n_resamples=200, rng=0)
    np.testing.assert_array_equal(default.pvalue, seeded.pvalue)


def test_permutation_chunking_does_not_change_results(monkeypatch):
    a, b = data((16, 37), seed=59)
    whole = permutation_test(a, b, n_resamples=150, rng=2)
    monkeypatch.setattr(perm_module, "BLOCK_ELEMENTS", 64)  # many column and resample blocks
    chunked = permutation_test(a, b, n_resamples=150, rng=2)
    close(chunked.pvalue, whole.pvalue)
    close(chunked.null_max, whole.null_max)


def test_permutation_non_finite_component_is_nan_and_excluded_from_null_max():
    a, b = data((10, 3), seed=61)
    a[2, 1] = np.inf
    res = permutation_test(a, b, paired=True, n_resamples=100)
    assert np.isnan(res.statistic[1]) and np.isnan(res.pvalue[1])
    clean = permutation_test(a[:, [0, 2]], b[:, [0, 2]], paired=True, n_resamples=100)
    close(res.null_max, clean.null_max)
    close(res.pvalue[[0, 2]], clean.pvalue)
    assert np.isnan(res.fwer_pvalue()[1])


def test_permutation_argument_errors():
    a, b = data((5, 2), seed=67)
    with pytest.raises(ValueError, match="`statistic` must be one of"):
        permutation_test(a, b, statistic="median")
    with pytest.raises(ValueError, match="`n_resamples`"):
        permutation_test(a, b, n_resamples=0)
    with pytest.raises(TypeError, match="`rng`"):
        permutation_test(a, b, rng="seed")
    with pytest.raises(ValueError, match="needs at least 2"):
        permutation_test(a[:1], b[:1], paired=True)
    with pytest.raises(ValueError, match="paired samples need equal sizes"):
        permutation_test(a, b[:4], paired=True)


@given(st.integers(3, 12), st.integers(1, 300), st.integers(0, 2 ** 16),
       st.sampled_from(ALTERNATIVES), st.booleans())
def test_permutation_p_is_never_below_one_over_resamples_plus_one(n, n_resamples, seed,
                                                                  alternative, paired):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(3, 1, size=(n, 3)), rng.normal(size=(n, 3))
    res = permutation_test(a, b, paired=paired, n_resamples=n_resamples, rng=seed,
                           alternative=alternative, statistic="mean_diff")
    floor = 1 / res.n_resamples if res.exact else 1 / (n_resamples + 1)
    assert np.all(res.pvalue >= floor - 1e-15) and np.all(res.pvalue <= 1)


# --- edge cases ------------------------------------------------------------------------

@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_constant_data_gives_p_one_everywhere(alternative):
    a, b = np.full((6, 2), 0.1), np.full((6, 2), 0.1)
    for res in (mann_whitney(a, b, alternative=alternative), welch_t(a, b, alternative=alternative),
                paired_t(a, b, alternative=alternative),
                wilcoxon_paired(a, b, alternative=alternative)):
        np.testing.assert_array_equal(res.pvalue, [1.0, 1.0])
    assert np.all(welch_t(a, b).statistic == 0) and np.all(mann_whitney(a, b).statistic == 18)
    assert np.all(permutation_test(a, b, n_resamples=50).pvalue == 1)


def test_rounding_noise_of_constant_data_is_not_a_difference():
    same = np.full((30, 1), 0.6404226504432821)  # np.var gives 5e-32 here, not 0
    assert welch_t(same, np.zeros((30, 1))).statistic[0] == np.inf
    assert paired_t(same, np.zeros((30, 1))).statistic[0] == np.inf
    assert paired_t(same, same).pvalue[0] == 1.0


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")  # scipy's warning
def test_zero_spread_with_different_means_is_an_infinite_t_like_scipy():
    a, b = np.full((4, 1), 2.0), np.full((5, 1), 1.0)
    res = welch_t(a, b)
    ref = ss.ttest_ind(a, b, equal_var=False)
    assert res.statistic[0] == np.inf == ref.statistic[0] and res.pvalue[0] == 0 == ref.pvalue[0]
    assert welch_t(a, b, alternative="less").pvalue[0] == 1.0
    assert paired_t(a, a - 1.0).statistic[0] == np.inf
    mw = mann_whitney(a, b)
    close(mw.pvalue, ss.mannwhitneyu(a, b, method="asymptotic").pvalue)


def test_too_few_samples_give_nan_with_warning():
    with pytest.warns(RuntimeWarning, match="welch_t"):
        assert np.isnan(welch_t([1.0], [1.0, 2.0, 3.0]).pvalue)
    with pytest.warns(RuntimeWarning, match="paired_t"):
        assert np.isnan(paired_t([1.0], [2.0]).statistic)
    res = mann_whitney([1.0], [2.0, 3.0])  # defined for any n >= 1, as scipy
    close(res.pvalue, ss.mannwhitneyu([1.0], [2.0, 3.0], method="asymptotic").pvalue)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("fn", [mann_whitney, welch_t, paired_t, wilcoxon_paired])
def test_non_finite_input_is_nan_only_for_its_component(fn, bad):
    a, b = data((12, 3), seed=71)
    b[5, 2] = bad
    res = fn(a, b)
    assert np.isnan(res.statistic[2]) and np.isnan(res.pvalue[2])
    clean = fn(a[:, :2], b[:, :2])
    close(res.pvalue[:2], clean.pvalue)
    with pytest.raises(ValueError, match="`b` contains NaN or inf"):
        fn(a, b, nan_policy="raise")


@pytest.mark.parametrize("fn", [mann_whitney, welch_t, paired_t, wilcoxon_paired])
def test_input_errors(fn):
    with pytest.raises(ValueError, match="`a` is empty"):
        fn([], [1.0, 2.0])
    with pytest.raises(ValueError, match="`alternative` must be one of"):
        fn([1.0, 2.0], [1.0, 3.0], alternative="bigger")
    with pytest.raises(ValueError, match="same component shape"):
        fn(np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(TypeError, match="`axis` must be an integer"):
        fn([1.0, 2.0], [1.0, 3.0], axis=0.5)


def test_unequal_sizes_are_fine_for_independent_tests_and_rejected_for_paired():
    a, b = data((7, 2), 13, seed=73)
    close(welch_t(a, b).pvalue, ss.ttest_ind(a, b, equal_var=False).pvalue)
    for fn in (paired_t, wilcoxon_paired):
        with pytest.raises(ValueError, match="paired samples need equal sizes"):
            fn(a, b)
    with pytest.raises(ValueError, match="`zero_method`"):
        wilcoxon_paired(a, a, zero_method="drop")
    with pytest.raises(ValueError, match="`method`"):
        wilcoxon_paired(a, a, method="permutation")


def test_float32_neuron_grid_is_chunked_without_changing_results(monkeypatch):
    a, b = data((20, 3, 50), 18, seed=79)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    whole = mann_whitney(a32, b32)
    import stats._validate as v
    monkeypatch.setattr(v, "CHUNK_ELEMENTS", 500)  # ~13 columns per chunk, many threads' work
    chunked = mann_whitney(a32, b32)
    np.testing.assert_array_equal(chunked.pvalue, whole.pvalue)
    close(welch_t(a32, b32).pvalue, ss.ttest_ind(a32.astype(float), b32.astype(float),
                                                 equal_var=False).pvalue)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int16, np.uint8])
def test_mann_whitney_sort_only_path_for_float32_exact_data_equals_scipy(dtype):
    # these dtypes take the int64-key path; float64 takes argsort. Both must agree exactly,
    # including signed zeros, negative numbers, ties across groups and huge magnitudes.
    rng = np.random.default_rng(83)
    a = np.round(rng.normal(0.5, 3, size=(17, 40))).astype(dtype)
    b = np.round(rng.normal(0.0, 3, size=(14, 40))).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        a[0, :4], b[0, :4] = [-0.0, 0.0, -1e4, 1e4], [0.0, -0.0, -1e4, 0.5]
        a[:, 5], b[:, 5] = -0.0, 0.0  # all zeros of both signs: one tie group, p = 1
    ours = mann_whitney(a, b)
    ref = ss.mannwhitneyu(a.astype(np.float64), b.astype(np.float64), method="asymptotic")
    close(ours.statistic, ref.statistic)
    keep = np.ptp(np.concatenate([a, b]).astype(float), axis=0) > 0
    close(ours.pvalue[keep], ref.pvalue[keep])
    assert np.all(ours.pvalue[~keep] == 1.0)
    as_float64 = mann_whitney(a.astype(float), b.astype(float))
    np.testing.assert_array_equal(ours.pvalue, as_float64.pvalue)


def test_mann_whitney_float32_non_finite_components_are_nan():
    a, b = data((9, 4), 8, seed=89)
    a, b = a.astype(np.float32), b.astype(np.float32)
    a[1, 0], b[2, 1], a[3, 2] = np.nan, -np.inf, np.inf
    res = mann_whitney(a, b)
    assert np.all(np.isnan(res.pvalue[:3])) and np.isfinite(res.pvalue[3])
    ref = ss.mannwhitneyu(a[:, 3].astype(float), b[:, 3].astype(float), method="asymptotic")
    close(res.pvalue[3], ref.pvalue)  # scipy would compute in float32 for float32 input


# --- properties ------------------------------------------------------------------------

values = st.integers(-20, 20).map(float)  # integer-valued: ties occur and shifts are exact
two_samples = st.tuples(st.integers(2, 10), st.integers(2, 10), st.integers(1, 3)).flatmap(
    lambda s: st.tuples(arrays(np.float64, (s[0], s[2]), elements=values),
                        arrays(np.float64, (s[1], s[2]), elements=values)))
paired_samples = st.tuples(st.integers(2, 12), st.integers(1, 3)).flatmap(
    lambda s: st.tuples(arrays(np.float64, s, elements=values),
                        arrays(np.float64, s, elements=values)))


@given(two_samples, st.sampled_from(ALTERNATIVES))
def test_pvalues_are_in_unit_interval(ab, alternative):
    a, b = ab
    for res in (mann_whitney(a, b, alternative=alternative),
                welch_t(a, b, alternative=alternative)):
        assert np.all((res.pvalue >= 0) & (res.pvalue <= 1))
    n = min(len(a), len(b))
    for res in (paired_t(a[:n], b[:n], alternative=alternative),
                wilcoxon_paired(a[:n], b[:n], alternative=alternative)):
        assert np.all((res.pvalue >= 0) & (res.pvalue <= 1))


@given(two_samples)
def test_swapping_groups_flips_direction_and_keeps_two_sided_p(ab):
    a, b = ab
    mw, mw_swap = mann_whitney(a, b), mann_whitney(b, a)
    np.testing.assert_array_equal(mw_swap.statistic, len(a) * len(b) - mw.statistic)
    np.testing.assert_array_equal(mw_swap.pvalue, mw.pvalue)
    t, t_swap = welch_t(a, b), welch_t(b, a)
    np.testing.assert_array_equal(t_swap.statistic, -t.statistic)
    np.testing.assert_allclose(t_swap.pvalue, t.pvalue, rtol=1e-12)
    np.testing.assert_allclose(mann_whitney(b, a, alternative="less").pvalue,
                               mann_whitney(a, b, alternative="greater").pvalue, rtol=1e-12)


@given(paired_samples)
def test_paired_swap_flips_direction(ab):
    a, b = ab
    np.testing.assert_array_equal(paired_t(b, a).statistic, -paired_t(a, b).statistic)
    w, w_swap = wilcoxon_paired(a, b), wilcoxon_paired(b, a)
    np.testing.assert_allclose(w_swap.pvalue, w.pvalue, rtol=1e-12)
    np.testing.assert_allclose(wilcoxon_paired(b, a, alternative="less").pvalue,
                               wilcoxon_paired(a, b, alternative="greater").pvalue, rtol=1e-12)


@given(two_samples, st.integers(-1000, 1000), st.integers(-4, 4))
def test_statistics_invariant_to_shift_and_positive_scale(ab, shift, power):
    a, b = ab
    scale = 2.0 ** power
    a2, b2 = a * scale + shift, b * scale + shift
    np.testing.assert_array_equal(mann_whitney(a2, b2).pvalue, mann_whitney(a, b).pvalue)
    np.testing.assert_array_equal(mann_whitney(a2, b2).statistic, mann_whitney(a, b).statistic)
    np.testing.assert_allclose(welch_t(a2, b2).statistic, welch_t(a, b).statistic,
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(welch_t(a2, b2).pvalue, welch_t(a, b).pvalue, rtol=1e-9, atol=1e-12)


@given(two_samples)
def test_mann_whitney_equals_scipy_on_arbitrary_tied_data(ab):
    a, b = ab
    ref = ss.mannwhitneyu(a, b, method="asymptotic")
    ours = mann_whitney(a, b)
    np.testing.assert_allclose(ours.statistic, ref.statistic, rtol=RTOL)
    constant = np.ptp(np.concatenate([a, b]), axis=0) == 0  # scipy: NaN or 1 there; ours 1
    np.testing.assert_allclose(ours.pvalue[~constant], ref.pvalue[~constant], rtol=RTOL, atol=1e-15)


def test_docstring_examples_run():
    assert doctest.testmod(st_module).failed == 0
    assert doctest.testmod(perm_module).failed == 0
