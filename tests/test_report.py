"""The evidence report: plots, report.html, evidence.json and component CSVs.

An inner pytest run (pytester) records synthetic ClaimResults built by `make_result` (one per
level and verdict, plus a crashing test) and the tests below read what it wrote.
"""
from __future__ import annotations

import base64
import html
import inspect
import json
import re
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from evaluation.schema import shipped_claims_dir
from report import plots_components as plots
from report.evidence import RESULT_KEY, RESULTS_KEY, record_result, slugify
from kinds import BUILTIN_KINDS, kind_named
from report.plots import plots_for

pytest_plugins = ["pytester"]

CLAIMS_DIR = shipped_claims_dir()
ROOT = CLAIMS_DIR.parent
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODEL = "org/tiny-model"
# The outer run imported report.plugin already, so the inner run cannot rewrite its asserts.
QUIET = ("-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning")
CASES = [("layer", "supported"), ("head", "confounded"), ("neuron", "refuted"),
         ("depth", "supported")]


def make_result(level, verdict, model="org/tiny-model"):
    """A ClaimResult of `level` with seeded synthetic profiles (copied into the inner run)."""
    import numpy as np
    import pandas as pd

    from evaluation.result import ClaimResult, ComparisonRow, ControlRow

    rng = np.random.default_rng(0)
    n_layers, n_heads, n_neurons = 12, 8, 1024
    claim_id = {"layer": "H1", "head": "H2", "neuron": "H3", "depth": "H4"}[level]
    shape = {"layer": (n_layers,), "head": (n_layers, n_heads)}.get(level, (n_layers, n_neurons))
    effect = rng.normal(0.3, 1.2, shape)
    specialized = np.abs(effect) > 1.0
    label_code = np.where(specialized, np.where(effect > 0, 1, 2), 0)
    profiles = {"effect:feature_a": effect, "effect:feature_b": 0.7 * effect,
                "specialized": specialized, "label_code": label_code}
    if level == "layer":
        for feature in ("feature_a", "feature_b"):
            profiles[f"ci_low:{feature}"] = profiles[f"effect:{feature}"] - 0.4
            profiles[f"ci_high:{feature}"] = profiles[f"effect:{feature}"] + 0.4
    else:
        for code, name in ((1, "recall"), (2, "reasoning"), (3, "mixed")):
            profiles[f"frac_{name}"] = (label_code == code).mean(axis=1)
    controls = []
    if level == "head":
        per_layer = specialized.sum(axis=1)
        profiles["control:real:count_per_layer"] = per_layer
        profiles["control:random-weights:count_per_layer"] = np.clip(per_layer + 1, 0, n_heads)
        profiles["control:surface-only:count_per_layer"] = np.clip(per_layer - 1, 0, n_heads)
        controls = [
            ControlRow(name="random-weights", control="random_weights", count=int(per_layer.sum() + 9),
                       passed=False, detail="max over 3 seeds"),
            ControlRow(name="surface-only", control="surface_only", count=int(per_layer.sum() - 7), passed=True,
                       overlap=0.41, detail="recall vs recall + filler"),
        ]
    if level == "depth":
        depth = np.linspace(0, 1, 6)
        profiles = {"depth": depth, "profile:recall": np.sin(np.pi * depth) / 2,
                    "profile:reasoning": 0.5 - np.sin(np.pi * depth) / 2}
    count, total = int(specialized.sum()), specialized.size
    comparison = [ComparisonRow("model", "Qwen/Qwen2.5-7B-Instruct", model),
                  ComparisonRow("specialized", 18, count),
                  ComparisonRow("fraction_specialized", 0.643, count / total),
                  ComparisonRow("recall_layers", [3, 4, 5, 6, 8],
                                np.flatnonzero(label_code.reshape(n_layers, -1).max(axis=1) == 1))]
    components = None
    if level in ("layer", "neuron"):
        index = np.indices(shape).reshape(len(shape), -1)
        components = pd.DataFrame({"layer": index[0], "d": effect.ravel(),
                                   "specialized": specialized.ravel()})
    noun = {"depth": "components"}.get(level, f"{level}s")
    return ClaimResult(
        claim_id=claim_id, title=f"{level.capitalize()}s specialize", level=level, model=model,
        statement=f"Some {level}s specialize for recall or reasoning.", verdict=verdict,
        message=f"{claim_id}: {count}/{total} {noun} specialized ({count / total:.1%}), "
                "required fraction_specialized >= 0.5",
        thresholds={"test": "mann_whitney", "alpha": 0.01, "min_effect": 1.0, "folds": 5,
                    "expectation": "fraction_specialized >= 0.5"},
        figures={"specialized": count, "total": total}, comparison=comparison,
        profiles=profiles, components=components, controls=controls,
        behaviour={"accuracy": {"recall": 0.9, "reasoning": 0.55}, "n_pairs": 30},
        meta={"tasks": "synthetic", "seed": 7})


INNER_CONFTEST = """
import pytest
from report.evidence import set_run_metadata

# The suite's options and RunOptions, as an installed suite registers them (skipped when the
# pytest11 entry point already did).
pytest_plugins = ["fixtures.plugin"]

@pytest.fixture(scope="session", autouse=True)
def run_metadata(pytestconfig):
    # set during the session, as the real fixtures do once the model is loaded
    set_run_metadata(pytestconfig, model="org/tiny-model", revision="deadbeef",
                     task_hash="abc123", seed=7)
"""

INNER_TESTS = """

CASES = {cases!r}

@pytest.fixture(params=CASES, ids=[f"{{level}}-{{verdict}}" for level, verdict in CASES])
def claim_result(request):
    return make_result(*request.param)

def test_claim(request, claim_result):
    record_result(request, claim_result)
    assert claim_result.passed, claim_result.message

def test_crash(request):
    raise RuntimeError("capture failed: hook never fired")
"""


@pytest.fixture
def inner_run(pytester):
    """Run the synthetic claim tests; return (run result, report dir, report.html text)."""
    pytester.syspathinsert(str(ROOT))
    pytester.makeconftest(INNER_CONFTEST)
    source = inspect.getsource(make_result)
    pytester.makepyfile(test_inner_claims="import pytest\nfrom report.evidence import "
                        "record_result\n\n" + source + INNER_TESTS.format(cases=CASES))
    # stands for a claim file that fails validation at collection
    pytester.makepyfile(test_broken="raise ValueError(\"claim.yaml: unknown key 'alpah'\")")
    report_dir = pytester.path / "out"
    run = pytester.runpytest("-p", "report.plugin", "--model", MODEL,
                             "--report-dir", str(report_dir),
                             "--html", str(report_dir / "report.html"), "--self-contained-html",
                             "--continue-on-collection-errors", *QUIET)
    return run, report_dir, (report_dir / "report.html").read_text(encoding="utf-8")


def report_data(page: str) -> dict:
    """pytest-html's embedded JSON (tests, extras, environment)."""
    blob = re.search(r'data-jsonblob="([^"]*)"', page).group(1)
    return json.loads(html.unescape(blob))


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    return struct.unpack(">II", png[16:24])


# ---- plots ---------------------------------------------------------------------------------

@pytest.mark.parametrize("level, draw", [("layer", plots.layer_effect_plot),
                                         ("head", plots.head_heatmap),
                                         ("neuron", plots.neuron_fraction_plot),
                                         ("depth", plots.depth_profile_plot),
                                         ("head", plots.controls_plot)])
def test_plot_is_a_small_png(level, draw):
    png = draw(make_result(level, "supported"))
    width, height = png_size(png)
    assert 200 < width <= 900 and 150 < height <= 720  # dpi 90: a report of many claims stays small
    assert len(png) < 150_000


@pytest.mark.parametrize("level, titles", [
    ("layer", ["Effect size per layer"]),
    ("head", ["Effect size per head", "Specialized components per layer",
              "Real model vs controls"]),
    ("neuron", ["Specialized components per layer"]),  # [L, 1024]: too wide for a heatmap
    ("depth", ["Profile over depth"]),
])
def test_plots_for_picks_the_plots_the_profiles_support(level, titles):
    assert [title for title, _ in plots_for(make_result(level, "supported"), kind_named("component").plots)] == titles


def test_neuron_arrays_get_no_heatmap_whatever_their_width():
    neuron = make_result("head", "supported")  # [12, 8]: as narrow as heads
    neuron.level = "neuron"
    depth = make_result("head", "supported")
    depth.level, depth.meta["component_level"] = "depth", "neuron"
    for result in (neuron, depth):
        assert plots.head_heatmap(result) is None
        assert plots.neuron_fraction_plot(result) is not None
    depth.meta["component_level"] = "head"
    assert plots.head_heatmap(depth) is not None


def test_plots_without_profiles_are_skipped():
    result = make_result("layer", "supported")
    result.profiles = {}
    assert plots_for(result, kind_named("component").plots) == []


def test_plot_rejects_mismatched_shapes():
    result = make_result("layer", "supported")
    result.profiles["specialized"] = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match="specialized"):
        plots.layer_effect_plot(result)


def _agreement_result():
    from evaluation.agreement import ModelProfile, evaluate_h4
    from evaluation.agreement_claim import load_agreement_claim

    claim = load_agreement_claim(CLAIMS_DIR / "h4_cross_architecture" / "model_agreement.yaml")
    rng = np.random.default_rng(0)
    kinds = [f"{source} {name}" for source, names in (("H1", ["effect:resid_norm_last"]),
                                                       ("H2", ["net_recall", "frac_specialized"]),
                                                       ("H3", ["net_recall", "frac_specialized"]))
             for name in names]
    bundles = [ModelProfile(name, "arch", n, {k: rng.random(n) for k in kinds}) for name, n in (("a", 12), ("b", 16))]
    return evaluate_h4(claim, bundles, seed=0)


def _intervention_result():
    from evaluation.result import ClaimResult

    rng = np.random.default_rng(0)
    depth = np.linspace(0, 1, 10)
    profiles = {"trace_depth": depth, "trace_heatmap:recall": rng.random((2, 10))}
    for name in ("noise", "replace"):
        curve = rng.random(10)
        profiles.update({f"trace_curve:{name}": curve, f"trace_lo:{name}": curve - 0.1, f"trace_hi:{name}": curve + 0.1})
    for d in ("recall", "reasoning"):
        k = np.array([1.0, 2.0, 4.0, 8.0])
        profiles.update({f"dose:{d}:k": k, f"dose:{d}:sel": rng.normal(size=4), f"dose:{d}:lo": -np.ones(4),
                         f"dose:{d}:med": np.zeros(4), f"dose:{d}:hi": np.ones(4),
                         f"null:{d}": rng.normal(size=100), f"null_observed:{d}": np.array([0.5])})
    return ClaimResult(claim_id="H5", title="t", statement="s", level="head", model="m", verdict="refuted",
                       message="m", profiles=profiles, meta={"trace_rows": ["mlp @ subject_last", "mlp @ last"],
                                                             "max_depth": 0.5}, kind="intervention")


def test_every_claim_kind_declares_plots():
    assert all(kind.plots for kind in BUILTIN_KINDS)


@pytest.mark.parametrize("kind", ["component", "intervention", "model_agreement"])
def test_each_shipped_kinds_card_carries_its_plots(kind):
    # The card is rendered by the plugin's own code path; an H4 card once had no plots at all.
    from report.evidence import compact_record
    from report.plugin import card_html

    result = {"component": lambda: make_result("head", "supported"), "intervention": _intervention_result,
              "model_agreement": _agreement_result}[kind]()
    assert result.kind == kind
    declared = kind_named(kind).plots
    page = card_html(result, compact_record(result.to_record()), plots=declared)
    titles = [title for title, draw in declared]
    drawn = [title for title in titles if html.escape(title) in page]
    assert drawn and page.count("data:image/png;base64,") == len(plots_for(result, declared)) >= 2
    if kind != "component":  # these results carry every profile their kind's plots draw
        assert [title for title, _ in plots_for(result, declared)] == titles


# ---- record_result -------------------------------------------------------------------------

def _fake_request():
    return SimpleNamespace(node=SimpleNamespace(stash=pytest.Stash(), nodeid="t.py::test_x"),
                           config=SimpleNamespace(stash=pytest.Stash()))


def test_record_result_stores_on_item_and_session():
    request, result = _fake_request(), make_result("layer", "supported")
    record_result(request, result)
    assert request.node.stash[RESULT_KEY] is result
    assert request.config.stash[RESULTS_KEY] == [result]


def test_record_result_rejects_a_second_result_and_non_results():
    request = _fake_request()
    record_result(request, make_result("layer", "supported"))
    with pytest.raises(ValueError, match="already recorded claim 'H1'"):
        record_result(request, make_result("head", "refuted"))
    with pytest.raises(TypeError, match="ClaimResult"):
        record_result(_fake_request(), {"verdict": "supported"})


def test_slugify_model_names():
    assert slugify("Qwen/Qwen2.5-0.5B") == "Qwen_Qwen2.5-0.5B"
    assert slugify("/models/x y.gguf") == "models_x_y.gguf"
    assert slugify("///") == "unnamed"


# ---- the inner run -------------------------------------------------------------------------

def test_outcomes_follow_verdicts_and_crash_is_not_a_refutation(inner_run):
    run, _, _ = inner_run
    run.assert_outcomes(passed=2, failed=3, errors=1)
    out = run.stdout.str()
    measured = make_result("neuron", "refuted").message.removeprefix("H3: ")
    assert re.search(r"H3\s+org/tiny-model\s+refuted\s+" + re.escape(measured), out)
    assert "no verdict: test_inner_claims.py::test_crash (call): RuntimeError: capture failed" in out
    assert "Generated html report" in out and "evidence.json:" in out


def test_report_is_self_contained(inner_run):
    _, report_dir, page = inner_run
    assert not (report_dir / "assets").exists()
    assert "<link " not in page and not re.search(r"src=[\"']?https?:", page)
    cards = [e["content"] for tests in report_data(page)["tests"].values() for t in tests
             for e in t["extras"] if e["format_type"] == "html"]
    assert len(cards) == len(CASES)
    images = [src for card in cards for src in re.findall(r'<img src="([^"]+)"', card)]
    assert len(images) == 6  # layer; head, its per-layer fractions, controls; neuron; depth
    for src in images:
        assert src.startswith("data:image/png;base64,")
        png_size(base64.b64decode(src.split(",", 1)[1]))
    assert (report_dir / "report.html").stat().st_size < 3_000_000


def test_report_shows_claims_verdicts_and_comparison(inner_run):
    _, _, page = inner_run
    data = report_data(page)
    rows = {test_id: tests[0] for test_id, tests in data["tests"].items()}
    layer = rows["test_inner_claims.py::test_claim[layer-supported]"]
    assert layer["verdict"] == "supported" and layer["claim"] == "H1"  # sortable columns
    assert "refuted" in "".join(rows["test_inner_claims.py::test_claim[neuron-refuted]"]
                                ["resultsTableRow"])
    card = next(e["content"] for e in layer["extras"] if e["format_type"] == "html")
    result = make_result("layer", "supported")
    fraction = result.figures["specialized"] / result.figures["total"]
    for text in ("Study reported vs measured here", "Qwen/Qwen2.5-7B-Instruct", "0.643",
                 f"<td class=hx-num>{fraction:.4g}</td>", "3, 4, 5, 6, 8",
                 "Some layers specialize", "recall: 90.0%; reasoning: 55.0%", "min effect",
                 html.escape(result.message)):
        assert text in card, text
    assert [e["name"] for e in layer["extras"] if e["format_type"] == "json"] == ["record"]
    for text in ("<h3>Verdict per claim</h3>", "Confound audit", "random-weights", "<td class=\"hx-num\">41%</td>",
                 "Tests without a verdict", "capture failed",
                 '<th class="sortable" data-column-type="verdict">Verdict</th>'):
        assert text in html.unescape(page), text
    assert "Circuit-specialization evidence: org/tiny-model" in page


def test_environment_has_run_metadata_set_during_the_session(inner_run):
    _, _, page = inner_run
    environment = report_data(page)["environment"]
    assert environment["Model"] == "org/tiny-model"
    assert environment["Task file sha256"] == "abc123" and environment["Seed"] == "7"
    assert "numpy" in environment["Packages"]


def test_evidence_json_has_one_record_per_claim(inner_run):
    _, report_dir, _ = inner_run
    evidence = json.loads((report_dir / "evidence.json").read_text())
    verdicts = {(r["id"], r["model"]): r["verdict"] for r in evidence["records"]}
    assert verdicts == {("H1", MODEL): "supported", ("H2", MODEL): "confounded",
                        ("H3", MODEL): "refuted", ("H4", MODEL): "supported"}
    assert evidence["run"]["revision"] == "deadbeef" and "numpy" in evidence["run"]["packages"]
    assert [(e["test"], e["when"]) for e in evidence["errors"]] == [
        ("test_broken.py", "collect"), ("test_inner_claims.py::test_crash", "call")]
    assert "unknown key 'alpah'" in evidence["errors"][0]["error"]
    assert evidence["run"]["options"]["models"] == [MODEL]
    h2 = next(r for r in evidence["records"] if r["id"] == "H2")
    assert h2["outcome"] == "failed" and h2["controls"][0]["passed"] is False
    assert np.shape(h2["profiles"]["effect:feature_a"]) == (12, 8)
    h3 = next(r for r in evidence["records"] if r["id"] == "H3")  # per-neuron: in the CSV only
    assert h3["profiles_omitted"] == {"effect:feature_a": [12, 1024], "effect:feature_b": [12, 1024],
                                      "specialized": [12, 1024], "label_code": [12, 1024]}
    assert len(h3["profiles"]["frac_recall"]) == 12
    assert not list(report_dir.glob("*.tmp")) and not list(report_dir.glob(".*.tmp"))


def test_component_csvs_match_the_tables(inner_run):
    _, report_dir, _ = inner_run
    written = sorted(p.relative_to(report_dir).as_posix()
                     for p in report_dir.glob("components/**/*.csv"))
    assert written == ["components/org_tiny-model/H1.csv", "components/org_tiny-model/H3.csv"]
    expected = make_result("neuron", "refuted").components
    pd.testing.assert_frame_equal(pd.read_csv(report_dir / written[1]), expected)
    evidence = json.loads((report_dir / "evidence.json").read_text())
    assert {r["id"]: r.get("components_csv") for r in evidence["records"]}["H3"] == written[1]


def test_passing_test_with_a_failing_verdict_warns(pytester):
    pytester.syspathinsert(str(ROOT))
    pytester.makepyfile(test_inner_claims="from report.evidence import record_result\n\n"
                        + inspect.getsource(make_result) + """
def test_forgets_to_assert(request):
    record_result(request, make_result("layer", "refuted"))
""")
    run = pytester.runpytest("-p", "report.plugin", *QUIET)
    run.assert_outcomes(passed=1, warnings=1)
    run.stdout.fnmatch_lines(["*H1 recorded verdict 'refuted' but the test passed*"])
    assert not (pytester.path / "reports").exists()  # not a claim run, no --html: no files


# ---- when a report is written by default ---------------------------------------------------

def test_claim_run_defaults_to_a_self_contained_report_in_a_directory_of_its_own(pytester):
    config = pytester.parseconfigure(str(CLAIMS_DIR), "-p", "report.plugin", "--noconftest")
    html_path = Path(config.option.htmlpath)
    assert html_path.name == "report.html" and html_path.parent.parent == pytester.path / "reports"
    assert re.fullmatch(r"\d{8}-\d{6}(-\d+)?", html_path.parent.name) and html_path.parent.is_dir()
    assert config.option.self_contained_html


def test_explicit_html_path_is_kept_and_made_self_contained(pytester):
    config = pytester.parseconfigure(str(CLAIMS_DIR), "-p", "report.plugin", "--noconftest",
                                     "--html", "elsewhere/r.html")
    assert config.option.htmlpath == "elsewhere/r.html" and config.option.self_contained_html


def test_suite_tests_run_writes_no_report(pytester):
    config = pytester.parseconfigure(str(ROOT / "tests"), "-p", "report.plugin",
                                     "--noconftest")
    assert config.option.htmlpath is None and not config.option.self_contained_html
