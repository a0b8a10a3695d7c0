"""Sequential Monte-Carlo p-values (Besag & Clifford 1991): draw the null until it is decided.

Contents
--------
SequentialPValue        : ``pvalue``, ``n_draws`` used, ``n_extreme``, ``stopped_early``.
besag_clifford_pvalue   : the p-value of one stream of null draws (pure; the draws in order).
curtail_bound           : the largest p any continuation can give (stop once it is below alpha).
sequential_pvalue       : drive a sampler in batches until `exceedances` extreme draws or
                          `max_draws`, and return the Besag-Clifford p-value.
monte_carlo_se          : the Monte-Carlo standard error of a p-value estimate.

The rule. Null statistics T_1, T_2, ... are drawn one at a time. Sampling stops at draw L when
the h-th draw at least as extreme as the observed statistic appears; then p = h / L. If
`max_draws` draws hold only g < h extreme ones, p = (g + 1) / (max_draws + 1), the ordinary
Monte-Carlo p-value. Either way P(p <= u) <= u for every attainable u under exchangeability
(Besag & Clifford 1991, "Sequential Monte Carlo p-values", Biometrika 78:301): the p-value is
valid. An unremarkable statistic stops after about h / p draws (h = 20, p = 0.5: ~40), a
statistic near alpha draws up to `max_draws`; the relative standard error of h / L is about
1 / sqrt(h) where it stops early, sqrt((1 - p) / (n p)) otherwise.

Curtailment at a level alpha. After n draws with g < h extreme ones, no continuation can give
a Besag-Clifford p above ``U = h / (n + h - g)`` (all of the next h - g draws extreme). Once
U < alpha the decision is settled, so sampling may stop and report U: it is at least the p the
full procedure would have given, hence valid too, and decides exactly as the full procedure.
With h = 10 and alpha = 0.05 a statistic no random draw reaches stops after 191 draws instead
of `max_draws` (the price: the reported p is U, just under alpha, not the smaller p more draws
would show).

Batches. Drawing a batch of b draws at once and checking after it gives the same p-value as
one draw at a time: the draws are used in their order, so draws after the h-th extreme one are
ignored (they cost time, never validity).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequentialPValue:
    """Result of `besag_clifford_pvalue` / `sequential_pvalue`.

    Attributes
    ----------
    pvalue : float
    n_draws : int
        Draws the p-value rests on (L where it stopped early, else every draw made).
    n_extreme : int
        Draws among them at least as extreme as the observed statistic.
    stopped_early : bool
        The h-th extreme draw arrived before `max_draws`.
    curtailed : bool
        Sampling stopped because p < alpha was settled (`pvalue` is the bound U).
    null : ndarray [n_draws]
        The draws used, in order (for plots and bootstraps).
    """

    pvalue: float
    n_draws: int
    n_extreme: int
    stopped_early: bool
    null: np.ndarray
    curtailed: bool = False

    def standard_error(self) -> float:
        """Monte-Carlo standard error of `pvalue` (see `monte_carlo_se`)."""
        return monte_carlo_se(self.pvalue, self.n_draws, exceedances=self.n_extreme if self.stopped_early else None)


def _validate(exceedances: int, max_draws: int) -> None:
    if not (isinstance(exceedances, (int, np.integer)) and exceedances >= 1):
        raise ValueError(f"`exceedances` must be an integer >= 1, got {exceedances!r}")
    if not (isinstance(max_draws, (int, np.integer)) and max_draws >= exceedances):
        raise ValueError(f"`max_draws` must be an integer >= `exceedances` ({exceedances}), got {max_draws!r}")


def curtail_bound(n_drawn: int, n_extreme: int, exceedances: int) -> float:
    """The largest Besag-Clifford p any continuation can give after `n_drawn` draws with
    `n_extreme` < `exceedances` extreme ones: ``h / (n + h - g)``.

    Examples
    --------
    >>> curtail_bound(191, 0, 10)   # 10 / 201 < 0.05: p < 0.05 whatever follows
    0.04975124378109453
    """
    return exceedances / (n_drawn + exceedances - n_extreme)


def besag_clifford_pvalue(null: np.ndarray, observed: float, *, exceedances: int = 20,
                          max_draws: int = 1000, alpha: float | None = None) -> SequentialPValue:
    """Besag-Clifford p-value of `observed` (larger = more extreme) from draws in their order.

    Parameters
    ----------
    null : array_like [n]
        Null statistics in the order they were drawn; at most `max_draws` are read. A NaN draw
        counts as extreme (it can only raise p).
    observed : float
    exceedances : int, keyword-only
        h: stop at the h-th draw >= `observed`.
    max_draws : int, keyword-only
    alpha : float, optional, keyword-only
        Curtail at the first draw where `curtail_bound` < alpha (see the module docstring).

    Returns
    -------
    SequentialPValue
        Raises `ValueError` when `null` stops before a decision (fewer than `max_draws` draws
        and fewer than h extreme ones): the p-value would depend on why sampling stopped.

    Examples
    --------
    >>> r = besag_clifford_pvalue([0.9, 0.1, 0.8, 0.2, 0.95], 0.7, exceedances=2, max_draws=10)
    >>> r.pvalue, r.n_draws, r.stopped_early       # 2nd extreme draw is the 3rd: p = 2 / 3
    (0.6666666666666666, 3, True)
    >>> besag_clifford_pvalue([0.1, 0.2, 0.3], 0.7, exceedances=2, max_draws=3).pvalue   # (0 + 1) / (3 + 1)
    0.25
    """
    _validate(exceedances, max_draws)
    null = np.asarray(null, dtype=float).ravel()[:max_draws]
    observed = float(observed)
    if not np.isfinite(observed):
        raise ValueError(f"`observed` must be finite, got {observed!r}")
    extreme = ~(null < observed)  # NaN counts as extreme
    cumulative = np.cumsum(extreme)
    hit = np.flatnonzero(cumulative >= exceedances)
    stop = int(hit[0]) + 1 if len(hit) else None
    if alpha is not None:
        drawn = np.arange(1, len(null) + 1)
        settled = np.flatnonzero((cumulative < exceedances) & (curtail_bound(drawn, cumulative, exceedances) < alpha)
                                 & (drawn < max_draws))
        if len(settled) and (stop is None or settled[0] + 1 < stop):
            n = int(settled[0]) + 1
            g = int(cumulative[n - 1])
            return SequentialPValue(curtail_bound(n, g, exceedances), n, g, False, null[:n], True)
    if stop is not None:
        n = stop
        return SequentialPValue(exceedances / n, n, int(exceedances), True, null[:n])
    if len(null) < max_draws:
        raise ValueError(f"{len(null)} null draws hold {int(extreme.sum())} extreme ones: neither "
                         f"`exceedances` ({exceedances}) nor `max_draws` ({max_draws}) reached")
    g = int(extreme.sum())
    return SequentialPValue((g + 1) / (max_draws + 1), max_draws, g, False, null)


def sequential_pvalue(sample: Callable[[int], np.ndarray], observed: float, *, exceedances: int = 20,
                      max_draws: int = 1000, batch: int = 20, alpha: float | None = None,
                      on_batch: Callable[[int, int], object] | None = None) -> SequentialPValue:
    """Draw ``sample(b)`` batches of null statistics until the Besag-Clifford rule decides.

    Parameters
    ----------
    sample : callable(int) -> ndarray [b]
        b fresh, independent null statistics per call (a seeded stream: the caller's RNG).
    observed : float
    exceedances, max_draws, alpha : keyword-only
        See `besag_clifford_pvalue`.
    batch : int, keyword-only
        Draws per call (the last call asks only for what is left before `max_draws`).
    on_batch : callable(n_drawn, n_extreme), optional
        Progress after each batch.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = sequential_pvalue(lambda b: rng.normal(size=b), 0.0, exceedances=10, max_draws=1000, batch=5)
    >>> r.stopped_early, r.n_draws < 40
    (True, True)
    """
    _validate(exceedances, max_draws)
    if not (isinstance(batch, (int, np.integer)) and batch >= 1):
        raise ValueError(f"`batch` must be an integer >= 1, got {batch!r}")
    drawn: list[np.ndarray] = []
    total = extreme = 0
    while total < max_draws and extreme < exceedances and not (
            alpha is not None and total and curtail_bound(total, extreme, exceedances) < alpha):
        values = np.asarray(sample(min(batch, max_draws - total)), dtype=float).ravel()
        if not len(values):
            raise ValueError("`sample` returned no draws")
        drawn.append(values)
        total += len(values)
        extreme += int((~(values < observed)).sum())
        if on_batch is not None:
            on_batch(total, extreme)
    return besag_clifford_pvalue(np.concatenate(drawn), observed, exceedances=exceedances, max_draws=max_draws,
                                 alpha=alpha)


def monte_carlo_se(pvalue: float | np.ndarray, n_draws: int | np.ndarray, *,
                   exceedances: int | None = None) -> np.ndarray:
    """Monte-Carlo standard error of a p-value estimate.

    Fixed n draws: ``sqrt(p (1 - p) / n)`` (binomial). Stopped at the h-th exceedance
    (negative binomial, L ~ h / p draws): the delta method gives ``p sqrt((1 - p) / h)``.

    Examples
    --------
    >>> round(float(monte_carlo_se(0.05, 100)), 4)
    0.0218
    >>> round(float(monte_carlo_se(0.05, 400, exceedances=20)), 4)
    0.0109
    """
    p = np.asarray(pvalue, dtype=float)
    if exceedances is not None:
        return p * np.sqrt((1 - p) / exceedances)
    return np.sqrt(p * (1 - p) / np.asarray(n_draws, dtype=float))
