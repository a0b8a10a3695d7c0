"""Multiple-comparison adjustment of p-values over a whole component grid.

Contents
--------
METHODS        : canonical method names.
METHOD_ALIASES : accepted aliases (case-insensitive) -> canonical name.
adjust_pvalues : adjusted p-values, same shape as the input, NaN kept as NaN.
canonical_method : the canonical name of a method or alias (unknown names raise).

Methods: ``fdr_bh`` (Benjamini-Hochberg), ``fdr_by`` (Benjamini-Yekutieli, any dependence),
``holm`` (step-down FWER), ``bonferroni`` and ``none``. Numbers equal statsmodels'
``multipletests(..., method)[1]`` on the non-NaN entries.
"""
from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "METHOD_ALIASES", "adjust_pvalues", "canonical_method"]

METHODS = ("fdr_bh", "fdr_by", "holm", "bonferroni", "none")
METHOD_ALIASES = {
    "bh": "fdr_bh", "benjamini-hochberg": "fdr_bh", "benjamini_hochberg": "fdr_bh",
    "fdr": "fdr_bh", "by": "fdr_by", "benjamini-yekutieli": "fdr_by",
    "benjamini_yekutieli": "fdr_by", "holm-bonferroni": "holm", "holm_bonferroni": "holm",
    "bonf": "bonferroni", "": "none", "identity": "none",
    **{m: m for m in METHODS},
}


def canonical_method(method: object) -> str:
    """Canonical name of a correction method or alias (``"bh"`` -> ``"fdr_bh"``); ValueError if unknown."""
    key = method.strip().lower() if isinstance(method, str) else None
    if key not in METHOD_ALIASES:
        aliases = sorted(k for k, v in METHOD_ALIASES.items() if k and k != v)
        raise ValueError(f"`method` must be one of {list(METHODS)} (aliases: {aliases}); "
                         f"got {method!r}.")
    return METHOD_ALIASES[key]


def adjust_pvalues(pvalues, *, method: str) -> np.ndarray:
    """Adjust p-values for multiple comparisons over all entries of an array.

    The family is every non-NaN entry of `pvalues`, whatever its shape (e.g. all
    ``[layers, neurons]`` at once); NaN entries (untestable components) stay NaN and do not
    count towards the family size m.

    Parameters
    ----------
    pvalues : array_like
        p-values in [0, 1] or NaN, any shape.
    method : str, keyword-only
        ``"fdr_bh"``, ``"fdr_by"``, ``"holm"``, ``"bonferroni"`` or ``"none"``, or an alias
        (``"bh"``, ``"benjamini-hochberg"``, ``"by"``, ``"bonf"``, ``"holm-bonferroni"``...).

    Returns
    -------
    ndarray
        Adjusted p-values (float64, same shape), each >= its raw p-value and <= 1.

    Raises
    ------
    ValueError
        Unknown method (the message lists the valid names), empty input, or a value outside
        [0, 1].

    Examples
    --------
    >>> adjust_pvalues([0.01, 0.04, 0.03, float("nan")], method="bh")
    array([0.03, 0.04, 0.04,  nan])
    """
    method = canonical_method(method)
    p = np.asarray(pvalues)
    if p.dtype == object or not np.issubdtype(p.dtype, np.number) or \
            np.issubdtype(p.dtype, np.complexfloating):
        raise TypeError(f"`pvalues` must be an array of real numbers; got dtype {p.dtype}.")
    p = p.astype(np.float64)
    if p.size == 0:
        raise ValueError("`pvalues` is empty: there is nothing to adjust.")
    valid = ~np.isnan(p)
    if np.any((p[valid] < 0) | (p[valid] > 1)):
        bad = p[valid][(p[valid] < 0) | (p[valid] > 1)][0]
        raise ValueError(f"`pvalues` must lie in [0, 1] (or be NaN); found {bad!r}.")
    out = np.full(p.shape, np.nan)
    raw = p[valid]
    m = raw.size
    if m == 0 or method == "none":
        out[valid] = raw
        return out
    if method == "bonferroni":
        out[valid] = np.minimum(raw * m, 1.0)
        return out
    order = np.argsort(raw, kind="stable")
    ranked = raw[order]
    rank = np.arange(1, m + 1, dtype=np.float64)
    if method == "holm":
        # step-down: p_(i) * (m - i + 1), made monotone from the smallest p upwards
        adj = np.maximum.accumulate(ranked * (m - rank + 1))
    else:
        factor = rank / m  # p_(i) / (i / m), written as statsmodels does so ties round alike
        if method == "fdr_by":
            factor /= np.sum(1.0 / rank)
        # step-up: made monotone from the largest p downwards
        adj = np.minimum.accumulate((ranked / factor)[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adj, 1.0)
    out[valid] = adjusted
    return out
