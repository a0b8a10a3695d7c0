"""Evidence plots of a `ClaimResult`, as small PNGs for a self-contained report.

Contents
--------
layer_effect_plot    : per-layer Cohen's d with CIs, +-threshold lines, specialized layers shaded.
head_heatmap         : layers x heads effect of the primary feature, specialized heads marked
                       (recall ▲, reasoning ▼, mixed ◆; legend below).
neuron_fraction_plot : per-layer stacked % of neurons (or heads) specialized: recall / reasoning / mixed.
depth_profile_plot   : ``profile:<name>`` lines over normalized depth.
controls_plot        : per-layer counts, the model's line vs the controls' min-max band.
control_rule_plot    : per control, model - control in the claim's estimand with its interval and
                       the one-sided bound that decides it (the claim beats it when > 0).
COMPONENT_PLOTS      : ``(title, function)`` pairs, registered for the "component" kind in `report.plots`.

Each function returns PNG bytes, or None when the profiles it needs are absent: a claim that
measures less simply has fewer plots. Style and palette: `report.plot_style`.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.patches import Patch

from evaluation.result import ClaimResult
from report.plot_style import (
    CONTROL_BAND,
    FEATURE_COLORS,
    MIXED,
    REASONING,
    RECALL,
    figure,
    integer_ticks,
    legend,
    png,
    side_color,
)

# control rule: the claim beats the control / the control explains the result
BEATS, EXPLAINS = "#1b7837", "#e66101"
# label_code -> (marker, legend label): recall up, reasoning down, mixed a diamond.
LABEL_MARKERS = {1: ("^", "recall"), 2: ("v", "reasoning"), 3: ("D", "mixed")}
MAX_HEADS = 128  # wider [L, X] effect arrays are neurons, too wide for a lettered heatmap
_CONTROL_KEY = re.compile(r"control:(.+):count_per_layer")
_REAL_CONDITIONS = ("real", "trained")


def layer_effect_plot(result: ClaimResult) -> bytes | None:
    """Per-layer effect size (one series per feature) with CI bars and +-``min_effect`` lines.

    Reads ``effect`` or ``effect:<feature>`` [L], ``ci_low[:<feature>]``/``ci_high[:<feature>]``
    [L], ``specialized`` [L] and optionally ``label_code`` [L]; ``thresholds["min_effect"]``.

    Examples
    --------
    >>> png = layer_effect_plot(result)  # doctest: +SKIP
    """
    series = _effect_series(result.profiles, ndim=1)
    if not series:
        return None
    n_layers = len(series[0][1])
    fig, ax = figure(width=min(10.0, 3.5 + 0.2 * n_layers), height=3.0)
    x = np.arange(n_layers)
    handles = _shade_specialized(ax, result.profiles, series[0][1], n_layers)
    offsets = np.linspace(-0.18, 0.18, len(series)) if len(series) > 1 else [0.0]
    for i, (name, effect, low, high) in enumerate(series):
        yerr = None
        if low is not None and high is not None:
            # NaN bounds (undefined CI) draw no bar; clipping guards a CI that excludes d.
            yerr = np.clip(np.vstack([effect - low, high - effect]), 0, None)
        handles.append(ax.errorbar(x + offsets[i], effect, yerr=yerr, fmt="o", ms=3.5, lw=0.9,
                                   capsize=1.5, color=FEATURE_COLORS[i % len(FEATURE_COLORS)],
                                   label=name))
    threshold = _min_effect(result.thresholds)
    if threshold is not None:
        for sign in (1, -1):
            ax.axhline(sign * threshold, ls="--", lw=0.8, color="0.35")
        handles.append(ax.plot([], [], ls="--", lw=0.8, color="0.35",
                               label=f"|d| = {threshold:g}")[0])
    ax.axhline(0, lw=0.6, color="0.75")
    ax.set_xlim(-0.6, n_layers - 0.4)
    integer_ticks(ax.xaxis, n_layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("Cohen's d (recall − reasoning)")
    ax.set_title(f"{result.claim_id} · {result.model}: effect size per layer", loc="left")
    legend(ax, handles)
    return png(fig)


def head_heatmap(result: ClaimResult) -> bytes | None:
    """Layers x heads heatmap of the primary feature's effect, specialized heads marked.

    Reads the first ``effect:<feature>`` [L, H] (or ``meta["primary_feature"]`` when given),
    ``label_code`` [L, H] (markers: ▲ recall, ▼ reasoning, ◆ mixed, with a legend) or else
    ``specialized`` [L, H] (dots).
    The colour scale is symmetric at the 99th percentile of |d|, so a few extreme heads do not
    wash out the rest (the colour bar is marked as extended). Neuron arrays [L, N] get no
    heatmap (`neuron_fraction_plot` summarises them); see `_component_noun`.
    """
    series = _effect_series(result.profiles, ndim=2,
                            preferred=result.meta.get("primary_feature"))
    if not series or _component_noun(result) != "heads":
        return None
    feature, effect, _, _ = series[0]
    n_layers, n_heads = effect.shape
    fig, ax = figure(width=min(9.0, max(4.5, 2.6 + 0.2 * n_heads)),
                      height=min(8.0, max(3.0, 1.4 + 0.17 * n_layers)))
    finite = np.abs(effect[np.isfinite(effect)])
    scale = float(np.percentile(finite, 99)) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(effect, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto",
                      interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, shrink=0.85, extend="both", pad=0.02)
    bar.set_label(f"Cohen's d, {feature}\n(+ recall, − reasoning)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(True)
    codes = _optional(result.profiles, "label_code", effect.shape)
    specialized = _optional(result.profiles, "specialized", effect.shape)
    # Markers, not letters: a shape reads at any cell size, and the white edge keeps it visible
    # on the darkest cells of the colour scale.
    size = max(3.0, min(7.0, 180.0 / max(n_layers, n_heads)))
    handles = []
    if codes is not None:
        for code, (marker, label) in LABEL_MARKERS.items():
            layers, heads = np.nonzero(codes == code)
            if layers.size:
                handles.append(ax.plot(heads, layers, ls="none", marker=marker, ms=size, mfc="black",
                                       mec="white", mew=0.6, label=label)[0])
    elif specialized is not None:
        layers, heads = np.nonzero(specialized.astype(bool))
        handles.append(ax.plot(heads, layers, ls="none", marker="o", ms=size * 0.7, mfc="black", mec="white",
                               mew=0.5, label="specialized")[0])
    if handles:
        fig.legend(handles=handles, loc="outside lower left", ncol=len(handles) + 1, frameon=False,
                   fontsize=7, title="specialized heads:", title_fontsize=7, handletextpad=0.2,
                   columnspacing=0.8)
    elif codes is None and specialized is None:
        ax.text(0.0, -0.2, "specialization not recorded", transform=ax.transAxes, fontsize=7)
    integer_ticks(ax.xaxis, n_heads)
    integer_ticks(ax.yaxis, n_layers)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(f"{result.claim_id} · {result.model}: effect size per head", loc="left")
    return png(fig)


def neuron_fraction_plot(result: ClaimResult) -> bytes | None:
    """Per-layer stacked bars: % of the layer's components specialized for recall / reasoning
    (/ mixed).

    Reads ``frac_recall``, ``frac_reasoning`` and ``frac_mixed`` [L] (any present), fractions in
    [0, 1]. Drawn for neurons, and for heads as a per-layer summary of the heatmap.
    """
    parts = [(name, np.asarray(result.profiles[f"frac_{name}"], dtype=float), color)
             for name, color in (("recall", RECALL), ("reasoning", REASONING), ("mixed", MIXED))
             if f"frac_{name}" in result.profiles]
    if not parts:
        return None
    n_layers = len(parts[0][1])
    if any(values.shape != (n_layers,) for _, values, _ in parts):
        raise ValueError("`frac_recall`, `frac_reasoning`, `frac_mixed` must have shape [layers]")
    noun = _component_noun(result)
    fig, ax = figure(width=min(10.0, 3.5 + 0.2 * n_layers), height=3.0)
    x = np.arange(n_layers)
    bottom = np.zeros(n_layers)
    for name, values, color in parts:
        heights = np.nan_to_num(values) * 100
        ax.bar(x, heights, bottom=bottom, width=0.8, color=color, label=name)
        bottom = bottom + heights
    top = int(np.argmax(bottom))
    ax.annotate(f"{bottom[top]:.1f}%", (top, bottom[top]), xytext=(0, 2),
                textcoords="offset points", ha="center", va="bottom", fontsize=7)
    ax.set_xlim(-0.6, n_layers - 0.4)
    ax.set_ylim(0, max(1.0, bottom.max()) * 1.12)
    integer_ticks(ax.xaxis, n_layers)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"specialized {noun} (% of layer)")
    ax.set_title(f"{result.claim_id} · {result.model}: specialized {noun} per layer", loc="left")
    legend(ax)
    return png(fig)


def depth_profile_plot(result: ClaimResult) -> bytes | None:
    """Lines of every ``profile:<name>`` [G] over ``depth`` [G] (0 = first layer, 1 = last).

    The y label is ``meta["profile_label"]`` when given, else "fraction specialized".
    """
    if result.level == "model":  # cross-model results mix kinds on different scales: own plots
        return None
    depth = result.profiles.get("depth")
    lines = {key.split(":", 1)[1]: np.asarray(value, dtype=float)
             for key, value in result.profiles.items() if key.startswith("profile:")}
    if depth is None or not lines:
        return None
    depth = np.asarray(depth, dtype=float)
    fig, ax = figure(width=5.5, height=3.0)
    for i, (name, values) in enumerate(lines.items()):
        if values.shape != depth.shape:
            raise ValueError(f"`profile:{name}` has shape {values.shape}, `depth` {depth.shape}")
        ax.plot(depth, values, marker="o", ms=3.5, lw=1.3, label=name,
                color=side_color(name, FEATURE_COLORS[i % len(FEATURE_COLORS)]))
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("normalized depth (0 = first layer, 1 = last)")
    ax.set_ylabel(result.meta.get("profile_label", "fraction specialized"))
    ax.set_title(f"{result.claim_id} · {result.model}: profile over depth", loc="left")
    legend(ax)
    return png(fig)


def controls_plot(result: ClaimResult) -> bytes | None:
    """Per-layer counts of specialized components: the model's line against the band the
    control conditions span (min to max over conditions, median dashed).

    Reads ``control:<condition>:count_per_layer`` [L] (``real``/``trained`` drawn as the real
    model) and ``count_per_layer`` [L]; needs at least one control besides the real model. One
    band instead of a line per condition: the question is whether the model leaves the band.
    """
    real, controls = None, {}
    if "count_per_layer" in result.profiles:
        real = np.asarray(result.profiles["count_per_layer"], dtype=float)
    for key, value in result.profiles.items():
        match = _CONTROL_KEY.fullmatch(key)
        if match is None:
            continue
        if match.group(1) in _REAL_CONDITIONS:
            real = np.asarray(value, dtype=float)
        else:
            controls[match.group(1)] = np.asarray(value, dtype=float)
    if not controls:
        return None
    n_layers = len(next(iter(controls.values())))
    for name, counts in controls.items():
        if counts.shape != (n_layers,):
            raise ValueError(f"control {name!r} count_per_layer has shape {counts.shape}")
    stack = np.vstack(list(controls.values()))
    fig, ax = figure(width=min(10.0, 3.5 + 0.2 * n_layers), height=3.0)
    x = np.arange(n_layers)
    low, high = np.nanmin(stack, axis=0), np.nanmax(stack, axis=0)
    ax.fill_between(x, low, high, color=CONTROL_BAND, alpha=0.35, lw=0, step=None,
                    label=f"controls: min–max of {len(controls)}")
    ax.plot(x, np.nanmedian(stack, axis=0), color=CONTROL_BAND, lw=1.0, ls="--",
            label="controls: median")
    if real is not None:
        ax.plot(x, real, color="black", lw=2.0, marker="o", ms=3.5, label="model")
        above = real > high
        if above.any():  # where the model leaves the band on the high side
            ax.plot(x[above], real[above], ls="none", marker="o", ms=6, mfc="none", mec=RECALL, mew=1.2,
                    label="model above every control")
    ax.set_xlim(-0.6, n_layers - 0.4)
    ax.set_ylim(bottom=0)
    integer_ticks(ax.xaxis, n_layers)
    ax.set_xlabel("layer")
    ax.set_ylabel(f"specialized {_component_noun(result)} per layer")
    ax.set_title(f"{result.claim_id} · {result.model}: model vs controls", loc="left")
    legend(ax)
    return png(fig)


def control_rule_plot(result: ClaimResult) -> bytes | None:
    """Forest plot of the control rule: for each control row with an estimand difference
    (``extra``: difference, difference_ci_low/high, difference_lower_bound), the difference
    model - control with its interval, the one-sided lower bound as a tick, and 0; green when
    the bound is above 0 (the claim beats the control), orange otherwise, grey for the
    length-matched row (decided by its own rule, shown for its difference)."""
    rows = [r for r in result.controls
            if all(isinstance(r.extra.get(k), (int, float)) and np.isfinite(r.extra[k])
                   for k in ("difference", "difference_ci_low", "difference_ci_high", "difference_lower_bound"))]
    if not rows:
        return None
    fig, ax = figure(width=6.5, height=1.0 + 0.35 * len(rows))
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        e = row.extra
        if row.control == "length_matched":
            colour = CONTROL_BAND
        else:
            colour = BEATS if e["difference_lower_bound"] > 0 else EXPLAINS
        ax.plot([e["difference_ci_low"], e["difference_ci_high"]], [yi, yi], color=colour, lw=2.0)
        ax.plot(e["difference"], yi, "o", color=colour, ms=4)
        ax.plot(e["difference_lower_bound"], yi, "|", color="black", ms=10, mew=1.5)
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y, [r.name for r in rows], fontsize=7)
    estimand = rows[0].extra.get("estimand", "estimand")
    ax.set_xlabel(f"{estimand}: model − control (interval; | one-sided lower bound)")
    ax.set_title(f"{result.claim_id} · {result.model}: the claim beats a control when | is right of 0",
                 loc="left")
    return png(fig)


COMPONENT_PLOTS: tuple[tuple[str, Callable[[ClaimResult], bytes | None]], ...] = (
    ("Effect size per layer", layer_effect_plot),
    ("Effect size per head", head_heatmap),
    ("Specialized components per layer", neuron_fraction_plot),
    ("Profile over depth", depth_profile_plot),
    ("Real model vs controls", controls_plot),
    ("Control rule: model − control in the estimand", control_rule_plot),
)


def _component_noun(result: ClaimResult) -> str:
    """"layers"/"heads"/"neurons": the claim's level, else ``meta["component_level"]`` (depth
    claims), else guessed from the width of a 2-D effect array (heads <= `MAX_HEADS`)."""
    for level in (result.level, result.meta.get("component_level")):
        if level in ("layer", "head", "neuron"):
            return f"{level}s"
    widths = [np.shape(v)[1] for k, v in result.profiles.items()
              if k.startswith("effect") and np.ndim(v) == 2]
    if widths:
        return "heads" if widths[0] <= MAX_HEADS else "neurons"
    return "components"


def _effect_series(profiles: dict[str, Any], *, ndim: int, preferred: str | None = None
                   ) -> list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """``(feature, effect, ci_low, ci_high)`` for each effect profile of `ndim` dimensions."""
    series = []
    for key, value in profiles.items():
        if key != "effect" and not key.startswith("effect:"):
            continue
        effect = np.asarray(value, dtype=float)
        if effect.ndim != ndim:
            continue
        suffix = key[len("effect"):]
        feature = suffix[1:] or "effect"
        bounds = [profiles.get(f"{name}{suffix}") for name in ("ci_low", "ci_high")]
        low, high = (None if b is None else np.asarray(b, dtype=float) for b in bounds)
        for name, bound in (("ci_low", low), ("ci_high", high)):
            if bound is not None and bound.shape != effect.shape:
                raise ValueError(f"`{name}{suffix}` has shape {bound.shape}, `{key}` {effect.shape}")
        series.append((feature, effect, low, high))
    if preferred is not None:
        series.sort(key=lambda item: item[0] != preferred)
    return series


def _shade_specialized(ax: Any, profiles: dict[str, Any], effect: np.ndarray,
                       n_layers: int) -> list[Any]:
    """Shade specialized layers by direction; return legend handles for the shades used."""
    specialized = _optional(profiles, "specialized", (n_layers,))
    if specialized is None:
        return []
    codes = _optional(profiles, "label_code", (n_layers,))
    if codes is None:  # direction from the sign of the first feature's effect
        codes = np.where(effect >= 0, 1, 2)
    colors = {1: (RECALL, "specialized: recall"), 2: (REASONING, "specialized: reasoning"),
              3: (MIXED, "specialized: mixed")}
    used = set()
    for layer in np.nonzero(specialized.astype(bool))[0]:
        code = int(codes[layer]) if int(codes[layer]) in colors else 3
        ax.axvspan(layer - 0.5, layer + 0.5, color=colors[code][0], alpha=0.13, lw=0)
        used.add(code)
    return [Patch(color=colors[code][0], alpha=0.25, label=colors[code][1]) for code in sorted(used)]


def _optional(profiles: dict[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if key not in profiles:
        return None
    value = np.asarray(profiles[key])
    if value.shape != tuple(shape):
        raise ValueError(f"`{key}` has shape {value.shape}, expected {tuple(shape)}")
    return value


def _min_effect(thresholds: dict[str, Any]) -> float | None:
    value = thresholds.get("min_effect")
    try:
        return abs(float(value)) if value is not None else None
    except (TypeError, ValueError):
        raise ValueError(f"`thresholds['min_effect']` must be a number, got {value!r}") from None
