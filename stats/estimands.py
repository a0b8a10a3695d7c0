"""Estimands of a component claim and their bootstrap intervals over pairs.

Contents
--------
storey_pi0, storey_pi1 : Storey's (2002) estimate of the share of null / non-null components
                         from their p-values, vectorized over leading axes.
component_pvalue       : one valid p-value per component from several features (Bonferroni
                         over features: ``min(1, k * min_f p_f)``).
effect_summary         : median |effect| and the share of components with |effect| >= a bound.
bootstrap_indices      : ``[n_boot, n_pairs]`` resampled pair indices, a pure function of the seed.
BootstrapResult        : named estimates, their replicates and the indices they came from;
                         ``se``, ``interval(name, level)`` (estimate -+ z se, or percentile)
                         and ``lower_bound(name, alpha)``.
pair_bootstrap         : run a statistic on all pairs and on every resample of pairs.
DifferenceResult       : estimate, two-sided interval and one-sided lower bound of a difference.
paired_difference      : model minus control from two bootstraps on the same resampled pairs.

Why these estimands: a count of components passing a threshold grows with the number of pairs
when the per-component power is below one. pi1 estimates the share of components whose
null hypothesis is false, whatever the power; the effect-size distribution says how large the
differences are. Both come with an interval over pairs, the unit that is sampled.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from stats._validate import (
    _validate_choice,
    _validate_int,
    _validate_level,
    _validate_probability,
    _validate_rng,
)

__all__ = [
    "BootstrapResult",
    "DifferenceResult",
    "bootstrap_indices",
    "component_pvalue",
    "effect_summary",
    "pair_bootstrap",
    "paired_difference",
    "storey_pi0",
    "storey_pi1",
]


def _lambda(value: object) -> float:
    lam = _validate_probability(value, "lambda_")
    if lam >= 1.0:
        raise ValueError(f"`lambda_` must be in [0, 1); got {value!r}.")
    return lam


def storey_pi0(pvalues, *, lambda_: float = 0.5, axis: int = -1) -> np.ndarray:
    """Storey's estimate of the null share, ``#{p > lambda} / ((1 - lambda) m)``, clipped to [0, 1].

    Parameters
    ----------
    pvalues : array_like
        p-values; NaN entries (untestable components) are left out of both counts.
    lambda_ : float, keyword-only
        Tuning point in [0, 1). Default 0.5 (Storey 2002).
    axis : int, keyword-only
        Axis holding the components. Default -1 (last), so ``[n_boot, m]`` gives ``[n_boot]``.

    Returns
    -------
    ndarray
        pi0 per slice; NaN where no p-value is finite.

    Examples
    --------
    >>> float(storey_pi0([0.01, 0.02, 0.6, 0.9]))
    1.0
    >>> float(storey_pi0([0.01, 0.02, 0.03, 0.9]))
    0.5
    """
    lam = _lambda(lambda_)
    p = np.moveaxis(np.asarray(pvalues, dtype=np.float64), axis, -1)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1)
    above = (finite & (p > lam)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi0 = np.where(m > 0, above / ((1.0 - lam) * np.maximum(m, 1)), np.nan)
    return np.clip(pi0, 0.0, 1.0)[()]


def storey_pi1(pvalues, *, lambda_: float = 0.5, axis: int = -1) -> np.ndarray:
    """``1 - storey_pi0``: the estimated share of components whose null is false.

    Examples
    --------
    >>> float(storey_pi1([0.01, 0.02, 0.03, 0.9]))
    0.5
    """
    return (1.0 - storey_pi0(pvalues, lambda_=lambda_, axis=axis))[()]


def component_pvalue(pvalues_by_feature) -> np.ndarray:
    """One p-value per component from k features: ``min(1, k * min_f p_f)`` (Bonferroni).

    Valid whatever the dependence between features; NaN features are ignored (all NaN -> NaN).

    Examples
    --------
    >>> component_pvalue([[0.01, 0.5], [0.2, 0.3]]).tolist()
    [0.02, 0.6]
    """
    p = np.asarray(pvalues_by_feature, dtype=np.float64)
    k = p.shape[0]
    with np.errstate(invalid="ignore"):
        best = np.where(np.isfinite(p).any(axis=0), np.nanmin(np.where(np.isfinite(p), p, np.inf), axis=0), np.nan)
    return np.minimum(1.0, k * best)[()]


def effect_summary(effects, *, min_effect: float, axis: int = -1) -> dict[str, np.ndarray]:
    """Median |effect| and share of components with |effect| >= `min_effect` (NaN left out).

    Examples
    --------
    >>> s = effect_summary([0.1, -0.9, 1.2, 0.3], min_effect=0.8)
    >>> float(s["median_abs_effect"]), float(s["share_large_effect"])
    (0.6, 0.5)
    """
    e = np.abs(np.moveaxis(np.asarray(effects, dtype=np.float64), axis, -1))
    finite = np.isfinite(e)
    m = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(m > 0, (finite & (e >= min_effect)).sum(axis=-1) / np.maximum(m, 1), np.nan)
        median = np.nanmedian(np.where(finite, e, np.nan), axis=-1) if e.size else np.nan
    return {"median_abs_effect": np.asarray(median)[()], "share_large_effect": np.asarray(share)[()]}


def bootstrap_indices(n_pairs: int, n_boot: int, *, rng=None) -> np.ndarray:
    """``[n_boot, n_pairs]`` pair indices drawn with replacement.

    The same (`n_pairs`, `n_boot`, seed) always gives the same matrix, so two conditions
    measured on the same pairs are resampled identically (a paired bootstrap).
    """
    n_pairs = _validate_int(n_pairs, "n_pairs", minimum=1)
    n_boot = _validate_int(n_boot, "n_boot", minimum=1)
    return _validate_rng(rng).integers(0, n_pairs, size=(n_boot, n_pairs))


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Named estimates on all pairs, their bootstrap replicates and the resampled indices.

    Attributes
    ----------
    estimate : dict of str -> float
    replicates : dict of str -> ndarray [n_boot]
    indices : ndarray [n_boot, n_pairs]
    """

    estimate: Mapping[str, float]
    replicates: Mapping[str, np.ndarray]
    indices: np.ndarray

    @property
    def n_boot(self) -> int:
        return int(self.indices.shape[0])

    def se(self, name: str) -> float:
        """Bootstrap standard error of `name` (SD of the finite replicates, ddof=1)."""
        reps = np.asarray(self.replicates[name], dtype=np.float64)
        reps = reps[np.isfinite(reps)]
        return float(np.std(reps, ddof=1)) if reps.size > 1 else float("nan")

    def interval(self, name: str, level: float = 0.95, *, method: str = "normal") -> tuple[float, float]:
        """Interval of `name`: ``estimate -+ z * se`` ("normal", default) or "percentile".

        The normal interval is the default because these estimands sit at a boundary: in a
        resample a null component's observed difference acts as a true one, so the replicates
        of pi1 or |effect| are shifted upward and a percentile interval misses the estimate
        (0% coverage in the simulation of tests/test_stats_estimands.py); their spread is
        still right, and estimate -+ z * se covers at about the nominal rate there.
        """
        level = _validate_level(level)
        _validate_choice(method, "method", ("normal", "percentile"))
        if method == "percentile":
            reps = np.asarray(self.replicates[name], dtype=np.float64)
            reps = reps[np.isfinite(reps)]
            if reps.size == 0:
                return float("nan"), float("nan")
            low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
            return float(low), float(high)
        z = float(special.ndtri(0.5 + level / 2))
        est, se = float(self.estimate[name]), self.se(name)
        return est - z * se, est + z * se

    def lower_bound(self, name: str, alpha: float = 0.05) -> float:
        """One-sided (1 - alpha) lower bound ``estimate - z_{1-alpha} * se``."""
        alpha = _validate_probability(alpha, "alpha")
        if not 0 < alpha < 1:
            raise ValueError(f"`alpha` must be in (0, 1); got {alpha!r}.")
        return float(self.estimate[name]) - float(special.ndtri(1 - alpha)) * self.se(name)


def pair_bootstrap(n_pairs: int, statistic: Callable[[np.ndarray], Mapping[str, float]], *,
                   n_boot: int = 200, rng=None) -> BootstrapResult:
    """Run ``statistic(pair_indices) -> {name: value}`` on all pairs and on `n_boot` resamples.

    The statistic receives row indices of pairs (with repeats in a resample) and must itself
    be vectorized over components; the loop here is over resamples only.

    Examples
    --------
    >>> x = np.arange(10.0)
    >>> res = pair_bootstrap(10, lambda idx: {"mean": x[idx].mean()}, n_boot=50, rng=0)
    >>> res.estimate["mean"], res.replicates["mean"].shape
    (4.5, (50,))
    """
    indices = bootstrap_indices(n_pairs, n_boot, rng=rng)
    estimate = {k: float(v) for k, v in statistic(np.arange(n_pairs)).items()}
    replicates = {k: np.empty(indices.shape[0]) for k in estimate}
    for r, idx in enumerate(indices):
        for k, v in statistic(idx).items():
            replicates[k][r] = float(v)
    return BootstrapResult(estimate, replicates, indices)


@dataclass(frozen=True)
class DifferenceResult:
    """Model minus control in one estimand, with its bootstrap interval and one-sided bound."""

    name: str
    estimate: float
    low: float
    high: float
    lower_bound: float
    level: float
    alpha: float
    paired: bool

    @property
    def beats(self) -> bool:
        """True when the one-sided (1 - alpha) lower bound of the difference is above 0."""
        return bool(np.isfinite(self.lower_bound) and self.lower_bound > 0)


def paired_difference(model: BootstrapResult, control: BootstrapResult, name: str, *,
                      level: float = 0.95, alpha: float = 0.05) -> DifferenceResult:
    """Bootstrap distribution of ``model - control`` in estimand `name`.

    When both were resampled with the same index matrix (same pairs, same seed) the
    replicates are differenced pair-wise (a paired bootstrap); otherwise the two were
    resampled independently and their replicates are differenced as they come, which is the
    bootstrap of a difference of independent estimates.
    """
    level = _validate_level(level)
    alpha = _validate_probability(alpha, "alpha")
    paired = model.indices.shape == control.indices.shape and bool(np.array_equal(model.indices, control.indices))
    if model.n_boot != control.n_boot:
        raise ValueError(f"`model` and `control` need the same n_boot; got {model.n_boot} and {control.n_boot}.")
    diff = np.asarray(model.replicates[name], float) - np.asarray(control.replicates[name], float)
    res = BootstrapResult({name: model.estimate[name] - control.estimate[name]}, {name: diff}, model.indices)
    low, high = res.interval(name, level)
    return DifferenceResult(name, float(res.estimate[name]), low, high, res.lower_bound(name, alpha),
                            level, alpha, paired)
