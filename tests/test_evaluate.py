"""Claim evaluation on activations the test controls: known effects give known verdicts."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.activations import Activations
from evaluation.component_claim import Expectation, load_claim
from evaluation.components import analyse_components, evaluate_claim

ROOT = Path(__file__).resolve().parents[1] / "hypotheses"
N_PAIRS, L, H, N = 30, 6, 4, 50


def _acts(seed: int = 0, *, effect: float = 2.5) -> Activations:
    """Side a (recall) is shifted up by `effect` SDs in layers 0-1, down (reasoning) in layer 5.

    Heads: the same for every head of those layers; neurons: the first 10 neurons of layer 2.
    """
    rng = np.random.default_rng(seed)
    shift_layer = np.zeros(L)
    shift_layer[[0, 1]] = effect
    shift_layer[5] = -effect
    arrays = {}
    for name, extra in (("resid_norm_last", ()), ("resid_norm_mean", ()), ("attn_entropy", (H,)),
                        ("attn_max", (H,)), ("head_write_norm", (H,)), ("mlp_mean", (N,))):
        x = rng.standard_normal((2 * N_PAIRS, L, *extra))
        if name == "mlp_mean":
            x[:N_PAIRS, 2, :10] += effect
        else:
            x[:N_PAIRS] += shift_layer.reshape(L, *([1] * len(extra)))
        arrays[name] = x.astype(np.float32)
    arrays["n_tokens"] = np.r_[np.full(N_PAIRS, 8), np.full(N_PAIRS, 25)]
    return Activations(arrays=arrays, pair_ids=tuple(f"p{i}" for i in range(N_PAIRS)),
                       labels=("recall", "reasoning"), meta={"tasks": "synthetic"})


@pytest.fixture(scope="module")
def acts() -> Activations:
    return _acts()


def _claim(slug: str, **changes):
    return dataclasses.replace(load_claim(ROOT / slug / "claim.yaml"), **changes)


def test_layer_claim_finds_the_planted_layers_with_signs(acts):
    result = evaluate_claim(_claim("h1_layers"), acts, seed=0, model="synthetic")
    assert result.figures["recall_layers"] == [0, 1]
    assert result.figures["reasoning_layers"] == [5]
    assert result.figures["specialized"] == 3 and result.figures["total"] == L
    assert result.verdict == "supported"  # 3/6 meets the shipped fraction_specialized >= 0.5
    assert result.message.startswith("H1: 3/6 layers specialized (50.0%), required fraction_specialized >= 0.5; "
                                     "pi1 = ")  # the estimand and its interval follow the study's count
    low, high = result.figures["pi1_ci_low"], result.figures["pi1_ci_high"]
    assert 0 <= low <= result.figures["pi1"] <= high <= 1


def test_verdict_follows_the_expectation_not_the_test(acts):
    trivial = _claim("h1_layers", expect=Expectation("fraction_specialized", ">=", 0.0))
    impossible = _claim("h1_layers", expect=Expectation("fraction_specialized", ">", 1.0))
    assert evaluate_claim(trivial, acts, seed=0, model="m").verdict == "supported"
    res = evaluate_claim(impossible, acts, seed=0, model="m")
    assert res.verdict == "refuted"
    assert res.message.startswith("H1: 3/6 layers specialized (50.0%), required fraction_specialized > 1; pi1 = ")


def test_head_and_neuron_levels(acts):
    heads = evaluate_claim(_claim("h2_heads"), acts, seed=0, model="m")
    assert heads.figures["recall"] == 2 * H and heads.figures["reasoning"] == H
    assert heads.profiles["label_code"].shape == (L, H)
    assert set(heads.figures["top_recall_heads"]) <= {f"L{l}H{h}" for l in (0, 1) for h in range(H)}
    neurons = evaluate_claim(_claim("h3_neurons"), acts, seed=0, model="m")
    assert neurons.figures["most_specialized_layer"] == 2
    assert neurons.figures["recall"] >= 9  # 10 planted at d = 2.5, BH at q = 0.05
    assert neurons.figures["specialized"] <= 12
    assert neurons.components is not None and len(neurons.components) == L * N


def test_paired_claim_uses_paired_effect(acts):
    res = evaluate_claim(_claim("h1p_layers_paired"), acts, seed=0, model="m")
    assert res.thresholds["effect_size"] == "d_av" and res.figures["recall_layers"] == [0, 1]


def test_no_effect_gives_no_specialized_components():
    null = _acts(seed=1, effect=0.0)
    res = evaluate_claim(_claim("h2_heads"), null, seed=0, model="m")
    assert res.figures["specialized"] == 0 and res.verdict == "refuted"


def test_depth_claim_on_edge_reasoning_heads():
    # reasoning-specialized at layers 0 and 5 (edges), recall at 2 and 3 (middle)
    acts = _acts(seed=2, effect=0.0)
    arrays = dict(acts.arrays)
    x = arrays["attn_entropy"].copy()
    x[:N_PAIRS, [2, 3]] += 2.5
    x[:N_PAIRS, [0, 5]] -= 2.5
    arrays["attn_entropy"] = x
    res = evaluate_claim(_claim("h1d_early_reasoning"), dataclasses.replace(acts, arrays=arrays),
                         seed=0, model="m")
    assert res.figures["n_reasoning"] == 2 * H and res.figures["n_recall"] == 2 * H
    assert res.figures["depth_pvalue"] < 0.05 and res.verdict == "supported"
    # 8 of the 6! layer orders are as extreme: p = (1 + ~8/720 * 9999) / 10000
    assert res.figures["depth_pvalue"] == pytest.approx(8 / 720, abs=0.004)
    assert res.figures["depth_distance_difference"] == pytest.approx(0.5 - 0.1)
    assert res.figures["layers_with_reasoning"] == res.figures["layers_with_recall"] == 2


def _depth_acts(reasoning_layers, recall_layers):
    acts = _acts(seed=2, effect=0.0)
    arrays = dict(acts.arrays)
    x = arrays["attn_entropy"].copy()
    x[:N_PAIRS, recall_layers] += 2.5
    x[:N_PAIRS, reasoning_layers] -= 2.5
    arrays["attn_entropy"] = x
    return dataclasses.replace(acts, arrays=arrays)


def test_depth_permutes_layers_not_heads():
    """All reasoning heads in layer 0, all recall heads in layer 3: as 3 + 3 independent heads a
    one-sided Mann-Whitney gives p = 1/20; one layer against one layer is no evidence about depth."""
    from stats.tests import mann_whitney
    res = evaluate_claim(_claim("h1d_early_reasoning"), _depth_acts([0], [3]), seed=0, model="m")
    assert res.figures["n_reasoning"] == res.figures["n_recall"] == H
    heads_as_samples = mann_whitney(np.full(H, 0.5), np.full(H, 0.1), alternative="greater").pvalue
    assert float(heads_as_samples) <= 0.06
    # 4 of the 30 ordered (reasoning, recall) pairs of layers are as extreme: p ~ 0.133
    assert res.figures["depth_pvalue"] == pytest.approx(4 / 30, abs=0.01) and res.verdict == "refuted"


def test_an_empty_depth_comparison_is_inconclusive():
    res = evaluate_claim(_claim("h1d_early_reasoning"), _depth_acts([], [2, 3]), seed=0, model="m")
    assert res.figures["n_reasoning"] == 0 and res.verdict == "inconclusive"
    assert "0 reasoning-" in res.message


def test_seed_changes_folds_not_full_data_statistics(acts):
    c = _claim("h1_layers")
    a0, a1 = analyse_components(c, acts, seed=0), analyse_components(c, acts, seed=1)
    np.testing.assert_array_equal(a0.features["resid_norm_last"].pvalue, a1.features["resid_norm_last"].pvalue)


def test_a_pair_subset_is_analysed_alone(acts):
    # --correct-only restricts the activations once, where they are made (fixtures.session);
    # the claim then analyses exactly the pairs it is given.
    res = evaluate_claim(_claim("h1_layers"), acts.subset(np.arange(20)), seed=0, model="m")
    assert res.figures["n_pairs"] == 20
    full = evaluate_claim(_claim("h1_layers"), acts, seed=0, model="m")
    assert full.figures["n_pairs"] == acts.n_pairs

    with pytest.raises(ValueError, match="only 4 pairs"):
        evaluate_claim(_claim("h1_layers"), acts.subset(np.arange(4)), seed=0, model="m")


def test_record_is_json_ready(acts):
    import json

    rec = evaluate_claim(_claim("h2_heads"), acts, seed=0, model="m").to_record()
    text = json.dumps(rec, allow_nan=False)
    assert '"verdict"' in text and rec["comparison"][0]["label"] == "model"


@pytest.mark.parametrize("changes, expected", [
    ({"cv": {"mode": "holdout", "folds": 5, "min_consistency": 1.0, "required": True}},
     "`cv.mode` is 'holdout'; allowed: cross_fit, study_consistency"),
    ({"cv": {"mode": "cross_fit", "familywise": "holm", "folds": 5, "min_consistency": 1.0, "required": True}},
     "`cv.familywise` is 'holm'; allowed: max_t, fdr_by, none"),
    ({"cv": {"mode": "study_consistency", "n_perm": 99, "folds": 5, "min_consistency": 1.0, "required": True}},
     "`cv.n_perm` only applies to `cv.mode: cross_fit`"),
    ({"cv": {"n_perm": 5, "folds": 5, "min_consistency": 1.0, "required": True}}, "`n_perm` must be in [19"),
    ({"estimand": {"measure": "depth_effect"}}, "does not fit `level: head`"),
    ({"estimand": {"n_boot": 3}}, "`n_boot` must be in [20"),
    ({"estimand": {"bootstraps": 3}}, "unknown key `estimand.bootstraps`"),
    ({"expect": {"measure": "pi2", "op": ">", "value": 0.1}}, "`expect.measure` is 'pi2'"),
])
def test_new_claim_keys_are_validated(tmp_path, changes, expected):
    import yaml

    from evaluation.component_claim import load_claim
    from evaluation.schema import ClaimFileError
    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "hypotheses" / "h2_heads" / "claim.yaml").read_text())
    data.update(changes)
    path = tmp_path / "x" / "claim.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ClaimFileError) as err:
        load_claim(path)
    assert expected in str(err.value)


def test_cross_fit_is_the_default_meaning_of_cv(acts):
    """Without `cv.mode` a claim cross-fits: components selected on 4 folds are confirmed on the
    fifth (6 pairs) by a permutation test; the planted layers (d = 2.5) are confirmed in at
    least 4 of 5 folds, the others in none."""
    base = _claim("h1_layers")
    cross = dataclasses.replace(base, cv=dataclasses.replace(base.cv, mode="cross_fit", alpha=0.05, n_perm=199,
                                                             min_consistency=0.6))
    fractions = analyse_components(cross, acts, seed=0).features["resid_norm_mean"].consistency
    assert fractions[[0, 1, 5]].min() >= 0.8 and fractions[[2, 3, 4]].max() == 0
    res = evaluate_claim(cross, acts, seed=0, model="m")
    assert res.figures["cv_mode"] == "cross_fit" and res.thresholds["cv_mode"] == "cross_fit"
    assert res.figures["recall_layers"] == [0, 1] and res.figures["reasoning_layers"] == [5]
    assert base.cv.mode == "study_consistency"  # the replication keeps the study's filter


def test_estimands_are_composed_from_the_per_feature_results(acts):
    """pi1 is Storey's estimate on one Bonferroni p-value per component over its features, the
    effect summaries use each component's largest |effect|; the resamples are a function of the
    seed and the pairs (the model and a control on the same pairs share them)."""
    from evaluation.claim_estimands import bootstrap_estimands
    from stats.estimands import storey_pi1

    claim = _claim("h2_heads")
    analysis = analyse_components(claim, acts, seed=0)
    p = np.stack([r.pvalue.ravel() for r in analysis.features.values()])
    largest = np.max(np.abs(np.stack([r.effect.ravel() for r in analysis.features.values()])), axis=0)
    boot = bootstrap_estimands(claim, acts, seed=0, n_boot=20)
    assert boot.estimate["pi1"] == pytest.approx(float(storey_pi1(np.minimum(1, 3 * p.min(axis=0)))))
    assert boot.estimate["median_abs_effect"] == pytest.approx(float(np.median(largest)), rel=1e-6)
    assert boot.estimate["share_large_effect"] == pytest.approx(float(np.mean(largest >= claim.min_effect)))
    again = bootstrap_estimands(claim, _acts(seed=7), seed=0, n_boot=20)
    np.testing.assert_array_equal(boot.indices, again.indices)
    other = bootstrap_estimands(claim, acts, seed=0, n_boot=20, stream=1)
    assert not np.array_equal(boot.indices, other.indices)
