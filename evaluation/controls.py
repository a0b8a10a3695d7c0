"""Controls: the same claim procedure on conditions where the claim's effect must not appear.

Contents
--------
beats               : does the model's value beat a control's, in the expectation's direction?
permuted            : activations with side labels swapped within chosen pairs.
permutation_null    : the claim's measure and count under within-pair label swaps (n seeded draws).
cached_permutation_null : the same, kept in the activation cache (warm runs skip it).
make_controls       : the callable `evaluate_claim(controls=...)` takes, bound to one provider.

Each control gives one `evaluation.result.ControlRow`.
``passed`` is True (the claim beats it), False (the control explains the result: the verdict
becomes "confounded") or None (informational). ``overlap`` is the share of the model's
specialized components that are specialized under the control too.

Decision rule (random weights, surface-only): the model and the control are measured on the
same pairs and both bootstrapped with the same resampled pair indices; the claim beats the
control only when the one-sided (1 - control_alpha) lower bound of (model - control) in the
claim's estimand (``estimand.measure``, pi1 by default) is above 0. Otherwise the control
explains the result (a tie is not a win). The difference, its two-sided interval and the
bound are in the row (``extra``), with the study's point comparison beside them for the
replication (``study_point_beats``, informational). Length-matched prompts keep their rule:
the expectation must still hold on them (`must_survive`); the row reports the difference
with its interval too.

Why these controls: reasoning prompts are longer and worded differently than recall prompts,
and uniform attention over more tokens already has higher entropy. A count that a random-
weights model, a same-task surface contrast or shuffled labels reach as well is not evidence of
task circuits.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from engine.activations import Activations
from engine.progress import step
from evaluation.component_claim import Claim
from evaluation.components import Measurement, measure
from evaluation.result import ControlRow
from stats.estimands import DifferenceResult, paired_difference
from stats.monte_carlo import monte_carlo_pvalue

if TYPE_CHECKING:
    from engine.cache import ActivationCache
    from engine.provider import ActivationProvider
    from tasks.taskset import TaskSet

#: What `make_controls` returns: ``run(claim, main) -> (rows, plot profiles)``.
ControlsRunner = Callable[[Claim, Measurement], tuple[list[ControlRow], dict[str, np.ndarray]]]

CONTRAST_NAMES = {"recall_filler": "surface only: recall vs recall + filler",
                  "reasoning_reworded": "surface only: reasoning vs reasoning reworded"}


def beats(claim: Claim, value: float, control: float) -> bool:
    """True when `value` is strictly better than `control` in the expectation's direction.

    For ``>=``/``>`` expectations (counts, fractions) better means larger; for ``<``/``<=``
    (p-values) smaller. A NaN control cannot explain anything; a NaN value beats nothing.
    """
    if not np.isfinite(value):
        return False
    if not np.isfinite(control):
        return True
    return value > control if claim.expect.op in (">=", ">") else value < control


def _overlap(main: Measurement, other: Measurement) -> float | None:
    spec = main.analysis.specialized
    if other.analysis.specialized.shape != spec.shape or not spec.any():
        return None
    return float((spec & other.analysis.specialized).sum() / spec.sum())


def _count(m: Measurement) -> int:
    return int(m.analysis.specialized.sum())


def _row(name: str, kind: str, main: Measurement, other: Measurement, passed: bool | None,
         detail: str, extra: dict | None = None) -> ControlRow:
    return ControlRow(name=name, control=kind, passed=passed, detail=detail, count=_count(other),
                      value=other.value, reference=main.value, overlap=_overlap(main, other),
                      extra=extra or {})


def estimand_difference(claim: Claim, main: Measurement, other: Measurement) -> DifferenceResult:
    """Model minus control in the claim's estimand (bootstrap over pairs), oriented so that
    positive is "more of the claimed effect on the model" (a depth claim with alternative
    "less" flips the sign)."""
    name = claim.estimand.measure
    if main.boot is None or other.boot is None:
        raise ValueError(f"{claim.id}: the model and the control must be measured with bootstrap=True")
    a, b = (main.boot, other.boot)
    if claim.level == "depth" and claim.depth is not None and claim.depth.alternative == "less":
        a, b = b, a
    return paired_difference(a, b, name, level=claim.estimand.level, alpha=claim.estimand.control_alpha)


def _difference_extra(claim: Claim, main: Measurement, other: Measurement, diff: DifferenceResult) -> dict:
    name = claim.estimand.measure
    others = {}
    for other_name in main.boot.estimate:  # informational: the rule uses `name` only
        if other_name != name and other_name in other.boot.estimate:
            d = paired_difference(main.boot, other.boot, other_name, level=claim.estimand.level)
            others.update({f"{other_name}_difference": d.estimate, f"{other_name}_difference_ci_low": d.low,
                           f"{other_name}_difference_ci_high": d.high})
    return {**others, "estimand": name, "model_estimate": main.boot.estimate[name],
            "control_estimate": other.boot.estimate[name], "difference": diff.estimate,
            "difference_ci_low": diff.low, "difference_ci_high": diff.high,
            "difference_lower_bound": diff.lower_bound, "paired_bootstrap": diff.paired,
            "n_boot": main.boot.n_boot, "study_point_beats": beats(claim, main.value, other.value)}


def _difference_detail(claim: Claim, main: Measurement, other: Measurement, diff: DifferenceResult) -> str:
    spec = claim.estimand
    name = spec.measure
    verdict = ("> 0: the claim beats this control" if diff.beats
               else "<= 0: the control explains the result")
    pairing = "same pairs, same resamples" if diff.paired else "different pairs, independent resamples"
    return (f"{name} {main.boot.estimate[name]:.3g} (model) - {other.boot.estimate[name]:.3g} (control) = "
            f"{diff.estimate:.3g}, {spec.level:.0%} CI [{diff.low:.3g}, {diff.high:.3g}] "
            f"({main.boot.n_boot} bootstrap resamples, {pairing}); one-sided {1 - spec.control_alpha:.0%} "
            f"lower bound {diff.lower_bound:.3g} {verdict}. Rule: the claim beats a control only when this "
            f"lower bound is > 0. Study's point comparison: {_compare_detail(claim, main, other)}")


def _compare_detail(claim: Claim, main: Measurement, other: Measurement) -> str:
    return (f"{claim.expect.measure} {other.value:.4g} vs {main.value:.4g} for the model "
            f"({_count(other)} vs {_count(main)} specialized)")


def permuted(acts: Activations, swap: np.ndarray, names: tuple[str, ...]) -> Activations:
    """`acts` restricted to arrays `names`, with sides a and b exchanged in pairs where `swap`."""
    arrays = {}
    for name in names:
        a, b = acts.sides(name)
        mask = swap.reshape(-1, *([1] * (a.ndim - 1)))
        arrays[name] = np.concatenate([np.where(mask, b, a), np.where(mask, a, b)])
    return dataclasses.replace(acts, arrays=arrays)


def permutation_null(claim: Claim, acts: Activations, *, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The claim's measure and specialized count under `n` within-pair label swaps.

    Each pair's sides are swapped with probability 1/2; returns ``(values [n], counts [n])``.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    names = tuple(claim.features) + ("n_tokens",)
    values, counts = np.empty(n), np.empty(n, dtype=np.int64)
    model = acts.meta.get("model")
    with step(f"{claim.id} permutation null" + (f" ({model})" if model else ""), total=n, unit="draw") as bar:
        for i in range(n):
            swap = rng.random(acts.n_pairs) < 0.5
            m = measure(claim, permuted(acts, swap, names), seed=seed, consistency=False)
            values[i], counts[i] = m.value, _count(m)
            bar.update(1)
    return values, counts


def _procedure(claim: Claim) -> dict:
    """Everything in a claim that changes its measure (not its wording or its controls)."""
    return {"level": claim.level, "depth": dataclasses.asdict(claim.depth) if claim.depth else None,
            "features": list(claim.features), "test": claim.test, "alpha": claim.alpha,
            "correction": claim.correction, "min_effect": claim.min_effect, "effect_size": claim.effect_size,
            "cv": dataclasses.asdict(claim.cv), "measure": claim.expect.measure,
            # only an estimand measure depends on the bootstrap's settings
            **({"estimand": dataclasses.asdict(claim.estimand)}
               if claim.expect.measure.split("_ci_")[0] in ("pi1", "median_abs_effect", "share_large_effect")
               else {})}


def cached_permutation_null(claim: Claim, acts: Activations, *, n: int, seed: int,
                            cache: ActivationCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`permutation_null`, stored in the activation cache next to the activations it permutes.

    The null depends only on the activations (their cache key), the claim's procedure, `n` and
    `seed`, so a warm run reads it instead of recomputing hundreds of analyses.
    """
    from engine.cache import CacheKey

    source = acts.meta.get("cache_key")
    if cache is None or source is None:
        return permutation_null(claim, acts, n=n, seed=seed)
    capture = {"kind": "permutation-null", "procedure": _procedure(claim), "n": n, "seed": seed}
    if acts.meta.get("subset_sha256"):  # a pair subset (--correct-only) has a null of its own
        capture["subset"] = acts.meta["subset_sha256"]
    key = CacheKey(model_identity=str(acts.meta.get("model_identity")), tasks_sha256=source, capture=capture)
    hit = cache.get(key)
    if hit is not None:
        return hit[0]["values"], hit[0]["counts"]
    values, counts = permutation_null(claim, acts, n=n, seed=seed)
    cache.put(key, {"values": values, "counts": counts}, meta={"claim": claim.id})
    return values, counts


def permutation_row(claim: Claim, main: Measurement, acts: Activations, n: int, alpha: float,
                    seed: int, cache: ActivationCache | None = None) -> tuple[ControlRow, np.ndarray]:
    """The label-permutation control's row, and the null values of the claim's measure [n]."""
    null, null_counts = cached_permutation_null(claim, acts, n=n, seed=seed, cache=cache)
    finite = null[np.isfinite(null)]
    # A permutation whose measure is undefined (e.g. no specialized component for a depth test)
    # did not reach the observed value: it counts in n but not among the extreme ones.
    alternative = "greater" if claim.expect.op in (">=", ">") else "less"
    p = (float(monte_carlo_pvalue(null, main.value, alternative=alternative).pvalue)
         if np.isfinite(main.value) else 1.0)
    spread = (f"mean {np.mean(finite):.4g}, 95th pct {np.percentile(finite, 95):.4g}"
              if finite.size else "undefined in every draw")
    detail = (f"null {claim.expect.measure}: {spread} over {null.size} label swaps "
              f"({null.size - finite.size} undefined); empirical p = {p:.3g}, required < {alpha:g}")
    row = ControlRow(name=f"label permutation (n={n})", control="permutation", passed=bool(p < alpha),
                     detail=detail, count=float(np.mean(null_counts)),
                     value=float(np.mean(finite)) if finite.size else None, reference=main.value, pvalue=p)
    return row, null


def make_controls(provider: ActivationProvider, taskset: TaskSet, acts: Activations, *, seed: int,
                  cache: ActivationCache | None = None) -> ControlsRunner:
    """Bind the controls of any claim to one model's `ActivationProvider` and main task set.

    `cache` (an `ActivationCache`) keeps permutation nulls between runs.
    """

    def measured(claim: Claim, other_acts: Activations) -> Measurement:
        """The claim on a control's activations, resampled like the model where the pairs are
        the same ones (a paired bootstrap), independently otherwise."""
        same = tuple(other_acts.pair_ids) == tuple(acts.pair_ids)
        stream = 0 if same else 1 + (abs(hash(tuple(other_acts.pair_ids))) % (2 ** 31))
        return measure(claim, other_acts, seed=seed, bootstrap=True, stream=stream)

    def compared(claim: Claim, main: Measurement, other: Measurement, name: str, kind: str) -> ControlRow:
        diff = estimand_difference(claim, main, other)
        estimand = claim.estimand.measure
        if not np.isfinite(other.boot.estimate[estimand]) and np.isfinite(main.boot.estimate[estimand]):
            # e.g. no reasoning-specialized head under the control: it cannot explain the result
            detail = (f"{estimand} is undefined under this control ({_compare_detail(claim, main, other)}): "
                      "it cannot explain the model's result")
            return _row(name, kind, main, other, True, detail, _difference_extra(claim, main, other, diff))
        return _row(name, kind, main, other, diff.beats, _difference_detail(claim, main, other, diff),
                    _difference_extra(claim, main, other, diff))

    def run(claim: Claim, main: Measurement) -> tuple[list[ControlRow], dict[str, np.ndarray]]:
        rows: list[ControlRow] = []
        profiles: dict[str, np.ndarray] = {}
        spec = claim.controls
        if main.boot is None:
            main = measure(claim, acts, seed=seed, bootstrap=True)
        for s in spec.random_weights or ():
            other = measured(claim, provider.get(taskset, random_init_seed=s))
            rows.append(compared(claim, main, other, f"random weights (seed {s})", "random_weights"))
            profiles[f"control:random-weights-{s}:count_per_layer"] = other.count_per_layer()
        for contrast in spec.surface_only or ():
            variant = provider.variant(taskset, contrast)
            if variant is None:
                rows.append(ControlRow(name=CONTRAST_NAMES[contrast], control="surface_only", passed=None,
                                       detail=f"no {contrast} contrast exists for task set {taskset.name!r}",
                                       reference=main.value))
                continue
            other = measured(claim, provider.get(variant))
            rows.append(compared(claim, main, other, CONTRAST_NAMES[contrast], "surface_only"))
            profiles[f"control:{contrast}:count_per_layer"] = other.count_per_layer()
        if spec.length_matched is not None:
            other = measured(claim, provider.get(provider.variant(taskset, "length_matched")))
            holds = bool(np.isfinite(other.value)) and claim.expect.holds(other.value)
            diff = estimand_difference(claim, main, other)
            detail = (f"{claim.expect.measure} = {other.value:.4g} on length-matched prompts "
                      f"({_count(other)} specialized); required {claim.expect.describe()}"
                      f"{' (must survive)' if spec.length_matched else ' (informational)'}. "
                      f"{claim.estimand.measure} model - length-matched = {diff.estimate:.3g}, "
                      f"{claim.estimand.level:.0%} CI [{diff.low:.3g}, {diff.high:.3g}] (> 0: length "
                      "accounts for part of the result)")
            rows.append(_row("length-matched prompts", "length_matched", main, other,
                             holds if spec.length_matched else None, detail,
                             _difference_extra(claim, main, other, diff)))
            profiles["control:length-matched:count_per_layer"] = other.count_per_layer()
        if spec.permutation is not None:
            n, alpha = spec.permutation
            row, null = permutation_row(claim, main, acts, n, alpha, seed, cache)
            rows.append(row)
            profiles["null:permutation"] = null
        return rows, profiles

    return run
