"""``--export parquet``: the files load with pandas, carry their schema and the run's metadata, and
their numbers agree with each other through an independent reference (scipy's Mann-Whitney U on
the exported per-prompt values reproduces the exported per-component statistic).

HF ``datasets`` is not a test dependency (it pulls in hub, fsspec and multiprocessing packages);
the files are plain Parquet, which ``datasets.Dataset.from_parquet`` reads like pandas does.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from engine.activations import Activations
from engine.model.tl_names import TLNaming
from evaluation.component_claim import load_claim
from evaluation.component_names import with_tl_names
from evaluation.components import evaluate_claim
from fixtures.options import shipped_claims_dir
from report.parquet_export import METADATA_KEY, export_claim

pq = pytest.importorskip("pyarrow.parquet")  # a test dependency (scripts/install.sh); named if missing


def _acts(n_pairs: int = 24, layers: int = 5, heads: int = 3, seed: int = 0) -> Activations:
    rng = np.random.default_rng(seed)
    shift = np.r_[np.zeros(n_pairs), np.ones(n_pairs)][:, None] * np.linspace(0, 2, layers)  # later layers differ
    arrays = {"resid_norm_last": rng.normal(size=(2 * n_pairs, layers)) + shift,
              "resid_norm_mean": rng.normal(size=(2 * n_pairs, layers)),
              "attn_entropy": rng.normal(size=(2 * n_pairs, layers, heads)).astype(np.float32)}
    return Activations(arrays, tuple(f"p{i}" for i in range(n_pairs)), ("recall", "reasoning"), {"model": "m"})


@pytest.fixture()
def exported(tmp_path):
    claim = load_claim(shipped_claims_dir() / "h1_layers" / "claim.yaml")
    acts = _acts()
    result = with_tl_names(evaluate_claim(claim, acts, seed=0, model="m"), TLNaming())
    run = {"claim_files": {"H1": {"path": str(claim.path), "sha256": "f" * 64}},
           "suite": {"version": "0.1.0", "code_sha256": "c" * 64}, "options": {"seed": 0, "tasks": "core"}}
    paths = export_claim(result, tmp_path, run, acts=acts, features=claim.features, naming=TLNaming())
    return result, acts, paths


def test_one_file_of_components_and_one_of_prompts_per_claim_and_model(exported, tmp_path):
    result, acts, paths = exported
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "parquet/m/H1.components.parquet", "parquet/m/H1.prompts.parquet"]
    components = pd.read_parquet(paths[0])
    csv_like = result.components.reset_index(drop=True)
    assert list(components.columns) == ["model", "claim_id", *csv_like.columns]
    np.testing.assert_array_equal(components["statistic"], csv_like["statistic"])
    assert components["tl_hook"].tolist()[:2] == ["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
    assert components["tl_index"].isna().all()  # a layer's hook is the whole residual vector
    prompts = pd.read_parquet(paths[1])
    assert len(prompts) == 2 * acts.n_pairs * 5 * 2  # prompts x layers x two features
    assert set(prompts["side"]) == {"recall", "reasoning"} and prompts["value"].dtype == np.float32


def test_exported_prompts_reproduce_the_exported_statistic(exported):
    _, _, paths = exported
    components, prompts = pd.read_parquet(paths[0]), pd.read_parquet(paths[1])
    for feature in ("resid_norm_last", "resid_norm_mean"):
        rows = prompts[prompts["feature"] == feature]
        for layer in range(5):
            at = rows[rows["layer"] == layer]
            a = at[at["side"] == "recall"].sort_values("pair_id")["value"].to_numpy(np.float64)
            b = at[at["side"] == "reasoning"].sort_values("pair_id")["value"].to_numpy(np.float64)
            u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
            row = components[(components["feature"] == feature) & (components["layer"] == layer)]
            assert float(row["statistic"].iloc[0]) == pytest.approx(u, rel=1e-6)


def test_every_file_carries_its_schema_and_the_runs_metadata(exported):
    _, _, paths = exported
    for path in paths:
        schema = pq.read_schema(path)
        meta = json.loads(schema.metadata[METADATA_KEY])
        assert (meta["model"], meta["claim_id"], meta["claim_file_sha256"], meta["suite_version"]) == \
            ("m", "H1", "f" * 64, "0.1.0")
        assert all(field.metadata and field.metadata[b"description"] for field in schema)


def test_head_features_name_their_heads():
    from report.parquet_export import prompts_table

    acts = _acts()
    table = prompts_table(acts, ["attn_entropy"], TLNaming(), model="m", claim_id="H2", metadata={}).to_pandas()
    row = table[(table["row"] == 7) & (table["layer"] == 3) & (table["index"] == 2)].iloc[0]
    assert (row["tl_hook"], row["tl_index"]) == ("blocks.3.attn.hook_z", 2)
    assert row["value"] == acts.feature("attn_entropy")[7, 3, 2]
    assert (row["pair_id"], row["side"]) == ("p7", "recall")
    later = table[(table["row"] == 24 + 7) & (table["layer"] == 3) & (table["index"] == 2)].iloc[0]
    assert (later["pair_id"], later["side"]) == ("p7", "reasoning")
