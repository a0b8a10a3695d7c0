"""Evaluate an attention-pattern claim (positive controls P1 induction heads, P2 previous-token heads).

Contents
--------
condition_sequences : the claim's two conditions (main, contrast) as `tasks.control_sequences.TokenSequences`.
head_scores         : the claim's score ``[N, L, H]`` of one model on one condition.
judge_scores        : the claim's own criteria on one model's scores (large heads, contrast).
evaluate_pattern    : P1/P2 on one model and its random-weights twins -> `ClaimResult`.

Verdict. The trained model must have at least ``claim.required_heads(L*H)`` heads whose mean
score reaches ``threshold`` on the main condition; with ``contrast: greater`` its measure (the
largest head mean) must beat the contrast condition (paired bootstrap over sequences, one-sided
lower bound > 0); otherwise "refuted". It must then beat every random-weights twin on the same
sequences by the same rule, or the verdict is "confounded" (a network without training shows
as much). Each twin's own verdict under the first two criteria is recorded for the report's
Sensitivity table (``figures["sensitivity"]``): a positive control must be supported on the
trained model and not on its twins.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.pattern_claim import PatternClaim
from evaluation.result import ClaimResult, ComparisonRow, ControlRow
from stats.paired_bootstrap import paired_bootstrap_difference

if TYPE_CHECKING:
    from fixtures.session import ModelRun
    from tasks.control_sequences import TokenSequences

CONDITIONS = {"induction": ("repeated", "not repeated"), "previous_token": ("natural", "shuffled")}


def condition_sequences(claim: PatternClaim, tokenizer, *, seed: int) -> tuple[TokenSequences, TokenSequences]:
    """``(main, contrast)`` sequences of the claim, generated from `seed` (length-matched)."""
    from tasks.control_sequences import natural_and_shuffled, repeated_random

    if claim.score == "induction":
        return repeated_random(tokenizer, n=claim.sequences, half=claim.length, seed=seed)
    return natural_and_shuffled(tokenizer, n=claim.sequences, length=claim.length, seed=seed)


def head_scores(model, claim: PatternClaim, sequences: TokenSequences) -> np.ndarray:
    """The claim's score per sequence, layer and head ``[N, L, H]`` on `sequences`."""
    from engine.patterns import attention_to, induction_keys, previous_keys

    if claim.score == "induction":
        keys = induction_keys(half=claim.length, prefix=sequences.prefix)
    else:
        keys = previous_keys(length=sequences.ids.shape[1], prefix=sequences.prefix)
    return attention_to(model, sequences.ids, keys)


def judge_scores(main: np.ndarray, contrast: np.ndarray, claim: PatternClaim, *, rng: int) -> dict[str, Any]:
    """The claim's own criteria on one model's scores ``[N, L, H]`` (main and contrast condition).

    Examples
    --------
    >>> main = np.zeros((6, 2, 3)); main[:, 1, 2] = 0.9
    >>> j = judge_scores(main, np.zeros((6, 2, 3)), claim, rng=0)   # doctest: +SKIP
    >>> j["top_head"], j["n_large"], j["verdict"]                   # doctest: +SKIP
    ((1, 2), 1, 'supported')
    """
    n, n_layers, n_heads = main.shape
    means = main.mean(axis=0)
    top = np.unravel_index(int(np.argmax(means)), means.shape)
    n_large = int((means >= claim.threshold).sum())
    required = claim.required_heads(n_layers * n_heads)
    diff = paired_bootstrap_difference(main.reshape(n, -1), contrast.reshape(n, -1), measure="max_mean",
                                       n_resamples=claim.resamples, level=claim.confidence, rng=rng)
    large_ok = n_large >= required
    contrast_ok = bool(diff.exceeds(0.0)) if claim.contrast == "greater" else True
    return {"top_head": (int(top[0]), int(top[1])), "top_score": float(means[top]),
            "contrast_top_score": float(contrast.mean(axis=0).max()), "n_large": n_large,
            "share_large": n_large / (n_layers * n_heads), "required_heads": required,
            "contrast_difference": float(diff.statistic), "contrast_lower_bound": float(diff.low),
            "large_ok": large_ok, "contrast_ok": contrast_ok,
            "verdict": "supported" if large_ok and contrast_ok else "refuted"}


def _scores(lazy, claim: PatternClaim, seqs: tuple, run: ModelRun) -> tuple[np.ndarray, np.ndarray]:
    """Scores of both conditions on `lazy` (the model or a twin), from the disk cache when the same
    model, score and token ids were measured before (a warm run loads no twin's weights)."""
    import hashlib

    from engine.cache import CacheKey
    from engine.progress import step

    ids = hashlib.sha256(seqs[0].ids.tobytes() + b"|" + seqs[1].ids.tobytes()).hexdigest()
    key = CacheKey(model_identity=lazy.identity, tasks_sha256=ids,
                   capture={"kind": "attention-pattern", "score": claim.score, "length": claim.length,
                            "prefix": seqs[0].prefix, **lazy.capture_fields()})
    hit = run.cache.get(key) if run.cache.enabled else None
    if hit is not None:
        return hit[0]["main"], hit[0]["contrast"]
    with step(f"{claim.id} attention patterns {lazy.name}", enabled=run.progress):
        main, contrast = head_scores(lazy.model, claim, seqs[0]), head_scores(lazy.model, claim, seqs[1])
    if run.cache.enabled:
        run.cache.put(key, {"main": main, "contrast": contrast}, meta={"model": lazy.name, "kind": "attention-pattern"})
    return main, contrast


def _twin_scores(run: ModelRun, claim: PatternClaim, seqs: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    twin = run.model.random_twin(seed)
    try:
        return _scores(twin, claim, seqs, run)
    finally:
        twin.release()


def evaluate_pattern(claim: PatternClaim, run: ModelRun) -> ClaimResult:
    """Evaluate P1/P2 on `run`'s model and, unless ``--no-controls``, its random-weights twins."""
    seed = run.options.seed
    seqs = condition_sequences(claim, run.model.tokenizer, seed=seed)
    main, contrast = _scores(run.model, claim, seqs, run)
    own = judge_scores(main, contrast, claim, rng=seed)
    twin_seeds = claim.random_twins if run.options.controls else ()
    twins = {s: _twin_scores(run, claim, seqs, s) for s in twin_seeds}
    return pattern_result(claim, run.name, seqs, main, contrast, own, twins, seed=seed)


def pattern_result(claim: PatternClaim, model: str, seqs: tuple, main: np.ndarray, contrast: np.ndarray,
                   own: dict, twins: dict[int, tuple[np.ndarray, np.ndarray]], *, seed: int) -> ClaimResult:
    """The `ClaimResult` of one model's scores and its twins' (split from `evaluate_pattern` for tests)."""
    n, n_layers, n_heads = main.shape
    names = CONDITIONS[claim.score]
    controls: list[ControlRow] = []
    contrast_detail = (f"largest head mean {own['top_score']:.3f} ({names[0]}) vs {own['contrast_top_score']:.3f} "
                       f"({names[1]}), difference {own['contrast_difference']:.3f}, {claim.confidence:.0%} lower bound "
                       f"{own['contrast_lower_bound']:.3f}")
    controls.append(ControlRow(name=f"{names[1]} sequences", control="contrast",
                               passed=own["contrast_ok"] if claim.contrast == "greater" else None,
                               detail=contrast_detail, value=own["contrast_top_score"], reference=own["top_score"]))
    sensitivity = {"trained": own["verdict"]}
    twin_figures: dict[str, dict] = {}
    profiles: dict[str, np.ndarray] = {"pattern_scores": main.mean(axis=0), "pattern_contrast": contrast.mean(axis=0)}
    for s, (t_main, t_contrast) in twins.items():
        t_own = judge_scores(t_main, t_contrast, claim, rng=seed)
        beat = paired_bootstrap_difference(main.reshape(n, -1), t_main.reshape(n, -1), measure="max_mean",
                                           n_resamples=claim.resamples, level=claim.confidence,
                                           rng=np.random.default_rng([seed, s]))
        label = f"random-{s}"
        sensitivity[label] = t_own["verdict"]
        twin_figures[label] = {"verdict": t_own["verdict"], "top_score": t_own["top_score"],
                               "top_head": t_own["top_head"], "n_large": t_own["n_large"],
                               "difference": float(beat.statistic), "lower_bound": float(beat.low)}
        profiles[f"pattern_scores:{label}"] = t_main.mean(axis=0)
        controls.append(ControlRow(
            name=f"random weights (seed {s})", control="random_weights", passed=bool(beat.exceeds(0.0)),
            value=t_own["top_score"], reference=own["top_score"],
            detail=(f"largest head mean {t_own['top_score']:.3f} vs {own['top_score']:.3f} trained; difference "
                    f"{float(beat.statistic):.3f}, {claim.confidence:.0%} lower bound {float(beat.low):.3f}; "
                    f"{t_own['n_large']} large heads; the twin's own verdict: {t_own['verdict']}")))
    layer, head = own["top_head"]
    message = (f"{claim.id}: {own['n_large']}/{n_layers * n_heads} heads with mean {claim.score} score >= "
               f"{claim.threshold:g} (required >= {own['required_heads']}); largest L{layer}H{head} = "
               f"{own['top_score']:.3f} on {n} {names[0]} sequences vs {own['contrast_top_score']:.3f} {names[1]}")
    if own["verdict"] != "supported":
        verdict = "refuted"
        if not own["contrast_ok"]:
            message += f"; not above the {names[1]} sequences ({contrast_detail})"
    elif any(c.passed is False for c in controls if c.control == "random_weights"):
        verdict = "confounded"
        worst = [c.name for c in controls if c.control == "random_weights" and c.passed is False]
        message += f"; but not beating {', '.join(worst)}"
    else:
        verdict = "supported"
        message += (f"; beats {len(twins)} random-weights twin(s)" if twins else
                    "; random-weights twins not run (--no-controls or none listed)")
    figures = {"model": model, "n_layers": n_layers, "n_heads": n_heads, "sequences": n,
               "tokens_per_sequence": int(seqs[0].ids.shape[1]),
               **{k: v for k, v in own.items() if k not in ("verdict",)},
               "top_head": f"L{layer}H{head}", "large_heads": [f"L{a}H{b}" for a, b in
                                                               zip(*np.nonzero(main.mean(axis=0) >= claim.threshold))],
               "twins": twin_figures, "sensitivity": sensitivity,
               "key_figure": f"{own['n_large']} large heads, top L{layer}H{head} {own['top_score']:.2f}"}
    figures["finding"] = claim.reported.get("finding")
    return ClaimResult.for_claim(
        claim, level="head", model=model,
        verdict=verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=[ComparisonRow("finding", claim.reported.get("finding"),
                                  f"{own['n_large']} heads >= {claim.threshold:g}, top {own['top_score']:.2f}"),
                    ComparisonRow("model", claim.reported.get("model"), model)],
        profiles=profiles, controls=controls,
        behaviour={},
        meta={"seed": seed, "kind": claim.kind,
              "sequences": {names[0]: int(seqs[0].ids.shape[0]), names[1]: int(seqs[1].ids.shape[0])}},
        kind="attention_pattern")
