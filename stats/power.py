"""Statistical power of the per-component tests: the smallest effect a run can detect.

Contents
--------
per_test_alpha        : the level one component is tested at, given the correction and family size.
MinimumDetectable     : frozen result (effect, per-test alpha, degrees of freedom, ...).
min_detectable_effect : smallest |d| detected with the given power, vectorized over sample sizes.
power_t               : power of a two-sided or one-sided t-test at effect |d| (noncentral t).

A claim tests every component at `alpha` after a correction over the m components. For one
component with a true effect among m, the level it must reach is ``alpha / m`` under
Bonferroni and Holm (Holm's first step), and under Benjamini-Hochberg too when it is the only
non-null (BH's smallest threshold is ``alpha / m``; with more non-nulls BH is more lenient, so
the figure is the conservative one); Benjamini-Yekutieli divides further by ``H_m = sum 1/i``.

Effects are Cohen's d: two independent groups (``paired=False``: d = mean difference over the
pooled SD, noncentrality ``d * sqrt(n_a n_b / (n_a + n_b))``, df ``n_a + n_b - 2``) or paired
differences (``paired=True``: d = mean over SD of the differences, noncentrality
``d * sqrt(n)``, df ``n - 1``). A covariate-adjusted test (one covariate) loses one more df:
pass ``n_covariates=1``. Numbers equal statsmodels' ``TTestIndPower`` / ``TTestPower``
``solve_power`` (tests/test_stats_power.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps

from stats.multiple import canonical_method

__all__ = ["MinimumDetectable", "min_detectable_effect", "per_test_alpha", "power_t"]

ALTERNATIVES = ("two-sided", "larger")


def _validate_level(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {value!r}")
    return value


def per_test_alpha(alpha: float, n_tests: int, *, correction: str = "none") -> float:
    """The level a single non-null component is tested at among `n_tests` (see module doc).

    Examples
    --------
    >>> per_test_alpha(0.05, 10, correction="bonferroni")
    0.005
    >>> per_test_alpha(0.05, 10, correction="none")
    0.05
    """
    alpha = _validate_level("alpha", alpha)
    if isinstance(n_tests, bool) or int(n_tests) != n_tests or n_tests < 1:
        raise ValueError(f"`n_tests` must be an integer >= 1, got {n_tests!r}")
    method = canonical_method(correction)
    if method == "none":
        return alpha
    if method == "fdr_by":
        return alpha / (n_tests * float(np.sum(1.0 / np.arange(1, n_tests + 1))))
    return alpha / n_tests  # bonferroni, holm (first step), fdr_bh (one non-null)


def _design(n_a: np.ndarray, n_b: np.ndarray | None, paired: bool, n_covariates: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """(df, noncentrality per unit d) for each sample size."""
    if paired:
        return n_a - 1.0 - n_covariates, np.sqrt(n_a)
    n_b = n_a if n_b is None else n_b
    return n_a + n_b - 2.0 - n_covariates, np.sqrt(n_a * n_b / (n_a + n_b))


def power_t(effect, n_a, n_b=None, *, alpha: float, paired: bool = False, alternative: str = "two-sided",
            n_covariates: int = 0) -> np.ndarray:
    """Power of the t-test at effect |d| with these sample sizes (arrays broadcast).

    Examples
    --------
    >>> round(float(power_t(0.5, 64, alpha=0.05)), 3)
    0.801
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {ALTERNATIVES}, got {alternative!r}")
    alpha = _validate_level("alpha", alpha)
    n_a = np.asarray(n_a, dtype=float)
    n_b = None if n_b is None else np.asarray(n_b, dtype=float)
    df, scale = _design(n_a, n_b, paired, n_covariates)
    nc = np.abs(np.asarray(effect, dtype=float)) * scale
    crit = sps.t.isf(alpha / 2 if alternative == "two-sided" else alpha, df)
    # scipy's noncentral t returns NaN far in its tails: there the tail is 0 (or 1).
    upper = sps.nct.sf(crit, df, nc)
    upper = np.where(np.isnan(upper), (nc > crit).astype(float), upper)
    if alternative != "two-sided":
        return upper
    lower = np.nan_to_num(sps.nct.cdf(-crit, df, nc), nan=0.0)
    return upper + lower


@dataclass(frozen=True)
class MinimumDetectable:
    """Smallest |d| detected with `power` at `alpha_per_test`, per sample size (arrays)."""

    effect: np.ndarray
    alpha_per_test: float
    power: float
    n_a: np.ndarray
    n_b: np.ndarray | None
    paired: bool
    df: np.ndarray


def min_detectable_effect(n_a, n_b=None, *, alpha: float = 0.05, power: float = 0.8, paired: bool = False,
                          n_tests: int = 1, correction: str = "none", alternative: str = "two-sided",
                          n_covariates: int = 0) -> MinimumDetectable:
    """The smallest |Cohen's d| one component's test detects with probability `power`.

    Parameters
    ----------
    n_a, n_b : array_like of int
        Samples per group (`n_b` None: equal groups); for ``paired=True``, pairs (`n_b` unused).
    alpha, n_tests, correction : keyword-only
        The claim's level, the number of components corrected over, and its correction
        (`per_test_alpha`).
    power : float, keyword-only
        Default 0.8.
    n_covariates : int, keyword-only
        Covariates of a regression test (each costs one df).

    Returns
    -------
    MinimumDetectable
        ``effect`` has the broadcast shape of the sample sizes; NaN where df < 1.

    Examples
    --------
    >>> r = min_detectable_effect(38, alpha=1e-4)
    >>> round(float(r.effect), 3)
    1.144
    """
    power = _validate_level("power", power)
    level = per_test_alpha(alpha, n_tests, correction=correction)
    n_a_arr = np.asarray(n_a, dtype=float)
    n_b_arr = None if n_b is None or paired else np.asarray(n_b, dtype=float)
    df, _ = _design(n_a_arr, n_b_arr, paired, n_covariates)
    shape = np.broadcast(n_a_arr, n_b_arr if n_b_arr is not None else n_a_arr).shape
    flat_a = np.broadcast_to(n_a_arr, shape).ravel()
    flat_b = None if n_b_arr is None else np.broadcast_to(n_b_arr, shape).ravel()
    out = np.full(flat_a.shape, np.nan)
    for i in range(flat_a.size):  # one root per distinct design: a handful per run
        nb = None if flat_b is None else flat_b[i]
        d_of = _design(np.array(flat_a[i]), None if nb is None else np.array(nb), paired, n_covariates)[0]
        if d_of < 1:
            continue

        def gap(d: float, na=flat_a[i], nb=nb) -> float:
            return float(power_t(d, na, nb, alpha=level, paired=paired, alternative=alternative,
                                 n_covariates=n_covariates)) - power

        high = 1.0
        while gap(high) < 0 and high < 1e4:
            high *= 2.0
        out[i] = optimize.brentq(gap, 0.0, high, xtol=1e-10, rtol=1e-10)
    return MinimumDetectable(out.reshape(shape), level, power, n_a_arr,
                             None if n_b_arr is None else n_b_arr, paired, np.asarray(df))
