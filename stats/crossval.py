"""Folds over prompt pairs, fold consistency and cross-fitting.

Contents
--------
TESTS, EFFECTS     : test and effect-size functions by name (the names claims use).
pair_folds         : k folds that partition the pair indices (a pair never straddles folds).
ConsistencyResult  : ``fraction``, ``n_pass``, ``passed``, ``full_effect``, ``n_folds``, ...
consistency        : per component, the fraction of folds in which it passes the test with
                     the same sign as on the full data.
CrossFitResult     : ``selected`` masks and the held-out ``evaluations`` per fold.
cross_fit          : select on the training folds, evaluate on the held-out fold.
cross_fit_confirmation : per component, the share of folds in which it was selected on the
                     training folds and confirmed on the held-out fold by a permutation test
                     (max-statistic, BY or no family-wise control over the selected ones).
resolve_test_effect: test and effect-size callables from their names (or callables).

Folds index **pairs**: row i of `a` and row i of `b` are pair i (recall prompt i and its
matched reasoning prompt), so both go to the same fold. `a` and `b` therefore need the same
number of rows even when the test itself is unpaired (Mann-Whitney, Welch).

"Fold data" in :func:`consistency`
----------------------------------
``fold_data="train"`` (default, the study's procedure): the test for fold j is run on all
pairs *except* fold j, i.e. on (k-1)/k of the data. Such results overlap heavily, so the
fraction measures the stability of a finding under removal of 1/k of the data; it is not a
count of independent replications. ``fold_data="test"``: the test for fold j is run on fold
j alone; the k results are independent but each has only n/k pairs (low power). Neither
mode lets the same data both select and confirm a component; use :func:`cross_fit` for that.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stats._validate import (
    _validate_choice,
    _validate_int,
    _validate_probability,
    _validate_rng,
    _validate_samples,
)
from stats.effect_size import cohens_d, d_av, hedges_g, paired_d
from stats.multiple import adjust_pvalues, canonical_method
from stats.regression import covariate_adjusted_two_sample
from stats.tests import mann_whitney, paired_t, welch_t, wilcoxon_paired

__all__ = ["TESTS", "EFFECTS", "pair_folds", "ConsistencyResult", "consistency",
           "CrossFitResult", "cross_fit", "cross_fit_confirmation", "resolve_test_effect"]

TESTS: Mapping[str, Callable] = {
    "mann_whitney": mann_whitney, "welch_t": welch_t, "paired_t": paired_t,
    "wilcoxon_paired": wilcoxon_paired, "covariate_adjusted": covariate_adjusted_two_sample,
}
PAIRED_TESTS = ("paired_t", "wilcoxon_paired")
EFFECTS: Mapping[str, Callable] = {"cohens_d": cohens_d, "hedges_g": hedges_g,
                                   "paired_d": paired_d, "d_av": d_av}
FOLD_DATA = ("train", "test")
FAMILYWISE = ("max_t", "fdr_by", "none")


def pair_folds(n_pairs: int, k: int, *, rng=None) -> tuple[np.ndarray, ...]:
    """Split pair indices ``0..n_pairs-1`` at random into k folds of near-equal size.

    Parameters
    ----------
    n_pairs : int
        Number of pairs (>= k).
    k : int
        Number of folds (>= 2). Sizes differ by at most one.
    rng : None, int or numpy.random.Generator, keyword-only
        Seed; ``None`` means seed 0.

    Returns
    -------
    tuple of ndarray
        k sorted integer arrays that partition ``range(n_pairs)``.

    Examples
    --------
    >>> [f.tolist() for f in pair_folds(5, 2, rng=0)]
    [[2, 3, 4], [0, 1]]
    """
    n_pairs = _validate_int(n_pairs, "n_pairs", minimum=1)
    k = _validate_int(k, "k", minimum=2)
    if k > n_pairs:
        raise ValueError(f"`k` must be <= `n_pairs` so no fold is empty; got k={k}, "
                         f"n_pairs={n_pairs}.")
    perm = _validate_rng(rng).permutation(n_pairs)
    return tuple(np.sort(part) for part in np.array_split(perm, k))


def _validate_folds(folds: object, n: int) -> tuple[np.ndarray, ...]:
    if isinstance(folds, np.ndarray) or not isinstance(folds, Sequence) or len(folds) < 2:
        raise TypeError(f"`folds` must be a sequence of >= 2 index arrays (see pair_folds); "
                        f"got {type(folds).__name__}.")
    out, seen = [], np.zeros(n, dtype=bool)
    for j, fold in enumerate(folds):
        f = np.asarray(fold)
        if f.ndim != 1 or f.size == 0 or not np.issubdtype(f.dtype, np.integer):
            raise ValueError(f"`folds`[{j}] must be a non-empty 1-D integer array; got {fold!r}.")
        if f.min() < 0 or f.max() >= n:
            raise ValueError(f"`folds`[{j}] indexes pairs outside 0..{n - 1}.")
        if seen[f].any() or np.unique(f).size != f.size:
            raise ValueError(f"`folds` must be disjoint: `folds`[{j}] repeats a pair.")
        seen[f] = True
        out.append(f)
    return tuple(out)


def _pairs(a, b, axis) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"folds index pairs, so `a` and `b` need the same number of rows; "
                         f"got {x.shape[0]} and {y.shape[0]}.")
    return x, y, shape


def resolve_test_effect(test, effect) -> tuple[Callable, Callable | None]:
    """Test and effect callables from names; effect None picks the one matching the test."""
    if isinstance(test, str):
        test_fn = TESTS[_validate_choice(test, "test", tuple(TESTS))]
    elif callable(test):
        test_fn = test
    else:
        raise TypeError(f"`test` must be one of {list(TESTS)} or a callable; got {test!r}.")
    if effect is None:
        if test == "covariate_adjusted":
            return test_fn, None  # its result carries the adjusted effect itself
        effect = "paired_d" if test in PAIRED_TESTS else "cohens_d"
    if isinstance(effect, str):
        return test_fn, EFFECTS[_validate_choice(effect, "effect", tuple(EFFECTS))]
    if callable(effect):
        return test_fn, effect
    raise TypeError(f"`effect` must be one of {list(EFFECTS)}, a callable or None; got {effect!r}.")


def _run(test_fn, effect_fn, x, y, shape, covariates, idx, alternative):
    """p-values and effects (flat arrays) of the test on the rows `idx`."""
    xa, yb = x[idx].reshape((-1,) + shape), y[idx].reshape((-1,) + shape)
    if covariates is not None:
        res = test_fn(xa, yb, covariates[0][idx], covariates[1][idx], alternative=alternative)
    else:
        res = test_fn(xa, yb, alternative=alternative) if test_fn in TESTS.values() \
            else test_fn(xa, yb)
    eff = res.effect if effect_fn is None else effect_fn(xa, yb)
    eff = getattr(eff, "effect", eff)
    return np.asarray(res.pvalue, float).ravel(), np.asarray(eff, float).ravel()


@dataclass(frozen=True, eq=False)
class ConsistencyResult:
    """Per-component fold consistency.

    Attributes
    ----------
    fraction : ndarray
        ``n_pass / n_folds`` per component, in [0, 1].
    n_pass : ndarray of int
        Folds in which the component passed with the full-data sign.
    passed : ndarray of bool, shape [n_folds, *grid]
        Pass/fail per fold.
    full_effect : ndarray
        Effect on all pairs; its sign is the reference sign (0 or NaN: never passes).
    n_folds : int
    fold_data : str
        ``"train"`` or ``"test"`` (see the module docstring).
    """

    fraction: np.ndarray
    n_pass: np.ndarray
    passed: np.ndarray
    full_effect: np.ndarray
    n_folds: int
    fold_data: str


def consistency(a, b, folds, *, test="mann_whitney", effect=None, alpha: float = 0.05,
                min_effect: float = 0.0, fold_data: str = "train", adjust: str = "none",
                covariates: tuple | None = None, axis: int = 0,
                alternative: str = "two-sided") -> ConsistencyResult:
    """Fraction of folds in which each component passes the test with the full-data sign.

    A component passes in fold j when, on that fold's data (see `fold_data`), its p-value
    (adjusted over the grid within the fold if `adjust` is not "none") is below `alpha`,
    ``|effect| >= min_effect``, and the effect has the same sign as on all pairs.

    Parameters
    ----------
    a, b : array_like
        Pair-aligned samples along `axis` (a = recall, b = reasoning).
    folds : sequence of int arrays
        Disjoint pair-index folds, e.g. from :func:`pair_folds`.
    test : str or callable, keyword-only
        A name from ``TESTS`` or ``f(a, b) -> result with .pvalue``. Default "mann_whitney".
    effect : str, callable or None, keyword-only
        A name from ``EFFECTS`` or ``f(a, b) -> result with .effect (or an array)``. None:
        paired_d for paired tests, cohens_d otherwise, the adjusted effect for
        "covariate_adjusted".
    alpha, min_effect : float, keyword-only
        Pass thresholds. Defaults 0.05 and 0.
    fold_data : {"train", "test"}, keyword-only
        Run fold j's test on all pairs but fold j ("train", default) or on fold j ("test").
    adjust : str, keyword-only
        Multiple-comparison method applied within each fold (see ``adjust_pvalues``).
    covariates : (covariates_a, covariates_b), keyword-only
        Required for ``test="covariate_adjusted"``; rows aligned with a and b.
    axis : int, keyword-only
        Sample axis. Default 0.
    alternative : str, keyword-only
        Passed to named tests. Default "two-sided".

    Returns
    -------
    ConsistencyResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(2.0, 1.0, (30, 3)), rng.normal(0.0, 1.0, (30, 3))
    >>> res = consistency(a, b, pair_folds(30, 5, rng=0), alpha=0.01, min_effect=0.8)
    >>> res.fraction.tolist()
    [1.0, 1.0, 1.0]
    """
    alpha = _validate_probability(alpha, "alpha")
    if not np.isfinite(min_effect) or min_effect < 0:
        raise ValueError(f"`min_effect` must be a finite number >= 0; got {min_effect!r}.")
    _validate_choice(fold_data, "fold_data", FOLD_DATA)
    adjust = canonical_method(adjust)  # fail before any computation, not after the full-data test
    test_fn, effect_fn = resolve_test_effect(test, effect)
    if (test == "covariate_adjusted") != (covariates is not None):
        raise ValueError("`covariates` (covariates_a, covariates_b) are required for "
                         "test='covariate_adjusted' and only for it.")
    x, y, shape = _pairs(a, b, axis)
    folds = _validate_folds(folds, x.shape[0])
    everything = np.arange(x.shape[0])
    _, full = _run(test_fn, effect_fn, x, y, shape, covariates, everything, alternative)
    sign = np.where(np.isfinite(full), np.sign(full), 0.0)
    passed = np.zeros((len(folds), full.size), dtype=bool)
    for j, fold in enumerate(folds):  # k iterations; each call is vectorized over components
        idx = np.setdiff1d(everything, fold) if fold_data == "train" else fold
        p, eff = _run(test_fn, effect_fn, x, y, shape, covariates, idx, alternative)
        if adjust != "none":
            p = adjust_pvalues(p, method=adjust)
        passed[j] = (p < alpha) & (np.abs(eff) >= min_effect) & (np.sign(eff) == sign) & (sign != 0)
    n_pass = passed.sum(axis=0)
    return ConsistencyResult((n_pass / len(folds)).reshape(shape)[()], n_pass.reshape(shape)[()],
                             passed.reshape((len(folds),) + shape), full.reshape(shape)[()],
                             len(folds), fold_data)


@dataclass(frozen=True, eq=False)
class CrossFitResult:
    """Selections made on training folds and their evaluations on the held-out folds."""

    selected: np.ndarray          # [n_folds, *grid] bool
    evaluations: tuple[Any, ...]  # evaluate(...) output per fold
    folds: tuple[np.ndarray, ...]


def cross_fit(a, b, folds, *, select: Callable, evaluate: Callable,
              axis: int = 0) -> CrossFitResult:
    """Select components on the training pairs, evaluate them on the held-out pairs.

    For each fold j: ``mask = select(a_train, b_train)`` (all pairs outside fold j) must be
    a boolean array shaped like the component grid; then ``evaluate(a_test, b_test, mask)``
    sees only fold j. The same pair never both selects and confirms a component. The arrays
    given to the callables have samples on axis 0 and the original component axes.

    Parameters
    ----------
    a, b : array_like
        Pair-aligned samples along `axis`.
    folds : sequence of int arrays
        Disjoint pair-index folds (e.g. :func:`pair_folds`).
    select : callable, keyword-only
        ``select(a_train, b_train) -> bool mask``.
    evaluate : callable, keyword-only
        ``evaluate(a_test, b_test, mask) -> anything`` (e.g. a test on ``a_test[:, mask]``).
    axis : int, keyword-only
        Sample axis. Default 0.

    Returns
    -------
    CrossFitResult

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    >>> a[:, 0] += 3.0
    >>> res = cross_fit(a, b, pair_folds(20, 2, rng=0),
    ...                 select=lambda x, y: welch_t(x, y).pvalue < 0.001,
    ...                 evaluate=lambda x, y, m: welch_t(x[:, m], y[:, m]).pvalue)
    >>> res.selected[:, 0].tolist(), bool(res.evaluations[0][0] < 0.001)
    ([True, True], True)
    """
    if not callable(select) or not callable(evaluate):
        raise TypeError("`select` and `evaluate` must be callables (see the docstring).")
    x, y, shape = _pairs(a, b, axis)
    folds = _validate_folds(folds, x.shape[0])
    everything = np.arange(x.shape[0])
    masks, evaluations = [], []
    for j, fold in enumerate(folds):
        train = np.setdiff1d(everything, fold)
        mask = np.asarray(select(x[train].reshape((-1,) + shape), y[train].reshape((-1,) + shape)))
        if mask.dtype != bool or mask.shape != shape:
            raise ValueError(f"`select` must return a bool mask of shape {shape}; got "
                             f"{mask.dtype} {mask.shape} for fold {j}.")
        masks.append(mask)
        evaluations.append(evaluate(x[fold].reshape((-1,) + shape),
                                    y[fold].reshape((-1,) + shape), mask))
    return CrossFitResult(np.stack(masks), tuple(evaluations), folds)


def cross_fit_confirmation(a, b, folds, *, test="mann_whitney", effect=None, alpha: float = 0.05,
                           min_effect: float = 0.0, adjust: str = "none", confirm_alpha: float = 0.05,
                           n_perm: int = 200, familywise: str = "max_t", covariates: tuple | None = None,
                           rng=None, axis: int = 0) -> ConsistencyResult:
    """Select on k-1 folds, confirm on the held-out fold; per component the share of folds
    in which it was both selected and confirmed.

    Fold j: on all pairs but fold j a component is *selected* when its (`adjust`-ed) p <
    `alpha` and ``|effect| >= min_effect``; on fold j alone, the selected components are tested
    in the selected direction with a permutation test of the paired t statistic (within-pair
    label swaps, `n_perm` draws, see `stats.tests.permutation_test`), and *confirmed* when their
    p-value is below `confirm_alpha` after `familywise` control over the selected components:
    "max_t" (Westfall-Young single-step max-T: family-wise error), "fdr_by" (Benjamini-Yekutieli)
    or "none". No pair both selects and confirms a component (`cross_fit`).

    Returns
    -------
    ConsistencyResult
        ``fraction`` = confirmed folds / k, ``passed`` [k, *grid] (selected and confirmed),
        ``full_effect`` on all pairs, ``fold_data`` "cross_fit".

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    >>> a[:, 0] += 2.0
    >>> res = cross_fit_confirmation(a, b, pair_folds(40, 4, rng=0), alpha=0.01, min_effect=0.8)
    >>> res.fraction.tolist()
    [1.0, 0.0, 0.0]
    """
    from stats._permutation import permutation_test

    alpha = _validate_probability(alpha, "alpha")
    confirm_alpha = _validate_probability(confirm_alpha, "confirm_alpha")
    n_perm = _validate_int(n_perm, "n_perm", minimum=1)
    _validate_choice(familywise, "familywise", FAMILYWISE)
    if not np.isfinite(min_effect) or min_effect < 0:
        raise ValueError(f"`min_effect` must be a finite number >= 0; got {min_effect!r}.")
    adjust = canonical_method(adjust)
    test_fn, effect_fn = resolve_test_effect(test, effect)
    if (test == "covariate_adjusted") != (covariates is not None):
        raise ValueError("`covariates` (covariates_a, covariates_b) are required for "
                         "test='covariate_adjusted' and only for it.")
    x, y, shape = _pairs(a, b, axis)
    folds = _validate_folds(folds, x.shape[0])
    if min(f.size for f in folds) < 2:
        raise ValueError("every held-out fold needs at least 2 pairs to be confirmed on.")
    gen = _validate_rng(rng)
    everything = np.arange(x.shape[0])
    _, full = _run(test_fn, effect_fn, x, y, shape, covariates, everything, "two-sided")
    passed = np.zeros((len(folds), full.size), dtype=bool)
    for j, fold in enumerate(folds):  # k iterations; selection and confirmation are vectorized
        train = np.setdiff1d(everything, fold)
        p, eff = _run(test_fn, effect_fn, x, y, shape, covariates, train, "two-sided")
        if adjust != "none":
            p = adjust_pvalues(p, method=adjust)
        with np.errstate(invalid="ignore"):
            chosen = np.flatnonzero((p < alpha) & (np.abs(eff) >= min_effect) & np.isfinite(eff))
        if chosen.size == 0:
            continue
        sign = np.sign(eff[chosen])
        held_a = x[fold][:, chosen] * sign  # oriented so that the selected direction is "greater"
        held_b = y[fold][:, chosen] * sign
        res = permutation_test(held_a, held_b, statistic="t", paired=True, n_resamples=n_perm,
                               alternative="greater", rng=gen)
        if familywise == "max_t":
            q = res.fwer_pvalue()
        elif familywise == "fdr_by":
            q = adjust_pvalues(res.pvalue, method="fdr_by")
        else:
            q = res.pvalue
        with np.errstate(invalid="ignore"):
            passed[j, chosen] = np.asarray(q) < confirm_alpha
    n_pass = passed.sum(axis=0)
    return ConsistencyResult((n_pass / len(folds)).reshape(shape)[()], n_pass.reshape(shape)[()],
                             passed.reshape((len(folds),) + shape), full.reshape(shape)[()],
                             len(folds), "cross_fit")
