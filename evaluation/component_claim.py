"""Claims as data: the YAML schema, its validation, and the frozen `Claim` record.

Contents
--------
FEATURES_BY_LEVEL : captured arrays a claim may test at each component level.
TESTS, CORRECTIONS, MEASURES, OPS : the allowed values of the corresponding keys.
ClaimFileError    : every problem of one claim file, named with file and key.
Expectation, CrossValidation, DepthSpec, Claim : the frozen records.
load_claim        : `Claim.from_yaml`, the one entry point.

A claim file lists what is measured and what decides the verdict; it never states a result.
All problems of a file are reported at once, so a user fixes a file in one go.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.schema import (
    check_keys,
    field_choice,
    field_number,
    load_claim_file,
)
from tasks.errors import shown

FEATURES_BY_LEVEL: dict[str, tuple[str, ...]] = {
    # *_mean pool every token (system prompt, template, BOS: the replication's features);
    # *_content pool the user content only; *_last / *_subject sit at one aligned position.
    "layer": ("resid_norm_last", "resid_norm_mean", "resid_norm_content", "resid_norm_subject"),
    "head": ("attn_entropy", "attn_max", "attn_first", "head_write_norm", "head_in_norm", "attn_content"),
    "neuron": ("mlp_mean", "mlp_last", "mlp_sparsity", "mlp_content", "mlp_subject"),
}
LEVELS = ("layer", "head", "neuron", "depth")
TESTS = ("mann_whitney", "welch_t", "paired_t", "wilcoxon_paired", "covariate_adjusted")
PAIRED_TESTS = ("paired_t", "wilcoxon_paired")
EFFECT_SIZES = ("cohens_d", "hedges_g", "paired_d", "d_av")
CORRECTIONS = ("none", "fdr_bh", "fdr_by", "holm", "bonferroni")
CORRECTION_ALIASES = {"bh": "fdr_bh", "benjamini-hochberg": "fdr_bh", "by": "fdr_by",
                      "bonf": "bonferroni", "holm-bonferroni": "holm", "": "none"}
MEASURES = ("fraction_specialized", "count_specialized", "fraction_cv_consistent",
            "count_cv_consistent", "depth_pvalue",
            # estimands with bootstrap intervals over pairs (evaluation.claim_estimands)
            "pi1", "pi1_ci_low", "median_abs_effect", "median_abs_effect_ci_low",
            "share_large_effect", "share_large_effect_ci_low")
#: Estimands a claim's controls are compared on (model minus control, paired bootstrap).
ESTIMANDS = ("pi1", "median_abs_effect", "share_large_effect", "depth_effect")
OPS: dict[str, Any] = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}

REQUIRED_KEYS = ("id", "title", "statement", "level", "features", "test", "alpha", "correction",
                 "min_effect", "cv", "expect", "reported")
OPTIONAL_KEYS = ("effect_size", "depth", "controls", "top_k", "notes", "estimand", "tasks", "factorial")
#: `factorial:` keys of a claim on the hops x book design (F1-F3, see `evaluation.factorial_effects`).
FACTORIAL_KEYS = ("open_tasks", "min_pairs", "correct_only")
CV_KEYS = ("folds", "min_consistency", "required")
CV_OPTIONAL_KEYS = ("mode", "alpha", "n_perm", "familywise")
#: cross_fit (default): select on k-1 folds, confirm on the held-out fold against a permutation
#: null; study_consistency: the study's filter (significant on k-1 folds with the full-data sign).
CV_MODES = ("cross_fit", "study_consistency")
FAMILYWISE = ("max_t", "fdr_by", "none")
ESTIMAND_KEYS = ("measure", "n_boot", "pi0_lambda", "level", "control_alpha")
EXPECT_KEYS = ("measure", "op", "value")
DEPTH_KEYS = ("source", "alternative")
CONTROL_KEYS = ("random_weights", "surface_only", "length_matched", "permutation")
SURFACE_CONTRASTS = ("recall_filler", "reasoning_reworded")
#: The most top components a claim lists per side (its figures reach the report).
MAX_TOP_K = 100


@dataclass(frozen=True)
class Expectation:
    """What decides the verdict: ``measure op value`` (e.g. fraction_specialized >= 0.5)."""

    measure: str
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return bool(OPS[self.op](measured, self.value))

    def describe(self) -> str:
        return f"{self.measure} {self.op} {self.value:g}"


@dataclass(frozen=True)
class CrossValidation:
    """k folds over pairs; `required` makes consistency part of being specialized.

    `mode` "cross_fit" (default): a component's consistency is the share of folds in which it
    was selected on the other k-1 folds and confirmed on the held-out fold by a permutation
    test at `alpha` (`n_perm` within-pair label swaps; `familywise` max_t or fdr_by over the
    selected components, or none). "study_consistency": the study's stability filter.
    """

    folds: int
    min_consistency: float
    required: bool
    mode: str = "cross_fit"
    alpha: float = 0.05
    n_perm: int = 200
    familywise: str = "max_t"


@dataclass(frozen=True)
class EstimandSpec:
    """The estimands reported with bootstrap intervals over pairs, and the control rule.

    `measure` is what controls are compared on (model minus control); a claim beats a control
    when the one-sided (1 - `control_alpha`) lower bound of that difference is above 0.
    """

    measure: str = "pi1"
    n_boot: int = 200
    pi0_lambda: float = 0.5
    level: float = 0.95
    control_alpha: float = 0.05


@dataclass(frozen=True)
class DepthSpec:
    """For a depth claim: which component level feeds it, and the tested direction."""

    source: str
    alternative: str


@dataclass(frozen=True)
class Controls:
    """The controls a claim must beat (see `evaluation.controls`); None = control off.

    Attributes
    ----------
    random_weights : tuple of int or None
        Seeds of randomly initialised models of the same architecture and tokenizer.
    surface_only : tuple of str or None
        Same-task contrasts differing only in surface form: recall_filler, reasoning_reworded.
    length_matched : bool or None
        Measure again on length-matched prompts; True = the claim must still meet its expectation.
    permutation : (n_permutations, alpha) or None
        Within-pair label-swap null of the claim's measure; its empirical p must be < alpha.
    """

    random_weights: tuple[int, ...] | None = None
    surface_only: tuple[str, ...] | None = None
    length_matched: bool | None = None
    permutation: tuple[int, float] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k in CONTROL_KEYS if getattr(self, k) is not None)


@dataclass(frozen=True)
class FactorialSpec:
    """A claim on the factorial design: its own task set is the closed-book hops contrast.

    `open_tasks` names the open-book hops contrast on the same items (side a open-1hop), from
    which each component's book effect (closed-1hop vs open-1hop) and hops x book interaction
    are measured; `correct_only` keeps the items answered correctly in both closed-book cells,
    and fewer than `min_pairs` such items make the claim inconclusive.
    """

    open_tasks: str
    min_pairs: int = 40
    correct_only: bool = True


@dataclass(frozen=True)
class Claim:
    """One research claim, loaded from ``hypotheses/<slug>/claim.yaml``."""

    id: str
    title: str
    statement: str
    level: str
    features: tuple[str, ...]
    test: str
    alpha: float
    correction: str
    min_effect: float
    cv: CrossValidation
    expect: Expectation
    reported: dict
    effect_size: str
    path: Path
    depth: DepthSpec | None = None
    controls: Controls = field(default_factory=Controls)
    estimand: EstimandSpec = field(default_factory=EstimandSpec)
    top_k: int = 3
    notes: str = ""
    tasks: str | None = None
    factorial: FactorialSpec | None = None

    @property
    def component_level(self) -> str:
        """The level whose components are tested (a depth claim tests its `depth.source`)."""
        return self.depth.source if self.depth is not None else self.level

    @property
    def paired(self) -> bool:
        return self.test in PAIRED_TESTS

    def thresholds(self) -> dict:
        return {"test": self.test, "alpha": self.alpha, "correction": self.correction,
                "min_effect": self.min_effect, "effect_size": self.effect_size,
                "folds": self.cv.folds, "min_consistency": self.cv.min_consistency,
                "consistency_required": self.cv.required, "cv_mode": self.cv.mode,
                "estimand": self.estimand.measure, "n_boot": self.estimand.n_boot,
                "control_alpha": self.estimand.control_alpha, "expectation": self.expect.describe()}

    @classmethod
    def from_yaml(cls, path: str | Path) -> Claim:
        return load_claim(path)


def _parse(data: dict, path: Path, problems: list[str]) -> dict:
    out: dict[str, Any] = {}
    out["level"] = field_choice(data.get("level"), "level", LEVELS, problems)

    depth = None
    if out["level"] == "depth":
        spec = check_keys(data.get("depth"), "depth", DEPTH_KEYS, (), problems)
        source = field_choice(spec.get("source"), "depth.source", tuple(FEATURES_BY_LEVEL), problems)
        alt = field_choice(spec.get("alternative"), "depth.alternative", ("greater", "less", "two-sided"), problems)
        depth = DepthSpec(source, alt) if source and alt else None
    elif "depth" in data:
        problems.append("`depth` is only allowed when `level` is depth")
    out["depth"] = depth
    component_level = depth.source if depth else out["level"]

    features = data.get("features")
    allowed = FEATURES_BY_LEVEL.get(component_level or "", ())
    if "features" in data and (not isinstance(features, list) or not features):
        problems.append(f"`features` must be a non-empty list; allowed for level {shown(component_level)}: "
                        f"{list(allowed)}")
        features = []
    for feat in features or []:
        if allowed and feat not in allowed:
            problems.append(f"unknown feature {shown(feat)} for level {shown(component_level)}; "
                            f"allowed: {', '.join(allowed)}")
    out["features"] = tuple(features or ())

    out["test"] = field_choice(data.get("test"), "test", TESTS, problems)
    out["alpha"] = field_number(data, "alpha", problems, low=0.0, high=1.0)
    correction = data.get("correction")
    correction = CORRECTION_ALIASES.get(str(correction).lower(), correction) if correction is not None else None
    out["correction"] = field_choice(correction, "correction", CORRECTIONS, problems)
    out["min_effect"] = field_number(data, "min_effect", problems, low=0.0, high=math.inf, closed_low=True)

    default_effect = "paired_d" if out["test"] in PAIRED_TESTS else "cohens_d"
    out["effect_size"] = field_choice(data.get("effect_size", default_effect), "effect_size", EFFECT_SIZES, problems)

    cv = check_keys(data["cv"], "cv", CV_KEYS, CV_OPTIONAL_KEYS, problems) if "cv" in data else {}
    folds = field_number(cv, "folds", problems, low=2, high=1000, closed_low=True, integer=True) if cv else None
    cons = field_number(cv, "min_consistency", problems, low=0.0, high=1.0, closed_low=True, closed_high=True) if cv else None
    required = cv.get("required") if cv else None
    if cv and not isinstance(required, bool):
        problems.append(f"`cv.required` must be true or false, got {shown(required)}")
    cv_extra = _parse_cv_extra(cv, problems) if cv else {}
    out["cv"] = (CrossValidation(folds, cons, required, **cv_extra)
                 if None not in (folds, cons) and isinstance(required, bool) else None)
    out["estimand"] = _parse_estimand(data.get("estimand", {}), out["level"], problems)

    exp = check_keys(data["expect"], "expect", EXPECT_KEYS, (), problems) if "expect" in data else {}
    measure = field_choice(exp.get("measure"), "expect.measure", MEASURES, problems) if exp else None
    op = field_choice(exp.get("op"), "expect.op", tuple(OPS), problems) if exp else None
    value = exp.get("value") if exp else None
    if exp and (isinstance(value, bool) or not isinstance(value, (int, float))):
        problems.append(f"`expect.value` must be a number, got {shown(value)}")
        value = None
    elif exp and not math.isfinite(value):  # .nan or .inf would fix the verdict whatever the data
        problems.append(f"`expect.value` must be a finite number, got {shown(value)}")
        value = None
    if measure == "depth_pvalue" and out["level"] != "depth":
        problems.append("`expect.measure` depth_pvalue needs `level: depth`")
    out["expect"] = Expectation(measure, op, float(value)) if None not in (measure, op, value) else None

    out["controls"] = _parse_controls(data.get("controls", {}), problems)
    top_k = data.get("top_k", 3)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= MAX_TOP_K:
        problems.append(f"`top_k` must be an integer in [0, {MAX_TOP_K}], got {shown(top_k)}")
    out["top_k"] = top_k
    out["tasks"] = _parse_tasks_name(data["tasks"], "tasks", problems) if "tasks" in data else None
    out["factorial"] = _parse_factorial(data["factorial"], problems) if "factorial" in data else None
    if out["factorial"] is not None and out["tasks"] is None:
        problems.append("`factorial` needs `tasks` (the closed-book hops contrast the claim tests)")
    return out


def _parse_tasks_name(value: Any, key: str, problems: list[str]) -> str | None:
    """A built-in task-set name or an existing task file (the claim's own task set)."""
    from tasks.builtin import BUILTIN_SETS

    if isinstance(value, str) and (value in BUILTIN_SETS or (value.endswith((".yaml", ".yml"))
                                                               and Path(value).is_file())):
        return value
    problems.append(f"`{key}` must be a built-in task set or an existing .yaml task file, got {shown(value)}; "
                    f"built-in sets: {', '.join(BUILTIN_SETS)}")
    return None


def _parse_factorial(raw: Any, problems: list[str]) -> FactorialSpec | None:
    spec = check_keys(raw, "factorial", ("open_tasks",), ("min_pairs", "correct_only"), problems)
    if not spec:
        return None
    open_tasks = _parse_tasks_name(spec.get("open_tasks"), "factorial.open_tasks", problems)
    min_pairs = field_number(spec, "min_pairs", problems, low=2, high=1e6, closed_low=True,
                             integer=True) if "min_pairs" in spec else 40
    correct_only = spec.get("correct_only", True)
    if not isinstance(correct_only, bool):
        problems.append(f"`factorial.correct_only` must be true or false, got {shown(correct_only)}")
        return None
    if open_tasks is None or min_pairs is None:
        return None
    return FactorialSpec(open_tasks, int(min_pairs), correct_only)


def _parse_cv_extra(cv: dict, problems: list[str]) -> dict:
    """The optional `cv` keys (mode, alpha, n_perm, familywise), defaults where absent."""
    out: dict[str, Any] = {}
    if "mode" in cv:
        mode = field_choice(cv["mode"], "cv.mode", CV_MODES, problems)
        if mode:
            out["mode"] = mode
    if "alpha" in cv:
        alpha = field_number(cv, "alpha", problems, low=0.0, high=1.0)
        if alpha is not None:
            out["alpha"] = alpha
    if "n_perm" in cv:
        n_perm = field_number(cv, "n_perm", problems, low=19, high=1e6, closed_low=True, integer=True)
        if n_perm is not None:
            out["n_perm"] = n_perm
    if "familywise" in cv:
        fw = field_choice(cv["familywise"], "cv.familywise", FAMILYWISE, problems)
        if fw:
            out["familywise"] = fw
    if out.get("mode", "cross_fit") == "study_consistency":
        bad = [k for k in ("alpha", "n_perm", "familywise") if k in cv]
        if bad:
            problems.append(f"`cv.{bad[0]}` only applies to `cv.mode: cross_fit` (the study's filter "
                            "uses the claim's own alpha); remove it or use mode cross_fit")
    return out


def _parse_estimand(raw: Any, level: str | None, problems: list[str]) -> EstimandSpec:
    spec = check_keys(raw, "estimand", (), ESTIMAND_KEYS, problems) if raw != {} else {}
    out: dict[str, Any] = {}
    default = "depth_effect" if level == "depth" else "pi1"
    measure = field_choice(spec.get("measure", default), "estimand.measure", ESTIMANDS, problems)
    if measure and (measure == "depth_effect") != (level == "depth"):
        problems.append(f"`estimand.measure` {shown(measure)} does not fit `level: {level}`; "
                        f"use {'depth_effect' if level == 'depth' else 'pi1, median_abs_effect or share_large_effect'}")
    elif measure:
        out["measure"] = measure
    if "n_boot" in spec:
        n_boot = field_number(spec, "n_boot", problems, low=20, high=100_000, closed_low=True, integer=True)
        if n_boot is not None:
            out["n_boot"] = n_boot
    for key in ("pi0_lambda", "control_alpha"):
        if key in spec:
            value = field_number(spec, key, problems, low=0.0, high=1.0)
            if value is not None:
                out[key] = value
    if "level" in spec:
        value = field_number(spec, "level", problems, low=0.0, high=1.0)
        if value is not None:
            out["level"] = value
    return EstimandSpec(**out)


def _parse_controls(raw: Any, problems: list[str]) -> Controls:
    spec = check_keys(raw, "controls", (), CONTROL_KEYS, problems) if raw != {} else {}
    values: dict[str, Any] = {}
    if "random_weights" in spec:
        sub = check_keys(spec["random_weights"], "controls.random_weights", ("seeds",), (), problems)
        seeds = sub.get("seeds")
        if not (isinstance(seeds, list) and seeds and all(isinstance(x, int) and not isinstance(x, bool)
                                                          and x >= 0 for x in seeds)):
            problems.append("`controls.random_weights.seeds` must be a non-empty list of integers >= 0, "
                            f"got {shown(seeds)}")
        else:
            values["random_weights"] = tuple(seeds)
    if "surface_only" in spec:
        sub = check_keys(spec["surface_only"], "controls.surface_only", ("contrasts",), (), problems)
        contrasts = sub.get("contrasts")
        if not (isinstance(contrasts, list) and contrasts):
            problems.append(f"`controls.surface_only.contrasts` must be a non-empty list of {list(SURFACE_CONTRASTS)}")
        else:
            bad = [c for c in contrasts if c not in SURFACE_CONTRASTS]
            if bad:
                problems.append(f"`controls.surface_only.contrasts` has unknown {shown(bad)}; "
                                f"allowed: {', '.join(SURFACE_CONTRASTS)}")
            else:
                values["surface_only"] = tuple(contrasts)
    if "length_matched" in spec:
        sub = check_keys(spec["length_matched"], "controls.length_matched", ("must_survive",), (), problems)
        survive = sub.get("must_survive")
        if not isinstance(survive, bool):
            problems.append(f"`controls.length_matched.must_survive` must be true or false, got {shown(survive)}")
        else:
            values["length_matched"] = survive
    if "permutation" in spec:
        sub = check_keys(spec["permutation"], "controls.permutation", ("n", "alpha"), (), problems)
        n = field_number(sub, "n", problems, low=1, high=1e7, closed_low=True, integer=True) if sub else None
        alpha = field_number(sub, "alpha", problems, low=0.0, high=1.0) if sub else None
        if n is not None and alpha is not None:
            values["permutation"] = (n, alpha)
    return Controls(**values)


def load_claim(path: str | Path) -> Claim:
    """Load and validate one claim file.

    Every missing/unknown key, wrong type and out-of-range value is listed in one
    `evaluation.schema.ClaimFileError` naming the file (`evaluation.schema.load_claim_file`).

    Examples
    --------
    >>> claim = load_claim("hypotheses/h1_layers/claim.yaml")   # doctest: +SKIP
    >>> claim.expect.describe()                                  # doctest: +SKIP
    'fraction_specialized >= 0.5'
    """
    return load_claim_file(path, keys=(REQUIRED_KEYS, OPTIONAL_KEYS), parse=_parse, build=Claim)
