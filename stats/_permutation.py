"""Permutation tests for every component at once, with the max-statistic null.

Contents
--------
PermutationResult : ``statistic``, ``pvalue``, ``null_max``, ``n_resamples``, ``exact``,
                    ``alternative`` and ``fwer_pvalue()`` (Westfall-Young single-step max-T).
permutation_test  : label permutations (independent samples) or sign flips (paired), public
                    through :mod:`stats.tests`.

The built-in statistics are linear in the resampling design, so the null for all components
is a matrix product ``design [R, n] @ data [n, m]`` (BLAS) followed by elementwise algebra;
there is no Python loop over components or resamples, only over column chunks.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stats._validate import (
    _column_bounds,
    _parallel_map,
    _validate_alternative,
    _validate_int,
    _validate_rng,
    _validate_samples,
)

STATISTICS = ("t", "mean_diff")
# float64 values per [resamples, columns] block; a few such blocks live per thread.
BLOCK_ELEMENTS = 1 << 23
# Ties between a resampled and the observed statistic must count as "at least as extreme"
# although they differ by rounding; same relative tolerance as scipy.stats.permutation_test.
TIE_RTOL = 100 * np.finfo(np.float64).eps


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """Observed statistic, permutation p-value and the max-statistic null.

    Attributes
    ----------
    statistic : ndarray
        Observed statistic (a minus b), shaped like the component grid.
    pvalue : ndarray
        Per-component p-value: ``(#{null >= observed} + 1) / (R + 1)`` for random resamples,
        ``#{null >= observed} / R`` when all R distinct resamples were enumerated (exact).
        "Extreme" means ``|T|`` for two-sided, ``T`` for greater and ``-T`` for less.
    null_max : ndarray, shape [R]
        For each resample, the maximum over components of the directed statistic.
    n_resamples : int
        R, the number of resamples used (``2**n`` or ``C(n_a + n_b, n_a)`` if exact).
    exact : bool
        Whether every distinct resample was enumerated.
    alternative : str
    """

    statistic: np.ndarray
    pvalue: np.ndarray
    null_max: np.ndarray
    n_resamples: int
    exact: bool
    alternative: str

    def fwer_pvalue(self) -> np.ndarray:
        """Family-wise adjusted p-values ``P(max_j T*_j >= T_obs)`` (single-step max-T)."""
        observed = _directed(np.asarray(self.statistic, dtype=float), self.alternative)
        null = np.sort(self.null_max)
        count = null.size - np.searchsorted(null, observed - TIE_RTOL * np.abs(observed))
        extra = 0 if self.exact else 1
        p = np.minimum((count + extra) / (null.size + extra), 1.0)
        return np.where(np.isnan(observed), np.nan, p)[()]


def _directed(t: np.ndarray, alternative: str) -> np.ndarray:
    return {"two-sided": np.abs, "greater": np.positive, "less": np.negative}[alternative](t)


def _directed_inplace(t: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return np.abs(t, out=t)
    return t if alternative == "greater" else np.negative(t, out=t)


def _sign_design(n: int, n_resamples: int, rng: np.random.Generator):
    if 2 ** n <= n_resamples:  # enumerate all flips; row 0 is the identity
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        return 1.0 - 2.0 * bits, True
    return 1.0 - 2.0 * rng.integers(0, 2, size=(n_resamples, n)), False


def _label_design(n1: int, n2: int, n_resamples: int, rng: np.random.Generator):
    n = n1 + n2
    if math.comb(n, n1) <= n_resamples:  # every split of the pooled sample, once
        perms = [list(c) + sorted(set(range(n)).difference(c))
                 for c in itertools.combinations(range(n), n1)]
        return np.array(perms, dtype=np.intp), True
    return rng.permuted(np.tile(np.arange(n), (n_resamples, 1)), axis=1), False


def _paired_null(design: np.ndarray, x: np.ndarray, y: np.ndarray, statistic) -> np.ndarray:
    """Statistic under each sign-flip row of `design` ([R, n] of +-1) for columns of x - y."""
    n = x.shape[0]
    if callable(statistic):  # flipping pair i swaps a_i and b_i
        flip = design[:, :, None] > 0
        return statistic(np.where(flip, x, y), np.where(flip, y, x), axis=1)
    d = x - y
    mean = design @ d
    mean /= n
    if statistic == "mean_diff":
        return mean
    # the sum of squares is flip-invariant, so each resample's variance follows from its
    # mean; in-place steps because this [R, m] block is the hot loop of the benchmark
    sq_err = mean * mean
    sq_err *= -n
    sq_err += np.einsum("ij,ij->j", d, d)
    sq_err *= 1.0 / ((n - 1) * n)
    return _t_from_parts(mean, sq_err)


def _independent_null(perms: np.ndarray, x: np.ndarray, y: np.ndarray, n1: int,
                      statistic) -> np.ndarray:
    """Statistic under each relabelling (row of `perms`: first n1 indices form group a)."""
    pooled = np.concatenate([x, y], axis=0)
    if callable(statistic):
        z = pooled[perms]
        return statistic(z[:, :n1], z[:, n1:], axis=1)
    n2 = pooled.shape[0] - n1
    pooled = pooled - pooled.mean(axis=0)  # both statistics are shift-invariant; centring
    indicator = np.zeros(perms.shape)       # keeps the sum-of-squares algebra accurate
    np.put_along_axis(indicator, perms[:, :n1], 1.0, axis=1)
    sum_a = indicator @ pooled
    mean_a, mean_b = sum_a / n1, (pooled.sum(axis=0) - sum_a) / n2
    if statistic == "mean_diff":
        return mean_a - mean_b
    sq_a = indicator @ (pooled * pooled)
    var_a = np.maximum((sq_a - n1 * mean_a ** 2) / (n1 - 1), 0.0)
    var_b = np.maximum(((pooled * pooled).sum(axis=0) - sq_a - n2 * mean_b ** 2) / (n2 - 1), 0.0)
    return _t_from_parts(mean_a - mean_b, var_a / n1 + var_b / n2)


def _t_from_parts(diff: np.ndarray, var: np.ndarray) -> np.ndarray:
    """``diff / sqrt(var)``, overwriting `var`; no spread gives 0 or +-inf (t-test policy)."""
    np.maximum(var, 0.0, out=var)
    np.sqrt(var, out=var)
    zero = var == 0
    np.divide(diff, var, out=var)
    if zero.any():
        var[zero] = np.where(diff[zero] == 0, 0.0, np.sign(diff[zero]) * np.inf)
    return var


def permutation_test(a, b, *, statistic: str | Callable = "t", paired: bool = False,
                     n_resamples: int = 9999, axis: int = 0, alternative: str = "two-sided",
                     rng=None, nan_policy: str = "propagate") -> PermutationResult:
    """Permutation test of a vs b for all components at once, plus the max-statistic null.

    Independent samples: group labels are permuted across the pooled sample. Paired samples
    (``paired=True``): labels are swapped within pairs, i.e. the differences' signs are
    flipped. When the number of distinct resamples is at most `n_resamples`, all of them
    are enumerated and the test is exact (same p-values as ``scipy.stats.permutation_test``
    for one-sided alternatives and for symmetric nulls such as sign flips).

    Parameters
    ----------
    a, b : array_like
        Samples along `axis`; equal sizes when `paired`.
    statistic : {"t", "mean_diff"} or callable, keyword-only
        "t": Welch t (independent) or paired t (paired); "mean_diff": mean(a) - mean(b).
        A callable ``f(a, b, axis)`` must be vectorized like scipy's (``vectorized=True``):
        it is called with arrays ``[R_batch, n, m]`` and ``axis=1`` and returns ``[R_batch, m]``.
        Use "t" for the max-statistic null: a standardized statistic makes components with
        different scales comparable.
    paired : bool, keyword-only
        Sign flips within pairs instead of label permutations. Default False.
    n_resamples : int, keyword-only
        Number of random resamples R (ignored in favour of exact enumeration when smaller
        than the number of distinct resamples). Default 9999.
    axis : int, keyword-only
        Sample axis. Default 0.
    alternative : {"two-sided", "less", "greater"}, keyword-only
        Two-sided compares ``|T|`` (not scipy's doubled one-sided p). Default "two-sided".
    rng : None, int or numpy.random.Generator, keyword-only
        Seed; ``None`` means seed 0 so results are reproducible by default.
    nan_policy : {"propagate", "raise"}, keyword-only
        Components with NaN or inf get NaN results and never enter `null_max`.

    Returns
    -------
    PermutationResult
        A p-value is never below ``1 / (R + 1)`` for random resamples (``1 / R`` if exact).

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.array([[1.0], [2.0], [3.0]]), np.array([[0.0], [0.5], [1.0]])
    >>> res = permutation_test(a, b, paired=True, statistic="mean_diff", n_resamples=100)
    >>> res.exact, res.n_resamples, float(res.pvalue[0])
    (True, 8, 0.25)
    """
    alternative = _validate_alternative(alternative)
    n_resamples = _validate_int(n_resamples, "n_resamples", minimum=1)
    if not callable(statistic) and statistic not in STATISTICS:
        raise ValueError(f"`statistic` must be one of {list(STATISTICS)} or a vectorized "
                         f"callable f(a, b, axis); got {statistic!r}.")
    if not isinstance(paired, (bool, np.bool_)):
        raise TypeError(f"`paired` must be True or False; got {paired!r}.")
    gen = _validate_rng(rng)
    (x, y), shape = _validate_samples({"a": a, "b": b}, axis=axis, paired=bool(paired),
                                      nan_policy=nan_policy)
    n1, n2 = x.shape[0], y.shape[0]
    if statistic == "t" and min(n1, n2) < 2:
        raise ValueError(f"`statistic`='t' needs at least 2 samples per group (or pairs); got "
                         f"{n1} and {n2}. Use statistic='mean_diff' for smaller samples.")
    if paired:
        design, exact = _sign_design(n1, n_resamples, gen)
        identity = np.ones((1, n1))
    else:
        design, exact = _label_design(n1, n2, n_resamples, gen)
        identity = np.arange(n1 + n2)[None]
    n_res = design.shape[0]

    def block(bound: tuple[int, int]):
        lo, hi = bound
        xc, yc = np.array(x[:, lo:hi], dtype=np.float64), np.array(y[:, lo:hi], dtype=np.float64)
        finite = np.isfinite(xc).all(axis=0) & np.isfinite(yc).all(axis=0)
        null_of = (lambda des: _paired_null(des, xc, yc, statistic)) if paired else \
            (lambda des: _independent_null(des, xc, yc, n1, statistic))
        observed = np.asarray(null_of(identity))[0]
        obs_dir = _directed(observed, alternative)
        threshold = obs_dir - TIE_RTOL * np.abs(obs_dir)
        count, col_max = np.zeros(hi - lo), np.full(n_res, -np.inf)
        # a callable materialises resampled data [rows, n, m]; built-ins only [rows, m]
        rows = max(1, BLOCK_ELEMENTS // ((hi - lo) * ((n1 + n2) if callable(statistic) else 1)))
        for r0 in range(0, n_res, rows):  # bounds memory when R is large
            null = _directed_inplace(np.asarray(null_of(design[r0:r0 + rows]), float),
                                     alternative)
            if not finite.all():
                null[:, ~finite] = -np.inf
            count += np.count_nonzero(null >= threshold, axis=0)
            col_max[r0:r0 + rows] = np.fmax.reduce(null, axis=1, initial=-np.inf)
        return np.where(finite, observed, np.nan), count, col_max

    width = max(1, BLOCK_ELEMENTS // min(n_res, 4096))
    bounds = _column_bounds(1, x.shape[1], width)
    parts = _parallel_map(block, bounds)
    observed = np.concatenate([p[0] for p in parts])
    count = np.concatenate([p[1] for p in parts])
    null_max = np.max(np.stack([p[2] for p in parts]), axis=0)
    extra = 0 if exact else 1
    pvalue = np.minimum((count + extra) / (n_res + extra), 1.0)
    pvalue = np.where(np.isnan(observed), np.nan, pvalue)
    return PermutationResult(observed.reshape(shape)[()], pvalue.reshape(shape)[()],
                             null_max, n_res, bool(exact), alternative)
