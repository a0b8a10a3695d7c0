"""Standardized effect sizes, vectorized over components.

Contents
--------
ConfidenceInterval : ``low``, ``high`` arrays.
EffectSizeResult   : ``effect``, ``se``, ``kind``, ``n_a``, ``n_b`` and
                     ``confidence_interval(level=0.95)``.
cohens_d           : (mean a - mean b) / pooled SD.
hedges_g           : Cohen's d times the exact small-sample correction J(n_a + n_b - 2).
paired_d           : d_z = mean(a - b) / SD(a - b) for paired samples.
d_av               : mean(a - b) / ((SD(a) + SD(b)) / 2) for paired samples (Lakens 2013, eq. 10):
                     on the scale of the measures, so it does not grow with the within-pair
                     correlation as d_z does (d_z = d_av / sqrt(2 (1 - r)) for equal SDs).

Sign convention: every effect is **a minus b**. In the suite, ``a`` holds the recall prompts
and ``b`` the reasoning prompts, so a positive effect means "higher on recall".

Policies (shared with :mod:`stats.tests`)
-----------------------------------------
* Zero spread: when the (pooled or difference) SD is exactly 0, the effect is 0 if the means
  are equal (no difference at all) and NaN otherwise (a standardized difference with no
  spread is undefined; NaN is never mistaken for a large finite effect).
* Non-finite input: a component with any NaN or +-inf gets NaN (``nan_policy="propagate"``);
  ``nan_policy="raise"`` raises instead. Other components are unaffected.
* Too few samples (``n_a + n_b < 3`` for d and g, ``n < 2`` for d_z): NaN with a
  ``RuntimeWarning``. Empty input raises ``ValueError``.
* Confidence intervals are analytic (large-sample normal approximation, Hedges & Olkin 1985):
  ``se(d)^2 = (n_a + n_b) / (n_a n_b) + d^2 / (2 (n_a + n_b))`` and
  ``se(d_z)^2 = 1/n + d_z^2 / (2 n)``; g uses ``J * se(d)``. d_av uses the delta method with
  s = (s_a + s_b) / 2 and r the within-pair correlation (after Bonett 2015):
  ``se^2 = s_D^2 / (n s^2) + d_av^2 (s_a^2 + s_b^2 + 2 r^2 s_a s_b) / (8 (n - 1) s^2)``. Coverage is checked by
  simulation in ``tests/test_stats_calibration.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from stats._validate import (
    _column_moments,
    _map_columns,
    _validate_level,
    _validate_samples,
    _warn_small,
)

__all__ = ["ConfidenceInterval", "EffectSizeResult", "cohens_d", "hedges_g", "paired_d", "d_av"]


@dataclass(frozen=True, eq=False)
class ConfidenceInterval:
    """Lower and upper bounds, each shaped like the component grid."""

    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, eq=False)
class EffectSizeResult:
    """An effect size per component with its large-sample standard error.

    Attributes
    ----------
    effect : ndarray
        d, g or d_z (a minus b), shaped like the component grid.
    se : ndarray
        Large-sample standard error of `effect` (see the module docstring).
    kind : str
        ``"cohens_d"``, ``"hedges_g"`` or ``"paired_d"``.
    n_a, n_b : int
        Sample sizes (equal for ``paired_d``).
    """

    effect: np.ndarray
    se: np.ndarray
    kind: str
    n_a: int
    n_b: int

    def confidence_interval(self, level: float = 0.95) -> ConfidenceInterval:
        """Normal-approximation interval ``effect +- z_{(1+level)/2} * se``."""
        z = special.ndtri(0.5 + _validate_level(level) / 2.0)
        effect, se = np.asarray(self.effect), np.asarray(self.se)
        return ConfidenceInterval((effect - z * se)[()], (effect + z * se)[()])


def _standardize(diff: np.ndarray, sd: np.ndarray, finite: np.ndarray) -> np.ndarray:
    # 0/0 (no spread, no difference) is a clean "no effect"; x/0 stays undefined (NaN).
    effect = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.where(diff == 0, 0.0, np.nan))
    return np.where(finite, effect, np.nan)


def _two_sample_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    n1, n2 = x.shape[0], y.shape[0]
    m1, v1, f1 = _column_moments(x)
    m2, v2, f2 = _column_moments(y)
    pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)
    return (_standardize(m1 - m2, np.sqrt(pooled), f1 & f2),)


def _paired_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
    mean, var, finite = _column_moments(x - y)
    return (_standardize(mean, np.sqrt(var), finite),)


def _hedges_j(df: int) -> float:
    # Exact correction Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)); gammaln avoids overflow.
    if df < 2:
        return float("nan")
    return float(np.exp(special.gammaln(df / 2) - 0.5 * np.log(df / 2)
                        - special.gammaln((df - 1) / 2)))


def _independent(a, b, axis, nan_policy, kind) -> EffectSizeResult:
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, nan_policy=nan_policy)
    n1, n2 = x.shape[0], y.shape[0]
    if n1 + n2 < 3:
        _warn_small(kind, f"needs n_a + n_b >= 3, got {n1} + {n2}")
        d = np.full(x.shape[1], np.nan)
    else:
        (d,) = _map_columns(_two_sample_kernel, (x, y))
    se = np.sqrt((n1 + n2) / (n1 * n2) + d ** 2 / (2.0 * (n1 + n2)))
    if kind == "hedges_g":
        j = _hedges_j(n1 + n2 - 2)
        d, se = j * d, j * se
    return EffectSizeResult(d.reshape(shape)[()], se.reshape(shape)[()], kind, n1, n2)


def cohens_d(a, b, *, axis: int = 0, nan_policy: str = "propagate") -> EffectSizeResult:
    """Cohen's d with the pooled SD, ``(mean(a) - mean(b)) / s_pooled``, per component.

    Parameters
    ----------
    a, b : array_like
        Samples along `axis` (sizes may differ); all other axes are components and must match.
    axis : int, keyword-only
        The sample axis. Default 0.
    nan_policy : {"propagate", "raise"}, keyword-only
        Non-finite values give NaN for their component, or raise. Default "propagate".

    Returns
    -------
    EffectSizeResult
        ``effect`` shaped like the component grid; ``confidence_interval(level)``.

    Examples
    --------
    >>> import numpy as np
    >>> res = cohens_d(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0]))
    >>> float(res.effect)
    2.0
    """
    return _independent(a, b, axis, nan_policy, "cohens_d")


def hedges_g(a, b, *, axis: int = 0, nan_policy: str = "propagate") -> EffectSizeResult:
    """Hedges' g: Cohen's d times the exact bias correction ``J(n_a + n_b - 2)``.

    Parameters and policies as :func:`cohens_d`; ``se`` is ``J * se(d)``.

    Examples
    --------
    >>> import numpy as np
    >>> res = hedges_g(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0]))
    >>> round(float(res.effect), 4)
    1.5958
    """
    return _independent(a, b, axis, nan_policy, "hedges_g")


def paired_d(a, b, *, axis: int = 0, nan_policy: str = "propagate") -> EffectSizeResult:
    """Paired effect size d_z = mean(a - b) / SD(a - b) (ddof=1), per component.

    Parameters
    ----------
    a, b : array_like
        Paired samples along `axis`: row i of `a` and row i of `b` form pair i.
    axis : int, keyword-only
        The sample (pair) axis. Default 0.
    nan_policy : {"propagate", "raise"}, keyword-only
        As :func:`cohens_d`.

    Returns
    -------
    EffectSizeResult

    Examples
    --------
    >>> import numpy as np
    >>> res = paired_d(np.array([3.0, 5.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    >>> float(res.effect)
    2.0
    """
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, paired=True,
                                      nan_policy=nan_policy)
    n = x.shape[0]
    if n < 2:
        _warn_small("paired_d", f"needs at least 2 pairs, got {n}")
        d = np.full(x.shape[1], np.nan)
    else:
        (d,) = _map_columns(_paired_kernel, (x, y))
    se = np.sqrt(1.0 / n + d ** 2 / (2.0 * n))
    return EffectSizeResult(d.reshape(shape)[()], se.reshape(shape)[()], "paired_d", n, n)


def _d_av_kernel(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    _, vx, fx = _column_moments(x)
    _, vy, fy = _column_moments(y)
    md, vd, fd = _column_moments(x - y)
    sx, sy = np.sqrt(vx), np.sqrt(vy)
    s = (sx + sy) / 2.0
    finite = fx & fy & fd
    d = _standardize(md, s, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        # r from var(D) = vx + vy - 2 r sx sy, so no second pass over the data is needed
        r = np.where(sx * sy > 0, (vx + vy - vd) / (2.0 * sx * sy), 0.0)
        var = vd / (n * s ** 2) + d ** 2 * (vx + vy + 2.0 * r ** 2 * sx * sy) / (8.0 * (n - 1) * s ** 2)
    return d, np.where(s > 0, np.sqrt(var), np.nan)


def d_av(a, b, *, axis: int = 0, nan_policy: str = "propagate") -> EffectSizeResult:
    """Paired effect size d_av = mean(a - b) / ((SD(a) + SD(b)) / 2) (ddof=1), per component.

    Lakens (2013), eq. 10: standardized by the average SD of the two conditions rather than
    by the SD of the differences, so a high within-pair correlation (both prompts of a pair
    share their fact) does not inflate it; thresholds meant for Cohen's d apply.

    Parameters
    ----------
    a, b : array_like
        Paired samples along `axis`: row i of `a` and row i of `b` form pair i.
    axis : int, keyword-only
        The sample (pair) axis. Default 0.
    nan_policy : {"propagate", "raise"}, keyword-only
        As :func:`cohens_d`.

    Returns
    -------
    EffectSizeResult
        ``kind`` "d_av"; ``se`` from the delta method (module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> res = d_av(np.array([3.0, 5.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    >>> float(res.effect)
    2.0
    """
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, paired=True,
                                      nan_policy=nan_policy)
    n = x.shape[0]
    if n < 2:
        _warn_small("d_av", f"needs at least 2 pairs, got {n}")
        d, se = np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    else:
        d, se = _map_columns(_d_av_kernel, (x, y))
    return EffectSizeResult(d.reshape(shape)[()], se.reshape(shape)[()], "d_av", n, n)
