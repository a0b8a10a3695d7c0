"""Per-item random generators derived from a run seed.

Contents
--------
item_rng : a `random.Random` for one item (pair id), from ``(seed, key)``.

Deriving one generator per pair id (instead of one stream for the whole set) keeps each
pair's random choices independent of the order and number of other pairs, and of
``PYTHONHASHSEED`` (the seed is a SHA-256 digest, not ``hash()``).
"""
from __future__ import annotations

import hashlib
import random


def item_rng(seed: int, key: str, *, stream: str = "") -> random.Random:
    """Return a generator determined by `seed`, `key` and an optional `stream` name.

    Examples
    --------
    >>> item_rng(0, "capital-peru").random() == item_rng(0, "capital-peru").random()
    True
    """
    digest = hashlib.sha256(f"{stream}\0{seed}\0{key}".encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
