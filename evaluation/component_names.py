"""TransformerLens names beside our component names in a claim's result.

Contents
--------
named_components : every component a record names (``"L2H5"`` strings, ``*_layers`` lists).
with_tl_names    : a `ClaimResult` whose component table has ``tl_hook`` / ``tl_index`` columns and
                   whose ``tl_names`` maps each named component to its hook and index.

The naming itself (which hook, which index, experts of a mixture) is `engine.model.tl_names`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from engine.model.tl_names import TLNaming, parse_component
from evaluation.result import ClaimResult

#: Component levels whose tables carry ``layer`` and ``index`` columns.
TABLE_LEVELS = ("layer", "head", "neuron")


def named_components(value: Any, *, key: str = "") -> Iterator[str]:
    """Component names found in `value` (figures, control rows): strings such as ``"L2H5"``,
    and the layer numbers of lists under keys ending in ``_layers`` (as ``"L3"``).

    Examples
    --------
    >>> list(named_components({"top_recall_heads": ["L2H5"], "recall_layers": [3], "n": "L0N1"}))
    ['L2H5', 'L3', 'L0N1']
    """
    if isinstance(value, dict):
        for k, v in value.items():
            yield from named_components(v, key=str(k))
    elif isinstance(value, (list, tuple)):
        if key.endswith("_layers") and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            yield from (f"L{v}" for v in value)
            return
        for v in value:
            yield from named_components(v, key=key)
    elif isinstance(value, str):
        try:
            parse_component(value)
        except ValueError:
            return
        yield value


def with_tl_names(result: ClaimResult, naming: TLNaming) -> ClaimResult:
    """`result` with TransformerLens names beside every component it carries.

    The component table (if any) gets ``tl_hook`` (str) and ``tl_index`` (nullable int: none
    for a layer, whose hook is the whole residual vector) after ``index``; ``tl_names`` maps each
    component named in the figures and control rows to ``{"hook", "index"}``.

    Examples
    --------
    >>> r = with_tl_names(result, TLNaming())                      # doctest: +SKIP
    >>> r.tl_names["L2H5"]                                         # doctest: +SKIP
    {'hook': 'blocks.2.attn.hook_z', 'index': 5}
    """
    names = {}
    for name in named_components([result.figures, [row.to_record() for row in result.controls]]):
        try:
            names[name] = naming.of_name(name)
        except ValueError:  # e.g. a neuron index beyond a mixture's experts: not a name of this model
            continue
    components = result.components
    level = str(result.meta.get("component_level") or result.level)
    if components is not None and level in TABLE_LEVELS and {"layer", "index"} <= set(components.columns):
        import pandas as pd

        hooks, indices = naming.addresses(level, components["layer"].to_numpy(), components["index"].to_numpy())
        components = components.copy()
        at = list(components.columns).index("index") + 1
        components.insert(at, "tl_hook", pd.array(np.asarray(hooks, dtype=object), dtype="string"))
        components.insert(at + 1, "tl_index", pd.array(np.where(indices < 0, None, indices), dtype="Int64"))
    return replace(result, components=components, tl_names={**result.tl_names, **names})
