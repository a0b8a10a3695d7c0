"""H4: do per-layer specialization profiles agree across models? Bundles, builders, verdict.

Contents
--------
ModelProfile              : one model's per-layer profiles by kind (+ bootstrap replicates).
NotEnoughModelsError      : fewer than two models to compare (a skip, not a verdict).
claim_profiles            : the per-layer profiles in one claim's plot profiles, by kind name.
profiles_from_record      : a `ModelProfile` from one evidence.json record (H1, H2, H3, ...).
bundles_from_records      : `ModelProfile`s from many records, merged per model.
bootstrap_pairs           : [B, n_pairs] pair indices resampled with replacement.
profiles_from_activations : profiles and bootstrap replicates recomputed from activations.
evaluate_h4               : the `ClaimResult` of an `AgreementClaim` on two or more models.

A kind is ``"<claim id> <profile>"``, e.g. ``"H1 effect:resid_norm_last"`` (signed Cohen's d
per layer, recall minus reasoning) or ``"H2 frac_recall"`` (fraction of the layer's heads that
are recall-specialized). Profiles are compared on normalized depth with `stats.profiles`.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.agreement_claim import FRACTION_PROFILES, AgreementClaim
from evaluation.component_claim import Claim
from evaluation.components import measure
from evaluation.result import ClaimResult, ComparisonRow
from stats.profiles import (
    agreement,
    bootstrap_ci,
    layer_permutation_pvalue,
    profile_agreement,
)

if TYPE_CHECKING:
    from fixtures.activations import Activations

# evaluate_h4 interpolates over an undefined layer (e.g. a constant feature's NaN d) rather
# than losing the whole profile; the permutation null uses the same policy.
NAN_POLICY = "omit"


class NotEnoughModelsError(ValueError):
    """H4 compares models: it needs results of at least two."""


@dataclass(frozen=True, eq=False)
class ModelProfile:
    """One model's per-layer profiles, the unit H4 compares.

    Attributes
    ----------
    name, architecture : str
    n_layers : int
    profiles : mapping kind -> ndarray [n_layers]
    replicates : mapping kind -> ndarray [B, n_layers]
        Bootstrap replicate profiles over prompt pairs (empty when not computed).
    n_pairs : int or None
        Prompt pairs behind the profiles.
    boot_pairs : ndarray [B, n_pairs] or None
        The resampled pair indices of the replicates (equal across models = joint bootstrap).
    pair_ids : tuple of str
    """

    name: str
    architecture: str
    n_layers: int
    profiles: Mapping[str, np.ndarray]
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict)
    n_pairs: int | None = None
    boot_pairs: np.ndarray | None = None
    pair_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise ValueError(f"model {self.name!r}: a depth profile needs >= 2 layers, got {self.n_layers}")
        profiles = {k: np.asarray(v, dtype=float) for k, v in self.profiles.items()}
        replicates = {k: np.asarray(v, dtype=float) for k, v in self.replicates.items()}
        for kind, value in profiles.items():
            if value.shape != (self.n_layers,):
                raise ValueError(f"model {self.name!r}: profile {kind!r} has shape {value.shape}, "
                                 f"expected ({self.n_layers},)")
        counts = {v.shape[0] for v in replicates.values() if v.ndim == 2}
        for kind, value in replicates.items():
            if value.ndim != 2 or value.shape[1] != self.n_layers or len(counts) != 1:
                raise ValueError(f"model {self.name!r}: replicates {kind!r} have shape {value.shape}, "
                                 f"expected (B, {self.n_layers}) with one B for every kind")
        object.__setattr__(self, "profiles", profiles)
        object.__setattr__(self, "replicates", replicates)

    @property
    def n_boot(self) -> int:
        return next(iter(self.replicates.values())).shape[0] if self.replicates else 0

    def merge(self, other: ModelProfile) -> ModelProfile:
        """The profiles of both (same model, no kind twice), e.g. H1's and H2's records."""
        if other.name != self.name or other.n_layers != self.n_layers:
            raise ValueError(f"cannot merge profiles of {self.name!r} ({self.n_layers} layers) and "
                             f"{other.name!r} ({other.n_layers} layers)")
        twice = sorted(set(self.profiles) & set(other.profiles))
        if twice:
            raise ValueError(f"model {self.name!r}: profiles {twice} given twice (two records of one claim?)")
        if self.replicates and other.replicates and self.n_boot != other.n_boot:
            raise ValueError(f"model {self.name!r}: {self.n_boot} and {other.n_boot} bootstrap replicates")
        arch = self.architecture if self.architecture != "unknown" else other.architecture
        return replace(self, architecture=arch, profiles={**self.profiles, **other.profiles},
                       replicates={**self.replicates, **other.replicates},
                       n_pairs=self.n_pairs if self.n_pairs is not None else other.n_pairs,
                       boot_pairs=self.boot_pairs if self.boot_pairs is not None else other.boot_pairs,
                       pair_ids=self.pair_ids or other.pair_ids)


def claim_profiles(claim_id: str, profiles: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-layer profiles among a claim's plot profiles, keyed by kind name.

    Keeps ``effect:<feature>`` when it is [L] (layer claims) and ``frac_recall`` /
    ``frac_reasoning`` / ``frac_mixed`` [L] (head and neuron claims).

    Examples
    --------
    >>> sorted(claim_profiles("H2", {"frac_recall": [0.1, 0.2], "effect:attn_max": [[1.0, 2.0]]}))
    ['H2 frac_recall']
    """
    out = {}
    for key, value in profiles.items():
        if key.startswith("effect:") or key in FRACTION_PROFILES:
            arr = np.asarray(value, dtype=float)  # JSON null (NaN) -> nan
            if arr.ndim == 1:
                out[f"{claim_id} {key}"] = arr
    return out


def profiles_from_record(record: Mapping[str, Any], *, architecture: str | None = None) -> ModelProfile:
    """A `ModelProfile` from one claim's evidence record (``ClaimResult.to_record()``).

    The architecture is `architecture`, else ``meta["architecture"]`` or ``meta["model_type"]``
    of the record, else "unknown". Records carry no bootstrap replicates.

    Examples
    --------
    >>> rec = {"id": "H2", "model": "m", "figures": {"n_layers": 3, "n_pairs": 30},
    ...        "profiles": {"frac_recall": [0.0, 0.5, 0.25], "frac_reasoning": [0.1, None, 0.0]}}
    >>> mp = profiles_from_record(rec)
    >>> sorted(mp.profiles), mp.n_layers, mp.n_pairs
    (['H2 frac_reasoning', 'H2 frac_recall'], 3, 30)
    """
    for key in ("id", "model", "profiles"):
        if key not in record:
            raise ValueError(f"evidence record {record.get('id', '?')}/{record.get('model', '?')} lacks `{key}`")
    profiles = claim_profiles(str(record["id"]), record["profiles"])
    if not profiles:
        raise ValueError(f"evidence record {record['id']}/{record['model']} has no per-layer profile "
                         f"(effect:<feature> [L] or {', '.join(FRACTION_PROFILES)}); "
                         f"it has {sorted(record['profiles'])}")
    figures, meta = record.get("figures") or {}, record.get("meta") or {}
    n_layers = figures.get("n_layers")
    n_layers = int(n_layers) if isinstance(n_layers, int) else len(next(iter(profiles.values())))
    arch = architecture or meta.get("architecture") or meta.get("model_type") or "unknown"
    return ModelProfile(str(record["model"]), str(arch), n_layers, profiles,
                        n_pairs=figures.get("n_pairs"))


def bundles_from_records(records: Iterable[Mapping[str, Any]], *, claims: Iterable[str] | None = None,
                         architectures: Mapping[str, str] | None = None) -> list[ModelProfile]:
    """`ModelProfile`s of every model in `records`, in order of first appearance.

    Parameters
    ----------
    records : iterable of dict
        evidence.json records (``json.load(f)["records"]``), any claims and models.
    claims : iterable of str, optional, keyword-only
        Claim ids to use (e.g. ``["H1", "H2", "H3"]``); a listed claim's record without
        per-layer profiles is an error. Default: every record that has per-layer profiles.
    architectures : mapping model -> architecture, optional, keyword-only
    """
    wanted = None if claims is None else set(claims)
    merged: dict[str, ModelProfile] = {}
    for rec in records:
        if wanted is not None and rec.get("id") not in wanted:
            continue
        if wanted is None and not claim_profiles(str(rec.get("id")), rec.get("profiles") or {}):
            continue  # e.g. an errored record: nothing per layer to compare
        part = profiles_from_record(rec, architecture=(architectures or {}).get(rec.get("model")))
        merged[part.name] = merged[part.name].merge(part) if part.name in merged else part
    return list(merged.values())


def bundles_from_evidence(*paths: str | Path, claims: Iterable[str] | None = None) -> list[ModelProfile]:
    """`bundles_from_records` over the records of evidence.json files (earlier runs)."""
    records = [r for p in paths for r in json.loads(Path(p).read_text(encoding="utf-8"))["records"]]
    return bundles_from_records(records, claims=claims)


def bootstrap_pairs(n_pairs: int, *, n_boot: int, rng: int | np.random.Generator) -> np.ndarray:
    """[n_boot, n_pairs] pair indices drawn with replacement.

    The same seed gives the same indices for every model measured on the same task set, so
    replicate b of every model comes from the same prompt pairs (a joint bootstrap: prompts
    shared by the models stay shared in the resample).

    Examples
    --------
    >>> bootstrap_pairs(4, n_boot=2, rng=0).shape
    (2, 4)
    """
    return np.random.default_rng(rng).integers(0, n_pairs, size=(n_boot, n_pairs))


def _by_id(claims: Mapping[str, Claim] | Iterable[Claim]) -> dict[str, Claim]:
    return dict(claims) if isinstance(claims, Mapping) else {c.id: c for c in claims}


def profiles_from_activations(acts: Activations, claims: Mapping[str, Claim] | Iterable[Claim], *, seed: int,
                              n_boot: int = 100, rng: int | np.random.Generator | None = None,
                              name: str | None = None, architecture: str | None = None) -> ModelProfile:
    """Per-layer profiles of `claims` on one model's activations, with bootstrap replicates.

    The point profiles come from the claims' full procedure (`evaluation.components.measure`,
    as in the per-model evidence). Replicate b re-runs the same procedure on pairs resampled
    with replacement (`bootstrap_pairs`), passed as ``pairs=`` indices. Duplicated pairs are
    fine mechanically: folds split positions of the resample, so a pair's copies may sit in
    different folds. ``consistency=False`` skips folds only where a claim does not require
    them, so every component keeps the claim's own labelling rule. Caveat: a test on a
    resample treats duplicated pairs as independent, so replicate fractions of specialized
    components run higher than the point estimate; the replicates describe how stable the
    *shape* over depth is, which is what a rank correlation compares.

    Parameters
    ----------
    acts : fixtures.activations.Activations
    claims : mapping id -> Claim, or iterable of Claim
    seed : int, keyword-only
        Folds (as in the per-model run) and, when `rng` is None, the bootstrap draws.
    n_boot : int, keyword-only
        Bootstrap resamples (0 = none). Cost: n_boot re-analyses of every claim; H3 dominates
        (measured 0.16 s per replicate for H1+H2+H3 on smollm2's cached activations; expect
        about 3x on qwen0.5b's 117k neurons).
    rng : int or Generator, optional, keyword-only
    name, architecture : str, optional, keyword-only
        Default ``acts.meta["model"]`` and ``acts.meta["architecture"]`` (else "unknown").

    Examples
    --------
    >>> mp = profiles_from_activations(acts, [h1, h2], seed=0, n_boot=50)  # doctest: +SKIP
    >>> mp.replicates["H2 frac_recall"].shape                              # doctest: +SKIP
    (50, 30)
    """
    claims = _by_id(claims)
    if not claims:
        raise ValueError("`claims` is empty: nothing to profile")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ValueError(f"`n_boot` must be an integer >= 0, got {n_boot!r}")
    profiles: dict[str, np.ndarray] = {}
    for cid, claim in claims.items():
        profiles.update(claim_profiles(cid, measure(claim, acts, seed=seed).profiles))
    if not profiles:
        raise ValueError(f"claims {list(claims)} yield no per-layer profile")
    idx = bootstrap_pairs(acts.n_pairs, n_boot=n_boot, rng=seed if rng is None else rng)
    draws: dict[str, list[np.ndarray]] = {kind: [] for kind in profiles}
    for pairs in idx:
        for cid, claim in claims.items():
            found = measure(claim, acts, seed=seed, pairs=pairs, consistency=False).profiles
            for kind, value in claim_profiles(cid, found).items():
                draws[kind].append(value)
    replicates = {k: np.vstack(v) for k, v in draws.items()} if n_boot else {}
    meta = getattr(acts, "meta", {}) or {}
    return ModelProfile(name or str(meta.get("model", "model")),
                        architecture or str(meta.get("architecture", "unknown")),
                        len(next(iter(profiles.values()))), profiles, replicates, acts.n_pairs,
                        idx if n_boot else None, tuple(acts.pair_ids))


def _bootstrap_mode(bundles: Sequence[ModelProfile]) -> str:
    if not all(b.replicates for b in bundles):
        return "none"
    first = bundles[0]
    joint = all(b.boot_pairs is not None and first.boot_pairs is not None
                and b.boot_pairs.shape == first.boot_pairs.shape and np.array_equal(b.boot_pairs, first.boot_pairs)
                and b.pair_ids == first.pair_ids for b in bundles)
    return "joint" if joint else "independent"


def _pair_row(claim: AgreementClaim, kind: str, a: ModelProfile, b: ModelProfile, rho: float,
              rng: np.random.Generator, use_boot: bool) -> dict:
    perm = layer_permutation_pvalue(a.profiles[kind], b.profiles[kind], n_resamples=claim.n_permutations,
                                    rng=rng, grid=claim.grid_points, method=claim.method,
                                    null=claim.null, nan_policy=NAN_POLICY)
    row = {"kind": kind, "model_a": a.name, "model_b": b.name, "correlation": rho, "pvalue": perm.pvalue,
           "ci_low": None, "ci_high": None, "n_boot": 0}
    if use_boot and kind in a.replicates and kind in b.replicates:
        n = min(a.n_boot, b.n_boot)  # equal for a joint bootstrap
        reps = agreement(a.replicates[kind][:n], b.replicates[kind][:n], grid=claim.grid_points,
                         method=claim.method, nan_policy=NAN_POLICY)
        ci = bootstrap_ci(reps, level=claim.ci_level)
        row.update(ci_low=float(ci.low), ci_high=float(ci.high), n_boot=int(ci.n_used))
    row["passed"] = bool(np.isfinite(rho) and rho >= claim.threshold and perm.pvalue < claim.alpha)
    return row


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "undefined" if x is None or not np.isfinite(x) else format(x, spec)


def _worst(rows: list[dict], key: str, sign: int) -> dict:
    """The row with the smallest (sign=1) or largest (sign=-1) `key`; undefined comes first."""
    return min(rows, key=lambda r: -np.inf if not np.isfinite(r[key]) else sign * r[key])


def _message(claim: AgreementClaim, rows: list[dict]) -> str:
    worst, top_p = _worst(rows, "correlation", 1), _worst(rows, "pvalue", -1)

    def where(r: dict) -> str:
        flat = "" if np.isfinite(r["correlation"]) else ": a flat profile has no ranks"
        return f"{r['model_a']} vs {r['model_b']}, {r['kind']}{flat}"

    name = claim.method.capitalize()
    return (f"{claim.id}: min pairwise {name} {_fmt(worst['correlation'])} ({where(worst)}), "
            f"required >= {claim.threshold:g}; max layer-permutation p {_fmt(top_p['pvalue'], '.3g')} "
            f"({where(top_p)}), required < {claim.alpha:g}")


def evaluate_h4(claim: AgreementClaim, bundles: Sequence[ModelProfile], *, seed: int) -> ClaimResult:
    """Agreement of every pair of models on every profile kind of `claim`, and the verdict.

    Supported when, for every kind and every pair of models, the correlation on the common
    depth grid is >= ``claim.threshold`` and its layer-permutation p < ``claim.alpha``;
    refuted otherwise (an undefined correlation, e.g. a flat profile, fails). Bootstrap
    intervals (when every model has replicates) are reported, not decisive.

    Raises
    ------
    NotEnoughModelsError
        Fewer than two models (a test module should skip, not fail).
    ValueError
        Two bundles with one name, or a model missing a kind of the claim.

    Examples
    --------
    >>> result = evaluate_h4(load_agreement_claim(path), [smollm2, qwen], seed=0)  # doctest: +SKIP
    >>> result.verdict, result.figures["min_correlation"]                           # doctest: +SKIP
    ('refuted', 0.12)
    """
    names = [b.name for b in bundles]
    if len(bundles) < 2:
        raise NotEnoughModelsError(f"{claim.id} compares models but got {len(bundles)} ({', '.join(names) or 'none'}); "
                                   "run at least two models (--model a,b) or compare with another run's evidence.json")
    if len(set(names)) != len(names):
        raise ValueError(f"{claim.id}: model names must be unique, got {names}")
    kinds = [k.name for k in claim.kinds]
    missing = [f"{b.name}: {k}" for b in bundles for k in kinds if k not in b.profiles]
    if missing:
        raise ValueError(f"{claim.id}: missing profiles ({'; '.join(missing)}); each model needs "
                         f"{kinds} (evaluate claims {sorted(claim.sources)} on it first)")
    mode = _bootstrap_mode(bundles)
    rows: list[dict] = []
    profiles: dict[str, np.ndarray] = {}
    agreement_lists: dict[str, list] = {}
    for k, kind in enumerate(kinds):
        res = profile_agreement({b.name: b.profiles[kind] for b in bundles}, grid=claim.grid_points,
                                method=claim.method, nan_policy=NAN_POLICY)
        profiles["depth"] = res.grid
        for b, gridded in zip(bundles, res.gridded):
            profiles[f"profile:{b.name}:{kind}"] = gridded
        profiles[f"agreement:{kind}"] = res.matrix
        agreement_lists[kind] = res.matrix.tolist()
        for i in range(len(bundles)):
            for j in range(i + 1, len(bundles)):
                rng = np.random.default_rng([seed, k, i, j])  # one stream per (kind, pair)
                rows.append(_pair_row(claim, kind, bundles[i], bundles[j], float(res.matrix[i, j]),
                                      rng, mode != "none"))
    holds = all(r["passed"] for r in rows)
    finite = [r["correlation"] for r in rows if np.isfinite(r["correlation"])]
    figures: dict[str, Any] = {
        "models": names, "kinds": kinds,
        "architecture_by_model": {b.name: b.architecture for b in bundles},
        "layers_by_model": {b.name: b.n_layers for b in bundles},
        "pairs_by_model": {b.name: b.n_pairs for b in bundles},
        "bootstrap_by_model": {b.name: b.n_boot for b in bundles},
        "bootstrap": mode, "agreement": agreement_lists, "pairs": rows,
        "min_correlation": min(finite) if len(finite) == len(rows) else float("nan"),
        "max_pvalue": max(r["pvalue"] for r in rows) if len(finite) == len(rows) else float("nan"),
        "n_agreeing": sum(r["passed"] for r in rows), "n_comparisons": len(rows),
        "grid_points": claim.grid_points, "model": ",".join(names),
    }
    comparison = [ComparisonRow(f"{r['kind']}: {r['model_a']} vs {r['model_b']}",
                                claim.reported.get(f"{r['kind']}: {r['model_a']} vs {r['model_b']}"),
                                f"{claim.method} {_fmt(r['correlation'])}"
                                + (f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["ci_low"] is not None else "")
                                + f", p = {_fmt(r['pvalue'], '.3g')}") for r in rows]
    return ClaimResult(
        claim_id=claim.id, title=claim.title, statement=claim.statement, level="model",
        model=",".join(names), verdict="supported" if holds else "refuted", message=_message(claim, rows),
        thresholds=claim.thresholds(), figures=figures, comparison=comparison, profiles=profiles,
        meta={"seed": seed, "claim_file": str(claim.path), "component_level": "model",
              "profile_label": "profile (per kind, see legend)", "nan_policy": NAN_POLICY,
              "bootstrap": mode},
        kind="model_agreement")
