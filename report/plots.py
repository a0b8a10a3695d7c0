"""The one plot registry: which evidence plots each claim kind's card carries.

Contents
--------
PLOTS_BY_KIND : claim kind name (`evaluation.kinds.KINDS`) -> ``(title, function)`` pairs.
plots_for     : every plot of a result's kind that its profiles support, as ``(title, png)``.

Each function returns PNG bytes, or None when the result lacks what it draws (a component
claim at the layer level has no head heatmap). A new claim kind registers its plots here; a
test checks that every registered kind has an entry.
"""
from __future__ import annotations

from collections.abc import Callable

from evaluation.result import ClaimResult
from report.plots_agreement import AGREEMENT_PLOTS
from report.plots_components import COMPONENT_PLOTS
from report.plots_interventions import INTERVENTION_PLOTS
from report.plots_patterns import KNOCKOUT_PLOTS, PATTERN_PLOTS

Plot = Callable[[ClaimResult], "bytes | None"]

PLOTS_BY_KIND: dict[str, tuple[tuple[str, Plot], ...]] = {
    "component": COMPONENT_PLOTS,
    "intervention": INTERVENTION_PLOTS,
    "model_agreement": AGREEMENT_PLOTS,
    "attention_pattern": PATTERN_PLOTS,
    "attention_knockout": KNOCKOUT_PLOTS,
}


def plots_of_kind(kind: str) -> tuple[tuple[str, Plot], ...]:
    """The registered ``(title, function)`` pairs of claim kind `kind`."""
    if kind not in PLOTS_BY_KIND:
        raise KeyError(f"no plots registered for claim kind {kind!r}; registered: {', '.join(PLOTS_BY_KIND)}")
    return PLOTS_BY_KIND[kind]


def plots_for(result: ClaimResult) -> list[tuple[str, bytes]]:
    """Every plot of `result`'s kind that its profiles support, as ``(title, png_bytes)``.

    Examples
    --------
    >>> [title for title, _ in plots_for(h1_result)]  # doctest: +SKIP
    ['Effect size per layer']
    """
    return [(title, png) for title, draw in plots_of_kind(result.kind) if (png := draw(result)) is not None]
