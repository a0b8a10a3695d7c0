"""Where claim results and run metadata are kept during a run, and how they are written out.

Contents
--------
RESULT_KEY        : item stash key -> the `ClaimResult` that test recorded.
KIND_PLOTS_KEY    : config stash key -> claim kind name -> the plots that kind declares (set by
                    `fixtures.plugin` from `kinds.spec.ClaimKind.plots`; drawn on each card).
RESULTS_KEY       : config stash key -> every `ClaimResult` recorded in this process, in order.
RUN_METADATA_KEY  : config stash key -> run metadata (model, revision, seed, ...), JSON-ready.
record_result     : store a claim test's `ClaimResult` for the report.
record_merge_inputs : store what a later merge needs of this run for a cross-model claim.
set_run_metadata  : add run metadata to the Environment table and to evidence.json.
sync_environment  : copy the run metadata into pytest-metadata's Environment dict.
package_versions  : installed versions of the packages that shape a result.
compact_record    : a record without per-neuron-sized profiles (the component CSV has them).
slugify           : a file-name-safe form of a model name or claim id (readable, may collide).
file_slug         : a file-name-safe form that never collides (different names, different slugs).
components_path   : ``<report-dir>/components/<model>/<claim>.csv``, by `file_slug`.
write_components  : one CSV of components per claim and model.
write_evidence    : evidence.json, written atomically.
read_evidence     : an evidence.json read back and checked (`EvidenceFileError` names the file and field).

Test code uses only `record_result` and `set_run_metadata`; `report.plugin` reads the rest.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# `jsonable` is the one conversion of numpy values to JSON that `ClaimResult.to_record` uses;
# reusing it keeps evidence.json's run section and its records consistent.
from evaluation.result import ClaimResult, jsonable

RESULT_KEY = pytest.StashKey[ClaimResult]()
KIND_PLOTS_KEY = pytest.StashKey[dict[str, tuple]]()
RESULTS_KEY = pytest.StashKey[list[ClaimResult]]()
RUN_METADATA_KEY = pytest.StashKey[dict[str, Any]]()
MERGE_INPUTS_KEY = pytest.StashKey[dict[str, Any]]()

#: Packages whose versions change numbers in a claim (model code, numerics, statistics).
DEFAULT_PACKAGES = ("torch", "transformers", "tokenizers", "safetensors", "gguf", "numpy",
                    "scipy", "statsmodels", "pandas", "matplotlib")

#: Profiles larger than this are left out of records (see `compact_record`); heads of any
#: model (at most 80 layers x 64 heads) fit, per-neuron arrays do not.
MAX_PROFILE_VALUES = 10_000

# Labels of the documented fields in the Environment table; evidence.json keeps the raw names.
_ENVIRONMENT_LABELS = {
    "model": "Model",
    "model_id": "Model id",
    "revision": "Model revision",
    "dtype": "dtype",
    "device": "Device",
    "task_file": "Task file",
    "task_hash": "Task file sha256",
    "prompt_format": "Prompt format",
    "seed": "Seed",
    "cache": "Activation cache",
}


def record_result(request: pytest.FixtureRequest, result: ClaimResult) -> None:
    """Store the outcome of one claim test so the report and evidence.json can show it.

    Call it before asserting the verdict, so a refuted claim still carries its evidence.

    Parameters
    ----------
    request : pytest.FixtureRequest
        The test's ``request`` fixture (function scope: its node is the test item).
    result : ClaimResult
        The evaluated claim.

    Raises
    ------
    TypeError
        If `result` is not a `ClaimResult`.
    ValueError
        If this test already recorded a result (one test evaluates one claim on one model).

    Examples
    --------
    >>> def test_claim(request, claim, activations):          # doctest: +SKIP
    ...     result = evaluate(claim, activations)
    ...     record_result(request, result)
    ...     assert result.passed, result.message
    """
    if not isinstance(result, ClaimResult):
        raise TypeError(f"`result` must be a ClaimResult, got {type(result).__name__}")
    node = request.node
    previous = node.stash.get(RESULT_KEY, None)
    if previous is not None:
        raise ValueError(
            f"{node.nodeid} already recorded claim {previous.claim_id!r} on {previous.model!r}; "
            f"a test records one claim on one model (parametrize to evaluate more)")
    node.stash[RESULT_KEY] = result
    request.config.stash.setdefault(RESULTS_KEY, []).append(result)


def record_merge_inputs(request: pytest.FixtureRequest, claim_id: str, inputs: Mapping[str, Any]) -> None:
    """Store what a merge of several runs needs of this run for cross-model claim `claim_id`:
    model -> JSON payload (H4: the model's profiles and bootstrap replicates). They go into
    evidence.json under ``merge_inputs``.

    Examples
    --------
    >>> record_merge_inputs(request, "H4", {"smollm2": {...}})  # doctest: +SKIP
    """
    request.node.stash[MERGE_INPUTS_KEY] = {str(claim_id): jsonable(dict(inputs))}


def set_run_metadata(config: pytest.Config, **fields: Any) -> None:
    """Record run metadata in the report's Environment table and in evidence.json.

    Documented fields: ``model``, ``model_id``, ``revision``, ``dtype``, ``device``,
    ``task_file``, ``task_hash``, ``prompt_format``, ``seed``, ``cache`` and ``packages``
    (a name -> version dict, merged into the Environment table's "Packages" row); any other
    keyword is recorded under its own name. Later calls update earlier ones, and calls made
    during the session (from a fixture, after the model is loaded) still reach the report.

    Parameters
    ----------
    config : pytest.Config
        The run's config.
    **fields
        Metadata values; numpy scalars and arrays are converted to JSON values. ``None`` is kept
        in evidence.json and left out of the Environment table.

    Examples
    --------
    >>> set_run_metadata(config, model="smollm2", revision="a1b2c3", seed=0)  # doctest: +SKIP
    """
    run = config.stash.setdefault(RUN_METADATA_KEY, {})
    for key, value in jsonable(fields).items():
        if key == "packages" and isinstance(value, dict):
            run.setdefault("packages", {}).update(value)
        else:
            run[key] = value
    sync_environment(config)


def sync_environment(config: pytest.Config) -> None:
    """Copy the run metadata into pytest-metadata's dict (the Environment table), if loaded."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pytest-metadata absent: evidence.json still has the metadata
        return
    environment = config.stash.get(metadata_key, None)
    if environment is None:  # before pytest-metadata's configure; sessionstart syncs again
        return
    for key, value in config.stash.get(RUN_METADATA_KEY, {}).items():
        if value is None:
            continue
        if key == "packages" and isinstance(value, dict):
            environment.setdefault("Packages", {}).update(
                {name: _html_text(v) for name, v in value.items()})
            continue
        label = _ENVIRONMENT_LABELS.get(key, key.replace("_", " ").capitalize())
        # pytest-html inserts Environment values as HTML, so text is escaped here.
        environment[label] = ({k: _html_text(v) for k, v in value.items()}
                              if isinstance(value, dict) else _html_text(value))


def _html_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return html.escape(str(value))


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Installed versions of `names`, read from package metadata (nothing is imported).

    Examples
    --------
    >>> package_versions(["numpy"])["numpy"]  # doctest: +SKIP
    '2.4.6'
    """
    versions = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compact_record(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with every profile of more than `MAX_PROFILE_VALUES` values replaced by its shape.

    Per-neuron arrays ([layers, neurons], e.g. 24 x 4864 per feature) would make evidence.json
    and the self-contained report tens of MB; they are per-component data, and the component
    CSV already holds them. The shapes left out are listed under ``profiles_omitted``.

    Examples
    --------
    >>> compact_record({"profiles": {"effect": [[0.0] * 20_000]}})["profiles_omitted"]
    {'effect': [1, 20000]}
    """
    kept, omitted = {}, {}
    for name, values in (record.get("profiles") or {}).items():
        shape = list(np.shape(values))
        if int(np.prod(shape)) > MAX_PROFILE_VALUES:
            omitted[name] = shape
        else:
            kept[name] = values
    compact = {**record, "profiles": kept}
    if omitted:
        compact["profiles_omitted"] = omitted
    return compact


def slugify(name: str) -> str:
    """A file-name-safe form of `name`: runs of characters other than ``[A-Za-z0-9._-]`` -> ``_``.

    Examples
    --------
    >>> slugify("Qwen/Qwen2.5-0.5B")
    'Qwen_Qwen2.5-0.5B'
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    return slug or "unnamed"


# Names kept as they are in a file name (a "/" becomes "_"): no "_" in them, so no kept name can
# equal a changed name, which always holds the "_" before its hash.
_KEPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,99}")


def file_slug(name: str) -> str:
    """A file-name-safe form of `name` that two different names never share.

    A name of letters, digits, ``.``, ``-`` and ``/`` (up to 100 characters, not starting with
    a dot or slash) keeps its form, each ``/`` becoming ``_``; any other name becomes its
    `slugify` form (cut to 60 characters) plus ``_`` and 12 hex digits of its SHA-256. Kept
    names hold no ``_`` and changed ones always do, so the two kinds never meet; two changed
    names meet only if their hashes do.

    Examples
    --------
    >>> file_slug("H1"), file_slug("Qwen/Qwen2.5-0.5B")
    ('H1', 'Qwen_Qwen2.5-0.5B')
    >>> file_slug("H1_x"), file_slug("éé")
    ('H1_x_06b06c3aab0b', 'unnamed_f13c007a1d8e')
    """
    name = str(name)
    if _KEPT_NAME.fullmatch(name):
        return name.replace("/", "_")
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{slugify(name)[:60].rstrip('._')}_{digest}"


def components_path(report_dir: Path, model: str, claim_id: str) -> Path:
    """``<report_dir>/components/<model slug>/<claim slug>.csv`` (`file_slug`: one file per
    model and claim, whatever their names)."""
    return Path(report_dir) / "components" / file_slug(model) / f"{file_slug(claim_id)}.csv"


def write_components(results: Iterable[ClaimResult], report_dir: Path) -> list[Path]:
    """Write each result's component table to its CSV; results without components are skipped.

    Parameters
    ----------
    results : iterable of ClaimResult
    report_dir : Path

    Returns
    -------
    list of Path
        The files written, in the order of `results`.
    """
    import pandas as pd  # only runs that produce components pay for the import

    written = []
    for result in results:
        if result.components is None:
            continue
        table = result.components
        if not isinstance(table, pd.DataFrame):
            table = pd.DataFrame(table)
        path = components_path(report_dir, result.model, result.claim_id)
        # A RangeIndex carries no information; a named index (layer, head) is a column.
        keep_index = not isinstance(table.index, pd.RangeIndex)
        _atomic_write(path, table.to_csv(index=keep_index))
        written.append(path)
    return written


def write_evidence(path: Path, records: list[Mapping[str, Any]], *, run: Mapping[str, Any],
                   errors: list[Mapping[str, Any]] = (),
                   merge_inputs: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write evidence.json: run metadata, one record per claim and model, tests without a verdict.

    The file is replaced atomically, so a reader never sees half a file.

    Parameters
    ----------
    path : Path
        Destination, e.g. ``reports/evidence.json``.
    records : list of dict
        `ClaimResult.to_record()` records (plus the test id and outcome).
    run : dict
        Run metadata (`set_run_metadata`).
    errors : list of dict
        Tests that failed without recording a verdict (a crash is not a refutation).
    merge_inputs : dict, optional
        Claim id -> model -> payload (`record_merge_inputs`); written only when not empty.

    Returns
    -------
    Path
        `path`.

    Examples
    --------
    >>> write_evidence(Path("reports/evidence.json"), records, run={"model": "tiny"})  # doctest: +SKIP
    """
    document = {
        "schema_version": EVIDENCE_SCHEMA_VERSION,
        "run": jsonable(dict(run)),
        "records": list(records),
        "errors": jsonable(list(errors)),
    }
    if merge_inputs:
        document["merge_inputs"] = jsonable(dict(merge_inputs))
    # default=str: a Path or torch dtype given as metadata must not lose the whole file.
    _atomic_write(Path(path), json.dumps(document, indent=1, allow_nan=False, default=str) + "\n")
    return Path(path)


EVIDENCE_SCHEMA_VERSION = 1


class EvidenceFileError(ValueError):
    """An evidence.json that cannot be read back; the message names the file and what is wrong."""


def read_evidence(path: str | Path) -> dict[str, Any]:
    """evidence.json at `path` as written by `write_evidence`: ``schema_version``, ``run``,
    ``records`` (each a mapping with ``id`` and ``model``), ``errors`` and ``merge_inputs``
    (claim id -> model -> payload; empty when the run recorded none).

    Raises
    ------
    EvidenceFileError
        The file is missing, not JSON, of another schema version, or lacks a field.

    Examples
    --------
    >>> read_evidence("reports/latest/evidence.json")["records"][0]["id"]  # doctest: +SKIP
    'H1'
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvidenceFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise EvidenceFileError(f"{path}: not a JSON evidence file ({exc})") from None
    if not isinstance(document, dict):
        raise EvidenceFileError(f"{path}: expected a JSON object with `records`, got {type(document).__name__}")
    version = document.get("schema_version")
    if version != EVIDENCE_SCHEMA_VERSION:
        raise EvidenceFileError(f"{path}: `schema_version` is {version!r}; this suite reads "
                                f"{EVIDENCE_SCHEMA_VERSION}")
    records = document.get("records")
    if not isinstance(records, list):
        raise EvidenceFileError(f"{path}: `records` must be a list, got {type(records).__name__}")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or "id" not in record or "model" not in record:
            raise EvidenceFileError(f"{path}: `records[{i}]` must be a mapping with `id` and `model`")
    merge_inputs = document.setdefault("merge_inputs", {})
    if not isinstance(merge_inputs, dict) or not all(isinstance(v, dict) for v in merge_inputs.values()):
        raise EvidenceFileError(f"{path}: `merge_inputs` must map claim ids to model -> payload mappings")
    for key in ("run", "errors"):
        expected = dict if key == "run" else list
        value = document.setdefault(key, expected())
        if not isinstance(value, expected):
            raise EvidenceFileError(f"{path}: `{key}` must be a {expected.__name__}, got {type(value).__name__}")
    return document


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file sits beside the target so os.replace stays on one file system; it is
    # opened normally (not mkstemp, which makes it 0600) so the result gets the usual mode.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
