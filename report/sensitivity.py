"""The report's "Sensitivity" section: positive controls on the trained model and its random twins.

Contents
--------
sensitivity_html : one table per model: each positive control's verdict on the trained model
                   and on each random-weights twin (from ``figures["sensitivity"]``), or "" when
                   no claim of the run carries one.

A suite that returns "supported" for circuits known to exist in trained models, and not on the
same architecture with random weights, can tell a real effect from none; this section shows it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from report.fragments import badge


def sensitivity_html(records: Sequence[Mapping[str, Any]]) -> str:
    """The Sensitivity heading and a table per model, or "" without positive controls.

    Examples
    --------
    >>> rec = {"id": "P1", "model": "m", "verdict": "supported", "title": "t",
    ...        "figures": {"sensitivity": {"trained": "supported", "random-1": "refuted"}, "key_figure": "k"}}
    >>> "random-1" in sensitivity_html([rec])
    True
    >>> sensitivity_html([])
    ''
    """
    rows = [r for r in records if isinstance((r.get("figures") or {}).get("sensitivity"), Mapping)]
    if not rows:
        return ""
    parts = ["<h3>Sensitivity: positive controls on trained and random weights</h3>",
             ('<p class="hx-note">Circuits known to exist in trained models must come out supported on the '
              "trained model and not on random-weights twins of the same architecture (the twin's verdict "
              "under the claim's own criteria). The trained model's verdict also requires beating every twin.</p>")]
    for model in dict.fromkeys(str(r.get("model")) for r in rows):
        mine = [r for r in rows if str(r.get("model")) == model]
        twins = list(dict.fromkeys(k for r in mine for k in r["figures"]["sensitivity"] if k != "trained"))
        head = "".join(f"<th>{escape(t)}</th>" for t in twins)
        body = ""
        for r in mine:
            sens = r["figures"]["sensitivity"]
            twin_cells = "".join(f"<td>{badge(sens[t]) if t in sens else '—'}</td>" for t in twins)
            body += (f"<tr><th>{escape(str(r.get('id')))} <span class=hx-model>{escape(str(r.get('title') or ''))}"
                     f"</span></th><td>{badge(r.get('verdict'))} {escape(str(r['figures'].get('key_figure', '')))}"
                     f"</td><td>{badge(sens.get('trained'))}</td>{twin_cells}</tr>")
        parts.append(f'<table class="hx-t hx-sensitivity"><caption>{escape(model)}</caption><tr><th>control</th>'
                     f"<th>verdict (with twins)</th><th>trained, own criteria</th>{head}</tr>{body}</table>")
    return "".join(parts)
