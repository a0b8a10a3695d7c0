"""Evidence plots of attention-pattern claims (positive controls P1, P2), PNG bytes or None.

Contents
--------
head_score_plot : mean score per layer and head, trained model beside its random-weights twins.
PATTERN_PLOTS   : ``(title, function)`` pairs, registered for the "attention_pattern" kind in `report.plots`.
"""
from __future__ import annotations

import numpy as np

from evaluation.result import ClaimResult
from report.plot_style import figure, png


def head_score_plot(result: ClaimResult) -> bytes | None:
    """Heatmaps ``[L, H]`` of the mean score: trained model, then each random twin (one colour scale).

    Reads ``pattern_scores`` and ``pattern_scores:random-<seed>`` [L, H].
    """
    if "pattern_scores" not in result.profiles:
        return None
    panels = [("trained", np.asarray(result.profiles["pattern_scores"], dtype=float))]
    panels += [(k.split(":", 1)[1], np.asarray(v, dtype=float)) for k, v in result.profiles.items()
               if k.startswith("pattern_scores:")]
    n_layers = panels[0][1].shape[0]
    fig, axes = figure(width=2.4 * len(panels) + 0.8, height=max(2.6, 0.12 * n_layers + 1.2))
    fig.clf()
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, (name, values) in zip(axes, panels):
        image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0, origin="lower")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("head")
    axes[0].set_ylabel("layer")
    fig.colorbar(image, ax=list(axes), shrink=0.9, label=f"mean {result.thresholds.get('score', 'score')} score")
    fig.suptitle(f"{result.claim_id} · {result.model}: attention score per head", x=0.01, ha="left", fontsize=10)
    return png(fig)


PATTERN_PLOTS = (("Attention score per head (trained vs random weights)", head_score_plot),)


def knockout_curve_plot(result: ClaimResult) -> bytes | None:
    """Relative drop of the answer's probability per window centre (depth), early/late ranges shaded.

    Reads ``trace_depth`` and ``trace_curve:knockout`` [L].
    """
    if "trace_curve:knockout" not in result.profiles:
        return None
    depth = np.asarray(result.profiles["trace_depth"], dtype=float)
    curve = np.asarray(result.profiles["trace_curve:knockout"], dtype=float)
    fig, ax = figure(width=6.0, height=3.0)
    for key, color in (("early-to-middle", "#1b9e77"), ("late", "#d95f02")):
        text = str(result.thresholds.get(key, ""))
        if "[" in text:
            lo, hi = (float(v) for v in text[text.index("[") + 1:text.index("]")].split(","))
            ax.axvspan(lo, hi, color=color, alpha=0.12, lw=0, label=f"{key} windows")
    ax.plot(depth, curve, color="#222222", marker="o", ms=3, lw=1.4, label="mean relative drop")
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xlabel("normalized depth of the window's centre")
    ax.set_ylabel("answer probability drop\n(relative to clean)")
    ax.set_title(f"{result.claim_id} · {result.model}: attention knockout last -> subject", loc="left")
    ax.legend(fontsize=7, frameon=False)
    return png(fig)


KNOCKOUT_PLOTS = (("Attention knockout: drop per window", knockout_curve_plot),)
