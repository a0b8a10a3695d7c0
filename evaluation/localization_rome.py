"""H5b done as ROME did it: plain prompts, noise past block 0, windows, many draws, depth interval.

Contents
--------
cloze_items     : `engine.intervention.tracing.TraceItem` of the plain fact prompts the model knows.
RomeStats       : normalized indirect-effect curve, its peak, the peak depth's bootstrap interval.
rome_stats      : `RomeStats` of restored / corrupted / clean probabilities; the verdict rule.
evaluate_rome   : H5b with ``criteria: rome`` -> `ClaimResult` (see `evaluation.localization`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.intervention_claim import LocalizationClaim
from evaluation.intervention_data import InsufficientData, file_sha256, threads
from evaluation.result import ClaimResult, ComparisonRow, InsufficientEvidence

if TYPE_CHECKING:
    from evaluation.intervention_data import InterventionData


def cloze_items(lazy, *, seed: int, limit: int, batch_size: int = 64) -> tuple[list, list, dict]:
    """Trace items of `tasks.control_sequences.recall_cloze` prompts whose greedy next token is the
    answer's first token (facts the model knows), at most `limit` (0: all), in the seeded order.

    Returns ``(items, facts, counts)``.
    """
    import torch

    from engine.intervention.tracing import trace_item
    from tasks.control_sequences import recall_cloze

    tok, model = lazy.tokenizer, lazy.model
    facts = recall_cloze(seed=seed)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    device = model.get_input_embeddings().weight.device
    items, kept = [], []
    counts = {"prompts": 0, "known": 0, "subject_not_found": 0}
    # Batches in the seeded order until `limit` items: a model knowing 1 fact in 4 reads ~4 x limit prompts.
    for start in range(0, len(facts), batch_size):
        if limit and len(items) >= limit:
            break
        batch = facts[start:start + batch_size]
        ids = [tok(f.text)["input_ids"] for f in batch]  # plain text, the tokenizer's own BOS if any
        targets = [tok(" " + f.answer, add_special_tokens=False)["input_ids"][0] for f in batch]
        width = max(map(len, ids))
        x = torch.tensor([[pad] * (width - len(s)) + s for s in ids])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in ids])
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device), position_ids=pos.to(device),
                           use_cache=False, logits_to_keep=1).logits[:, -1]
        known = logits.argmax(-1).cpu().numpy() == np.array(targets)
        counts["prompts"] += len(batch)
        counts["known"] += int(known.sum())
        for index in np.flatnonzero(known):
            if limit and len(items) >= limit:
                break
            item = trace_item(tok, tuple(ids[index]), int(targets[index]), batch[index].subject,
                              question=batch[index].text)
            if item is None:
                counts["subject_not_found"] += 1
                continue
            items.append(item)
            kept.append(batch[index])
    counts["traced"] = len(items)
    return items, kept, counts


@dataclass(frozen=True)
class RomeStats:
    """Normalized indirect effect (NIE) over layers and where it peaks.

    Attributes
    ----------
    curve : ndarray [L]
        ``mean(p_restored - p_corrupt) / mean(p_clean - p_corrupt)`` over prompts; NaN at layers
        not measured (before the corruption enters).
    curve_lo, curve_hi : ndarray [L]
        Pointwise 95% bootstrap bands.
    peak_layer, peak_depth, peak_nie : the arg-max over measured layers; depth = layer / (L - 1).
    peak_nie_low : float
        2.5% bootstrap quantile of the NIE at `peak_layer`.
    depth_low, depth_high : float
        95% bootstrap interval of the peak's depth (the peak re-found in every resample).
    verdict : "supported", "refuted" or "inconclusive"
    reason : str
    """

    curve: np.ndarray
    curve_lo: np.ndarray
    curve_hi: np.ndarray
    peak_layer: int
    peak_depth: float
    peak_nie: float
    peak_nie_low: float
    depth_low: float
    depth_high: float
    verdict: str
    reason: str


def rome_stats(restored: np.ndarray, corrupt: np.ndarray, clean: np.ndarray, *, interval: tuple[float, float],
               bootstrap: int, rng: np.random.Generator) -> RomeStats:
    """The ROME criteria on ``restored [L, B]`` (NaN rows: not measured), ``corrupt [B]``, ``clean [B]``.

    Raises
    ------
    InsufficientEvidence
        No measured layer, or the corruption does not lower the answer's probability on average
        (the normalized effect is undefined).

    Examples
    --------
    >>> restored = np.vstack([np.full(6, np.nan), np.full(6, 0.2), np.full(6, 0.6), np.full(6, 0.2)])
    >>> s = rome_stats(restored, np.full(6, 0.1), np.full(6, 0.9), interval=(0.2, 0.8), bootstrap=200,
    ...                rng=np.random.default_rng(0))
    >>> s.peak_layer, round(s.peak_depth, 3), round(s.peak_nie, 3), s.verdict
    (2, 0.667, 0.625, 'supported')
    """
    n_layers, n = restored.shape
    measured = np.flatnonzero(np.isfinite(restored).all(axis=1))
    if not len(measured):
        raise InsufficientEvidence("no layer was measured")
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    total = float(np.mean(clean - corrupt))
    if not total > 0:
        raise InsufficientEvidence(f"the corruption does not lower the answer's probability (clean - corrupted = "
                                   f"{total:.3g}): the normalized indirect effect is undefined",
                                   figures={"p_clean": float(clean.mean()), "p_corrupted": float(corrupt.mean())})
    sub = restored[measured]
    curve = np.full(n_layers, np.nan)
    curve[measured] = (sub - corrupt).mean(axis=1) / total
    picks = rng.integers(0, n, size=(bootstrap, n))
    denom = (clean - corrupt)[picks].mean(axis=1)  # [R]
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (sub[:, picks] - corrupt[picks][None]).mean(axis=2) / denom[None]  # [M, R]
    boot = np.where(denom[None] > 0, boot, np.nan)
    ok = np.isfinite(boot).all(axis=0)
    if ok.sum() < bootstrap // 2:
        raise InsufficientEvidence(f"only {int(ok.sum())} of {bootstrap} resamples have a defined normalized effect")
    boot = boot[:, ok]
    top = int(np.nanargmax(curve))
    top_row = int(np.flatnonzero(measured == top)[0])
    boot_depth = depth[measured[np.argmax(boot, axis=0)]]
    lo, hi = (float(v) for v in np.percentile(boot_depth, [2.5, 97.5]))
    peak_low = float(np.percentile(boot[top_row], 2.5))
    bands = np.full((2, n_layers), np.nan)
    bands[:, measured] = np.percentile(boot, [2.5, 97.5], axis=1)
    a, b = interval
    if peak_low <= 0:
        verdict, reason = "refuted", f"no window restores the answer (NIE at the peak, lower bound {peak_low:.3g} <= 0)"
    elif a <= lo and hi <= b:
        verdict, reason = "supported", f"peak depth interval [{lo:.2f}, {hi:.2f}] inside [{a:g}, {b:g}]"
    elif hi < a or lo > b:
        verdict, reason = "refuted", f"peak depth interval [{lo:.2f}, {hi:.2f}] outside [{a:g}, {b:g}]"
    else:
        verdict, reason = "inconclusive", f"peak depth interval [{lo:.2f}, {hi:.2f}] straddles [{a:g}, {b:g}]"
    return RomeStats(curve, bands[0], bands[1], top, float(depth[top]), float(curve[top]), peak_low, lo, hi,
                     verdict, reason)


def _sites(claim: LocalizationClaim) -> tuple[str, ...]:
    from engine.intervention.tracing import SEVERED_SITES

    return tuple(claim.heatmap_sites) + (SEVERED_SITES if claim.sever else ())


def evaluate_rome(claim: LocalizationClaim, data: InterventionData, *, model: str) -> ClaimResult:
    """H5b with ``criteria: rome`` on one model (see `evaluation.localization`)."""
    from engine.intervention.tracing import causal_trace, noise_scale
    from engine.model.sites import model_layout

    lazy = data.model
    items, facts, counts = cloze_items(lazy, seed=data.seed, limit=claim.max_prompts)
    if len(items) < claim.min_prompts:
        raise InsufficientData(f"{claim.id}: {len(items)} plain recall prompts the model knows, {claim.min_prompts} "
                               f"needed ({counts})")
    n_layers = model_layout(lazy.model).n_layers
    window = claim.window(n_layers)
    sites, kinds = _sites(claim), claim.heatmap_positions

    def compute() -> dict[str, np.ndarray]:
        m = lazy.model
        scale = noise_scale(m, claim.noise_factor) if claim.noise_after == 0 else 0.0
        factor = claim.noise_factor if claim.noise_after else None
        start = time.perf_counter()
        runs = []
        with threads(), data.progress(f"{claim.id} causal tracing (ROME)", claim.noise_samples * len(sites) * len(kinds),
                                      unit="restoration") as bar:
            for sample in range(claim.noise_samples):
                seed = int(np.random.default_rng([data.seed, 0x7ACE, sample]).integers(2 ** 31))
                runs.append(causal_trace(m, items, corruption="noise", pad_id=data.pad_id, scale=scale, seed=seed,
                                         sites=sites, kinds=kinds, noise_after=claim.noise_after, window=window,
                                         noise_factor=factor, progress=lambda site, kind: bar.update(1)))
        data.timings[claim.id] = time.perf_counter() - start
        out = {"p_clean": runs[0].p_clean, "ld_clean": runs[0].ld_clean,
               "p_corrupt": np.mean([r.p_corrupt for r in runs], axis=0),
               "ld_corrupt": np.mean([r.ld_corrupt for r in runs], axis=0),
               "noise_scale": np.array([r.noise_scale for r in runs])}
        for key, attr in (("p_restored", "p_restored"), ("ld_restored", "ld_restored")):
            out[key] = np.stack([np.stack([np.mean([getattr(r, attr)[(s, k)] for r in runs], axis=0) for k in kinds])
                                 for s in sites])  # [S, K, L, B]
        return out

    spec = {"claim": file_sha256(claim.path), "seed": data.seed, "criteria": "rome",
            "items": [(it.ids, it.target, it.subject_tokens) for it in items]}
    arrays, cache_status = data.cached("h5b-rome", spec, compute)
    return _rome_result(claim, data, model, arrays, counts, facts, cache_status, sites, window)


def _rome_result(claim, data, model, arrays, counts, facts, cache_status, sites, window) -> ClaimResult:
    rng = np.random.default_rng([data.seed, 0xB007])
    si, ki = sites.index(claim.site), claim.heatmap_positions.index(claim.position)
    main = rome_stats(arrays["p_restored"][si, ki], arrays["p_corrupt"], arrays["p_clean"],
                      interval=claim.depth_interval, bootstrap=claim.bootstrap, rng=rng)
    ld = rome_stats(arrays["ld_restored"][si, ki], arrays["ld_corrupt"], arrays["ld_clean"],
                    interval=claim.depth_interval, bootstrap=claim.bootstrap, rng=np.random.default_rng([data.seed, 0x1D]))
    n_layers = main.curve.shape[0]
    figures: dict[str, Any] = {
        "model": model, "n_layers": n_layers, "window_layers": window, "noise_after_layer": claim.noise_after,
        "noise_samples": claim.noise_samples, "noise_scale": float(np.mean(arrays["noise_scale"])),
        "cache": cache_status, **{f"prompts_{k}": v for k, v in counts.items()},
        "p_clean": float(arrays["p_clean"].mean()), "p_corrupted": float(arrays["p_corrupt"].mean()),
        "peak_layer": main.peak_layer, "peak_depth": main.peak_depth, "peak_nie": main.peak_nie,
        "peak_nie_low": main.peak_nie_low, "peak_depth_ci": [main.depth_low, main.depth_high],
        "depth_interval": list(claim.depth_interval), "verdict_reason": main.reason,
        "logit_diff_peak_layer": ld.peak_layer, "logit_diff_peak_depth": ld.peak_depth,
        "logit_diff_peak_nie": ld.peak_nie, "logit_diff_peak_depth_ci": [ld.depth_low, ld.depth_high],
        "logit_diff_verdict": ld.verdict,
        "peak_region": ("early-to-middle" if claim.depth_interval[0] <= main.peak_depth <= claim.depth_interval[1]
                        else "outside the depth interval"),
        "example_prompts": [f.text for f in facts[:5]]}
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    profiles: dict[str, np.ndarray] = {"trace_depth": depth, "trace_curve:noise": main.curve,
                                       "trace_lo:noise": main.curve_lo, "trace_hi:noise": main.curve_hi,
                                       "trace_curve:logit_diff": ld.curve, "trace_lo:logit_diff": ld.curve_lo,
                                       "trace_hi:logit_diff": ld.curve_hi}
    total = float(np.mean(arrays["p_clean"] - arrays["p_corrupt"]))
    effect = (arrays["p_restored"] - arrays["p_corrupt"]).mean(axis=-1) / total  # [S, K, L]
    profiles["trace_heatmap:recall"] = effect.reshape(-1, n_layers)
    rows = [f"{s} @ {k}" for s in sites for k in claim.heatmap_positions]
    entry = f"the stream entering layer {claim.noise_after}" if claim.noise_after else "the embeddings"
    message = (f"{claim.id}: {claim.site} (windows of {window} layers) at {claim.position}, noise on {entry}: "
               f"normalized indirect effect peaks at "
               f"layer {main.peak_layer}/{n_layers - 1} (depth {main.peak_depth:.2f}, 95% interval "
               f"[{main.depth_low:.2f}, {main.depth_high:.2f}], NIE {main.peak_nie:.3g}, lower bound "
               f"{main.peak_nie_low:.3g}); required inside [{claim.depth_interval[0]:g}, {claim.depth_interval[1]:g}] "
               f"({counts['traced']} prompts x {claim.noise_samples} draws): {main.reason}")
    figures["key_figure"] = f"peak layer {main.peak_layer}/{n_layers - 1}, depth {main.peak_depth:.2f} " \
                            f"[{main.depth_low:.2f}, {main.depth_high:.2f}]"
    return ClaimResult.for_claim(
        claim, level="layer", model=model,
        verdict=main.verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=[ComparisonRow(k, v, figures.get(k)) for k, v in claim.reported.items()],
        profiles=profiles, controls=[],
        behaviour={"traced prompts": {"recall": counts["traced"]}, "known facts": counts["known"]},
        meta={"seed": data.seed, "kind": claim.kind, "criteria": "rome",
              "trace_rows": rows, "depth_interval": list(claim.depth_interval),
              "timings_s": {k: round(v, 1) for k, v in data.timings.items()}},
        kind="intervention")
