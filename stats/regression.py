"""Covariate-adjusted test of a group effect, vectorized over components.

Contents
--------
CovariateTestResult           : ``statistic`` (t), ``pvalue``, ``coefficient``, ``stderr``,
                                ``effect`` (coefficient / residual SD), ``resid_sd``, ``df``,
                                ``confidence_interval(level)``, ``effect_interval(level)``.
covariate_adjusted_test       : OLS of y on [1, group, covariates] for every component.
covariate_adjusted_two_sample : the same for two samples a, b (group = 1 for a, 0 for b).

Every component shares one design matrix, so it is factorized once (QR) and applied to all
components with matrix products; the numbers equal statsmodels ``OLS(y, X).fit()`` for the
group column. Typical use: the task effect with token count as a nuisance covariate.

Policies: a component whose y is constant gets coefficient 0, t = 0, p = 1, effect 0; a
component fitted exactly (no residual spread) gets t = +-inf, p = 0 (or 1 against the wrong
direction) and effect NaN; NaN/inf in y make that component NaN (or raise); NaN/inf or a
rank-deficient design (e.g. a covariate collinear with the group) raise ``ValueError``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from stats._validate import (
    _as_real_array,
    _map_columns,
    _validate_alternative,
    _validate_level,
    _validate_samples,
)
from stats.effect_size import ConfidenceInterval

__all__ = ["CovariateTestResult", "covariate_adjusted_test", "covariate_adjusted_two_sample"]

# Residual spread below this fraction of y's spread is rounding noise of an exact fit.
EXACT_FIT_RTOL = 1e-10


@dataclass(frozen=True, eq=False)
class CovariateTestResult:
    """Group coefficient of the OLS fit per component, with its t test.

    Attributes
    ----------
    statistic : ndarray
        t = coefficient / stderr.
    pvalue : ndarray
        From Student's t with ``df = n - p`` degrees of freedom.
    coefficient : ndarray
        Change in y per unit of `group` holding the covariates fixed (with 0/1 coding:
        adjusted mean of group 1 minus group 0).
    stderr : ndarray
        Standard error of the coefficient.
    effect : ndarray
        Standardized effect: coefficient / residual SD (a covariate-adjusted Cohen's d
        for 0/1 coding).
    resid_sd : ndarray
        Residual standard deviation sqrt(RSS / df).
    df : int
        Residual degrees of freedom n - p.
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    coefficient: np.ndarray
    stderr: np.ndarray
    effect: np.ndarray
    resid_sd: np.ndarray
    df: int

    def confidence_interval(self, level: float = 0.95) -> ConfidenceInterval:
        """Two-sided t interval of the coefficient, ``coefficient +- t_{df} * stderr``."""
        q = special.stdtrit(self.df, 0.5 + _validate_level(level) / 2)
        coef, se = np.asarray(self.coefficient), np.asarray(self.stderr)
        return ConfidenceInterval((coef - q * se)[()], (coef + q * se)[()])

    def effect_interval(self, level: float = 0.95) -> ConfidenceInterval:
        """The coefficient's interval divided by `resid_sd` (ignores the SD's uncertainty)."""
        ci = self.confidence_interval(level)
        with np.errstate(divide="ignore", invalid="ignore"):
            return ConfidenceInterval((np.asarray(ci.low) / self.resid_sd)[()],
                                      (np.asarray(ci.high) / self.resid_sd)[()])


def _design(group, covariates, n: int) -> np.ndarray:
    g = _as_real_array(group, "group").astype(np.float64)
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(
            f"`group` must be 1-D with one value per sample ({n}); got shape {g.shape}.")
    columns = [np.ones(n), g]
    if covariates is not None:
        c = _as_real_array(covariates, "covariates").astype(np.float64)
        c = c[:, None] if c.ndim == 1 else c
        if c.ndim != 2 or c.shape[0] != n:
            raise ValueError(f"`covariates` must be [n] or [n, q] with n = {n} samples; "
                             f"got shape {c.shape}.")
        columns += list(c.T)
    x = np.column_stack(columns)
    if not np.isfinite(x).all():
        raise ValueError("`group` and `covariates` must be finite (they form the design matrix).")
    if np.ptp(g) == 0:
        raise ValueError(f"`group` must take at least two values; got only {g[0]!r}.")
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError("`covariates` make the design [1, group, covariates] rank-deficient "
                         "(a covariate is constant or collinear with the group or others).")
    if n - x.shape[1] < 1:
        raise ValueError(f"need more samples than parameters: n = {n}, p = {x.shape[1]}.")
    return x


def covariate_adjusted_test(y, group, covariates=None, *, axis: int = 0,
                            alternative: str = "two-sided",
                            nan_policy: str = "propagate") -> CovariateTestResult:
    """t test of the `group` coefficient in ``y ~ 1 + group + covariates``, per component.

    Parameters
    ----------
    y : array_like
        Responses, samples along `axis`, components along the other axes.
    group : array_like, shape [n]
        Group variable; code the "a" group (recall) as 1 and "b" (reasoning) as 0 so that a
        positive coefficient means higher on recall.
    covariates : array_like, shape [n] or [n, q], optional
        Nuisance covariates shared by all components (e.g. token count).
    axis : int, keyword-only
        Sample axis of `y`. Default 0.
    alternative : {"two-sided", "less", "greater"}, keyword-only
        "greater": coefficient > 0. Default "two-sided".
    nan_policy : {"propagate", "raise"}, keyword-only
        Non-finite y values make their component NaN, or raise.

    Returns
    -------
    CovariateTestResult

    Examples
    --------
    >>> import numpy as np
    >>> tokens = np.array([10.0, 12, 14, 11, 13, 15])
    >>> group = np.array([1, 1, 1, 0, 0, 0])
    >>> y = 2.0 * group + 0.5 * tokens + np.array([0.1, -0.1, 0.0, 0.05, -0.05, 0.0])
    >>> res = covariate_adjusted_test(y, group, tokens)
    >>> round(float(res.coefficient), 3), res.df
    (1.981, 3)
    """
    alternative = _validate_alternative(alternative)
    (ys,), shape = _validate_samples({"y": y}, axis=axis, nan_policy=nan_policy)
    x = _design(group, covariates, ys.shape[0])
    n, p = x.shape
    q, r = np.linalg.qr(x)
    r_inv = np.linalg.inv(r)
    weights = r_inv[1] @ q.T           # coefficient = weights @ y, for every component
    var_factor = float(r_inv[1] @ r_inv[1])  # [(X'X)^-1]_{11}
    sd_group = float(np.std(x[:, 1]))

    def kernel(yc: np.ndarray) -> tuple[np.ndarray, ...]:
        coef = weights @ yc
        resid = yc - q @ (q.T @ yc)
        rss = np.einsum("ij,ij->j", resid, resid)
        spread = yc.std(axis=0)
        return coef, rss, spread, np.ptp(yc, axis=0) == 0, np.isfinite(yc).all(axis=0)

    coef, rss, spread, constant, finite = _map_columns(kernel, (ys,))
    df = n - p
    sigma = np.sqrt(rss / df)
    exact_fit = sigma <= EXACT_FIT_RTOL * spread
    # in an exact fit a coefficient that is rounding noise is zero, not an infinite effect
    negligible = np.abs(coef) * sd_group <= EXACT_FIT_RTOL * spread
    coef = np.where(constant | (exact_fit & negligible), 0.0, coef)
    sigma = np.where(constant | exact_fit, 0.0, sigma)
    se = sigma * np.sqrt(var_factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, coef / se, np.where(coef == 0, 0.0, np.sign(coef) * np.inf))
        effect = np.where(sigma > 0, coef / sigma, np.where(coef == 0, 0.0, np.nan))
    if alternative == "two-sided":
        pval = 2.0 * special.stdtr(df, -np.abs(t))
    else:
        pval = special.stdtr(df, -t if alternative == "greater" else t)
    pval = np.where((se == 0) & (coef == 0), 1.0, pval)  # no spread and no effect at all
    out = [np.where(finite, v, np.nan).reshape(shape)[()]
           for v in (t, pval, coef, se, effect, sigma)]
    return CovariateTestResult(*out, df=df)


def covariate_adjusted_two_sample(a, b, covariates_a=None, covariates_b=None, *,
                                  axis: int = 0, alternative: str = "two-sided",
                                  nan_policy: str = "propagate") -> CovariateTestResult:
    """:func:`covariate_adjusted_test` for samples a and b: the a-minus-b adjusted effect.

    Parameters
    ----------
    a, b : array_like
        Samples along `axis` (a = recall, b = reasoning); component shapes must match.
    covariates_a, covariates_b : array_like, shape [n_a] / [n_b] (or [n, q]), optional
        Covariates of each sample's rows; give both or neither.
    axis, alternative, nan_policy : keyword-only
        As :func:`covariate_adjusted_test`.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.array([3.0, 4.0, 5.0, 4.5]), np.array([1.0, 2.0, 1.5, 2.5])
    >>> res = covariate_adjusted_two_sample(a, b, [10, 11, 12, 13], [10, 12, 11, 13])
    >>> bool(res.coefficient > 0)
    True
    """
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, nan_policy=nan_policy)
    if (covariates_a is None) != (covariates_b is None):
        raise ValueError("give both `covariates_a` and `covariates_b`, or neither.")
    covariates = None
    if covariates_a is not None:
        ca = _as_real_array(covariates_a, "covariates_a").astype(np.float64)
        cb = _as_real_array(covariates_b, "covariates_b").astype(np.float64)
        for name, c, n in (("covariates_a", ca, x.shape[0]), ("covariates_b", cb, y.shape[0])):
            if c.ndim not in (1, 2) or c.shape[0] != n:
                raise ValueError(
                    f"`{name}` must have one row per sample ({n}); got shape {c.shape}.")
        covariates = np.concatenate([ca, cb], axis=0)
    group = np.r_[np.ones(x.shape[0]), np.zeros(y.shape[0])]
    stacked = np.concatenate([x, y], axis=0).reshape((-1,) + shape)
    return covariate_adjusted_test(stacked, group, covariates, axis=0, alternative=alternative,
                                   nan_policy=nan_policy)
