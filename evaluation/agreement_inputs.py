"""What H4 needs from each model, computed where the model runs and evaluated wherever they meet.

Contents
--------
live_bundles         : the `ModelProfile` of every ``--model`` of a run (profiles, bootstrap
                       replicates, baseline contrast), computed once per model and run.
profile_to_record    : a `ModelProfile` as a JSON-ready dict (exact: floats round-trip).
profile_from_record  : the `ModelProfile` back from that dict; a named error for a bad one.
shard_inputs         : model -> `profile_to_record` of a run's models (what a shard records).
evaluate_from_inputs : H4 on the profiles recorded by several runs (the merge of a sharded run),
                       with earlier runs' plain records for models that recorded none.

A one-host run with models a, b computes a's and b's bundles and calls `evaluate_h4`; a sharded
run computes a's bundle on one host and b's on another, records each in its evidence.json, and
the merge calls the same `evaluate_h4` on the same bundles in the same order: one rule, one result.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.agreement import (
    ModelProfile,
    baseline_activations,
    bundles_from_records,
    evaluate_h4,
    profiles_from_activations,
)
from evaluation.agreement_claim import AgreementClaim
from evaluation.result import ClaimResult, jsonable

if TYPE_CHECKING:
    from fixtures.session import RunSession

#: Version of the record layout below; a record of another version is refused by name.
PROFILE_RECORD_VERSION = 1


def live_bundles(claim: AgreementClaim, session: RunSession) -> list[ModelProfile]:
    """The `ModelProfile` of each of the run's models for `claim`, in ``--model`` order.

    Each model's bundle is built once per run (`fixtures.session.ModelRun.shared`), so a shard
    that records its bundle and then evaluates H4 (two models or more) computes it once.

    Raises
    ------
    evaluation.components.InsufficientPairs
        ``--correct-only`` leaves a model fewer pairs than the source claims' folds need.
    """
    from evaluation.components import InsufficientPairs

    options = session.options
    needed = max(2 * c.cv.folds for c in claim.sources.values())
    bundles = []
    for name in options.models:
        run = session.model_run(name)

        def build(run=run, name=name) -> ModelProfile:
            try:
                acts = run.activations
                if acts.n_pairs < needed:
                    raise InsufficientPairs(
                        f"{claim.id}: --correct-only leaves {acts.n_pairs} pairs of {len(run.taskset.pairs)} that "
                        f"{name} answers correctly on both sides; its source claims need at least {needed}")
                return profiles_from_activations(acts, claim.sources, seed=options.seed,
                                                 n_boot=claim.n_bootstrap, name=name,
                                                 architecture=run.architecture,
                                                 baseline=baseline_activations(claim, run),
                                                 baseline_contrast=claim.baseline)
            finally:
                run.release()

        bundles.append(run.shared(f"agreement-bundle:{claim.id}", build))
    return bundles


def _arrays(mapping: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {k: jsonable(np.asarray(v, dtype=float)) for k, v in mapping.items()}


def profile_to_record(bundle: ModelProfile) -> dict[str, Any]:
    """`bundle` as a JSON-ready dict; NaN becomes null and comes back as NaN.

    Examples
    --------
    >>> mp = ModelProfile("m", "llama", 2, {"H1 effect:x": [0.5, float("nan")]})
    >>> profile_from_record(profile_to_record(mp)).profiles["H1 effect:x"].tolist()
    [0.5, nan]
    """
    return {
        "record_version": PROFILE_RECORD_VERSION,
        "name": bundle.name, "architecture": bundle.architecture, "n_layers": bundle.n_layers,
        "n_pairs": bundle.n_pairs, "pair_ids": list(bundle.pair_ids),
        "boot_pairs": None if bundle.boot_pairs is None else np.asarray(bundle.boot_pairs).tolist(),
        "profiles": _arrays(bundle.profiles), "replicates": _arrays(bundle.replicates),
        "baseline": _arrays(bundle.baseline), "baseline_replicates": _arrays(bundle.baseline_replicates),
        "baseline_contrast": bundle.baseline_contrast,
    }


def _float_arrays(value: Any, where: str) -> dict[str, np.ndarray]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping of kind -> numbers")
    return {str(k): np.asarray([np.nan if x is None else x for x in np.ravel(np.asarray(v, dtype=object))],
                               dtype=float).reshape(np.shape(np.asarray(v, dtype=object)))
            for k, v in value.items()}


def profile_from_record(record: Mapping[str, Any], *, where: str = "profile record") -> ModelProfile:
    """The `ModelProfile` of a `profile_to_record` dict.

    Raises
    ------
    ValueError
        Naming `where` and the field: another record version, a missing or malformed field.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(record).__name__}")
    if record.get("record_version") != PROFILE_RECORD_VERSION:
        raise ValueError(f"{where}: `record_version` is {record.get('record_version')!r}; this suite reads "
                         f"{PROFILE_RECORD_VERSION}")
    missing = [k for k in ("name", "architecture", "n_layers", "profiles") if k not in record]
    if missing:
        raise ValueError(f"{where}: lacks {', '.join(f'`{k}`' for k in missing)}")
    boot = record.get("boot_pairs")
    try:
        return ModelProfile(
            str(record["name"]), str(record["architecture"]), int(record["n_layers"]),
            _float_arrays(record["profiles"], f"{where}: `profiles`"),
            _float_arrays(record.get("replicates") or {}, f"{where}: `replicates`"),
            record.get("n_pairs"), None if boot is None else np.asarray(boot, dtype=np.int64),
            tuple(str(p) for p in record.get("pair_ids") or ()),
            _float_arrays(record.get("baseline") or {}, f"{where}: `baseline`"),
            _float_arrays(record.get("baseline_replicates") or {}, f"{where}: `baseline_replicates`"),
            str(record.get("baseline_contrast") or ""))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def shard_inputs(claim: AgreementClaim, session: RunSession) -> dict[str, dict[str, Any]]:
    """Model name -> `profile_to_record` of its bundle, for every model of the run; only the
    profile kinds `claim` compares are kept (the others do not enter `evaluate_h4`)."""
    kinds = {k.name for k in claim.kinds}

    def kept(bundle: ModelProfile) -> ModelProfile:
        return replace(bundle, **{attr: {k: v for k, v in getattr(bundle, attr).items() if k in kinds}
                                  for attr in ("profiles", "replicates", "baseline", "baseline_replicates")})

    return {bundle.name: profile_to_record(kept(bundle)) for bundle in live_bundles(claim, session)}


def evaluate_from_inputs(claim: AgreementClaim, inputs: Mapping[str, Mapping[str, Any]],
                         records: Sequence[Mapping[str, Any]] = (), *, models: Sequence[str], seed: int,
                         where: str = "merge inputs") -> ClaimResult:
    """H4 on the bundles that runs recorded (`shard_inputs`), in the order of `models`.

    A model of `models` without a recorded bundle is read from `records` (its H1-H3 evidence
    records, as ``--compare-with`` does: no replicates, so at best inconclusive).

    Raises
    ------
    evaluation.agreement.NotEnoughModelsError
        Fewer than two models in all.
    ValueError
        A malformed bundle (named by `where` and model), or a model with neither.
    """
    bundles = []
    without = {name for name in models if name not in inputs}
    plain_records = [r for r in records if r.get("model") in without and r.get("id") in claim.sources]
    plain = ({b.name: b for b in bundles_from_records(plain_records, claims=sorted(claim.sources))}
             if plain_records else {})
    for name in models:
        if name in inputs:
            bundles.append(profile_from_record(inputs[name], where=f"{where}: {claim.id} / {name}"))
        elif name in plain:
            bundles.append(plain[name])
    return evaluate_h4(claim, bundles, seed=seed)
