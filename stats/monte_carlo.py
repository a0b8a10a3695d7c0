"""Monte-Carlo p-values: an observed statistic against draws from its null distribution.

Contents
--------
MonteCarloPValue  : ``pvalue``, ``n_extreme``, ``n_draws`` per component.
monte_carlo_pvalue : ``(1 + #{draws at least as extreme}) / (1 + #draws)`` along axis 0.

The +1 in numerator and denominator counts the observed data as one draw of the null: the
p-value is never 0 and is exact (valid at every level) under exchangeability (Phipson &
Smyth 2010, "Permutation p-values should never be zero"). Every permutation, label-swap and
random-set test of the suite goes through this one function, so they agree on ties and on
undefined draws.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALTERNATIVES = ("greater", "less", "two-sided")
UNDEFINED = ("not_extreme", "extreme")


@dataclass(frozen=True, eq=False)
class MonteCarloPValue:
    """Result of `monte_carlo_pvalue`; arrays shaped like `observed` (0-d for a scalar).

    Attributes
    ----------
    pvalue : ndarray
        ``(1 + n_extreme) / (1 + n_draws)``; NaN where `observed` is NaN.
    n_extreme : ndarray of int
        Draws at least as extreme as the observed value (undefined draws per `undefined`).
    n_draws : int
        Null draws, undefined ones included.
    """

    pvalue: np.ndarray
    n_extreme: np.ndarray
    n_draws: int


def monte_carlo_pvalue(null: np.ndarray, observed: float | np.ndarray, *, alternative: str = "greater",
                       tie_tol: float = 0.0, undefined: str = "not_extreme") -> MonteCarloPValue:
    """Monte-Carlo p-value of `observed` against null draws on axis 0 of `null`.

    Parameters
    ----------
    null : array_like, shape [n_draws, *components]
        Statistic under the null, one row per draw.
    observed : float or array_like, shape [*components]
    alternative : {"greater", "less", "two-sided"}, keyword-only
        "greater": draws >= observed are extreme; "less": <=; "two-sided": |draw| >= |observed|.
    tie_tol : float, keyword-only
        A draw within ``tie_tol * max(1, |observed|)`` of the observed value counts as a tie
        (extreme): rounding must not make a tie look less extreme. Default 0 (exact ties only).
    undefined : {"not_extreme", "extreme"}, keyword-only
        How a NaN draw counts. "not_extreme": it did not reach the observed value (it still
        counts in n); "extreme": the conservative choice, it can only raise p.

    Returns
    -------
    MonteCarloPValue

    Examples
    --------
    >>> monte_carlo_pvalue([0.1, 0.5, 0.9, 0.2], 0.5).pvalue.item()   # (1 + 2) / (1 + 4)
    0.6
    >>> monte_carlo_pvalue([0.1, float("nan")], 0.5, undefined="extreme").pvalue.item()
    0.6666666666666666
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if undefined not in UNDEFINED:
        raise ValueError(f"`undefined` must be one of {', '.join(UNDEFINED)}, got {undefined!r}")
    if not (isinstance(tie_tol, (int, float)) and np.isfinite(tie_tol) and tie_tol >= 0):
        raise ValueError(f"`tie_tol` must be a finite number >= 0, got {tie_tol!r}")
    null = np.asarray(null, dtype=float)
    observed = np.asarray(observed, dtype=float)
    if null.ndim == 0 or null.shape[1:] != observed.shape:
        raise ValueError(f"`null` must have shape [n_draws, *observed.shape] = [n, {', '.join(map(str, observed.shape))}]"
                         f", got {null.shape}")
    tol = tie_tol * np.maximum(1.0, np.abs(observed))
    with np.errstate(invalid="ignore"):
        if alternative == "greater":
            extreme = null >= observed - tol
        elif alternative == "less":
            extreme = null <= observed + tol
        else:
            extreme = np.abs(null) >= np.abs(observed) - tol
    if undefined == "extreme":
        extreme |= np.isnan(null)
    n_extreme = extreme.sum(axis=0)
    n = null.shape[0]
    pvalue = np.where(np.isnan(observed), np.nan, (1.0 + n_extreme) / (1.0 + n))
    return MonteCarloPValue(pvalue, n_extreme, n)
