"""Evaluate intervention claims (H5): ablation double dissociation and causal-tracing localization.

Contents
--------
select_components     : top-k recall / reasoning components of a component claim on some pairs.
random_matched        : random component sets with the same number of components per layer.
evaluate_dissociation : H5a -> `ClaimResult` (causal selection: `evaluation.causal_dissociation`).

H5a procedure with ``selection.method: criteria`` (the study's framing). Pairs are split once (seeded) into training and held-out pairs. The selection
claim's criteria (`evaluation.components.analyse_components` on the training pairs only) label
components; the top k of each direction are those with the largest |effect| over the claim's
features. On held-out prompts the unablated model answers correctly, each set is ablated and
the per-prompt metric drop (clean - ablated) averaged per side. Selectivity of a recall set =
recall drop - reasoning drop (reasoning set: the reverse). Its p-value is the share of random
sets (same kind, same count per layer) with at least that selectivity: (1 + #) / (1 + draws).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.intervention_claim import DissociationClaim
from evaluation.intervention_data import (
    InsufficientData,
    InterventionData,
    file_sha256,
    threads,
)
from evaluation.result import ClaimResult, ComparisonRow, ControlRow
from stats.monte_carlo import monte_carlo_pvalue

if TYPE_CHECKING:
    from engine.intervention.ablation import ResampleSource
    from engine.intervention.runner import Packed
    from engine.intervention.runs import CleanRun
    from evaluation.components import ComponentAnalysis

DIRECTIONS = ("recall", "reasoning")


def select_components(analysis: ComponentAnalysis, k: int) -> dict[str, list[tuple[int, int]]]:
    """Top-`k` components labelled recall and reasoning, by the largest |effect| over features.

    Examples
    --------
    >>> sel = select_components(analyse_components(h2, acts, seed=0, pairs=train), 8)  # doctest: +SKIP
    >>> sel["recall"][:2]                                                               # doctest: +SKIP
    [(7, 3), (10, 0)]
    """
    score = np.max(np.stack([np.abs(np.nan_to_num(f.effect)) for f in analysis.features.values()]), axis=0)
    out = {}
    for direction in DIRECTIONS:
        flat = np.flatnonzero(analysis.labels.ravel() == direction)
        order = flat[np.argsort(-score.ravel()[flat], kind="stable")][:k]
        out[direction] = [tuple(int(i) for i in np.unravel_index(j, analysis.labels.shape)) for j in order]
    return out


def random_matched(components: list[tuple[int, int]], width: int, draws: int,
                   rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """`draws` random sets with as many components in each layer as `components` has.

    Within a layer the random components are distinct and drawn from all `width` of them.

    Examples
    --------
    >>> sets = random_matched([(2, 0), (2, 5), (7, 1)], 9, 3, np.random.default_rng(0))
    >>> [sorted(l for l, _ in s) for s in sets]
    [[2, 2, 7], [2, 2, 7], [2, 2, 7]]
    """
    layers, counts = np.unique([layer for layer, _ in components], return_counts=True)
    out = []
    for _ in range(draws):
        chosen = []
        for layer, count in zip(layers, counts):
            chosen += [(int(layer), int(i)) for i in rng.choice(width, size=count, replace=False)]
        out.append(chosen)
    return out


def _name(level: str, comp: tuple[int, int]) -> str:
    return f"L{comp[0]}{'H' if level == 'head' else 'N'}{comp[1]}"


def _conditions(claim: DissociationClaim, selected: dict, width: int, seed: int) -> list[tuple]:
    """``(direction, k, draw, components)``; draw -1 = the selected set."""
    conditions = []
    for d_index, direction in enumerate(DIRECTIONS):
        available = len(selected[direction])
        for k in claim.dose_k:
            if k > available:
                continue
            top = selected[direction][:k]
            conditions.append((direction, k, -1, top))
            draws = claim.draws if k == min(claim.k, available) else claim.band_draws
            rng = np.random.default_rng([seed, 0x45A, d_index, k])
            conditions += [(direction, k, i, s) for i, s in enumerate(random_matched(top, width, draws, rng))]
        # Fewer labelled components than k: the test uses all of them (stated in the figures).
        k_test = min(claim.k, available)
        if 0 < k_test and k_test not in claim.dose_k:
            top = selected[direction][:k_test]
            conditions.append((direction, k_test, -1, top))
            rng = np.random.default_rng([seed, 0x45A, d_index, k_test])
            conditions += [(direction, k_test, i, s) for i, s in
                           enumerate(random_matched(top, width, claim.draws, rng))]
    return conditions


def evaluate_dissociation(claim: DissociationClaim, data: InterventionData, *, model: str) -> ClaimResult:
    """Evaluate H5a on one model: `selection.method: causal` in `evaluation.causal_dissociation`,
    the study's framing (`criteria`) as in the module docstring."""
    if claim.selection.method == "causal":
        from evaluation.causal_dissociation import evaluate_causal_dissociation

        return evaluate_causal_dissociation(claim, data, model=model)
    from engine.intervention.ablation import Ablation
    from engine.intervention.runs import ablation_metrics
    from evaluation.component_claim import load_claim
    from evaluation.components import analyse_components
    from evaluation.schema import sibling_claim_path

    seed, n = data.seed, data.n_pairs
    sel_path = sibling_claim_path(claim.path, claim.selection.claim)
    sel_claim = load_claim(sel_path)
    if sel_claim.component_level != claim.selection.level:
        raise ValueError(f"{claim.id}: selection claim {claim.selection.claim} is at level "
                         f"{sel_claim.component_level!r}, not {claim.selection.level!r}")
    perm = np.random.default_rng([seed, 0x45A]).permutation(n)
    n_train = int(round(claim.selection.train_fraction * n))
    train, held = np.sort(perm[:n_train]), np.sort(perm[n_train:])
    if n_train < 2 * sel_claim.cv.folds or len(held) < 2:
        raise InsufficientData(f"{claim.id}: {n} pairs cannot be split into {n_train} training pairs "
                               f"({2 * sel_claim.cv.folds} needed) and held-out pairs")
    analysis = analyse_components(sel_claim, data.activations, seed=seed, pairs=train)
    selected = select_components(analysis, max(claim.dose_k + (claim.k,)))
    usable = data.usable
    rows = {"recall": held[usable[held]], "reasoning": n + held[usable[n + held]]}
    counts = {**data.counts(), "heldout_pairs": int(len(held)), "train_pairs": int(n_train),
              "heldout_recall": int(len(rows["recall"])), "heldout_reasoning": int(len(rows["reasoning"]))}
    for side in DIRECTIONS:
        if len(rows[side]) < claim.min_prompts:
            raise InsufficientData(f"{claim.id}: {len(rows[side])} held-out {side} prompts answered correctly, "
                                   f"{claim.min_prompts} needed (filtering: {counts})")
    # Grid width from the captured arrays, not the model: a warm run needs no weights.
    width = data.activations.feature("mlp_mean" if claim.selection.level == "neuron" else "attn_entropy").shape[-1]
    conditions = _conditions(claim, selected, width, seed)
    position = {int(r): i for i, r in enumerate(data.measured_rows)}
    eval_rows = np.concatenate([rows["recall"], rows["reasoning"]])
    index = np.array([position[int(r)] for r in eval_rows])
    is_recall = np.arange(len(eval_rows)) < len(rows["recall"])
    attr = "heads" if claim.selection.level == "head" else "neurons"

    def compute() -> dict[str, np.ndarray]:
        packed, clean, targets = data.clean
        ablations = [Ablation(**{attr: frozenset(c[3])}) for c in conditions]
        means = data.means if claim.ablation == "mean" else None
        start = time.perf_counter()
        with threads(), data.progress(f"{claim.id} ablations", len(ablations), unit="condition") as bar:
            out = ablation_metrics(data.model.model, packed.rows(index), targets[index], clean.rows(index),
                                   ablations, method=claim.ablation, means=means,
                                   resample=_resample(data, claim, packed, clean, conditions, index),
                                   progress=lambda done: bar.update(done - bar.n))
        data.timings[claim.id] = time.perf_counter() - start
        clean_metrics = clean.rows(index).metrics
        return {**{f"ablated_{k}": v for k, v in out.items() if k != "top1"}, "ablated_top1": out["top1"].astype(np.int8),
                "clean_logprob": clean_metrics.logprob, "clean_logit_diff": clean_metrics.logit_diff}

    spec = {"claim": file_sha256(claim.path), "selection": file_sha256(sel_path), "seed": seed,
            "rows": eval_rows.tolist(), "conditions": [(c[0], c[1], c[2], c[3]) for c in conditions]}
    arrays, cache_status = data.cached("h5a", spec, compute)
    return _dissociation_result(claim, model, conditions, arrays, is_recall, selected, counts, cache_status, data)


def _resample(data: InterventionData, claim: DissociationClaim, packed: Packed, clean: CleanRun, conditions: list,
              index: np.ndarray) -> ResampleSource | None:
    if claim.ablation != "resample":
        return None
    from engine.intervention.ablation import resample_sources
    from engine.intervention.runs import record_sources

    site = "head_in" if claim.selection.level == "head" else "mlp_neurons"
    sites = {(site, layer) for c in conditions for layer, _ in c[3]}
    kinds = ["recall" if data.measured_rows[i] < data.n_pairs else "reasoning" for i in index]
    return record_sources(data.model.model, packed.rows(index), sites, resample_sources(kinds, seed=data.seed))


def _dissociation_result(claim, model, conditions, arrays, is_recall, selected, counts, cache_status, data):
    clean = arrays[f"clean_{claim.metric}"]
    drops = clean[None] - arrays[f"ablated_{claim.metric}"]  # [C, B]: positive = ablation hurts
    rec, rea = drops[:, is_recall].mean(axis=1), drops[:, ~is_recall].mean(axis=1)
    acc = arrays["ablated_top1"].astype(float)
    # The other metric, reported beside the verdict's (never part of it).
    alt = "logit_diff" if claim.metric == "logprob" else "logprob"
    alt_drops = arrays[f"clean_{alt}"][None] - arrays[f"ablated_{alt}"]
    alt_rec, alt_rea = alt_drops[:, is_recall].mean(axis=1), alt_drops[:, ~is_recall].mean(axis=1)
    level = claim.selection.level
    figures: dict[str, Any] = {"model": model, **counts, "metric": claim.metric, "cache": cache_status}
    profiles: dict[str, np.ndarray] = {}
    controls, parts, passes = [], [], []
    for direction in DIRECTIONS:
        sel = [(i, c) for i, c in enumerate(conditions) if c[0] == direction]
        figures[f"top_{direction}_{level}s"] = [_name(level, c) for c in selected[direction]]
        if not sel:
            passes.append(False)
            parts.append(f"no {direction}-specialized {level}s on the training pairs")
            controls.append(ControlRow(name=f"random {level}s vs {direction} set", control="random", passed=False,
                                       detail="nothing selected: nothing to ablate"))
            continue
        own, other = (rec, rea) if direction == "recall" else (rea, rec)
        selectivity = own - other
        ks = sorted({c[1] for _, c in sel})
        k_test = min(claim.k, len(selected[direction]))
        dose = {"sel": [], "lo": [], "hi": [], "med": [], "own": [], "other": []}
        for k in ks:
            chosen = next(i for i, c in sel if c[1] == k and c[2] == -1)
            rand = np.array([i for i, c in sel if c[1] == k and c[2] >= 0])
            dose["sel"].append(selectivity[chosen])
            dose["own"].append(own[chosen])
            dose["other"].append(other[chosen])
            lo, med, hi = np.percentile(selectivity[rand], [5, 50, 95])
            dose["lo"].append(lo), dose["med"].append(med), dose["hi"].append(hi)
            if k == k_test:
                null = selectivity[rand]
                p = float(monte_carlo_pvalue(null, selectivity[chosen]).pvalue)
                ok = bool(selectivity[chosen] > 0 and p < claim.alpha)
                passes.append(ok)
                figures[f"{direction}_k"] = k
                figures[f"{direction}_selectivity"] = float(selectivity[chosen])
                alt_sel = (alt_rec - alt_rea) if direction == "recall" else (alt_rea - alt_rec)
                figures[f"{direction}_selectivity_{alt}"] = float(alt_sel[chosen])
                figures[f"{direction}_pvalue_{alt}"] = float(monte_carlo_pvalue(alt_sel[rand], alt_sel[chosen]).pvalue)
                figures[f"{direction}_drop_recall"] = float(rec[chosen])
                figures[f"{direction}_drop_reasoning"] = float(rea[chosen])
                figures[f"{direction}_pvalue"] = p
                figures[f"{direction}_random_mean"] = float(null.mean())
                figures[f"{direction}_accuracy_recall"] = float(acc[chosen, is_recall].mean())
                figures[f"{direction}_accuracy_reasoning"] = float(acc[chosen, ~is_recall].mean())
                profiles[f"null:{direction}"] = null
                profiles[f"null_observed:{direction}"] = np.array([selectivity[chosen]])
                # No count of specialized components exists here; the detail has the numbers.
                controls.append(ControlRow(
                    name=f"{len(null)} random {level} sets vs top-{k} {direction}", control="random", passed=ok,
                    pvalue=p, extra={"random_mean": float(null.mean())},
                    detail=f"selectivity {selectivity[chosen]:+.3g} vs random mean {null.mean():+.3g} "
                           f"(95th pct {np.percentile(null, 95):+.3g}); p = {p:.3g}, required > 0 and p < {claim.alpha:g}"))
                parts.append(f"{direction} {level}s (k={k}): selectivity {selectivity[chosen]:+.3g} "
                             f"(drops {own[chosen]:+.3g} own vs {other[chosen]:+.3g} other), p = {p:.3g}")
        profiles[f"dose:{direction}:k"] = np.array(ks, dtype=float)
        for key, values in dose.items():
            profiles[f"dose:{direction}:{key}"] = np.array(values)
    verdict = "supported" if all(passes) and len(passes) == 2 else "refuted"
    figures["key_figure"] = "; ".join(
        f"{d}: {figures.get(f'{d}_selectivity', float('nan')):+.3g} (p={figures.get(f'{d}_pvalue', float('nan')):.3g})"
        for d in DIRECTIONS)
    message = (f"{claim.id}: " + "; ".join(parts) + f"; required selectivity > 0 with p < {claim.alpha:g} "
               f"against random {level}s, for both directions ({counts['heldout_recall']} recall / "
               f"{counts['heldout_reasoning']} reasoning held-out prompts)")
    behaviour = {"accuracy": {"recall": counts["usable_recall"] / data.n_pairs,
                              "reasoning": counts["usable_reasoning"] / data.n_pairs},
                 "prompts_used": {"recall": counts["heldout_recall"], "reasoning": counts["heldout_reasoning"]}}
    return ClaimResult.for_claim(
        claim, level=level, model=model,
        verdict=verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=[ComparisonRow(k, v, figures.get(k)) for k, v in claim.reported.items()],
        profiles=profiles, controls=controls, behaviour=behaviour,
        meta={**data.activations.meta, "seed": data.seed, "kind": claim.kind,
              "timings_s": {k: round(v, 1) for k, v in data.timings.items()}},
        kind="intervention")
