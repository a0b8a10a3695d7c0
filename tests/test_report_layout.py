"""The report leads with the verdicts: verdict sentence and table first, controls as tables,
Environment below, CSV links, readable plots; checked in a real browser where one exists."""
from __future__ import annotations

import html
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from test_report import CASES, QUIET, ROOT, make_result, report_data

from report import plots_components as plots
from report.fragments import control_rows, short_figure
from report.summary import PAGE_LAYOUT, summary_html, verdict_lines

pytest_plugins = ["pytester"]

SCRIPT = ROOT / "scripts" / "screenshot_report.py"
CONTROLS = [
    {"name": "random weights (seed 0)", "control": "random_weights", "count": 40, "value": 0.42,
     "reference": 0.45, "passed": True, "overlap": 0.5, "detail": "fraction 0.42 vs 0.45"},
    {"name": "label permutation (n=200)", "control": "permutation", "count": 12.3, "value": 0.11,
     "reference": 0.45, "passed": True, "pvalue": 0.005, "detail": "null mean 0.11; p = 0.005"},
    {"name": "surface only: reasoning reworded", "control": "surface_only", "passed": None,
     "reference": 0.45, "detail": "no reasoning_reworded contrast exists for task set 'mine'"},
]


def test_verdict_lines_name_every_claim_by_verdict():
    records = [{"id": i, "model": "smollm2", "verdict": v} for i, v in
               (("H1", "confounded"), ("H2", "confounded"), ("H3", "refuted"), ("H5b", "supported"))]
    lines = verdict_lines(records, [{"id": "H5a", "model": "smollm2", "test": "t"}],
                          [{"id": "H4", "model": None, "test": "t[H4]"}])
    assert lines == ["1 of 5 claims supported on smollm2: H5b supported; H1, H2 confounded; H3 refuted; "
                     "H5a without a verdict (error)", "cross-model: H4 skipped"]


def test_controls_are_rows_with_labelled_columns():
    rows = control_rows(CONTROLS)
    assert rows.count("<tr") == 3
    assert '<td class="hx-num">-0.03</td>' in rows  # difference control - model, signed
    assert '<td class="hx-num">0.005</td>' in rows  # the permutation's p-value, in its own column
    assert "12.3 <span class=hx-model>(mean of draws)</span>" in rows  # not shown as a p-value
    assert '<td class="hx-num">50%</td>' in rows and "– not judged" in rows
    assert "no reasoning_reworded contrast exists" in rows  # no numbers: the sentence is the note
    assert 'title="fraction 0.42 vs 0.45"' in rows  # the sentence stays as the row's tooltip


def test_summary_opens_with_the_verdicts_and_moves_the_environment():
    record = {**make_result("head", "confounded").to_record(), "components_csv": "components/m/H2.csv"}
    record["controls"] = CONTROLS
    page = summary_html([record], [], href=lambda rel: "../" + rel)
    first = page.index('class="hx-verdict-line"')
    assert first < page.index('id="hx-verdicts"') < page.index("Confound audit")
    assert "0 of 1 claim supported on org/tiny-model: H2 confounded" in html.unescape(re.sub("<[^>]+>", "", page))
    assert 'href="../components/m/H2.csv"' in page
    assert "p-value (Monte Carlo)" in page and "Difference (control − model)" in page
    assert page.endswith(PAGE_LAYOUT) and "environment-header" in PAGE_LAYOUT


def test_short_figure_names_the_controls_that_explain_a_result():
    record = make_result("head", "confounded").to_record()
    record["message"] += ", but a control explains it (random-weights: 0.5 vs 0.4)"
    assert short_figure(record).endswith("; explained by: random-weights")
    assert "but a control" not in short_figure(record)


def test_controls_plot_draws_one_band_not_a_line_per_control():
    result = make_result("head", "confounded")
    for seed in range(5):
        result.profiles[f"control:random-weights-{seed}:count_per_layer"] = np.arange(12) % (seed + 2)
    fig_calls = []
    original = plots.png
    plots.png = lambda fig: fig_calls.append(fig) or original(fig)
    try:
        assert plots.controls_plot(result)[:4] == b"\x89PNG"
    finally:
        plots.png = original
    ax = fig_calls[0].axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["controls: median", "model"]  # one summary line for seven conditions
    assert len(ax.collections) == 1  # the min-max band


def test_head_heatmap_marks_heads_with_a_legend_not_letters():
    fig_calls = []
    original = plots.png
    plots.png = lambda fig: fig_calls.append(fig) or original(fig)
    try:
        plots.head_heatmap(make_result("head", "supported"))
    finally:
        plots.png = original
    fig = fig_calls[0]
    assert not fig.axes[0].texts  # no letters drawn in the cells
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["recall", "reasoning"]


TEN_CLAIMS = """
import pytest
from report.evidence import record_result

{source}

CASES = {cases!r}

@pytest.mark.parametrize("i", range(10))
def test_claim(request, i):
    result = make_result(*CASES[i % len(CASES)])
    result.claim_id = f"H{{i}}"
    record_result(request, result)
    assert result.passed, result.message
"""


@pytest.fixture(scope="module")
def ten_claim_report(tmp_path_factory):
    """A report of ten synthetic claims (as many as the shipped ones), written by pytest-html."""
    import inspect
    import os

    tmp = tmp_path_factory.mktemp("ten")
    (tmp / "test_ten.py").write_text(TEN_CLAIMS.format(source=inspect.getsource(make_result), cases=CASES))
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "report.plugin", "--report-dir", str(out),
                           "--html", str(out / "report.html"), *QUIET, "-q"], cwd=tmp, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (out / "report.html").is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    return out / "report.html"


def test_ten_claim_report_has_its_csv_links_relative(ten_claim_report):
    page = ten_claim_report.read_text(encoding="utf-8")
    assert 'href="components/org_tiny-model/H0.csv"' in html.unescape(page)
    data = report_data(page)
    links = [extra for tests in data["tests"].values() for t in tests for extra in t["extras"]
             if extra["format_type"] == "url"]
    assert links and all(not link["content"].startswith(("/", "http")) for link in links)


def _chromium():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from screenshot_report import find_chromium
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return find_chromium()


@pytest.mark.skipif(_chromium() is None, reason="no Chromium found (chromium, chromium-browser, google-chrome "
                                                "or $CHROMIUM): the first-screen check needs a real browser")
def test_verdict_table_is_on_the_first_screen_in_a_real_browser(ten_claim_report, tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(ten_claim_report), "--measure"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    box = __import__("json").loads(done.stdout)
    assert box["found"] and box["bottom"] < 900, box  # the whole verdict table, 1280 x 900 window
    assert box["environment_top"] > box["bottom"]  # the Environment now sits below the verdicts
    png = tmp_path / "first.png"
    subprocess.run([sys.executable, str(SCRIPT), str(ten_claim_report), "-o", str(png)], check=True,
                   capture_output=True, timeout=300)
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (1280, 900)


def test_screenshot_script_explains_a_missing_browser(monkeypatch, tmp_path):
    page = tmp_path / "r.html"
    page.write_text("<html></html>")
    done = subprocess.run([sys.executable, str(SCRIPT), str(page)], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(tmp_path), "CHROMIUM": "no-such-browser"})
    assert done.returncode == 2 and re.search(r"no Chromium found", done.stderr)
