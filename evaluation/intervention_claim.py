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
    ClaimFileError,
    check_keys,
    claim_texts,
    field_choice,
    field_number,
    read_yaml,
)
from tasks.errors import shown

KINDS = ("double_dissociation", "recall_localization")
ABLATIONS = ("zero", "mean", "resample")
METRICS = ("logprob", "logit_diff")
LEVELS = ("head", "neuron")
SIDES = ("recall", "reasoning")
TRACE_SITES = ("resid", "mlp", "attn")
TRACE_POSITIONS = ("subject_last", "last")
COMMON_KEYS = ("id", "title", "statement", "kind", "reported")
DISSOCIATION_KEYS = ("selection", "ablation", "metric", "k", "random", "dose_response", "min_prompts")
LOCALIZATION_KEYS = ("side", "site", "position", "corruption", "max_depth", "alpha", "min_prompts",
                     "heatmaps")
OPTIONAL_KEYS = ("notes", "controls", "max_prompts", "bootstrap")


@dataclass(frozen=True)
class Selection:
    """How components are chosen: a component claim's criteria on the training pairs.

    Attributes
    ----------
    level : "head" or "neuron"
    claim : str
        Directory under ``hypotheses/`` whose ``claim.yaml`` (test, alpha, correction, minimum
        effect, fold consistency) labels components recall / reasoning-specialized.
    train_fraction : float
        Share of pairs used for selection; the other pairs are held out for measuring.
    """

    level: str
    claim: str
    train_fraction: float


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

    def thresholds(self) -> dict:
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

    def thresholds(self) -> dict:
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


def _parse_dissociation(data: dict, problems: list[str]) -> dict:
    out: dict[str, Any] = {}
    sel = check_keys(data.get("selection"), "selection", ("level", "claim", "train_fraction"), (), problems) \
        if "selection" in data else {}
    level = field_choice(sel.get("level"), "selection.level", LEVELS, problems) if sel else None
    claim = sel.get("claim") if sel else None
    if sel and not (isinstance(claim, str) and claim.strip() and len(claim) <= 255):
        problems.append(f"`selection.claim` must name a claim directory (e.g. h2_heads), got {shown(claim)}")
        claim = None
    frac = _sub_number(sel, "selection", "train_fraction", problems, low=0.0, high=1.0)
    out["selection"] = Selection(level, claim, frac) if None not in (level, claim, frac) else None
    out["ablation"] = field_choice(data.get("ablation"), "ablation", ABLATIONS, problems)
    out["metric"] = field_choice(data.get("metric"), "metric", METRICS, problems)
    out["k"] = field_number(data, "k", problems, low=1, high=1e6, closed_low=True, integer=True)
    rnd = check_keys(data.get("random"), "random", ("draws", "alpha"), (), problems) if "random" in data else {}
    # At least 100 draws: with fewer, the smallest attainable p-value (1/(n+1)) is coarse.
    out["draws"] = _sub_number(rnd, "random", "draws", problems, low=100, high=1e6, closed_low=True, integer=True)
    out["alpha"] = _sub_number(rnd, "random", "alpha", problems, low=0.0, high=1.0)
    dose = check_keys(data.get("dose_response"), "dose_response", ("k", "band_draws"), (), problems) \
        if "dose_response" in data else {}
    out["dose_k"] = _int_list(dose.get("k"), "dose_response.k", problems) if dose else ()
    out["band_draws"] = _sub_number(dose, "dose_response", "band_draws", problems, low=2, high=1e6,
                                    closed_low=True, integer=True)
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
    cor = check_keys(data.get("corruption"), "corruption", ("method", "factor", "samples"), (), problems) \
        if "corruption" in data else {}
    method = cor.get("method") if cor else None
    if cor and method != "noise":
        problems.append(f"`corruption.method` must be noise (replacement is the control), got {shown(method)}")
    out["corruption"] = "noise"
    out["noise_factor"] = _sub_number(cor, "corruption", "factor", problems, low=0.0, high=1e3)
    out["noise_samples"] = _sub_number(cor, "corruption", "samples", problems, low=1, high=1000, closed_low=True,
                                       integer=True)
    out["max_depth"] = field_number(data, "max_depth", problems, low=0.0, high=1.0, closed_high=True)
    out["alpha"] = field_number(data, "alpha", problems, low=0.0, high=1.0)
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

    Raises
    ------
    ClaimFileError
        Listing every missing/unknown key, wrong type and out-of-range value, with the file.

    Examples
    --------
    >>> claim = load_intervention_claim("hypotheses/h5a_double_dissociation/intervention.yaml")  # doctest: +SKIP
    >>> claim.k, claim.draws                                                                      # doctest: +SKIP
    (8, 100)
    """
    path = Path(path)
    data = read_yaml(path)
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ClaimFileError(path, [f"the file must be a mapping with keys {list(COMMON_KEYS)}, got {shown(data)}"])
    kind = field_choice(data.get("kind"), "kind", KINDS, problems) if "kind" in data else None
    specific = {"double_dissociation": DISSOCIATION_KEYS, "recall_localization": LOCALIZATION_KEYS}.get(kind, ())
    if kind is None and "kind" not in data:
        problems.append(f"missing key `kind`; allowed: {', '.join(KINDS)}")
    # With an unknown kind, only keys no kind allows are reported (not every kind's keys).
    optional = OPTIONAL_KEYS if kind else OPTIONAL_KEYS + DISSOCIATION_KEYS + LOCALIZATION_KEYS
    check_keys(data, "", COMMON_KEYS + specific, optional, problems)
    fields: dict[str, Any] = {"path": path, **claim_texts(data, problems)}
    if kind == "double_dissociation":
        fields.update(_parse_dissociation(data, problems))
    elif kind == "recall_localization":
        fields.update(_parse_localization(data, problems))
    if problems:
        raise ClaimFileError(path, problems)
    if kind == "double_dissociation":
        return DissociationClaim(**fields)
    return LocalizationClaim(**fields)
