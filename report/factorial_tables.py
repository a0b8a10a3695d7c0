"""Tables a component claim's card adds: behaviour per factorial cell, token lengths, power.

Contents
--------
extra_tables_html : the per-cell behaviour table (greedy accuracy, answer log-probability where
                    measured), the cells' content-token lengths and the power table, from a
                    record's figures, and the per-layer factorial plot (empty string when it has
                    none of them).
factorial_plot    : hops, book and interaction effects per layer (PNG bytes).
"""
from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def _cells_table(cells: Mapping[str, Mapping[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td>{_num(c.get('accuracy'))}</td>"
        f"<td>{_num(c.get('n_correct'))}/{_num(c.get('n_items'))}</td>"
        f"<td>{_num(c.get('answer_logprob_mean'))}</td></tr>"
        for label, c in cells.items())
    return ('<table class="hx-t"><caption>Behaviour per cell (greedy)</caption>'
            "<tr><th>cell</th><th>accuracy</th><th>correct</th><th>mean answer log-prob</th></tr>"
            f"{rows}</table>")


def _lengths_table(lengths: Mapping[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{_num(c['min'])}</td><td>{_num(c['median'])}</td>"
                   f"<td>{_num(c['max'])}</td></tr>" for label, c in lengths.get("cells", {}).items())
    foot = (f"<tr><th>shared range</th><td colspan=3>{_num(lengths.get('common_low'))}-"
            f"{_num(lengths.get('common_high'))}: {_num(lengths.get('share_in_common_range'))} of prompts</td></tr>")
    return (f'<table class="hx-t"><caption>Lengths per cell ({escape(str(lengths.get("unit", "")))})</caption>'
            f"<tr><th>cell</th><th>min</th><th>median</th><th>max</th></tr>{rows}{foot}</table>")


def _power_table(power: Mapping[str, Any]) -> str:
    order = ("n_pairs", "design", "alpha", "correction", "components_per_feature", "alpha_per_component",
             "min_detectable_d", "fold_train_pairs", "min_detectable_d_fold", "claim_min_effect")
    rows = "".join(f"<tr><th>{escape(k.replace('_', ' '))}</th><td>{_num(power.get(k))}</td></tr>"
                   for k in order if k in power)
    caption = f"Power: smallest |d| detected with {power.get('power', 0.8):.0%} power per component"
    return f'<table class="hx-t"><caption>{escape(caption)}</caption>{rows}</table>'


def extra_tables_html(record: Mapping[str, Any]) -> str:
    """The tables of `record` (a claim's JSON record) that its figures support, as HTML."""
    figures = record.get("figures") or {}
    parts = []
    if isinstance(figures.get("cells"), Mapping):
        parts.append(_cells_table(figures["cells"]))
    if isinstance(figures.get("length_overlap"), Mapping):
        parts.append(_lengths_table(figures["length_overlap"]))
    if isinstance(figures.get("power_table"), Mapping):
        parts.append(_power_table(figures["power_table"]))
    html = f'<div class="hx-grid">{"".join(parts)}</div>' if parts else ""
    picture = factorial_plot(record.get("profiles") or {}, str(figures.get("per_layer_feature", "")))
    if picture is not None:
        import base64

        data = base64.b64encode(picture).decode("ascii")
        html += (f'<div class="hx-plots"><figure><img src="data:image/png;base64,{data}" '
                 'alt="Hops, book and interaction effects per layer"></figure></div>')
    return html


def factorial_plot(profiles: Mapping[str, Any], feature: str = "") -> bytes | None:
    """Per layer: the hops, book and interaction effects (a layer's value for layer claims, the
    mean |effect| over its heads or neurons otherwise); None without factorial profiles."""
    import numpy as np

    from report.plot_style import figure, integer_ticks, legend, png

    keys = ("factorial:hops", "factorial:book", "factorial:interaction")
    if not all(k in profiles for k in keys):
        return None
    fig, ax = figure(width=5.6, height=2.6)
    for key, color, name in zip(keys, ("#222222", "#1b9e77", "#d95f02"),
                                ("hops (closed 1-hop - 2-hop)", "book (closed - open, 1-hop)", "hops x book")):
        y = np.asarray(profiles[key], dtype=float)
        ax.plot(np.arange(len(y)), y, marker="o", markersize=3, lw=1.2, color=color, label=name)
    ax.axhline(0.0, color="#999999", lw=0.6)
    ax.set_xlabel("layer")
    ax.set_ylabel("effect (d)" + (f" of {feature}" if feature else ""))
    ax.set_title("Hops, book and interaction effects per layer")
    integer_ticks(ax.xaxis, len(np.asarray(profiles[keys[0]])))
    legend(ax)
    return png(fig)
