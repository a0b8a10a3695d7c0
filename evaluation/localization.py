"""Evaluate a localization claim (H5b) by causal tracing: where does the indirect effect peak?

Contents
--------
trace_items_for       : `engine.intervention.tracing.TraceItem` of one side's usable prompts (+ counts).
localization_stats    : peak layer / depth, early-vs-late test, bootstrap stability of an
                        indirect-effect matrix ``[layers, prompts]``.
evaluate_localization : H5b -> `ClaimResult` (criteria "study" or "rome").
(criteria "rome": `evaluation.localization_rome`, plain prompts, windows, depth interval.)

Verdict. The mean indirect effect (IE) of the claim's site at its position, over the side's
prompts, must peak at normalized depth <= ``max_depth`` *and* each prompt's mean IE over those
early-to-middle layers must exceed its mean IE over the later layers (one-sided Wilcoxon
signed-rank, p < alpha), so a flat or noisy curve cannot pass through its arg-max alone. With
``controls.replace.must_survive`` the same two criteria must hold under symmetric token
replacement, or the verdict is "confounded" (the peak belongs to the corruption method).
Those are the first suite's criteria (``criteria: study``); they count layer 0 as early, and
with noise on the embeddings restoring MLP0 restores the token's identity, so layer 0 alone
decided them on SmolLM2.

Criteria "rome" (Meng et al. 2022, as they did it): plain fact-completion prompts generated from
the fact tables (`tasks.control_sequences.recall_cloze`, the subject opens the prompt and is never
repeated), kept when the model's greedy next token is the answer's first token; noise added to
the stream entering ``corruption.after_layer`` (1: block 0 counts as the embedding, so no
restoration can hand the token's identity back); windows of ``window_fraction x L`` layers;
``corruption.samples`` noise draws per prompt averaged; the normalized indirect effect
``(p_restored - p_corrupt) / (p_clean - p_corrupt)`` (means over prompts; the logit difference
beside it, Zhang & Nanda 2024); the peak's depth with a bootstrap interval over prompts. Verdict:
"refuted" when the effect at the peak has a bootstrap lower bound <= 0 (nothing is restored) or
the depth interval lies outside the pre-registered ``depth_interval``; "supported" when it lies
inside; "inconclusive" when it straddles a bound.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from evaluation.intervention_claim import LocalizationClaim
from evaluation.intervention_data import (
    InsufficientData,
    InterventionData,
    file_sha256,
    threads,
)
from evaluation.result import ClaimResult, ComparisonRow, ControlRow
from stats import tests


def trace_items_for(data: InterventionData, side: str, *, with_replacement: bool) -> tuple[list, list[int], dict]:
    """Trace items of `side`'s usable prompts, their rows, and how many were dropped and why."""
    from engine.intervention.tracing import trace_item
    from tasks.subjects import find_subject, replacement_pool

    n, tok = data.n_pairs, data.model.tokenizer
    rows = np.flatnonzero(data.usable[:n]) if side == "recall" else n + np.flatnonzero(data.usable[n:])
    items, kept, counts = [], [], {"usable": int(len(rows)), "no_subject": 0, "subject_not_in_text": 0}
    for row in rows:
        pair = data.taskset.pairs[row % n]
        subject = find_subject(pair)
        if subject is None:
            counts["no_subject"] += 1
            continue
        target = data.targets[0][row]
        pool = replacement_pool(data.taskset, pair, subject) if with_replacement else ()
        item = trace_item(tok, target.ids, target.target, subject, question=data.prompts[row].text, pool=pool,
                          seed=data.seed)
        if item is None:
            counts["subject_not_in_text"] += 1
            continue
        items.append(item)
        kept.append(int(row))
    counts["traced"] = len(items)
    return items, kept, counts


def localization_stats(ie: np.ndarray, *, max_depth: float, alpha: float, bootstrap: int,
                       rng: np.random.Generator) -> dict[str, Any]:
    """Peak and early-vs-late test of an indirect-effect matrix ``[L, B]``.

    Examples
    --------
    >>> ie = np.vstack([np.full(5, 0.5), np.zeros(5), np.zeros(5)]) + 0.01 * np.arange(5)
    >>> s = localization_stats(ie, max_depth=0.5, alpha=0.05, bootstrap=100, rng=np.random.default_rng(0))
    >>> s["peak_layer"], s["peak_depth"], s["early_region"]
    (0, 0.0, True)
    """
    n_layers, n_items = ie.shape
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    early = depth <= max_depth
    mean = ie.mean(axis=1)
    peak = int(np.argmax(mean))
    early_mean, late_mean = ie[early].mean(axis=0), ie[~early].mean(axis=0)
    pvalue = float(tests.wilcoxon_paired(early_mean, late_mean, alternative="greater").pvalue) \
        if (~early).any() else float("nan")
    picks = rng.integers(0, n_items, size=(bootstrap, n_items))
    boot = ie[:, picks].mean(axis=2)  # [L, bootstrap]
    boot_peaks = depth[np.argmax(boot, axis=0)]
    after_first = int(np.argmax(mean[1:]) + 1) if n_layers > 1 else peak
    return {"peak_layer": peak, "peak_depth": float(depth[peak]), "peak_ie": float(mean[peak]),
            "early_region": bool(depth[peak] <= max_depth), "early_vs_late_pvalue": pvalue,
            "early_mean_ie": float(early_mean.mean()), "late_mean_ie": float(late_mean.mean()),
            "bootstrap_peak_early": float((boot_peaks <= max_depth).mean()),
            "peak_layer_after_first": after_first, "peak_ie_after_first": float(mean[after_first]),
            "passed": bool(depth[peak] <= max_depth and pvalue < alpha),
            "curve": mean, "curve_lo": np.percentile(boot, 2.5, axis=1), "curve_hi": np.percentile(boot, 97.5, axis=1)}


def _subsample(items: list, rows: list[int], limit: int, seed: int) -> tuple[list, list[int]]:
    if not limit or len(items) <= limit:
        return items, rows
    keep = np.sort(np.random.default_rng([seed, 0x5AB]).choice(len(items), size=limit, replace=False))
    return [items[i] for i in keep], [rows[i] for i in keep]


def evaluate_localization(claim: LocalizationClaim, data: InterventionData, *, model: str) -> ClaimResult:
    """Evaluate H5b on one model (see the module docstring)."""
    from engine.intervention.tracing import causal_trace, noise_scale

    if claim.criteria == "rome":
        from evaluation.localization_rome import evaluate_rome

        return evaluate_rome(claim, data, model=model)

    sides = list(claim.heatmap_sides)
    traced, counts = {}, {}
    for side in sides:
        items, rows, c = trace_items_for(data, side, with_replacement=side == claim.side
                                         and claim.replace_must_survive is not None)
        traced[side] = _subsample(items, rows, claim.max_prompts, data.seed)
        counts[side] = {**c, "used": len(traced[side][0])}
    if counts[claim.side]["used"] < claim.min_prompts:
        raise InsufficientData(f"{claim.id}: {counts[claim.side]['used']} {claim.side} prompts can be traced, "
                               f"{claim.min_prompts} needed ({counts})")
    # A heatmap side with no traceable prompt (e.g. no reasoning prompt the model answers) is left
    # out of the heatmaps; its counts stay in the figures.
    sides = [side for side in sides if counts[side]["used"] > 0]
    replace_items = [it for it in traced[claim.side][0] if it.replaced_ids is not None]
    run_replace = claim.replace_must_survive is not None and len(replace_items) >= claim.min_prompts
    sites, kinds = claim.heatmap_sites, claim.heatmap_positions

    def compute() -> dict[str, np.ndarray]:
        m = data.model.model
        scale = noise_scale(m, claim.noise_factor)
        out: dict[str, np.ndarray] = {}
        start = time.perf_counter()
        total = len(sides) * claim.noise_samples * len(sites) * len(kinds) + int(run_replace)
        with threads(), data.progress(f"{claim.id} causal tracing", total, unit="restoration") as bar:
            tick = (lambda site, kind: bar.update(1))
            for s_index, side in enumerate(sides):
                runs = []
                for sample in range(claim.noise_samples):
                    seed = int(np.random.default_rng([data.seed, 0x7ACE, s_index, sample]).integers(2 ** 31))
                    runs.append(causal_trace(m, traced[side][0], corruption="noise", pad_id=data.pad_id,
                                             scale=scale, seed=seed, sites=sites, kinds=kinds, progress=tick))
                out[f"{side}:noise:p_clean"] = runs[0].p_clean
                out[f"{side}:noise:p_corrupt"] = np.mean([r.p_corrupt for r in runs], axis=0)
                out[f"{side}:noise:p_restored"] = np.stack([np.stack(
                    [np.mean([r.p_restored[(s, k)] for r in runs], axis=0) for k in kinds]) for s in sites])
            if run_replace:
                r = causal_trace(m, replace_items, corruption="replace", pad_id=data.pad_id,
                                 sites=(claim.site,), kinds=(claim.position,), progress=tick)
                out["replace:p_clean"], out["replace:p_corrupt"] = r.p_clean, r.p_corrupt
                out["replace:p_restored"] = r.p_restored[(claim.site, claim.position)]
        data.timings[claim.id] = time.perf_counter() - start
        return out

    spec = {"claim": file_sha256(claim.path), "seed": data.seed,
            "items": {side: [(it.ids, it.target, it.subject_tokens, it.replaced_ids) for it in traced[side][0]]
                      for side in sides}}
    arrays, cache_status = data.cached("h5b", spec, compute)
    return _localization_result(claim, data, model, arrays, counts, len(replace_items), run_replace, cache_status,
                                sides)


def _localization_result(claim, data, model, arrays, counts, n_replace, run_replace, cache_status,
                         sides) -> ClaimResult:
    rng = np.random.default_rng([data.seed, 0xB007])
    si, ki = claim.heatmap_sites.index(claim.site), claim.heatmap_positions.index(claim.position)
    key = f"{claim.side}:noise"
    ie = arrays[f"{key}:p_restored"][si, ki] - arrays[f"{key}:p_corrupt"][None]
    main = localization_stats(ie, max_depth=claim.max_depth, alpha=claim.alpha, bootstrap=claim.bootstrap, rng=rng)
    n_layers = ie.shape[0]
    figures: dict[str, Any] = {"model": model, "n_layers": n_layers, "cache": cache_status,
                               **{f"{side}_{k}": v for side, c in counts.items() for k, v in c.items()},
                               "p_clean": float(arrays[f"{key}:p_clean"].mean()),
                               "p_corrupted": float(arrays[f"{key}:p_corrupt"].mean()),
                               **{k: v for k, v in main.items() if not k.startswith("curve") and k != "passed"}}
    figures["peak_region"] = "early-to-middle" if main["early_region"] else "late"
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    profiles: dict[str, np.ndarray] = {"trace_depth": depth, "trace_curve:noise": main["curve"],
                                       "trace_lo:noise": main["curve_lo"], "trace_hi:noise": main["curve_hi"]}
    for side in sides:
        restored = arrays[f"{side}:noise:p_restored"]  # [S, K, L, B]
        effect = (restored - arrays[f"{side}:noise:p_corrupt"]).mean(axis=-1)
        profiles[f"trace_heatmap:{side}"] = effect.reshape(-1, n_layers)
    rows = [f"{s} @ {k}" for s in claim.heatmap_sites for k in claim.heatmap_positions]
    controls = []
    if claim.replace_must_survive is not None:
        if run_replace:
            ie_r = arrays["replace:p_restored"] - arrays["replace:p_corrupt"][None]
            rep = localization_stats(ie_r, max_depth=claim.max_depth, alpha=claim.alpha,
                                     bootstrap=claim.bootstrap, rng=rng)
            figures.update({f"replace_{k}": v for k, v in rep.items() if not k.startswith("curve") and k != "passed"})
            figures["replace_p_corrupted"] = float(arrays["replace:p_corrupt"].mean())
            figures["replace_peak_ratio"] = rep["peak_ie"] / main["peak_ie"] if main["peak_ie"] else float("nan")
            profiles.update({"trace_curve:replace": rep["curve"], "trace_lo:replace": rep["curve_lo"],
                             "trace_hi:replace": rep["curve_hi"]})
            detail = (f"{n_replace} prompts: peak at layer {rep['peak_layer']} (depth {rep['peak_depth']:.2f}, "
                      f"IE {rep['peak_ie']:.3g} vs {main['peak_ie']:.3g} with noise), early > late p = "
                      f"{rep['early_vs_late_pvalue']:.3g}")
            passed = rep["passed"] if claim.replace_must_survive else None
        else:
            detail = f"only {n_replace} prompts have a same-length replacement subject, {claim.min_prompts} needed"
            passed = None
        controls.append(ControlRow(name="symmetric token replacement", control="replace", passed=passed,
                                   detail=detail, extra={"prompts": n_replace}))
    message = (f"{claim.id}: {claim.site} indirect effect at {claim.position} on {claim.side} prompts peaks at "
               f"layer {main['peak_layer']}/{n_layers - 1} (depth {main['peak_depth']:.2f}, IE {main['peak_ie']:.3g}); "
               f"early > late p = {main['early_vs_late_pvalue']:.3g}; required depth <= {claim.max_depth:g} and "
               f"p < {claim.alpha:g} ({counts[claim.side]['used']} prompts)")
    if not main["passed"]:
        verdict = "refuted"
    elif any(c.passed is False for c in controls):
        verdict = "confounded"
        message += f", but not under symmetric token replacement ({controls[0].detail})"
    else:
        verdict = "supported"
        if claim.replace_must_survive and not run_replace:
            # Said in the verdict line, not only in the control row: the second method is required.
            message += f"; the symmetric token replacement check could not run ({controls[0].detail})"
    figures["key_figure"] = (f"peak layer {main['peak_layer']}/{n_layers - 1} (depth {main['peak_depth']:.2f})"
                             + (f"; replace: layer {figures['replace_peak_layer']}" if "replace_peak_layer" in figures else ""))
    return ClaimResult.for_claim(
        claim, level="layer", model=model,
        verdict=verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=[ComparisonRow(k, v, figures.get(k)) for k, v in claim.reported.items()],
        profiles=profiles, controls=controls,
        behaviour={"traced prompts": {s: c["used"] for s, c in counts.items()}},
        meta={**data.activations.meta, "seed": data.seed, "kind": claim.kind,
              "trace_rows": rows, "max_depth": claim.max_depth, "timings_s": {k: round(v, 1) for k, v in data.timings.items()}},
        kind="intervention")
