"""stats.regression: equality with statsmodels OLS, Student's t, policies, properties."""
import doctest

import numpy as np
import pytest
import scipy.stats as ss
import statsmodels.api as sm
from hypothesis import given
from hypothesis import strategies as st

import stats.regression as rg
from stats.effect_size import cohens_d
from stats.regression import covariate_adjusted_test, covariate_adjusted_two_sample

TOL = 1e-8


def design_data(n=36, q=2, grid=(3, 5), seed=0):
    rng = np.random.default_rng(seed)
    group = np.r_[np.ones(n // 2), np.zeros(n - n // 2)]
    covariates = rng.normal(size=(n, q)) * [5.0, 1.0][:q] + [20.0, 0.0][:q]
    y = rng.normal(size=(n,) + grid) + 0.05 * covariates[:, :1].reshape((n,) + (1,) * len(grid))
    return y, group, covariates


@pytest.mark.parametrize("q", [1, 2])
@pytest.mark.parametrize("grid", [(), (4,), (3, 5)])
def test_equals_statsmodels_ols_for_every_component(q, grid):
    y, group, cov = design_data(q=q, grid=grid, seed=q + len(grid))
    res = covariate_adjusted_test(y, group, cov)
    x = np.column_stack([np.ones(len(group)), group, cov])
    flat = y.reshape(len(group), -1)
    for name, attr in [("coefficient", "params"), ("stderr", "bse"), ("statistic", "tvalues"),
                       ("pvalue", "pvalues")]:
        ours = np.ravel(getattr(res, name))
        ref = [getattr(sm.OLS(flat[:, j], x).fit(), attr)[1] for j in range(flat.shape[1])]
        np.testing.assert_allclose(ours, ref, rtol=TOL, atol=1e-12, err_msg=name)
    fits = [sm.OLS(flat[:, j], x).fit() for j in range(flat.shape[1])]
    np.testing.assert_allclose(np.ravel(res.effect), [f.params[1] / np.sqrt(f.scale) for f in fits],
                               rtol=TOL)
    ci = res.confidence_interval(0.9)
    np.testing.assert_allclose(np.ravel(ci.low), [f.conf_int(0.1)[1, 0] for f in fits], rtol=TOL)
    assert res.df == len(group) - 2 - q
    assert np.shape(res.statistic) == grid


@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_one_sided_pvalues_use_the_t_distribution(alternative):
    y, group, cov = design_data(seed=4)
    res = covariate_adjusted_test(y, group, cov, alternative=alternative)
    two = covariate_adjusted_test(y, group, cov)
    t = two.statistic
    expected = ss.t.sf(t, two.df) if alternative == "greater" else ss.t.cdf(t, two.df)
    np.testing.assert_allclose(res.pvalue, expected, rtol=TOL)


def test_without_covariates_it_is_students_t_test():
    rng = np.random.default_rng(5)
    a, b = rng.normal(1, 1, size=(14, 6)), rng.normal(size=(11, 6))
    res = covariate_adjusted_two_sample(a, b)
    ref = ss.ttest_ind(a, b)
    np.testing.assert_allclose(res.statistic, ref.statistic, rtol=1e-10)
    np.testing.assert_allclose(res.pvalue, ref.pvalue, rtol=1e-10)
    np.testing.assert_allclose(res.effect, cohens_d(a, b).effect, rtol=1e-10)  # pooled SD


def test_two_sample_wrapper_codes_a_as_one():
    rng = np.random.default_rng(6)
    tok_a, tok_b = rng.normal(20, 4, 15), rng.normal(25, 4, 12)
    a = rng.normal(size=(15, 3)) + 0.2 * tok_a[:, None]
    b = rng.normal(size=(12, 3)) + 0.2 * tok_b[:, None]
    res = covariate_adjusted_two_sample(a, b, tok_a, tok_b)
    direct = covariate_adjusted_test(np.concatenate([a, b]), np.r_[np.ones(15), np.zeros(12)],
                                     np.r_[tok_a, tok_b])
    np.testing.assert_allclose(res.statistic, direct.statistic, rtol=1e-12)
    swapped = covariate_adjusted_two_sample(b, a, tok_b, tok_a)
    np.testing.assert_allclose(swapped.coefficient, -res.coefficient, rtol=1e-9)
    with pytest.raises(ValueError, match="give both"):
        covariate_adjusted_two_sample(a, b, tok_a, None)
    with pytest.raises(ValueError, match="`covariates_b` must have one row per sample"):
        covariate_adjusted_two_sample(a, b, tok_a, tok_b[:5])


def test_chunking_and_float32_do_not_change_results(monkeypatch):
    y, group, cov = design_data(grid=(4, 50), seed=7)
    whole = covariate_adjusted_test(y, group, cov)
    import stats._validate as v
    monkeypatch.setattr(v, "CHUNK_ELEMENTS", 300)
    chunked = covariate_adjusted_test(y, group, cov)
    np.testing.assert_allclose(chunked.pvalue, whole.pvalue, rtol=1e-12)
    y32 = y.astype(np.float32)
    np.testing.assert_allclose(covariate_adjusted_test(y32, group, cov).statistic,
                               covariate_adjusted_test(y32.astype(float), group, cov).statistic,
                               rtol=1e-10)


def test_degenerate_components_follow_the_policy():
    _, group, cov = design_data(n=20, q=1, grid=(), seed=8)
    y = np.column_stack([np.full(20, 0.3),                    # constant
                         2.0 * group + 0.5 * cov[:, 0],       # exact fit with a group effect
                         0.5 * cov[:, 0],                     # exact fit, no group effect
                         np.r_[np.nan, np.ones(19)],          # non-finite
                         np.random.default_rng(0).normal(size=20)])
    res = covariate_adjusted_test(y, group, cov)
    assert (res.statistic[0], res.pvalue[0], res.coefficient[0], res.effect[0]) == (0, 1, 0, 0)
    assert res.statistic[1] == np.inf and res.pvalue[1] == 0 and np.isnan(res.effect[1])
    assert res.statistic[2] == 0 and res.pvalue[2] == 1 and res.effect[2] == 0
    assert np.all(np.isnan([res.statistic[3], res.pvalue[3], res.effect[3]]))
    assert 0 < res.pvalue[4] < 1
    with pytest.raises(ValueError, match="`y` contains NaN"):
        covariate_adjusted_test(y, group, cov, nan_policy="raise")


def test_design_errors_name_the_argument():
    y, group, cov = design_data(n=12, q=1, grid=(2,))
    with pytest.raises(ValueError, match="`covariates` make the design"):
        covariate_adjusted_test(y, group, 3.0 * group + 1)
    with pytest.raises(ValueError, match="`covariates` make the design"):
        covariate_adjusted_test(y, group, np.ones(12))
    with pytest.raises(ValueError, match="`group` must take at least two values"):
        covariate_adjusted_test(y, np.ones(12), cov)
    with pytest.raises(ValueError, match="`group` must be 1-D"):
        covariate_adjusted_test(y, group[:5], cov)
    with pytest.raises(ValueError, match="`covariates` must be"):
        covariate_adjusted_test(y, group, cov[:4])
    with pytest.raises(ValueError, match="finite"):
        covariate_adjusted_test(y, group, np.r_[np.nan, cov[1:, 0]])
    with pytest.raises(ValueError, match="more samples than parameters"):
        covariate_adjusted_test(y[:3], group[:3] * 0 + [0, 1, 0], cov[:3])
    with pytest.raises(ValueError, match="`y` is empty"):
        covariate_adjusted_test(np.zeros((0, 2)), group[:0], None)


@given(st.integers(0, 10_000), st.integers(-1000, 1000), st.integers(-4, 4))
def test_t_is_invariant_to_shift_and_scale_of_y_and_linear_in_coefficient(seed, shift, power):
    y, group, cov = design_data(n=16, q=1, grid=(3,), seed=seed)
    scale = 2.0 ** power
    base = covariate_adjusted_test(y, group, cov)
    moved = covariate_adjusted_test(y * scale + shift, group, cov)
    np.testing.assert_allclose(moved.statistic, base.statistic, rtol=1e-7)
    np.testing.assert_allclose(moved.coefficient, base.coefficient * scale, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(moved.effect, base.effect, rtol=1e-7)
    flipped = covariate_adjusted_test(y, 1 - group, cov)
    np.testing.assert_allclose(flipped.statistic, -base.statistic, rtol=1e-7)


def test_docstring_examples_run():
    assert doctest.testmod(rg).failed == 0
