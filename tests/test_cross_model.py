"""H4 (cross-model agreement): claim file, bundles, builders, verdict, plots; synthetic
profiles with a known answer and an end-to-end run on two differently configured tiny models."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as ss

from evaluation.agreement import (
    ModelProfile,
    NotEnoughModelsError,
    baseline_activations,
    baseline_agreement,
    bootstrap_pairs,
    bundles_from_records,
    claim_profiles,
    evaluate_h4,
    profiles_from_activations,
    profiles_from_record,
)
from evaluation.agreement_claim import ProfileKind, load_agreement_claim
from evaluation.component_claim import load_claim
from evaluation.schema import ClaimFileError
from evaluation.components import evaluate_claim, measure
from engine.activations import Activations
from report.plots_agreement import (
    agreement_heatmap,
    baseline_excess_plot,
    profile_overlay_plot,
)
from stats.profiles import agreement, normalized_depth

ROOT = Path(__file__).resolve().parents[1]
H4_FILE = ROOT / "hypotheses" / "h4_cross_architecture" / "model_agreement.yaml"
KINDS = ("H1 effect:resid_norm_last", "H2 net_recall", "H2 frac_specialized", "H3 net_recall", "H3 frac_specialized")
# One underlying profile over normalized depth per kind (none of them flat or symmetric).
SHAPES = {
    "H1 effect:resid_norm_last": lambda d: 1.5 * np.sin(3 * d) - 0.5,
    "H2 net_recall": lambda d: 0.4 * np.exp(-((d - 0.3) / 0.15) ** 2) - 0.1,
    "H2 frac_specialized": lambda d: 0.3 * d ** 2,
    "H3 net_recall": lambda d: 0.3 * (1 - d) + 0.05 * np.cos(6 * d),
    "H3 frac_specialized": lambda d: 0.1 + 0.2 * np.abs(d - 0.6),
}


@pytest.fixture(scope="module")
def claim():
    return load_agreement_claim(H4_FILE)


@pytest.fixture(scope="module")
def no_baseline(claim):
    """The claim without its baseline check: the threshold and p checks alone."""
    return replace(claim, baseline="none")


def bundle(name: str, n_layers: int, *, flip: bool = False) -> ModelProfile:
    depth = normalized_depth(n_layers)
    depth = 1 - depth if flip else depth
    return ModelProfile(name, "synthetic", n_layers, {k: f(depth) for k, f in SHAPES.items()}, n_pairs=30)


def test_shipped_claim_file(claim):
    assert claim.id == "H4" and claim.reported == {}
    assert [k.name for k in claim.kinds] == list(KINDS)
    assert sorted(claim.sources) == ["H1", "H2", "H3"]
    assert claim.sources["H2"].level == "head" and claim.n_permutations >= 1000
    assert 1 / (claim.n_permutations + 1) < claim.alpha
    assert claim.null == "phase_randomized" and claim.baseline == "recall_filler" and claim.n_bootstrap > 0
    assert not (H4_FILE.parent / "claim.yaml").exists()  # would be collected as a per-model claim


def test_derived_profiles_are_computed_from_the_fractions():
    found = claim_profiles("H3", {"frac_recall": [0.2, 0.0, 0.5], "frac_reasoning": [0.1, 0.3, 0.0],
                                  "frac_mixed": [0.0, 0.1, 0.25]})
    np.testing.assert_allclose(found["H3 net_recall"], [0.1, -0.3, 0.5])
    np.testing.assert_allclose(found["H3 frac_specialized"], [0.3, 0.4, 0.75])
    assert "H1 net_recall" not in claim_profiles("H1", {"effect:resid_norm_last": [1.0, 2.0]})


def test_same_profile_at_different_depths_is_supported(no_baseline):
    result = evaluate_h4(no_baseline, [bundle("qwen-like", 24), bundle("llama-like", 30)], seed=0)
    assert result.verdict == "supported", result.message
    assert result.message.startswith("H4: min pairwise Spearman ")
    assert "required >= 0.5" in result.message and "required < 0.05" in result.message
    assert "phase_randomized p" in result.message and "baseline" not in result.message
    rows = result.figures["pairs"]
    assert len(rows) == len(KINDS) and all(r["passed"] and r["outcome"] == "pass" for r in rows)
    assert result.figures["min_correlation"] >= no_baseline.threshold
    assert result.figures["max_pvalue"] < no_baseline.alpha
    assert result.figures["bootstrap"] == "none" and all(r["ci_low"] is None for r in rows)


def test_without_paired_baseline_replicates_the_verdict_is_inconclusive(claim):
    # The shipped claim needs the baseline interval: profiles alone (e.g. read from an earlier
    # run's evidence.json) cannot decide it, and that is not a refutation.
    result = evaluate_h4(claim, [bundle("a", 24), bundle("b", 30)], seed=0)
    assert result.verdict == "inconclusive"
    assert "Inconclusive: a vs b, H1 effect:resid_norm_last: interval over the baseline undefined" in result.message
    assert result.figures["n_undefined"] == len(KINDS) and np.isnan(result.figures["min_excess_ci_low"])
    assert all(r["checks"] == {"threshold": True, "pvalue": True, "baseline": None} for r in result.figures["pairs"])


def test_opposite_profiles_are_refuted_and_the_message_names_the_pair(claim):
    # A defined failing check refutes even where the baseline is undefined.
    result = evaluate_h4(claim, [bundle("a", 24), bundle("b", 30, flip=True)], seed=0)
    assert result.verdict == "refuted"
    worst = min(result.figures["pairs"], key=lambda r: r["correlation"])
    assert worst["correlation"] < 0
    assert f"Spearman {worst['correlation']:.2f} (a vs b, {worst['kind']})" in result.message


def test_one_disagreeing_kind_refutes_and_every_pair_is_tested(no_baseline):
    third = bundle("c", 28)
    profiles = dict(third.profiles)
    profiles["H2 frac_specialized"] = profiles["H2 frac_specialized"][::-1].copy()
    result = evaluate_h4(no_baseline, [bundle("a", 24), bundle("b", 30), replace(third, profiles=profiles)], seed=0)
    assert result.verdict == "refuted" and "H2 frac_specialized" in result.message and "c" in result.message
    assert result.figures["n_comparisons"] == 3 * len(KINDS)
    failing = {(r["model_a"], r["model_b"], r["kind"]) for r in result.figures["pairs"] if not r["passed"]}
    assert failing == {("a", "c", "H2 frac_specialized"), ("b", "c", "H2 frac_specialized")}
    matrix = np.array(result.figures["agreement"]["H2 frac_specialized"])
    assert matrix.shape == (3, 3) and matrix[0, 1] > 0.99 and matrix[0, 2] < 0


def test_a_flat_profile_is_inconclusive_not_refuted(no_baseline):
    flat = bundle("b", 30)
    profiles = {**flat.profiles, "H2 frac_specialized": np.zeros(30)}  # no specialized head anywhere
    result = evaluate_h4(no_baseline, [bundle("a", 24), replace(flat, profiles=profiles)], seed=0)
    assert result.verdict == "inconclusive"
    assert "a vs b, H2 frac_specialized: a flat profile has no ranks: correlation, p undefined" in result.message
    row = next(r for r in result.figures["pairs"] if r["kind"] == "H2 frac_specialized")
    assert row["outcome"] == "undefined" and np.isnan(row["correlation"]) and np.isnan(row["pvalue"])
    assert np.isnan(result.figures["min_correlation"]) and np.isnan(result.figures["max_pvalue"])


def test_a_weak_but_significant_agreement_is_refuted_by_the_threshold(no_baseline):
    # Correlated below 0.5 yet beyond unrelated profiles of the same smoothness (a shape with
    # several turns, unlike a trend, is hard to match by chance): the threshold decides.
    d24, d30 = normalized_depth(24), normalized_depth(30)
    rng = np.random.default_rng(4)
    a, b = bundle("a", 24), bundle("b", 30)
    pa = {**a.profiles, "H2 frac_specialized": np.sin(6 * np.pi * d24) + 0.9 * rng.normal(size=24)}
    pb = {**b.profiles, "H2 frac_specialized": np.sin(6 * np.pi * d30) + 0.9 * rng.normal(size=30)}
    result = evaluate_h4(no_baseline, [replace(a, profiles=pa), replace(b, profiles=pb)], seed=0)
    row = next(r for r in result.figures["pairs"] if r["kind"] == "H2 frac_specialized")
    assert row["correlation"] < no_baseline.threshold and row["pvalue"] < no_baseline.alpha, row
    assert row["checks"] == {"threshold": False, "pvalue": True}
    assert result.verdict == "refuted"


def test_unrelated_smooth_profiles_pass_the_shuffle_null_but_not_the_default(no_baseline):
    # Two independent random walks that happen to correlate: the study's layer shuffle calls
    # the agreement significant, the smoothness-preserving null does not.
    rng = np.random.default_rng(0)
    one = (ProfileKind("H1", "effect:resid_norm_last"),)
    kind = one[0].name
    for _ in range(200):
        wa, wb = np.cumsum(rng.normal(size=24)), np.cumsum(rng.normal(size=30))
        if float(agreement(wa, wb)) > 0.6:
            break
    bundles = [ModelProfile("a", "x", 24, {kind: wa}), ModelProfile("b", "x", 30, {kind: wb})]
    shuffled = evaluate_h4(replace(no_baseline, kinds=one, null="shuffle"), bundles, seed=0)
    default = evaluate_h4(replace(no_baseline, kinds=one), bundles, seed=0)
    assert shuffled.figures["pairs"][0]["pvalue"] < 0.01
    assert default.figures["pairs"][0]["pvalue"] > shuffled.figures["pairs"][0]["pvalue"] * 5


TRUTH = {"a": lambda d: np.sin(3 * d), "b": lambda d: np.sin(3 * d) + 0.8 * np.cos(9 * d)}


def noisy_bundles(seed: int, *, n_pairs: int = 40, n_boot: int = 200, noise: float = 1.0, baseline=None):
    """Pair-level data whose per-layer mean is the profile; replicates resample pairs jointly.

    `baseline`: None (no baseline contrast), or a mapping model -> true baseline profile over
    depth, measured on the same pairs (its own pair-level noise) and resampled with them."""
    kind = "H1 effect:resid_norm_last"
    rng = np.random.default_rng(seed)
    idx = bootstrap_pairs(n_pairs, n_boot=n_boot, rng=seed + 1)
    out = []
    for name, n_layers in (("a", 24), ("b", 30)):
        d = normalized_depth(n_layers)
        x = TRUTH[name](d)[None] + noise * rng.normal(size=(n_pairs, n_layers))
        base, base_reps = {}, {}
        if baseline is not None:
            y = baseline[name](d)[None] + noise * rng.normal(size=(n_pairs, n_layers))
            base, base_reps = {kind: y.mean(0)}, {kind: y[idx].mean(1)}
        out.append(ModelProfile(name, "synthetic", n_layers, {kind: x.mean(0)}, {kind: x[idx].mean(1)},
                                n_pairs, idx, tuple(map(str, range(n_pairs))), base, base_reps,
                                "recall_filler" if baseline is not None else ""))
    true_rho = float(agreement(TRUTH["a"](normalized_depth(24)), TRUTH["b"](normalized_depth(30))))
    return out, true_rho


def test_noisy_profiles_bootstrap_interval_covers(no_baseline):
    one = replace(no_baseline, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    bundles, true_rho = noisy_bundles(0)
    row = evaluate_h4(one, bundles, seed=0).figures["pairs"][0]
    assert row["ci_low"] < row["correlation"] < row["ci_high"] and row["n_boot"] == 200
    covered = []
    for seed in range(40):
        bundles, _ = noisy_bundles(seed)
        result = evaluate_h4(one, bundles, seed=seed)
        assert result.figures["bootstrap"] == "joint"
        row = result.figures["pairs"][0]
        covered.append(row["ci_low"] <= true_rho <= row["ci_high"])
    # Nominal 95%; 40 draws: binomial sd 0.034, so >= 0.85 allows three sd.
    assert np.mean(covered) >= 0.85


def test_baseline_excess_interval_covers_the_true_excess(claim):
    # True excess: rho(true task profiles) - rho(true baseline profiles) = 0.29. Measured
    # coverage of the percentile interval: 0.965 (200 draws; the basic interval: 0.835, so the
    # percentile one is used). 40 draws: >= 0.85 allows three binomial sd below 0.95.
    one = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    base = {"a": lambda d: np.cos(2 * np.pi * d), "b": lambda d: np.cos(3 * np.pi * d)}
    d24, d30 = normalized_depth(24), normalized_depth(30)
    true = float(agreement(TRUTH["a"](d24), TRUTH["b"](d30))) - float(agreement(base["a"](d24), base["b"](d30)))
    covered = []
    for seed in range(40):
        row = evaluate_h4(one, noisy_bundles(seed, baseline=base)[0], seed=seed).figures["pairs"][0]
        covered.append(row["excess_ci_low"] <= true <= row["excess_ci_high"])
    assert np.mean(covered) >= 0.85


def test_baseline_excess_matches_a_hand_computed_paired_bootstrap(claim):
    one = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    flat_base = {"a": lambda d: 0.3 * d, "b": lambda d: np.cos(4 * d)}
    bundles, _ = noisy_bundles(1, baseline=flat_base)
    a, b = bundles
    kind = "H1 effect:resid_norm_last"
    row = evaluate_h4(one, bundles, seed=0).figures["pairs"][0]
    grid = lambda p: np.interp(np.linspace(0, 1, 21), normalized_depth(p.size), p)
    rho = lambda p, q: ss.spearmanr(grid(p), grid(q)).statistic
    assert row["baseline"] == pytest.approx(rho(a.baseline[kind], b.baseline[kind]), abs=1e-12)
    assert row["excess"] == pytest.approx(rho(a.profiles[kind], b.profiles[kind]) - row["baseline"], abs=1e-12)
    diffs = [rho(a.replicates[kind][i], b.replicates[kind][i])
             - rho(a.baseline_replicates[kind][i], b.baseline_replicates[kind][i]) for i in range(200)]
    low, high = np.percentile(diffs, [2.5, 97.5])
    assert (row["excess_ci_low"], row["excess_ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert row["n_boot_excess"] == 200


def test_flat_baseline_profiles_share_no_pattern():
    assert float(baseline_agreement(np.zeros(24), np.arange(30.0), grid=21, method="spearman")) == 0.0
    assert np.isnan(baseline_agreement(np.full(24, np.nan), np.arange(30.0), grid=21, method="spearman"))
    stack = np.vstack([np.zeros(24), np.arange(24.0)])
    np.testing.assert_allclose(baseline_agreement(stack, np.arange(30.0), grid=21, method="spearman"), [0.0, 1.0])


def test_an_interval_from_mostly_flat_replicates_is_undefined(claim):
    # Most resamples of model a leave its profile flat (e.g. nothing specialized): the few
    # defined replicates would describe another population, so the check is undefined.
    one = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    (a, b), _ = noisy_bundles(2, n_boot=50, baseline={"a": np.cos, "b": np.sin})
    kind = "H1 effect:resid_norm_last"
    reps = a.replicates[kind].copy()
    reps[:30] = 0.0  # 30 of 50 flat
    result = evaluate_h4(one, [replace(a, replicates={kind: reps}), b], seed=0)
    row = result.figures["pairs"][0]
    assert row["n_boot_excess"] == 20 and np.isnan(row["excess_ci_low"]) and row["checks"]["baseline"] is None
    assert result.verdict in ("inconclusive", "refuted") and (result.verdict == "refuted") == (
        False in row["checks"].values())


BASELINE_SIMS = 60


def test_baseline_rule_false_positives_and_power(claim):
    """Simulation of the baseline rule alone. Null: the surface contrast carries exactly the
    task profiles (agreement from shared length sensitivity alone), so the true excess is 0:
    the interval (95%, lower bound > 0 is a one-sided 2.5% rule) may clear 0 in at most
    alpha of the draws (60 draws: <= 0.05 + 3 sd = 0.134). Alternative: baseline profiles
    unrelated between the models (rho 0.03 between the two true profiles) while the task
    profiles agree (true rho 0.66): measured power 1.0; required >= 0.8."""
    one = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    unrelated = {"a": lambda d: np.cos(2 * np.pi * d), "b": lambda d: np.cos(3 * np.pi * d)}
    assert abs(float(agreement(unrelated["a"](normalized_depth(24)), unrelated["b"](normalized_depth(30))))) < 0.05
    cleared = {"null": [], "alternative": []}
    for seed in range(BASELINE_SIMS):
        for case, base in (("null", TRUTH), ("alternative", unrelated)):
            bundles, _ = noisy_bundles(seed, n_boot=100, noise=0.6, baseline=base)
            row = evaluate_h4(one, bundles, seed=seed).figures["pairs"][0]
            cleared[case].append(row["checks"]["baseline"] is True)
    assert np.mean(cleared["null"]) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / BASELINE_SIMS), cleared
    assert np.mean(cleared["alternative"]) >= 0.8, cleared


def test_seeded_determinism(claim):
    bundles, _ = noisy_bundles(3, n_boot=20)
    one = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    first, again = evaluate_h4(one, bundles, seed=5), evaluate_h4(one, bundles, seed=5)
    assert first.figures["pairs"] == again.figures["pairs"] and first.message == again.message


def test_input_errors(claim):
    with pytest.raises(NotEnoughModelsError, match="got 1 \\(only\\).*at least two"):
        evaluate_h4(claim, [bundle("only", 24)], seed=0)
    with pytest.raises(ValueError, match="unique"):
        evaluate_h4(claim, [bundle("a", 24), bundle("a", 30)], seed=0)
    partial = bundle("b", 30)
    partial = replace(partial, profiles={k: v for k, v in partial.profiles.items() if k != "H2 net_recall"})
    with pytest.raises(ValueError, match="missing profiles \\(b: H2 net_recall\\)"):
        evaluate_h4(claim, [bundle("a", 24), partial], seed=0)
    with pytest.raises(ValueError, match="profile 'H2 frac_recall' has shape \\(3,\\), expected \\(4,\\)"):
        ModelProfile("m", "x", 4, {"H2 frac_recall": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match="baseline profile 'k' has shape \\(2,\\)"):
        ModelProfile("m", "x", 3, {"k": [0.0, 1.0, 2.0]}, baseline={"k": [0.0, 1.0]})
    with pytest.raises(ValueError, match="not the main pairs"):
        profiles_from_activations(synthetic_acts(4), claim.sources, seed=0, n_boot=0,
                                  baseline=synthetic_acts(4, n_pairs=20))
    with pytest.raises(ValueError, match="replicates"):
        ModelProfile("m", "x", 3, {"k": [0.0, 1.0, 2.0]}, {"k": np.zeros((5, 4))})


def synthetic_acts(n_layers: int, *, n_pairs: int = 24, seed: int = 0, heads: int = 3, neurons: int = 20,
                   shift: np.ndarray | None = None):
    """Activations whose side-a-minus-side-b shift per layer is `shift` in every array
    (default: growing linearly with depth from 0 to 2)."""
    rng = np.random.default_rng(seed)
    shift = np.linspace(0.0, 2.0, n_layers) if shift is None else np.asarray(shift, dtype=float)
    arrays = {}
    for name, extra in (("resid_norm_last", ()), ("resid_norm_mean", ()), ("attn_entropy", (heads,)),
                        ("attn_max", (heads,)), ("head_write_norm", (heads,)), ("mlp_mean", (neurons,))):
        x = rng.normal(size=(2 * n_pairs, n_layers, *extra))
        x[:n_pairs] += shift.reshape(n_layers, *(1,) * len(extra))
        arrays[name] = x
    return Activations(arrays, tuple(f"p{i}" for i in range(n_pairs)), ("recall", "reasoning"),
                       {"model": f"synthetic{n_layers}", "architecture": f"arch{n_layers}"})


def test_duplicated_pairs_equal_an_explicitly_duplicated_subset(claim):
    acts = synthetic_acts(6)
    idx = np.array([0, 0, 3, 5, 5, 5, 7, 9, 11, 2, 2, 13, 20, 23, 23, 1, 4, 8, 8, 10, 12, 15, 16, 16])
    for source in claim.sources.values():
        via_pairs = measure(source, acts, seed=1, pairs=idx)
        via_subset = measure(source, acts.subset(idx), seed=1)
        np.testing.assert_array_equal(via_pairs.analysis.labels, via_subset.analysis.labels)
        for key in via_subset.profiles:
            np.testing.assert_array_equal(via_pairs.profiles[key], via_subset.profiles[key])


def test_profiles_from_activations_point_and_replicates(claim):
    acts = synthetic_acts(8)
    mp = profiles_from_activations(acts, claim.sources, seed=0, n_boot=5)
    assert mp.name == "synthetic8" and mp.architecture == "arch8" and mp.n_layers == 8 and mp.n_boot == 5
    assert set(KINDS) <= set(mp.profiles) and mp.boot_pairs.shape == (5, 24)
    h1 = claim.sources["H1"]
    np.testing.assert_array_equal(mp.profiles["H1 effect:resid_norm_last"],
                                  measure(h1, acts, seed=0).profiles["effect:resid_norm_last"])
    redo = measure(claim.sources["H3"], acts.subset(mp.boot_pairs[2]), seed=0, consistency=False)
    np.testing.assert_array_equal(mp.replicates["H3 frac_recall"][2], redo.profiles["frac_recall"])
    again = profiles_from_activations(acts, list(claim.sources.values()), seed=0, n_boot=5)
    np.testing.assert_array_equal(again.boot_pairs, mp.boot_pairs)
    with pytest.raises(ValueError, match="`n_boot`"):
        profiles_from_activations(acts, claim.sources, seed=0, n_boot=-1)


def planted(n_layers: int, shape, *, seed: int) -> np.ndarray:
    return shape(normalized_depth(n_layers))


def test_shared_planted_profile_recovered_from_activations(claim):
    # Both models: a recall shift with two turns over depth (a pattern unrelated smooth
    # profiles rarely share); the surface contrast: pure noise (no length sensitivity).
    # H1's signed d must agree, beyond the null and beyond the baseline.
    h1_only = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    shape = lambda d: 1.5 + 1.5 * np.sin(3 * np.pi * d)
    bundles = [profiles_from_activations(synthetic_acts(n, n_pairs=40, seed=n, shift=planted(n, shape, seed=n)),
                                         {"H1": claim.sources["H1"]}, seed=0, n_boot=40,
                                         baseline=synthetic_acts(n, n_pairs=40, seed=100 + n, shift=np.zeros(n)),
                                         baseline_contrast="recall_filler")
               for n in (16, 22)]
    result = evaluate_h4(h1_only, bundles, seed=0)
    assert result.figures["bootstrap"] == "joint" and result.figures["baseline_by_model"] == {
        "synthetic16": "recall_filler", "synthetic22": "recall_filler"}
    assert result.verdict == "supported", result.message
    row = result.figures["pairs"][0]
    assert row["excess_ci_low"] > 0 and row["n_boot_excess"] >= 20


def test_shared_length_sensitivity_alone_is_not_agreement(claim):
    # The same planted shift on the task contrast and on the surface contrast: the models
    # agree, but no more than their length sensitivity does, so the claim is not supported.
    h1_only = replace(claim, kinds=(ProfileKind("H1", "effect:resid_norm_last"),), n_permutations=1000)
    shape = lambda d: 1.5 + 1.5 * np.sin(3 * np.pi * d)
    bundles = [profiles_from_activations(synthetic_acts(n, n_pairs=40, seed=n, shift=planted(n, shape, seed=n)),
                                         {"H1": claim.sources["H1"]}, seed=0, n_boot=40,
                                         baseline=synthetic_acts(n, n_pairs=40, seed=100 + n,
                                                                 shift=planted(n, shape, seed=n)),
                                         baseline_contrast="recall_filler")
               for n in (16, 22)]
    result = evaluate_h4(h1_only, bundles, seed=0)
    row = result.figures["pairs"][0]
    assert row["checks"]["threshold"] and row["checks"]["baseline"] is False
    assert row["excess_ci_low"] <= 0 <= row["excess_ci_high"]
    assert result.verdict == "refuted" and "required interval above 0" in result.message


def test_baseline_activations_come_from_the_runs_provider(claim):
    """The baseline is the provider's contrast of the run's own task set, served through the
    provider (so --correct-only's pair subset applies to it as to the main activations)."""
    from types import SimpleNamespace

    calls = []

    class Provider:
        def variant(self, taskset, kind):
            calls.append(("variant", taskset, kind))
            return None if taskset == "custom" else f"{taskset}-{kind}"

        def get(self, taskset):
            calls.append(("get", taskset))
            return f"acts of {taskset}"

    run = SimpleNamespace(provider=Provider(), taskset="core")
    assert baseline_activations(claim, run) == "acts of core-recall_filler"
    assert calls == [("variant", "core", "recall_filler"), ("get", "core-recall_filler")]
    assert baseline_activations(replace(claim, baseline="none"), run) is None
    assert baseline_activations(claim, SimpleNamespace(provider=Provider(), taskset="custom")) is None


def test_evidence_records_round_trip(claim, tmp_path):
    records = []
    for n_layers in (6, 9):
        acts = synthetic_acts(n_layers)
        for source in claim.sources.values():
            result = evaluate_claim(source, acts, seed=0, model=f"m{n_layers}")
            records.append(json.loads(json.dumps(result.to_record())))
    records.append({"id": "H1", "model": "broken", "verdict": "error", "profiles": {}})
    bundles = bundles_from_records(records, architectures={"m6": "qwen2"})
    assert [b.name for b in bundles] == ["m6", "m9"] and bundles[0].architecture == "qwen2"
    direct = [profiles_from_activations(synthetic_acts(n), claim.sources, seed=0, n_boot=0, name=f"m{n}")
              for n in (6, 9)]
    for parsed, built in zip(bundles, direct):
        assert parsed.n_layers == built.n_layers and parsed.n_pairs == 24 and set(parsed.profiles) == set(built.profiles)
        for kind, value in built.profiles.items():
            np.testing.assert_allclose(parsed.profiles[kind], value, rtol=1e-12, equal_nan=True)
    from_records, from_acts = evaluate_h4(claim, bundles, seed=0), evaluate_h4(claim, direct, seed=0)
    # JSON text: NaN (an undefined agreement of a flat profile) compares equal to itself there.
    assert json.dumps(from_records.figures["pairs"]) == json.dumps(from_acts.figures["pairs"])
    record = json.loads(json.dumps(from_records.to_record()))  # the H4 record itself is JSON
    assert record["id"] == "H4" and record["model"] == "m6,m9" and len(record["profiles"]["depth"]) == 21
    assert np.array(record["figures"]["agreement"]["H2 frac_specialized"]).shape == (2, 2)
    with pytest.raises(ValueError, match="given twice"):
        bundles_from_records(records + records[:1])
    with pytest.raises(ValueError, match="broken has no per-layer profile"):
        bundles_from_records(records, claims=["H1"])
    nan_record = {"id": "H1", "model": "x", "figures": {"n_layers": 3},
                  "profiles": {"effect:resid_norm_last": [0.5, None, 1.0], "ci_low:resid_norm_last": [0, 0, 0]}}
    parsed = profiles_from_record(nan_record)
    assert list(parsed.profiles) == ["H1 effect:resid_norm_last"] and np.isnan(parsed.profiles["H1 effect:resid_norm_last"][1])


def test_plots_draw_h4_results_and_skip_others(claim):
    result = evaluate_h4(claim, [bundle("a", 24), bundle("b", 30, flip=True)], seed=0)
    for draw in (profile_overlay_plot, agreement_heatmap, baseline_excess_plot):
        png = draw(result)  # the excess plot draws undefined intervals as n/a
        assert png is not None and png.startswith(b"\x89PNG")
    with_baseline = evaluate_h4(replace(claim, kinds=claim.kinds[:1]),
                                noisy_bundles(0, n_boot=30, baseline={"a": np.cos, "b": np.sin})[0], seed=0)
    assert "baseline:a:H1 effect:resid_norm_last" in with_baseline.profiles
    for draw in (profile_overlay_plot, baseline_excess_plot):
        assert draw(with_baseline).startswith(b"\x89PNG")
    assert baseline_excess_plot(evaluate_h4(replace(claim, baseline="none"), [bundle("a", 24), bundle("b", 30)],
                                            seed=0)) is None
    per_model = evaluate_claim(claim.sources["H1"], synthetic_acts(5), seed=0, model="m")
    assert all(draw(per_model) is None for draw in (profile_overlay_plot, agreement_heatmap, baseline_excess_plot))


VALID = """\
id: H4
title: t
statement: s
sources: {H1: %(h1)s, H2: %(h2)s}
profiles:
  - {claim: H1, profile: "effect:resid_norm_last"}
  - {claim: H2, profile: frac_recall}
grid_points: 21
threshold: 0.5
alpha: 0.05
n_permutations: 2000
n_bootstrap: 50
reported: {}
"""


@pytest.mark.parametrize("edit, problems", [
    (lambda t: t.replace("threshold: 0.5\n", ""), ["missing key `threshold`"]),
    (lambda t: t + "thresold: 0.5\n", ["unknown key `thresold`; allowed keys: id,"]),
    (lambda t: t.replace("threshold: 0.5", "threshold: 1.5").replace("alpha: 0.05", "alpha: five"),
     ["`threshold` must be in [-1, 1], got 1.5", "`alpha` must be a number, got 'five'"]),
    (lambda t: t.replace("n_permutations: 2000", "n_permutations: 100"), ["`n_permutations` must be in [1000"]),
    (lambda t: t.replace("frac_recall}", "frac_recal}"), ["`profiles[1].profile` is 'frac_recal'; H2 yields: net_recall, frac_specialized, frac_recall"]),
    (lambda t: t.replace('profile: "effect:resid_norm_last"', 'profile: "effect:attn_max"'),
     ["`profiles[0].profile` is 'effect:attn_max'; H1 yields: effect:resid_norm_last, effect:resid_norm_mean"]),
    (lambda t: t.replace("{claim: H2, profile: frac_recall}", "{claim: H3, profile: frac_recall}"),
     ["`profiles[1].claim` is 'H3'; allowed (the keys of `sources`): H1, H2"]),
    (lambda t: t.replace("{claim: H2, profile: frac_recall}", "{claim: H2}"), ["missing key `profiles[1].profile`"]),
    (lambda t: t.replace("H2: ", "H2: missing/", 1), ["`sources.H2`: invalid claim file", "cannot read the file"]),
    (lambda t: t.replace("sources: {H1: ", "sources: {H9: ", 1).replace("claim: H1,", "claim: H9,"),
     ["`sources.H9` points to", "whose id is 'H1'"]),
    (lambda t: t + "permutation_null: spin\nmethod: kendall\nbaseline: length\n",
     ["`permutation_null` is 'spin'; allowed: phase_randomized, cyclic_shift, shuffle", "`method` is 'kendall'",
      "`baseline` is 'length'; allowed: recall_filler, reasoning_reworded, none"]),
    (lambda t: t.replace("  - {claim: H2, profile: frac_recall}\n", "  - {claim: H2, profile: frac_recall}\n"
                         "  - {claim: H2, profile: frac_reasoning}\n  - {claim: H2, profile: net_recall}\n"),
     [("`profiles` lists 3 label profiles of H2 (frac_recall, frac_reasoning, net_recall); they all come from "
       "the same labels, at most 2")]),
    (lambda t: t.replace("alpha: 0.05", "alpha: 0.0001"), ["`n_permutations` 2000 cannot give p < alpha 0.0001"]),
    (lambda t: "id: [unclosed\n", ["not valid YAML"]),
    (lambda t: "", ["the file is empty"]),
])
def test_malformed_claim_files_name_the_file_and_every_key(tmp_path, edit, problems):
    sources = {"h1": str(ROOT / "hypotheses/h1_layers/claim.yaml"), "h2": str(ROOT / "hypotheses/h2_heads/claim.yaml")}
    path = tmp_path / "bad_agreement.yaml"
    path.write_text(edit(VALID % sources), encoding="utf-8")
    with pytest.raises(ClaimFileError) as info:
        load_agreement_claim(path)
    text = str(info.value)
    assert str(path) in text
    for problem in problems:
        assert problem in text, text
    valid = tmp_path / "valid.yaml"
    valid.write_text(VALID % sources, encoding="utf-8")
    assert [k.name for k in load_agreement_claim(valid).kinds] == ["H1 effect:resid_norm_last", "H2 frac_recall"]
    assert load_claim(sources["h1"]).id == "H1"


@pytest.fixture(scope="module")
def tiny_activations():
    """Two tiny models of different depth and architecture on the core prompts (plain), each
    as ``(main activations, activations on the recall vs recall + filler contrast)``."""
    from engine.capture import capture_activations
    from engine.model.tiny import (
        build_tiny_config,
        build_tiny_model,
        build_tiny_tokenizer,
    )
    from tasks.filler import filler_contrast
    from tasks.loader import load_tasks
    from tasks.taskset import TaskSet

    tasks, tokenizer = load_tasks("core"), build_tiny_tokenizer()
    # Every third pair (13): enough for 5 folds, and capture stays fast on a busy CPU.
    main = TaskSet(name="core-thirds", pairs=tuple(tasks.pairs[::3]), labels=tasks.labels)
    surface = filler_contrast(main, lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"]), seed=0)
    out = []
    for name, config in (("tiny4-qwen2", build_tiny_config(num_hidden_layers=4)),
                         ("tiny6-llama", build_tiny_config(num_hidden_layers=6, architecture="llama"))):
        model, both = build_tiny_model(seed=0, config=config), []
        for taskset in (main, surface):
            texts = [p.a.text for p in taskset.pairs] + [p.b.text for p in taskset.pairs]  # sides a, then b
            arrays = capture_activations(model, tokenizer, texts, progress=False)
            both.append(Activations(arrays, tuple(p.id for p in taskset.pairs), tuple(taskset.labels),
                                    {"model": name, "architecture": config.model_type}))
        out.append(tuple(both))
    return out


def test_end_to_end_on_two_tiny_architectures(claim, tiny_activations):
    bundles = [profiles_from_activations(acts, claim.sources, seed=0, n_boot=8, baseline=surface,
                                         baseline_contrast="recall_filler") for acts, surface in tiny_activations]
    assert [(b.architecture, b.n_layers) for b in bundles] == [("qwen2", 4), ("llama", 6)]
    assert set(bundles[0].baseline) == set(bundles[0].profiles) and bundles[0].baseline_replicates
    result = evaluate_h4(claim, bundles, seed=0)
    assert result.verdict in ("supported", "refuted", "inconclusive") and result.figures["bootstrap"] == "joint"
    # Inconclusive exactly when no check fails and one is undefined.
    outcomes = {r["outcome"] for r in result.figures["pairs"]}
    assert result.verdict == ("refuted" if "fail" in outcomes else "inconclusive" if "undefined" in outcomes
                              else "supported")
    assert np.isfinite(result.profiles["depth"]).all()
    for row in result.figures["pairs"]:
        flat = [np.ptp(result.profiles[f"profile:{m}:{row['kind']}"]) == 0 for m in (row["model_a"], row["model_b"])]
        # A correlation (and its p) is undefined exactly when a profile is flat.
        assert np.isfinite(row["correlation"]) == (not any(flat)) == np.isfinite(row["pvalue"])
        if np.isfinite(row["correlation"]):
            assert -1 <= row["correlation"] <= 1 and 0 < row["pvalue"] <= 1
            assert row["ci_low"] <= row["ci_high"]
        assert row["baseline"] is not None  # measured on the tiny models' own surface contrast
        if np.isfinite(row["excess_ci_low"]):
            assert row["excess_ci_low"] <= row["excess_ci_high"] and row["checks"]["baseline"] == (row["excess_ci_low"] > 0)
    h1 = next(r for r in result.figures["pairs"] if r["kind"] == "H1 effect:resid_norm_last")
    assert np.isfinite(h1["correlation"])  # residual-norm effect sizes are never flat
    json.dumps(result.to_record())
    assert all(draw(result) is not None for draw in (profile_overlay_plot, agreement_heatmap, baseline_excess_plot))


def test_h4_with_one_model_skips_before_touching_any_model():
    """One --model and no --compare-with: the skip comes first, no model is opened or captured."""
    from types import SimpleNamespace

    from evaluation.agreement import NotEnoughModelsError
    from evaluation.agreement_claim import load_agreement_claim
    from kinds.agreement import evaluate_agreement

    claim = load_agreement_claim(ROOT / "hypotheses/h4_cross_architecture/model_agreement.yaml")

    class NoModels:
        options = SimpleNamespace(models=("smollm2",), compare_with=(), seed=0)

        def model_run(self, name):
            raise AssertionError(f"{name} was opened")

    with pytest.raises(NotEnoughModelsError, match="one model"):
        evaluate_agreement(claim, NoModels())
    two = NoModels()
    two.options = SimpleNamespace(models=("a", "b"), compare_with=(), seed=0)
    with pytest.raises(AssertionError, match="a was opened"):  # with two, models are read
        evaluate_agreement(claim, two)
