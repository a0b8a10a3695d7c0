"""Components chosen by their causal effect: AtP ranks, exact ablation verifies, cross-fitted.

Contents
--------
AblationBench    : the measured prompts of one model with everything an ablation needs
                   (packed sequences, clean run, content offsets, position-matched means);
                   ``drops(rows, ablations)`` and ``atp_drops(level)`` in normalized units.
crossfit_folds   : pairs cut into K folds (seeded); each fold's prompts are held out once.
FoldSelection    : one fold's candidates, their verified effects and the selected sets.
select_causal    : AtP candidates -> exact verification -> top-k by verified differential effect.

Units. A prompt's drop under an ablation is ``(LD_clean - LD_ablated) / max(LD_clean, floor)``
with LD the logit difference of the answer token against the best other token: the share of
the prompt's margin the ablation removes, so prompts the model answers with different
confidence count alike (the floor keeps a near-tie from dividing by ~0).

Differential effect of a component on some prompts: mean drop on the recall prompts minus mean
drop on the reasoning prompts (recall direction) or the reverse (reasoning direction). Within a
fold, AtP's estimate ranks every component on the fold's *training* prompts; the top
`candidates` of each direction are ablated exactly, one at a time, and the k with the largest
verified differential effect above 0 *whose own-task drop is also above 0* are selected (fewer
when fewer qualify; none: nothing selected). The own-task condition was set before any run of
it, after H5f's first run on smollm2 selected two-hop heads whose differential came from
*raising* the one-hop answer when ablated (own drop 0.10, other drop -0.95): a component the
other task does better without is not thereby part of this task's circuit. The exact single-component ablations run once on every prompt for the union of the
folds' candidates, and each fold reads only its own training prompts, so no fold's selection
sees the prompts it is tested on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from engine.intervention.ablation import Ablation
    from engine.intervention.packing import Packed
    from engine.intervention.runs import CleanRun

DIRECTIONS = ("recall", "reasoning")
Component = tuple[int, int]


@dataclass
class AblationBench:
    """Measured prompts of one model, ready for content-position ablations.

    Attributes
    ----------
    model : transformers.PreTrainedModel
    seqs : list of token lists, one per measured prompt (prompt + answer lead-in)
    packed, clean : the packed sequences and their `engine.intervention.runs.clean_run`
    targets : int array [B]
    offsets : list of int arrays (`engine.intervention.content.content_offsets`)
    means : PositionMeans (or ReferenceMeans with ``method != "position_mean"``)
    method : "position_mean", "mean", "resample" or "zero"
    content_only : bool
        Ablate the user content's tokens only (else every real token).
    floor : float
        Normalization floor of the clean logit difference.
    pad_id : int
    on_conditions : callable(int), optional
        Called with the number of conditions after each ablation call (progress).
    """

    model: object
    seqs: list
    packed: Packed
    clean: CleanRun
    targets: np.ndarray
    offsets: list
    means: object
    method: str = "position_mean"
    content_only: bool = True
    floor: float = 0.5
    pad_id: int = 0
    resample: object = None
    on_conditions: Callable[[int], object] | None = None
    conditions_run: int = field(default=0, init=False)

    @property
    def clean_ld(self) -> np.ndarray:
        return self.clean.metrics.logit_diff

    def scale(self) -> np.ndarray:
        return np.maximum(self.clean_ld, self.floor)

    def _offsets_tensor(self) -> torch.Tensor:
        from engine.intervention.content import packed_offsets

        if not hasattr(self, "_packed_offsets"):
            self._packed_offsets = packed_offsets(self.packed, self.offsets)
        return self._packed_offsets

    def drops(self, rows: np.ndarray, ablations: list[Ablation]) -> np.ndarray:
        """float [C, len(rows)]: normalized drop of each row under each ablation."""
        from engine.intervention.runs import ablation_metrics

        rows = np.asarray(rows)
        if not len(ablations) or not len(rows):
            return np.zeros((len(ablations), len(rows)))
        offsets = self._offsets_tensor()[rows] if self.content_only else None
        method = "mean" if self.method == "position_mean" else self.method
        out = ablation_metrics(self.model, self.packed.rows(rows), self.targets[rows], self.clean.rows(rows),
                               list(ablations), method=method, means=self.means, resample=self.resample,
                               offsets=offsets)
        self.conditions_run += len(ablations)
        if self.on_conditions is not None:
            self.on_conditions(len(ablations))
        return (self.clean_ld[rows][None] - out["logit_diff"]) / self.scale()[rows][None]

    def atp_drops(self, level: str) -> np.ndarray:
        """float [B, L, units]: AtP estimate of each component's normalized drop on every prompt."""
        from engine.intervention.attribution import attribution_effects

        effects = attribution_effects(self.model, self.seqs, self.targets, self.offsets, self.means,
                                      levels=(level,), pad_id=self.pad_id)[level]
        return -effects / self.scale()[:, None, None]


def crossfit_folds(n_pairs: int, folds: int, seed: int) -> list[np.ndarray]:
    """Pair indices of each fold (a seeded permutation cut into `folds` near-equal parts).

    Examples
    --------
    >>> [f.tolist() for f in crossfit_folds(5, 2, 0)]
    [[0, 2, 4], [1, 3]]
    """
    if not 2 <= folds <= n_pairs:
        raise ValueError(f"`folds` must be between 2 and the number of pairs ({n_pairs}), got {folds}")
    perm = np.random.default_rng([seed, 0xF01D]).permutation(n_pairs)
    return [np.sort(part) for part in np.array_split(perm, folds)]


def differential(drops: np.ndarray, is_recall: np.ndarray) -> np.ndarray:
    """Recall-direction differential effect along axis 0 (prompts): mean recall - mean reasoning.

    Examples
    --------
    >>> differential(np.array([[1.0], [0.5], [0.0]]), np.array([True, True, False])).tolist()
    [0.75]
    """
    is_recall = np.asarray(is_recall, dtype=bool)
    return drops[is_recall].mean(axis=0) - drops[~is_recall].mean(axis=0)


@dataclass(frozen=True)
class FoldSelection:
    """One fold's causal selection (rows are indices into the bench's measured prompts).

    Attributes
    ----------
    train, held : int arrays
    candidates : dict direction -> list of components (AtP order)
    atp : dict direction -> float array, AtP differential effect of each candidate
    verified : dict direction -> float array, exact differential effect of each candidate
    verified_own, verified_other : dict direction -> float arrays, the two mean drops behind it
    selected : dict direction -> list of components (verified order; differential > 0 and own
        drop > 0; at most k)
    """

    train: np.ndarray
    held: np.ndarray
    candidates: dict
    atp: dict
    verified: dict
    verified_own: dict
    verified_other: dict
    selected: dict


def _as_ablation(level: str, components: list[Component]) -> Ablation:
    from engine.intervention.ablation import Ablation

    key = "heads" if level == "head" else "neurons"
    return Ablation(**{key: frozenset(components)})


def select_causal(bench: AblationBench, level: str, is_recall: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                  *, k: int, candidates: int, atp: np.ndarray | None = None) -> tuple[list[FoldSelection], dict]:
    """Cross-fitted causal selection; returns the folds' selections and the raw scores.

    Parameters
    ----------
    is_recall : bool array [B] over the bench's prompts
    folds : list of (train rows, held-out rows)
    atp : float array [B, L, units], optional
        Precomputed `AblationBench.atp_drops` (else computed here).

    Returns
    -------
    (list of FoldSelection, dict)
        The dict holds ``atp`` [B, L, units], ``components`` (the verified union) and ``exact``
        [len(components), B] (normalized drops of each single-component ablation).
    """
    atp = bench.atp_drops(level) if atp is None else atp
    shape = atp.shape[1:]
    per_fold = []
    for train, _ in folds:
        score = differential(atp[train], is_recall[train])  # [L, units]
        flat = score.ravel()
        order = np.argsort(-flat, kind="stable")
        picks = {"recall": order[:candidates], "reasoning": order[::-1][:candidates]}
        per_fold.append({d: [tuple(int(i) for i in np.unravel_index(j, shape)) for j in picks[d]] for d in DIRECTIONS})
    union = sorted({c for fold in per_fold for d in DIRECTIONS for c in fold[d]})
    rows = np.arange(len(is_recall))
    exact = bench.drops(rows, [_as_ablation(level, [c]) for c in union])  # [U, B]
    where = {c: i for i, c in enumerate(union)}
    out = []
    for (train, held), fold in zip(folds, per_fold):
        rec, rea = train[is_recall[train]], train[~is_recall[train]]
        cand, atp_d, ver, own, other, sel = {}, {}, {}, {}, {}, {}
        for d in DIRECTIONS:
            idx = np.array([where[c] for c in fold[d]])
            mine, theirs = (rec, rea) if d == "recall" else (rea, rec)
            own[d] = exact[idx][:, mine].mean(axis=1)
            other[d] = exact[idx][:, theirs].mean(axis=1)
            ver[d] = own[d] - other[d]
            sign = 1 if d == "recall" else -1
            atp_d[d] = np.array([sign * differential(atp[train][:, c[0], c[1]], is_recall[train]) for c in fold[d]])
            cand[d] = fold[d]
            ranked = np.argsort(-ver[d], kind="stable")
            sel[d] = [fold[d][i] for i in ranked if ver[d][i] > 0 and own[d][i] > 0][:k]
        out.append(FoldSelection(train, held, cand, atp_d, ver, own, other, sel))
    return out, {"atp": atp, "components": union, "exact": exact}
