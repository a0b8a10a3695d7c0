"""Evidence plots of a cross-model (H4) `ClaimResult`, as PNG bytes.

Contents
--------
profile_overlay_plot : one panel per profile kind, every model's profile over normalized depth
                       (dashed: the same profile on the surface-only baseline contrast).
agreement_heatmap    : one panel per profile kind, the models x models correlation matrix.
baseline_excess_plot : per kind and pair, agreement minus baseline agreement with its interval.
AGREEMENT_PLOTS      : ``(title, function)`` pairs, registered for the "model_agreement" kind in `report.plots`.

Both read what `evaluation.agreement.evaluate_h4` writes: ``figures["models"]``,
``figures["kinds"]``, ``profiles["depth"]`` [G], ``profiles["profile:<model>:<kind>"]`` [G] and
``profiles["agreement:<kind>"]`` [M, M], ``profiles["baseline:<model>:<kind>"]`` [G] and
``figures["pairs"]`` (rows with ``excess``, ``excess_ci_low``/``_high``); each returns None
when those are absent, so they are
safe to run on any result. Kinds are drawn in separate panels because their scales differ
(a Cohen's d next to a fraction of heads would flatten one of them).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.figure import Figure

from evaluation.result import ClaimResult
from report.plot_style import DPI, FEATURE_COLORS, png

PANEL_WIDTH = 2.9
PANEL_HEIGHT = 2.5
MAX_COLUMNS = 3


def _models_and_kinds(result: ClaimResult) -> tuple[list[str], list[str]] | None:
    models, kinds = result.figures.get("models"), result.figures.get("kinds")
    if not models or not kinds:
        return None
    return [str(m) for m in models], [str(k) for k in kinds]


def _panels(n: int, *, extra_height: float = 0.0) -> tuple[Figure, list]:
    cols = min(n, MAX_COLUMNS)
    rows = -(-n // cols)
    fig = Figure(figsize=(PANEL_WIDTH * cols, PANEL_HEIGHT * rows + extra_height), dpi=DPI,
                 layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[:n]:
        ax.tick_params(labelsize=7)
        ax.title.set_fontsize(8)
    return fig, axes[:n]


def profile_overlay_plot(result: ClaimResult) -> bytes | None:
    """Each kind's profiles of every model over normalized depth (0 = first layer, 1 = last).

    Examples
    --------
    >>> png = profile_overlay_plot(h4_result)  # doctest: +SKIP
    """
    found = _models_and_kinds(result)
    depth = result.profiles.get("depth")
    if found is None or depth is None:
        return None
    models, kinds = found
    depth = np.asarray(depth, dtype=float)
    fig, axes = _panels(len(kinds), extra_height=0.3)
    for ax, kind in zip(axes, kinds):
        for i, model in enumerate(models):
            key = f"profile:{model}:{kind}"
            if key not in result.profiles:
                continue
            values = np.asarray(result.profiles[key], dtype=float)
            if values.shape != depth.shape:
                raise ValueError(f"`{key}` has shape {values.shape}, `depth` {depth.shape}")
            color = FEATURE_COLORS[i % len(FEATURE_COLORS)]
            ax.plot(depth, values, marker="o", ms=2.5, lw=1.2, label=model, color=color)
            base = result.profiles.get(f"baseline:{model}:{kind}")
            if base is not None:
                ax.plot(depth, np.asarray(base, dtype=float), lw=1.0, ls="--", color=color,
                        label=f"{model} (surface baseline)")
        if kind.split(" ", 1)[-1].startswith("effect"):
            ax.axhline(0, lw=0.6, color="0.75")
        ax.set_xlim(-0.03, 1.03)
        ax.set_title(kind, loc="left")
        ax.set_xlabel("normalized depth", fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(len(models), 4), frameon=False, fontsize=7)
    fig.suptitle(f"{result.claim_id}: profiles over normalized depth", fontsize=9, x=0.01, ha="left")
    return png(fig)


def agreement_heatmap(result: ClaimResult) -> bytes | None:
    """Each kind's models x models correlation matrix, cells annotated (-1 blue .. +1 red).

    Examples
    --------
    >>> png = agreement_heatmap(h4_result)  # doctest: +SKIP
    """
    found = _models_and_kinds(result)
    if found is None:
        return None
    models, kinds = found
    mats = {k: np.asarray(result.profiles[f"agreement:{k}"], dtype=float)
            for k in kinds if f"agreement:{k}" in result.profiles}
    if not mats:
        return None
    method = str(result.thresholds.get("method", "correlation"))
    fig, axes = _panels(len(mats))
    image = None
    for ax, (kind, mat) in zip(axes, mats.items()):
        if mat.shape != (len(models), len(models)):
            raise ValueError(f"`agreement:{kind}` has shape {mat.shape}, expected {(len(models),) * 2}")
        image = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        for i in range(len(models)):
            for j in range(len(models)):
                text = "n/a" if not np.isfinite(mat[i, j]) else f"{mat[i, j]:.2f}"
                strong = np.isfinite(mat[i, j]) and abs(mat[i, j]) > 0.6
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if strong else "black")
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(models)), models, fontsize=7)
        ax.set_title(kind, loc="left")
    bar = fig.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label(f"{method} on the depth grid", fontsize=7)
    bar.ax.tick_params(labelsize=7)
    return png(fig)


def baseline_excess_plot(result: ClaimResult) -> bytes | None:
    """Per kind and pair of models: agreement minus the surface baseline's agreement, with its
    bootstrap interval (the claim needs every interval above 0); undefined rows marked n/a.

    Examples
    --------
    >>> png = baseline_excess_plot(h4_result)  # doctest: +SKIP
    """
    rows = [r for r in result.figures.get("pairs") or [] if "excess" in r]
    if not rows:
        return None
    fig = Figure(figsize=(6.5, 1.1 + 0.32 * len(rows)), dpi=DPI, layout="constrained")
    ax = fig.subplots()
    reach = 1.0
    for y, r in enumerate(rows):
        value, low, high = (np.nan if r.get(k) is None else float(r[k]) for k in ("excess", "excess_ci_low",
                                                                                 "excess_ci_high"))
        if np.isfinite(low) and np.isfinite(high):
            ax.plot([low, high], [y, y], lw=2.0, color=FEATURE_COLORS[0] if low > 0 else "0.55")
            reach = max(reach, abs(low), abs(high))
        if np.isfinite(value):
            ax.plot([value], [y], "o", ms=4, color="black")
        else:
            ax.text(0, y, "n/a", ha="center", va="center", fontsize=7)
    ax.axvline(0, lw=0.8, color="0.6")
    ax.set_yticks(range(len(rows)), [f"{r['kind']}: {r['model_a']} vs {r['model_b']}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1.05 * reach, 1.05 * reach)  # a difference of correlations lies in [-2, 2]
    ax.tick_params(labelsize=7)
    level = result.thresholds.get("ci_level", 0.95)
    ax.set_xlabel(f"agreement minus {result.thresholds.get('baseline', 'baseline')} agreement\n"
                  f"({float(level):.0%} bootstrap interval over pairs; required: above 0)", fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


AGREEMENT_PLOTS: tuple[tuple[str, Callable[[ClaimResult], bytes | None]], ...] = (
    ("Profiles over normalized depth, per model", profile_overlay_plot),
    ("Agreement between models", agreement_heatmap),
    ("Agreement beyond the surface-only baseline", baseline_excess_plot),
)
