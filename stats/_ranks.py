"""Row-wise ranking with ties for the rank tests, vectorized over components.

Contents
--------
tie_ranks      : average ranks and the tie term of rows that contain ties.
sorted_ranks   : order, average ranks (in sorted order) and tie term of each row.
rank_sum_a     : rank sum of the first sample in the pooled sample, per component (the
                 Mann-Whitney kernel), with a sort-only fast path for float32 data.

Rows are components and columns are samples (``[m, n]``), so every sort runs on contiguous
memory. Rows without ties, the common case for real-valued activations, skip the tie pass.
"""
from __future__ import annotations

import numpy as np

# dtypes whose values are all exactly representable in float32
FLOAT32_EXACT = (np.float32, np.float16, np.int8, np.int16, np.uint8, np.uint16, np.bool_)


def tie_ranks(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted rows ``s [m, n]``: indices of rows with ties, their average ranks, tie term.

    The tie term is ``sum(t**3 - t)`` over tie groups, computed as ``t**2 - 1`` summed over
    the elements of each group. Rows without ties have ranks ``1..n`` and tie term 0.
    """
    m, n = s.shape
    tie_term = np.zeros(m)
    equal = s[:, 1:] == s[:, :-1]
    rows = np.flatnonzero(equal.any(axis=1))
    if rows.size == 0:
        return rows, np.empty((0, n)), tie_term
    eq, idx = equal[rows], np.arange(n)
    first = np.ones((rows.size, n), dtype=bool)
    first[:, 1:] = ~eq
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
    last = np.ones((rows.size, n), dtype=bool)
    last[:, :-1] = ~eq
    end = np.minimum.accumulate(np.where(last, idx, n - 1)[:, ::-1], axis=1)[:, ::-1]
    size = (end - start + 1).astype(float)
    tie_term[rows] = (size * size - 1.0).sum(axis=1)
    return rows, (start + end) / 2.0 + 1.0, tie_term


def sorted_ranks(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort each row of ``v [m, n]``: order, average ranks in sorted order, tie term."""
    order = np.argsort(v, axis=1)
    rows, rows_ranks, tie_term = tie_ranks(np.sort(v, axis=1))  # sort beats a gather by order
    ranks = np.broadcast_to(np.arange(1.0, v.shape[1] + 1.0), v.shape).copy()
    ranks[rows] = rows_ranks
    return order, ranks, tie_term


def _sortable_keys(x: np.ndarray) -> np.ndarray:
    """Order-preserving int32 keys of float32-exact values (+0.0 and -0.0 share a key)."""
    bits = (x.astype(np.float32) + np.float32(0.0)).view(np.int32)
    # negative floats sort backwards as signed ints; flipping their low 31 bits fixes that
    bits ^= (bits >> 31) & 0x7FFFFFFF
    return bits


def rank_sum_a(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rank sum of x in the pooled sample, tie term and finiteness, per column.

    x ``[n1, m]`` and y ``[n2, m]`` are raw column chunks (any real dtype). float32-exact
    data take a sort-only path: each value becomes an int64 key with a group bit appended,
    so one ``np.sort`` gives both the order and the group of every rank, which is faster
    than an argsort plus a sort of float64 values.
    """
    n1, n2, m = x.shape[0], y.shape[0], x.shape[1]
    n = n1 + n2
    positions = np.arange(1, n + 1)
    if x.dtype.type in FLOAT32_EXACT and y.dtype.type in FLOAT32_EXACT:
        keys = np.empty((m, n), dtype=np.int64)
        keys[:, :n1], keys[:, n1:] = _sortable_keys(x).T, _sortable_keys(y).T
        keys <<= 1
        keys[:, :n1] |= 1
        keys.sort(axis=1)
        in_a = keys & 1
        values = keys >> 1
        finite = np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)
    else:
        pooled = np.empty((m, n))
        pooled[:, :n1], pooled[:, n1:] = x.T, y.T
        in_a = (np.argsort(pooled, axis=1) < n1).astype(np.int64)
        values = np.sort(pooled, axis=1)
        finite = np.isfinite(values[:, 0]) & np.isfinite(values[:, -1])  # NaN/inf sort to the ends
    rows, rows_ranks, tie_term = tie_ranks(values)
    r1 = (in_a @ positions).astype(np.float64)
    if rows.size:
        r1[rows] = (in_a[rows] * rows_ranks).sum(axis=1)
    return r1, tie_term, finite
