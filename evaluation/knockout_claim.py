"""Attention-knockout claims (positive control P3, Geva et al. 2023): schema, loader, evaluator.

Contents
--------
KnockoutClaim       : blocking last -> subject edges early-to-middle hurts far more than late.
load_knockout_claim : read and validate ``hypotheses/<slug>/knockout.yaml``.
knockout_stats      : early vs late drop (paired bootstrap), the drop curve's peak depth and interval.
evaluate_knockout   : P3 on one model -> `ClaimResult`.

Verdict. Per prompt, the relative drop of the answer's probability when the last position
cannot attend to the subject tokens in a window of layers, averaged over windows centred in the
early-to-middle depth range and over those in the late range: "supported" when the paired
bootstrap lower bound of (early - late) is > 0 and the early mean is at least `min_ratio` times
the late mean ("much more"); "refuted" otherwise. No window reaches below `first_layer` (1: layer 0
cannot decide the verdict). The prompts are the plain recall prompts the model knows
(`evaluation.localization_rome.cloze_items`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.result import (
    ClaimResult,
    ComparisonRow,
    ControlRow,
    InsufficientEvidence,
)
from evaluation.schema import (
    check_keys,
    field_number,
    load_claim_file,
)
from stats.paired_bootstrap import paired_bootstrap_difference
from tasks.errors import shown

if TYPE_CHECKING:
    from fixtures.session import ModelRun

REQUIRED_KEYS = ("id", "title", "statement", "window_fraction", "first_layer", "early_depths", "late_depths",
                 "min_ratio", "min_prompts", "max_prompts", "decision", "reported")


@dataclass(frozen=True)
class KnockoutClaim:
    """P3: last -> subject attention matters early-to-middle, not late."""

    id: str
    title: str
    statement: str
    path: Path
    window_fraction: float
    first_layer: int
    early_depths: tuple[float, float]
    late_depths: tuple[float, float]
    min_ratio: float
    min_prompts: int
    max_prompts: int
    resamples: int
    confidence: float
    reported: dict
    notes: str = ""
    kind: str = "attention_knockout"

    def window(self, n_layers: int) -> int:
        return max(1, round(self.window_fraction * n_layers))

    def thresholds(self) -> dict:
        return {"window": f"{self.window_fraction:g} x L layers, none before layer {self.first_layer}",
                "early-to-middle": f"windows centred at depth in [{self.early_depths[0]:g}, {self.early_depths[1]:g}]",
                "late": f"windows centred at depth in [{self.late_depths[0]:g}, {self.late_depths[1]:g}]",
                "expectation": f"early drop - late drop: {self.confidence:.0%} lower bound > 0, and early >= "
                               f"{self.min_ratio:g} x late", "min prompts": self.min_prompts}


def _depths(data: dict, key: str, problems: list[str]) -> tuple[float, float] | None:
    value = data.get(key)
    if key in data and not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)
            and value[0] < value[1]):
        problems.append(f"`{key}` must be [low, high] with 0 <= low < high <= 1, got {shown(value)}")
        return None
    return (float(value[0]), float(value[1])) if key in data else None


def load_knockout_claim(path: str | Path) -> KnockoutClaim:
    """Load and validate one knockout claim file (every problem at once, naming file and key)."""
    return load_claim_file(path, keys=(REQUIRED_KEYS, ("notes",)), parse=_parse, build=KnockoutClaim)


def _parse(data: dict, path: Path, problems: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    fields["window_fraction"] = field_number(data, "window_fraction", problems, low=0.0, high=1.0, closed_high=True)
    fields["first_layer"] = field_number(data, "first_layer", problems, low=0, high=1000, closed_low=True, integer=True)
    fields["early_depths"] = _depths(data, "early_depths", problems)
    fields["late_depths"] = _depths(data, "late_depths", problems)
    fields["min_ratio"] = field_number(data, "min_ratio", problems, low=0.0, high=1e6, closed_low=True)
    fields["min_prompts"] = field_number(data, "min_prompts", problems, low=2, high=1e6, closed_low=True, integer=True)
    fields["max_prompts"] = field_number(data, "max_prompts", problems, low=0, high=1e6, closed_low=True, integer=True)
    decision = check_keys(data.get("decision"), "decision", ("resamples", "level"), (), problems) \
        if "decision" in data else {}
    sub = {f"decision.{k}": v for k, v in decision.items()}
    fields["resamples"] = field_number(sub, "decision.resamples", problems, low=100, high=1e6, closed_low=True,
                                       integer=True)
    fields["confidence"] = field_number(sub, "decision.level", problems, low=0.5, high=1.0)
    if isinstance(data.get("reported"), dict) and not {"finding", "model"} <= set(data["reported"]):
        problems.append("`reported` must state the literature's `finding` and the `model` it was found in")
    e, late = fields["early_depths"], fields["late_depths"]
    if e and late and e[1] > late[0]:
        problems.append(f"`early_depths` {list(e)} must end before `late_depths` {list(late)} start")
    return fields


def knockout_stats(drop: np.ndarray, claim: KnockoutClaim, *, rng: int) -> dict[str, Any]:
    """The claim's criteria on relative drops ``[L, B]`` (NaN rows: windows not run).

    Raises
    ------
    InsufficientEvidence
        No measured window centred in the early or in the late range.
    """
    n_layers, n = drop.shape
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    measured = np.isfinite(drop).all(axis=1)
    early = measured & (depth >= claim.early_depths[0]) & (depth <= claim.early_depths[1])
    late = measured & (depth >= claim.late_depths[0]) & (depth <= claim.late_depths[1])
    if not early.any() or not late.any():
        raise InsufficientEvidence(f"{claim.id}: no measured window in the early ({int(early.sum())}) or late "
                                   f"({int(late.sum())}) range of a {n_layers}-layer model")
    d_early, d_late = drop[early].mean(axis=0), drop[late].mean(axis=0)
    diff = paired_bootstrap_difference(d_early, d_late, n_resamples=claim.resamples, level=claim.confidence, rng=rng)
    curve = np.where(measured, np.where(measured[:, None], drop, 0.0).mean(axis=1), np.nan)
    picks = np.random.default_rng([rng, 0xD7]).integers(0, n, size=(claim.resamples, n))
    rows = np.flatnonzero(measured)
    boot_peak = depth[rows[np.argmax(drop[rows][:, picks].mean(axis=2), axis=0)]]
    early_mean, late_mean = float(d_early.mean()), float(d_late.mean())
    ratio_ok = early_mean >= claim.min_ratio * max(late_mean, 0.0)
    peak = int(np.nanargmax(curve))
    return {"early_drop": early_mean, "late_drop": late_mean, "difference": float(diff.statistic),
            "difference_low": float(diff.low), "ratio_ok": bool(ratio_ok), "passed": bool(diff.exceeds(0.0) and ratio_ok),
            "peak_layer": peak, "peak_depth": float(depth[peak]), "peak_drop": float(curve[peak]),
            "peak_depth_ci": [float(v) for v in np.percentile(boot_peak, [2.5, 97.5])], "curve": curve,
            "early_windows": int(early.sum()), "late_windows": int(late.sum())}


def evaluate_knockout(claim: KnockoutClaim, run: ModelRun) -> ClaimResult:
    """P3 on `run`'s model (see the module docstring)."""
    from engine.intervention.knockout import attention_knockout
    from engine.model.sites import model_layout
    from engine.progress import step
    from evaluation.intervention_data import threads
    from evaluation.localization_rome import cloze_items

    lazy, seed = run.model, run.options.seed
    items, facts, counts = cloze_items(lazy, seed=seed, limit=claim.max_prompts)
    if len(items) < claim.min_prompts:
        raise InsufficientEvidence(f"{claim.id}: {len(items)} plain recall prompts the model knows, "
                                   f"{claim.min_prompts} needed ({counts})", figures=counts)
    n_layers = model_layout(lazy.model).n_layers
    pad = lazy.tokenizer.pad_token_id if lazy.tokenizer.pad_token_id is not None else 0
    with threads(), step(f"{claim.id} attention knockout {run.name}", enabled=run.progress):
        result = attention_knockout(lazy.model, items, pad_id=pad, window=claim.window(n_layers),
                                    first_layer=claim.first_layer)
    s = knockout_stats(result.relative_drop(), claim, rng=seed)
    verdict = "supported" if s["passed"] else "refuted"
    message = (f"{claim.id}: blocking last -> subject attention (windows of {result.window} layers, none before layer "
               f"{claim.first_layer}) lowers the answer's probability by {s['early_drop']:.1%} early-to-middle vs "
               f"{s['late_drop']:.1%} late (difference {s['difference']:.3f}, {claim.confidence:.0%} lower bound "
               f"{s['difference_low']:.3f}; required > 0 and early >= {claim.min_ratio:g} x late); drop peaks at "
               f"layer {s['peak_layer']}/{n_layers - 1} (depth {s['peak_depth']:.2f}, 95% interval "
               f"[{s['peak_depth_ci'][0]:.2f}, {s['peak_depth_ci'][1]:.2f}]) ({len(items)} prompts)")
    figures = {"model": run.name, "n_layers": n_layers, "window_layers": result.window,
               **{f"prompts_{k}": v for k, v in counts.items()}, "p_clean": float(result.p_clean.mean()),
               **{k: v for k, v in s.items() if k not in ("curve", "passed")},
               "key_figure": f"drop {s['early_drop']:.0%} early vs {s['late_drop']:.0%} late; peak depth "
                             f"{s['peak_depth']:.2f}"}
    depth = np.arange(n_layers) / max(n_layers - 1, 1)
    return ClaimResult.for_claim(
        claim, level="layer", model=run.name,
        verdict=verdict, message=message, thresholds=claim.thresholds(), figures=figures,
        comparison=[ComparisonRow("finding", claim.reported.get("finding"), figures["key_figure"]),
                    ComparisonRow("model", claim.reported.get("model"), run.name)],
        profiles={"trace_depth": depth, "trace_curve:knockout": s["curve"]},
        controls=[ControlRow(name="late windows", control="contrast", passed=s["passed"],
                             detail=f"early {s['early_drop']:.3f} vs late {s['late_drop']:.3f}, lower bound "
                                    f"{s['difference_low']:.3f}", value=s["late_drop"], reference=s["early_drop"])],
        behaviour={"known facts": counts["known"], "traced prompts": counts["traced"]},
        meta={"seed": seed, "kind": claim.kind,
              "example_prompts": [f.text for f in facts[:5]]},
        kind="attention_knockout")
