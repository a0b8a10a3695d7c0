"""H5a as a causal test: cross-fitted causal selection, content-position ablation, sequential null.

Contents
--------
DissociationOutcome : every figure of one test (selections, selectivities, p-values, draws,
                      the interaction and its bootstrap interval, the dose-response curve).
hierarchical_bootstrap : interval of the set x task interaction in excess of random sets,
                      resampling prompts (within side) and random sets.
dissociation_test   : the test on an `AblationBench` (used by the claim and by the planted tests).
evaluate_causal_dissociation : H5a with ``selection.method: causal`` -> `ClaimResult`.

Procedure. Pairs are cut into K folds; fold f's selection (`evaluation.causal_selection`) uses
the other folds' prompts, and its selected sets are ablated on fold f's prompts, so every
usable prompt is measured once, under the sets chosen without it. Per direction, the
selectivity is the pooled mean drop on the own task minus that on the other task (normalized
drops, see `evaluation.causal_selection`). Its null: random sets with the same number of
components per layer as each fold's selected set, drawn in batches until 20 of them reach the
observed selectivity or 1,000 are drawn (`stats.sequential`, Besag & Clifford 1991), or until
p < alpha is settled whatever further draws would show (curtailment: the reported p is then
the largest value the full procedure could give, so it stays valid). The
crossover interaction (recall selectivity of the recall sets plus reasoning selectivity of
the reasoning sets) minus its mean over random sets gets a percentile interval from a
hierarchical bootstrap. Supported: both selectivities > 0 with p < alpha, and the interval of
the excess interaction above 0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.causal_selection import (
    DIRECTIONS,
    AblationBench,
    FoldSelection,
    _as_ablation,
    select_causal,
)
from stats.sequential import besag_clifford_pvalue

if TYPE_CHECKING:
    from evaluation.intervention_claim import DissociationClaim
    from evaluation.intervention_data import InterventionData
    from evaluation.result import ClaimResult


@dataclass
class DissociationOutcome:
    """Figures of one `dissociation_test` (arrays over the pooled held-out prompts)."""

    folds: list[FoldSelection]
    held: np.ndarray
    is_recall: np.ndarray
    selected_drops: dict
    selectivity: dict
    pvalue: dict
    draws: dict
    exceedances: dict
    null: dict
    random_drops: dict
    interaction: float
    excess_interaction: float
    interval: tuple[float, float]
    dose: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    stages: dict = field(default_factory=dict)  # stage -> {"seconds", "conditions"} (where the time went)


def _selectivity(drops: np.ndarray, is_recall: np.ndarray, direction: str) -> np.ndarray:
    """Selectivity of drops [..., P]: own task minus other task."""
    rec, rea = drops[..., is_recall].mean(axis=-1), drops[..., ~is_recall].mean(axis=-1)
    return rec - rea if direction == "recall" else rea - rec


def hierarchical_bootstrap(selected: dict, random: dict, is_recall: np.ndarray, *, n_boot: int = 2000,
                           level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the excess interaction, resampling prompts and random sets.

    Parameters
    ----------
    selected : dict direction -> float [P], drops under the selected sets
    random : dict direction -> float [J_d, P], drops under the random sets
    is_recall : bool [P]

    Each replicate resamples the recall and the reasoning prompts (with replacement, within
    side; the same prompts for every set, so the comparison stays paired) and, independently,
    each direction's random sets; the statistic is
    ``sum_d (selectivity_d(selected) - mean selectivity_d(random))``.

    Examples
    --------
    >>> rec = np.array([True, True, False, False])
    >>> sel = {"recall": np.array([1.0, 1.2, 0.1, 0.0]), "reasoning": np.array([0.0, 0.1, 0.9, 1.1])}
    >>> rnd = {d: np.zeros((5, 4)) for d in sel}
    >>> lo, hi = hierarchical_bootstrap(sel, rnd, rec, n_boot=500)
    >>> lo > 0
    True
    """
    rng = np.random.default_rng([seed, 0xB007])
    is_recall = np.asarray(is_recall, dtype=bool)
    sides = [np.flatnonzero(is_recall), np.flatnonzero(~is_recall)]
    # Weights [n_boot, P]: multinomial counts of each prompt within its side, as shares of the side.
    weights = np.zeros((n_boot, len(is_recall)))
    for rows in sides:
        counts = rng.multinomial(len(rows), np.full(len(rows), 1 / len(rows)), size=n_boot)
        weights[:, rows] = counts / len(rows)
    sign = np.where(is_recall, 1.0, -1.0)
    stat = np.zeros(n_boot)
    for d in DIRECTIONS:
        s = sign if d == "recall" else -sign
        stat += (selected[d] * s) @ weights.T  # [n_boot]: own-side mean minus other-side mean
        rand = random[d]
        per_set = (rand * s) @ weights.T  # [J, n_boot]
        pick = rng.integers(0, len(rand), size=(n_boot, len(rand)))
        stat -= per_set[pick, np.arange(n_boot)[:, None]].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stat, [alpha, 1 - alpha])
    return float(lo), float(hi)


def _random_matched(components: list, width: int, draws: int, rng: np.random.Generator) -> list:
    from evaluation.dissociation import random_matched

    return random_matched(components, width, draws, rng)


def dissociation_test(bench: AblationBench, level: str, is_recall: np.ndarray, pair_of_row: np.ndarray,
                      fold_pairs: list[np.ndarray], *, k: int, candidates: int, dose_k: tuple[int, ...] = (),
                      exceedances: int = 20, max_draws: int = 1000, batch: int = 20, n_boot: int = 2000,
                      ci_level: float = 0.95, alpha: float | None = None, seed: int = 0, width: int | None = None,
                      atp: np.ndarray | None = None) -> DissociationOutcome:
    """Cross-fitted causal selection and the dissociation test on the bench's prompts.

    `pair_of_row` [B] gives each bench prompt's pair; `fold_pairs` the pairs of each fold.
    Raises `evaluation.result.InsufficientEvidence` when a fold selects nothing in a direction.
    With `alpha`, a direction's null stops as soon as p < alpha is settled (`stats.sequential`).
    """
    from evaluation.result import InsufficientEvidence
    from stats.sequential import curtail_bound

    is_recall = np.asarray(is_recall, dtype=bool)
    folds = []
    for pairs in fold_pairs:
        in_fold = np.isin(pair_of_row, pairs)
        folds.append((np.flatnonzero(~in_fold), np.flatnonzero(in_fold)))
    stages: dict[str, dict] = {}
    count = (lambda: getattr(bench, "conditions_run", 0))
    clock, done = time.perf_counter(), count()

    def stage(name: str) -> None:
        nonlocal clock, done
        now = time.perf_counter()
        stages[name] = {"seconds": round(now - clock, 2), "conditions": count() - done}
        clock, done = now, count()

    if atp is None:
        atp = bench.atp_drops(level)
        stage("attribution (forward + backward)")
    selections, scores = select_causal(bench, level, is_recall, folds, k=k, candidates=candidates, atp=atp)
    stage("exact verification of candidates")
    width = width if width is not None else scores["atp"].shape[2]
    empty = [(f, d) for f, s in enumerate(selections) for d in DIRECTIONS if not s.selected[d]]
    if empty:
        raise InsufficientEvidence(
            "nothing selected: no candidate with a verified differential effect and own-task drop above 0 in "
            + ", ".join(f"fold {f} ({d})" for f, d in empty),
            figures={"folds": [_fold_figures(s, level) for s in selections]})
    held = np.concatenate([s.held for s in selections])
    held_recall = is_recall[held]

    def pooled(per_fold: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(per_fold, axis=-1)

    # Selected sets, at every dose k (the tested set: all selected, at most k).
    ks = sorted({kk for kk in dose_k if kk <= max(len(s.selected[d]) for s in selections for d in DIRECTIONS)}
                | {k})
    sel_drops, dose = {}, {d: {} for d in DIRECTIONS}
    per_fold_drops = []
    for s in selections:
        ablations = [_as_ablation(level, s.selected[d][:kk]) for d in DIRECTIONS for kk in ks]
        per_fold_drops.append(bench.drops(s.held, ablations).reshape(len(DIRECTIONS), len(ks), -1))
    all_drops = pooled(per_fold_drops)  # [2, K, P]
    for i, d in enumerate(DIRECTIONS):
        for j, kk in enumerate(ks):
            dose[d][kk] = float(_selectivity(all_drops[i, j], held_recall, d))
        sel_drops[d] = all_drops[i, ks.index(k)]
    observed = {d: float(_selectivity(sel_drops[d], held_recall, d)) for d in DIRECTIONS}
    stage("selected sets at every dose k")
    # Sequential null, both directions in the same forward passes while both are undecided.
    rngs = {d: [np.random.default_rng([seed, 0x5E0, i, f]) for f in range(len(selections))]
            for i, d in enumerate(DIRECTIONS)}
    streams = {d: [] for d in DIRECTIONS}
    rand = {d: [] for d in DIRECTIONS}
    hits = {d: 0 for d in DIRECTIONS}
    drawn = {d: 0 for d in DIRECTIONS}
    while True:
        active = [d for d in DIRECTIONS if hits[d] < exceedances and drawn[d] < max_draws and not (
            alpha is not None and drawn[d] and curtail_bound(drawn[d], hits[d], exceedances) < alpha)]
        if not active:
            break
        sizes = {d: min(batch, max_draws - drawn[d]) for d in active}
        per_fold = []
        for f, s in enumerate(selections):
            ablations = []
            for d in active:
                ablations += [_as_ablation(level, c) for c in
                              _random_matched(s.selected[d], width, sizes[d], rngs[d][f])]
            per_fold.append(bench.drops(s.held, ablations))
        block = pooled(per_fold)  # [sum sizes, P]
        start = 0
        for d in active:
            part = block[start:start + sizes[d]]
            start += sizes[d]
            sel = _selectivity(part, held_recall, d)
            streams[d].append(sel)
            rand[d].append(part)
            hits[d] += int((~(sel < observed[d])).sum())
            drawn[d] += sizes[d]
    pvalue, draws, exc, null = {}, {}, {}, {}
    for d in DIRECTIONS:
        res = besag_clifford_pvalue(np.concatenate(streams[d]), observed[d], exceedances=exceedances,
                                    max_draws=max_draws, alpha=alpha)
        pvalue[d], draws[d], exc[d], null[d] = res.pvalue, res.n_draws, res.n_extreme, res.null
        rand[d] = np.concatenate(rand[d])[:res.n_draws]
    stage("sequential random-set null")
    interaction = observed["recall"] + observed["reasoning"]
    excess = interaction - sum(float(null[d].mean()) for d in DIRECTIONS)
    interval = hierarchical_bootstrap(sel_drops, rand, held_recall, n_boot=n_boot, level=ci_level, seed=seed)
    stage("hierarchical bootstrap")
    return DissociationOutcome(selections, held, held_recall, sel_drops, observed, pvalue, draws, exc, null, rand,
                               interaction, excess, interval, dose, scores, stages)


def _name(level: str, comp: tuple[int, int]) -> str:
    return f"L{comp[0]}{'H' if level == 'head' else 'N'}{comp[1]}"


def _fold_figures(s: FoldSelection, level: str) -> dict:
    out: dict[str, Any] = {"train_prompts": int(len(s.train)), "heldout_prompts": int(len(s.held))}
    for d in DIRECTIONS:
        pos = {c: i for i, c in enumerate(s.candidates[d])}
        out[f"selected_{d}"] = [
            {"component": _name(level, c), "verified_differential": round(float(s.verified[d][pos[c]]), 4),
             "own_drop": round(float(s.verified_own[d][pos[c]]), 4),
             "other_drop": round(float(s.verified_other[d][pos[c]]), 4),
             "atp_differential": round(float(s.atp[d][pos[c]]), 4)} for c in s.selected[d]]
    return out


def _bench(claim: DissociationClaim, data: InterventionData, index: np.ndarray) -> AblationBench:
    """The usable prompts of `data` (positions `index` in its measured rows) as a bench."""
    packed, clean, targets = data.clean
    chosen = [data.targets[0][data.measured_rows[i]] for i in index]
    means = data.position_means  # the parser admits only position_mean with causal selection
    bench = AblationBench(data.model.model, [list(t.ids) for t in chosen], packed.rows(index), clean.rows(index),
                          targets[index], [data.content_offsets[i] for i in index], means,
                          method=claim.ablation, content_only=claim.positions == "content",
                          floor=claim.normalize_floor, pad_id=data.pad_id)
    return bench


def _claim_data(claim: DissociationClaim, data: InterventionData) -> InterventionData:
    """The claim's own task set (``tasks:``, a seeded subsample of ``max_pairs`` pairs) as
    `InterventionData` on the same model and caches; `data` itself without either key."""
    if claim.tasks is None and not (claim.max_pairs and data.n_pairs > claim.max_pairs):
        return data
    from evaluation.intervention_data import InterventionData
    from tasks.loader import load_tasks

    taskset = load_tasks(claim.tasks) if claim.tasks is not None else data.taskset
    if claim.max_pairs and len(taskset.pairs) > claim.max_pairs:
        keep = np.sort(np.random.default_rng([data.seed, 0x5AB]).choice(len(taskset.pairs), claim.max_pairs,
                                                                          replace=False))
        taskset = type(taskset)(name=f"{taskset.name} ({claim.max_pairs} pairs, seed {data.seed})",
                                pairs=tuple(taskset.pairs[i] for i in keep), labels=taskset.labels,
                                provenance={"subsample_of": taskset.sha256, "pairs": keep.tolist()})
    # No captured activations: causal selection reads the model, not H2's statistics.
    return InterventionData(data.model, taskset, None, prompt_format=data.prompt_format, cache=data.cache,
                            seed=data.seed, progress=data.show_progress)


def evaluate_causal_dissociation(claim: DissociationClaim, data: InterventionData, *, model: str) -> ClaimResult:
    """H5a with causal selection on one model (see the module docstring for the procedure)."""
    import json

    from evaluation.causal_selection import crossfit_folds
    from evaluation.intervention_data import InsufficientData, file_sha256, threads
    from evaluation.result import ClaimResult, ControlRow

    data = _claim_data(claim, data)
    n = data.n_pairs
    usable = data.usable
    counts = data.counts()
    level = claim.selection.level
    rows = np.flatnonzero(usable)  # prompt rows (0..n-1 recall, n..2n-1 reasoning)
    for side, sel in (("recall", rows < n), ("reasoning", rows >= n)):
        if sel.sum() < claim.min_prompts:
            raise InsufficientData(f"{claim.id}: {int(sel.sum())} {side} prompts answered correctly, "
                                   f"{claim.min_prompts} needed (filtering: {counts})", figures=counts)
    fold_pairs = crossfit_folds(n, claim.selection.folds, data.seed)
    pair_of_row = rows % n
    is_recall = rows < n
    for f, pairs in enumerate(fold_pairs):
        train = ~np.isin(pair_of_row, pairs)
        if min((train & is_recall).sum(), (train & ~is_recall).sum()) < 2:
            raise InsufficientData(f"{claim.id}: fold {f} leaves fewer than 2 training prompts on a side "
                                   f"({counts})", figures=counts)
    position = {int(r): i for i, r in enumerate(data.measured_rows)}
    index = np.array([position[int(r)] for r in rows])
    from engine.model.sites import model_layout

    layout = model_layout(data.model.model)
    width = layout.d_mlp if level == "neuron" else layout.n_heads

    def compute() -> dict[str, np.ndarray]:
        start = time.perf_counter()
        with threads(), data.progress(f"{claim.id} causal selection and null", None, unit="condition") as bar:
            bench = _bench(claim, data, index)
            bench.on_conditions = lambda c: bar.update(c)
            outcome = dissociation_test(
                bench, level, is_recall, pair_of_row, fold_pairs, k=claim.k, candidates=claim.selection.candidates,
                dose_k=claim.dose_k, exceedances=claim.exceedances, max_draws=claim.max_draws, batch=claim.batch,
                n_boot=claim.bootstrap, ci_level=claim.ci_level, alpha=claim.alpha, seed=data.seed, width=width)
        seconds = time.perf_counter() - start
        record = _record(outcome, level, bench.conditions_run, seconds)
        return {"record": np.frombuffer(json.dumps(record).encode(), dtype=np.uint8).copy(),
                **{f"null:{d}": outcome.null[d] for d in DIRECTIONS}}

    spec = {"claim": file_sha256(claim.path), "seed": data.seed, "rows": rows.tolist(), "version": 2}
    try:
        arrays, cache_status = data.cached("h5a_causal", spec, compute)
    except InsufficientData:
        raise
    record = json.loads(bytes(arrays["record"]).decode())
    data.timings[claim.id] = record["seconds"]
    return _causal_result(claim, model, record, {d: arrays[f"null:{d}"] for d in DIRECTIONS}, counts,
                          cache_status, data, ClaimResult, ControlRow)


def _record(o: DissociationOutcome, level: str, conditions: int, seconds: float) -> dict:
    out: dict[str, Any] = {"folds": [_fold_figures(s, level) for s in o.folds], "conditions": conditions,
                           "seconds": seconds, "stages": o.stages, "heldout_recall": int(o.is_recall.sum()),
                           "heldout_reasoning": int((~o.is_recall).sum()), "interaction": o.interaction,
                           "excess_interaction": o.excess_interaction, "interval": list(o.interval),
                           "dose": {d: {str(k): v for k, v in o.dose[d].items()} for d in DIRECTIONS}}
    for d in DIRECTIONS:
        rec, rea = o.selected_drops[d][o.is_recall].mean(), o.selected_drops[d][~o.is_recall].mean()
        out[d] = {"selectivity": o.selectivity[d], "pvalue": o.pvalue[d], "draws": o.draws[d],
                  "exceedances": o.exceedances[d], "drop_recall": float(rec), "drop_reasoning": float(rea),
                  "random_mean": float(o.null[d].mean()),
                  "random_p95": float(np.percentile(o.null[d], 95))}
    return out


def _causal_result(claim, model, record, null, counts, cache_status, data, ClaimResult, ControlRow):
    level = claim.selection.level
    figures: dict[str, Any] = {"model": model, **counts, "metric": "logit_diff (normalized)", "cache": cache_status,
                               "heldout_recall": record["heldout_recall"],
                               "heldout_reasoning": record["heldout_reasoning"],
                               "conditions_run": record["conditions"], "stages": record.get("stages", {}),
                               "folds": record["folds"],
                               "interaction": record["interaction"], "excess_interaction": record["excess_interaction"],
                               "interaction_interval": record["interval"]}
    profiles: dict[str, np.ndarray] = {}
    controls, parts, passes = [], [], []
    for d in DIRECTIONS:
        r = record[d]
        ok = bool(r["selectivity"] > 0 and r["pvalue"] < claim.alpha)
        passes.append(ok)
        for key in ("selectivity", "pvalue", "draws", "drop_recall", "drop_reasoning", "random_mean"):
            figures[f"{d}_{key}"] = r[key]
        figures[f"top_{d}_{level}s"] = sorted({c["component"] for f in record["folds"] for c in f[f"selected_{d}"]})
        profiles[f"null:{d}"] = np.asarray(null[d])
        profiles[f"null_observed:{d}"] = np.array([r["selectivity"]])
        ks = sorted(int(k) for k in record["dose"][d])
        profiles[f"dose:{d}:k"] = np.array(ks, dtype=float)
        profiles[f"dose:{d}:sel"] = np.array([record["dose"][d][str(k)] for k in ks])
        lo, med, hi = np.percentile(null[d], [5, 50, 95])
        for key, v in (("lo", lo), ("med", med), ("hi", hi)):  # the band of the tested k's random sets
            profiles[f"dose:{d}:{key}"] = np.full(len(ks), v)
        controls.append(ControlRow(
            name=f"{r['draws']} random {level} sets vs selected {d} sets (sequential)", control="random",
            passed=ok, pvalue=r["pvalue"], extra={"random_mean": r["random_mean"], "draws": r["draws"]},
            detail=f"selectivity {r['selectivity']:+.3g} vs random mean {r['random_mean']:+.3g} (95th pct "
                   f"{r['random_p95']:+.3g}); Besag-Clifford p = {r['pvalue']:.3g} after {r['draws']} draws "
                   f"({r['exceedances']} at least as selective), required > 0 and p < {claim.alpha:g}"))
        parts.append(f"{d} {level}s: selectivity {r['selectivity']:+.3g} (normalized drops {r['drop_recall']:+.3g} "
                     f"recall / {r['drop_reasoning']:+.3g} reasoning), p = {r['pvalue']:.3g} ({r['draws']} draws)")
    lo, hi = record["interval"]
    inter_ok = bool(lo > 0)
    controls.append(ControlRow(
        name="set x task interaction beyond random sets (hierarchical bootstrap)", control="interaction",
        passed=inter_ok, value=record["excess_interaction"],
        detail=f"excess interaction {record['excess_interaction']:+.3g}, {claim.ci_level:.0%} interval "
               f"[{lo:+.3g}, {hi:+.3g}] over prompts and random sets; required above 0"))
    verdict = "supported" if all(passes) and inter_ok else "refuted"
    figures["key_figure"] = "; ".join(f"{d}: {record[d]['selectivity']:+.3g} (p={record[d]['pvalue']:.3g}, "
                                      f"{record[d]['draws']} draws)" for d in DIRECTIONS) + \
        f"; excess interaction [{lo:+.3g}, {hi:+.3g}]"
    message = (f"{claim.id}: " + "; ".join(parts) + f"; excess interaction {record['excess_interaction']:+.3g} "
               f"[{lo:+.3g}, {hi:+.3g}]; required selectivity > 0 with p < {claim.alpha:g} for both directions "
               f"and the interval above 0 ({record['heldout_recall']} recall / {record['heldout_reasoning']} "
               f"reasoning prompts, each measured under sets selected without it)")
    behaviour = {"accuracy": {"recall": counts["usable_recall"] / data.n_pairs,
                              "reasoning": counts["usable_reasoning"] / data.n_pairs},
                 "prompts_used": {"recall": record["heldout_recall"], "reasoning": record["heldout_reasoning"]}}
    return ClaimResult.for_claim(
        claim, level=level, model=model, verdict=verdict,
        message=message, thresholds=claim.thresholds(), figures=figures, comparison=[], profiles=profiles,
        controls=controls, behaviour=behaviour,
        meta={**(data.activations.meta if data.activations is not None else {"tasks": data.taskset.name}),
              "seed": data.seed, "kind": claim.kind,
              "timings_s": {k: round(v, 1) for k, v in data.timings.items()}},
        kind="intervention")
