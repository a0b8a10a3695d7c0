"""Two-sample and paired hypothesis tests, vectorized over components.

Contents
--------
MannWhitneyResult, TTestResult, WilcoxonResult : frozen named results (``statistic``,
                  ``pvalue``, ...), scipy-style.
mann_whitney    : rank-sum test, average ranks for ties, normal approximation with tie and
                  continuity correction (= ``scipy.stats.mannwhitneyu(method="asymptotic")``).
welch_t         : unequal-variance t test (= ``scipy.stats.ttest_ind(equal_var=False)``).
paired_t        : t test of the paired differences (= ``scipy.stats.ttest_rel``).
wilcoxon_paired : signed-rank test of the paired differences (= ``scipy.stats.wilcoxon``,
                  exact null for small samples without ties or zeros).
permutation_test: label permutations or sign flips for all components at once, with the
                  max-statistic null for family-wise control (see :mod:`stats._permutation`).

Data: samples along `axis` (default 0), components along all other axes; a and b must have
the same component shape. Direction is always **a minus b** (a = recall, b = reasoning).

Policies
--------
* Constant data: a component whose values are all identical (both groups) gets p = 1 and a
  "no difference" statistic (t = 0, U = n_a n_b / 2, W = 0) for every alternative. Zero
  spread within groups but different means gives t = +-inf and p = 0 (or 1 against the
  wrong direction), the limit scipy also returns; Mann-Whitney handles it through ranks.
* Non-finite input: with ``nan_policy="propagate"`` (default) a component containing any NaN
  or +-inf gets NaN statistic and p-value; other components are unaffected. ``"raise"``
  raises ``ValueError``. (scipy ranks +-inf in Mann-Whitney; we treat inf as a data error.)
* Too few samples (t tests: fewer than 2 per group or pair) give NaN with a
  ``RuntimeWarning``; empty input raises ``ValueError`` naming the argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special

from stats._permutation import PermutationResult, permutation_test
from stats._ranks import rank_sum_a, sorted_ranks
from stats._validate import (
    _column_moments,
    _map_columns,
    _validate_alternative,
    _validate_choice,
    _validate_level,
    _validate_samples,
    _warn_small,
)
from stats.effect_size import ConfidenceInterval

__all__ = ["MannWhitneyResult", "TTestResult", "WilcoxonResult", "PermutationResult",
           "mann_whitney", "welch_t", "paired_t", "wilcoxon_paired", "permutation_test"]

ZERO_METHODS = ("wilcox", "pratt", "zsplit")
WILCOXON_METHODS = ("auto", "exact", "asymptotic")
EXACT_MAX_N = 50  # same switch-over as scipy's method="auto"


@dataclass(frozen=True, eq=False)
class MannWhitneyResult:
    """``statistic`` is U of `a` (pairs (i, j) with a_i > b_j, ties counted 1/2)."""

    statistic: np.ndarray
    pvalue: np.ndarray
    n_a: int
    n_b: int

    def rank_biserial(self) -> np.ndarray:
        """Rank-biserial correlation ``2 U / (n_a n_b) - 1`` in [-1, 1] (a minus b)."""
        return (2.0 * np.asarray(self.statistic) / (self.n_a * self.n_b) - 1.0)[()]


@dataclass(frozen=True, eq=False)
class TTestResult:
    """t statistic, p-value, degrees of freedom and the estimated mean difference a - b."""

    statistic: np.ndarray
    pvalue: np.ndarray
    df: np.ndarray
    estimate: np.ndarray
    stderr: np.ndarray
    alternative: str

    def confidence_interval(self, level: float = 0.95) -> ConfidenceInterval:
        """t interval for the mean difference, one-sided when `alternative` is (as scipy)."""
        level = _validate_level(level)
        est, se, df = (np.asarray(v, dtype=float) for v in (self.estimate, self.stderr, self.df))
        if self.alternative == "two-sided":
            q = special.stdtrit(df, 0.5 + level / 2)
            return ConfidenceInterval((est - q * se)[()], (est + q * se)[()])
        q = special.stdtrit(df, level)
        if self.alternative == "greater":
            return ConfidenceInterval((est - q * se)[()], np.full_like(est, np.inf)[()])
        return ConfidenceInterval(np.full_like(est, -np.inf)[()], (est + q * se)[()])


@dataclass(frozen=True, eq=False)
class WilcoxonResult:
    """scipy's statistic (min(W+, W-) if two-sided, else W+), p-value, W+ and signed z.

    ``zstatistic`` is ``(W+ - E W+) / SD`` (continuity-corrected if asked) where the normal
    approximation was used and NaN where the exact null was used.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    r_plus: np.ndarray
    zstatistic: np.ndarray


def _t_pvalue(t: np.ndarray, df: np.ndarray, alternative: str) -> np.ndarray:
    df = np.where(np.isnan(df) & ~np.isnan(t), 1.0, df)  # df is irrelevant at t = 0 or inf
    if alternative == "two-sided":
        return 2.0 * special.stdtr(df, -np.abs(t))
    return special.stdtr(df, -t if alternative == "greater" else t)


def _normal_pvalue(z: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return np.minimum(2.0 * special.ndtr(-np.abs(z)), 1.0)
    return special.ndtr(-z if alternative == "greater" else z)


def mann_whitney(a, b, *, axis: int = 0, alternative: str = "two-sided",
                 nan_policy: str = "propagate") -> MannWhitneyResult:
    """Mann-Whitney U test of a vs b per component (normal approximation, ties corrected).

    Same numbers as ``scipy.stats.mannwhitneyu(a, b, method="asymptotic")`` (continuity
    correction on), computed for every component at once.

    Parameters
    ----------
    a, b : array_like
        Samples along `axis`; sizes may differ.
    axis : int, keyword-only
        Sample axis. Default 0.
    alternative : {"two-sided", "less", "greater"}, keyword-only
        "greater": a tends to be larger than b. Default "two-sided".
    nan_policy : {"propagate", "raise"}, keyword-only
        See the module docstring. Default "propagate".

    Returns
    -------
    MannWhitneyResult
        ``statistic`` (U of a) and ``pvalue``, shaped like the component grid.

    Examples
    --------
    >>> import numpy as np
    >>> res = mann_whitney(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    >>> float(res.statistic), round(float(res.pvalue), 4)
    (9.0, 0.0809)
    """
    alternative = _validate_alternative(alternative)
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, nan_policy=nan_policy)
    n1, n2 = x.shape[0], y.shape[0]
    n = n1 + n2
    r1, tie_term, finite = _map_columns(rank_sum_a, (x, y), dtype=None)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    u = {"greater": u1, "less": u2, "two-sided": np.maximum(u1, u2)}[alternative]
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))) if n > 1 else 0.0
        z = (u - n1 * n2 / 2.0 - 0.5) / sd
    # all values tied gives sd = 0 and z = -inf, hence p = 1 (the constant-data policy)
    p = np.clip(special.ndtr(-z) * (2.0 if alternative == "two-sided" else 1.0), 0.0, 1.0)
    u1, p = np.where(finite, u1, np.nan), np.where(finite, p, np.nan)
    return MannWhitneyResult(u1.reshape(shape)[()], p.reshape(shape)[()], n1, n2)


def _welch_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    n1, n2 = x.shape[0], y.shape[0]
    m1, v1, f1 = _column_moments(x)
    m2, v2, f2 = _column_moments(y)
    w1, w2 = v1 / n1, v2 / n2
    df = (w1 + w2) ** 2 / (w1 ** 2 / (n1 - 1) + w2 ** 2 / (n2 - 1))
    return m1 - m2, np.sqrt(w1 + w2), df, f1 & f2


def _paired_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    n = x.shape[0]
    mean, var, finite = _column_moments(x - y)
    return mean, np.sqrt(var / n), np.full(mean.shape, n - 1.0), finite


def _t_result(est, se, df, finite, alternative, shape) -> TTestResult:
    # se = 0 means no spread: t is 0 (equal means, reported with p = 1) or +-inf.
    with np.errstate(invalid="ignore"):
        t = np.where(se > 0, est / np.where(se > 0, se, 1.0), np.sign(est) * np.inf)
    no_diff = (se == 0) & (est == 0)
    t = np.where(no_diff, 0.0, t)
    df = np.where(se > 0, df, np.nan)
    p = np.where(no_diff, 1.0, _t_pvalue(t, df, alternative))
    out = [np.where(finite, v, np.nan).reshape(shape)[()] for v in (t, p, df, est, se)]
    return TTestResult(*out, alternative=alternative)


def welch_t(a, b, *, axis: int = 0, alternative: str = "two-sided",
            nan_policy: str = "propagate") -> TTestResult:
    """Welch's unequal-variance t test of mean(a) - mean(b), per component.

    Same numbers as ``scipy.stats.ttest_ind(a, b, equal_var=False)``.

    Parameters
    ----------
    a, b : array_like
        Samples along `axis`; at least 2 in each group (else NaN and a warning).
    axis, alternative, nan_policy : keyword-only
        As :func:`mann_whitney`.

    Returns
    -------
    TTestResult
        ``statistic``, ``pvalue``, ``df`` (Welch-Satterthwaite), ``estimate``, ``stderr``
        and ``confidence_interval(level)`` for the mean difference.

    Examples
    --------
    >>> import numpy as np
    >>> res = welch_t(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0]))
    >>> round(float(res.statistic), 4), float(res.df)
    (2.4495, 4.0)
    """
    alternative = _validate_alternative(alternative)
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, nan_policy=nan_policy)
    if min(x.shape[0], y.shape[0]) < 2:
        _warn_small("welch_t", f"needs >= 2 samples per group, got {x.shape[0]} and {y.shape[0]}")
        nan = np.full(x.shape[1], np.nan)
        return _t_result(nan, nan, nan, np.zeros(x.shape[1], bool), alternative, shape)
    est, se, df, finite = _map_columns(_welch_kernel, (x, y))
    return _t_result(est, se, df, finite, alternative, shape)


def paired_t(a, b, *, axis: int = 0, alternative: str = "two-sided",
             nan_policy: str = "propagate") -> TTestResult:
    """Paired t test of mean(a - b) = 0, per component (= ``scipy.stats.ttest_rel``).

    Parameters
    ----------
    a, b : array_like
        Paired samples along `axis` (row i of a with row i of b); at least 2 pairs.
    axis, alternative, nan_policy : keyword-only
        As :func:`mann_whitney`.

    Returns
    -------
    TTestResult

    Examples
    --------
    >>> import numpy as np
    >>> res = paired_t(np.array([3.0, 5.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    >>> round(float(res.statistic), 4), float(res.df)
    (3.4641, 2.0)
    """
    alternative = _validate_alternative(alternative)
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, paired=True,
                                      nan_policy=nan_policy)
    if x.shape[0] < 2:
        _warn_small("paired_t", f"needs >= 2 pairs, got {x.shape[0]}")
        nan = np.full(x.shape[1], np.nan)
        return _t_result(nan, nan, nan, np.zeros(x.shape[1], bool), alternative, shape)
    est, se, df, finite = _map_columns(_paired_kernel, (x, y))
    return _t_result(est, se, df, finite, alternative, shape)


@lru_cache(maxsize=64)
def _signed_rank_null(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact null CDF and SF of W+ for n untied, non-zero differences (k = 0..n(n+1)/2)."""
    pmf = np.ones(1)
    for size in range(1, n + 1):  # W+ of size = W+ of size-1, plus `size` with prob. 1/2
        prev, pmf = pmf, np.zeros(size * (size + 1) // 2 + 1)
        pmf[:prev.size] = prev * 0.5
        pmf[-prev.size:] += prev * 0.5
    return np.cumsum(pmf), np.cumsum(pmf[::-1])[::-1]


def _wilcoxon_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    d = (x - y).T.copy()
    order, ranks, tie_term = sorted_ranks(np.abs(d))
    sd = np.take_along_axis(d, order, axis=1)
    n_zero = (d == 0).sum(axis=1).astype(float)
    r_plus = np.where(sd > 0, ranks, 0.0).sum(axis=1)
    r_minus = np.where(sd < 0, ranks, 0.0).sum(axis=1)
    n_pos, n_neg = (d > 0).sum(axis=1).astype(float), (d < 0).sum(axis=1).astype(float)
    return r_plus, r_minus, n_zero, n_pos, n_neg, tie_term, np.isfinite(d).all(axis=1)


def wilcoxon_paired(a, b, *, axis: int = 0, alternative: str = "two-sided",
                    zero_method: str = "wilcox", correction: bool = False,
                    method: str = "auto", nan_policy: str = "propagate") -> WilcoxonResult:
    """Wilcoxon signed-rank test of the paired differences a - b, per component.

    Same numbers as ``scipy.stats.wilcoxon(a, b, ...)`` with the same options, with one
    documented difference: ``method="auto"`` decides per component (exact null when that
    component has n <= 50 differences, no zeros and no ties; otherwise the tie-corrected
    normal approximation), where scipy decides once for the whole array and uses a
    permutation test for small tied samples.

    Parameters
    ----------
    a, b : array_like
        Paired samples along `axis`.
    alternative : {"two-sided", "less", "greater"}, keyword-only
        "greater": a - b tends to be positive.
    zero_method : {"wilcox", "pratt", "zsplit"}, keyword-only
        Treatment of zero differences, as scipy. Default "wilcox" (drop them).
    correction : bool, keyword-only
        Continuity correction of the normal approximation. Default False (as scipy).
    method : {"auto", "exact", "asymptotic"}, keyword-only
        Null distribution. "exact" with ties or zeros is conservative (as scipy).
    axis, nan_policy : keyword-only
        As :func:`mann_whitney`.

    Returns
    -------
    WilcoxonResult

    Examples
    --------
    >>> import numpy as np
    >>> res = wilcoxon_paired(np.arange(1.0, 7.0), np.zeros(6))
    >>> float(res.statistic), round(float(res.pvalue), 5)
    (0.0, 0.03125)
    """
    alternative = _validate_alternative(alternative)
    _validate_choice(zero_method, "zero_method", ZERO_METHODS)
    _validate_choice(method, "method", WILCOXON_METHODS)
    if not isinstance(correction, (bool, np.bool_)):
        raise TypeError(f"`correction` must be True or False; got {correction!r}.")
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, paired=True,
                                      nan_policy=nan_policy)
    n = float(x.shape[0])
    r_plus, r_minus, nz, n_pos, n_neg, tie_term, finite = _map_columns(
        _wilcoxon_kernel, (x, y))
    zero_ties = nz ** 3 - nz  # zeros are the smallest |d|, so they form the first tie group
    if zero_method == "wilcox":
        count, ties = n - nz, tie_term - zero_ties
        # ranks were taken with the zeros present; dropping them shifts each rank down by nz
        r_plus, r_minus = r_plus - nz * n_pos, r_minus - nz * n_neg
        mean, var = count * (count + 1) / 4, count * (count + 1) * (2 * count + 1)
    elif zero_method == "pratt":
        count, ties = np.full_like(nz, n), tie_term - zero_ties
        mean = (n * (n + 1) - nz * (nz + 1)) / 4
        var = n * (n + 1) * (2 * n + 1) - nz * (nz + 1) * (2 * nz + 1)
    else:
        count, ties = np.full_like(nz, n), tie_term
        r_plus, r_minus = r_plus + nz * (nz + 1) / 4, r_minus + nz * (nz + 1) / 4
        mean, var = n * (n + 1) / 4, n * (n + 1) * (2 * n + 1)
    se = np.sqrt(np.maximum(var - ties / 2, 0.0) / 24)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (r_plus - mean) / se
        if correction:
            sign = {"greater": 1.0, "less": -1.0}.get(alternative, np.sign(z))
            z = z - sign * 0.5 / se
    p = _normal_pvalue(z, alternative)
    exact = finite & (count > 0) & (method != "asymptotic")
    if method == "auto":
        exact &= (count <= EXACT_MAX_N) & (nz == 0) & (ties == 0)
    if exact.any():
        p = np.where(exact, _exact_pvalue(r_plus, count, exact, alternative), p)
    z = np.where(exact, np.nan, z)
    p = np.where(se == 0, 1.0, p)  # every difference is zero: no evidence either way
    stat = np.minimum(r_plus, r_minus) if alternative == "two-sided" else r_plus
    out = [np.where(finite, v, np.nan).reshape(shape)[()] for v in (stat, p, r_plus, z)]
    return WilcoxonResult(*out)


def _exact_pvalue(r_plus, count, mask, alternative) -> np.ndarray:
    # W+ with ties or zeros can be fractional: ceil for the lower tail, floor for the upper
    # tail is the conservative reading scipy uses, and keeps swap symmetry.
    p_less, p_greater = np.ones(r_plus.shape), np.ones(r_plus.shape)
    for n in np.unique(count[mask]).astype(int):  # a few distinct sample sizes, not components
        sel = mask & (count == n)
        cdf, sf = _signed_rank_null(n)
        p_less[sel] = cdf[np.clip(np.ceil(r_plus[sel]).astype(int), 0, cdf.size - 1)]
        p_greater[sel] = sf[np.clip(np.floor(r_plus[sel]).astype(int), 0, sf.size - 1)]
    if alternative == "less":
        return p_less
    if alternative == "greater":
        return p_greater
    return np.clip(2.0 * np.minimum(p_less, p_greater), 0.0, 1.0)
