"""Sharded runs end to end: two `tiny` models and one broken shard through submitit's local executor
(the Slurm path's code, in local processes), merged, against a one-host run on the same cache.

The cross-model claim is a copy of H4 with fewer resamples (``U4``: 20 bootstrap replicates,
1,000 surrogates (the least a claim may ask for); same sources, profiles and rule) so that the test stays short; the merge must
give it exactly the figures the one-host run gives it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from cluster.launch import ShardResources, launch, make_executor
from cluster.merge import merge_reports
from cluster.shards import plan_shards, read_status
from fixtures.options import shipped_claims_dir
from report.evidence import read_evidence

pytest.importorskip("submitit")  # a test dependency (scripts/install.sh); named if missing


def _fast_h4(root: Path) -> Path:
    """A claims dir holding U4: the shipped H4 with 20 bootstrap replicates and 1,000 surrogates (the least a claim may ask for)."""
    source = (shipped_claims_dir() / "h4_cross_architecture" / "model_agreement.yaml").read_text()
    lines = []
    for line in source.splitlines():
        if line.startswith("id: "):
            line = "id: U4"
        elif line.startswith("n_bootstrap:"):
            line = "n_bootstrap: 20"
        elif line.startswith("n_permutations:"):
            line = "n_permutations: 1000"
        elif line.strip().startswith(("H1: ../", "H2: ../", "H3: ../")):
            cid, rel = line.strip().split(": ")
            line = f"  {cid}: {(shipped_claims_dir() / 'h4_cross_architecture' / rel).resolve()}"
        lines.append(line)
    (root / "u4_agreement").mkdir(parents=True)
    (root / "u4_agreement" / "model_agreement.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    base = tmp_path_factory.mktemp("sharded")
    claims = _fast_h4(base / "claims")
    cache = base / "cache"
    flags = ["--no-controls", "--claims", str(claims), "--progress", "off", "--export", "parquet"]
    specs = plan_shards(["tiny", "tiny:1", "no-such-model"], base / "run", claim_groups=[["H1", "U4"]],
                        cache_dir=str(cache), pytest_args=flags, threads=1)
    outcomes = launch(specs, make_executor("local", base / "run" / "jobs", ShardResources(gpus=0, timeout_min=20)))
    merged = merge_reports([s.report_dir for s in specs], base / "run" / "merged", models=["tiny", "tiny:1"])
    one_host = base / "one-host"
    import subprocess

    subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "hypotheses", "--model", "tiny,tiny:1",
                    "--claim", "H1", "--claim", "U4", "--report-dir", str(one_host), "--cache-dir", str(cache),
                    "-p", "no:cacheprovider", "-q", *flags], check=False, capture_output=True)
    return specs, outcomes, merged, read_evidence(base / "run" / "merged" / "evidence.json"), \
        read_evidence(one_host / "evidence.json")


def test_every_shard_ran_or_is_listed_as_failed(sharded):
    specs, outcomes, merged, evidence, _ = sharded
    assert [o.ok for o in outcomes] == [True, True, False]
    assert outcomes[2].returncode == 4 and "unknown model" in outcomes[2].error
    assert read_status(specs[2].report_dir).returncode == 4  # the status file the merge reads
    assert merged.failed == [specs[2].name]
    assert evidence["run"]["merge"]["failed_shards"] == [specs[2].name]
    listed = [e for e in evidence["errors"] if e.get("shard") == specs[2].name]
    assert listed and listed[0]["when"] == "shard" and "status 4" in listed[0]["error"]


def test_every_claim_and_model_record_is_merged(sharded):
    _, _, _, evidence, one_host = sharded
    pairs = {(r["id"], r["model"]) for r in evidence["records"]}
    assert pairs == {("H1", "tiny"), ("H1", "tiny:1"), ("U4", "tiny,tiny:1")}
    assert pairs == {(r["id"], r["model"]) for r in one_host["records"]}
    h1 = {r["model"]: r for r in evidence["records"] if r["id"] == "H1"}
    for record in one_host["records"]:
        if record["id"] == "H1":  # the same cache, the same figures
            assert h1[record["model"]]["figures"] == record["figures"]


def test_cross_model_claim_at_the_merge_equals_the_one_host_run(sharded):
    _, _, _, evidence, one_host = sharded
    merged = next(r for r in evidence["records"] if r["id"] == "U4")
    single = next(r for r in one_host["records"] if r["id"] == "U4")
    assert merged["figures"]["bootstrap"] == "joint"  # replicates travelled with the shards
    assert merged["figures"]["bootstrap_by_model"] == {"tiny": 20, "tiny:1": 20}
    assert (merged["verdict"], merged["message"], merged["figures"]) == \
        (single["verdict"], single["message"], single["figures"])
    assert set(evidence["merge_inputs"]["U4"]) == {"tiny", "tiny:1"}


def test_merged_report_lists_the_shards(sharded):
    specs, _, merged, _, _ = sharded
    html = merged.report_path.read_text()
    assert all(spec.name in html for spec in specs) and "unknown model" in html
    out = merged.report_path.parent
    assert (out / "components" / "tiny" / "H1.csv").is_file()
    import pandas as pd

    from report.evidence import file_slug

    for model in map(file_slug, ("tiny", "tiny:1")):  # each shard's Parquet files, beside the merged report
        table = pd.read_parquet(out / "parquet" / model / "H1.components.parquet")
        assert set(table["tl_hook"]) == {f"blocks.{layer}.hook_resid_post" for layer in range(4)}
        assert len(pd.read_parquet(out / "parquet" / model / "H1.prompts.parquet")) > 0
