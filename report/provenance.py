"""Which suite produced a run: its version and a hash of its code (run metadata; merges compare it).

Contents
--------
SUITE_PACKAGES : the packages whose code shapes a result.
suite_version  : ``{"version", "code_sha256"}`` of this installation.
"""
from __future__ import annotations

import functools
import hashlib
from importlib import metadata as importlib_metadata
from pathlib import Path

SUITE_PACKAGES = ("tasks", "engine", "stats", "evaluation", "kinds", "fixtures", "report", "hypotheses")


def suite_version() -> dict[str, str]:
    """``{"version", "code_sha256"}``: the installed distribution's version and one SHA-256 over
    the modules of `SUITE_PACKAGES` (relative path and bytes), so that two runs of one version
    with different code (an edited checkout) are told apart.

    Examples
    --------
    >>> sorted(suite_version())
    ['code_sha256', 'version']
    """
    return dict(_suite_version())


@functools.lru_cache(maxsize=1)
def _suite_version() -> tuple[tuple[str, str], ...]:
    import importlib.util

    digest = hashlib.sha256()
    for name in SUITE_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            root = Path(location)
            for path in sorted(root.rglob("*.py")):
                digest.update(f"{name}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(path.read_bytes())
    try:
        version = importlib_metadata.version("circuit-hypotheses")
    except importlib_metadata.PackageNotFoundError:
        version = "unknown"
    return (("version", version), ("code_sha256", digest.hexdigest()))
