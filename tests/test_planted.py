"""The suite validating itself: recover a planted ground truth, and find nothing without it.

`planted` builds a tiny Qwen2 model whose marker-specialized layers, heads and
neurons are known by construction, and prompt pairs that differ only in the marker. The
shipped claims H1 (layers), H2 (heads) and H3 (neurons) are run unchanged through
`evaluation.components.analyse_components`:

* with the marker on one side, the components they call specialized must match the planted
  ones with precision and recall >= 0.9 at every level;
* with the planted signal removed (both sides drawn from one distribution, with the marker
  on neither or on both sides), the number of replications with any discovery must stay
  within the binomial upper bound of the familywise false-positive rate that the claim's
  alpha and correction promise, and for uncorrected claims the total count of discoveries
  within the binomial bound at the per-component rate.

Every random step is seeded, so the test is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from planted import (
    CONDITIONS,
    MARKER,
    NEUTRAL,
    build_planted_model,
    planted_activations,
    planted_prompts,
    recovery,
)
from engine.model.tiny import build_tiny_tokenizer
from evaluation.component_claim import Claim, load_claim
from evaluation.components import analyse_components, component_name

ROOT = Path(__file__).resolve().parents[1]
CLAIM_FILES = {"layer": "hypotheses/h1_layers/claim.yaml", "head": "hypotheses/h2_heads/claim.yaml",
               "neuron": "hypotheses/h3_neurons/claim.yaml"}
LEVELS = tuple(CLAIM_FILES)
MODEL_SEEDS = (0, 1)  # two independent constructions, so a pass is not one lucky draw
N_PAIRS = 50
PROMPT_SEED = 1000
MIN_PRECISION = MIN_RECALL = 0.9
N_NULL_REPLICATIONS = 20
NULL_SEED = 5000
NULL_MODEL_SEED = 0
# A calibrated suite exceeds a null bound with probability at most DELTA; the bounds are
# binomial quantiles at 1 - DELTA, not hand-picked counts.
DELTA = 1e-3


@pytest.fixture(scope="module")
def claims() -> dict[str, Claim]:
    return {level: load_claim(ROOT / path) for level, path in CLAIM_FILES.items()}


@pytest.fixture(scope="module", params=MODEL_SEEDS, ids=lambda s: f"model_seed{s}")
def planted(request):
    return build_planted_model(request.param)


@pytest.fixture(scope="module")
def planted_acts(planted):
    return planted_activations(planted, planted_prompts(N_PAIRS, seed=PROMPT_SEED + planted.seed))


def binomial_upper_bound(n: int, p: float, delta: float = DELTA) -> int:
    """Smallest k with ``P(Binomial(n, p) > k) <= delta``."""
    return int(sps.binom.ppf(1.0 - delta, n, p))


def familywise_rate(claim: Claim, n_components: int) -> float:
    """Upper bound on P(at least one discovery) for `claim` when no component has an effect.

    A component is discovered when any of the claim's F features passes (and the effect-size
    and fold-consistency requirements only remove discoveries), so the bound is F times the
    per-feature familywise rate: m * alpha without correction (union bound), alpha for
    Bonferroni and Holm, and alpha for BH / BY too, because under the global null the false
    discovery rate equals the familywise rate.
    """
    per_feature = n_components * claim.alpha if claim.correction == "none" else claim.alpha
    return min(1.0, len(claim.features) * per_feature)


def test_prompts_are_length_matched_and_differ_only_in_the_marker():
    tok = build_tiny_tokenizer()
    for condition in CONDITIONS:
        pairs = planted_prompts(N_PAIRS, seed=7, condition=condition)
        assert pairs == planted_prompts(N_PAIRS, seed=7, condition=condition), "not deterministic"
        for a, b in pairs:
            ids_a, ids_b = tok(a)["input_ids"], tok(b)["input_ids"]
            assert len(ids_a) == len(ids_b) == len(a), (condition, a, b)
            specials = [(s.count(MARKER), s.count(NEUTRAL)) for s in (a, b)]
            expected = {"planted": [(1, 0), (0, 1)], "null": [(0, 1), (0, 1)],
                        "null_marked": [(1, 0), (1, 0)]}[condition]
            assert specials == expected, (condition, a, b)
            assert a[-1] not in (MARKER, NEUTRAL) and b[-1] not in (MARKER, NEUTRAL)
            if condition == "planted":
                assert a.replace(MARKER, NEUTRAL) == b
            else:  # independent draws: the two sides share only their length
                assert a != b


def test_construction_isolates_the_planted_signal(planted, planted_acts, claims):
    """Pair by pair, unplanted components read the same numbers on both sides; planted ones do not.

    This checks the construction itself, independently of any statistic: if the marker leaked
    into an unplanted component (through a read, a write or RMSNorm's rescaling), precision
    would no longer measure the suite alone.
    """
    for level, claim in claims.items():
        truth = planted.truth(level)
        differs = np.zeros((planted_acts.n_pairs, *truth.shape), dtype=bool)
        for feature in claim.features:
            a, b = planted_acts.sides(feature)
            gap = np.abs(a.astype(np.float64) - b)
            # float32 rounding: swapping which reserved dimension holds the flag changes only
            # the order of a few sums
            tol = 1e-5 * max(1.0, float(np.abs(a).max()))
            leaked = (gap > tol).any(axis=0) & ~truth
            assert not leaked.any(), (
                f"{feature}: unplanted {level}s differ between sides by up to {gap[:, leaked].max():.3g} "
                f"(> {tol:.3g}): {[component_name(level, i) for i in zip(*np.nonzero(leaked))]}")
            differs |= gap > 1000 * tol
        silent = ~differs.all(axis=0) & truth
        assert not silent.any(), (
            f"planted {level}s that do not respond to the marker in every pair: "
            f"{[component_name(level, i) for i in zip(*np.nonzero(silent))]}")


@pytest.mark.parametrize("level", LEVELS)
def test_suite_recovers_the_planted_components(planted, planted_acts, claims, level, record_property):
    claim = claims[level]
    analysis = analyse_components(claim, planted_acts, seed=planted.seed)
    truth = planted.truth(level)
    score = recovery(analysis.specialized, truth)
    record_property(f"planted_{level}", {"precision": score.precision, "recall": score.recall,
                                         "found": score.found, "planted": score.planted})

    def names(mask: np.ndarray) -> list[str]:
        return [component_name(level, i) for i in zip(*np.nonzero(mask.reshape(truth.shape)))]

    message = (f"{claim.id} on the planted model (seed {planted.seed}, {planted_acts.n_pairs} pairs): "
               f"precision {score.precision:.3f} (required >= {MIN_PRECISION}), recall {score.recall:.3f} "
               f"(required >= {MIN_RECALL}); missed {names(truth & ~analysis.specialized)}, "
               f"false {names(analysis.specialized & ~truth)}")
    assert score.precision >= MIN_PRECISION and score.recall >= MIN_RECALL, message


@dataclass(frozen=True)
class NullRun:
    """Discoveries per null replication, per level."""

    discoveries: dict[str, np.ndarray]  # level -> [replications]
    n_components: dict[str, int]


@pytest.fixture(scope="module", params=[c for c in CONDITIONS if c != "planted"])
def null_run(request, claims) -> tuple[str, NullRun]:
    model = build_planted_model(NULL_MODEL_SEED)
    counts: dict[str, list[int]] = {level: [] for level in LEVELS}
    sizes: dict[str, int] = {}
    for rep in range(N_NULL_REPLICATIONS):
        pairs = planted_prompts(N_PAIRS, seed=NULL_SEED + rep, condition=request.param)
        acts = planted_activations(model, pairs, labels=("control", "control"))
        for level, claim in claims.items():
            analysis = analyse_components(claim, acts, seed=rep)
            counts[level].append(int(analysis.specialized.sum()))
            sizes[level] = int(analysis.specialized.size)
    return request.param, NullRun({k: np.array(v) for k, v in counts.items()}, sizes)


@pytest.mark.parametrize("level", LEVELS)
def test_null_discoveries_stay_within_the_promise(null_run, claims, level, record_property):
    condition, run = null_run
    claim = claims[level]
    found, m = run.discoveries[level], run.n_components[level]
    reps_with_any = int((found > 0).sum())
    rate = familywise_rate(claim, m)
    bound = binomial_upper_bound(N_NULL_REPLICATIONS, rate)
    record_property(f"null_{condition}_{level}", {"discoveries": int(found.sum()),
                                                  "replications_with_any": reps_with_any,
                                                  "bound": bound})
    assert reps_with_any <= bound, (
        f"{claim.id} on {condition} prompts (no planted signal): {reps_with_any} of "
        f"{N_NULL_REPLICATIONS} replications found a specialized {level} ({int(found.sum())} in all); "
        f"alpha {claim.alpha:g} with correction {claim.correction!r} over {m} {level}s x "
        f"{len(claim.features)} features promises a familywise rate <= {rate:.3g}, i.e. at most "
        f"{bound} replications (binomial, P(exceed) <= {DELTA:g})")
    if claim.correction == "none":
        # Per component, a false discovery needs some feature's raw p < alpha: rate <= F * alpha.
        # The binomial treats components as independent; the familywise check above does not.
        per_component = min(1.0, len(claim.features) * claim.alpha)
        total_bound = binomial_upper_bound(N_NULL_REPLICATIONS * m, per_component)
        assert int(found.sum()) <= total_bound, (
            f"{claim.id} on {condition} prompts: {int(found.sum())} false discoveries over "
            f"{N_NULL_REPLICATIONS} x {m} {level}s; alpha {claim.alpha:g} x {len(claim.features)} "
            f"features allows at most {total_bound} (binomial, P(exceed) <= {DELTA:g})")


def test_recovery_scores_against_hand_counts():
    truth = np.array([[True, True, False], [False, False, True]])
    found = np.array([[True, False, False], [True, False, True]])
    score = recovery(found, truth)
    assert (score.hits, score.found, score.planted) == (2, 3, 3)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 3)
    assert np.isnan(recovery(np.zeros(3, bool), np.ones(3, bool)).precision)
    with pytest.raises(ValueError, match="shape"):
        recovery(np.zeros(3, bool), np.zeros(4, bool))


# --- The verdict against the random-weights control (evaluation.controls' rule) -------------
TWIN_SEED_OFFSET = 100
N_BOOT_PLANTED = 100


class _TwinProvider:
    """Serves the planted model's random-weights twin, as `engine.provider` serves
    ``random_init_seed`` activations of a real model."""

    def __init__(self, twin_acts):
        self.twin_acts = twin_acts

    def get(self, taskset, *, random_init_seed=None):
        assert random_init_seed is not None, "only the random-weights control is asked for here"
        return self.twin_acts


def planted_claim(claim: Claim, truth: np.ndarray) -> Claim:
    """The shipped claim's procedure, with the claim "the planted components are specialized"
    (count >= 90% of those planted) and the random-weights control only.

    The estimand the control is compared on is the share of components with |effect| >=
    min_effect, not pi1: in this construction the unplanted components see identical numbers on
    both sides, so their p-values sit at 1 instead of being uniform, and Storey's pi0 (which
    assumes uniform null p-values) is clipped to 1 whatever is planted.
    """
    import dataclasses
    import math

    from evaluation.component_claim import Controls, EstimandSpec, Expectation

    return dataclasses.replace(
        claim, controls=Controls(random_weights=(0,)),
        estimand=EstimandSpec(measure="share_large_effect", n_boot=N_BOOT_PLANTED),
        expect=Expectation("count_specialized", ">=", float(math.ceil(0.9 * truth.sum()))))


@pytest.fixture(scope="module")
def twin_acts(planted):
    twin = build_planted_model(planted.seed + TWIN_SEED_OFFSET, plant=False)
    return planted_activations(twin, planted_prompts(N_PAIRS, seed=PROMPT_SEED + planted.seed))


@pytest.mark.parametrize("level", LEVELS)
def test_planted_components_are_supported_against_the_random_weights_control(
        planted, planted_acts, twin_acts, claims, level, record_property):
    """Recovered with precision and recall >= 0.9 *and* "supported": the control rule (one-sided
    95% lower bound of model - twin > 0, paired bootstrap over the same pairs) does not call a
    planted effect confounded."""
    from types import SimpleNamespace

    from evaluation.components import evaluate_claim
    from evaluation.controls import make_controls

    truth = planted.truth(level)
    claim = planted_claim(claims[level], truth)
    runner = make_controls(_TwinProvider(twin_acts), SimpleNamespace(name="planted"), planted_acts,
                           seed=planted.seed)
    result = evaluate_claim(claim, planted_acts, seed=planted.seed, model="planted", controls=runner)
    score = recovery(np.asarray(result.profiles["specialized"], bool), truth)
    (row,) = result.controls
    record_property(f"planted_vs_twin_{level}", {k: row.extra[k] for k in (
        "difference", "difference_ci_low", "difference_ci_high", "difference_lower_bound")})
    assert score.precision >= MIN_PRECISION and score.recall >= MIN_RECALL, score
    assert row.extra["paired_bootstrap"] and row.passed is True, row.detail
    assert result.verdict == "supported", result.message


@pytest.mark.parametrize("level", LEVELS)
def test_without_the_planted_signal_the_control_rule_finds_no_difference(claims, level):
    """Null prompts (both sides drawn from one distribution, marker on neither) on the planted
    model and its twin: no component differs systematically between the sides, so the claim,
    which needs its planted components, is refuted, and the model does not beat the control
    (a seeded draw of an event of probability <= 1 - alpha)."""
    from types import SimpleNamespace

    from evaluation.components import evaluate_claim
    from evaluation.controls import make_controls

    model = build_planted_model(NULL_MODEL_SEED)
    pairs = planted_prompts(N_PAIRS, seed=NULL_SEED, condition="null")
    acts = planted_activations(model, pairs, labels=("control", "control"))
    twin = planted_activations(build_planted_model(NULL_MODEL_SEED + TWIN_SEED_OFFSET, plant=False), pairs,
                               labels=("control", "control"))
    claim = planted_claim(claims[level], model.truth(level))
    runner = make_controls(_TwinProvider(twin), SimpleNamespace(name="null"), acts, seed=0)
    result = evaluate_claim(claim, acts, seed=0, model="planted-null", controls=runner)
    assert result.verdict == "refuted", result.message
    assert result.controls[0].passed is False, result.controls[0].detail
