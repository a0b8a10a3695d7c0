"""Evaluate a claim on captured activations: per-component statistics -> figures -> verdict.

Contents
--------
ComponentAnalysis   : every feature's `stats.specialization.FeatureResult` on one grid, plus labels.
analyse_components  : run a claim's test / effect / correction / cross-validation per feature.
Measurement         : a claim's procedure run on one set of activations (no verdict).
measure             : analysis + figures + the value of the claim's expectation measure.
evaluate_claim      : the `ClaimResult` of a claim on one model, with its controls' verdict.

This module only glues: the numbers come from `stats`, the arrays from `fixtures`, and the
thresholds from the claim file. Sign convention: effects are side a minus side b, i.e. recall
minus reasoning for the main task sets, so a positive effect is "recall-specialized".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.claim_estimands import (
    ESTIMAND_NAMES,
    bootstrap_estimands,
    depth_distance,
    estimand_figures,
    estimand_statistic,
)
from evaluation.component_claim import Claim
from evaluation.result import (
    ClaimResult,
    ComparisonRow,
    ControlRow,
    InsufficientEvidence,
)
from stats.crossval import pair_folds
from stats.estimands import BootstrapResult
from stats.monte_carlo import monte_carlo_pvalue
from stats.specialization import (
    FeatureResult,
    feature_result,
    label_components,
    significant,
    specialization_table,
)

if TYPE_CHECKING:
    from engine.activations import Activations
    from engine.behaviour import Behaviour


class InsufficientPairs(InsufficientEvidence):
    """Too few prompt pairs for the claim's procedure: "inconclusive", not a refutation."""

LABEL_CODES = {"none": 0, "recall": 1, "reasoning": 2, "mixed": 3}
LEVEL_NOUN = {"layer": "layers", "head": "heads", "neuron": "neurons"}


@dataclass(frozen=True)
class ComponentAnalysis:
    """All features of one claim on one grid ([L], [L, H] or [L, N])."""

    level: str
    features: dict[str, FeatureResult]
    labels: np.ndarray  # str array, grid shape: none / recall / reasoning / mixed
    cv_consistent: np.ndarray  # bool, grid shape: significant on all pairs and in enough folds
    n_pairs: int

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return self.labels.shape

    @property
    def specialized(self) -> np.ndarray:
        return self.labels != "none"

    def primary_effect(self) -> np.ndarray:
        """Effect of the first feature (what plots colour by)."""
        return next(iter(self.features.values())).effect


def analyse_components(claim: Claim, acts: Activations, *, seed: int, pairs: np.ndarray | None = None,
                       consistency: bool = True) -> ComponentAnalysis:
    """Per-component statistics of every feature of `claim` on `acts` (optionally a pair subset).

    A component is labelled from the features that pass: adjusted p < alpha, |effect| >=
    min_effect and, when the claim requires it, fold consistency >= min_consistency. Fold
    consistency is cross-fitted by default (``cv.mode: cross_fit``: the share of folds in which
    the component was selected on the other folds and confirmed on the held-out one by a
    permutation test with the claim's family-wise control); ``cv.mode: study_consistency`` is the
    study's filter (significant with the full-data sign on each k-1 folds).
    `consistency=False` skips the folds when the claim does not require them (the labels are
    the same; `cv_consistent` is then all False): permutation nulls use it to save time.
    """
    n_pairs = acts.n_pairs if pairs is None else len(pairs)
    use_folds = consistency or claim.cv.required
    folds = pair_folds(n_pairs, claim.cv.folds, rng=np.random.default_rng(seed)) if use_folds else None
    covariates, effect = None, claim.effect_size
    if claim.test == "covariate_adjusted":
        tok_a, tok_b = acts.sides("n_tokens", pairs)
        covariates = (tok_a.astype(float)[:, None], tok_b.astype(float)[:, None])
        effect = None  # the standardized regression coefficient is the effect
    results: dict[str, FeatureResult] = {}
    for j, feature in enumerate(claim.features):
        a, b = acts.sides(feature, pairs)
        confirm = None
        if folds is not None and claim.cv.mode == "cross_fit":
            confirm = {"confirm_alpha": claim.cv.alpha, "n_perm": claim.cv.n_perm,
                       "familywise": claim.cv.familywise, "rng": np.random.default_rng([seed, 0xCF, j])}
        results[feature] = feature_result(
            a.astype(np.float64), b.astype(np.float64), test=claim.test, effect=effect,
            correction=claim.correction, folds=folds, alpha=claim.alpha, min_effect=claim.min_effect,
            covariates=covariates, confirm=confirm)
    labels = label_components(results, alpha=claim.alpha, min_effect=claim.min_effect,
                              min_consistency=claim.cv.min_consistency if claim.cv.required else None)
    cv_consistent = np.zeros(labels.shape, dtype=bool)
    for res in results.values():
        if res.consistency is not None:
            cv_consistent |= significant(res, alpha=claim.alpha, min_effect=claim.min_effect,
                                         min_consistency=claim.cv.min_consistency)
    return ComponentAnalysis(claim.component_level, results, labels, cv_consistent, n_pairs)


def component_name(level: str, index: tuple[int, ...]) -> str:
    """``L3`` (layer), ``L2H5`` (head), ``L4N1031`` (neuron)."""
    if level == "layer":
        return f"L{index[0]}"
    return f"L{index[0]}{'H' if level == 'head' else 'N'}{index[1]}"


def _top(analysis: ComponentAnalysis, label: str, k: int) -> list[str]:
    effect = np.abs(analysis.primary_effect())
    mask = analysis.labels == label
    if k == 0 or not mask.any():
        return []
    flat = np.flatnonzero(mask.ravel())
    order = flat[np.argsort(-effect.ravel()[flat], kind="stable")][:k]
    return [component_name(analysis.level, np.unravel_index(i, analysis.grid_shape)) for i in order]


def component_figures(claim: Claim, analysis: ComponentAnalysis) -> tuple[dict, dict]:
    """Figures (JSON-able numbers) and plot profiles of a component analysis."""
    labels = analysis.labels
    total = int(labels.size)
    counts = {name: int((labels == name).sum()) for name in ("recall", "reasoning", "mixed")}
    n_spec = int(analysis.specialized.sum())
    figures: dict[str, Any] = {
        "total": total,
        "specialized": n_spec,
        "count_specialized": n_spec,
        "fraction_specialized": n_spec / total if total else float("nan"),
        **counts,
        "cv_consistent": int(analysis.cv_consistent.sum()),
        "count_cv_consistent": int(analysis.cv_consistent.sum()),
        "fraction_cv_consistent": float(analysis.cv_consistent.mean()) if total else float("nan"),
        "n_pairs": analysis.n_pairs,
        "cv_mode": claim.cv.mode,
    }
    profiles: dict[str, np.ndarray] = {"specialized": analysis.specialized,
                                       "label_code": np.vectorize(LABEL_CODES.get)(labels).astype(int)}
    for feat, fs in analysis.features.items():
        profiles[f"effect:{feat}"] = fs.effect
        if analysis.level == "layer":
            profiles[f"ci_low:{feat}"] = fs.ci_low
            profiles[f"ci_high:{feat}"] = fs.ci_high
    if analysis.level == "layer":
        figures["recall_layers"] = [int(i) for i in np.flatnonzero(labels == "recall")]
        figures["reasoning_layers"] = [int(i) for i in np.flatnonzero(labels == "reasoning")]
        figures["mixed_layers"] = [int(i) for i in np.flatnonzero(labels == "mixed")]
        figures["n_layers"] = total
    else:
        per_layer = analysis.specialized.mean(axis=1)
        profiles["frac_recall"] = (labels == "recall").mean(axis=1)
        profiles["frac_reasoning"] = (labels == "reasoning").mean(axis=1)
        profiles["frac_mixed"] = (labels == "mixed").mean(axis=1)
        figures["per_layer_fraction"] = [float(x) for x in per_layer]
        figures["most_specialized_layer"] = int(np.argmax(per_layer))
        figures["most_specialized_layer_fraction"] = float(per_layer.max())
        figures["n_layers"] = int(labels.shape[0])
        noun = "heads" if analysis.level == "head" else "neurons"
        figures[f"top_recall_{noun}"] = _top(analysis, "recall", claim.top_k)
        figures[f"top_reasoning_{noun}"] = _top(analysis, "reasoning", claim.top_k)
    return figures, profiles


#: Layer permutations of the depth test (cheap: one vectorized pass over [n, L]).
DEPTH_PERMUTATIONS = 9999


def depth_figures(claim: Claim, analysis: ComponentAnalysis, *, seed: int = 0) -> tuple[dict, dict]:
    """Are reasoning-specialized components further from mid-depth than recall ones?

    The statistic is the mean distance |l/(L-1) - 0.5| of reasoning-labelled components minus
    that of recall-labelled ones; its null permutes the layers' depths, keeping the components
    of a layer together (the heads of one layer are not independent samples of depth), so the
    p-value is over L! orders of layers, not over heads. Undefined (NaN) when either label has
    no component: the claim is then inconclusive, not refuted.
    """
    n_layers = analysis.grid_shape[0]
    labels2d = analysis.labels.reshape(n_layers, -1)
    rec_per_layer = (labels2d == "recall").sum(axis=1).astype(float)
    rea_per_layer = (labels2d == "reasoning").sum(axis=1).astype(float)
    n_rec, n_rea = int(rec_per_layer.sum()), int(rea_per_layer.sum())
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    distance = depth_distance((n_layers,))
    figures: dict[str, Any] = {"n_recall": n_rec, "n_reasoning": n_rea,
                               "mean_depth_recall": float(depth @ rec_per_layer / n_rec) if n_rec else None,
                               "mean_depth_reasoning": float(depth @ rea_per_layer / n_rea) if n_rea else None,
                               "n_layers": n_layers,
                               "layers_with_recall": int((rec_per_layer > 0).sum()),
                               "layers_with_reasoning": int((rea_per_layer > 0).sum())}
    if n_rec and n_rea:
        observed = float(distance @ rea_per_layer / n_rea - distance @ rec_per_layer / n_rec)
        rng = np.random.default_rng([seed, 0xDE9, n_layers])
        perms = np.argsort(rng.random((DEPTH_PERMUTATIONS, n_layers)), axis=1)
        shuffled = distance[perms]  # [R, L]: layer l placed at another depth
        null = shuffled @ rea_per_layer / n_rea - shuffled @ rec_per_layer / n_rec
        alternative = claim.depth.alternative if claim.depth is not None else "greater"
        figures["depth_distance_difference"] = observed
        # mirror-image layers share a distance: ties up to rounding count as extreme
        figures["depth_pvalue"] = float(monte_carlo_pvalue(null, observed, alternative=alternative,
                                                           tie_tol=1e-9).pvalue)
        figures["depth_permutations"] = DEPTH_PERMUTATIONS
    else:
        figures["depth_distance_difference"] = float("nan")
        figures["depth_pvalue"] = float("nan")
    grid = np.arange(n_layers) / max(n_layers - 1, 1)
    profiles = {"depth": grid,
                "profile:recall": (labels2d == "recall").mean(axis=1),
                "profile:reasoning": (labels2d == "reasoning").mean(axis=1)}
    return figures, profiles


def _message(claim: Claim, figures: dict, measured: float) -> str:
    exp = claim.expect
    required = f"required {exp.measure} {exp.op} {exp.value:g}"
    if exp.measure == "depth_pvalue":
        return (f"{claim.id}: reasoning- vs recall-specialized components' distance from mid-depth: "
                f"p = {measured:.3g} over layer permutations ({figures['n_reasoning']} reasoning in "
                f"{figures['layers_with_reasoning']} layers, {figures['n_recall']} recall in "
                f"{figures['layers_with_recall']} layers), {required}")
    if exp.measure not in ("fraction_specialized", "count_specialized", "fraction_cv_consistent",
                           "count_cv_consistent"):
        return f"{claim.id}: {exp.measure} = {measured:.3g}, {required}"
    noun = LEVEL_NOUN[claim.component_level]
    total = figures["total"]
    if exp.measure in ("fraction_specialized", "count_specialized"):
        count, what = figures["specialized"], "specialized"
    else:
        count = figures["cv_consistent"]
        what = "cross-fit confirmed" if claim.cv.mode == "cross_fit" else "CV-consistent"
    return f"{claim.id}: {count}/{total} {noun} {what} ({count / total:.1%}), {required}"


def _comparison(claim: Claim, figures: dict) -> list[ComparisonRow]:
    rows = []
    for key, reported in claim.reported.items():
        if key == "model":
            rows.append(ComparisonRow("model", reported, figures.get("model")))
        elif key in figures:
            rows.append(ComparisonRow(key, reported, figures[key]))
    return rows


@dataclass(frozen=True)
class Measurement:
    """A claim measured on one set of activations: analysis, figures, plot profiles, the
    value of the claim's expectation measure and, when asked for, the bootstrap of its
    estimands over pairs (`evaluation.claim_estimands`)."""

    analysis: ComponentAnalysis
    figures: dict
    profiles: dict
    value: float
    boot: BootstrapResult | None = None

    def count_per_layer(self) -> np.ndarray:
        spec = self.analysis.specialized
        return spec.astype(int) if spec.ndim == 1 else spec.reshape(spec.shape[0], -1).sum(axis=1)


def measure(claim: Claim, acts: Activations, *, seed: int, pairs: np.ndarray | None = None,
            consistency: bool = True, bootstrap: bool = False, stream: int = 0) -> Measurement:
    """Run the claim's procedure on `acts` and return the `Measurement` (no verdict).

    `bootstrap` adds the estimands with their intervals (``claim.estimand.n_boot`` resamples of
    pairs, resample stream `stream`); an expectation on an interval bound always bootstraps,
    one on a point estimand computes that estimand once.
    """
    analysis = analyse_components(claim, acts, seed=seed, pairs=pairs, consistency=consistency)
    figures, profiles = component_figures(claim, analysis)
    if claim.level == "depth":
        depth_figs, depth_profiles = depth_figures(claim, analysis, seed=seed)
        figures.update(depth_figs)
        profiles.update(depth_profiles)
    boot = None
    wanted = claim.expect.measure
    if bootstrap or wanted.endswith("_ci_low"):
        boot = bootstrap_estimands(claim, acts, seed=seed, pairs=pairs, stream=stream)
        figures.update(estimand_figures(claim, boot))
    elif wanted in ESTIMAND_NAMES["component"]:
        figures.update(estimand_statistic(claim, acts, pairs=pairs)(np.arange(analysis.n_pairs)))
    return Measurement(analysis, figures, profiles, float(figures[wanted]), boot)


def _estimand_phrase(claim: Claim, figures: dict) -> str:
    name = claim.estimand.measure
    if name not in figures or not np.isfinite(figures[name]):
        return ""
    return (f"; {name} = {figures[name]:.3g} [{figures[name + '_ci_low']:.3g}, "
            f"{figures[name + '_ci_high']:.3g}] ({claim.estimand.level:.0%} bootstrap CI over pairs)")


def _undefined(claim: Claim, main: Measurement, figures: dict, model: str, acts: Activations, seed: int,
               behaviour: Behaviour | None) -> ClaimResult:
    """An undefined measure (e.g. a depth test with no reasoning component) decides nothing."""
    if claim.expect.measure == "depth_pvalue":
        why = (f"{figures.get('n_reasoning', 0)} reasoning- and {figures.get('n_recall', 0)} recall-specialized "
               "components: the depth comparison needs both")
    else:
        why = f"{claim.expect.measure} is undefined on these {main.analysis.n_pairs} pairs"
    return ClaimResult.for_claim(
        claim, level=claim.level, model=model,
        verdict="inconclusive", message=f"{claim.id}: inconclusive: {why}", thresholds=claim.thresholds(),
        figures=figures, comparison=_comparison(claim, figures), profiles=dict(main.profiles),
        components=specialization_table(main.analysis.features, labels=main.analysis.labels),
        behaviour=behaviour.summary() if behaviour is not None else {},
        meta={"seed": seed, "correct_only": bool(acts.meta.get("correct_only", False)),
              "component_level": claim.component_level,
              "inconclusive_reason": why},
        kind="component")


def _verdict(claim: Claim, main: Measurement, controls: list[ControlRow]) -> tuple[str, str]:
    holds = bool(np.isfinite(main.value)) and claim.expect.holds(main.value)
    message = _message(claim, main.figures, main.value) + _estimand_phrase(claim, main.figures)
    if not holds:
        return "refuted", message
    failed = [row for row in controls if row.passed is False]
    if failed:
        names = "; ".join(f"{row.name}: {row.detail}" for row in failed)
        return "confounded", f"{message}, but a control explains it ({names})"
    return "supported", message


def evaluate_claim(claim: Claim, acts: Activations, *, seed: int, model: str, behaviour: Behaviour | None = None,
                   controls: Callable[[Claim, Measurement], tuple[list[ControlRow], dict]] | None = None,
                   ) -> ClaimResult:
    """Evaluate `claim` on the activations of one model and return its `ClaimResult`.

    Parameters
    ----------
    acts : engine.activations.Activations
        Already restricted to the run's pair subset (``--correct-only``) where one applies: the
        subset is made once, where activations are made (`fixtures.session.ModelRun`).
    behaviour : engine.behaviour.Behaviour, optional
        Accuracy goes into the result.
    controls : callable, optional
        ``controls(claim, main: Measurement) -> (rows, profiles)`` (see `evaluation.controls`).
        A control row with ``passed=False`` turns a met expectation into "confounded".

    Raises
    ------
    InsufficientPairs
        Fewer pairs than the claim's cross-validation needs (2 per fold).
    """
    if acts.n_pairs < 2 * claim.cv.folds:
        raise InsufficientPairs(f"{claim.id}: only {acts.n_pairs} pairs "
                                f"{'answered correctly on both sides ' if acts.meta.get('correct_only') else ''}"
                                f"to analyse; {2 * claim.cv.folds} needed for {claim.cv.folds}-fold cross-validation")
    main = measure(claim, acts, seed=seed, bootstrap=True)
    figures, profiles = dict(main.figures), dict(main.profiles)
    figures["model"] = model
    if not np.isfinite(main.value):
        return _undefined(claim, main, figures, model, acts, seed, behaviour)
    control_rows: list[ControlRow] = []
    if controls is not None and claim.controls.names:
        control_rows, control_profiles = controls(claim, main)
        profiles.update(control_profiles)
        profiles["control:trained:count_per_layer"] = main.count_per_layer()
    verdict, message = _verdict(claim, main, control_rows)
    components = specialization_table(main.analysis.features, labels=main.analysis.labels)
    meta = {k: v for k, v in acts.meta.items() if k not in ("subset_sha256", "correct_only")}
    return ClaimResult.for_claim(
        claim, level=claim.level, model=model,
        verdict=verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=_comparison(claim, figures), profiles=profiles, components=components,
        controls=control_rows, behaviour=behaviour.summary() if behaviour is not None else {},
        meta={**meta, "seed": seed, "correct_only": bool(acts.meta.get("correct_only", False)),
              "component_level": claim.component_level},
        kind="component",
    )
