"""Integrity: no input can exhaust the machine, no result is lost at the end of a run.

One section per kind of fault: 1 YAML limits and bounded fields; 2 claim ids and file
names that never collide; 3 files that are not UTF-8; 4 prompt length and pair count bounds
(capture's own checks are in tests/test_capture.py); 5 a report or cache directory that cannot
be written; 6 non-finite thresholds. At the end, two claims runs on the tiny model (one clean,
one with every bad file beside the same good claims) check that each bad file is an error of
its own and that the good claims leave the same evidence as in the clean run.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from evaluation.agreement_claim import load_agreement_claim
from evaluation.component_claim import load_claim
from kinds.discovery import discover
from evaluation.intervention_claim import load_intervention_claim
from evaluation.result import ClaimResult
from evaluation.schema import MAX_CLAIM_FILE_BYTES, ClaimFileError
from evaluation.schema import shipped_claims_dir
from fixtures.options import unwritable_reason
from report.evidence import components_path, file_slug, slugify, write_components
from tasks.errors import TaskFileError
from tasks.loader import (
    MAX_PAIRS,
    MAX_TASK_FILE_BYTES,
    load_task_file,
    parse_tasks,
    read_yaml_file,
)

pytest_plugins = ["pytester"]

CLAIMS_DIR = shipped_claims_dir()
ROOT = CLAIMS_DIR.parent
KINDS = {"component": ("claim.yaml", load_claim, "h1_layers"),
         "intervention": ("intervention.yaml", load_intervention_claim, "h5a_double_dissociation"),
         "model_agreement": ("model_agreement.yaml", load_agreement_claim, "h4_cross_architecture")}


def _shipped(kind: str) -> dict:
    file_name, _, folder = KINDS[kind]
    return yaml.safe_load((CLAIMS_DIR / folder / file_name).read_text())


def _write(root: Path, folder: str, data, file_name: str = "claim.yaml") -> Path:
    path = root / folder / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True),
                        encoding="utf-8")
    return path


def bomb(*targets: str) -> str:
    """A "billion laughs" document: 9 levels of 9 aliases (9**9 "lol"s), each target key an alias
    of the top level (a file of under 500 bytes)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines + [f"{key}: *a8" for key in targets]) + "\n"


# ---- 1. YAML limits and bounded fields ---------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("field", ["id", "notes"])
def test_an_alias_bomb_is_refused_in_bounded_memory(tmp_path, kind, field):
    file_name, load, _ = KINDS[kind]
    path = _write(tmp_path, "bomb", bomb(field), file_name)
    assert path.stat().st_size < 500
    tracemalloc.start()
    try:
        with pytest.raises(ClaimFileError) as err:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    message = str(err.value)
    assert str(path) in message and len(message) < 1000
    assert f"with its aliases expanded the document exceeds {2 * MAX_CLAIM_FILE_BYTES:,} characters" in message


def test_an_alias_bomb_in_a_task_file_is_refused(tmp_path):
    path = _write(tmp_path, "tasks", bomb("pairs", "name"), "tasks.yaml")
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    assert f"exceeds {2 * MAX_TASK_FILE_BYTES:,} characters" in str(err.value) and len(str(err.value)) < 1000


def test_recursive_aliases_and_deep_nesting_are_named(tmp_path):
    with pytest.raises(ClaimFileError, match="recursive aliases are not allowed"):
        load_claim(_write(tmp_path, "rec", "id: &a [1, *a]\n"))
    with pytest.raises(ClaimFileError, match="nested too deeply"):
        load_claim(_write(tmp_path, "deep", "id: " + "[" * 50_000 + "]" * 50_000 + "\n"))
    with pytest.raises(TaskFileError, match="nested too deeply"):
        load_task_file(_write(tmp_path, "deep", "pairs: " + "{a: " * 50_000 + "}" * 50_000 + "\n", "t.yaml"))


@pytest.mark.parametrize("text, expected", [
    ("id: " + "1" * 5000, "Exceeds the limit (4300 digits)"),
    ("id: 2001-02-30", "day is out of range for month"),
    ("id: !!int " + "x" * 10_000, "invalid literal for int()"),
])
def test_values_python_cannot_build_are_named_errors(tmp_path, text, expected):
    with pytest.raises(ClaimFileError) as err:
        load_claim(_write(tmp_path, "value", text))
    [problem] = err.value.problems
    assert problem.startswith("not usable YAML: a value cannot be read (") and expected in problem
    assert len(problem) < 300


def test_files_over_the_size_cap_are_named_errors(tmp_path):
    claim = _write(tmp_path, "big", "id: H9\n#" + "x" * MAX_CLAIM_FILE_BYTES + "\n")
    with pytest.raises(ClaimFileError, match=f"larger than the limit of {MAX_CLAIM_FILE_BYTES:,} bytes"):
        load_claim(claim)
    tasks = _write(tmp_path, "big", "#" + "x" * MAX_TASK_FILE_BYTES + "\n", "tasks.yaml")
    with pytest.raises(TaskFileError, match=f"larger than the limit of {MAX_TASK_FILE_BYTES:,} bytes"):
        load_task_file(tasks)


def test_a_plain_file_at_the_size_cap_loads(tmp_path):
    # The densest plain YAML (one-letter keys without values) stays within the expansion budget.
    keys = [f"k{i}" for i in range(250)]
    path = _write(tmp_path, "dense", "{" + ", ".join(keys) + "}", "x.yaml")
    assert path.stat().st_size <= 1500
    assert read_yaml_file(path, max_bytes=1500) == dict.fromkeys(keys)


@pytest.mark.parametrize("key, value, expected", [
    ("id", "x" * 65, "`id` has 65 characters; at most 64 are allowed"),
    ("id", "H9\nsecond line", "`id` must be printable text (no newline, tab or control character)"),
    ("title", "t" * 201, "`title` has 201 characters; at most 200 are allowed"),
    ("statement", "s" * 2001, "`statement` has 2,001 characters; at most 2,000 are allowed"),
    ("notes", "n" * 4001, "`notes` has 4,001 characters; at most 4,000 are allowed"),
    ("notes", list(range(2000)), "`notes` has"),
    ("reported", {f"k{i}": "v" * 100 for i in range(200)}, "`reported` takes"),
])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_field_that_reaches_the_report_is_bounded(tmp_path, kind, key, value, expected):
    data = _shipped(kind)
    data[key] = value
    file_name, load, _ = KINDS[kind]
    if kind == "model_agreement":  # its sources are relative to the file
        data["sources"] = {k: str(CLAIMS_DIR / "h4_cross_architecture" / v) for k, v in data["sources"].items()}
    with pytest.raises(ClaimFileError) as err:
        load(_write(tmp_path, "long", data, file_name))
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems


def test_messages_show_values_cut_never_whole(tmp_path):
    data = _shipped("component")
    data.update(alpha="x" * 10_000, features=[f"bogus{i}" for i in range(1000)], top_k=10**9)
    with pytest.raises(ClaimFileError) as err:
        load_claim(_write(tmp_path, "cut", data))
    problems = err.value.problems
    alpha = next(p for p in problems if p.startswith("`alpha`"))
    assert alpha.endswith("...") and len(alpha) < 150
    assert "`top_k` must be an integer in [0, 100], got 1000000000" in problems
    assert len(problems) > 1000 and "... and" in str(err.value) and len(str(err.value)) < 20_000


def test_task_fields_are_bounded_and_cut(tmp_path):
    side = {"prompt": "What is the capital of Peru?", "answer": "Lima"}
    cases = [({"id": "p" * 101}, "'id' must be printable and at most 100 characters"),
             ({"recall": {**side, "prompt": "w " * 10_001}}, "the prompt has 20,002 characters; at most 20,000"),
             ({"recall": {**side, "answer": "a" * 201}}, "an answer or alias is longer than 200 characters"),
             ({"recall": {**side, "answer": list(range(10_000))}}, "answer must be a non-empty string, got [0, 1,")]
    for change, expected in cases:
        pair = {"id": "p", "category": "capital", "recall": side, "reasoning": side, **change}
        with pytest.raises(TaskFileError) as err:
            parse_tasks({"pairs": [pair]})
        assert expected in str(err.value) and len(str(err.value)) < 500, str(err.value)[:500]


# ---- 2. claim ids and collision-free file names ------------------------------------------------

def test_one_id_in_two_claims_dirs_is_an_error_in_both(tmp_path):
    data = {**_shipped("component"), "id": "U2"}
    first, second = _write(tmp_path / "one", "a", data), _write(tmp_path / "two", "b", data)
    found = {c.path: c for c in discover([CLAIMS_DIR, tmp_path / "one", tmp_path / "two"])}
    for this, other in ((first, second), (second, first)):
        with pytest.raises(ClaimFileError, match=f"`id` 'U2' is also the id of {re.escape(str(other.resolve()))}"):
            found[this.resolve()].loaded()


def test_file_slug_keeps_plain_names_and_separates_changed_ones():
    assert [file_slug(n) for n in ("H1", "org/tiny-model", "Qwen/Qwen2.5-0.5B")] == \
        ["H1", "org_tiny-model", "Qwen_Qwen2.5-0.5B"]
    assert slugify("ΩΩ") == slugify("ЖЖ") == "unnamed"  # the collision these names once had
    changed = ["ΩΩ", "ЖЖ", "a_b", "a b", "x" * 101, "x" * 102, ".hidden", "/abs"]
    assert len({file_slug(n) for n in changed} | {"a_b", "a b"}) == len(changed) + 2
    assert all("_" in file_slug(n) for n in changed)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_file_slug_is_safe_and_one_to_one(a, b):
    for slug in (file_slug(a), file_slug(b)):
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,100}", slug) and not slug.startswith(".")
    assert (file_slug(a) == file_slug(b)) == (a == b)


def test_components_of_two_non_ascii_ids_go_to_two_files(tmp_path):
    results = [ClaimResult(claim_id=cid, title="t", statement="s", level="layer", model="tiny",
                           verdict="supported", message="m", components=pd.DataFrame({"layer": [0, 1], "d": d}))
               for cid, d in (("ΩΩ", [0.5, 0.1]), ("ЖЖ", [-0.3, 0.9]))]
    written = write_components(results, tmp_path)
    assert len(set(written)) == 2 and written == [components_path(tmp_path, "tiny", r.claim_id) for r in results]
    for path, result in zip(written, results):
        pd.testing.assert_frame_equal(pd.read_csv(path), result.components)


# ---- 3. files that are not UTF-8 ---------------------------------------------------------------

def test_latin1_claim_and_task_files_are_named_errors(tmp_path):
    claim = _write(tmp_path, "latin", "id: Café\ntitle: x\n".encode("latin-1"))
    with pytest.raises(ClaimFileError, match="not UTF-8 text: byte 0xe9 at offset 7 cannot be decoded"):
        load_claim(claim)
    [entry] = discover([tmp_path])
    assert entry.test_id == "latin(invalid)" and "not UTF-8" in str(entry.error)
    tasks = _write(tmp_path, "t", "pairs:\n  - id: café\n".encode("latin-1"), "tasks.yaml")
    with pytest.raises(TaskFileError, match="not UTF-8 text: byte 0xe9 at offset 18"):
        load_task_file(tasks)


# ---- 4. the number of pairs (prompt lengths: tests/test_capture.py) ----------------------------

def test_a_task_file_over_the_pair_cap_is_refused_before_its_pairs_are_read(tmp_path):
    path = _write(tmp_path, "t", "pairs: [" + ",".join(["0"] * (MAX_PAIRS + 1)) + "]\n", "tasks.yaml")
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    assert err.value.problems == (f"`pairs` has {MAX_PAIRS + 1:,} pairs; a task file may hold at most "
                                  f"{MAX_PAIRS:,}: split it into files of at most {MAX_PAIRS:,} pairs and run each",)


# ---- 5. report and cache directories ------------------------------------------------------------

def _configure_error(pytester, *args) -> str:
    with pytest.raises(pytest.UsageError) as err:
        pytester.parseconfigure(str(CLAIMS_DIR), "-p", "report.plugin", "--noconftest", "--model", "tiny", *args)
    return str(err.value)


def test_an_unwritable_report_or_cache_dir_stops_the_run_at_start(pytester, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("x")
    message = _configure_error(pytester, "--report-dir", str(file))
    assert message.startswith(f"--report-dir {file}: {file} is an existing file, not a directory")
    message = _configure_error(pytester, "--report-dir", str(file / "sub"))
    assert f"{file} (a part of {file / 'sub'}) is an existing file" in message
    message = _configure_error(pytester, "--cache-dir", str(file), "--report-dir", str(tmp_path / "r"))
    assert message.startswith(f"--cache-dir {file}: {file} is an existing file, not a directory")
    # A run of the suite's own tests writes no report: its --report-dir is not checked.
    pytester.parseconfigure(str(ROOT / "tests"), "-p", "report.plugin", "--noconftest", "--report-dir", str(file))


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux's /sys, read-only even for root")
def test_a_directory_where_no_file_can_be_created_is_named(pytester):
    if unwritable_reason("/sys") is None:
        pytest.skip("/sys is writable here")
    message = _configure_error(pytester, "--report-dir", "/sys/reports")
    assert message.startswith("--report-dir /sys/reports: cannot create a file in /sys: ")


def test_the_usage_error_exit_status_is_not_a_refutation(tmp_path):
    file = tmp_path / "a-file"
    file.write_text("x")
    run = subprocess.run([sys.executable, "-m", "pytest", str(CLAIMS_DIR), "--model", "tiny", "-p",
                          "no:cacheprovider", "--report-dir", str(file)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: --report-dir {file}: {file} is an existing file" in run.stderr


LOSING_CONFTEST = """
import os, shutil
from pathlib import Path
import pytest

pytest_plugins = ["fixtures.plugin"]

@pytest.fixture(scope="session", autouse=True)
def lose_the_report_dir(pytestconfig):
    yield
    if os.environ.get("LOSE_REPORT_DIR"):  # after every test, before the session's end
        report_dir = Path(pytestconfig.getoption("--report-dir"))
        shutil.rmtree(report_dir, ignore_errors=True)
        report_dir.write_text("no longer a directory")
"""

LOSING_TESTS = """
import pandas as pd
import pytest
from evaluation.result import ClaimResult
from report.evidence import record_result

@pytest.mark.parametrize("cid, verdict", [("U1", "supported"), ("U2", "refuted")])
def test_claim(request, cid, verdict):
    result = ClaimResult(claim_id=cid, title="t", statement="s", level="layer", model="tiny", verdict=verdict,
                         message=f"{cid}: measured", figures={"n": 1},
                         components=pd.DataFrame({"layer": [0, 1], "d": [0.5, -0.2]}))
    record_result(request, result)
    assert result.passed, result.message
"""


def test_a_report_dir_lost_during_the_run_keeps_the_evidence(pytester, monkeypatch, tmp_path):
    import tempfile

    pytester.syspathinsert(str(ROOT))
    pytester.makeconftest(LOSING_CONFTEST)
    pytester.makepyfile(test_inner=LOSING_TESTS)
    quiet = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")

    def run(report_dir):
        return pytester.runpytest("-p", "report.plugin", "--report-dir", str(report_dir),
                                  "--html", str(report_dir / "report.html"), "--self-contained-html", *quiet)

    clean = run(pytester.path / "clean")
    assert clean.ret == pytest.ExitCode.TESTS_FAILED
    monkeypatch.setenv("LOSE_REPORT_DIR", "1")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    lost = run(pytester.path / "lost")
    assert lost.ret == pytest.ExitCode.INTERNAL_ERROR  # 3: not 1, the status of a refuted claim
    out = lost.stdout.str()
    [fallback] = (tmp_path / "tmp").glob("hypotheses-evidence-*/evidence.json")
    assert f"evidence.json: {fallback} (instead of {pytester.path / 'lost'}; exit status 3)" in out
    for what in ("component CSVs not written", "evidence.json not written in", "report.html not written"):
        assert f"NOT WRITTEN: {what}" in out
    evidence = json.loads(fallback.read_text())
    expected = json.loads((pytester.path / "clean" / "evidence.json").read_text())
    assert evidence["records"] == expected["records"]
    assert {e["when"] for e in evidence["errors"]} == {"sessionfinish"}


# ---- 6. non-finite thresholds -----------------------------------------------------------------

@pytest.mark.parametrize("kind, change, expected", [
    ("component", lambda d: d["expect"].update(value=math.nan), "`expect.value` must be a finite number, got nan"),
    ("component", lambda d: d["expect"].update(value=-math.inf), "`expect.value` must be a finite number, got -inf"),
    ("component", lambda d: d.update(min_effect=math.inf), "`min_effect` must be in [0, inf), got inf"),
    ("intervention", lambda d: d["random"].update(alpha=math.nan), "`random.alpha` must be in (0, 1), got nan"),
    ("model_agreement", lambda d: d.update(threshold=math.nan), "`threshold` must be in [-1, 1], got nan"),
    ("model_agreement", lambda d: d.update(ci_level=math.inf), "`ci_level` must be a number in (0, 1), got inf"),
])
def test_non_finite_numbers_are_named_errors(tmp_path, kind, change, expected):
    data = _shipped(kind)
    change(data)
    file_name, load, _ = KINDS[kind]
    if kind == "model_agreement":
        data["sources"] = {k: str(CLAIMS_DIR / "h4_cross_architecture" / v) for k, v in data["sources"].items()}
    path = _write(tmp_path, "nan", data, file_name)
    assert ".nan" in path.read_text() or ".inf" in path.read_text()
    with pytest.raises(ClaimFileError) as err:
        load(path)
    assert expected in err.value.problems


# ---- end to end: bad files beside good claims ---------------------------------------------------

GOOD = {"U1": "h1_layers", "ΩΩ": "h1p_layers_paired", "ЖЖ": "h2p_heads_paired"}
# Test ids escape non-ASCII characters (\u03a9, \u0416), which -k matches.
SELECT = "U1 or U2 or u03a9 or u0416 or invalid"


def _good_claims(root: Path) -> None:
    for cid, folder in GOOD.items():
        data = yaml.safe_load((CLAIMS_DIR / folder / "claim.yaml").read_text())
        _write(root, f"good_{folder}", {**data, "id": cid})


def _claims_run(tmp: Path, cache: Path, *claim_dirs: Path) -> tuple[int, str, Path]:
    args = [sys.executable, "-m", "pytest", str(CLAIMS_DIR), "--model", "tiny", "--no-controls", "-p",
            "no:cacheprovider", "--cache-dir", str(cache), "--report-dir", str(tmp / "report"), "-k", SELECT]
    for directory in claim_dirs:
        args += ["--claims", str(directory)]
    run = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "CI": "true"},
                         timeout=600)
    return run.returncode, run.stdout + run.stderr, tmp / "report"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """(clean, dirty): (exit status, output, report dir) of a run of the good claims alone, then
    of a run with every bad file beside them (sharing the activation cache, so it is quick)."""
    clean, dirty = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("dirty")
    cache = tmp_path_factory.mktemp("cache")
    _good_claims(clean / "claims")
    _good_claims(dirty / "claims")
    _write(dirty / "claims", "latin", "id: Café\ntitle: x\n".encode("latin-1"))
    _write(dirty / "claims", "bomb", bomb("id", "notes"))
    data = yaml.safe_load((CLAIMS_DIR / "h1_layers" / "claim.yaml").read_text())
    _write(dirty / "claims", "nan", {**data, "id": "N1", "expect": {**data["expect"], "value": math.nan}})
    _write(dirty / "claims", "twin_a", {**data, "id": "U2"})
    _write(dirty / "more", "twin_b", {**data, "id": "U2"})
    return [_claims_run(clean, cache, clean / "claims"), _claims_run(dirty, cache, dirty / "claims", dirty / "more")]


def test_each_bad_file_is_an_error_of_its_own(two_runs):
    (clean_status, clean_out, _), (status, out, report) = two_runs
    assert clean_status == pytest.ExitCode.OK, clean_out[-3000:]
    assert status == pytest.ExitCode.TESTS_FAILED, out[-3000:]
    errors = {e["test"].split("[", 1)[1]: e["error"] for e in json.loads((report / "evidence.json").read_text())["errors"]}
    assert "not UTF-8 text: byte 0xe9" in errors["latin(invalid)-tiny]"]
    assert "with its aliases expanded the document exceeds" in errors["bomb(invalid)-tiny]"]
    assert "`expect.value` must be a finite number, got nan" in errors["nan(invalid)-tiny]"]
    twins = [e for test, e in errors.items() if test.startswith("U2")]
    assert len(twins) == 2 and all("claim ids must be unique" in e for e in twins)
    assert (report / "report.html").stat().st_size < 3_000_000


def test_good_claims_leave_the_same_evidence_as_in_a_clean_run(two_runs):
    (_, _, clean), (_, _, dirty) = two_runs
    # The same but for where each run's claim files are and whether the cache was warm.
    records = [json.loads((d / "evidence.json").read_text().replace(str(d.parent), "<run>")
                          .replace('"cache": "hit"', '"cache": "miss"'))["records"] for d in (clean, dirty)]
    assert sorted(r["id"] for r in records[0]) == sorted(GOOD)
    assert records[1] == records[0]
    csvs = [sorted(p.relative_to(d).as_posix() for p in d.glob("components/**/*.csv")) for d in (clean, dirty)]
    assert csvs[0] == csvs[1] and len(csvs[0]) == len(GOOD)  # one file per claim: no overwrite
    for name in csvs[0]:
        assert (clean / name).read_bytes() == (dirty / name).read_bytes()
