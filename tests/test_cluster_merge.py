"""The merge's rules on hand-made shards (no model): refusals, conflicts, failed shards, and H4's
inputs surviving evidence.json unchanged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.merge import MergeRefused, merge_reports
from evaluation.agreement import ModelProfile, evaluate_h4
from evaluation.agreement_claim import load_agreement_claim
from evaluation.agreement_inputs import evaluate_from_inputs, profile_from_record, profile_to_record
from fixtures.options import shipped_claims_dir
from report.evidence import read_evidence, write_evidence

FILES = {"H1": {"path": "/claims/h1/claim.yaml", "sha256": "a" * 64},
         "H2": {"path": "/claims/h2/claim.yaml", "sha256": "b" * 64}}


def _run(shard: str, *, files=FILES, suite="1", seed=0) -> dict:
    return {"shard": shard, "claim_files": files, "claim_files_sha256": str(sorted(
        (k, v["sha256"]) for k, v in files.items())), "suite": {"version": "0.1.0", "code_sha256": suite},
        "options": {"seed": seed, "tasks": "core", "claim_ids": ["H1", "H2"], "models": [shard]}}


def _record(claim: str, model: str, count: int, verdict: str = "refuted") -> dict:
    return {"id": claim, "model": model, "kind": "component", "verdict": verdict, "title": claim,
            "statement": "", "level": "layer", "message": f"{claim}: {count}", "figures": {"specialized": count},
            "profiles": {}, "test": f"test_claim[{claim}-{model}]", "outcome": "failed"}


def _shard(root: Path, name: str, records: list[dict], **run) -> Path:
    write_evidence(root / name / "evidence.json", records, run=_run(name, **run))
    return root / name


def test_shards_of_other_claim_files_are_refused_and_named(tmp_path):
    changed = {**FILES, "H2": {"path": "/claims/h2/claim.yaml", "sha256": "c" * 64}}
    a = _shard(tmp_path, "a", [_record("H1", "m1", 3)])
    b = _shard(tmp_path, "b", [_record("H1", "m2", 3)])
    c = _shard(tmp_path, "c", [_record("H1", "m3", 3)], files=changed)
    with pytest.raises(MergeRefused, match=r"different claim files \(shards a, b: .*; shard c: .*claim files "
                                           r"that differ: H2"):
        merge_reports([a, b, c], tmp_path / "merged")
    assert not (tmp_path / "merged" / "evidence.json").exists()


def test_shards_of_another_suite_version_or_seed_are_refused(tmp_path):
    a = _shard(tmp_path, "a", [_record("H1", "m1", 3)])
    b = _shard(tmp_path, "b", [_record("H1", "m2", 3)], suite="2")
    with pytest.raises(MergeRefused, match=r"different suite version \(shard a: .*shard b:"):
        merge_reports([a, b], tmp_path / "merged")
    c = _shard(tmp_path, "c", [_record("H1", "m3", 3)], seed=1)
    with pytest.raises(MergeRefused, match="different seed"):
        merge_reports([a, c], tmp_path / "merged")


def test_a_claim_measured_twice_with_different_figures_is_flagged_and_both_are_kept(tmp_path):
    a = _shard(tmp_path, "a", [_record("H1", "m1", 3), _record("H2", "m1", 5)])
    b = _shard(tmp_path, "b", [_record("H1", "m1", 4), _record("H2", "m1", 5)])  # H2 equal: no conflict
    result = merge_reports([a, b], tmp_path / "merged")
    evidence = read_evidence(result.evidence_path)
    assert [(r["id"], r["model"], r["shard"]) for r in evidence["records"]] == [("H1", "m1", "a"), ("H2", "m1", "a")]
    h1 = evidence["records"][0]
    assert h1["merge_conflict"] == {"shards": ["a", "b"], "differs": ["specialized"]}
    assert "merge_conflict" not in evidence["records"][1]
    [conflict] = evidence["run"]["merge"]["conflicts"]
    assert (conflict["id"], conflict["shards"], conflict["record"]["figures"]) == ("H1", ["a", "b"], {"specialized": 4})
    assert any(e["when"] == "merge" and "measured twice with different figures" in e["error"] for e in evidence["errors"])
    assert "Measured twice with different figures" in result.report_path.read_text()


def test_a_failed_shard_is_listed_and_the_merge_completes(tmp_path):
    a = _shard(tmp_path, "a", [_record("H1", "m1", 3, "supported")])
    dead = tmp_path / "dead"
    dead.mkdir()
    result = merge_reports([a, dead], tmp_path / "merged")
    evidence = read_evidence(result.evidence_path)
    assert result.failed == ["dead"] and evidence["run"]["merge"]["failed_shards"] == ["dead"]
    assert [e["test"] for e in evidence["errors"]] == ["(shard dead)"]
    assert "no usable evidence.json" in evidence["errors"][0]["error"]
    assert [r["id"] for r in evidence["records"]] == ["H1"]


def _bundle(name: str, n_layers: int, kinds: list[str], rng: np.random.Generator, n_pairs: int = 12) -> ModelProfile:
    boot = np.random.default_rng(0).integers(0, n_pairs, size=(20, n_pairs))
    profiles = {k: rng.normal(size=n_layers) for k in kinds}
    profiles[kinds[0]][1] = np.nan  # an undefined layer survives the trip
    return ModelProfile(name, "llama", n_layers, profiles, {k: rng.normal(size=(20, n_layers)) for k in kinds},
                        n_pairs, boot, tuple(f"p{i}" for i in range(n_pairs)),
                        {k: rng.normal(size=n_layers) for k in kinds},
                        {k: rng.normal(size=(20, n_layers)) for k in kinds}, "recall_filler")


def test_h4_on_recorded_inputs_equals_h4_on_the_bundles_themselves():
    claim = load_agreement_claim(shipped_claims_dir() / "h4_cross_architecture" / "model_agreement.yaml")
    kinds = [k.name for k in claim.kinds]
    rng = np.random.default_rng(7)
    bundles = [_bundle("a", 6, kinds, rng), _bundle("b", 9, kinds, rng)]
    import json

    inputs = {b.name: json.loads(json.dumps(profile_to_record(b), allow_nan=False)) for b in bundles}
    back = profile_from_record(inputs["a"])
    for attr in ("profiles", "replicates", "baseline", "baseline_replicates"):
        for kind, value in getattr(bundles[0], attr).items():
            np.testing.assert_array_equal(getattr(back, attr)[kind], value)
    np.testing.assert_array_equal(back.boot_pairs, bundles[0].boot_pairs)
    direct = evaluate_h4(claim, bundles, seed=3)
    merged = evaluate_from_inputs(claim, inputs, models=["a", "b"], seed=3)
    assert merged.figures["bootstrap"] == direct.figures["bootstrap"] == "joint"
    assert json.dumps(merged.to_record()) == json.dumps(direct.to_record())
    with pytest.raises(ValueError, match=r"merge inputs: H4 / b: `record_version`"):
        evaluate_from_inputs(claim, {**inputs, "b": {**inputs["b"], "record_version": 99}}, models=["a", "b"], seed=3)
