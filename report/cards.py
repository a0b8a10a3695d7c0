"""The evidence of one claim test inside pytest's reports: its claim, its card, its extras.

Contents
--------
claim_ref    : ``{"id", "model"}`` of a claim test (any phase: a setup error or a skip too).
card_html    : the evidence card of one result, with the plots its kind declares.
claim_extras : pytest-html extras of a claim test: the card, the JSON record, the CSV link.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from evaluation.result import ClaimResult
from report.evidence import KIND_PLOTS_KEY
from report.fragments import claim_html
from report.plots import Plot


def claim_ref(item: pytest.Item) -> dict | None:
    """``{"id": claim test id, "model": model or None}`` of a claim test (its parameter with a
    ``test_id``, see `kinds.discovery.DiscoveredClaim`), else None."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    claim = next((v for v in params.values() if hasattr(v, "test_id")), None)
    if claim is None:
        return None
    model = params.get("model_name")
    return {"id": str(claim.test_id), "model": str(model) if model is not None else None}


def claim_extras(item: pytest.Item, result: ClaimResult, record: dict, csv_href: str | None) -> list[dict]:
    from pytest_html import extras

    def warn(message: str) -> None:
        item.warn(pytest.PytestWarning(message))

    plots = item.config.stash.get(KIND_PLOTS_KEY, {}).get(result.kind, ())
    card = card_html(result, record, plots=plots, warn=warn, csv_href=csv_href)
    out = [extras.html(card), extras.json(record, name="record")]
    if csv_href is not None:
        out.append(extras.url(csv_href, name="components CSV"))
    return out


def card_html(result: ClaimResult, record: dict, *, plots: Sequence[tuple[str, Plot]] = (),
              warn: Callable[[str], None] | None = None, csv_href: str | None = None) -> str:
    """The evidence card of one result: verdict, tables and every one of `plots` (its kind's,
    `kinds.spec.ClaimKind.plots`) that its profiles support. A plot that fails is named on the
    card (and passed to `warn`) instead of turning a verdict into an internal error."""
    drawn = []
    for title, draw in plots:
        try:
            png = draw(result)
        except Exception as exc:  # noqa: BLE001 - a plotting bug must not turn a verdict into INTERNALERROR
            message = f"{type(exc).__name__}: {exc}"
            if warn is not None:
                warn(f"plot {title!r} of {result.claim_id} failed: {message}")
            drawn.append((title, None, message))
            continue
        if png is not None:
            drawn.append((title, png, None))
    html = claim_html(result, record, drawn, csv_href=csv_href)
    from report.factorial_tables import extra_tables_html

    tables = extra_tables_html(record)  # per-cell behaviour, lengths, power: inside the card
    return html[:-len("</div>")] + tables + "</div>" if tables and html.endswith("</div>") else html
