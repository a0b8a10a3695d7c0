"""Claims on the hops x book factorial (F1-F3): the hops effect, beside the book effect and
their interaction, per component.

Contents
--------
FactorialEffects  : per feature and component, the book effect and the interaction (grids).
factorial_effects : both, measured on the items of the claim's hops contrast.
beyond_book       : components whose hops effect passes the claim's rule and exceeds the book effect.
book_control_row  : the claim's expectation re-measured on those components (a control row).
with_factorial    : the claim's `ClaimResult` with the book/interaction columns, figures, profiles
                    and that control row added.

The claim's own task set is the closed-book hops contrast (side a closed-1hop, side b
closed-2hop); `factorial.open_tasks` is the open-book one on the same items (open-1hop,
open-2hop). Pair i of each is item i (pair ids are item ids), so the four cells of an item
line up. Effects are side a minus side b as everywhere: a negative hops effect means larger
on two-hop prompts, a negative book effect larger on open-book prompts.

- hops  : the claim's own test (e.g. `covariate_adjusted` on token count) on closed-1hop vs
          closed-2hop, as every component claim.
- book  : the same test, covariates and correction on closed-1hop vs open-1hop.
- interaction : per item ``(closed-1hop - closed-2hop) - (open-1hop - open-2hop)``, its mean
          over its SD (a paired d) and a one-sample t-test, corrected like the claim.

"Not explained by the book effect" (decided a priori, F1-F3's YAML): a hops-specialized
component counts only if its |hops effect| exceeds its |book effect| for a feature that passes;
the claim's expectation must still hold on those components alone, else "confounded".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats as sps

from evaluation.result import ClaimResult, ControlRow
from stats.multiple import adjust_pvalues
from stats.specialization import feature_result, significant

if TYPE_CHECKING:
    from engine.activations import Activations
    from evaluation.component_claim import Claim
    from evaluation.components import Measurement


@dataclass(frozen=True)
class FactorialEffects:
    """Per feature, grids shaped like the claim's components ([L], [L, H] or [L, N])."""

    book_effect: dict[str, np.ndarray]
    book_p_adj: dict[str, np.ndarray]
    interaction: dict[str, np.ndarray]
    interaction_p_adj: dict[str, np.ndarray]
    n_items: int


def _aligned(closed: Activations, opened: Activations) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `closed` and `opened` of the items both hold, in `closed`'s order."""
    where = {pid: i for i, pid in enumerate(opened.pair_ids)}
    missing = [pid for pid in closed.pair_ids if pid not in where]
    if missing:
        raise ValueError(f"the open-book set lacks {len(missing)} items of the closed-book set "
                         f"(e.g. {missing[0]!r}): they must be contrasts of the same factorial items")
    return np.arange(closed.n_pairs), np.array([where[pid] for pid in closed.pair_ids], dtype=int)


def factorial_effects(claim: Claim, closed: Activations, opened: Activations) -> FactorialEffects:
    """Book effect and interaction of every feature of `claim` on the items of `closed`.

    `closed` is the claim's hops contrast as analysed (its pair subset applied); `opened` the
    open-book hops contrast on the same items (any superset; aligned by pair id).
    """
    ci, oi = _aligned(closed, opened)
    book, book_p, inter, inter_p = {}, {}, {}, {}
    covariates, effect = None, claim.effect_size
    if claim.test == "covariate_adjusted":
        tok_c1 = closed.sides("n_tokens")[0][ci].astype(float)
        tok_o1 = opened.sides("n_tokens")[0][oi].astype(float)
        covariates, effect = (tok_c1[:, None], tok_o1[:, None]), None
    test = claim.test if claim.test != "wilcoxon_paired" else "wilcoxon_paired"
    for feature in claim.features:
        c1, c2 = (x[ci].astype(np.float64) for x in closed.sides(feature))
        o1, o2 = (x[oi].astype(np.float64) for x in opened.sides(feature))
        res = feature_result(c1, o1, test=test, effect=effect, correction=claim.correction,
                             alpha=claim.alpha, min_effect=claim.min_effect, covariates=covariates)
        book[feature], book_p[feature] = res.effect, res.p_adj
        diff = (c1 - c2) - (o1 - o2)  # [items, ...grid]
        sd = diff.std(axis=0, ddof=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            inter[feature] = np.where(sd > 0, diff.mean(axis=0) / sd, np.nan)
            p = sps.ttest_1samp(diff, 0.0, axis=0).pvalue
        p = np.where(np.isfinite(p), p, 1.0)
        inter_p[feature] = adjust_pvalues(p.ravel(), method=claim.correction).reshape(p.shape) \
            if claim.correction != "none" else p
    return FactorialEffects(book, book_p, inter, inter_p, len(ci))


def beyond_book(claim: Claim, main: Measurement, effects: FactorialEffects) -> np.ndarray:
    """Bool grid: specialized for hops by a feature whose |hops effect| > |book effect|."""
    out = np.zeros(main.analysis.grid_shape, dtype=bool)
    for feature, res in main.analysis.features.items():
        passes = significant(res, alpha=claim.alpha, min_effect=claim.min_effect)
        if claim.cv.required and res.consistency is not None:
            passes &= res.consistency >= claim.cv.min_consistency
        out |= passes & (np.abs(res.effect) > np.abs(np.nan_to_num(effects.book_effect[feature])))
    return out & main.analysis.specialized


def book_control_row(claim: Claim, main: Measurement, beyond: np.ndarray) -> ControlRow:
    """The expectation measured on the components the book effect does not explain."""
    total = int(beyond.size)
    count = int(beyond.sum())
    measure = claim.expect.measure
    if measure in ("fraction_specialized", "fraction_cv_consistent"):
        value = count / total if total else float("nan")
    elif measure in ("count_specialized", "count_cv_consistent"):
        value = float(count)
    else:  # an estimand: not re-measured, reported only
        return ControlRow("book effect (closed- vs open-book, one hop)", "book_effect", None,
                          f"{count}/{total} hops-specialized components exceed their book effect",
                          count=count)
    holds = bool(claim.expect.holds(value))
    detail = (f"{count} of {int(main.analysis.specialized.sum())} hops-specialized components have |hops effect| > "
              f"|book effect|; {measure} on them = {value:.3g}, required {claim.expect.describe()}")
    return ControlRow("book effect (closed- vs open-book, one hop)", "book_effect", holds, detail,
                      count=count, value=value, reference=main.value)


def with_factorial(result: ClaimResult, claim: Claim, main_acts: Activations, main: Measurement,
                   opened: Activations) -> ClaimResult:
    """`result` with the book effect and interaction per component (CSV columns, per-layer
    profiles, figures) and the book-effect control row; "supported" becomes "confounded" when
    the expectation fails on the components the book effect does not explain."""
    effects = factorial_effects(claim, main_acts, opened)
    beyond = beyond_book(claim, main, effects)
    row = book_control_row(claim, main, beyond)
    table = result.components
    if table is not None and len(table):
        for feature in claim.features:
            rows = (table["feature"] == feature).to_numpy()
            for column, grids in (("book_effect", effects.book_effect), ("book_p_adj", effects.book_p_adj),
                                  ("interaction", effects.interaction),
                                  ("interaction_p_adj", effects.interaction_p_adj)):
                if column not in table:
                    table[column] = np.nan
                table.loc[rows, column] = grids[feature].ravel()
        if "beyond_book" not in table:
            table["beyond_book"] = False
        for feature in claim.features:
            rows = (table["feature"] == feature).to_numpy()
            table.loc[rows, "beyond_book"] = beyond.ravel()
    first = claim.features[0]
    n_layers = main.analysis.grid_shape[0]

    def per_layer(grid: np.ndarray) -> np.ndarray:
        g = np.asarray(grid, dtype=float).reshape(n_layers, -1)
        return np.nanmean(np.abs(g), axis=1) if g.shape[1] > 1 else g[:, 0]

    profiles = dict(result.profiles)
    hops = main.analysis.features[first].effect
    profiles["factorial:hops"] = per_layer(hops)
    profiles["factorial:book"] = per_layer(effects.book_effect[first])
    profiles["factorial:interaction"] = per_layer(effects.interaction[first])
    figures = dict(result.figures)
    figures.update({
        "factorial_items": effects.n_items,
        "beyond_book": int(beyond.sum()),
        "book_significant": int(sum((effects.book_p_adj[f] < claim.alpha).sum() for f in claim.features)),
        "interaction_significant": int(sum((effects.interaction_p_adj[f] < claim.alpha).sum()
                                           for f in claim.features)),
        "per_layer_feature": first,
    })
    verdict, message = result.verdict, result.message
    if verdict == "supported" and row.passed is False:
        verdict, message = "confounded", f"{message}, but a control explains it ({row.name}: {row.detail})"
    result.verdict, result.message = verdict, message
    result.figures, result.profiles = figures, profiles
    result.controls = [*result.controls, row]
    return result


def cell_behaviour(closed_run, open_run) -> dict[str, dict]:
    """Greedy accuracy and counts of the four cells (from the two hops contrasts' behaviour), and
    the expected answer's teacher-forced log-probability (mean and median over items)."""
    out = {}
    for run in (closed_run, open_run):
        beh = run.behaviour
        summary = beh.summary()
        for label in beh.labels:
            out[label] = {"accuracy": summary["accuracy"][label], "n_correct": summary["n_correct"][label],
                          "n_items": summary["n_pairs"]}
        from engine.behaviour import get_answer_logprobs

        logp = get_answer_logprobs(run.taskset, run.model, prompt_format=run.prompt_format, cache=run.cache,
                                   progress=run.progress)
        if logp is not None:
            n = beh.n_pairs
            for side, label in enumerate(beh.labels):
                vals = np.asarray(logp[side * n:(side + 1) * n], dtype=float)
                out[label]["answer_logprob_mean"] = float(np.nanmean(vals))
                out[label]["answer_logprob_median"] = float(np.nanmedian(vals))
    return out


def _power_before_capture(claim: Claim, run, n_items: int) -> dict:
    """The power table for `n_items` pairs, with the component count read from the model's
    config figures (the model is loaded already: its greedy answers decided the items)."""
    from evaluation.power_table import power_figures

    info = run.model.loaded.info
    per_layer = {"layer": 1, "head": info["n_heads"], "neuron": info["d_mlp"]}[claim.component_level]
    return power_figures(claim, n_items, int(info["n_layers"]) * int(per_layer))


def evaluate_factorial_claim(claim: Claim, run) -> ClaimResult:
    """F1-F3: the claim on its closed-book hops contrast (`run` is the claim's own `ModelRun`),
    then the book effect and interaction from the open-book contrast on the same items.

    Raises `evaluation.components.InsufficientPairs` (inconclusive) when fewer than
    ``factorial.min_pairs`` items are answered correctly in both closed-book cells.
    """
    from evaluation.components import InsufficientPairs, evaluate_claim
    from evaluation.controls import make_controls

    spec = claim.factorial
    open_run = run.session.model_run(run.name, tasks=spec.open_tasks, correct_only=False)
    cells = cell_behaviour(run, open_run)
    n_items = len(run.pairs) if run.pairs is not None else len(run.taskset.pairs)
    if n_items < max(spec.min_pairs, 2 * claim.cv.folds):  # before any capture
        counts = ", ".join(f"{label} {c['n_correct']}/{c['n_items']}" for label, c in cells.items())
        raise InsufficientPairs(
            f"{claim.id}: {n_items} items answered correctly in both closed-book cells "
            f"({'correct-only' if run.correct_only else 'all items'}), fewer than the claim's minimum "
            f"{spec.min_pairs} (per cell: {counts})",
            figures={"cells": cells, "n_items_correct_both": n_items, "min_pairs": spec.min_pairs,
                     "power_table": _power_before_capture(claim, run, n_items)})
    acts = run.activations
    seen: dict = {}
    runner = None
    if run.options.controls:
        runner = run.shared("controls", lambda: make_controls(
            run.provider, run.taskset, acts, seed=run.options.seed, cache=run.cache))

    def controls(c, main):
        seen["main"] = main  # the measurement the verdict is made from, for the book effect
        return runner(c, main) if runner is not None else ([], {})

    result = evaluate_claim(claim, acts, behaviour=run.behaviour, seed=run.options.seed, model=run.name,
                            controls=controls)
    result.figures = {**result.figures, "cells": cells}
    if "main" not in seen or result.verdict == "inconclusive":
        return result
    opened = open_run.all_activations
    result.figures["length_overlap"] = cell_lengths(run.all_activations, opened)
    return with_factorial(result, claim, acts, seen["main"], opened)


def cell_lengths(closed: Activations, opened: Activations) -> dict:
    """Per cell, the user-content length in the model's tokens (min, median, max), and the range
    all four cells share with the share of prompts inside it (every item, before any filter)."""
    counts = {}
    for acts in (closed, opened):
        n = acts.n_pairs
        x = np.asarray(acts.feature("n_content_tokens"))
        for side, label in enumerate(acts.labels):
            counts[label] = x[side * n:(side + 1) * n]
    cells = {k: {"min": int(v.min()), "median": float(np.median(v)), "max": int(v.max())} for k, v in counts.items()}
    low = max(int(v.min()) for v in counts.values())
    high = min(int(v.max()) for v in counts.values())
    every = np.concatenate(list(counts.values()))
    share = float(((every >= low) & (every <= high)).mean()) if low <= high else 0.0
    return {"unit": "content tokens", "cells": cells, "common_low": low, "common_high": high,
            "share_in_common_range": share}
