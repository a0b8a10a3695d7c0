"""A paired bootstrap of the difference in a measure between two conditions on the same items.

Contents
--------
MEASURES                   : "mean" (per component) and "max_mean" (the largest component mean).
PairedBootstrapResult      : the observed difference, its one-sided lower bound and replicates.
paired_bootstrap_difference: resample items (rows) with replacement, the same rows for both.

The decision rule of the positive controls: a trained model beats a random-weights twin when
the one-sided lower bound of ``measure(x) - measure(y)``, both measured on the same resampled
items, is above 0. "max_mean" is the measure of "at least one component is large": the largest
per-component mean, recomputed in every resample (so the selection of the top component is
inside the bootstrap, not fixed from the full sample).

Examples
--------
>>> x = np.array([[1.0, 0.2], [1.2, 0.1], [0.9, 0.3], [1.1, 0.2]])
>>> y = np.zeros((4, 2))
>>> r = paired_bootstrap_difference(x, y, measure="max_mean", n_resamples=200, rng=0)
>>> round(float(r.statistic), 3), bool(r.low > 0)
(1.05, True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stats._validate import _as_real_array, _validate_choice, _validate_int, _validate_level, _validate_rng

MEASURES = ("mean", "max_mean")
_ALIASES = {"max_of_means": "max_mean", "max": "max_mean", "average": "mean"}


@dataclass(frozen=True, eq=False)
class PairedBootstrapResult:
    """Paired bootstrap of ``measure(x) - measure(y)``.

    Attributes
    ----------
    statistic : ndarray (0-d for "max_mean" or 1-D input)
        The difference on the full sample.
    low : ndarray
        One-sided lower bound at `level` (the ``1 - level`` quantile of the replicates).
    level : float
    replicates : ndarray [n_resamples, ...]
    measure : str
    """

    statistic: np.ndarray
    low: np.ndarray
    level: float
    replicates: np.ndarray
    measure: str

    def exceeds(self, value: float = 0.0) -> np.ndarray:
        """Whether the lower bound is above `value` (the decision "x beats y")."""
        return self.low > value


def _measure(means: np.ndarray, measure: str) -> np.ndarray:
    return means.max(axis=-1) if measure == "max_mean" else means


def paired_bootstrap_difference(x, y, *, measure: str = "mean", n_resamples: int = 2000, level: float = 0.95,
                                rng=None) -> PairedBootstrapResult:
    """One-sided paired bootstrap lower bound of ``measure(x) - measure(y)``.

    Parameters
    ----------
    x, y : array_like [n] or [n, k]
        The same n items (rows) measured in two conditions; k components (heads) per item.
    measure : {"mean", "max_mean"}, keyword-only
        "mean": the mean over items, per component (vectorized over k). "max_mean": the
        largest of the k component means (one number). Aliases: "max_of_means", "max".
    n_resamples : int, keyword-only
        Resamples of the n rows (the same rows for x and y). Default 2000.
    level : float, keyword-only
        One-sided confidence level of `low`. Default 0.95.
    rng : None, int or numpy Generator, keyword-only

    Returns
    -------
    PairedBootstrapResult

    Raises
    ------
    ValueError
        Shapes that differ, fewer than 2 rows, non-finite values, an unknown measure.
    """
    measure = _validate_choice(_ALIASES.get(measure, measure) if isinstance(measure, str) else measure,
                               "measure", MEASURES)
    level = _validate_level(level)
    n_resamples = _validate_int(n_resamples, "n_resamples", minimum=10)
    gen = _validate_rng(rng)
    a = _as_real_array(x, "x").astype(np.float64)
    b = _as_real_array(y, "y").astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"`x` and `y` must have the same shape (paired rows); got {a.shape} and {b.shape}")
    if a.ndim not in (1, 2) or a.shape[0] < 2:
        raise ValueError(f"`x` must be [n] or [n, k] with n >= 2; got shape {a.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("`x` and `y` must be finite")
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    n = a.shape[0]
    # Each resample as row weights (counts / n): the resampled means are one matrix product.
    picks = gen.integers(0, n, size=(n_resamples, n))
    weights = np.zeros((n_resamples, n))
    np.add.at(weights, (np.arange(n_resamples)[:, None], picks), 1.0 / n)
    replicates = _measure(weights @ a, measure) - _measure(weights @ b, measure)
    statistic = _measure(a.mean(axis=0), measure) - _measure(b.mean(axis=0), measure)
    if measure == "mean" and np.ndim(x) == 1:
        replicates, statistic = replicates[:, 0], statistic[0]
    low = np.quantile(replicates, 1.0 - level, axis=0)
    return PairedBootstrapResult(np.asarray(statistic)[()], np.asarray(low)[()], level, replicates, measure)
