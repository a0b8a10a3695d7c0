"""Intervention claims (H5) as data: the YAML schema, its validation and the frozen records.

Contents
--------
KINDS                   : "double_dissociation" (H5a) and "recall_localization" (H5b).
DissociationClaim       : ablate top-k recall / reasoning components, compare with random ones.
LocalizationClaim       : where the causal-tracing effect of one site peaks over depth.
load_intervention_claim : read and validate ``hypotheses/<slug>/intervention.yaml``.

The files are named ``intervention.yaml`` (not ``claim.yaml``) because their keys differ from
the H1-H3 schema. Every problem of a file is reported at once, naming the file and the key
(`evaluation.component_claim.ClaimFileError`); a file never states a result, only what is measured and
what decides the verdict.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The reader and field validators of the H1-H3 schema, reused so both schemas word problems alike.
from evaluation.schema import (
    check_keys,
    field_choice,
    field_number,
    load_claim_file,
)
from tasks.errors import shown

KINDS = ("double_dissociation", "recall_localization")
ABLATIONS = ("zero", "mean", "resample", "position_mean")
SELECTION_METHODS = ("criteria", "causal")
POSITIONS = ("all", "content")
METRICS = ("logprob", "logit_diff")
LEVELS = ("head", "neuron")
SIDES = ("recall", "reasoning")
TRACE_SITES = ("resid", "mlp", "attn")
TRACE_POSITIONS = ("subject_last", "last")
COMMON_KEYS = ("id", "title", "statement", "kind", "reported")
DISSOCIATION_KEYS = ("selection", "ablation", "metric", "k", "random", "min_prompts")
DISSOCIATION_OPTIONAL = ("dose_response", "positions", "normalize", "interaction", "tasks", "max_pairs")
LOCALIZATION_KEYS = ("side", "site", "position", "corruption", "min_prompts", "heatmaps")
# criteria "study" (the first suite's: peak depth <= max_depth and early > late, Wilcoxon) needs
# max_depth and alpha; criteria "rome" (peak depth's bootstrap interval inside a pre-registered
# two-sided depth_interval, windows of window_fraction x L layers) needs depth_interval.
LOCALIZATION_OPTIONAL = ("criteria", "max_depth", "alpha", "depth_interval", "window_fraction", "sever")
LOCALIZATION_CRITERIA = ("study", "rome")
OPTIONAL_KEYS = ("notes", "controls", "max_prompts", "bootstrap")


@dataclass(frozen=True)
class Selection:
    """How components are chosen.

    Attributes
    ----------
    level : "head" or "neuron"
    claim : str
        method "criteria" (the study's framing): directory under ``hypotheses/`` whose
        ``claim.yaml`` (test, alpha, correction, minimum effect, fold consistency) labels
        components recall / reasoning-specialized. Empty for "causal".
    train_fraction : float
        "criteria": share of pairs used for selection; the other pairs are held out.
    method : "criteria" or "causal"
        "causal": attribution patching ranks, exact ablation verifies, cross-fitted over `folds`
        (`evaluation.causal_selection`).
    folds : int
        "causal": number of cross-fitting folds.
    candidates : int
        "causal": AtP's top candidates per direction verified by exact ablation.
    """

    level: str
    claim: str
    train_fraction: float
    method: str = "criteria"
    folds: int = 0
    candidates: int = 0


@dataclass(frozen=True)
class DissociationClaim:
    """H5a: top-k specialized components, ablated, impair their own task more than the other."""

    id: str
    title: str
    statement: str
    path: Path
    selection: Selection
    ablation: str
    metric: str
    k: int
    draws: int
    alpha: float
    dose_k: tuple[int, ...]
    band_draws: int
    min_prompts: int
    reported: dict
    notes: str = ""
    kind: str = "double_dissociation"
    positions: str = "all"
    normalize_floor: float = 0.0
    exceedances: int = 0
    max_draws: int = 0
    batch: int = 20
    bootstrap: int = 0
    ci_level: float = 0.95
    tasks: str | None = None
    max_pairs: int = 0

    def thresholds(self) -> dict:
        if self.selection.method == "causal":
            return {"selection": f"causal: AtP top {self.selection.candidates} per direction verified by exact "
                                 f"ablation, cross-fitted over {self.selection.folds} folds",
                    "ablation": f"{self.ablation} at {self.positions} positions", "metric": self.metric,
                    "normalization": f"drop / max(clean logit difference, {self.normalize_floor:g})",
                    "k": self.k, "random sets": f"sequential: stop at {self.exceedances} exceedances or "
                                                f"{self.max_draws} draws", "alpha": self.alpha,
                    "interaction": f"{self.ci_level:.0%} hierarchical bootstrap ({self.bootstrap} replicates)",
                    "min prompts per side": self.min_prompts,
                    "expectation": "selectivity > 0 and p < alpha for both directions, and the excess "
                                   "interaction's interval above 0"}
        return {"selection": f"{self.selection.claim} criteria on {self.selection.train_fraction:.0%} of pairs",
                "ablation": self.ablation, "metric": self.metric, "k": self.k,
                "random draws": self.draws, "alpha": self.alpha, "dose k": list(self.dose_k),
                "band draws": self.band_draws, "min prompts per side": self.min_prompts,
                "expectation": "selectivity > 0 and p < alpha, for both directions"}


@dataclass(frozen=True)
class LocalizationClaim:
    """H5b: the indirect effect of `site` at `position` on `side` prompts peaks early-to-middle."""

    id: str
    title: str
    statement: str
    path: Path
    side: str
    site: str
    position: str
    corruption: str
    noise_factor: float
    noise_samples: int
    max_depth: float
    alpha: float
    min_prompts: int
    heatmap_sides: tuple[str, ...]
    heatmap_sites: tuple[str, ...]
    heatmap_positions: tuple[str, ...]
    replace_must_survive: bool | None
    reported: dict
    max_prompts: int = 0
    bootstrap: int = 1000
    notes: str = ""
    kind: str = "recall_localization"
    criteria: str = "study"
    noise_after: int = 0
    window_fraction: float = 0.0
    depth_interval: tuple[float, float] | None = None
    sever: bool = False

    def window(self, n_layers: int) -> int:
        """Layers restored together: ``round(window_fraction * L)``, at least 1."""
        return max(1, round(self.window_fraction * n_layers))

    def thresholds(self) -> dict:
        if self.criteria == "rome":
            lo, hi = self.depth_interval
            return {"site": self.site, "position": self.position, "side": self.side,
                    "corruption": f"noise, {self.noise_factor:g} x the std of the stream entering layer "
                                  f"{self.noise_after}, {self.noise_samples} draws per prompt",
                    "window": f"{self.window_fraction:g} x L layers centred on each layer",
                    "measure": "normalized indirect effect (probability), logit difference beside it",
                    "depth interval": f"[{lo:g}, {hi:g}] (pre-registered, two-sided)",
                    "min prompts": self.min_prompts, "bootstrap": self.bootstrap,
                    "expectation": "the peak's 95% bootstrap depth interval inside the depth interval, and the "
                                   "peak effect's lower bound > 0 (refuted: outside, or no effect; inconclusive: "
                                   "straddling)"}
        return {"site": self.site, "position": self.position, "side": self.side,
                "corruption": f"{self.corruption} ({self.noise_factor:g} x embedding std)"
                if self.corruption == "noise" else self.corruption,
                "early-to-middle": f"normalized depth <= {self.max_depth:g}", "alpha": self.alpha,
                "min prompts": self.min_prompts,
                "expectation": "peak in early-to-middle layers and early mean > late mean (p < alpha)",
                "symmetric token replacement": {True: "must survive", False: "reported", None: "off"}
                [self.replace_must_survive]}


def _sub_number(sub: dict, parent: str, key: str, problems: list[str], **limits: Any) -> Any:
    """`_number` for ``parent.key``, so a problem names the full key path."""
    if not sub or key not in sub:
        return None  # a missing key is reported once, by `_keys`
    return field_number({f"{parent}.{key}": sub[key]}, f"{parent}.{key}", problems, **limits)


def _int_list(value: Any, key: str, problems: list[str], *, low: int = 1) -> tuple[int, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                      and v >= low for v in value)):
        problems.append(f"`{key}` must be a non-empty list of integers >= {low}, got {shown(value)}")
        return ()
    return tuple(value)


def _str_list(value: Any, key: str, allowed: tuple[str, ...], problems: list[str]) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(v in allowed for v in value)):
        problems.append(f"`{key}` must be a non-empty list of {', '.join(allowed)}; got {shown(value)}")
        return ()
    return tuple(value)


def _parse_selection(data: dict, problems: list[str]) -> Selection | None:
    raw = data.get("selection")
    method = raw.get("method", "criteria") if isinstance(raw, dict) else "criteria"
    if method not in SELECTION_METHODS:
        problems.append(f"`selection.method` must be one of {', '.join(SELECTION_METHODS)}, got {shown(method)}")
        return None
    required = ("level", "claim", "train_fraction") if method == "criteria" else ("level", "folds", "candidates")
    sel = check_keys(raw, "selection", required, ("method",), problems)
    if not sel:
        return None
    level = field_choice(sel.get("level"), "selection.level", LEVELS, problems)
    if method == "causal":
        folds = _sub_number(sel, "selection", "folds", problems, low=2, high=100, closed_low=True, integer=True)
        cands = _sub_number(sel, "selection", "candidates", problems, low=1, high=1e4, closed_low=True,
                            integer=True)
        return Selection(level, "", 0.0, "causal", folds, cands) if None not in (level, folds, cands) else None
    claim = sel.get("claim")
    if not (isinstance(claim, str) and claim.strip() and len(claim) <= 255):
        problems.append(f"`selection.claim` must name a claim directory (e.g. h2_heads), got {shown(claim)}")
        claim = None
    frac = _sub_number(sel, "selection", "train_fraction", problems, low=0.0, high=1.0)
    return Selection(level, claim, frac) if None not in (level, claim, frac) else None


def _parse_dissociation(data: dict, problems: list[str]) -> dict:
    out: dict[str, Any] = {}
    out["selection"] = _parse_selection(data, problems) if "selection" in data else None
    raw = data.get("selection")
    causal = isinstance(raw, dict) and raw.get("method") == "causal"  # even when another selection key is bad
    out["ablation"] = field_choice(data.get("ablation"), "ablation", ABLATIONS, problems)
    out["metric"] = field_choice(data.get("metric"), "metric", METRICS, problems)
    out["k"] = field_number(data, "k", problems, low=1, high=1e6, closed_low=True, integer=True)
    if causal:
        rnd = check_keys(data.get("random"), "random", ("alpha", "exceedances", "max_draws"), ("batch",),
                         problems) if "random" in data else {}
        out["exceedances"] = _sub_number(rnd, "random", "exceedances", problems, low=1, high=1e4, closed_low=True,
                                         integer=True)
        # At least 1,000 draws where the statistic is near alpha (a p-value precise near alpha).
        out["max_draws"] = _sub_number(rnd, "random", "max_draws", problems, low=1000, high=1e6, closed_low=True,
                                       integer=True)
        out["batch"] = _sub_number(rnd, "random", "batch", problems, low=1, high=1e4, closed_low=True,
                                   integer=True) if rnd and "batch" in rnd else 20
        out["draws"] = out["max_draws"]
        if out["ablation"] not in (None, "position_mean") or data.get("positions", "content") != "content":
            problems.append(f"`selection.method: causal` needs `ablation: position_mean` at `positions: content` "
                            f"(attribution patching estimates that ablation), got {shown(out['ablation'])} at "
                            f"{shown(data.get('positions', 'content'))}")
        out["positions"] = field_choice(data.get("positions", "content"), "positions", POSITIONS, problems)
        norm = check_keys(data.get("normalize"), "normalize", ("floor",), (), problems) if "normalize" in data else {}
        out["normalize_floor"] = _sub_number(norm, "normalize", "floor", problems, low=0.0, high=1e3,
                                             closed_low=False) if norm else 0.5
        inter = check_keys(data.get("interaction"), "interaction", ("bootstrap", "level"), (), problems) \
            if "interaction" in data else {}
        out["bootstrap"] = _sub_number(inter, "interaction", "bootstrap", problems, low=100, high=1e6,
                                       closed_low=True, integer=True) if inter else 2000
        out["ci_level"] = _sub_number(inter, "interaction", "level", problems, low=0.0, high=1.0) if inter else 0.95
        if "tasks" in data:
            value = data["tasks"]
            if not (isinstance(value, str) and value.strip() and len(value) <= 255):
                problems.append(f"`tasks` must name a built-in task set or a task file, got {shown(value)}")
            else:
                out["tasks"] = value
        if "max_pairs" in data:
            out["max_pairs"] = field_number(data, "max_pairs", problems, low=8, high=10_000, closed_low=True,
                                            integer=True)
        if out["metric"] not in (None, "logit_diff"):
            problems.append(f"`metric` must be logit_diff with `selection.method: causal` (AtP differentiates the "
                            f"logit difference), got {shown(out['metric'])}")
    else:
        rnd = check_keys(data.get("random"), "random", ("draws", "alpha"), (), problems) if "random" in data else {}
        # At least 100 draws: with fewer, the smallest attainable p-value (1/(n+1)) is coarse.
        out["draws"] = _sub_number(rnd, "random", "draws", problems, low=100, high=1e6, closed_low=True,
                                   integer=True)
        if out["ablation"] == "position_mean":
            problems.append("`ablation: position_mean` needs `selection.method: causal`")
        for key in ("positions", "normalize", "interaction", "tasks", "max_pairs"):
            if key in data:
                problems.append(f"`{key}` is used only with `selection.method: causal`")
        if "dose_response" not in data:
            problems.append("missing key `dose_response` (k list and band_draws)")
    out["alpha"] = _sub_number(rnd, "random", "alpha", problems, low=0.0, high=1.0)
    dose_keys = (("k",), ("band_draws",)) if causal else (("k", "band_draws"), ())
    dose = check_keys(data.get("dose_response"), "dose_response", *dose_keys, problems) \
        if "dose_response" in data else {}
    out["dose_k"] = _int_list(dose.get("k"), "dose_response.k", problems) if dose else \
        ((out["k"],) if causal and out["k"] else ())
    out["band_draws"] = _sub_number(dose, "dose_response", "band_draws", problems, low=2, high=1e6,
                                    closed_low=True, integer=True) if dose and "band_draws" in dose else 0
    if out["dose_k"] and out["k"] is not None and out["k"] not in out["dose_k"]:
        problems.append(f"`dose_response.k` must include the tested `k` ({out['k']}), got {list(out['dose_k'])}")
    if out["dose_k"] and list(out["dose_k"]) != sorted(set(out["dose_k"])):
        problems.append(f"`dose_response.k` must be increasing without repeats, got {list(out['dose_k'])}")
    out["min_prompts"] = field_number(data, "min_prompts", problems, low=2, high=1e6, closed_low=True, integer=True)
    for key in ("controls", "max_prompts", "bootstrap"):
        if key in data:
            problems.append(f"`{key}` is not used by kind double_dissociation")
    return out


def _parse_localization(data: dict, problems: list[str]) -> dict:
    out: dict[str, Any] = {}
    out["side"] = field_choice(data.get("side"), "side", SIDES, problems)
    out["site"] = field_choice(data.get("site"), "site", TRACE_SITES, problems)
    out["position"] = field_choice(data.get("position"), "position", TRACE_POSITIONS, problems)
    cor = check_keys(data.get("corruption"), "corruption", ("method", "factor", "samples"), ("after_layer",),
                     problems) if "corruption" in data else {}
    method = cor.get("method") if cor else None
    if cor and method != "noise":
        problems.append(f"`corruption.method` must be noise (replacement is the control), got {shown(method)}")
    out["corruption"] = "noise"
    out["noise_factor"] = _sub_number(cor, "corruption", "factor", problems, low=0.0, high=1e3)
    out["noise_samples"] = _sub_number(cor, "corruption", "samples", problems, low=1, high=1000, closed_low=True,
                                       integer=True)
    out["noise_after"] = _sub_number(cor, "corruption", "after_layer", problems, low=0, high=1000, closed_low=True,
                                     integer=True) if cor and "after_layer" in cor else 0
    criteria = field_choice(data.get("criteria", "study"), "criteria", LOCALIZATION_CRITERIA, problems)
    out["criteria"] = criteria or "study"
    for key in ("max_depth", "alpha") if criteria == "study" else ("depth_interval",) if criteria == "rome" else ():
        if key not in data:
            problems.append(f"missing key `{key}` (needed by criteria {criteria})")
    out["max_depth"] = field_number(data, "max_depth", problems, low=0.0, high=1.0, closed_high=True) \
        if "max_depth" in data else 0.5
    out["alpha"] = field_number(data, "alpha", problems, low=0.0, high=1.0) if "alpha" in data else 0.05
    interval = data.get("depth_interval")
    out["depth_interval"] = None
    if interval is not None:
        if (isinstance(interval, list) and len(interval) == 2 and all(isinstance(v, (int, float))
                and not isinstance(v, bool) and 0 <= v <= 1 for v in interval) and interval[0] < interval[1]):
            out["depth_interval"] = (float(interval[0]), float(interval[1]))
        else:
            problems.append(f"`depth_interval` must be [low, high] with 0 <= low < high <= 1, got {shown(interval)}")
    out["window_fraction"] = field_number(data, "window_fraction", problems, low=0.0, high=1.0, closed_high=True) \
        if "window_fraction" in data else 0.0
    sever = data.get("sever", False)
    if not isinstance(sever, bool):
        problems.append(f"`sever` must be true or false, got {shown(sever)}")
    out["sever"] = sever is True
    out["min_prompts"] = field_number(data, "min_prompts", problems, low=2, high=1e6, closed_low=True, integer=True)
    heat = check_keys(data.get("heatmaps"), "heatmaps", ("sides", "sites", "positions"), (), problems) \
        if "heatmaps" in data else {}
    out["heatmap_sides"] = _str_list(heat.get("sides"), "heatmaps.sides", SIDES, problems) if heat else ()
    out["heatmap_sites"] = _str_list(heat.get("sites"), "heatmaps.sites", TRACE_SITES, problems) if heat else ()
    out["heatmap_positions"] = _str_list(heat.get("positions"), "heatmaps.positions", TRACE_POSITIONS,
                                         problems) if heat else ()
    if heat and out["side"] and out["side"] not in out["heatmap_sides"]:
        problems.append(f"`heatmaps.sides` must include the claim's side {shown(out['side'])}")
    for key, name in (("heatmap_sites", "site"), ("heatmap_positions", "position")):
        if heat and out[name] and out[key] and out[name] not in out[key]:
            problems.append(f"`heatmaps.{name}s` must include the claim's {name} {shown(out[name])}")
    survive = None
    controls = data.get("controls", {})
    spec = check_keys(controls, "controls", (), ("replace",), problems) if controls != {} else {}
    if "replace" in spec:
        sub = check_keys(spec["replace"], "controls.replace", ("must_survive",), (), problems)
        survive = sub.get("must_survive")
        if not isinstance(survive, bool):
            problems.append(f"`controls.replace.must_survive` must be true or false, got {shown(survive)}")
            survive = None
    out["replace_must_survive"] = survive
    out["max_prompts"] = field_number(data, "max_prompts", problems, low=0, high=1e6, closed_low=True,
                                 integer=True) if "max_prompts" in data else 0
    out["bootstrap"] = field_number(data, "bootstrap", problems, low=100, high=1e6, closed_low=True,
                               integer=True) if "bootstrap" in data else 1000
    return out


def load_intervention_claim(path: str | Path) -> DissociationClaim | LocalizationClaim:
    """Load and validate one intervention claim file.

    Every missing/unknown key, wrong type and out-of-range value is listed in one
    `evaluation.schema.ClaimFileError` naming the file (`evaluation.schema.load_claim_file`).

    Examples
    --------
    >>> claim = load_intervention_claim("hypotheses/h5a_double_dissociation/intervention.yaml")  # doctest: +SKIP
    >>> claim.k, claim.draws                                                                      # doctest: +SKIP
    (8, 100)
    """
    def keys(data: dict, problems: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        kind = field_choice(data.get("kind"), "kind", KINDS, problems) if "kind" in data else None
        if kind is None and "kind" not in data:
            problems.append(f"missing key `kind`; allowed: {', '.join(KINDS)}")
        specific = {"double_dissociation": DISSOCIATION_KEYS, "recall_localization": LOCALIZATION_KEYS}.get(kind, ())
        optional = OPTIONAL_KEYS + (DISSOCIATION_OPTIONAL if kind == "double_dissociation" else
                                    LOCALIZATION_OPTIONAL if kind == "recall_localization" else ())
        if not kind:  # an unknown kind: only keys no kind allows are reported (not every kind's keys)
            optional = (OPTIONAL_KEYS + DISSOCIATION_KEYS + DISSOCIATION_OPTIONAL + LOCALIZATION_KEYS
                        + LOCALIZATION_OPTIONAL)
        return COMMON_KEYS + specific, optional

    kind = None

    def parse(data: dict, path: Path, problems: list[str]) -> dict[str, Any]:
        nonlocal kind
        kind = data.get("kind")
        if kind == "double_dissociation":
            return _parse_dissociation(data, problems)
        return _parse_localization(data, problems) if kind == "recall_localization" else {}

    def build(**fields: Any) -> DissociationClaim | LocalizationClaim:
        return DissociationClaim(**fields) if kind == "double_dissociation" else LocalizationClaim(**fields)

    return load_claim_file(path, keys=keys, parse=parse, build=build)
