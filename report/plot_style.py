"""How every evidence plot looks: size, colours, legend, ticks, and reproducible PNG bytes.

Contents
--------
DPI, RECALL, REASONING, MIXED, FEATURE_COLORS, CONTROL_COLORS, CONTROL_BAND : the shared palette.
figure        : a constrained-layout `Figure` with one styled axis.
png           : PNG bytes of a figure (no timestamp, so the bytes are reproducible).
legend        : a legend outside the axes.
integer_ticks : layer ticks that stay readable for 2 to 100 layers.
side_color    : red for recall, blue for reasoning, else a default.

Figures are drawn on `matplotlib.figure.Figure` directly (no pyplot), so importing a plot module
never changes the process's matplotlib backend. Sign convention everywhere: positive effect =
larger on recall prompts (red), negative = larger on reasoning prompts (blue).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.figure import Figure

DPI = 90
RECALL = "#b2182b"
REASONING = "#2166ac"
MIXED = "#7b3294"
FEATURE_COLORS = ("#222222", "#1b9e77", "#d95f02", "#7570b3", "#e7298a")
CONTROL_COLORS = ("#e66101", "#5e3c99", "#1b7837", "#8c8c8c", "#a6611a")
CONTROL_BAND = "#7f7f7f"  # the controls' min-max band (grey: the model's black line stands out)


def figure(*, width: float, height: float) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.title.set_fontsize(9)
    ax.xaxis.label.set_fontsize(8)
    ax.yaxis.label.set_fontsize(8)
    return fig, ax


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # Fixed metadata keeps the bytes of a plot reproducible across runs (no Software/date).
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def legend(ax: Any, handles: list[Any] | None = None) -> None:
    # Outside the axes, so the legend never hides a layer's point or bar.
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize=7)


def integer_ticks(axis: Any, n: int) -> None:
    step = 1 if n <= 16 else 2 if n <= 40 else max(1, n // 16)
    axis.set_ticks(np.arange(0, n, step))


def side_color(name: str, default: str) -> str:
    lowered = name.lower()
    if "recall" in lowered:
        return RECALL
    if "reason" in lowered:
        return REASONING
    return default
