"""H4: do per-layer specialization profiles agree across models? Bundles, builders, verdict.

Contents
--------
ModelProfile              : one model's per-layer profiles by kind (+ bootstrap replicates, and
                            the same on the surface-only baseline contrast).
NotEnoughModelsError      : fewer than two models to compare (a skip, not a verdict).
claim_profiles            : the per-layer profiles in one claim's plot profiles, by kind name.
baseline_activations      : one model's activations on the claim's baseline contrast (or None).
profiles_from_record      : a `ModelProfile` from one evidence.json record (H1, H2, H3, ...).
bundles_from_records      : `ModelProfile`s from many records, merged per model.
bootstrap_pairs           : [B, n_pairs] pair indices resampled with replacement.
profiles_from_activations : profiles and bootstrap replicates recomputed from activations.
evaluate_h4               : the `ClaimResult` of an `AgreementClaim` on two or more models.

A kind is ``"<claim id> <profile>"``, e.g. ``"H1 effect:resid_norm_last"`` (signed Cohen's d
per layer, recall minus reasoning), ``"H2 net_recall"`` (recall- minus reasoning-specialized
share of the layer's heads) or ``"H2 frac_specialized"`` (share specialized at all). Profiles
are compared on normalized depth with `stats.profiles`.

The decision, per kind and pair of models, has three checks: correlation >= threshold, the
agreement test's p < alpha (phase-randomized surrogate null by default), and the bootstrap
interval of (correlation - baseline correlation) above 0, where the baseline is the same
profiles measured on a surface-only contrast (same length difference, no task difference):
two models that merely share length sensitivity agree there as much. Every check passes:
supported; any defined check fails: refuted; otherwise (a flat profile, an undefined p or
interval, no baseline to compare with): inconclusive.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.agreement_claim import FRACTION_PROFILES, AgreementClaim
from evaluation.component_claim import Claim
from evaluation.components import measure
from evaluation.result import ClaimResult, ComparisonRow
from stats.profiles import (
    agreement,
    agreement_test,
    bootstrap_ci,
    profile_agreement,
    to_common_grid,
)

if TYPE_CHECKING:
    from engine.activations import Activations
    from fixtures.session import ModelRun

# evaluate_h4 interpolates over an undefined layer (e.g. a constant feature's NaN d) rather
# than losing the whole profile; the permutation null uses the same policy.
NAN_POLICY = "omit"
# An interval from fewer defined replicates than this share of those drawn (the rest had a
# flat profile) describes a different population of resamples: undefined instead.
MIN_DEFINED_REPLICATES = 0.5


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
    baseline : mapping kind -> ndarray [n_layers]
        The same profiles on the surface-only baseline contrast (empty when not measured).
    baseline_replicates : mapping kind -> ndarray [B, n_layers]
        Their replicates on the same resampled pairs (`boot_pairs`) as `replicates`.
    baseline_contrast : str
        Which contrast ("recall_filler", ...), "" when none.
    """

    name: str
    architecture: str
    n_layers: int
    profiles: Mapping[str, np.ndarray]
    replicates: Mapping[str, np.ndarray] = field(default_factory=dict)
    n_pairs: int | None = None
    boot_pairs: np.ndarray | None = None
    pair_ids: tuple[str, ...] = ()
    baseline: Mapping[str, np.ndarray] = field(default_factory=dict)
    baseline_replicates: Mapping[str, np.ndarray] = field(default_factory=dict)
    baseline_contrast: str = ""

    def __post_init__(self) -> None:
        if self.n_layers < 2:
            raise ValueError(f"model {self.name!r}: a depth profile needs >= 2 layers, got {self.n_layers}")
        for attr, what in (("profiles", "profile"), ("baseline", "baseline profile")):
            values = {k: np.asarray(v, dtype=float) for k, v in getattr(self, attr).items()}
            for kind, value in values.items():
                if value.shape != (self.n_layers,):
                    raise ValueError(f"model {self.name!r}: {what} {kind!r} has shape {value.shape}, "
                                     f"expected ({self.n_layers},)")
            object.__setattr__(self, attr, values)
        replicates = {k: np.asarray(v, dtype=float) for k, v in self.replicates.items()}
        base_reps = {k: np.asarray(v, dtype=float) for k, v in self.baseline_replicates.items()}
        counts = {v.shape[0] for v in (*replicates.values(), *base_reps.values()) if v.ndim == 2}
        for kind, value in (*replicates.items(), *base_reps.items()):
            if value.ndim != 2 or value.shape[1] != self.n_layers or len(counts) != 1:
                raise ValueError(f"model {self.name!r}: replicates {kind!r} have shape {value.shape}, "
                                 f"expected (B, {self.n_layers}) with one B for every kind")
        object.__setattr__(self, "replicates", replicates)
        object.__setattr__(self, "baseline_replicates", base_reps)

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
                       baseline={**self.baseline, **other.baseline},
                       baseline_replicates={**self.baseline_replicates, **other.baseline_replicates},
                       baseline_contrast=self.baseline_contrast or other.baseline_contrast,
                       n_pairs=self.n_pairs if self.n_pairs is not None else other.n_pairs,
                       boot_pairs=self.boot_pairs if self.boot_pairs is not None else other.boot_pairs,
                       pair_ids=self.pair_ids or other.pair_ids)


def claim_profiles(claim_id: str, profiles: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Per-layer profiles among a claim's plot profiles, keyed by kind name.

    Keeps ``effect:<feature>`` when it is [L] (layer claims) and ``frac_recall`` /
    ``frac_reasoning`` / ``frac_mixed`` [L] (head and neuron claims), and derives from the
    three fractions ``net_recall`` (recall minus reasoning) and ``frac_specialized`` (sum).

    Examples
    --------
    >>> found = claim_profiles("H2", {"frac_recall": [0.1, 0.2], "frac_reasoning": [0.3, 0.0],
    ...                               "frac_mixed": [0.0, 0.1], "effect:attn_max": [[1.0, 2.0]]})
    >>> sorted(found)
    ['H2 frac_mixed', 'H2 frac_reasoning', 'H2 frac_recall', 'H2 frac_specialized', 'H2 net_recall']
    >>> found["H2 net_recall"].round(2).tolist(), found["H2 frac_specialized"].round(2).tolist()
    ([-0.2, 0.2], [0.4, 0.3])
    """
    out = {}
    for key, value in profiles.items():
        if key.startswith("effect:") or key in FRACTION_PROFILES:
            arr = np.asarray(value, dtype=float)  # JSON null (NaN) -> nan
            if arr.ndim == 1:
                out[f"{claim_id} {key}"] = arr
    fractions = [out.get(f"{claim_id} {key}") for key in FRACTION_PROFILES]
    if all(f is not None for f in fractions):
        recall, reasoning, mixed = fractions
        out[f"{claim_id} net_recall"] = recall - reasoning
        out[f"{claim_id} frac_specialized"] = recall + reasoning + mixed
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


def _measured(acts: Activations, claims: Mapping[str, Claim], idx: np.ndarray, seed: int
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point profiles of `claims` on `acts` and their replicates on the pair resamples `idx`."""
    profiles: dict[str, np.ndarray] = {}
    for cid, claim in claims.items():
        profiles.update(claim_profiles(cid, measure(claim, acts, seed=seed).profiles))
    draws: dict[str, list[np.ndarray]] = {kind: [] for kind in profiles}
    for pairs in idx:
        for cid, claim in claims.items():
            found = measure(claim, acts, seed=seed, pairs=pairs, consistency=False).profiles
            for kind, value in claim_profiles(cid, found).items():
                draws[kind].append(value)
    return profiles, ({k: np.vstack(v) for k, v in draws.items()} if len(idx) else {})


def baseline_activations(claim: AgreementClaim, run: ModelRun) -> Activations | None:
    """One model's activations on `claim`'s baseline contrast, restricted to the run's pairs
    (as its main activations are); None when the claim has no baseline or the task set has no
    such contrast (the baseline check is then undefined)."""
    if claim.baseline == "none":
        return None
    variant = run.provider.variant(run.taskset, claim.baseline)
    return None if variant is None else run.provider.get(variant)


def profiles_from_activations(acts: Activations, claims: Mapping[str, Claim] | Iterable[Claim], *, seed: int,
                              n_boot: int = 100, rng: int | np.random.Generator | None = None,
                              name: str | None = None, architecture: str | None = None,
                              baseline: Activations | None = None, baseline_contrast: str = "") -> ModelProfile:
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
    acts : engine.activations.Activations
    claims : mapping id -> Claim, or iterable of Claim
    seed : int, keyword-only
        Folds (as in the per-model run) and, when `rng` is None, the bootstrap draws.
    n_boot : int, keyword-only
        Bootstrap resamples (0 = none). Cost: n_boot re-analyses of every claim, twice with a
        `baseline`; H3 dominates (measured 0.16 s per replicate for H1+H2+H3 on smollm2's
        cached activations; expect about 3x on qwen0.5b's 117k neurons). Measured: H4 on
        smollm2 + qwen0.5b with warm captures, n_boot 100 and the baseline, 6.4 min on the
        shared 2-core machine.
    rng : int or Generator, optional, keyword-only
    name, architecture : str, optional, keyword-only
        Default ``acts.meta["model"]`` and ``acts.meta["architecture"]`` (else "unknown").
    baseline : Activations, optional, keyword-only
        The same model on a surface-only contrast of the same pairs (same pair ids, same
        order): its profiles and replicates use the same resampled pairs as the main ones,
        so a replicate's difference between the two is a paired bootstrap draw.
    baseline_contrast : str, keyword-only
        The contrast's name, recorded.

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
    if baseline is not None and tuple(baseline.pair_ids) != tuple(acts.pair_ids):
        raise ValueError(f"the baseline contrast {baseline_contrast or ''} has pairs {len(baseline.pair_ids)} "
                         f"that are not the main pairs ({acts.n_pairs}) in the same order: a paired bootstrap "
                         "needs the same pairs")
    idx = bootstrap_pairs(acts.n_pairs, n_boot=n_boot, rng=seed if rng is None else rng)
    profiles, replicates = _measured(acts, claims, idx, seed)
    if not profiles:
        raise ValueError(f"claims {list(claims)} yield no per-layer profile")
    base, base_reps = _measured(baseline, claims, idx, seed) if baseline is not None else ({}, {})
    meta = getattr(acts, "meta", {}) or {}
    return ModelProfile(name or str(meta.get("model", "model")),
                        architecture or str(meta.get("architecture", "unknown")),
                        len(next(iter(profiles.values()))), profiles, replicates, acts.n_pairs,
                        idx if n_boot else None, tuple(acts.pair_ids), base, base_reps,
                        baseline_contrast if baseline is not None else "")


def _bootstrap_mode(bundles: Sequence[ModelProfile]) -> str:
    if not all(b.replicates for b in bundles):
        return "none"
    first = bundles[0]
    joint = all(b.boot_pairs is not None and first.boot_pairs is not None
                and b.boot_pairs.shape == first.boot_pairs.shape and np.array_equal(b.boot_pairs, first.boot_pairs)
                and b.pair_ids == first.pair_ids for b in bundles)
    return "joint" if joint else "independent"


def baseline_agreement(p1, p2, *, grid: int, method: str) -> np.ndarray:
    """Agreement of two baseline profiles (stacks broadcast as in `stats.profiles.agreement`),
    where a flat but finite profile counts as 0: a contrast that specializes nothing anywhere
    shares no depth pattern with the other model (a NaN would make the baseline, not the
    claim, undefined). Non-finite profiles stay NaN.

    Examples
    --------
    >>> float(baseline_agreement(np.zeros(6), np.arange(8.0), grid=5, method="spearman"))
    0.0
    """
    rho = agreement(p1, p2, grid=grid, method=method, nan_policy=NAN_POLICY)
    finite = (np.isfinite(to_common_grid(p1, grid=grid, nan_policy=NAN_POLICY)).all(axis=-1)
              & np.isfinite(to_common_grid(p2, grid=grid, nan_policy=NAN_POLICY)).all(axis=-1))
    return np.where(np.isnan(rho) & finite, 0.0, rho)


def _interval(reps: np.ndarray, level: float) -> tuple[float, float, int]:
    """Percentile interval of replicates; NaN bounds when too few are defined."""
    ci = bootstrap_ci(reps, level=level)
    used = int(ci.n_used)
    if used < MIN_DEFINED_REPLICATES * reps.shape[0]:
        return float("nan"), float("nan"), used
    return float(ci.low), float(ci.high), used


def _check(ok: bool, defined: bool) -> bool | None:
    return bool(ok) if defined else None


def _pair_row(claim: AgreementClaim, kind: str, a: ModelProfile, b: ModelProfile, rho: float,
              rng: np.random.Generator, use_boot: bool) -> dict:
    test = agreement_test(a.profiles[kind], b.profiles[kind], n_resamples=claim.n_permutations,
                          rng=rng, grid=claim.grid_points, method=claim.method,
                          null=claim.null, nan_policy=NAN_POLICY)
    row: dict[str, Any] = {"kind": kind, "model_a": a.name, "model_b": b.name, "correlation": rho,
                           "pvalue": test.pvalue, "null": claim.null, "ci_low": None, "ci_high": None,
                           "n_boot": 0}
    both_boot = use_boot and kind in a.replicates and kind in b.replicates
    n = min(a.n_boot, b.n_boot)  # equal for a joint bootstrap
    reps = None
    if both_boot:
        reps = agreement(a.replicates[kind][:n], b.replicates[kind][:n], grid=claim.grid_points,
                         method=claim.method, nan_policy=NAN_POLICY)
        ci = bootstrap_ci(reps, level=claim.ci_level)
        row.update(ci_low=float(ci.low), ci_high=float(ci.high), n_boot=int(ci.n_used))
    checks: dict[str, bool | None] = {
        "threshold": _check(rho >= claim.threshold, np.isfinite(rho)),
        "pvalue": _check(test.pvalue < claim.alpha, np.isfinite(test.pvalue)),
    }
    if claim.baseline != "none":
        row.update(baseline_contrast=claim.baseline, baseline=None, excess=None,
                   excess_ci_low=None, excess_ci_high=None, n_boot_excess=0)
        if kind in a.baseline and kind in b.baseline:
            base = float(baseline_agreement(a.baseline[kind], b.baseline[kind], grid=claim.grid_points,
                                            method=claim.method))
            row.update(baseline=base, excess=rho - base)
        paired = (both_boot and kind in a.baseline_replicates and kind in b.baseline_replicates
                  and _bootstrap_mode([a, b]) == "joint")
        low = float("nan")
        if paired:
            base_reps = baseline_agreement(a.baseline_replicates[kind][:n], b.baseline_replicates[kind][:n],
                                           grid=claim.grid_points, method=claim.method)
            low, high, used = _interval(reps - base_reps, claim.ci_level)
            row.update(excess_ci_low=low, excess_ci_high=high, n_boot_excess=used)
        # Undefined without paired replicates of both models (e.g. a model read from an earlier
        # run's evidence.json, which keeps no baseline): two points decide nothing here.
        checks["baseline"] = _check(low > 0, np.isfinite(low))
    row["checks"] = checks
    row["passed"] = all(v is True for v in checks.values())
    row["outcome"] = ("pass" if row["passed"] else
                      "fail" if any(v is False for v in checks.values()) else "undefined")
    return row


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "undefined" if x is None or not np.isfinite(x) else format(x, spec)


def _worst(rows: list[dict], key: str, sign: int) -> dict:
    """The row with the smallest (sign=1) or largest (sign=-1) `key`; undefined comes first."""
    return min(rows, key=lambda r: -np.inf if r[key] is None or not np.isfinite(r[key]) else sign * r[key])


def _where(r: dict) -> str:
    flat = "" if np.isfinite(r["correlation"]) else ": a flat profile has no ranks"
    return f"{r['model_a']} vs {r['model_b']}, {r['kind']}{flat}"


def _undefined_reasons(rows: list[dict]) -> list[str]:
    reasons = []
    for r in rows:
        missing = [name for name, v in r["checks"].items() if v is None]
        if missing:
            what = {"threshold": "correlation", "pvalue": "p", "baseline": "interval over the baseline"}
            reasons.append(f"{_where(r)}: {', '.join(what[m] for m in missing)} undefined")
    return reasons


def _message(claim: AgreementClaim, rows: list[dict], verdict: str) -> str:
    worst, top_p = _worst(rows, "correlation", 1), _worst(rows, "pvalue", -1)
    name = claim.method.capitalize()
    text = (f"{claim.id}: min pairwise {name} {_fmt(worst['correlation'])} ({_where(worst)}), "
            f"required >= {claim.threshold:g}; max {claim.null} p {_fmt(top_p['pvalue'], '.3g')} "
            f"({_where(top_p)}), required < {claim.alpha:g}")
    if claim.baseline != "none":
        low = _worst(rows, "excess_ci_low", 1)
        text += (f"; least excess over the {claim.baseline} baseline {_fmt(low['excess'])} "
                 f"[{_fmt(low['excess_ci_low'])}, {_fmt(low['excess_ci_high'])}] ({_where(low)}), "
                 f"required interval above 0")
    if verdict == "inconclusive":
        reasons = _undefined_reasons(rows)
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        text += f". Inconclusive: {'; '.join(reasons[:3])}{more}"
    return text


def _measured_text(claim: AgreementClaim, r: dict) -> str:
    text = f"{claim.method} {_fmt(r['correlation'])}"
    if r["ci_low"] is not None:
        text += f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
    text += f", p = {_fmt(r['pvalue'], '.3g')}"
    if "baseline" in r:
        text += (f"; baseline {_fmt(r['baseline'])}, excess {_fmt(r['excess'])} "
                 f"[{_fmt(r['excess_ci_low'])}, {_fmt(r['excess_ci_high'])}]")
    return text


def evaluate_h4(claim: AgreementClaim, bundles: Sequence[ModelProfile], *, seed: int) -> ClaimResult:
    """Agreement of every pair of models on every profile kind of `claim`, and the verdict.

    Per kind and pair: correlation on the common depth grid >= ``claim.threshold``, agreement
    test p < ``claim.alpha`` under ``claim.null``, and (unless ``claim.baseline`` is "none")
    the bootstrap interval of correlation minus the baseline contrast's correlation above 0.
    Supported when every check of every row passes; refuted when a defined check fails;
    inconclusive otherwise (a flat profile, an undefined p, no paired baseline replicates).

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
            if kind in b.baseline:
                profiles[f"baseline:{b.name}:{kind}"] = to_common_grid(b.baseline[kind], grid=res.grid,
                                                                       nan_policy=NAN_POLICY)
        profiles[f"agreement:{kind}"] = res.matrix
        agreement_lists[kind] = res.matrix.tolist()
        for i in range(len(bundles)):
            for j in range(i + 1, len(bundles)):
                rng = np.random.default_rng([seed, k, i, j])  # one stream per (kind, pair)
                rows.append(_pair_row(claim, kind, bundles[i], bundles[j], float(res.matrix[i, j]),
                                      rng, mode != "none"))
    outcomes = {r["outcome"] for r in rows}
    verdict = ("refuted" if "fail" in outcomes else "inconclusive" if "undefined" in outcomes
               else "supported")
    finite = [r["correlation"] for r in rows if np.isfinite(r["correlation"])]
    excess_lows = [r.get("excess_ci_low") for r in rows]
    figures: dict[str, Any] = {
        "models": names, "kinds": kinds,
        "architecture_by_model": {b.name: b.architecture for b in bundles},
        "layers_by_model": {b.name: b.n_layers for b in bundles},
        "pairs_by_model": {b.name: b.n_pairs for b in bundles},
        "bootstrap_by_model": {b.name: b.n_boot for b in bundles},
        "baseline_by_model": {b.name: b.baseline_contrast or None for b in bundles},
        "bootstrap": mode, "agreement": agreement_lists, "pairs": rows,
        "null": claim.null, "baseline": claim.baseline,
        "min_correlation": min(finite) if len(finite) == len(rows) else float("nan"),
        "max_pvalue": (max(r["pvalue"] for r in rows) if all(np.isfinite(r["pvalue"]) for r in rows)
                       else float("nan")),
        "min_excess_ci_low": (min(excess_lows) if claim.baseline != "none" and all(
            x is not None and np.isfinite(x) for x in excess_lows) else float("nan")),
        "n_agreeing": sum(r["passed"] for r in rows), "n_comparisons": len(rows),
        "n_undefined": sum(r["outcome"] == "undefined" for r in rows),
        "grid_points": claim.grid_points, "model": ",".join(names),
    }
    comparison = [ComparisonRow(f"{r['kind']}: {r['model_a']} vs {r['model_b']}",
                                claim.reported.get(f"{r['kind']}: {r['model_a']} vs {r['model_b']}"),
                                _measured_text(claim, r)) for r in rows]
    return ClaimResult.for_claim(
        claim, level="model",
        model=",".join(names), verdict=verdict, message=_message(claim, rows, verdict),
        thresholds=claim.thresholds(), figures=figures, comparison=comparison, profiles=profiles,
        meta={"seed": seed, "component_level": "model",
              "profile_label": "profile (per kind, see legend)", "nan_policy": NAN_POLICY,
              "bootstrap": mode, "null": claim.null, "baseline": claim.baseline},
        kind="model_agreement")
