"""report.html of a merge: the evidence of several runs' records on one page, without pytest.

Contents
--------
result_from_record : a `ClaimResult` rebuilt from its evidence record (for cards and plots).
merged_report_html : the page: title, shards, the summary (`report.summary`), a card per record
                     (`report.cards.card_html`), the run metadata.

A merged report shows what each shard's report shows per claim, from the records: profiles too
large for evidence.json (per-neuron arrays, see `report.evidence.compact_record`) are in the
component CSVs, so a plot that needs them is named on the card as not drawn.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from evaluation.result import ClaimResult, ComparisonRow, ControlRow
from report.cards import card_html
from report.fragments import STYLE, badge, fmt
from report.summary import summary_html

_CONTROL_FIELDS = ("name", "control", "passed", "detail", "count", "value", "reference", "overlap", "pvalue")


def _array(value: Any) -> Any:
    if isinstance(value, list):
        try:
            return np.asarray([np.nan if v is None else v for v in np.ravel(np.asarray(value, dtype=object))],
                              dtype=float).reshape(np.shape(np.asarray(value, dtype=object)))
        except (TypeError, ValueError):  # ragged or non-numeric: kept as it is
            return value
    return value


def result_from_record(record: Mapping[str, Any]) -> ClaimResult:
    """The `ClaimResult` a record was written from (no component table: that is the CSV).

    Examples
    --------
    >>> r = result_from_record({"id": "H1", "model": "m", "verdict": "refuted", "profiles": {"e": [1, None]}})
    >>> r.claim_id, r.profiles["e"].tolist()
    ('H1', [1.0, nan])
    """
    controls = []
    for row in record.get("controls") or []:
        extra = {k: v for k, v in row.items() if k not in _CONTROL_FIELDS}
        controls.append(ControlRow(**{k: row.get(k) for k in _CONTROL_FIELDS if k in row}, extra=extra))
    return ClaimResult(
        claim_id=str(record["id"]), title=str(record.get("title", "")), statement=str(record.get("statement", "")),
        level=str(record.get("level", "")), model=str(record["model"]), verdict=str(record.get("verdict", "error")),
        message=str(record.get("message", "")), thresholds=dict(record.get("thresholds") or {}),
        figures=dict(record.get("figures") or {}),
        comparison=[ComparisonRow(r.get("label"), r.get("reported"), r.get("measured"))
                    for r in record.get("comparison") or []],
        profiles={k: _array(v) for k, v in (record.get("profiles") or {}).items()}, controls=controls,
        behaviour=dict(record.get("behaviour") or {}), meta=dict(record.get("meta") or {}),
        kind=str(record.get("kind", "component")), tl_names=dict(record.get("tl_names") or {}))


def _shards_table(shards: Sequence[Mapping[str, Any]], href: Callable[[str], str]) -> str:
    rows = []
    for shard in shards:
        status = "ok" if shard.get("ok") else "failed"
        link = shard.get("report")
        where = (f'<a href="{escape(href(link))}">{escape(str(shard.get("name")))}</a>' if link
                 else escape(str(shard.get("name"))))
        rows.append(f"<tr><td>{where}</td><td>{escape(', '.join(shard.get('models') or []))}</td>"
                    f"<td>{escape(', '.join(shard.get('claims') or []) or 'all')}</td>"
                    f"<td>{badge('supported' if status == 'ok' else 'error')} {escape(status)}</td>"
                    f"<td>{escape(fmt(shard.get('records')))}</td><td>{escape(fmt(shard.get('wall_s')))}</td>"
                    f"<td>{escape(str(shard.get('host') or ''))}</td>"
                    f"<td>{escape(str(shard.get('error') or ''))}</td></tr>")
    return ('<table class="hx-t"><caption>Shards</caption><tr><th>shard</th><th>models</th><th>claims</th>'
            "<th>status</th><th>records</th><th>wall s</th><th>host</th><th>why it failed</th></tr>"
            + "".join(rows) + "</table>")


def merged_report_html(records: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]],
                       skipped: Sequence[Mapping[str, Any]], run: Mapping[str, Any], *,
                       href: Callable[[str], str] = str) -> str:
    """The merged report: shards, summary, one card per record, run metadata.

    Parameters
    ----------
    records, errors, skipped : as in evidence.json (and the summary's skipped claims)
    run : dict
        The merged run metadata; ``run["merge"]["shards"]`` lists the shards.
    href : callable
        A path relative to the report directory -> a link from report.html.
    """
    models = list(dict.fromkeys(str(r.get("model")) for r in records if r.get("kind") != "model_agreement"))
    shards = (run.get("merge") or {}).get("shards") or []
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Circuit-specialization evidence: {escape(', '.join(models))} (merged)</title>",
             STYLE, "</head><body><div class='hx'>",
             f"<h1>Circuit-specialization evidence: {escape(', '.join(models) or 'no model')}</h1>",
             f"<p class='hx-note'>Merged from {len(shards)} shard(s) by <code>python -m cluster merge</code>; "
             "cross-model claims are computed here from the shards' evidence.</p>",
             _shards_table(shards, href), "</div>",
             summary_html(records, errors, skipped, href=href), "<div class='hx'><h2>Claims</h2>"]
    for record in records:
        csv = record.get("components_csv")
        parts.append(card_html(result_from_record(record), record, csv_href=href(csv) if csv else None))
    merge = dict(run.get("merge") or {})
    environment = {k: v for k, v in run.items() if k not in ("merge", "claim_files")}
    parts.append("<h2>Environment</h2><table class='hx-t'>" + "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(fmt(v))}</td></tr>" for k, v in environment.items())
        + "</table>")
    if merge.get("conflicts"):
        parts.append("<h2>Measured twice with different figures</h2><ul>" + "".join(
            f"<li>{escape(str(c.get('id')))} on {escape(str(c.get('model')))}: shards "
            f"{escape(', '.join(c.get('shards') or []))}; differing: {escape(', '.join(c.get('differs') or []))}</li>"
            for c in merge["conflicts"]) + "</ul>")
    parts.append("</div></body></html>")
    return "".join(parts)
