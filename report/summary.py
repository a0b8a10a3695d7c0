"""The top of the evidence report: verdicts first, then the audit behind them.

Contents
--------
verdict_lines : one sentence per model, e.g. "3 of 10 claims supported on smollm2: H5b
                supported; H1, H2 confounded; H3 refuted; H4 without a verdict (error)".
summary_html  : stylesheet, verdict sentence, claims x models verdict table, confound audit
                (one row per control, see `report.fragments.control_rows`), tests without a
                verdict, and the script that moves pytest-html's Environment table below the
                summary, collapsed.

pytest-html 4 lays the page out as title, Environment, Summary, results table; the summary is
the only place a plugin can add HTML, so the Environment is moved from there (see `PAGE_LAYOUT`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from report.fragments import STYLE, badge, control_rows, controls_header, short_figure
from report.sensitivity import sensitivity_html

#: Verdict categories in the order a sentence names them.
_ORDER = ("supported", "confounded", "refuted", "inconclusive", "error", "no verdict", "skipped")

# pytest-html renders the Environment table before the summary; claim verdicts matter more.
# This script (run while the page is parsed, before pytest-html's own script fills the table)
# moves the Environment header and table after the summary and collapses them with
# pytest-html's own toggle (click the header to show them).
PAGE_LAYOUT = """<script>
(function () {
  var head = document.getElementById('environment-header');
  var table = document.getElementById('environment');
  var summary = document.querySelector('body > .summary');
  if (!head || !table || !summary) { return; }
  var box = document.createElement('div');
  box.id = 'hx-environment';
  summary.parentNode.insertBefore(box, summary.nextSibling);
  box.appendChild(head);
  box.appendChild(table);
  head.classList.add('collapsed');
  table.classList.add('hidden');
  var title = head.querySelector('h2');
  if (title) { title.textContent = 'Environment (model, revision, seed, packages, parity checks)'; }
})();
</script>"""

SUMMARY_STYLE = """<style>
.hx-verdict-line{font-size:15px;margin:6px 0 10px;color:#1f2328}
.hx-verdict-line b{font-weight:600}
.hx-verdict-line .hx-sep{color:#57606a}
#hx-environment{margin:8px 0 4px}
#hx-environment h2{cursor:pointer;font-size:14px}
table.hx-audit tr.hx-group th{background:#eef1f4;font-weight:600}
</style>"""


CROSS_MODEL = "cross-model"


def _group_of(entry: Mapping[str, Any], verdict: str) -> tuple[str, str, str]:
    return str(entry.get("model") or CROSS_MODEL), str(entry.get("id") or entry.get("test")), verdict


def verdict_lines(records: Sequence[Mapping[str, Any]], unverdicted: Sequence[Mapping[str, Any]] = (),
                  skipped: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """One plain-text sentence per model: how many claims hold, then every claim by verdict.

    Examples
    --------
    >>> verdict_lines([{"id": "H1", "model": "m", "verdict": "confounded"},
    ...                {"id": "H5b", "model": "m", "verdict": "supported"}],
    ...               [{"id": "H4", "model": "m", "test": "t[H4-m]"}])
    ['1 of 3 claims supported on m: H5b supported; H1 confounded; H4 without a verdict (error)']
    """
    entries = [_group_of(r, str(r.get("verdict"))) for r in records]
    entries += [_group_of(e, "error") for e in unverdicted if e.get("id")]
    entries += [_group_of(e, "skipped") for e in skipped if e.get("id")]
    models = list(dict.fromkeys(model for model, _, _ in entries))
    lines = []
    for model in models:
        mine = [(claim, verdict) for m, claim, verdict in entries if m == model]
        by_verdict: dict[str, list[str]] = {}
        for claim, verdict in mine:
            by_verdict.setdefault(verdict, []).append(claim)
        parts = []
        for verdict in sorted(by_verdict, key=lambda v: _ORDER.index(v) if v in _ORDER else len(_ORDER)):
            label = {"error": "without a verdict (error)", "skipped": "skipped"}.get(verdict, verdict)
            parts.append(f"{', '.join(by_verdict[verdict])} {label}")
        supported = len(by_verdict.get("supported", []))
        if model == CROSS_MODEL and set(by_verdict) == {"skipped"}:
            lines.append(f"{CROSS_MODEL}: {'; '.join(parts)}")  # nothing to count
            continue
        lines.append(f"{supported} of {len(mine)} claim{'s' if len(mine) != 1 else ''} supported on "
                     f"{model}: {'; '.join(parts)}")
    return lines


def summary_html(records: Sequence[Mapping[str, Any]], unverdicted: Sequence[Mapping[str, Any]],
                 skipped: Sequence[Mapping[str, Any]] = (), *,
                 href: Callable[[str], str] | None = None) -> str:
    """Stylesheet, verdict sentence, claims x models table, confound audit, tests without a
    verdict, page layout script. `href` turns a record's ``components_csv`` (relative to the
    report directory) into a link relative to report.html."""
    parts = [STYLE, SUMMARY_STYLE, '<div class="hx">']
    lines = verdict_lines(records, unverdicted, skipped)
    if lines:
        parts.append("".join(f'<p class="hx-verdict-line">{_verdict_line_html(line)}</p>' for line in lines))
    parts.append('<h3>Verdict per claim</h3>')
    if records or unverdicted or skipped:
        parts.append(_claims_table(records, unverdicted, skipped, href))
    else:
        parts.append('<p class="hx-note">No claim recorded a verdict in this run.</p>')
    parts.append(sensitivity_html(records))  # positive controls: trained vs random twins ("" if none ran)
    parts += ["<h3>Confound audit: every control, measured against the model</h3>", _audit_table(records)]
    if unverdicted:
        items = "".join(f"<li><code>{escape(e['test'])}</code> ({escape(e['when'])}): "
                        f"{escape(e['error'])}</li>" for e in unverdicted)
        parts.append("<h3>Tests without a verdict</h3><p class=hx-note>A crash or a malformed "
                     f"claim file is an error, not a refutation.</p><ul>{items}</ul>")
    parts.append("</div>")
    parts.append(PAGE_LAYOUT)
    return "".join(parts)


def _verdict_line_html(line: str) -> str:
    head, _, rest = line.partition(": ")
    return f"<b>{escape(head)}</b><span class=hx-sep>:</span> {escape(rest)}"


def _claims_table(records: Sequence[Mapping[str, Any]], unverdicted: Sequence[Mapping[str, Any]],
                  skipped: Sequence[Mapping[str, Any]], href: Callable[[str], str] | None) -> str:
    """Claims x models; a claim that compares the models (no model of its own) spans every
    model column."""
    rows = list(records) + [{**e, "verdict": None, "_note": "error: " + str(e.get("error", ""))}
                            for e in unverdicted if e.get("id")]
    rows += [{**e, "verdict": "skipped", "_note": str(e.get("reason", ""))} for e in skipped if e.get("id")]
    claims = list(dict.fromkeys(str(r.get("id")) for r in rows))
    own = [r for r in rows if r.get("model") and "," not in str(r.get("model"))]
    models = list(dict.fromkeys(str(r.get("model")) for r in own)) or [CROSS_MODEL]
    titles = {str(r.get("id")): str(r.get("title") or "") for r in rows if r.get("title")}
    cells: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        judged = r.get("verdict") not in (None, "skipped")
        text = escape(short_figure(r)) if judged else escape(str(r.get("_note")))
        link = ""
        if r.get("components_csv") and href is not None:
            link = f' <a class="hx-csv" href="{escape(href(str(r["components_csv"])))}">CSV</a>'
        where = str(r.get("model")) if r in own else CROSS_MODEL
        cells.setdefault((str(r.get("id")), where), []).append(
            f'<div title="{escape(str(r.get("message") or ""))}">{badge(r.get("verdict"))} {text}{link}</div>')
    header = "".join(f"<th>on {escape(m)}: verdict, key figure (measured; required)</th>" for m in models)
    body = ""
    for c in claims:
        body += f"<tr><th>{escape(c)} <span class=hx-model>{escape(titles.get(c, ''))}</span></th>"
        if (c, CROSS_MODEL) in cells and CROSS_MODEL not in models:  # compares the models: one wide cell
            body += f'<td colspan="{len(models)}">{"".join(cells[(c, CROSS_MODEL)])}</td></tr>'
            continue
        body += "".join(f"<td>{''.join(cells.get((c, m), ['—']))}</td>" for m in models) + "</tr>"
    return f'<table class="hx-t hx-verdicts" id="hx-verdicts"><tr><th>Claim</th>{header}</tr>{body}</table>'


def _audit_table(records: Sequence[Mapping[str, Any]]) -> str:
    with_controls = [r for r in records if r.get("controls")]
    if not with_controls:
        return ('<p class="hx-note">No controls ran: every verdict above rests on the study\'s '
                "thresholds alone and has not been checked against random-weights, "
                "surface-only or length-matched baselines.</p>")
    columns = controls_header()
    body = ""
    for r in with_controls:
        expectation = (r.get("thresholds") or {}).get("expectation")
        measure = f" · measure: {expectation}" if expectation else ""
        body += (f'<tr class="hx-group"><th colspan="{len(columns)}">{badge(r.get("verdict"))} '
                 f"{escape(str(r.get('id')))} on {escape(str(r.get('model')))}{escape(measure)}"
                 f" — {escape(short_figure(r))}</th></tr>")
        body += control_rows(r["controls"])
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    return (f'<table class="hx-t hx-audit"><tr>{head}</tr>{body}</table>'
            "<p class=hx-note>One row per control. ✓ the claim beats the control; ✗ the control "
            "reproduces the result (the verdict is then confounded or refuted); – reported, not "
            "judged. A permutation row's p-value is the share of label swaps that reach the "
            "model's measure; its count is the mean over the draws.</p>")
