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
observed selectivity or 1,000 are drawn (`stats.sequential`, Besag & Clifford 1991). The
crossover interaction (recall selectivity of the recall sets plus reasoning selectivity of
the reasoning sets) minus its mean over random sets gets a percentile interval from a
hierarchical bootstrap. Supported: both selectivities > 0 with p < alpha, and the interval of
the excess interaction above 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.causal_selection import DIRECTIONS, AblationBench, FoldSelection, _as_ablation, select_causal
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
                      ci_level: float = 0.95, seed: int = 0, width: int | None = None,
                      atp: np.ndarray | None = None) -> DissociationOutcome:
    """Cross-fitted causal selection and the dissociation test on the bench's prompts.

    `pair_of_row` [B] gives each bench prompt's pair; `fold_pairs` the pairs of each fold.
    Raises `evaluation.result.InsufficientEvidence` when a fold selects nothing in a direction.
    """
    from evaluation.result import InsufficientEvidence

    is_recall = np.asarray(is_recall, dtype=bool)
    folds = []
    for pairs in fold_pairs:
        in_fold = np.isin(pair_of_row, pairs)
        folds.append((np.flatnonzero(~in_fold), np.flatnonzero(in_fold)))
    selections, scores = select_causal(bench, level, is_recall, folds, k=k, candidates=candidates, atp=atp)
    width = width if width is not None else scores["atp"].shape[2]
    empty = [(f, d) for f, s in enumerate(selections) for d in DIRECTIONS if not s.selected[d]]
    if empty:
        raise InsufficientEvidence(
            "nothing selected: no candidate with a verified differential effect above 0 in "
            + ", ".join(f"fold {f} ({d})" for f, d in empty),
            figures={"folds": [_fold_figures(s, level) for s in selections]})
    held = np.concatenate([s.held for s in selections])
    held_recall = is_recall[held]
    fold_cols = np.cumsum([0] + [len(s.held) for s in selections])

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
    # Sequential null, both directions in the same forward passes while both are undecided.
    rngs = {d: [np.random.default_rng([seed, 0x5E0, i, f]) for f in range(len(selections))]
            for i, d in enumerate(DIRECTIONS)}
    streams = {d: [] for d in DIRECTIONS}
    rand = {d: [] for d in DIRECTIONS}
    hits = {d: 0 for d in DIRECTIONS}
    drawn = {d: 0 for d in DIRECTIONS}
    while True:
        active = [d for d in DIRECTIONS if hits[d] < exceedances and drawn[d] < max_draws]
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
                                    max_draws=max_draws)
        pvalue[d], draws[d], exc[d], null[d] = res.pvalue, res.n_draws, res.n_extreme, res.null
        rand[d] = np.concatenate(rand[d])[:res.n_draws]
    interaction = observed["recall"] + observed["reasoning"]
    excess = interaction - sum(float(null[d].mean()) for d in DIRECTIONS)
    interval = hierarchical_bootstrap(sel_drops, rand, held_recall, n_boot=n_boot, level=ci_level, seed=seed)
    return DissociationOutcome(selections, held, held_recall, sel_drops, observed, pvalue, draws, exc, null, rand,
                               interaction, excess, interval, dose, scores)


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
