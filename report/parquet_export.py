"""``--export parquet``: a claim's results on one model as Parquet files pandas, polars and HF
``datasets`` read directly.

Contents
--------
parquet_dir       : ``<report-dir>/parquet/<model>/``.
file_metadata     : the run metadata every file carries (model, claim, claim file hash, suite).
components_table  : the per-component results (the CSV's rows) as an Arrow table with a schema.
prompts_table     : the per-prompt values of the captured arrays the claim used, long format:
                    one row per prompt, feature, layer and head or unit, with its TransformerLens
                    hook and index.
export_claim      : write ``<claim>.components.parquet`` and ``<claim>.prompts.parquet``.
export_for_test   : the same from inside a claim test (the run's report directory and metadata).

Each file's Arrow schema holds a description per column (field metadata ``description``) and,
under the key ``circuit_hypotheses``, the JSON of `file_metadata`; read it back with
``pyarrow.parquet.read_schema(path).metadata[b"circuit_hypotheses"]``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluation.component_claim import FEATURES_BY_LEVEL
from report.evidence import RUN_METADATA_KEY, file_slug

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from engine.activations import Activations
    from engine.model.tl_names import TLNaming
    from evaluation.result import ClaimResult

METADATA_KEY = b"circuit_hypotheses"
COMPONENT_COLUMNS = {
    "model": "model as given to --model", "claim_id": "claim id",
    "layer": "layer (block) index", "index": "head or unit index within the layer; -1 for a layer",
    "tl_hook": "TransformerLens hook of the component", "tl_index": "index in that hook (null: the whole vector)",
    "feature": "captured array tested", "statistic": "test statistic", "pvalue": "p-value",
    "p_adj": "p-value after the claim's correction", "effect": "effect size, side a minus side b",
    "ci_low": "effect's interval, lower bound", "ci_high": "effect's interval, upper bound",
    "consistency": "fold consistency", "label": "recall / reasoning / mixed / none",
}
PROMPT_COLUMNS = {
    "model": "model as given to --model", "claim_id": "claim id", "row": "prompt row (side a first, then side b)",
    "pair_id": "prompt pair id", "side": "side label (recall / reasoning, ...)", "feature": "captured array",
    "layer": "layer (block) index", "index": "head or unit index; -1 for a layer-level array",
    "tl_hook": "TransformerLens hook of the component", "tl_index": "index in that hook (null: the whole vector)",
    "value": "the prompt's value of the feature (float32)",
}


def parquet_dir(report_dir: str | os.PathLike[str], model: str) -> Path:
    """``<report_dir>/parquet/<model slug>/``."""
    return Path(report_dir) / "parquet" / file_slug(model)


def file_metadata(result: ClaimResult, run: Mapping[str, Any]) -> dict[str, Any]:
    """Model, claim, claim file and its hash, suite version and code hash, seed and task set."""
    claim_files = run.get("claim_files") or {}
    suite = run.get("suite") or {}
    options = run.get("options") or {}
    return {"model": result.model, "claim_id": result.claim_id, "kind": result.kind, "level": result.level,
            "verdict": result.verdict,
            "claim_file": (claim_files.get(result.claim_id) or {}).get("path") or result.meta.get("claim_file"),
            "claim_file_sha256": (claim_files.get(result.claim_id) or {}).get("sha256"),
            "suite_version": suite.get("version"), "suite_code_sha256": suite.get("code_sha256"),
            "seed": options.get("seed"), "tasks": options.get("tasks"), "shard": run.get("shard")}


def _with_schema(table: pa.Table, descriptions: Mapping[str, str], metadata: Mapping[str, Any]) -> pa.Table:
    import pyarrow as pa

    fields = [field.with_metadata({"description": descriptions.get(field.name, "")}) for field in table.schema]
    schema = pa.schema(fields, metadata={METADATA_KEY: json.dumps(metadata, default=str).encode()})
    return table.cast(schema)


def components_table(result: ClaimResult, metadata: Mapping[str, Any]) -> pa.Table:
    """The component CSV's rows (with ``model`` and ``claim_id`` first) as an Arrow table."""
    import pyarrow as pa

    frame: pd.DataFrame = result.components.copy()
    frame.insert(0, "claim_id", result.claim_id)
    frame.insert(0, "model", result.model)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return _with_schema(table, COMPONENT_COLUMNS, metadata)


def prompts_table(acts: Activations, features: Sequence[str], naming: TLNaming, *, model: str, claim_id: str,
                  metadata: Mapping[str, Any]) -> pa.Table:
    """Per-prompt values of `features` ([P, L] or [P, L, H/N] arrays) in long format.

    Row order: feature, then prompt row, then layer, then index; prompt rows are side a of every
    pair, then side b (as captured).
    """
    import pyarrow as pa

    n = acts.n_pairs
    pair_ids = np.asarray(list(acts.pair_ids) * 2, dtype=object)
    sides = np.repeat(np.asarray(acts.labels, dtype=object), n)
    parts = []
    for feature in features:
        x = np.asarray(acts.feature(feature), dtype=np.float32)
        level = next((lv for lv, names in FEATURES_BY_LEVEL.items() if feature in names), None)
        if level is None or x.ndim != (2 if level == "layer" else 3):
            raise ValueError(f"{claim_id}: feature {feature!r} of shape {x.shape} is not a per-component array "
                             f"({', '.join(f'{lv}: {names}' for lv, names in FEATURES_BY_LEVEL.items())})")
        if x.ndim == 2:
            x = x[:, :, None]
        p, n_layers, width = x.shape
        rows, layers, index = (a.ravel() for a in np.meshgrid(np.arange(p), np.arange(n_layers), np.arange(width),
                                                              indexing="ij"))
        if level == "layer":
            index = np.full_like(index, -1)
        hooks, tl_index = naming.addresses(level, layers, index)
        parts.append(pa.table({
            "model": pa.array([model] * rows.size).dictionary_encode(),
            "claim_id": pa.array([claim_id] * rows.size).dictionary_encode(),
            "row": pa.array(rows.astype(np.int32)), "pair_id": pa.array(pair_ids[rows]).dictionary_encode(),
            "side": pa.array(sides[rows]).dictionary_encode(),
            "feature": pa.array([feature] * rows.size).dictionary_encode(),
            "layer": pa.array(layers.astype(np.int32)), "index": pa.array(index.astype(np.int32)),
            "tl_hook": pa.array(hooks).dictionary_encode(),
            "tl_index": pa.array(tl_index, mask=tl_index < 0, type=pa.int32()),
            "value": pa.array(x.ravel()),
        }))
    return _with_schema(pa.concat_tables(parts), PROMPT_COLUMNS, metadata)


def export_claim(result: ClaimResult, report_dir: str | os.PathLike[str], run: Mapping[str, Any], *,
                 acts: Activations | None = None, features: Sequence[str] = (),
                 naming: TLNaming | None = None) -> list[Path]:
    """Write the claim's Parquet files on its model; return their paths.

    ``<claim>.components.parquet`` when the result has a component table, and
    ``<claim>.prompts.parquet`` when `acts` and `features` are given (component claims).

    Raises
    ------
    ImportError
        pyarrow is not installed (named, with the install command).
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("--export parquet needs pyarrow: pip install 'circuit-hypotheses[parquet]' "
                          "(or pip install pyarrow)") from None
    from engine.model.tl_names import TLNaming

    metadata = file_metadata(result, run)
    out = parquet_dir(report_dir, result.model)
    written = []
    tables = []
    if result.components is not None:
        tables.append(("components", components_table(result, metadata)))
    if acts is not None and features:
        tables.append(("prompts", prompts_table(acts, features, naming or TLNaming(), model=result.model,
                                                claim_id=result.claim_id, metadata=metadata)))
    for what, table in tables:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{file_slug(result.claim_id)}.{what}.parquet"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
        written.append(path)
    return written


def export_for_test(request: Any, result: ClaimResult, *, acts: Activations | None = None,
                    features: Sequence[str] = (), naming: TLNaming | None = None) -> list[Path]:
    """`export_claim` into this run's report directory with this run's metadata (a claim test)."""
    from report.plugin import EVIDENCE_REPORT_KEY

    plugin = request.config.stash.get(EVIDENCE_REPORT_KEY, None)
    if plugin is None:
        return []
    run = dict(request.config.stash.get(RUN_METADATA_KEY, {}))
    return export_claim(result, plugin.report_dir, run, acts=acts, features=features, naming=naming)
