"""A component claim's estimands, measured with a bootstrap over pairs.

Contents
--------
ESTIMAND_NAMES       : what `estimand_statistic` returns for a component or a depth claim.
estimand_statistic   : ``f(pair_indices) -> {name: value}`` for one claim on one set of activations.
bootstrap_estimands  : the claim's estimands on all pairs and on `n_boot` resamples of pairs.
estimand_figures     : estimates with intervals, as figures (``pi1``, ``pi1_ci_low``, ...).

The estimands, beside the study's counts:

* ``pi1``: Storey's estimate of the share of components whose null is false, from one p-value
  per component (Bonferroni over the claim's features). It does not grow with the number of
  pairs the way a count at a threshold does (it is conservative when power is low).
* ``median_abs_effect`` and ``share_large_effect``: the distribution of the component's
  largest |effect| over features (the claim's effect size), its median and the share at or
  above the claim's `min_effect`.
* ``depth_effect`` (depth claims): mean normalized distance from mid-depth of the components
  labelled reasoning minus that of those labelled recall, labels by p, correction and
  min_effect (no fold filter, so each resample is one test pass).

Bootstrap resamples pairs (the sampled unit) with a seed drawn from the run's seed and the
number of pairs, so two conditions on the same pairs (the model and its random-weights twin)
see the same resamples: their difference is a paired bootstrap (`stats.estimands`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from stats.crossval import resolve_test_effect
from stats.estimands import (
    BootstrapResult,
    component_pvalue,
    effect_summary,
    pair_bootstrap,
    storey_pi1,
)
from stats.multiple import adjust_pvalues

if TYPE_CHECKING:
    from engine.activations import Activations
    from evaluation.component_claim import Claim

ESTIMAND_NAMES = {"component": ("pi1", "median_abs_effect", "share_large_effect"),
                  "depth": ("depth_effect",)}
#: Ranges of the estimands; a normal interval is cut to them.
BOUNDS = {"pi1": (0.0, 1.0), "share_large_effect": (0.0, 1.0), "median_abs_effect": (0.0, np.inf),
          "depth_effect": (-0.5, 0.5)}
#: Stream tag of the bootstrap seed (distinct from folds and permutation draws).
BOOT_STREAM = 0xB007


def _sides(claim: Claim, acts: Activations, pairs: np.ndarray | None):
    # stored dtype kept: float32 activations take the rank tests' sort-only path (ties from
    # resampled pairs make the float64 path several times slower); moments upcast themselves
    sides = {f: tuple(acts.sides(f, pairs)) for f in claim.features}
    covariates = None
    if claim.test == "covariate_adjusted":
        tok_a, tok_b = acts.sides("n_tokens", pairs)
        covariates = (tok_a.astype(float)[:, None], tok_b.astype(float)[:, None])
    return sides, covariates


def depth_distance(shape: tuple[int, ...]) -> np.ndarray:
    """|l / (L - 1) - 0.5| for every component of a grid whose first axis is the layer."""
    layer = np.indices(shape)[0]
    return np.abs(layer / max(shape[0] - 1, 1) - 0.5)


def estimand_statistic(claim: Claim, acts: Activations, *, pairs: np.ndarray | None = None
                       ) -> Callable[[np.ndarray], dict[str, float]]:
    """The claim's estimands as a function of pair indices (rows of `acts`, after `pairs`)."""
    sides, covariates = _sides(claim, acts, pairs)
    test_fn, effect_fn = resolve_test_effect(claim.test, None if claim.test == "covariate_adjusted"
                                             else claim.effect_size)
    lam = claim.estimand.pi0_lambda

    def per_feature(idx: np.ndarray):
        out = []
        for a, b in sides.values():
            xa, xb = a[idx], b[idx]
            if covariates is not None:
                res = test_fn(xa, xb, covariates[0][idx], covariates[1][idx])
                eff = res.effect
            else:
                res = test_fn(xa, xb)
                eff = effect_fn(xa, xb).effect
            out.append((np.asarray(res.pvalue, float), np.asarray(eff, float)))
        return out

    if claim.level == "depth":
        def depth(idx: np.ndarray) -> dict[str, float]:
            results = per_feature(idx)
            shape = results[0][0].shape
            recall, reasoning = np.zeros(shape, bool), np.zeros(shape, bool)
            for p, eff in results:
                with np.errstate(invalid="ignore"):
                    sig = (adjust_pvalues(p, method=claim.correction) < claim.alpha) & (np.abs(eff) >= claim.min_effect)
                recall |= sig & (eff > 0)
                reasoning |= sig & (eff < 0)
            only_rec, only_rea = recall & ~reasoning, reasoning & ~recall
            dist = depth_distance(shape)
            if not only_rec.any() or not only_rea.any():
                return {"depth_effect": float("nan")}
            return {"depth_effect": float(dist[only_rea].mean() - dist[only_rec].mean())}
        return depth

    def component(idx: np.ndarray) -> dict[str, float]:
        results = per_feature(idx)
        p = component_pvalue(np.stack([r[0].ravel() for r in results]))
        effects = np.stack([np.abs(r[1].ravel()) for r in results])
        largest = np.where(np.isfinite(effects), effects, -np.inf).max(axis=0)
        largest[~np.isfinite(largest)] = np.nan  # undefined on every feature
        summary = effect_summary(largest, min_effect=claim.min_effect)
        return {"pi1": float(storey_pi1(p, lambda_=lam)), **{k: float(v) for k, v in summary.items()}}
    return component


def bootstrap_estimands(claim: Claim, acts: Activations, *, seed: int, pairs: np.ndarray | None = None,
                        n_boot: int | None = None, stream: int = 0) -> BootstrapResult:
    """The claim's estimands on all pairs and on ``claim.estimand.n_boot`` resamples of pairs.

    `stream` 0 is the model's; a control on other pairs than the model's passes another
    stream so that its resamples are independent of the model's.
    """
    n_pairs = acts.n_pairs if pairs is None else len(pairs)
    statistic = estimand_statistic(claim, acts, pairs=pairs)
    return pair_bootstrap(n_pairs, statistic, n_boot=n_boot or claim.estimand.n_boot,
                          rng=np.random.default_rng([seed, BOOT_STREAM, n_pairs, stream]))


def estimand_figures(claim: Claim, boot: BootstrapResult) -> dict[str, float]:
    """``name``, ``name_ci_low``, ``name_ci_high`` and ``name_se`` for every estimand."""
    level = claim.estimand.level
    figures: dict[str, float] = {"n_boot": boot.n_boot, "estimand_level": level}
    for name, value in boot.estimate.items():
        low, high = boot.interval(name, level)
        if name in BOUNDS:  # the parameter's own range (a share, an absolute value)
            low, high = (float(np.clip(x, *BOUNDS[name])) if np.isfinite(x) else x for x in (low, high))
        figures[name] = value
        figures[f"{name}_ci_low"] = low
        figures[f"{name}_ci_high"] = high
        figures[f"{name}_se"] = boot.se(name)
    return figures
