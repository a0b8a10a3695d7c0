"""The whole claim pipeline, as a user runs it: `pytest hypotheses/ --model tiny`, in a subprocess."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERDICTS = {"supported", "refuted", "confounded", "inconclusive"}  # a run never writes "error" for these claims


def _run(tmp_path: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CIRCUIT_HYPOTHESES_CACHE": str(cache or tmp_path / "cache")}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny", "--report-dir", str(tmp_path / "rep"),
         "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )


def pytest_summary(stdout: str) -> str:
    """pytest's "N failed, M passed in T s" line (the report plugin's own line comes after it)."""
    return [line for line in stdout.splitlines() if re.search(r"\b\d+ (failed|passed|skipped|errors?)\b", line)
            and not line.startswith("report ")][-1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    proc = _run(tmp)
    return tmp, proc


def test_every_claim_gets_a_verdict_not_an_error(run):
    tmp, proc = run
    # exit code 1 = some claims failed (refuted/confounded); never 2+ (errors, usage)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " error" not in pytest_summary(proc.stdout), proc.stdout[-2000:]
    # the run's own last line: where the report is and what it says
    assert proc.stdout.splitlines()[-1].startswith(f"report written: {tmp / 'rep' / 'report.html'} — ")


def test_evidence_json_is_well_formed(run):
    tmp, _ = run
    evidence = json.loads((tmp / "rep" / "evidence.json").read_text())
    records = evidence["records"]
    ids = {r["id"] for r in records}
    assert {"H1", "H2", "H3", "H1d"} <= ids
    for rec in records:
        assert rec["model"] == "tiny" and rec["verdict"] in VERDICTS
        if rec["kind"] != "component":  # other kinds have their own figures (tests/test_claims.py)
            continue
        assert rec["message"].startswith(rec["id"] + ":")
        if rec["verdict"] == "inconclusive":  # stopped before measuring, with its reason
            assert rec["meta"]["inconclusive_reason"], rec["id"]
            if rec["id"] in ("F1", "F2", "F3"):  # the per-cell behaviour that left too few items
                cells = rec["figures"]["cells"]
                assert set(cells) == {"closed-1hop", "closed-2hop", "open-1hop", "open-2hop"}, cells
                assert all(c["n_items"] == 250 and 0 <= c["n_correct"] <= 250 for c in cells.values()), cells
                power = rec["figures"]["power_table"]  # for the items left, on tiny's 4 layers x 4 heads x 128
                assert power["n_pairs"] == rec["figures"]["n_items_correct_both"]
                assert power["components_per_feature"] == {"F1": 4, "F2": 16, "F3": 512}[rec["id"]]
            continue
        assert rec["figures"]["total"] > 0 and rec["thresholds"]["alpha"] > 0
        names = {row["control"] for row in rec["controls"]}
        assert {"random_weights", "surface_only", "length_matched", "permutation"} <= names
    assert evidence["run"]["model"] == "tiny"


def test_tiny_random_model_is_not_credited_with_circuits(run):
    # `tiny` IS a randomly initialised model: whatever it "specializes", its random-weights
    # twins specialize as much, so no count claim may come out supported.
    tmp, _ = run
    records = json.loads((tmp / "rep" / "evidence.json").read_text())["records"]
    assert all(r["verdict"] != "supported" for r in records if r["id"] in {"H1", "H2", "H3"})


def test_report_is_self_contained_html(run):
    tmp, _ = run
    html = (tmp / "rep" / "report.html").read_text()
    assert "Confound audit" in html and "H2" in html
    assert "data:image/png;base64" in html
    assert 'src="http' not in html and "href=\"http" not in html.replace('href="https://pypi', "")
    assert list((tmp / "rep" / "components" / "tiny").glob("*.csv"))


def test_warm_run_loads_no_model_and_gives_identical_verdicts(run, tmp_path):
    tmp, _ = run
    first = json.loads((tmp / "rep" / "evidence.json").read_text())["records"]
    env = {**os.environ, "CIRCUIT_HYPOTHESES_CACHE": str(tmp / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny", "--report-dir", str(tmp_path),
         "-q", "-p", "no:cacheprovider", "-k", "H1 and not H1d"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stdout[-2000:]
    second = json.loads((tmp_path / "evidence.json").read_text())
    assert second["run"]["cache"].startswith("hit")
    by_id = {r["id"]: r for r in first}
    for rec in second["records"]:
        assert rec["verdict"] == by_id[rec["id"]]["verdict"]
        assert rec["figures"]["specialized"] == by_id[rec["id"]]["figures"]["specialized"]


def test_malformed_claim_errors_alone(run, tmp_path):
    bad = tmp_path / "claims" / "zz_malformed"
    bad.mkdir(parents=True)
    (bad / "claim.yaml").write_text("id: BAD\nalpha: 7\n")
    proc = _run(tmp_path, "--no-controls", "--claims", str(tmp_path / "claims"), "-k", "H1p or malformed",
                cache=run[0] / "cache")
    out = proc.stdout
    assert "1 error" in pytest_summary(out), out[-3000:]
    assert "zz_malformed/claim.yaml" in out and "`alpha` must be in (0, 1), got 7" in out
    assert "missing key `title`" in out
    assert "H1p" in out  # the other claim still ran


COUNT_LOADS_PLUGIN = '''
import os
import engine.model.loading as models

_real = models.load_model


def _counting(spec, **kwargs):
    with open(os.environ["LOAD_LOG"], "a") as log:
        log.write(f"{getattr(spec, 'name', spec)} {kwargs.get('random_init_seed')}\\n")
    return _real(spec, **kwargs)


models.load_model = _counting
'''


def test_multi_model_run_groups_tests_and_loads_each_model_once(tmp_path):
    (tmp_path / "count_loads.py").write_text(COUNT_LOADS_PLUGIN)
    log = tmp_path / "loads.txt"
    env = {**os.environ, "CIRCUIT_HYPOTHESES_CACHE": str(tmp_path / "cache"), "LOAD_LOG": str(log),
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny,tiny:1", "--no-controls",
         "-k", "H1p or H2", "-v", "-p", "no:cacheprovider", "-p", "count_loads", "--report-dir", str(tmp_path / "rep")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    ran = [line.split("::")[1].split(" ")[0] for line in proc.stdout.splitlines() if "::test_claim[" in line]
    models = [name.rsplit("-", 1)[1].rstrip("]") for name in ran]
    assert models == sorted(models, key=["tiny", "tiny:1"].index) and len(set(models)) == 2
    loads = log.read_text().splitlines()
    assert len(loads) == 2 and all(line.endswith(" None") for line in loads), loads  # once per model
    records = json.loads((tmp_path / "rep" / "evidence.json").read_text())["records"]
    assert {(r["id"], r["model"]) for r in records} == {(c, m) for c in ("H1p", "H2", "H2p") for m in ("tiny", "tiny:1")}


@pytest.mark.parametrize("args, expected", [
    (["--model", "smolm2"], "unknown model 'smolm2'"),
    (["--tasks", "nosuch"], "not a built-in task set and not a file"),
    (["--max-memory", "20GiB"], "expected DEVICE=SIZE"),
    (["--prompt-format", "xml"], "--prompt-format 'xml' is not one of auto, chat, plain"),
    (["--seed", "-1"], "--seed -1 is outside"),
])
def test_bad_options_stop_the_run_with_a_usage_error(tmp_path, args, expected):
    proc = _run(tmp_path, *args)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]  # pytest's usage error
    assert expected in proc.stderr + proc.stdout


def test_two_models_in_parallel_workers_merge_into_one_report(tmp_path):
    """pytest-xdist: one worker per model (--dist loadgroup), one merged evidence.json."""
    # default cache: the real model's converted weights are shared with the suite's other tests
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/test_claims.py", "--model", "tiny,smollm2", "--no-controls",
         "-k", "H1p", "-n", "2", "--dist", "loadgroup", "-q", "-p", "no:cacheprovider",
         "--report-dir", str(tmp_path / "rep")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    evidence = json.loads((tmp_path / "rep" / "evidence.json").read_text())
    assert sorted(r["model"] for r in evidence["records"]) == ["smollm2", "tiny"]
    assert all(r["verdict"] in VERDICTS for r in evidence["records"])
    assert "smollm2" in (tmp_path / "rep" / "report.html").read_text()


def test_cross_model_correct_only_uses_each_models_correct_pairs(tmp_path):
    """H4 with --correct-only analyses only pairs each model answers; tiny answers none: inconclusive,
    with the reason (a skip, never a refutation)."""
    env = {**os.environ, "CIRCUIT_HYPOTHESES_CACHE": str(tmp_path / "cache")}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/test_claims.py", "-k", "test_run_claim", "--model", "tiny,tiny:1",
         "--correct-only", "-q", "-rs", "-p", "no:cacheprovider", "--report-dir", str(tmp_path / "rep")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "INCONCLUSIVE: H4: --correct-only leaves 0 pairs of 38 that tiny answers correctly on both sides" in out, out[-3000:]


def test_claims_dir_takes_claims_of_every_kind(tmp_path):
    """`--claims DIR` is discovered like the shipped claims: one code path for every kind."""
    import shutil

    mine = tmp_path / "mine"
    for slug, file, new_id in (("u_layers", "h1_layers/claim.yaml", "U1"),
                               ("u_trace", "h5b_recall_localization/intervention.yaml", "U5"),
                               ("u_agree", "h4_cross_architecture/model_agreement.yaml", "U4")):
        (mine / slug).mkdir(parents=True)
        text = (ROOT / "hypotheses" / file).read_text(encoding="utf-8")
        old_id = next(line for line in text.splitlines() if line.startswith("id:"))
        (mine / slug / Path(file).name).write_text(text.replace(old_id, f"id: {new_id}"), encoding="utf-8")
    # the agreement claim names its sources relative to its own file: point them at the shipped ones
    agree = mine / "u_agree" / "model_agreement.yaml"
    agree.write_text(agree.read_text(encoding="utf-8").replace("../", str(ROOT / "hypotheses") + "/"),
                     encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "hypotheses/", "--model", "tiny", "--claims", str(mine),
         "--collect-only", "-q", "-p", "no:cacheprovider", "--report-dir", str(tmp_path / "rep")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for test_id in ("test_claim[U1-tiny]", "test_claim[U5-tiny]", "test_run_claim[U4]",
                    "test_claim[H1-tiny]", "test_run_claim[H4]"):
        assert test_id in proc.stdout, proc.stdout[-3000:]
    shutil.rmtree(mine)
