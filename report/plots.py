"""Drawing a result's plots: each claim kind declares its ``(title, function)`` pairs
(`kinds.spec.ClaimKind.plots`, from `report.plots_components`, `report.plots_interventions`,
`report.plots_agreement`, `report.plots_patterns`); this module draws the ones a result supports.

Contents
--------
Plot      : ``f(ClaimResult) -> PNG bytes | None`` (None: the result lacks what it draws, e.g. a
            layer-level component claim has no head heatmap).
plots_for : every plot of `plots` that a result's profiles support, as ``(title, png)``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from evaluation.result import ClaimResult

Plot = Callable[[ClaimResult], "bytes | None"]


def plots_for(result: ClaimResult, plots: Sequence[tuple[str, Plot]]) -> list[tuple[str, bytes]]:
    """Every plot of `plots` that `result`'s profiles support, as ``(title, png_bytes)``.

    Examples
    --------
    >>> [title for title, _ in plots_for(h1_result, COMPONENT_PLOTS)]  # doctest: +SKIP
    ['Effect size per layer']
    """
    return [(title, png) for title, draw in plots if (png := draw(result)) is not None]
