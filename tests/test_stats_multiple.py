"""stats.multiple: equality with statsmodels, aliases, NaN policy, Hypothesis properties."""
import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from statsmodels.stats.multitest import multipletests

import stats.multiple as mt
from stats.multiple import METHOD_ALIASES, METHODS, adjust_pvalues

SM_METHODS = ["fdr_bh", "fdr_by", "holm", "bonferroni"]


@pytest.mark.parametrize("method", SM_METHODS)
@pytest.mark.parametrize("shape", [(1,), (50,), (7, 13), (3, 4, 25)])
def test_equals_statsmodels_on_any_shape(method, shape):
    rng = np.random.default_rng(len(shape))
    p = rng.uniform(size=shape) ** 3  # many small p-values, so the step-up/down matters
    p.flat[::5] = p.flat[0]           # and ties
    ours = adjust_pvalues(p, method=method)
    ref = multipletests(p.ravel(), method=method)[1].reshape(shape)
    assert ours.shape == shape
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("alias, canonical", [
    ("bh", "fdr_bh"), ("BH", "fdr_bh"), ("benjamini-hochberg", "fdr_bh"), ("by", "fdr_by"),
    ("benjamini-yekutieli", "fdr_by"), ("bonf", "bonferroni"), ("holm-bonferroni", "holm"),
    (" Holm ", "holm"), ("", "none")])
def test_aliases(alias, canonical):
    p = np.random.default_rng(0).uniform(size=20) ** 2
    np.testing.assert_array_equal(adjust_pvalues(p, method=alias),
                                  adjust_pvalues(p, method=canonical))
    assert set(METHOD_ALIASES.values()) == set(METHODS)


def test_wrong_method_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        adjust_pvalues([0.1], method="fdr_tsbh")
    for name in METHODS + ("bh", "bonf"):
        assert repr(name) in str(err.value)
    with pytest.raises(ValueError, match="`method`"):
        adjust_pvalues([0.1], method=None)
    with pytest.raises(TypeError):
        adjust_pvalues([0.1], "bh")  # method is keyword-only


def test_nan_is_kept_and_excluded_from_the_family():
    p = np.array([[0.01, np.nan], [0.04, 0.03]])
    out = adjust_pvalues(p, method="bonferroni")
    assert np.isnan(out[0, 1])
    np.testing.assert_allclose(out[~np.isnan(p)], [0.03, 0.12, 0.09])
    np.testing.assert_array_equal(np.isnan(adjust_pvalues(np.full(3, np.nan), method="bh")), True)
    np.testing.assert_array_equal(adjust_pvalues(p, method="none"), p)


def test_invalid_input():
    with pytest.raises(ValueError, match="`pvalues` is empty"):
        adjust_pvalues([], method="bh")
    with pytest.raises(ValueError, match=r"`pvalues` must lie in \[0, 1\]"):
        adjust_pvalues([0.2, 1.5], method="bh")
    with pytest.raises(ValueError, match=r"`pvalues` must lie in \[0, 1\]"):
        adjust_pvalues([-0.1], method="holm")
    with pytest.raises(TypeError, match="`pvalues`"):
        adjust_pvalues(["0.1"], method="holm")


pvalue_arrays = arrays(
    np.float64, st.integers(1, 60),
    elements=st.floats(0, 1, allow_nan=False) | st.sampled_from([0.0, 1.0, 0.05]))


@given(pvalue_arrays)
def test_bh_is_above_raw_monotone_and_equal_to_statsmodels(p):
    adj = adjust_pvalues(p, method="fdr_bh")
    assert np.all(adj >= p) and np.all(adj <= 1)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(adj[order]) >= 0)  # monotone in the raw p
    np.testing.assert_allclose(adj, multipletests(p, method="fdr_bh")[1], rtol=1e-10, atol=1e-15)


@given(pvalue_arrays)
def test_methods_are_ordered_by_strictness(p):
    bh, by = adjust_pvalues(p, method="fdr_bh"), adjust_pvalues(p, method="fdr_by")
    holm, bonf = adjust_pvalues(p, method="holm"), adjust_pvalues(p, method="bonferroni")
    eps = 1e-12
    assert np.all(by >= bh - eps) and np.all(holm >= bh - eps) and np.all(bonf >= holm - eps)
    assert np.all(holm >= p) and np.all(bonf <= 1)


@given(pvalue_arrays, st.integers(0, 5))
def test_nan_entries_do_not_change_the_others(p, n_nan):
    padded = np.concatenate([p, np.full(n_nan, np.nan)])
    for method in SM_METHODS:
        np.testing.assert_array_equal(adjust_pvalues(padded, method=method)[:p.size],
                                      adjust_pvalues(p, method=method))


def test_docstring_examples_run():
    assert doctest.testmod(mt).failed == 0
