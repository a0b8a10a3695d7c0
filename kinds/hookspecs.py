"""The suite's pytest hook for claim kinds: a plugin adds a kind without touching the suite.

Registered by `fixtures.plugin` (``pytest_addhooks``); `kinds.registered_kinds` collects the
answers after the built-in kinds.
"""
from __future__ import annotations

from collections.abc import Sequence

import pytest

from kinds.spec import ClaimKind


@pytest.hookspec
def pytest_claim_kinds(config: pytest.Config) -> Sequence[ClaimKind]:
    """Claim kinds to discover and evaluate beside the built-in ones.

    Examples
    --------
    >>> def pytest_claim_kinds(config):          # doctest: +SKIP
    ...     return [ClaimKind(name="toy", file_name="toy.yaml", ...)]
    """
