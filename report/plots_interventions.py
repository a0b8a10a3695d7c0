"""Evidence plots of intervention claims (H5), drawn like `report.plots_components` (PNG bytes or None).

Contents
--------
dose_response_plot : selectivity vs number of ablated components, with the random 5-95% band.
null_plot          : the random-set selectivities at the tested k, and the selected set's value.
trace_curve_plot   : indirect effect over normalized depth per corruption, with bootstrap bands.
trace_heatmap_plot : causal-tracing heatmaps (site @ position x layer) per prompt side.
INTERVENTION_PLOTS : ``(title, function)`` pairs, registered for the "intervention" kind in `report.plots`.

Every function returns None for results without its profiles, so H1-H3 cards are unchanged.
`report.plots_components` is imported inside the functions: it imports this module to register the
plots, and a module-level import back would be circular.
"""
from __future__ import annotations


import numpy as np

from evaluation.result import ClaimResult
from report.plot_style import DPI, REASONING, RECALL, figure, integer_ticks, legend, png

DIRECTIONS = ("recall", "reasoning")


def dose_response_plot(result: ClaimResult) -> bytes | None:
    """Selectivity of the top-k set per direction vs k (log2 axis), random band shaded.

    Reads ``dose:<direction>:k``, ``:sel``, ``:lo``, ``:med``, ``:hi`` [K].
    """
    present = [d for d in DIRECTIONS if f"dose:{d}:k" in result.profiles]
    if not present:
        return None
    fig, ax = figure(width=6.0, height=3.2)
    for d in present:
        color = RECALL if d == "recall" else REASONING
        k = np.asarray(result.profiles[f"dose:{d}:k"], dtype=float)
        get = (lambda name, d=d: np.asarray(result.profiles[f"dose:{d}:{name}"], dtype=float))
        ax.fill_between(k, get("lo"), get("hi"), color=color, alpha=0.15, lw=0,
                        label=f"random {d}-matched sets, 5-95%")
        ax.plot(k, get("med"), color=color, ls=":", lw=1.0)
        ax.plot(k, get("sel"), color=color, marker="o", ms=4, lw=1.6, label=f"top-k {d} set")
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xscale("log", base=2)
    ks = sorted({float(v) for d in present for v in result.profiles[f"dose:{d}:k"]})
    ax.set_xticks(ks, [f"{int(v)}" for v in ks])
    ax.set_xlabel("components ablated (k)")
    ax.set_ylabel(f"selectivity ({result.figures.get('metric', 'metric')} drop,\nown task - other task)")
    ax.set_title(f"{result.claim_id} · {result.model}: dose-response", loc="left")
    legend(ax)
    return png(fig)


def null_plot(result: ClaimResult) -> bytes | None:
    """Histogram of random-set selectivities at the tested k with the selected set's value.

    Reads ``null:<direction>`` [draws] and ``null_observed:<direction>`` [1].
    """
    present = [d for d in DIRECTIONS if f"null:{d}" in result.profiles]
    if not present:
        return None
    fig, ax = figure(width=6.0, height=3.0)
    values = [np.asarray(result.profiles[k], dtype=float).ravel() for d in present
              for k in (f"null:{d}", f"null_observed:{d}")]
    bins = np.linspace(*np.nanpercentile(np.concatenate(values), [0, 100]), 31)  # shared by both sides
    for d in present:
        color = RECALL if d == "recall" else REASONING
        null = np.asarray(result.profiles[f"null:{d}"], dtype=float)
        observed = float(np.asarray(result.profiles[f"null_observed:{d}"]).ravel()[0])
        ax.hist(null, bins=bins, color=color, alpha=0.35, label=f"random sets vs {d} (n={len(null)})")
        ax.axvline(observed, color=color, lw=2, label=f"top-k {d}: {observed:+.3g}")
    ax.axvline(0, color="0.6", lw=0.7)
    ax.set_xlabel("selectivity (own task drop - other task drop)")
    ax.set_ylabel("random draws")
    ax.set_title(f"{result.claim_id} · {result.model}: selected vs random sets", loc="left")
    legend(ax)
    return png(fig)


def trace_curve_plot(result: ClaimResult) -> bytes | None:
    """Mean indirect effect over normalized depth per corruption, 95% bootstrap bands.

    Reads ``trace_depth`` [L], ``trace_curve:<corruption>``, ``trace_lo:..``, ``trace_hi:..`` [L].
    """
    depth = result.profiles.get("trace_depth")
    curves = [k.split(":", 1)[1] for k in result.profiles if k.startswith("trace_curve:")]
    if depth is None or not curves:
        return None
    depth = np.asarray(depth, dtype=float)
    fig, ax = figure(width=6.0, height=3.2)
    colors = {"noise": "#222222", "replace": "#d95f02"}
    labels = {"noise": "Gaussian noise (3 sd)", "replace": "symmetric token replacement",
              "logit_diff": "Gaussian noise, logit difference"}
    for name in curves:
        color = colors.get(name, "#7570b3")
        ax.fill_between(depth, result.profiles[f"trace_lo:{name}"], result.profiles[f"trace_hi:{name}"],
                        color=color, alpha=0.15, lw=0)
        ax.plot(depth, result.profiles[f"trace_curve:{name}"], color=color, marker="o", ms=3, lw=1.4,
                label=labels.get(name, name))
    max_depth = result.meta.get("max_depth")
    interval = result.meta.get("depth_interval")  # criteria "rome": a pre-registered two-sided interval
    if interval is not None:
        ax.axvspan(float(interval[0]), float(interval[1]), color="#1b9e77", alpha=0.07, lw=0,
                   label="pre-registered depth interval")
    elif max_depth is not None:
        ax.axvspan(-0.03, float(max_depth), color="#1b9e77", alpha=0.07, lw=0, label="early-to-middle")
    ax.axhline(0, color="0.6", lw=0.7)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xlabel("normalized depth (0 = first layer, 1 = last)")
    ax.set_ylabel("normalized indirect effect\n(restored - corrupted) / (clean - corrupted)" if interval is not None
                  else "indirect effect\n(p restored - p corrupted)")
    site = result.thresholds.get("site", "")
    position = result.thresholds.get("position", "")
    ax.set_title(f"{result.claim_id} · {result.model}: {site} @ {position}", loc="left")
    legend(ax)
    return png(fig)


def trace_heatmap_plot(result: ClaimResult) -> bytes | None:
    """One heatmap per prompt side: rows ``site @ position``, columns layers, colour = mean IE.

    Reads ``trace_heatmap:<side>`` [R, L] and ``meta["trace_rows"]`` (R labels).
    """
    sides = [k.split(":", 1)[1] for k in result.profiles if k.startswith("trace_heatmap:")]
    if not sides:
        return None
    from matplotlib.figure import Figure

    maps = [np.asarray(result.profiles[f"trace_heatmap:{s}"], dtype=float) for s in sides]
    rows = list(result.meta.get("trace_rows") or [f"row {i}" for i in range(maps[0].shape[0])])
    n_layers = maps[0].shape[1]
    fig = Figure(figsize=(min(11.0, 3.0 + 0.22 * n_layers), 1.2 + 0.9 * len(sides) * len(rows) / 3),
                 dpi=DPI, layout="constrained")
    axes = fig.subplots(len(sides), 1, squeeze=False)[:, 0]
    scale = max(float(np.nanmax(np.abs(np.stack(maps)))), 1e-6)
    for ax, side, values in zip(axes, sides, maps):
        image = ax.imshow(values, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        integer_ticks(ax.xaxis, n_layers)
        ax.tick_params(labelsize=7)
        ax.set_title(f"{side} prompts", loc="left", fontsize=8)
    axes[-1].set_xlabel("layer", fontsize=8)
    bar = fig.colorbar(image, ax=list(axes), shrink=0.9, pad=0.01)
    bar.set_label("mean indirect effect", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{result.claim_id} · {result.model}: causal tracing (Gaussian noise)", x=0.01, ha="left",
                 fontsize=9)
    return png(fig)


INTERVENTION_PLOTS = (
    ("Dose-response with random band", dose_response_plot),
    ("Selected vs random sets", null_plot),
    ("Indirect effect over depth", trace_curve_plot),
    ("Causal-tracing heatmaps", trace_heatmap_plot),
)
