"""Compiled loops of derive()'s Polars path (numba, cached): sums over runs of rows and a merge
of two sorted string keys. Called only from ``_runs.py`` and ``_engine.py``."""

from __future__ import annotations

import numpy as np
from numba import njit, types


def _array(dtype: types.Type, ndim: int = 1, readonly: bool = True) -> types.Array:
    return types.Array(dtype, ndim, "C", readonly=readonly)


# Explicit signatures: the cached machine code is loaded when this module is imported (with
# numba's one-time start-up in the process), not at derive()'s first call. Inputs are
# read-only views of Polars/Arrow buffers (writable arrays are accepted too).
_SUM_RUNS = types.int64(
    _array(types.uint8), _array(types.int8), _array(types.float64), _array(types.float64),
    types.int64, types.int64, _array(types.int64, readonly=False),
    _array(types.float64, 2, readonly=False), _array(types.float64, readonly=False),
    _array(types.int64, readonly=False),
)  # fmt: skip
_BYTES = (_array(types.int64), _array(types.uint8))
_COMPARE = types.int64(*_BYTES, types.int64, *_BYTES, types.int64)
_MERGE = _array(types.int64, readonly=False)(*_BYTES, *_BYTES)


@njit(_SUM_RUNS, cache=True, nogil=True)
def sum_runs(
    new_run: np.ndarray,
    code: np.ndarray,
    score: np.ndarray,
    area: np.ndarray,
    first_row: int,
    run: int,
    starts: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
    other: np.ndarray,
) -> int:
    """Add one chunk of rows (rows ``first_row``...) to the sums of their runs; return the
    index of the last run. A run starts at the very first row (``run`` = -1 before it) and
    wherever ``new_run`` is 1. Per run: its first row (``starts``), ``score`` summed per code
    < len(scores) (``scores``: codes x runs), ``area`` summed, and the count of rows with any
    other code (``other``); each run summed in row order."""
    n_codes = scores.shape[0]
    for i in range(new_run.shape[0]):
        if new_run[i] or run < 0:
            run += 1
            starts[run] = first_row + i
        k = code[i]
        if 0 <= k < n_codes:
            scores[k, run] += score[i]
        else:
            other[run] += 1
        areas[run] += area[i]
    return run


@njit(_COMPARE, cache=True, nogil=True)
def _compare(
    a_offsets: np.ndarray,
    a_data: np.ndarray,
    i: int,
    b_offsets: np.ndarray,
    b_data: np.ndarray,
    j: int,
) -> int:
    """Byte-wise comparison (-1, 0, 1) of string i of a with string j of b (UTF-8 order)."""
    a0, a1 = a_offsets[i], a_offsets[i + 1]
    b0, b1 = b_offsets[j], b_offsets[j + 1]
    n = min(a1 - a0, b1 - b0)
    for k in range(n):
        x, y = a_data[a0 + k], b_data[b0 + k]
        if x != y:
            return -1 if x < y else 1
    la, lb = a1 - a0, b1 - b0
    return 0 if la == lb else (-1 if la < lb else 1)


@njit(_MERGE, cache=True, nogil=True)
def merge_sorted_strings(
    left_offsets: np.ndarray,
    left_data: np.ndarray,
    right_offsets: np.ndarray,
    right_data: np.ndarray,
) -> np.ndarray:
    """For sorted left strings and strictly increasing right strings (Arrow large_string
    offsets and bytes): each left string's row in right, -1 where it has none (a merge join)."""
    n, m = left_offsets.shape[0] - 1, right_offsets.shape[0] - 1
    rows = np.full(n, -1, np.int64)
    j = 0
    for i in range(n):
        while j < m:
            order = _compare(right_offsets, right_data, j, left_offsets, left_data, i)
            if order < 0:
                j += 1
                continue
            if order == 0:
                rows[i] = j
            break
    return rows
