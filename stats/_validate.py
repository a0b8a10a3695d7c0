"""Private helpers shared by the stats modules.

Contents
--------
_validate_samples     : arrays -> 2-D views ``[samples, components]`` + component shape.
_validate_alternative : ``"two-sided" | "less" | "greater"``.
_validate_choice      : a value from a fixed set, the error lists the set.
_validate_level       : a confidence level in (0, 1).
_validate_int         : an integer with a lower bound (bools refused).
_validate_probability : a number in [0, 1].
_validate_rng         : ``None | int | Generator`` -> ``Generator`` (``None`` means seed 0).
_validate_nan_policy  : ``"propagate" | "raise"``.
_column_moments       : mean, variance, finiteness per column (exact for constant columns).
_column_bounds, _parallel_map, _map_columns : chunk columns and run kernels in a thread pool.

Every error names the argument in backticks, shows the value and says what is allowed.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ALTERNATIVES = ("two-sided", "less", "greater")
NAN_POLICIES = ("propagate", "raise")
DEFAULT_SEED = 0
# ~2 MiB of float64 per input chunk: temporaries stay cache-sized and below glibc's mmap
# threshold, so they are recycled instead of page-faulted in again; on the benchmark grid
# this ran about twice as fast as 32 MiB chunks, and memory stays tiny whatever the grid.
CHUNK_ELEMENTS = 1 << 18
MAX_THREADS = 4


def _validate_choice(value: object, name: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}; got {value!r}.")
    return value


def _validate_alternative(alternative: object) -> str:
    return _validate_choice(alternative, "alternative", ALTERNATIVES)


def _validate_nan_policy(nan_policy: object) -> str:
    return _validate_choice(nan_policy, "nan_policy", NAN_POLICIES)


def _validate_level(level: object) -> float:
    try:
        value = float(level)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"`level` must be a number in (0, 1); got {level!r}.") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"`level` must be in (0, 1); got {level!r}.")
    return value


def _validate_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _validate_probability(value: object, name: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a number in [0, 1]; got {value!r}.") from None
    if not 0.0 <= out <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; got {value!r}.")
    return out


def _validate_rng(rng: object) -> np.random.Generator:
    # None means a fixed seed, not fresh entropy: the suite is deterministic by default and
    # the report can always record the seed that was used.
    if rng is None:
        return np.random.default_rng(DEFAULT_SEED)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"`rng` must be a non-negative seed; got {rng!r}.")
        return np.random.default_rng(int(rng))
    raise TypeError(f"`rng` must be None, an int seed or a numpy Generator; got {rng!r}.")


def _as_real_array(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must be an array of real numbers; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"`{name}` must be real; got complex dtype {arr.dtype}.")
    return arr


def _validate_samples(
    arrays: dict[str, object], *, axis: int = 0, paired: bool = False,
    nan_policy: str = "propagate",
) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """Check sample arrays and return them as ``[n_i, M]`` views plus the component shape.

    Samples lie along `axis`; all other axes are components and must agree between arrays.
    The dtype is kept (float32 stays float32): kernels upcast chunk by chunk, which bounds
    memory on neuron-sized grids.
    """
    _validate_nan_policy(nan_policy)
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"`axis` must be an integer; got {axis!r}.")
    out, shapes = [], []
    for name, x in arrays.items():
        arr = _as_real_array(x, name)
        if arr.ndim == 0:
            raise ValueError(f"`{name}` must have at least one dimension (samples); got a scalar.")
        if not -arr.ndim <= axis < arr.ndim:
            raise ValueError(f"`axis`={axis} is out of range for `{name}` with shape {arr.shape}.")
        arr = np.moveaxis(arr, axis, 0)
        if arr.shape[0] == 0:
            raise ValueError(
                f"`{name}` is empty: no samples along axis {axis} (shape {arr.shape}).")
        if arr.size == 0:
            raise ValueError(f"`{name}` has no components (shape {arr.shape}).")
        if nan_policy == "raise" and not np.isfinite(arr).all():
            raise ValueError(f"`{name}` contains NaN or inf and `nan_policy`='raise'.")
        out.append(arr)
        shapes.append(arr.shape)
    names = list(arrays)
    for name, shape in zip(names[1:], shapes[1:], strict=True):
        if shape[1:] != shapes[0][1:]:
            raise ValueError(
                f"`{names[0]}` and `{name}` must have the same component shape (all axes but "
                f"`axis`); got {shapes[0][1:]} and {shape[1:]}.")
        if paired and shape[0] != shapes[0][0]:
            raise ValueError(
                f"paired samples need equal sizes: `{names[0]}` has {shapes[0][0]} samples and "
                f"`{name}` has {shape[0]}.")
    comp_shape = tuple(shapes[0][1:])
    return [a.reshape(a.shape[0], -1) for a in out], comp_shape


def _warn_small(name: str, needed: str) -> None:
    warnings.warn(f"{name}: {needed}; results are NaN.", RuntimeWarning, stacklevel=3)


def _threads() -> int:
    return max(1, min(MAX_THREADS, os.cpu_count() or 1))


def _column_bounds(n_rows: int, n_cols: int, chunk_elements: int) -> list[tuple[int, int]]:
    """Column ranges ``[lo, hi)`` holding about `chunk_elements` values of ``n_rows`` rows."""
    width = max(1, chunk_elements // max(n_rows, 1))
    return [(lo, min(lo + width, n_cols)) for lo in range(0, n_cols, width)]


def _parallel_map(fn: Callable, items: Sequence, *, threads: int | None = None) -> list:
    """``[fn(item) for item in items]`` in a small thread pool, order kept.

    numpy releases the GIL in sorts, BLAS and ufuncs, so threads give a real speed-up on
    the multi-core CPUs this runs on, without copying data to other processes. Floating-point
    warnings are silenced inside because each caller handles non-finite values explicitly
    (see the NaN policy of the public functions); errstate is thread-local, hence set here.
    """
    def run(item):
        with np.errstate(all="ignore"):
            return fn(item)

    n_threads = _threads() if threads is None else threads
    if len(items) == 1 or n_threads == 1:
        return [run(item) for item in items]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(run, items))


def _map_columns(
    kernel: Callable[..., tuple[np.ndarray, ...]], arrays: Sequence[np.ndarray], *,
    chunk_elements: int | None = None, threads: int | None = None,
    dtype: type | None = np.float64,
) -> tuple[np.ndarray, ...]:
    """Run ``kernel(*chunks)`` over column blocks of ``[n_i, M]`` arrays; concatenate outputs.

    By default each chunk is a float64 C-contiguous copy, so kernels get full precision
    whatever the input dtype (float32 activations) while memory stays bounded by the chunk
    size; ``dtype=None`` passes the raw column views for kernels that convert themselves.
    """
    n_rows = sum(a.shape[0] for a in arrays)
    chunk = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements  # read at call time
    bounds = _column_bounds(n_rows, arrays[0].shape[1], chunk)

    def run(bound: tuple[int, int]) -> tuple[np.ndarray, ...]:
        lo, hi = bound
        if dtype is None:
            return kernel(*(a[:, lo:hi] for a in arrays))
        return kernel(*(np.array(a[:, lo:hi], dtype=dtype) for a in arrays))

    parts = _parallel_map(run, bounds, threads=threads)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))


def _column_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, ddof=1 variance and finiteness of each column of a float64 ``[n, m]`` chunk.

    A constant column gets variance exactly 0 and mean exactly its value: the floating-point
    mean of ``[c, c, c]`` can differ from ``c`` in the last bit, and that noise must not turn
    into a huge t or d for data with no spread at all.
    """
    n = x.shape[0]
    finite = np.isfinite(x).all(axis=0)
    constant = x.max(axis=0) == x.min(axis=0)
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1) if n > 1 else np.zeros(x.shape[1])
    mean = np.where(constant, x[0], mean)
    var = np.where(constant, 0.0, var)
    return mean, var, finite
