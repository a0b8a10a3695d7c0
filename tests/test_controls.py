"""Controls decide the verdict: a result that a control reproduces is 'confounded'."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from engine.activations import Activations
from evaluation.component_claim import Controls, EstimandSpec, Expectation, load_claim
from evaluation.schema import ClaimFileError
from evaluation.controls import beats, make_controls, permutation_null, permuted
from evaluation.components import evaluate_claim, measure

ROOT = Path(__file__).resolve().parents[1] / "hypotheses"
N_PAIRS, L, H = 24, 5, 3


def _acts(seed: int, effect: float) -> Activations:
    """Recall (side a) shifted by `effect` SDs in layers 0-2 of every head-level feature."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name in ("attn_entropy", "attn_max", "head_write_norm"):
        x = rng.standard_normal((2 * N_PAIRS, L, H))
        x[:N_PAIRS, :3] += effect
        arrays[name] = x
    arrays["n_tokens"] = np.r_[np.full(N_PAIRS, 8), np.full(N_PAIRS, 20)]
    return Activations(arrays, tuple(f"p{i}" for i in range(N_PAIRS)), ("recall", "reasoning"), {})


class FakeProvider:
    """Serves prepared activations per condition, like engine.provider.ActivationProvider."""

    def __init__(self, by_condition: dict):
        self.by_condition = by_condition
        self.calls: list = []

    def get(self, taskset, *, random_init_seed=None):
        key = taskset.name if random_init_seed is None else f"random-{random_init_seed}"
        self.calls.append(key)
        return self.by_condition[key]

    def variant(self, taskset, kind):
        return None if kind not in self.by_condition else SimpleNamespace(name=kind, sha256=kind)


def _claim(estimand: str = "share_large_effect", **controls):
    """H2 on the fake grid. Its 15 heads are too few for Storey's pi1 (SE ~0.24 at 24 pairs:
    a null grid reaches 0.33 by chance), so the control rule is compared on the share of
    heads with |d| >= min_effect unless a test asks for pi1."""
    base = load_claim(ROOT / "h2_heads" / "claim.yaml")
    return dataclasses.replace(base, controls=Controls(**controls),
                               expect=Expectation("fraction_specialized", ">=", 0.5),
                               estimand=EstimandSpec(measure=estimand))


MAIN = _acts(0, 2.5)
NULL = _acts(1, 0.0)
TASKS = SimpleNamespace(name="core", sha256="core")


def test_beats_follows_the_expectation_direction():
    up = _claim()
    down = dataclasses.replace(up, expect=Expectation("depth_pvalue", "<", 0.05))
    assert beats(up, 0.6, 0.2) and not beats(up, 0.6, 0.6) and not beats(up, 0.2, 0.6)
    assert beats(down, 0.01, 0.2) and not beats(down, 0.2, 0.01)
    assert beats(up, 0.5, float("nan")) and not beats(up, float("nan"), 0.1)


def test_permuted_swaps_whole_pairs():
    swap = np.zeros(N_PAIRS, dtype=bool)
    swap[:5] = True
    p = permuted(MAIN, swap, ("attn_entropy",))
    a, b = MAIN.sides("attn_entropy")
    pa, pb = p.sides("attn_entropy")
    np.testing.assert_array_equal(pa[:5], b[:5])
    np.testing.assert_array_equal(pb[:5], a[:5])
    np.testing.assert_array_equal(pa[5:], a[5:])


def test_permutation_null_is_seeded_and_calibrates():
    claim = _claim()
    null_a, counts = permutation_null(claim, MAIN, n=30, seed=3)
    assert np.array_equal(null_a, permutation_null(claim, MAIN, n=30, seed=3)[0])
    np.testing.assert_allclose(null_a, counts / (L * H))  # the measure is the specialized fraction
    # shuffled labels destroy the planted effect: the null stays far below the observed 0.6
    assert measure(claim, MAIN, seed=0).value == pytest.approx(0.6)
    assert null_a.max() < 0.6


def test_clean_effect_beats_every_control():
    claim = _claim(random_weights=(0, 1), surface_only=("recall_filler", "reasoning_reworded"),
                   length_matched=True, permutation=(30, 0.05))
    provider = FakeProvider({"core": MAIN, "random-0": NULL, "random-1": _acts(2, 0.0),
                             "recall_filler": _acts(3, 0.0), "length_matched": MAIN})
    run = make_controls(provider, TASKS, MAIN, seed=0)
    res = evaluate_claim(claim, MAIN, seed=0, model="m", controls=run)
    assert res.verdict == "supported", res.controls
    by_name = {row.name: row.to_record() for row in res.controls}
    random0 = by_name["random weights (seed 0)"]
    assert random0["passed"] is True and random0["count"] == 0
    # the decision: the one-sided 95% lower bound of model - control is above 0, stated in the row
    assert random0["difference_lower_bound"] > 0 and random0["paired_bootstrap"] is True
    assert random0["difference_ci_low"] <= random0["difference"] <= random0["difference_ci_high"]
    assert random0["difference"] == pytest.approx(random0["model_estimate"] - random0["control_estimate"])
    assert "only when this lower bound is > 0" in random0["detail"] and random0["study_point_beats"] is True
    # no reworded set for this task set: reported, not counted against the claim
    reworded = by_name["surface only: reasoning vs reasoning reworded"]
    assert reworded["passed"] is None and "no reasoning_reworded contrast" in reworded["detail"]
    assert by_name["length-matched prompts"]["overlap"] == pytest.approx(1.0)
    perm = by_name["label permutation (n=30)"]
    assert perm["passed"] is True and perm["pvalue"] == pytest.approx(1 / 31)
    assert res.profiles["control:random-weights-0:count_per_layer"].tolist() == [0] * L
    assert res.profiles["control:trained:count_per_layer"].tolist() == [H, H, H, 0, 0]


def test_a_control_that_reproduces_the_result_confounds_it():
    claim = _claim(random_weights=(0,), length_matched=True)
    provider = FakeProvider({"core": MAIN, "random-0": MAIN, "length_matched": NULL})
    res = evaluate_claim(claim, MAIN, seed=0, model="m", controls=make_controls(provider, TASKS, MAIN, seed=0))
    assert res.verdict == "confounded" and not res.passed
    assert "random weights (seed 0)" in res.message and "length-matched prompts" in res.message
    failed = [row.name for row in res.controls if row.passed is False]
    assert failed == ["random weights (seed 0)", "length-matched prompts"]


def test_informational_length_match_and_refuted_claims_skip_confounding():
    claim = _claim(length_matched=False)
    provider = FakeProvider({"core": MAIN, "length_matched": NULL})
    res = evaluate_claim(claim, MAIN, seed=0, model="m", controls=make_controls(provider, TASKS, MAIN, seed=0))
    assert res.verdict == "supported" and res.controls[0].passed is None
    refuted = evaluate_claim(_claim(random_weights=(0,)), NULL, seed=0, model="m",
                             controls=make_controls(FakeProvider({"random-0": NULL}), TASKS, NULL, seed=0))
    assert refuted.verdict == "refuted"


def test_no_controls_runner_means_no_rows():
    res = evaluate_claim(_claim(random_weights=(0,)), MAIN, seed=0, model="m", controls=None)
    assert res.controls == [] and res.verdict == "supported"


@pytest.mark.parametrize("controls, expected", [
    ({"random_weights": {"seeds": []}}, "`controls.random_weights.seeds` must be a non-empty list"),
    ({"random_weights": {"seed": [1]}}, "unknown key `controls.random_weights.seed`"),
    ({"surface_only": {"contrasts": ["recall_typos"]}}, "unknown ['recall_typos']"),
    ({"length_matched": {"must_survive": "yes"}}, "must_survive` must be true or false"),
    ({"permutation": {"n": 0, "alpha": 0.05}}, "`n` must be in [1"),
    ({"permutation": {"n": 100}}, "missing key `controls.permutation.alpha`"),
    ({"placebo": {}}, "unknown key `controls.placebo`"),
])
def test_control_sections_are_validated(tmp_path, controls, expected):
    data = yaml.safe_load((ROOT / "h2_heads" / "claim.yaml").read_text())
    data["controls"] = controls
    path = tmp_path / "x" / "claim.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ClaimFileError) as err:
        load_claim(path)
    assert expected in str(err.value)


def test_permutations_with_an_undefined_measure_count_as_not_extreme():
    # Depth claims have no value when no component is specialized: such a draw did not reach
    # the observed result, so it lowers the p-value's numerator, not its denominator.
    from evaluation.controls import permutation_row

    claim = dataclasses.replace(load_claim(ROOT / "h1d_early_reasoning" / "claim.yaml"), controls=Controls())
    main = measure(claim, MAIN, seed=0)
    row, null = permutation_row(dataclasses.replace(claim, expect=Expectation("depth_pvalue", "<", 0.05)),
                                 dataclasses.replace(main, value=0.01), MAIN, 20, 0.05, 0)
    assert np.isnan(null).all()  # the planted effect is not at the edges: no recall/reasoning split
    assert row.pvalue == pytest.approx(1 / 21) and row.passed is True
    assert "undefined in every draw" in row.detail


def test_permutation_null_is_cached_by_procedure(tmp_path):
    from engine.cache import ActivationCache
    from evaluation.controls import cached_permutation_null

    cache = ActivationCache(tmp_path)
    acts = dataclasses.replace(MAIN, meta={"cache_key": "abc", "model_identity": "m"})
    claim = _claim()
    first = cached_permutation_null(claim, acts, n=10, seed=1, cache=cache)
    again = cached_permutation_null(claim, acts, n=10, seed=1, cache=cache)
    assert [e.split()[0] for e in cache.events] == ["miss", "write", "hit"]
    np.testing.assert_array_equal(first[0], again[0])
    stricter = dataclasses.replace(claim, min_effect=2.0)  # another procedure: another entry
    cached_permutation_null(stricter, acts, n=10, seed=1, cache=cache)
    assert cache.events[-2].startswith("miss")


def test_a_pair_subset_has_a_permutation_null_of_its_own(tmp_path):
    from evaluation.controls import cached_permutation_null
    from engine.cache import ActivationCache

    cache = ActivationCache(tmp_path)
    acts = dataclasses.replace(MAIN, meta={"cache_key": "abc", "model_identity": "m"})
    claim = _claim()
    cached_permutation_null(claim, acts, n=10, seed=1, cache=cache)
    cached_permutation_null(claim, acts.subset(np.arange(12)), n=10, seed=1, cache=cache)
    cached_permutation_null(claim, acts.subset(np.arange(12)), n=10, seed=1, cache=cache)
    assert [e.split()[0] for e in cache.events] == ["miss", "write", "miss", "write", "hit"]


def test_provider_serves_one_pair_subset_to_the_model_and_its_twins(monkeypatch, tmp_path):
    """--correct-only: the subset is made once, in the provider, so the model, the random-weights
    controls and everything computed from their activations analyse the same pairs."""
    import engine.provider as provider_module
    from engine.cache import ActivationCache
    from engine.model.lazy import LazyModel
    from engine.provider import ActivationProvider

    served = {None: MAIN, 0: NULL}
    monkeypatch.setattr(provider_module, "get_activations",
                        lambda taskset, model, **kw: served[model.random_init_seed])
    tasks = SimpleNamespace(name="core", sha256="core", pairs=[None] * N_PAIRS)
    provider = ActivationProvider(LazyModel("tiny"), "plain", ActivationCache(tmp_path))
    assert provider.get(tasks).n_pairs == N_PAIRS
    keep = np.array([1, 4, 5, 9, 11, 20])
    provider.restrict_to(tasks, keep)
    main, twin = provider.get(tasks), provider.get(tasks, random_init_seed=0)
    assert main.pair_ids == twin.pair_ids == tuple(f"p{i}" for i in keep)
    np.testing.assert_array_equal(main.feature("attn_max"), MAIN.subset(keep).feature("attn_max"))
    np.testing.assert_array_equal(twin.feature("attn_max"), NULL.subset(keep).feature("attn_max"))
    assert main.meta["correct_only"] and provider.get_all(tasks).n_pairs == N_PAIRS
    other = SimpleNamespace(name="other", sha256="other", pairs=[None] * N_PAIRS)
    assert provider.get(other).n_pairs == N_PAIRS  # a set not derived from the main one: untouched


def test_a_new_restriction_replaces_the_old_subset(monkeypatch, tmp_path):
    import engine.provider as provider_module
    from engine.cache import ActivationCache
    from engine.model.lazy import LazyModel
    from engine.provider import ActivationProvider

    calls = []
    monkeypatch.setattr(provider_module, "get_activations",
                        lambda taskset, model, **kw: calls.append(1) or MAIN)
    tasks = SimpleNamespace(name="core", sha256="core", pairs=[None] * N_PAIRS)
    provider = ActivationProvider(LazyModel("tiny"), "plain", ActivationCache(tmp_path))
    provider.restrict_to(tasks, np.array([0, 1, 2]))
    assert provider.get(tasks).pair_ids == ("p0", "p1", "p2")
    provider.restrict_to(tasks, np.array([3, 4]))
    assert provider.get(tasks).pair_ids == ("p3", "p4")
    assert len(calls) == 1  # the full activations were read once and kept


def test_the_claim_its_controls_and_its_permutation_null_analyse_one_pair_subset(monkeypatch):
    """--correct-only: the subset the claim is evaluated on is the one every control row and
    the permutation null measure (the provider serves it to the twins, see the test above);
    a control served on other pairs is compared with an unpaired bootstrap and says so."""
    import evaluation.controls as controls_module

    keep = np.array([0, 2, 3, 5, 7, 8, 11, 12, 15, 16, 19, 21, 22, 23])
    main, null = MAIN.subset(keep), NULL.subset(keep)
    seen: list[tuple[str, ...]] = []
    real_measure = controls_module.measure

    def recording_measure(claim, acts, **kw):
        seen.append(tuple(acts.pair_ids))
        return real_measure(claim, acts, **kw)

    monkeypatch.setattr(controls_module, "measure", recording_measure)
    claim = _claim(random_weights=(0,), surface_only=("recall_filler",), length_matched=True,
                   permutation=(5, 0.05))
    provider = FakeProvider({"core": main, "random-0": null, "recall_filler": _acts(3, 0.0).subset(keep),
                             "length_matched": main})
    res = evaluate_claim(claim, main, seed=0, model="m", controls=make_controls(provider, TASKS, main, seed=0))
    assert len(seen) == 3 + 5  # three control conditions, five permutation draws
    assert set(seen) == {tuple(f"p{i}" for i in keep)}
    assert res.figures["n_pairs"] == len(keep)
    assert all(row.extra.get("paired_bootstrap", True) for row in res.controls)

    other = make_controls(FakeProvider({"random-0": NULL.subset(keep[:-1])}), TASKS, main, seed=0)
    row = evaluate_claim(_claim(random_weights=(0,)), main, seed=0, model="m", controls=other).controls[0]
    assert row.extra["paired_bootstrap"] is False and "different pairs" in row.detail


def test_a_control_with_an_undefined_estimand_cannot_explain_the_result():
    """H1d: the random-weights twin has no specialized head, so its depth effect is undefined;
    the row says so and the claim is not called confounded."""
    arrays = dict(NULL.arrays)
    x = arrays["attn_entropy"].copy()
    x[:N_PAIRS, [1, 2, 3]] += 3.0  # recall in the middle layers
    x[:N_PAIRS, [0, 4]] -= 3.0     # reasoning at the edges
    arrays["attn_entropy"] = x
    edges = dataclasses.replace(NULL, arrays=arrays)
    base = load_claim(ROOT / "h1d_early_reasoning" / "claim.yaml")
    claim = dataclasses.replace(base, controls=Controls(random_weights=(0,)),
                                estimand=dataclasses.replace(base.estimand, n_boot=50))
    res = evaluate_claim(claim, edges, seed=0, model="m",
                         controls=make_controls(FakeProvider({"random-0": NULL}), TASKS, edges, seed=0))
    (row,) = res.controls
    assert row.passed is True and "undefined under this control" in row.detail
    assert res.verdict != "confounded"


def test_the_control_rule_plot_draws_rows_with_a_difference_only():
    from report.plots_components import control_rule_plot

    claim = _claim(random_weights=(0,), permutation=(5, 0.05))
    provider = FakeProvider({"random-0": NULL})
    res = evaluate_claim(claim, MAIN, seed=0, model="m", controls=make_controls(provider, TASKS, MAIN, seed=0))
    assert control_rule_plot(res)[:8] == b"\x89PNG\r\n\x1a\n"
    res.controls = [row for row in res.controls if row.control == "permutation"]
    assert control_rule_plot(res) is None
