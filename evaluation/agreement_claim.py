"""The cross-model agreement claim (H4) as data: its YAML schema, validation and record.

Contents
--------
REQUIRED_KEYS, OPTIONAL_KEYS : the keys of an agreement claim file.
LABEL_PROFILES, BASELINES    : profiles derived from a claim's labels; baseline contrasts.
PROFILES_BY_LEVEL            : per-layer profiles a per-model claim yields, by component level.
ProfileKind                  : one compared profile, e.g. ``H2 frac_recall``.
AgreementClaim               : the frozen record (thresholds, sources, kinds).
load_agreement_claim         : `AgreementClaim.from_yaml`, the one entry point.

An agreement claim is not named ``claim.yaml``: those files are collected by the per-model
test module and follow `evaluation.component_claim`. It lists which per-model claims feed it
(``sources``: claim id -> claim file, relative to this file) and which of their per-layer
profiles must agree; errors are `evaluation.component_claim.ClaimFileError`, every problem at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.component_claim import Claim, load_claim
from evaluation.schema import (
    MAX_ID_CHARS,
    ClaimFileError,
    check_keys,
    field_number,
    load_claim_file,
)
from stats.profiles import DEFAULT_NULL, METHOD_ALIASES, NULLS
from tasks.errors import shown

REQUIRED_KEYS = ("id", "title", "statement", "sources", "profiles", "grid_points", "threshold",
                 "alpha", "n_permutations", "n_bootstrap", "reported")
OPTIONAL_KEYS = ("method", "permutation_null", "baseline", "ci_level", "notes")
KIND_KEYS = ("claim", "profile")
FRACTION_PROFILES = ("frac_recall", "frac_reasoning", "frac_mixed")
# Per layer, from one claim's labels: the lean (recall minus reasoning fraction) and the
# amount (fraction specialized at all: recall + reasoning + mixed). frac_recall and
# frac_reasoning both rise where many components specialize, so listing both counts the
# amount twice; these two separate direction from amount.
DERIVED_PROFILES = ("net_recall", "frac_specialized")
LABEL_PROFILES = DERIVED_PROFILES + FRACTION_PROFILES
# A claim's label profiles are functions of the same labels: at most this many per claim.
MAX_LABEL_PROFILES = 2
# Surface-only contrasts of the run's task set (`engine.provider.ActivationProvider.variant`):
# no task difference, the same length difference. "none" drops the baseline.
BASELINES = ("recall_filler", "reasoning_reworded", "none")
# The smallest attainable permutation p is 1/(n+1); 1000 draws also keep its Monte Carlo
# error near alpha small (sd ~ sqrt(0.05 * 0.95 / 1000) ~ 0.007 at p = 0.05).
MIN_PERMUTATIONS = 1000


def profiles_for(claim: Claim) -> tuple[str, ...]:
    """Per-layer profiles `evaluation.components.measure` yields for `claim` ([L] arrays)."""
    if claim.component_level == "layer":
        return tuple(f"effect:{feature}" for feature in claim.features)
    return LABEL_PROFILES


PROFILES_BY_LEVEL = {"layer": "effect:<feature> (signed effect size per layer)",
                     "head": ", ".join(LABEL_PROFILES), "neuron": ", ".join(LABEL_PROFILES)}


@dataclass(frozen=True)
class ProfileKind:
    """One compared per-layer profile: `profile` of per-model claim `claim`."""

    claim: str
    profile: str

    @property
    def name(self) -> str:
        """``"H2 frac_recall"``: the key of this profile in a `ModelProfile`."""
        return f"{self.claim} {self.profile}"


@dataclass(frozen=True)
class AgreementClaim:
    """A claim that per-layer profiles agree across models, loaded from YAML.

    Attributes
    ----------
    kinds : tuple of ProfileKind
        Profiles compared; the claim holds only if every kind agrees for every model pair.
    sources : dict claim id -> Claim
        The per-model claims whose profiles are compared (loaded and validated).
    grid_points : int
        Points of the common normalized-depth grid.
    method : str
        "spearman" or "pearson".
    threshold : float
        Every pairwise correlation must be >= threshold.
    alpha : float
        Every pairwise agreement-test p-value must be < alpha.
    n_permutations, n_bootstrap : int
        Null draws per pair and kind; bootstrap resamples of prompt pairs per model.
    null : str
        Null of the agreement test (`stats.profiles.NULLS`; default "phase_randomized").
    ci_level : float
        Level of the bootstrap intervals (each correlation; its excess over the baseline).
    baseline : str
        Surface-only contrast (`BASELINES`) whose profiles' agreement the claim's must exceed:
        the interval of (agreement - baseline agreement), bootstrapped over pairs, must lie
        above 0. "none": no baseline.
    """

    id: str
    title: str
    statement: str
    kinds: tuple[ProfileKind, ...]
    sources: dict[str, Claim] = field(compare=False)
    grid_points: int
    method: str
    threshold: float
    alpha: float
    n_permutations: int
    null: str
    n_bootstrap: int
    ci_level: float
    reported: dict
    path: Path
    baseline: str = "recall_filler"
    notes: str = ""

    def describe(self) -> str:
        """The decision rule in one line."""
        rule = (f"every pairwise {self.method} >= {self.threshold:g} and {self.null} null "
                f"p < {self.alpha:g}")
        if self.baseline != "none":
            rule += (f" and its {self.ci_level:.0%} bootstrap interval above the {self.baseline} "
                     f"surface contrast's agreement")
        return f"{rule}, for each of {len(self.kinds)} profiles"

    def thresholds(self) -> dict:
        return {"method": self.method, "threshold": self.threshold, "alpha": self.alpha,
                "n_permutations": self.n_permutations, "null": self.null, "baseline": self.baseline,
                "grid_points": self.grid_points, "n_bootstrap": self.n_bootstrap,
                "ci_level": self.ci_level, "profiles": [k.name for k in self.kinds],
                "expectation": self.describe()}

    @classmethod
    def from_yaml(cls, path: str | Path) -> AgreementClaim:
        return load_agreement_claim(path)


def _load_sources(raw: Any, base: Path, problems: list[str]) -> dict[str, Claim]:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"`sources` must map claim ids to claim files (e.g. H1: ../h1_layers/claim.yaml), "
                        f"got {shown(raw)}")
        return {}
    out = {}
    for cid, rel in raw.items():
        if len(str(cid)) > MAX_ID_CHARS:
            problems.append(f"`sources` has a key longer than {MAX_ID_CHARS} characters: {shown(str(cid))}")
            continue
        if not isinstance(rel, str) or not rel.strip():
            problems.append(f"`sources.{cid}` must be a path to a claim file, got {shown(rel)}")
            continue
        path = (base / rel).resolve()
        try:
            claim = load_claim(path)
        except ClaimFileError as exc:
            problems.append(f"`sources.{cid}`: {exc}")
            continue
        if claim.id != str(cid):
            problems.append(f"`sources.{cid}` points to {path}, whose id is {shown(claim.id)}")
            continue
        out[str(cid)] = claim
    return out


def _parse_kinds(raw: Any, sources: dict[str, Claim], source_keys: list[str],
                 problems: list[str]) -> tuple[ProfileKind, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append("`profiles` must be a non-empty list of {claim: <id>, profile: <name>}; "
                        f"names by level: {PROFILES_BY_LEVEL}")
        return ()
    kinds: list[ProfileKind] = []
    for i, item in enumerate(raw):
        where = f"profiles[{i}]"
        spec = check_keys(item, where, KIND_KEYS, (), problems)
        cid, name = spec.get("claim"), spec.get("profile")
        if cid is None or name is None:
            continue
        if str(cid) not in source_keys:
            problems.append(f"`{where}.claim` is {shown(cid)}; allowed (the keys of `sources`): "
                            f"{', '.join(source_keys)}")
            continue
        if str(cid) in sources and name not in profiles_for(sources[str(cid)]):
            allowed = profiles_for(sources[str(cid)])
            problems.append(f"`{where}.profile` is {shown(name)}; {cid} yields: {', '.join(allowed)}")
            continue
        kind = ProfileKind(str(cid), str(name))
        if kind in kinds:
            problems.append(f"`{where}` repeats {shown(kind.name)}")
            continue
        kinds.append(kind)
    for cid in dict.fromkeys(k.claim for k in kinds):
        label = [k.profile for k in kinds if k.claim == cid and k.profile in LABEL_PROFILES]
        if len(label) > MAX_LABEL_PROFILES:
            problems.append(f"`profiles` lists {len(label)} label profiles of {cid} ({', '.join(label)}); "
                            f"they all come from the same labels, at most {MAX_LABEL_PROFILES} count as "
                            f"separate evidence (e.g. net_recall and frac_specialized)")
    return tuple(kinds)


def load_agreement_claim(path: str | Path) -> AgreementClaim:
    """Load and validate an agreement claim file (and the per-model claims it names).

    Raises
    ------
    ClaimFileError
        Every missing/unknown key, wrong type, out-of-range value and unusable source, with
        the file.

    Examples
    --------
    >>> claim = load_agreement_claim("hypotheses/h4_cross_architecture/model_agreement.yaml")  # doctest: +SKIP
    >>> [k.name for k in claim.kinds][:2]                                                       # doctest: +SKIP
    ['H1 effect:resid_norm_last', 'H2 frac_recall']
    """
    return load_claim_file(path, keys=(REQUIRED_KEYS, OPTIONAL_KEYS), parse=_parse, build=AgreementClaim)


def _parse(data: dict, path: Path, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sources = _load_sources(data["sources"], path.parent, problems) if "sources" in data else {}
    source_keys = [str(k) for k in data["sources"]] if isinstance(data.get("sources"), dict) else []
    out["sources"] = sources
    out["kinds"] = _parse_kinds(data["profiles"], sources, source_keys, problems) if "profiles" in data else ()
    out["grid_points"] = field_number(data, "grid_points", problems, low=3, high=10_000, closed_low=True, integer=True)
    out["threshold"] = field_number(data, "threshold", problems, low=-1.0, high=1.0, closed_low=True, closed_high=True)
    out["alpha"] = field_number(data, "alpha", problems, low=0.0, high=1.0)
    out["n_permutations"] = field_number(data, "n_permutations", problems, low=MIN_PERMUTATIONS, high=1e8,
                                    closed_low=True, integer=True)
    out["n_bootstrap"] = field_number(data, "n_bootstrap", problems, low=0, high=1e6, closed_low=True, integer=True)
    level = data.get("ci_level", 0.95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        problems.append(f"`ci_level` must be a number in (0, 1), got {shown(level)}")
    out["ci_level"] = float(level) if isinstance(level, (int, float)) else math.nan
    method = data.get("method", "spearman")
    if not isinstance(method, str) or method.strip().lower() not in METHOD_ALIASES:
        problems.append(f"`method` is {shown(method)}; allowed: {', '.join(sorted(METHOD_ALIASES))}")
    else:
        out["method"] = METHOD_ALIASES[method.strip().lower()]
    # Not `null`: YAML reads that key as None.
    null = data.get("permutation_null", DEFAULT_NULL)
    if null not in NULLS:
        problems.append(f"`permutation_null` is {shown(null)}; allowed: {', '.join(NULLS)}")
    out["null"] = null
    baseline = data.get("baseline", "recall_filler")
    if baseline not in BASELINES:
        problems.append(f"`baseline` is {shown(baseline)}; allowed: {', '.join(BASELINES)}")
    out["baseline"] = baseline
    alpha, n_perm = out["alpha"], out["n_permutations"]
    if alpha is not None and n_perm is not None and 1 / (n_perm + 1) >= alpha:
        problems.append(f"`n_permutations` {n_perm} cannot give p < alpha {alpha:g}; need more than {1 / alpha - 1:g}")
    return out
