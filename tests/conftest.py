"""Shared settings for the suite's own tests: Hypothesis profiles."""
import os

from hypothesis import HealthCheck, settings

# `ci` is deterministic (derandomize) and bounded so CI time is predictable.
settings.register_profile(
    "ci", max_examples=40, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
