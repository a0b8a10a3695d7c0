"""HTML fragments of the evidence report (pytest-html extras, table cells, summary section).

Contents
--------
key_figure         : the headline figure of a record ("layers specialized: 18/28 (64%)").
claim_html         : the evidence card of one claim test: verdict, statement, thresholds,
                     "study reported | measured here", behaviour, controls, plots.
table_header_cells : extra results-table header cells (claim, model, verdict, key figure).
row_cells          : the matching cells of one report row.
summary_html       : claims x models table, confound audit and tests without a verdict,
                     with the report's stylesheet.

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
.hx-b-confounded{background:#bc4c00}.hx-b-error,.hx-b-none{background:#6e7781}
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
td.col-claim,td.col-verdict{white-space:nowrap}td.col-keyfigure{color:#1f2328}
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


def _badge(verdict: str | None) -> str:
    name = verdict or "no verdict"
    return f'<span class="hx-badge hx-b-{escape(verdict or "none")}">{escape(name)}</span>'


def _key_value_table(caption: str, values: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(str(k).replace('_', ' '))}</th>{_cell(v, key=str(k))}</tr>"
                   for k, v in values.items())
    return f'<table class="hx-t"><caption>{escape(caption)}</caption>{rows}</table>'


def _comparison_table(rows: Sequence[Mapping[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(str(r['label']))}</th>{_cell(r['reported'])}"
                   f"{_cell(r['measured'])}</tr>" for r in rows)
    return ('<table class="hx-t"><caption>Study reported vs measured here</caption>'
            "<tr><th></th><th>study reported</th><th>measured here</th></tr>"
            f"{body}</table>")


def _controls_table(controls: Sequence[Mapping[str, Any]]) -> str:
    first = ["name", "condition", "count", "passed"]
    keys = [k for k in first if any(k in c for c in controls)]
    keys += sorted({k for c in controls for k in c} - set(keys) - {"detail"})
    keys += ["detail"] if any("detail" in c for c in controls) else []
    header = "".join(f"<th>{'claim beats control' if k == 'passed' else escape(k)}</th>"
                     for k in keys)
    rows = ""
    for control in controls:
        cells = ""
        for key in keys:
            value = control.get(key)
            if key == "passed" and isinstance(value, bool):
                cells += (f'<td class="hx-{"yes" if value else "no"}">'
                          f'{"yes" if value else "no: explains the result"}</td>')
            else:
                cells += _cell(value, key=key)
        rows += f"<tr>{cells}</tr>"
    return f'<table class="hx-t"><caption>Controls</caption><tr>{header}</tr>{rows}</table>'


def claim_html(result: ClaimResult, record: Mapping[str, Any],
               plots: Sequence[tuple[str, bytes | None, str | None]]) -> str:
    """The evidence card of one claim on one model.

    Parameters
    ----------
    result : ClaimResult
    record : dict
        ``result.to_record()`` (values already JSON-ready), plus ``components_csv`` if any.
    plots : list of (title, png bytes or None, error message or None)
        PNGs are embedded as data: URIs, so the card needs no other file.

    Returns
    -------
    str
        HTML.
    """
    parts = [
        '<div class="hx-card">',
        (f'<div class="hx-head">{_badge(result.verdict)} <span class="hx-title">'
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
    parts.append("</div>")
    if record.get("controls"):
        parts.append(_controls_table(record["controls"]))
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
    meta = dict(record.get("meta") or {})
    if record.get("components_csv"):
        meta["components"] = record["components_csv"]
    if meta:
        parts.append(f'<p class="hx-meta">{escape(fmt(meta))}</p>')
    parts.append("</div>")
    return "".join(parts)


def table_header_cells() -> list[str]:
    """Header cells inserted after "Result" (claim, model and verdict are sortable)."""
    return ['<th class="sortable" data-column-type="claim">Claim</th>',
            '<th class="sortable" data-column-type="model">Model</th>',
            '<th class="sortable" data-column-type="verdict">Verdict</th>',
            "<th>Key figure</th>"]


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
            f'<td class="col-keyfigure">{escape(key_figure(record))}</td>']


def summary_html(records: Sequence[Mapping[str, Any]],
                 unverdicted: Sequence[Mapping[str, Any]]) -> str:
    """Stylesheet, claims x models verdict table, confound audit, tests without a verdict."""
    parts = [STYLE, '<div class="hx">', "<h3>Claims</h3>"]
    if records:
        parts.append(_claims_table(records))
    else:
        parts.append('<p class="hx-note">No claim recorded a verdict in this run.</p>')
    parts += ["<h3>Confound audit</h3>", _audit_table(records)]
    if unverdicted:
        items = "".join(f"<li><code>{escape(e['test'])}</code> ({escape(e['when'])}): "
                        f"{escape(e['error'])}</li>" for e in unverdicted)
        parts.append("<h3>Tests without a verdict</h3><p class=hx-note>A crash or a malformed "
                     f"claim file is an error, not a refutation.</p><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


def _claims_table(records: Sequence[Mapping[str, Any]]) -> str:
    claims = list(dict.fromkeys(str(r.get("id")) for r in records))
    models = list(dict.fromkeys(str(r.get("model")) for r in records))
    titles = {str(r.get("id")): str(r.get("title") or "") for r in records}
    cells: dict[tuple[str, str], list[str]] = {}
    for r in records:
        text = f'{_badge(r.get("verdict"))} {escape(key_figure(r))}'
        cells.setdefault((str(r.get("id")), str(r.get("model"))), []).append(
            f'<div title="{escape(str(r.get("message") or ""))}">{text}</div>')
    header = "".join(f"<th>{escape(m)}</th>" for m in models)
    rows = "".join(
        f"<tr><th>{escape(c)} <span class=hx-model>{escape(titles[c])}</span></th>"
        + "".join(f"<td>{''.join(cells.get((c, m), ['—']))}</td>" for m in models) + "</tr>"
        for c in claims)
    return f'<table class="hx-t"><tr><th>claim</th>{header}</tr>{rows}</table>'


def _audit_table(records: Sequence[Mapping[str, Any]]) -> str:
    with_controls = [r for r in records if r.get("controls")]
    if not with_controls:
        return ('<p class="hx-note">No controls ran: every verdict above rests on the study\'s '
                "thresholds alone and has not been checked against random-weights, "
                "surface-only or length-matched baselines.</p>")
    names = list(dict.fromkeys(_control_name(c) for r in with_controls for c in r["controls"]))
    header = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = ""
    for r in records:
        by_name = {_control_name(c): c for c in r.get("controls") or []}
        cells = ""
        for name in names:
            control = by_name.get(name)
            if control is None:
                cells += "<td>—</td>"
                continue
            text = escape(fmt(control.get("count")))
            if control.get("overlap") is not None:
                text += f" <span class=hx-model>(overlap {escape(fmt(control['overlap']))})</span>"
            if isinstance(control.get("passed"), bool):
                mark = ('<span class="hx-yes">✓</span>' if control["passed"]
                        else '<span class="hx-no">✗</span>')
                text = f"{mark} {text}"
            cells += f'<td title="{escape(fmt(control.get("detail")))}">{text}</td>'
        rows += (f"<tr><th>{escape(str(r.get('id')))}</th><td>{escape(str(r.get('model')))}</td>"
                 f"<td>{_badge(r.get('verdict'))} {escape(key_figure(r))}</td>{cells}</tr>")
    return ('<table class="hx-t"><tr><th>claim</th><th>model</th><th>study criteria</th>'
            f"{header}</tr>{rows}</table><p class=hx-note>Cells: count of specialized "
            "components under each control. ✓ the claim's count exceeds it; ✗ the control "
            "explains the result.</p>")


def _control_name(control: Mapping[str, Any]) -> str:
    return str(control.get("name") or control.get("condition") or "control")
