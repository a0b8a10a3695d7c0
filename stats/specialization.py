"""Label components recall-, reasoning-specialized, mixed or none, and tabulate them.

Contents
--------
LABELS               : ``("recall", "reasoning", "mixed", "none")``.
COLUMNS              : columns of the long-format table.
FeatureResult        : per-feature arrays over one component grid (statistic, pvalue,
                       p_adj, effect, ci_low, ci_high, consistency).
feature_result       : compute a FeatureResult from a, b with a named test and effect size.
significant          : the one significance rule (p < alpha, |effect| >= min_effect, consistency).
label_components     : one label per component from the per-feature results and thresholds.
specialization_table : long pandas DataFrame, one row per (feature, component).

Sign convention: every effect is **a minus b** with a = recall prompts and b = reasoning
prompts, so a significant effect > 0 means recall-specialized and < 0 reasoning-specialized.

Labelling rule: on feature f a component is *significant* when
``p < alpha`` (adjusted p by default), ``|effect| >= min_effect`` and, if `min_consistency`
is given, ``consistency >= min_consistency``. Then the component is "mixed" if it is
significant with a positive effect on some feature and a negative effect on another,
"recall" if all its significant effects are positive, "reasoning" if all are negative, and
"none" if it is significant on no feature. NaN anywhere in a feature's numbers makes the
component not significant on that feature.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from stats._validate import _validate_level, _validate_probability
from stats.crossval import consistency, cross_fit_confirmation, resolve_test_effect
from stats.multiple import adjust_pvalues

__all__ = ["LABELS", "COLUMNS", "FeatureResult", "feature_result", "label_components",
           "specialization_table"]

LABELS = ("recall", "reasoning", "mixed", "none")
COLUMNS = ("layer", "index", "feature", "statistic", "pvalue", "p_adj", "effect", "ci_low",
           "ci_high", "consistency", "label")


@dataclass(frozen=True, eq=False)
class FeatureResult:
    """Results of one feature over a component grid; all arrays share the grid's shape.

    ``consistency`` may be None when no fold analysis was run.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    p_adj: np.ndarray
    effect: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    consistency: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.statistic)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "consistency":
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != shape:
                raise ValueError(f"FeatureResult `{f.name}` has shape {arr.shape}; expected the "
                                 f"grid shape {shape} of `statistic`.")
            object.__setattr__(self, f.name, arr)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.statistic.shape


def feature_result(a, b, *, test="mann_whitney", effect=None, correction: str = "fdr_bh",
                   level: float = 0.95, folds=None, alpha: float = 0.05,
                   min_effect: float = 0.0, fold_data: str = "train",
                   covariates: tuple | None = None, confirm: Mapping | None = None,
                   axis: int = 0) -> FeatureResult:
    """Test, adjust, size the effect and (with `folds`) measure consistency for one feature.

    Parameters
    ----------
    a, b : array_like
        Recall (a) and reasoning (b) samples along `axis`, components along the others.
    test, effect : keyword-only
        As :func:`stats.crossval.consistency` (names from ``TESTS`` / ``EFFECTS``).
    correction : str, keyword-only
        ``adjust_pvalues`` method over the whole grid ("none" allowed). Default "fdr_bh".
    level : float, keyword-only
        Confidence level of the effect-size interval. Default 0.95.
    folds : sequence of int arrays, optional, keyword-only
        Pair folds; when given, ``consistency`` is filled using `alpha`, `min_effect`,
        `fold_data` and `correction` within each fold.
    confirm : mapping, optional, keyword-only
        With `folds`: consistency is cross-fitted instead
        (:func:`stats.crossval.cross_fit_confirmation` with these keyword arguments, e.g.
        ``{"confirm_alpha": 0.05, "n_perm": 200, "familywise": "max_t", "rng": 0}``): the share
        of folds in which the component was selected on the others and confirmed on it.
    covariates : (covariates_a, covariates_b), keyword-only
        For ``test="covariate_adjusted"``; the effect is the standardized coefficient and its
        interval ``CovariateTestResult.effect_interval``.
    axis : int, keyword-only
        Sample axis. Default 0.

    Returns
    -------
    FeatureResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> res = feature_result(rng.normal(1, 1, (30, 4)), rng.normal(0, 1, (30, 4)))
    >>> res.shape, bool(np.all(res.p_adj >= res.pvalue))
    ((4,), True)
    """
    level = _validate_level(level)
    test_fn, effect_fn = resolve_test_effect(test, effect)
    if covariates is not None:
        res = test_fn(a, b, *covariates, axis=axis)
    else:
        res = test_fn(a, b, axis=axis)
    p_adj = adjust_pvalues(res.pvalue, method=correction)
    if effect_fn is None:  # covariate-adjusted: standardized coefficient and its interval
        eff, ci = res.effect, res.effect_interval(level)
    else:
        size = effect_fn(a, b, axis=axis)
        eff, ci = size.effect, size.confidence_interval(level)
    low, high = ci.low, ci.high
    cons = None
    if folds is not None:
        moved = [np.moveaxis(np.asarray(v), axis, 0) for v in (a, b)]
        if confirm is not None:
            cons = cross_fit_confirmation(*moved, folds, test=test, effect=effect, alpha=alpha,
                                          min_effect=min_effect, adjust=correction,
                                          covariates=covariates, **confirm).fraction
        else:
            cons = consistency(*moved, folds, test=test, effect=effect, alpha=alpha,
                               min_effect=min_effect, fold_data=fold_data, adjust=correction,
                               covariates=covariates).fraction
    return FeatureResult(res.statistic, res.pvalue, p_adj, eff, low, high, cons)


def significant(res: FeatureResult, *, alpha: float, min_effect: float = 0.0,
                min_consistency: float | None = None, use_adjusted: bool = True, name: str = "feature") -> np.ndarray:
    """The one significance rule of a component on one feature: ``p < alpha`` (adjusted p by
    default), ``|effect| >= min_effect`` and, when `min_consistency` is given, fold
    consistency ``>= min_consistency``. A bool array of the component grid's shape.

    Examples
    --------
    >>> res = FeatureResult(np.zeros(3), np.array([.001, .001, .2]), np.array([.002, .002, .3]),
    ...                     np.array([1.2, .3, 2.]), np.zeros(3), np.zeros(3), np.array([1., 1., 1.]))
    >>> significant(res, alpha=0.01, min_effect=0.5).tolist()
    [True, False, False]
    """
    p = res.p_adj if use_adjusted else res.pvalue
    with np.errstate(invalid="ignore"):
        sig = (p < alpha) & (np.abs(res.effect) >= min_effect)
        if min_consistency is not None:
            if res.consistency is None:
                raise ValueError(f"`min_consistency` is set but feature {name!r} has no "
                                 f"consistency (run feature_result with `folds`).")
            sig &= res.consistency >= min_consistency
    return sig


def _as_feature_result(name: str, r: object) -> FeatureResult:
    """Accept FeatureResult-like inputs: the dataclass, a mapping or an object with fields."""
    if isinstance(r, FeatureResult):
        return r
    names = [f.name for f in fields(FeatureResult)]
    get = (lambda k: r.get(k)) if isinstance(r, Mapping) else (lambda k: getattr(r, k, None))
    missing = [k for k in names[:-1] if get(k) is None]
    if missing:
        raise TypeError(f"`results_by_feature`[{name!r}] must be a FeatureResult or have the "
                        f"fields {names}; missing {missing}.")
    return FeatureResult(**{k: get(k) for k in names})


def _validate_results(results_by_feature: Mapping[str, object]) -> dict[str, FeatureResult]:
    if not isinstance(results_by_feature, Mapping) or not results_by_feature:
        raise ValueError("`results_by_feature` must be a non-empty mapping feature -> "
                         "FeatureResult.")
    results = {name: _as_feature_result(name, r) for name, r in results_by_feature.items()}
    shapes = {name: r.shape for name, r in results.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"`results_by_feature` must share one component grid; got {shapes}.")
    return results


def label_components(results_by_feature: Mapping[str, FeatureResult], *, alpha: float = 0.05,
                     min_effect: float = 0.0, min_consistency: float | None = None,
                     use_adjusted: bool = True) -> np.ndarray:
    """Label every component "recall", "reasoning", "mixed" or "none".

    Parameters
    ----------
    results_by_feature : mapping str -> FeatureResult-like
        Per-feature results over the same component grid (effects are a - b = recall -
        reasoning, so positive means recall). Mappings or objects with the FeatureResult
        fields are accepted too.
    alpha : float, keyword-only
        Significance level for the (adjusted) p-values. Default 0.05.
    min_effect : float, keyword-only
        Minimum ``|effect|``. Default 0.
    min_consistency : float or None, keyword-only
        Minimum fold consistency; None ignores consistency. Default None.
    use_adjusted : bool, keyword-only
        Compare `p_adj` (True, default) or the raw `pvalue` with `alpha`.

    Returns
    -------
    ndarray of str
        Shaped like the component grid; values from ``LABELS``.

    Examples
    --------
    >>> import numpy as np
    >>> f1 = FeatureResult([1, 1, 1], [.001] * 3, [.01] * 3, [0.9, -0.9, 0.9], [0] * 3, [0] * 3)
    >>> f2 = FeatureResult([1, 1, 1], [.001] * 3, [.01] * 3, [0.9, -0.9, -0.9], [0] * 3, [0] * 3)
    >>> label_components({"f1": f1, "f2": f2}, min_effect=0.5).tolist()
    ['recall', 'reasoning', 'mixed']
    """
    results = _validate_results(results_by_feature)
    shape = next(iter(results.values())).shape
    alpha = _validate_probability(alpha, "alpha")
    if not min_effect >= 0:
        raise ValueError(f"`min_effect` must be >= 0; got {min_effect!r}.")
    if min_consistency is not None:
        min_consistency = _validate_probability(min_consistency, "min_consistency")
    positive, negative = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    for name, res in results.items():
        sig = significant(res, alpha=alpha, min_effect=min_effect, min_consistency=min_consistency,
                          use_adjusted=use_adjusted, name=name)
        positive |= sig & (res.effect > 0)
        negative |= sig & (res.effect < 0)
    labels = np.full(shape, "none", dtype="<U9")
    labels[positive] = "recall"
    labels[negative] = "reasoning"
    labels[positive & negative] = "mixed"
    return labels


def _grid_coordinates(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """layer and index per flat component: [L] -> (l, -1); [L, K, ...] -> (l, flat rest)."""
    if len(shape) == 0:
        return np.zeros(1, dtype=np.int64), np.full(1, -1, dtype=np.int64)
    size = int(np.prod(shape))
    flat = np.arange(size, dtype=np.int64)
    if len(shape) == 1:
        return flat, np.full(size, -1, dtype=np.int64)
    inner = size // shape[0]
    return flat // inner, flat % inner


def specialization_table(results_by_feature: Mapping[str, FeatureResult], *,
                         alpha: float = 0.05, min_effect: float = 0.0,
                         min_consistency: float | None = None, use_adjusted: bool = True,
                         labels: np.ndarray | None = None) -> pd.DataFrame:
    """Long table with one row per (feature, component) and the component's label.

    Columns are ``COLUMNS``: ``layer``; ``index`` (head or neuron index, flattened C-order
    over the axes after the first; -1 for a layer-level grid); ``feature``; ``statistic``,
    ``pvalue``, ``p_adj``, ``effect`` (a - b), ``ci_low``, ``ci_high``, ``consistency`` (NaN
    if not computed) and ``label`` (the component's label from :func:`label_components`,
    repeated on each of its feature rows). Built from whole arrays, so a 530,432-neuron grid
    costs well under a second per feature.

    Parameters
    ----------
    results_by_feature : mapping str -> FeatureResult
    alpha, min_effect, min_consistency, use_adjusted : keyword-only
        Passed to :func:`label_components` (ignored when `labels` is given).
    labels : ndarray of str, optional, keyword-only
        Precomputed labels shaped like the grid.

    Returns
    -------
    pandas.DataFrame
        ``feature`` and ``label`` are categoricals (label categories in ``LABELS`` order).

    Examples
    --------
    >>> import numpy as np
    >>> f = FeatureResult(np.ones((2, 3)), np.full((2, 3), .001), np.full((2, 3), .01),
    ...                   np.full((2, 3), 0.9), np.zeros((2, 3)), np.ones((2, 3)))
    >>> df = specialization_table({"attn_entropy": f}, min_effect=0.5)
    >>> len(df), df.loc[4, "layer"].item(), df.loc[4, "index"].item(), df.loc[4, "label"]
    (6, 1, 1, 'recall')
    """
    results = _validate_results(results_by_feature)
    shape = next(iter(results.values())).shape
    if labels is None:
        labels = label_components(results, alpha=alpha, min_effect=min_effect,
                                  min_consistency=min_consistency, use_adjusted=use_adjusted)
    labels = np.asarray(labels)
    if labels.shape != shape:
        raise ValueError(f"`labels` must have the grid shape {shape}; got {labels.shape}.")
    unknown = set(np.unique(labels).tolist()) - set(LABELS)
    if unknown:
        raise ValueError(f"`labels` must take values in {list(LABELS)}; got {sorted(unknown)}.")
    names = list(results)
    size = int(np.prod(shape))
    layer, index = _grid_coordinates(shape)
    label_codes = pd.Categorical(labels.ravel(), categories=LABELS).codes
    columns: dict[str, object] = {
        "layer": np.tile(layer, len(names)), "index": np.tile(index, len(names)),
        "feature": pd.Categorical.from_codes(np.repeat(np.arange(len(names)), size), names),
    }
    for col in COLUMNS[3:-1]:
        columns[col] = np.concatenate([
            np.full(size, np.nan) if getattr(r, col) is None else np.ravel(getattr(r, col))
            for r in results.values()])
    columns["label"] = pd.Categorical.from_codes(np.tile(label_codes, len(names)), LABELS)
    return pd.DataFrame(columns, columns=list(COLUMNS))
