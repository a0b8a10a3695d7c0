"""H5b done as ROME did it, and the attention knockout (P3): tracing with noise past block 0 and
windows, the ROME verdict rule (layer 0 alone cannot decide it), the knockout against HF's own
forward pass with a blocking mask, the knockout verdict, the claim files and the report section."""
from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

from evaluation.intervention_claim import load_intervention_claim
from evaluation.knockout_claim import KnockoutClaim, knockout_stats, load_knockout_claim
from evaluation.localization_rome import rome_stats
from evaluation.result import InsufficientEvidence
from evaluation.schema import ClaimFileError
from engine.intervention import tracing
from engine.intervention.knockout import attention_knockout
from engine.intervention.tracing import SEVERED_SITES, TraceItem, causal_trace
from engine.model.tiny import build_tiny_model
from report.sensitivity import sensitivity_html


@pytest.fixture(scope="module")
def model():
    return build_tiny_model(seed=5)


@pytest.fixture(scope="module")
def items():
    rng = np.random.default_rng(0)
    out = []
    for length, subject in ((9, (3,)), (11, (4, 5)), (8, (2, 3, 4))):
        ids = tuple(int(v) for v in rng.integers(3, 250, size=length))
        out.append(TraceItem(ids, int(rng.integers(3, 250)), subject, (subject[-1],)))
    return out


def test_tracing_doctests():
    assert doctest.testmod(tracing).failed == 0


def test_noise_after_block_0_leaves_layer_0_unmeasured_and_zero_noise_changes_nothing(model, items):
    sites = ("resid", "mlp", "attn") + SEVERED_SITES
    r = causal_trace(model, items, corruption="noise", pad_id=0, scale=0.0, sites=sites, noise_after=1, window=2)
    np.testing.assert_allclose(r.p_corrupt, r.p_clean, rtol=1e-5)
    for site in sites:
        for kind in ("subject_last", "last"):
            values = r.p_restored[(site, kind)]
            if site in SEVERED_SITES and kind == "last":
                assert np.isnan(values).all()  # ROME severs at the subject only
                continue
            assert np.isnan(values[0]).all() == (site in ("mlp", "attn"))  # windows clipped at layer 1
            np.testing.assert_allclose(values[1:], np.broadcast_to(r.p_clean, values[1:].shape), rtol=1e-5)
    assert r.ld_restored[("mlp", "last")].shape == (4, 3)


def test_restoring_the_stream_where_the_noise_enters_restores_the_clean_answer(model, items):
    # Items whose subject is one token: restoring the stream entering layer 1 at it undoes the noise.
    one = [TraceItem(it.ids, it.target, (it.subject_last[0],), it.subject_last) for it in items]
    r = causal_trace(model, one, corruption="noise", pad_id=0, sites=("resid", "mlp"), kinds=("subject_last",),
                     noise_after=1, noise_factor=3.0, seed=1, window=8)
    assert r.noise_scale > 0 and not np.allclose(r.p_corrupt, r.p_clean, rtol=1e-3)
    np.testing.assert_allclose(r.p_restored[("resid", "subject_last")][0], r.p_clean, rtol=1e-4)
    # a window covering every layer from 1 restores every MLP output, not the attention: not clean
    assert np.isfinite(r.p_restored[("mlp", "subject_last")][1:]).all()


def test_noise_after_is_refused_with_replacement_and_out_of_range(model, items):
    with pytest.raises(ValueError, match="noise_after"):
        causal_trace(model, items, corruption="noise", pad_id=0, noise_after=9)
    with pytest.raises(ValueError, match="sites"):
        causal_trace(model, items, corruption="noise", pad_id=0, sites=("mlp_neurons",))


def rows(*values, n=8):
    return np.vstack([np.full(n, v, dtype=float) for v in values])


def test_rome_rule_a_layer_0_only_effect_cannot_support_the_claim():
    rng = np.random.default_rng(0)
    clean, corrupt = np.full(8, 0.8), np.full(8, 0.1)
    # Noise on the embeddings: only restoring layer 0 helps (MLP0 restores the token) -> peak depth 0.
    only0 = rows(0.7, *([0.1] * 9)) + rng.normal(0, 1e-3, size=(10, 8))
    s = rome_stats(only0, corrupt, clean, interval=(0.1, 0.5), bootstrap=500, rng=rng)
    assert s.peak_layer == 0 and s.verdict == "refuted"
    # Noise after block 0: layer 0 is not measured, nothing else restores -> refuted (no effect).
    past0 = only0.copy()
    past0[0] = np.nan
    s = rome_stats(past0, corrupt, clean, interval=(0.1, 0.5), bootstrap=500, rng=rng)
    assert s.verdict == "refuted" and s.peak_nie_low <= 0.01


def test_rome_rule_supported_inside_inconclusive_straddling():
    rng = np.random.default_rng(1)
    clean, corrupt = np.full(12, 0.9), np.full(12, 0.1)
    mid = rows(np.nan, 0.1, 0.2, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, n=12)  # peak at depth 0.3
    s = rome_stats(mid + rng.normal(0, 1e-3, mid.shape), corrupt, clean, interval=(0.1, 0.5), bootstrap=500, rng=rng)
    assert s.verdict == "supported" and s.peak_layer == 3 and 0 < s.peak_nie < 1
    # Half the prompts peak at depth 0.3, half at 0.9: the depth interval straddles 0.5.
    split = mid.copy()
    split[:, 6:] = 0.1
    split[9, 6:] = 0.6
    s = rome_stats(split, corrupt, clean, interval=(0.1, 0.5), bootstrap=500, rng=rng)
    assert s.verdict == "inconclusive" and s.depth_low <= 0.5 <= s.depth_high
    with pytest.raises(InsufficientEvidence, match="undefined"):
        rome_stats(mid, clean, clean, interval=(0.1, 0.5), bootstrap=100, rng=rng)


def test_knockout_over_every_layer_matches_hf_with_a_blocking_mask(model, items):
    import torch

    r = attention_knockout(model, items, pad_id=0, window=100)
    none = attention_knockout(model, items, pad_id=0, window=1, first_layer=4)  # no window reaches a layer
    assert np.isnan(none.p_blocked).all()
    for b, it in enumerate(items):
        n = len(it.ids)
        allowed = torch.ones(n, n).tril().bool()
        allowed[n - 1, list(it.subject_tokens)] = False
        mask = torch.zeros(1, 1, n, n).masked_fill(~allowed, torch.finfo(torch.float32).min)
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([it.ids]), attention_mask=mask).logits[0, -1]
            plain = model(input_ids=torch.tensor([it.ids])).logits[0, -1]
        assert r.p_clean[b] == pytest.approx(float(torch.softmax(plain, -1)[it.target]), rel=1e-4)
        expected = float(torch.softmax(logits, -1)[it.target])
        np.testing.assert_allclose(r.p_blocked[:, b], expected, rtol=1e-4)  # every window covers every layer
        assert abs(expected - r.p_clean[b]) > 1e-6                          # the block changed something


def knock_claim(**overrides) -> KnockoutClaim:
    base = dict(id="PK", title="t", statement="s", path="k.yaml", window_fraction=0.2, first_layer=1,
                early_depths=(0.1, 0.5), late_depths=(0.75, 1.0), min_ratio=2.0, min_prompts=4, max_prompts=0,
                resamples=500, confidence=0.95, reported={"finding": "f", "model": "m"})
    base.update(overrides)
    return KnockoutClaim(**base)


def test_knockout_rule():
    rng = np.random.default_rng(2)
    depth_curve = np.array([np.nan, 0.1, 0.5, 0.6, 0.4, 0.2, 0.05, 0.02, 0.01, 0.0, 0.0])
    drop = depth_curve[:, None] + rng.normal(0, 0.02, size=(11, 10))
    s = knockout_stats(drop, knock_claim(), rng=0)
    assert s["passed"] and 0.1 <= s["peak_depth"] <= 0.5 and s["peak_depth_ci"][0] <= s["peak_depth"]
    # The only effect through layer 0: windows never reach it (NaN), every measured drop is ~0.
    only0 = np.vstack([np.full(10, np.nan), rng.normal(0, 0.02, size=(10, 10))])
    assert not knockout_stats(only0, knock_claim(), rng=0)["passed"]
    # As large late as early: not "much more".
    flat = np.vstack([np.full(10, np.nan), np.full((10, 10), 0.3) + rng.normal(0, 0.02, size=(10, 10))])
    assert not knockout_stats(flat, knock_claim(), rng=0)["passed"]


def test_shipped_files_load():
    h5b = load_intervention_claim("hypotheses/h5b_recall_localization/intervention.yaml")
    assert h5b.criteria == "rome" and h5b.noise_after == 1 and h5b.noise_samples >= 10
    assert h5b.window(30) == 6 and h5b.depth_interval == (0.1, 0.5)
    p3 = load_knockout_claim("hypotheses/p3_attention_knockout/knockout.yaml")
    assert p3.first_layer >= 1 and {"finding", "model"} <= set(p3.reported)


def test_bad_localization_and_knockout_files_name_the_problem(tmp_path):
    text = Path("hypotheses/h5b_recall_localization/intervention.yaml").read_text()
    bad = tmp_path / "h5b" / "intervention.yaml"
    bad.parent.mkdir()
    bad.write_text(text.replace("depth_interval: [0.1, 0.5]", "depth_interval: [0.6, 0.2]"))
    with pytest.raises(ClaimFileError, match="depth_interval"):
        load_intervention_claim(bad)
    bad.write_text(text.replace("depth_interval: [0.1, 0.5]   #", "#"))
    with pytest.raises(ClaimFileError, match="missing key `depth_interval`"):
        load_intervention_claim(bad)
    k = tmp_path / "knockout.yaml"
    k.write_text(Path("hypotheses/p3_attention_knockout/knockout.yaml").read_text().replace(
        "late_depths: [0.75, 1.0]", "late_depths: [0.3, 1.0]"))
    with pytest.raises(ClaimFileError, match="must end before"):
        load_knockout_claim(k)


def test_sensitivity_section_lists_trained_and_every_twin():
    rec = {"id": "P1", "model": "smollm2", "verdict": "supported", "title": "Induction",
           "figures": {"sensitivity": {"trained": "supported", "random-1": "refuted", "random-2": "refuted"},
                       "key_figure": "8 large heads"}}
    other = {"id": "H1", "model": "smollm2", "verdict": "refuted", "figures": {}}
    html = sensitivity_html([rec, other])
    assert "Sensitivity" in html and html.count("hx-b-refuted") == 2 and "H1" not in html
    from report.summary import summary_html
    assert "Sensitivity" in summary_html([rec, other], [])


def test_the_knockout_card_draws_its_curve():
    from evaluation.result import ClaimResult
    from kinds.knockout import KNOCKOUT
    from report.plots import plots_for

    c = knock_claim()
    depth = np.linspace(0, 1, 11)
    result = ClaimResult(claim_id="P3", title="t", statement="s", level="layer", model="m", verdict="supported",
                         message="m", thresholds=c.thresholds(), kind="attention_knockout",
                         profiles={"trace_depth": depth, "trace_curve:knockout": np.r_[np.nan, np.linspace(0.5, 0, 10)]})
    plots = plots_for(result, KNOCKOUT.plots)
    assert len(plots) == 1 and plots[0][1].startswith(b"\x89PNG")


def test_a_rome_result_carries_its_figures_and_draws_every_plot():
    from types import SimpleNamespace

    from evaluation.localization_rome import _rome_result
    from kinds.intervention import INTERVENTION
    from report.plots import plots_for

    claim = load_intervention_claim("hypotheses/h5b_recall_localization/intervention.yaml")
    rng = np.random.default_rng(0)
    n_layers, n = 10, 9
    sites = ("resid", "mlp", "attn") + SEVERED_SITES
    restored = rng.uniform(0.1, 0.3, size=(len(sites), 2, n_layers, n))
    restored[:, :, 0] = np.nan
    restored[1, 0, 3] += 0.5                                  # mlp @ subject_last peaks at depth 1/3
    arrays = {"p_clean": np.full(n, 0.9), "p_corrupt": np.full(n, 0.1), "ld_clean": np.full(n, 9.0),
              "ld_corrupt": np.full(n, 1.0), "p_restored": restored, "ld_restored": restored * 10,
              "noise_scale": np.array([1.0])}
    counts = {"prompts": 64, "known": 20, "subject_not_found": 0, "traced": n}
    facts = [SimpleNamespace(text=f"prompt {i}") for i in range(n)]
    data = SimpleNamespace(seed=0, timings={})
    result = _rome_result(claim, data, "m", arrays, counts, facts, "miss", sites, 2)
    assert result.verdict == "supported" and result.figures["peak_layer"] == 3
    assert result.figures["peak_depth_ci"][0] <= 1 / 3 <= result.figures["peak_depth_ci"][1]
    assert len(result.meta["trace_rows"]) == result.profiles["trace_heatmap:recall"].shape[0] == 10
    assert len(plots_for(result, INTERVENTION.plots)) >= 2                        # the curve and the heatmaps
