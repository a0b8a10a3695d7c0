"""The control rule in a simulation: a claim beats a control only when the one-sided 95% lower
bound of (model - control) in pi1, from a paired bootstrap over pairs, is above 0.

Each simulated study has 40 prompt pairs and 100 components; a pair-level effect (the same
prompt difficulty) is shared by the model and the control, as it is for a model and its
random-weights twin run on the same prompts; non-null components are shifted by 1.2 SD.
"""
import numpy as np
from scipy import stats as ss

from stats.estimands import pair_bootstrap, paired_difference, storey_pi1
from stats.tests import mann_whitney

N_PAIRS, N_COMPONENTS, SHIFT, N_BOOT, ALPHA = 40, 100, 1.2, 60, 0.05


def _beats(seed: int, nonnull_model: int, nonnull_control: int) -> bool:
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((N_PAIRS, 1))

    def condition(k):
        a = rng.standard_normal((N_PAIRS, N_COMPONENTS)) + shared
        b = rng.standard_normal((N_PAIRS, N_COMPONENTS)) + shared
        a[:, :k] += SHIFT
        return lambda idx: {"pi1": storey_pi1(mann_whitney(a[idx], b[idx]).pvalue)}

    model, control = condition(nonnull_model), condition(nonnull_control)
    # the same seed gives the same resampled pairs: a paired bootstrap
    boot = [pair_bootstrap(N_PAIRS, f, n_boot=N_BOOT, rng=np.random.default_rng([seed, 1]))
            for f in (model, control)]
    diff = paired_difference(*boot, "pi1", alpha=ALPHA)
    assert diff.paired
    return diff.beats


def test_a_control_as_strong_as_the_model_is_beaten_at_most_alpha_of_the_time():
    """True pi1 0.3 for both: 'beats' in at most alpha of 80 studies, plus binomial slack
    (the 99.9th percentile of Binomial(80, 0.05) is 11)."""
    studies = 80
    wins = sum(_beats(s, 30, 30) for s in range(studies))
    assert wins <= ss.binom.ppf(0.999, studies, ALPHA), wins


def test_a_model_ahead_by_thirty_points_beats_the_control_with_power_080():
    """True pi1 0.5 on the model, 0.2 on the control: 'beats' in >= 80% of 40 studies (0.98 in
    a 100-study run while this test was written)."""
    studies = 40
    wins = sum(_beats(1000 + s, 50, 20) for s in range(studies))
    assert wins >= 0.8 * studies, wins
