"""stats.crossval: folds over pairs, consistency against a hand loop, cross-fitting."""
import doctest

import numpy as np
import pytest
import scipy.stats as ss
from hypothesis import given
from hypothesis import strategies as st

import stats.crossval as cv
from stats.crossval import consistency, cross_fit, pair_folds
from stats.effect_size import cohens_d
from stats.multiple import adjust_pvalues
from stats.tests import mann_whitney, welch_t


@given(st.integers(2, 200), st.integers(2, 20), st.integers(0, 2 ** 32 - 1))
def test_folds_partition_the_pairs_with_balanced_sizes(n_pairs, k, seed):
    k = min(k, n_pairs)
    folds = pair_folds(n_pairs, k, rng=seed)
    assert len(folds) == k
    joined = np.concatenate(folds)
    np.testing.assert_array_equal(np.sort(joined), np.arange(n_pairs))  # disjoint and complete
    sizes = [f.size for f in folds]
    assert max(sizes) - min(sizes) <= 1
    assert all(np.all(np.diff(f) > 0) for f in folds)


def test_folds_are_deterministic_and_depend_on_the_seed():
    one, two = pair_folds(30, 5, rng=7), pair_folds(30, 5, rng=np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(one, two, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(one, pair_folds(30, 5, rng=8), strict=True))
    default = pair_folds(30, 5)  # None means seed 0
    assert all(np.array_equal(x, y) for x, y in zip(default, pair_folds(30, 5, rng=0), strict=True))


@pytest.mark.parametrize("args, match", [((5, 6), "`k` must be <= `n_pairs`"),
                                         ((5, 1), "`k` must be an integer >= 2"),
                                         ((0, 2), "`n_pairs`")])
def test_fold_arguments_are_validated(args, match):
    with pytest.raises(ValueError, match=match):
        pair_folds(*args)
    with pytest.raises(TypeError, match="`k`"):
        pair_folds(10, 2.0)


def hand_consistency(a, b, folds, fold_data, alpha, min_effect, adjust="none"):
    """The definition, one fold and one component at a time, with scipy."""
    n, n_comp = a.shape
    full = cohens_d(a, b).effect
    passed = np.zeros((len(folds), n_comp), bool)
    for j, fold in enumerate(folds):
        idx = np.setdiff1d(np.arange(n), fold) if fold_data == "train" else fold
        p = np.array([ss.mannwhitneyu(a[idx, c], b[idx, c], method="asymptotic").pvalue
                      for c in range(n_comp)])
        p = adjust_pvalues(p, method=adjust)
        d = cohens_d(a[idx], b[idx]).effect
        passed[j] = (p < alpha) & (np.abs(d) >= min_effect) & (np.sign(d) == np.sign(full))
    return passed.mean(axis=0)


@pytest.mark.parametrize("fold_data", ["train", "test"])
@pytest.mark.parametrize("adjust", ["none", "fdr_bh"])
def test_consistency_equals_the_definition(fold_data, adjust):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 12)), rng.normal(size=(40, 12))
    a[:, :6] += np.linspace(0.2, 2.0, 6)  # effects from weak to strong
    a[:, 6] -= 1.5                        # a strong reasoning-side effect
    folds = pair_folds(40, 5, rng=1)
    res = consistency(a, b, folds, alpha=0.05, min_effect=0.3, fold_data=fold_data, adjust=adjust)
    expected = hand_consistency(a, b, folds, fold_data, 0.05, 0.3, adjust)
    np.testing.assert_array_equal(res.fraction, expected)
    assert res.passed.shape == (5, 12) and res.n_folds == 5 and res.fold_data == fold_data
    np.testing.assert_array_equal(res.n_pass, res.passed.sum(axis=0))
    if fold_data == "train":  # 32 pairs per fold: strong effects pass everywhere, either sign
        assert res.fraction[5] == 1.0 and res.fraction[6] == 1.0


def test_a_fold_effect_of_the_opposite_sign_never_counts():
    a = np.zeros((10, 1))
    b = np.zeros((10, 1))
    a[:5, 0], b[:5, 0] = [5.0, 6, 7, 8, 9], [0.0, 1, 2, 3, 4]   # fold 0: a >> b
    a[5:, 0], b[5:, 0] = [0.0, 1, 2, 3, 3], [4.0, 5, 6, 7, 9]   # fold 1: b > a, slightly less
    folds = (np.arange(5), np.arange(5, 10))
    res = consistency(a, b, folds, test="welch_t", alpha=0.5, fold_data="test")
    assert res.full_effect[0] > 0
    np.testing.assert_array_equal(res.passed[:, 0], [True, False])
    assert res.fraction[0] == 0.5


def test_grid_shape_axis_and_paired_tests():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(20, 3, 4)), rng.normal(size=(20, 3, 4))
    a[:, 1, 2] += 3
    folds = pair_folds(20, 4, rng=0)
    res = consistency(a, b, folds, test="paired_t", alpha=0.01, min_effect=0.5)
    assert res.fraction.shape == (3, 4) and res.passed.shape == (4, 3, 4)
    assert res.fraction[1, 2] == 1.0
    moved = consistency(np.moveaxis(a, 0, 2), np.moveaxis(b, 0, 2), folds, test="paired_t",
                        alpha=0.01, min_effect=0.5, axis=2)
    np.testing.assert_array_equal(moved.fraction, res.fraction)
    w = consistency(a, b, folds, test="wilcoxon_paired", alpha=0.01)
    assert w.fraction[1, 2] == 1.0


def test_covariate_adjusted_consistency_and_callables():
    rng = np.random.default_rng(6)
    tok_a, tok_b = rng.integers(5, 40, 30).astype(float), rng.integers(5, 40, 30).astype(float)
    a = rng.normal(size=(30, 3)) + 0.1 * tok_a[:, None]
    b = rng.normal(size=(30, 3)) + 0.1 * tok_b[:, None]
    a[:, 0] += 2.0
    folds = pair_folds(30, 3, rng=0)
    res = consistency(a, b, folds, test="covariate_adjusted", covariates=(tok_a, tok_b),
                      alpha=0.01, min_effect=0.5)
    assert res.fraction[0] == 1.0
    with pytest.raises(ValueError, match="`covariates`"):
        consistency(a, b, folds, test="covariate_adjusted")
    custom = consistency(a, b, folds, test=lambda x, y: welch_t(x, y),
                         effect=lambda x, y: cohens_d(x, y).effect, alpha=0.05)
    named = consistency(a, b, folds, test="welch_t", alpha=0.05)
    np.testing.assert_array_equal(custom.fraction, named.fraction)


def test_consistency_argument_errors():
    a, b = np.zeros((10, 2)), np.ones((10, 2))
    folds = pair_folds(10, 2)
    with pytest.raises(ValueError, match="`test` must be one of"):
        consistency(a, b, folds, test="t_test")
    with pytest.raises(ValueError, match="`fold_data` must be one of"):
        consistency(a, b, folds, fold_data="heldout")
    with pytest.raises(ValueError, match="same number of rows"):
        consistency(a, b[:8], pair_folds(8, 2))
    with pytest.raises(ValueError, match="disjoint"):
        consistency(a, b, (np.arange(6), np.arange(5, 10)))
    with pytest.raises(ValueError, match="outside"):
        consistency(a, b, (np.arange(5), np.arange(5, 11)))
    with pytest.raises(TypeError, match="`folds`"):
        consistency(a, b, np.arange(10))
    with pytest.raises(ValueError, match="`alpha`"):
        consistency(a, b, folds, alpha=2)
    with pytest.raises(ValueError, match="`method` must be one of"):
        consistency(a, b, folds, adjust="fdr_tsbh")
    with pytest.raises(ValueError, match="`min_effect`"):
        consistency(a, b, folds, min_effect=-0.5)


def test_cross_fit_never_lets_held_out_pairs_select():
    n = 24
    ids = np.arange(n, dtype=float)
    a = np.column_stack([ids, np.random.default_rng(0).normal(size=n)])  # column 0 = pair id
    b = a.copy()
    folds = pair_folds(n, 4, rng=2)
    seen_train, seen_test = [], []

    def select(x, y):
        seen_train.append(set(x[:, 0].astype(int)))
        return np.array([False, True])

    def evaluate(x, y, mask):
        seen_test.append(set(x[:, 0].astype(int)))
        return x[:, mask].shape

    res = cross_fit(a, b, folds, select=select, evaluate=evaluate)
    for j, fold in enumerate(folds):
        assert seen_test[j] == set(fold.tolist())
        assert seen_train[j] == set(range(n)) - set(fold.tolist())
        assert res.evaluations[j] == (fold.size, 1)
    assert res.selected.shape == (4, 2) and res.selected[:, 1].all()


def test_cross_fit_confirms_a_real_effect_and_rejects_bad_masks():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(40, 50)), rng.normal(size=(40, 50))
    a[:, :3] += 2.0
    res = cross_fit(a, b, pair_folds(40, 4, rng=0),
                    select=lambda x, y: mann_whitney(x, y).pvalue < 1e-4,
                    evaluate=lambda x, y, m: mann_whitney(x[:, m], y[:, m]).pvalue)
    assert res.selected[:, :3].all() and res.selected[:, 3:].sum() <= 2
    with pytest.raises(ValueError, match="`select` must return a bool mask"):
        cross_fit(a, b, pair_folds(40, 4), select=lambda x, y: np.ones(50),
                  evaluate=lambda x, y, m: None)
    with pytest.raises(TypeError, match="callables"):
        cross_fit(a, b, pair_folds(40, 4), select=None, evaluate=lambda x, y, m: None)


def test_docstring_examples_run():
    assert doctest.testmod(cv).failed == 0


def test_cross_fit_confirmation_matches_a_hand_loop():
    """Selection on k-1 folds by the claim's test, confirmation on the held-out fold by a
    permutation test of the oriented paired t with max-T control, written out by hand."""
    from stats._permutation import permutation_test
    from stats.crossval import cross_fit_confirmation

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(30, 6)), rng.normal(size=(30, 6))
    a[:, :2] += 1.5
    a[:, 2] -= 1.5
    folds = pair_folds(30, 3, rng=1)
    res = cross_fit_confirmation(a, b, folds, alpha=0.05, min_effect=0.5, n_perm=99, rng=7)
    gen, expected = np.random.default_rng(7), np.zeros((3, 6), bool)
    for j, fold in enumerate(folds):
        train = np.setdiff1d(np.arange(30), fold)
        p = mann_whitney(a[train], b[train]).pvalue
        d = cohens_d(a[train], b[train]).effect
        chosen = np.flatnonzero((p < 0.05) & (np.abs(d) >= 0.5))
        if chosen.size:
            s = np.sign(d[chosen])
            perm = permutation_test(a[fold][:, chosen] * s, b[fold][:, chosen] * s, statistic="t",
                                    paired=True, n_resamples=99, alternative="greater", rng=gen)
            expected[j, chosen] = perm.fwer_pvalue() < 0.05
    np.testing.assert_array_equal(res.passed, expected)
    np.testing.assert_allclose(res.fraction, expected.mean(axis=0))
    assert res.fold_data == "cross_fit" and res.fraction[:3].min() > 0


@pytest.mark.parametrize("familywise", ["max_t", "fdr_by"])
def test_cross_fit_confirmation_controls_false_confirmations_under_the_null(familywise):
    """Pure noise, a loose selection (alpha 0.2) so that every fold selects something: a
    family-wise error (any confirmed component in fold 0) in at most 5% of 120 studies plus
    binomial slack (99.9th percentile of Binomial(120, 0.05) = 14). BY controls the FDR, which
    under the global null is the family-wise rate."""
    from stats.crossval import cross_fit_confirmation

    errors = 0
    for s in range(120):
        rng = np.random.default_rng(s)
        a, b = rng.normal(size=(40, 50)), rng.normal(size=(40, 50))
        res = cross_fit_confirmation(a, b, pair_folds(40, 4, rng=s), alpha=0.2, n_perm=99,
                                     familywise=familywise, rng=s)
        errors += bool(res.passed[0].any())
    assert errors <= ss.binom.ppf(0.999, 120, 0.05)


def test_cross_fit_confirmation_validates_its_options():
    from stats.crossval import cross_fit_confirmation

    a = np.zeros((10, 2))
    with pytest.raises(ValueError, match="familywise"):
        cross_fit_confirmation(a, a, pair_folds(10, 2, rng=0), familywise="holm")
    with pytest.raises(ValueError, match="at least 2 pairs"):
        cross_fit_confirmation(a[:3], a[:3], pair_folds(3, 3, rng=0))
