"""Attention-pattern claims (the positive controls P1, P2) as data: schema, validation, record.

Contents
--------
SCORES             : "induction" (Olsson et al. 2022) and "previous_token".
CONTRAST_RULES     : what the contrast condition must show: "greater" or "reported".
PatternClaim       : heads with a large attention score exist, and beat every random twin.
load_pattern_claim : read and validate ``hypotheses/<slug>/pattern.yaml``.

A file states only what is measured and what decides the verdict; the figures the literature
reported go under ``reported`` (finding and model), shown beside what this run measured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.schema import (
    check_keys,
    field_choice,
    field_number,
    load_claim_file,
)
from tasks.errors import shown

SCORES = ("induction", "previous_token")
CONTRAST_RULES = ("greater", "reported")
REQUIRED_KEYS = ("id", "title", "statement", "score", "sequences", "length", "threshold", "min_heads",
                 "min_share", "contrast", "random_twins", "decision", "reported")
OPTIONAL_KEYS = ("notes",)


@dataclass(frozen=True)
class PatternClaim:
    """A positive control on attention patterns.

    Attributes
    ----------
    score : "induction" or "previous_token"
        Induction: on ``[BOS] A A`` (A: `length` random tokens), attention from each query of the
        second copy to the token after its earlier copy; not repeated: ``[BOS] A B``. Previous
        token: attention from each position to the one before, on natural text of `length`
        tokens; contrast: the same tokens shuffled.
    sequences, length : int
    threshold : float
        A head whose mean score over the main condition's sequences is >= this is "large".
    min_heads, min_share : int, float
        Required: at least ``max(min_heads, ceil(min_share * heads))`` large heads.
    contrast : "greater" or "reported"
        "greater": the claim's measure (the largest head mean) on the main condition must beat
        the contrast condition (paired bootstrap lower bound > 0); "reported": shown only.
    random_twins : tuple of int
        Seeds of the random-weights twins the trained model must beat (paired bootstrap lower
        bound of the difference in the largest head mean > 0, on the same sequences).
    resamples, confidence : int, float
        Of the paired bootstrap (`stats.paired_bootstrap`).
    """

    id: str
    title: str
    statement: str
    path: Path
    score: str
    sequences: int
    length: int
    threshold: float
    min_heads: int
    min_share: float
    contrast: str
    random_twins: tuple[int, ...]
    resamples: int
    confidence: float
    reported: dict
    notes: str = ""
    kind: str = "attention_pattern"

    def required_heads(self, n_heads: int) -> int:
        """Large heads required among `n_heads` heads."""
        return max(self.min_heads, math.ceil(self.min_share * n_heads - 1e-12))

    def thresholds(self) -> dict:
        main, other = ("repeated", "not repeated") if self.score == "induction" else ("natural", "shuffled")
        return {"score": self.score, "large head": f"mean {self.score} score >= {self.threshold:g}",
                "required large heads": f">= max({self.min_heads}, {self.min_share:.1%} of heads)",
                "contrast": f"{main} vs {other}: " + ("largest head mean higher (lower bound > 0)"
                                                     if self.contrast == "greater" else "reported"),
                "random twins": f"seeds {list(self.random_twins)}: largest head mean higher, paired bootstrap "
                                f"{self.confidence:.0%} lower bound > 0",
                "sequences": self.sequences, "length": self.length, "resamples": self.resamples}


def _parse(data: dict, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["score"] = field_choice(data.get("score"), "score", SCORES, problems)
    out["sequences"] = field_number(data, "sequences", problems, low=2, high=2000, closed_low=True, integer=True)
    out["length"] = field_number(data, "length", problems, low=4, high=1000, closed_low=True, integer=True)
    out["threshold"] = field_number(data, "threshold", problems, low=0.0, high=1.0)
    out["min_heads"] = field_number(data, "min_heads", problems, low=1, high=1e6, closed_low=True, integer=True)
    out["min_share"] = field_number(data, "min_share", problems, low=0.0, high=1.0, closed_low=True,
                                    closed_high=True)
    out["contrast"] = field_choice(data.get("contrast"), "contrast", CONTRAST_RULES, problems)
    twins = data.get("random_twins")
    if not (isinstance(twins, list) and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                            for s in twins) and len(set(twins)) == len(twins) and len(twins) <= 8):
        problems.append(f"`random_twins` must be a list of at most 8 distinct seeds (integers >= 0; [] for none), "
                        f"got {shown(twins)}")
        twins = []
    out["random_twins"] = tuple(twins)
    decision = check_keys(data.get("decision"), "decision", ("resamples", "level"), (), problems) \
        if "decision" in data else {}
    sub = {f"decision.{k}": v for k, v in decision.items()} if isinstance(decision, dict) else {}
    out["resamples"] = field_number(sub, "decision.resamples", problems, low=100, high=1e6, closed_low=True,
                                    integer=True)
    out["confidence"] = field_number(sub, "decision.level", problems, low=0.5, high=1.0)
    return out


def load_pattern_claim(path: str | Path) -> PatternClaim:
    """Load and validate one attention-pattern claim file.

    Every missing/unknown key, wrong type and out-of-range value is listed in one
    `evaluation.schema.ClaimFileError` naming the file (`evaluation.schema.load_claim_file`).

    Examples
    --------
    >>> claim = load_pattern_claim("hypotheses/p1_induction_heads/pattern.yaml")  # doctest: +SKIP
    >>> claim.score, claim.random_twins                                          # doctest: +SKIP
    ('induction', (1, 2))
    """
    def parse(data: dict, path: Path, problems: list[str]) -> dict[str, Any]:
        if isinstance(data.get("reported"), dict) and not {"finding", "model"} <= set(data["reported"]):
            problems.append("`reported` must state the literature's `finding` and the `model` it was found in, "
                            f"got keys {sorted(data['reported'])}")
        return _parse(data, problems)

    return load_claim_file(path, keys=(REQUIRED_KEYS, OPTIONAL_KEYS), parse=parse, build=PatternClaim)
