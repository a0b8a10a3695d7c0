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
