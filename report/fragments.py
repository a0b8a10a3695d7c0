"""HTML fragments of the evidence report (pytest-html extras and table cells).

Contents
--------
STYLE              : the report's stylesheet (inserted once, with the summary).
key_figure         : the headline figure of a record ("layers specialized: 18/28 (64%)").
short_figure       : the same without the controls' sentence (for tables).
fmt                : plain-text form of a figure.
badge              : a coloured verdict label.
control_rows       : one table row per control: measure under it, the model's, difference,
                     p-value, count, overlap, result (``controls_header`` names the columns).
claim_html         : the evidence card of one claim test: verdict, statement, thresholds,
                     "study reported | measured here", behaviour, controls, plots, CSV link.
table_header_cells : extra results-table header cells (claim, model, verdict, key figure).
row_cells          : the matching cells of one report row.

The summary at the top of the page (verdicts, confound audit) is `report.summary`.

Everything that comes from a claim file or a model is escaped here; the fragments are pasted
into the page as HTML by pytest-html.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evaluation.result import ClaimResult

_MAX_LIST = 24  # longer lists (layers, top heads) are cut in tables; evidence.json keeps them

STYLE = """<style>
.hx{color:#1f2328;font-size:13px;line-height:1.45}
.hx h3{font-size:14px;margin:14px 0 6px;color:#1f2328}
.hx p{margin:4px 0}
.hx-card{color:#1f2328;font-size:13px;line-height:1.45;max-width:1200px;padding:2px 0 6px}
.hx-head{font-size:15px;margin-bottom:4px}
.hx-title{font-weight:600}.hx-model{color:#57606a}
.hx-badge{display:inline-block;padding:0 8px;border-radius:9px;color:#fff;font-weight:600;
 font-size:11px;line-height:18px;vertical-align:1px;margin-right:4px}
.hx-b-supported{background:#1a7f37}.hx-b-refuted{background:#cf222e}
.hx-b-confounded{background:#bc4c00}.hx-b-inconclusive{background:#8250df}.hx-b-error,.hx-b-none,.hx-b-skipped{background:#6e7781}
.hx-statement{border-left:3px solid #d0d7de;padding-left:8px;font-style:italic;color:#3d444d}
.hx-message{font-weight:600}
.hx-grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start;margin:8px 0}
table.hx-t{border-collapse:collapse;font-size:12px;color:#1f2328;margin:0}
table.hx-t th,table.hx-t td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;
 vertical-align:top}
table.hx-t th{background:#f6f8fa;font-weight:600}
table.hx-t caption{text-align:left;font-weight:600;padding:0 0 3px;color:#1f2328}
table.hx-t td.hx-num{text-align:right;font-variant-numeric:tabular-nums}
.hx-yes{color:#1a7f37;font-weight:600}.hx-no{color:#cf222e;font-weight:600}
.hx-plots{display:flex;flex-wrap:wrap;gap:14px;margin-top:8px}
.hx-plots figure{margin:0}.hx-plots img{max-width:100%;border:1px solid #eaeef2}
.hx-note,.hx-meta{font-size:11px;color:#57606a}
.hx-plot-error{color:#cf222e;font-size:12px}
td.col-verdict.hx-v-supported{color:#1a7f37;font-weight:600}
td.col-verdict.hx-v-refuted,td.col-verdict.hx-v-error{color:#cf222e;font-weight:600}
td.col-verdict.hx-v-confounded{color:#bc4c00;font-weight:600}
td.col-verdict.hx-v-inconclusive{color:#8250df;font-weight:600}
td.col-claim,td.col-verdict{white-space:nowrap}td.col-keyfigure{color:#1f2328}
table.hx-controls td,table.hx-audit td,table.hx-controls tr>th:first-child,table.hx-audit tr>th:first-child{white-space:nowrap}
table.hx-audit td:last-child,table.hx-controls td:last-child{white-space:normal;max-width:28em}
table.hx-audit tr.hx-group th{white-space:normal}table.hx-t{width:auto}
</style>"""


def key_figure(record: Mapping[str, Any]) -> str:
    """The headline figure of a record: ``figures["key_figure"]`` when the claim set one, else
    its message (measured vs required) without the leading ``"<claim id>: "``.

    Examples
    --------
    >>> key_figure({"id": "H1", "message": "H1: 7/24 layers specialized (29%), required >= 50%"})
    '7/24 layers specialized (29%), required >= 50%'
    """
    figures = record.get("figures") or {}
    if figures.get("key_figure") is not None:
        return fmt(figures["key_figure"])
    return str(record.get("message") or "").removeprefix(f"{record.get('id')}: ")


def short_figure(record: Mapping[str, Any]) -> str:
    """`key_figure` without the sentence about the controls; a confounded claim names the
    controls that explain it instead (their numbers are in the controls table).

    Examples
    --------
    >>> short_figure({"id": "H1", "verdict": "confounded", "controls": [{"name": "random weights", "passed": False}],
    ...               "message": "H1: 4/4 layers (100%), but a control explains it (random weights: ...)"})
    '4/4 layers (100%); explained by: random weights'
    """
    text = key_figure(record).split(", but a control explains it", 1)[0]
    failed = [_control_name(c) for c in record.get("controls") or [] if c.get("passed") is False]
    if record.get("verdict") == "confounded" and failed:
        text += f"; explained by: {', '.join(failed)}"
    return text


def fmt(value: Any) -> str:
    """Plain-text form of a figure: 4 significant digits, thousands separators, cut lists."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        # Layer indices read better without thousands separators; they are always small.
        shown = ", ".join(str(v) if isinstance(v, int) else fmt(v) for v in value[:_MAX_LIST])
        return shown + (f", … ({len(value)} in all)" if len(value) > _MAX_LIST else "")
    return str(value)


def _cell(value: Any, *, key: str = "") -> str:
    if "accuracy" in key:  # accuracies read as percentages, alone or per prompt side
        if _is_fraction(value):
            return f'<td class="hx-num">{value:.1%}</td>'
        if isinstance(value, Mapping) and value and all(map(_is_fraction, value.values())):
            return f"<td>{escape('; '.join(f'{k}: {v:.1%}' for k, v in value.items()))}</td>"
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td{" class=hx-num" if numeric else ""}>{escape(fmt(value))}</td>'


def _is_fraction(value: Any) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


def badge(verdict: str | None) -> str:
    name = verdict or "no verdict"
    return f'<span class="hx-badge hx-b-{escape(verdict or "none")}">{escape(name)}</span>'


def _key_value_table(caption: str, values: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k).replace('_', ' '))}</th>{_cell(v, key=str(k))}</tr>"
                   for k, v in values.items())
    return f'<table class="hx-t"><caption>{escape(caption)}</caption>{rows}</table>'


def tl_names_table(names: Mapping[str, Mapping[str, Any]]) -> str:
    """The components a card names, each beside its TransformerLens hook and index (the first
    `_MAX_LIST`; evidence.json keeps them all)."""
    shown = list(names.items())[:_MAX_LIST]
    rows = "".join(f"<tr><th>{escape(name)}</th><td><code>{escape(str(v.get('hook')))}</code></td>"
                   f"<td>{'' if v.get('index') is None else escape(str(v['index']))}</td></tr>"
                   for name, v in shown)
    more = f" (first {_MAX_LIST} of {len(names)})" if len(names) > _MAX_LIST else ""
    return (f'<table class="hx-t"><caption>TransformerLens names{more}</caption>'
            f"<tr><th>component</th><th>hook</th><th>index</th></tr>{rows}</table>")


def _comparison_table(rows: Sequence[Mapping[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(str(r['label']))}</th>{_cell(r['reported'])}"
                   f"{_cell(r['measured'])}</tr>" for r in rows)
    return ('<table class="hx-t"><caption>Study reported vs measured here</caption>'
            "<tr><th></th><th>study reported</th><th>measured here</th></tr>"
            f"{body}</table>")


#: Columns of a controls table (card and confound audit): what each holds, with its unit.
CONTROL_COLUMNS = ("Control", "Measure under the control", "Measure on the model", "Difference (control − model)",
                   "p-value (Monte Carlo)", "Specialized components under the control",
                   "Overlap with the model's specialized (%)",
                   "Estimand: model − control [CI]; one-sided lower bound (claim beats it if > 0)", "Result", "Notes")
_CONTROL_FIELDS = {"name", "control", "count", "value", "reference", "passed", "overlap", "pvalue", "detail",
                   "estimand", "difference", "difference_ci_low", "difference_ci_high", "difference_lower_bound"}


def _estimand_cell(c: Mapping[str, Any]) -> str:
    """The control rule's numbers (evaluation.controls): difference, interval, one-sided bound."""
    keys = ("difference", "difference_ci_low", "difference_ci_high", "difference_lower_bound")
    if not all(isinstance(c.get(k), (int, float)) and not isinstance(c.get(k), bool) for k in keys):
        return "<td>—</td>"
    d, low, high, bound = (c[k] for k in keys)
    return (f'<td class="hx-num">{escape(str(c.get("estimand", "")))} {d:+.3g} [{low:+.3g}, {high:+.3g}]; '
            f"bound {bound:+.3g}</td>")


def controls_header() -> tuple[str, ...]:
    return CONTROL_COLUMNS


def _num(value: Any, *, signed: bool = False) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "<td>—</td>"
    text = (f"{value:+.4g}" if value else "0") if signed else fmt(value)
    return f'<td class="hx-num">{escape(text)}</td>'


def control_rows(controls: Sequence[Mapping[str, Any]]) -> str:
    """One ``<tr>`` per control record (`evaluation.result.ControlRow.to_record`), in the
    columns of `CONTROL_COLUMNS`; the record's sentence (``detail``) is the row's tooltip, and
    its text only when the row has no numbers."""
    rows = ""
    for c in controls:
        value, reference = c.get("value"), c.get("reference")
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, reference))
        difference = value - reference if numeric else None
        count = c.get("count")
        if c.get("control") == "permutation" and isinstance(count, (int, float)):
            count_cell = f'<td class="hx-num">{escape(fmt(float(count)))} <span class=hx-model>(mean of draws)</span></td>'
        else:
            count_cell = _num(count)
        overlap = c.get("overlap")
        overlap_cell = (f'<td class="hx-num">{overlap:.0%}</td>' if isinstance(overlap, (int, float))
                        and not isinstance(overlap, bool) else "<td>—</td>")
        passed = c.get("passed")
        if passed is True:
            result = '<td class="hx-yes">✓ claim beats it</td>'
        elif passed is False:
            result = '<td class="hx-no">✗ explains the result</td>'
        else:
            result = "<td>– not judged</td>"
        notes = [f"{str(k).replace('_', ' ')}: {fmt(v)}" for k, v in c.items() if k not in _CONTROL_FIELDS]
        if value is None and count is None and c.get("pvalue") is None and c.get("detail"):
            notes.append(str(c["detail"]))
        rows += (f'<tr title="{escape(str(c.get("detail") or ""))}"><th>{escape(_control_name(c))}</th>'
                 f"{_num(value)}{_num(reference)}{_num(difference, signed=True)}{_num(c.get('pvalue'))}"
                 f"{count_cell}{overlap_cell}{_estimand_cell(c)}{result}<td>{escape('; '.join(notes))}</td></tr>")
    return rows


def _controls_table(controls: Sequence[Mapping[str, Any]], measure: str | None) -> str:
    caption = "Controls" + (f" (measure: {measure})" if measure else "")
    head = "".join(f"<th>{escape(c)}</th>" for c in CONTROL_COLUMNS)
    return (f'<table class="hx-t hx-controls"><caption>{escape(caption)}</caption><tr>{head}</tr>'
            f"{control_rows(controls)}</table>")


def _control_name(control: Mapping[str, Any]) -> str:
    return str(control.get("name") or control.get("condition") or "control")


def claim_html(result: ClaimResult, record: Mapping[str, Any],
               plots: Sequence[tuple[str, bytes | None, str | None]], *, csv_href: str | None = None) -> str:
    """The evidence card of one claim on one model.

    Parameters
    ----------
    result : ClaimResult
    record : dict
        ``result.to_record()`` (values already JSON-ready), plus ``components_csv`` if any.
    plots : list of (title, png bytes or None, error message or None)
        PNGs are embedded as data: URIs, so the card needs no other file.
    csv_href : str, optional
        Link to the claim's component CSV, relative to report.html.

    Returns
    -------
    str
        HTML.
    """
    parts = [
        '<div class="hx-card">',
        (f'<div class="hx-head">{badge(result.verdict)} <span class="hx-title">'
         f'{escape(result.claim_id)}: {escape(result.title)}</span> <span class="hx-model">'
         f"on {escape(result.model)} · {escape(result.level)} level</span></div>"),
        f'<p class="hx-statement">{escape(result.statement)}</p>',
        f'<p class="hx-message">{escape(result.message)}</p>',
        '<div class="hx-grid">',
    ]
    if record.get("comparison"):
        parts.append(_comparison_table(record["comparison"]))
    if record.get("thresholds"):
        parts.append(_key_value_table("Thresholds", record["thresholds"]))
    if record.get("behaviour"):
        parts.append(_key_value_table("Behaviour (same prompts)", record["behaviour"]))
    if record.get("tl_names"):
        parts.append(tl_names_table(record["tl_names"]))
    parts.append("</div>")
    if record.get("controls"):
        parts.append(_controls_table(record["controls"], (record.get("thresholds") or {}).get("expectation")))
    else:
        parts.append('<p class="hx-note">No controls ran for this claim: the verdict rests on '
                     "the study's thresholds alone.</p>")
    figures = []
    for title, png, error in plots:
        if png is None:
            figures.append(f'<p class="hx-plot-error">Plot "{escape(title)}" failed: '
                           f"{escape(error or '')}</p>")
            continue
        data = base64.b64encode(png).decode("ascii")
        # The title is drawn in the figure itself; alt text keeps it for screen readers.
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{escape(title)}">'
                       "</figure>")
    if figures:
        parts.append(f'<div class="hx-plots">{"".join(figures)}</div>')
    if record.get("components_csv"):
        target = csv_href or str(record["components_csv"])
        parts.append(f'<p class="hx-meta">Every component\'s statistics: <a class="hx-csv" '
                     f'href="{escape(target)}">{escape(str(record["components_csv"]))}</a> (CSV)</p>')
    meta = dict(record.get("meta") or {})
    if meta:
        parts.append(f'<p class="hx-meta">{escape(fmt(meta))}</p>')
    parts.append("</div>")
    return "".join(parts)


def table_header_cells() -> list[str]:
    """Header cells inserted after "Result" (claim, model and verdict are sortable)."""
    return ['<th class="sortable" data-column-type="claim">Claim</th>',
            '<th class="sortable" data-column-type="model">Model</th>',
            '<th class="sortable" data-column-type="verdict">Verdict</th>',
            "<th>Key figure (measured; required)</th>"]


def row_cells(record: Mapping[str, Any] | None) -> list[str]:
    """Cells of one results-table row; empty for tests that recorded no verdict.

    pytest-html reads a sortable cell's value from ``class="col-<name>"`` and the text between
    the td tags, so each cell stays on one line with its class first.
    """
    if record is None:
        return ['<td class="col-claim"></td>', '<td class="col-model"></td>',
                '<td class="col-verdict"></td>', '<td class="col-keyfigure"></td>']
    verdict = escape(str(record.get("verdict")))
    return [f'<td class="col-claim">{escape(str(record.get("id")))}</td>',
            f'<td class="col-model">{escape(str(record.get("model")))}</td>',
            f'<td class="col-verdict hx-v-{verdict}">{verdict}</td>',
            f'<td class="col-keyfigure">{escape(short_figure(record))}</td>']
