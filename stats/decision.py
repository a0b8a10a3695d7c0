"""Deciding an effect against a smallest effect of interest (SESOI), and the n a decision needs.

Contents
--------
OUTCOMES         : ``("supported", "refuted", "inconclusive")``.
SesoiDecision    : frozen result (outcome per effect, the inputs, the reason in words).
sesoi_decision   : the registered rule, vectorized over effects.
n_for_sesoi      : the smallest sample size at which the rule can decide an effect of the SESOI's size.

The rule (Lakens 2017; Lakens, Scheel & Isager 2018, "equivalence testing for psychological
research"), for an effect whose larger values mean "the claim holds", an interval
``[ci_low, ci_high]`` at the claim's level and a registered SESOI > 0:

* **supported**: ``ci_low > 0`` and ``estimate >= sesoi`` (the effect is there, and at least as
  large as the smallest one that matters);
* **refuted**: ``ci_high < sesoi`` (an effect as large as the SESOI is excluded; a small real
  effect below the SESOI still refutes the claim, which is about effects that matter);
* **inconclusive**: anything else, including a NaN bound (the data are compatible with both).

The two decisive outcomes exclude each other: ``ci_low > 0`` and ``estimate >= sesoi`` give
``ci_high >= estimate >= sesoi``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy import stats as sps

__all__ = ["OUTCOMES", "SesoiDecision", "n_for_sesoi", "sesoi_decision"]

OUTCOMES = ("supported", "refuted", "inconclusive")


@dataclass(frozen=True)
class SesoiDecision:
    """The rule's outcome per effect (arrays broadcast from the inputs; a 0-d array for scalars)."""

    outcome: np.ndarray
    estimate: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    sesoi: float

    def reason(self, index: int | tuple = ()) -> str:
        """The outcome of one effect in words, naming the bound that decided it.

        Examples
        --------
        >>> sesoi_decision(0.3, 0.1, 0.5, sesoi=0.2).reason()
        'supported: interval [0.1, 0.5] above 0 and estimate 0.3 >= SESOI 0.2'
        >>> sesoi_decision(0.05, -0.1, 0.15, sesoi=0.2).reason()
        'refuted: upper bound 0.15 < SESOI 0.2'
        """
        est, lo, hi = (float(np.asarray(a)[index]) for a in (self.estimate, self.ci_low, self.ci_high))
        outcome = str(np.asarray(self.outcome)[index])
        interval = f"[{lo:.3g}, {hi:.3g}]"
        if outcome == "supported":
            return f"supported: interval {interval} above 0 and estimate {est:.3g} >= SESOI {self.sesoi:.3g}"
        if outcome == "refuted":
            return f"refuted: upper bound {hi:.3g} < SESOI {self.sesoi:.3g}"
        if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(est)):
            return f"inconclusive: the estimate or its interval {interval} is undefined"
        if lo > 0:
            return (f"inconclusive: interval {interval} above 0 but estimate {est:.3g} < SESOI "
                    f"{self.sesoi:.3g}, and the upper bound does not exclude it")
        return f"inconclusive: interval {interval} contains 0 and reaches the SESOI {self.sesoi:.3g}"


def sesoi_decision(estimate, ci_low, ci_high, *, sesoi: float) -> SesoiDecision:
    """The registered decision of effects against a SESOI (see the module docstring).

    Parameters
    ----------
    estimate, ci_low, ci_high : array_like
        Point estimates and interval bounds (broadcast together); NaN is inconclusive.
    sesoi : float, keyword-only
        The smallest effect of interest, > 0, on the estimate's scale.

    Returns
    -------
    SesoiDecision

    Examples
    --------
    >>> sesoi_decision([0.3, 0.05, 0.15], [0.1, -0.1, 0.02], [0.5, 0.15, 0.4], sesoi=0.2).outcome.tolist()
    ['supported', 'refuted', 'inconclusive']
    """
    sesoi = float(sesoi)
    if not np.isfinite(sesoi) or sesoi <= 0:
        raise ValueError(f"`sesoi` must be a finite number > 0, got {sesoi!r}")
    est, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (estimate, ci_low, ci_high)))
    if np.any(lo > hi):
        raise ValueError("`ci_low` must not exceed `ci_high`")
    with np.errstate(invalid="ignore"):
        supported = (lo > 0) & (est >= sesoi)
        refuted = hi < sesoi
    outcome = np.where(supported, "supported", np.where(refuted, "refuted", "inconclusive")).astype(object)
    return SesoiDecision(outcome, est, lo, hi, sesoi)


def n_for_sesoi(sd: float, sesoi: float, *, level: float = 0.95, power: float = 0.8,
                n_max: int = 100_000) -> int:
    """The smallest n at which a mean of n independent units with standard deviation `sd` gets a
    decisive outcome with probability `power` when the true effect is 0 (then "refuted" needs
    the two-sided `level` interval's upper bound below the SESOI) or twice the SESOI (then
    "supported" needs ``ci_low > 0`` and ``estimate >= sesoi``); t intervals, n - 1 df.

    The refutation side binds for every level used here: it is the n an honest "refuted"
    needs. Returns `n_max` + 1 when not even `n_max` units suffice.

    Examples
    --------
    >>> n_for_sesoi(1.0, 0.5)   # about ((1.96 + 0.84) / 0.5) ** 2 = 31.4, plus the t correction
    34
    """
    sd, sesoi = float(sd), float(sesoi)
    if not (np.isfinite(sd) and sd > 0):
        raise ValueError(f"`sd` must be a finite number > 0, got {sd!r}")
    if not (np.isfinite(sesoi) and sesoi > 0):
        raise ValueError(f"`sesoi` must be a finite number > 0, got {sesoi!r}")
    for name, value in (("level", level), ("power", power)):
        if not 0 < value < 1:
            raise ValueError(f"`{name}` must be in (0, 1), got {value!r}")

    def decisive(n: float) -> float:
        df = n - 1.0
        se = sd / np.sqrt(n)
        crit = sps.t.isf((1 - level) / 2, df)
        # true effect 0: P(estimate + crit * se < sesoi), the estimate ~ se * t_df
        p_refute = sps.t.cdf(sesoi / se - crit, df)
        # true effect 2 * sesoi: P(estimate > crit * se and estimate >= sesoi)
        threshold = max(crit * se, sesoi)
        p_support = sps.t.sf((threshold - 2 * sesoi) / se, df)
        return min(p_refute, p_support) - power

    if decisive(n_max) < 0:
        return n_max + 1
    lo, hi = 2.0, float(n_max)
    if decisive(lo) >= 0:
        return 2
    root = optimize.brentq(decisive, lo, hi, xtol=1e-6)
    n = int(np.ceil(root))
    while n > 2 and decisive(n - 1) >= 0:  # the curve is monotone; guard against the root's rounding
        n -= 1
    while decisive(n) < 0:
        n += 1
    return n
