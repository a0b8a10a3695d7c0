"""stats.specialization: labelling rules, sign convention, the long table, scale."""
import doctest

import numpy as np
import pandas as pd
import pytest

import stats.specialization as sp
from stats.crossval import consistency, pair_folds
from stats.effect_size import paired_d
from stats.multiple import adjust_pvalues
from stats.specialization import (
    COLUMNS,
    LABELS,
    FeatureResult,
    feature_result,
    label_components,
    specialization_table,
)
from stats.tests import mann_whitney, wilcoxon_paired


def feature(effect, p_adj, consistency=None, pvalue=None):
    effect = np.asarray(effect, float)
    p_adj = np.broadcast_to(np.asarray(p_adj, float), effect.shape)
    return FeatureResult(statistic=effect * 10, pvalue=p_adj / 10 if pvalue is None else pvalue,
                         p_adj=p_adj, effect=effect, ci_low=effect - 0.3, ci_high=effect + 0.3,
                         consistency=consistency)


def test_labels_follow_the_rule_and_the_sign_convention():
    # components:      recall  reasoning  mixed   none(p)  none(d)  recall(one feature)  nan
    f1 = feature([0.9, -0.9, 0.9, 0.9, 0.2, 0.9, np.nan], [0.01, 0.01, 0.01, 0.2, 0.01, 0.01, 0.01])
    f2 = feature([0.8, -0.7, -0.9, 0.9, 0.2, 0.1, 0.9], [0.01, 0.01, 0.01, 0.2, 0.01, 0.01, np.nan])
    labels = label_components({"f1": f1, "f2": f2}, alpha=0.05, min_effect=0.5)
    assert labels.tolist() == ["recall", "reasoning", "mixed", "none", "none", "recall", "none"]
    assert set(labels.tolist()) <= set(LABELS)


def test_feature_result_like_mappings_and_objects_are_accepted():
    f = feature([0.9, -0.9], [0.01, 0.01])
    as_dict = {k: getattr(f, k) for k in ("statistic", "pvalue", "p_adj", "effect", "ci_low",
                                          "ci_high")}
    as_obj = type("Like", (), as_dict)()
    expected = label_components({"f": f}).tolist()
    assert label_components({"f": as_dict}).tolist() == expected == ["recall", "reasoning"]
    assert label_components({"f": as_obj}).tolist() == expected
    assert specialization_table({"f": as_dict})["consistency"].isna().all()


def test_threshold_edges_and_raw_pvalues():
    f = feature([0.5, -0.5, 0.49], [0.049, 0.049, 0.01], pvalue=np.array([0.2, 0.001, 0.001]))
    assert label_components({"f": f}, alpha=0.05, min_effect=0.5).tolist() == \
        ["recall", "reasoning", "none"]  # |d| >= min_effect is inclusive
    assert label_components({"f": f}, alpha=0.05, min_effect=0.5, use_adjusted=False).tolist() == \
        ["none", "reasoning", "none"]
    assert label_components({"f": f}, alpha=0.049, min_effect=0.5).tolist() == ["none"] * 3


def test_min_consistency_is_applied_and_required_when_asked():
    f = feature([0.9, 0.9], [0.01, 0.01], consistency=np.array([1.0, 0.8]))
    assert label_components({"f": f}, min_consistency=1.0).tolist() == ["recall", "none"]
    assert label_components({"f": f}, min_consistency=0.8).tolist() == ["recall", "recall"]
    with pytest.raises(ValueError, match="has no consistency"):
        label_components({"g": feature([0.9], [0.01])}, min_consistency=0.5)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="non-empty mapping"):
        label_components({})
    with pytest.raises(ValueError, match="share one component grid"):
        label_components({"a": feature([1.0], [0.01]), "b": feature([1.0, 1.0], [0.01, 0.01])})
    with pytest.raises(TypeError, match=r"must be a FeatureResult or have the fields.*'pvalue'"):
        label_components({"a": {"effect": [1.0]}})
    with pytest.raises(ValueError, match="`alpha`"):
        label_components({"a": feature([1.0], [0.01])}, alpha=5)
    with pytest.raises(ValueError, match="`min_effect`"):
        label_components({"a": feature([1.0], [0.01])}, min_effect=-1)
    with pytest.raises(ValueError, match="FeatureResult `pvalue` has shape"):
        FeatureResult([1.0, 2.0], [0.1], [0.1, 0.1], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0])


@pytest.mark.parametrize("grid, layers, indices", [
    ((3,), [0, 1, 2], [-1, -1, -1]),
    ((2, 3), [0, 0, 0, 1, 1, 1], [0, 1, 2, 0, 1, 2]),
    ((2, 2, 2), [0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 2, 3, 0, 1, 2, 3]),
    ((), [0], [-1]),
])
def test_table_coordinates_columns_and_rows(grid, layers, indices):
    rng = np.random.default_rng(0)
    f1 = feature(rng.normal(size=grid), 0.01, consistency=np.full(grid, 0.6))
    f2 = feature(rng.normal(size=grid), 0.5)
    df = specialization_table({"resid_norm_last": f1, "resid_norm_mean": f2}, min_effect=0.3)
    assert tuple(df.columns) == COLUMNS
    size = int(np.prod(grid))
    assert len(df) == 2 * size
    assert df["layer"].tolist() == layers * 2 and df["index"].tolist() == indices * 2
    assert df["feature"].tolist() == ["resid_norm_last"] * size + ["resid_norm_mean"] * size
    np.testing.assert_array_equal(df["effect"].to_numpy()[:size], np.ravel(f1.effect))
    consistency_col = df["consistency"]
    assert consistency_col.iloc[:size].eq(0.6).all() and consistency_col.iloc[size:].isna().all()
    labels = label_components({"a": f1, "b": f2}, min_effect=0.3).ravel().tolist()
    assert df["label"].astype(str).tolist() == labels * 2
    assert list(df["label"].cat.categories) == list(LABELS)


def test_table_accepts_precomputed_labels_and_checks_them():
    f = feature([0.9, -0.9], [0.01, 0.01])
    df = specialization_table({"f": f}, labels=np.array(["mixed", "none"]))
    assert df["label"].tolist() == ["mixed", "none"]
    with pytest.raises(ValueError, match="`labels` must have the grid shape"):
        specialization_table({"f": f}, labels=np.array(["none"]))
    with pytest.raises(ValueError, match="`labels` must take values in"):
        specialization_table({"f": f}, labels=np.array(["recall", "maybe"]))


def test_feature_result_wires_test_correction_effect_and_consistency():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(30, 2, 8)), rng.normal(size=(30, 2, 8))
    a[:, 0, :3] += 1.5
    b[:, 1, 5] += 1.5
    folds = pair_folds(30, 5, rng=0)
    res = feature_result(a, b, test="wilcoxon_paired", correction="fdr_bh", folds=folds,
                         alpha=0.05, min_effect=0.5)
    test = wilcoxon_paired(a, b)
    np.testing.assert_array_equal(res.pvalue, test.pvalue)
    np.testing.assert_array_equal(res.p_adj, adjust_pvalues(test.pvalue, method="fdr_bh"))
    size = paired_d(a, b)  # paired test -> paired effect size by default
    np.testing.assert_array_equal(res.effect, size.effect)
    np.testing.assert_array_equal(res.ci_low, size.confidence_interval(0.95).low)
    expected = consistency(a, b, folds, test="wilcoxon_paired", alpha=0.05, min_effect=0.5,
                           adjust="fdr_bh").fraction
    np.testing.assert_array_equal(res.consistency, expected)
    labels = label_components({"mlp_mean": res}, alpha=0.05, min_effect=0.5, min_consistency=0.8)
    assert (labels[0, :3] == "recall").all() and labels[1, 5] == "reasoning"
    assert (labels == "none").sum() >= 16 - 3 - 1 - 2


def test_feature_result_with_covariates_and_axis():
    rng = np.random.default_rng(2)
    tok_a, tok_b = rng.normal(20, 5, 25), rng.normal(30, 5, 25)
    a = rng.normal(size=(25, 4)) + 0.1 * tok_a[:, None]
    b = rng.normal(size=(25, 4)) + 0.1 * tok_b[:, None]
    res = feature_result(a, b, test="covariate_adjusted", covariates=(tok_a, tok_b),
                         correction="none")
    assert np.all(res.ci_low < res.effect) and np.all(res.effect < res.ci_high)
    moved = feature_result(a.T, b.T, axis=1, test="mann_whitney", folds=pair_folds(25, 5))
    np.testing.assert_array_equal(moved.pvalue, mann_whitney(a, b).pvalue)
    assert moved.consistency.shape == (4,)


def test_neuron_scale_grid_is_labelled_and_tabulated():
    # Its speed is measured by benchmarks/bench_stats.py, not asserted here (no test depends on load).
    rng = np.random.default_rng(3)
    grid = (28, 18944)  # 530,432 neurons
    f = FeatureResult(*(rng.normal(size=grid) for _ in range(2)), rng.uniform(size=grid),
                      rng.normal(size=grid), rng.normal(size=grid), rng.normal(size=grid),
                      rng.uniform(size=grid))
    labels = label_components({"mlp_mean": f}, alpha=0.05, min_effect=0.5)
    df = specialization_table({"mlp_mean": f}, labels=labels)
    assert len(df) == 530_432 and df["index"].max() == 18943 and df["layer"].max() == 27
    assert isinstance(df["feature"].dtype, pd.CategoricalDtype)


def test_docstring_examples_run():
    assert doctest.testmod(sp).failed == 0
