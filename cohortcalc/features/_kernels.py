"""Compiled loops of derive()'s Polars path (numba, cached): lesion sums placed on the frame's
rows in one merge pass, and a merge join of two sorted keys. Called only from ``_runs.py``
and ``_engine.py``.

Keys are participant ids as integers (an int64 array) or as strings: Polars' string views
(Apache Arrow Utf8View) read in place, a tuple (views as (n, 16) bytes, the same as (n, 4)
int32 words, the data buffers end to end, each buffer's start in them). A view holds the
length, then up to 12 bytes inline, or a 4-byte prefix, a buffer index and an offset.
Strings compare byte by byte (UTF-8 order, Polars' and Python's string order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import overload


def _array(dtype: types.Type, ndim: int = 1, readonly: bool = True) -> types.Array:
    return types.Array(dtype, ndim, "C", readonly=readonly)


# Explicit signatures: the cached machine code is loaded when this module is imported (with
# numba's one-time start-up in the process), not at derive()'s first call. Inputs are
# read-only views of Polars/Arrow buffers (``string_views`` marks every array read-only).
STRINGS = types.Tuple(
    (_array(types.uint8, 2), _array(types.int32, 2), _array(types.uint8), _array(types.int64))
)
INTEGERS = _array(types.int64)
KEY_KINDS = (STRINGS, INTEGERS)
UNSORTED = -1  # place_runs: the rows are not grouped by participant_id in increasing order


def key_count(keys: Any) -> int:
    """Number of keys (compiled)."""
    raise NotImplementedError("compiled only: numba overloads it per key kind")


@overload(key_count, jit_options={"cache": True})
def _key_count(keys):  # numba matches the implementations' parameters: no annotations
    if isinstance(keys, types.Array):
        return lambda keys: keys.shape[0]
    return lambda keys: keys[1].shape[0]


def compare_keys(a: Any, i: int, b: Any, j: int) -> int:
    """-1, 0 or 1 as key i of ``a`` is below, equal to or above key j of ``b`` (compiled)."""
    raise NotImplementedError("compiled only: numba overloads it per key kind")


@overload(compare_keys, jit_options={"cache": True})
def _compare_keys(a, i, b, j):
    if isinstance(a, types.Array):  # integer ids

        def integers(a, i, b, j):
            return 0 if a[i] == b[j] else (-1 if a[i] < b[j] else 1)

        return integers

    def strings(a, i, b, j):
        a_bytes, a_words, a_data, a_starts = a
        b_bytes, b_words, b_data, b_starts = b
        la, lb = a_words[i, 0], b_words[j, 0]
        if (
            la <= 12
            and la == lb
            and a_words[i, 1] == b_words[j, 1]
            and a_words[i, 2] == b_words[j, 2]
            and a_words[i, 3] == b_words[j, 3]
        ):
            return 0  # the same inline string (the common case: a participant's next row)
        for k in range(min(la, lb)):
            x = (
                a_bytes[i, 4 + k]
                if la <= 12
                else a_data[a_starts[a_words[i, 2]] + a_words[i, 3] + k]
            )
            y = (
                b_bytes[j, 4 + k]
                if lb <= 12
                else b_data[b_starts[b_words[j, 2]] + b_words[j, 3] + k]
            )
            if x != y:
                return -1 if x < y else 1
        return 0 if la == lb else (-1 if la < lb else 1)

    return strings


@njit(
    [types.UniTuple(types.int64, 2)(kind, types.int64, kind, types.int64) for kind in KEY_KINDS],
    cache=True,
    nogil=True,
)
def seek(keys: Any, j: int, wanted: Any, i: int) -> tuple[int, int]:
    """One step of a merge join: in strictly increasing ``keys``, from row j on, the first row
    not below key i of ``wanted``; (that row, the row again if it equals the key, else -1)."""
    while j < key_count(keys):
        order = compare_keys(keys, j, wanted, i)
        if order >= 0:
            return j, (j if order == 0 else -1)
        j += 1
    return j, -1


def _place_runs_signature(kind: types.Type) -> types.Signature:
    counts = (_array(types.int8), _array(types.float64), _array(types.float64))
    sums = (_array(types.float64, 2, readonly=False), _array(types.float64, readonly=False))
    state = _array(types.int64, readonly=False)
    return types.int64(kind, types.int64, *counts, kind, state, *sums)


@njit([_place_runs_signature(kind) for kind in KEY_KINDS], cache=True, nogil=True)
def place_runs(
    ids: Any,
    first: int,
    code: np.ndarray,
    score: np.ndarray,
    area: np.ndarray,
    frame: Any,
    state: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray,
) -> int:
    """Sum one chunk of lesion rows, grouped by participant id in increasing order, straight
    into the rows of a frame whose ids strictly increase (a merge join of the two orders).

    Row r adds ``score`` to ``scores[code, f]`` (for code < len(scores)) and ``area`` to
    ``areas[f]``, f being the frame row of its id (rows of ids not in the frame add nothing);
    each participant's rows are summed in row order. ``first``: the chunk's first id against
    the previous chunk's last (1 greater or the very first chunk, 0 equal, -1 smaller).
    ``state`` = (next frame row to compare, current frame row or -1, rows with a code >=
    len(scores)) carries over from chunk to chunk. Returns that count, or UNSORTED.
    """
    n_codes = scores.shape[0]
    j, target, invalid = state[0], state[1], state[2]
    for r in range(code.shape[0]):
        order = first if r == 0 else compare_keys(ids, r, ids, r - 1)
        if order < 0:
            return UNSORTED
        if order > 0:  # the next participant: find its frame row
            j, target = seek(frame, j, ids, r)
        k = code[r]
        if k < 0 or k >= n_codes:
            invalid += 1
        elif target >= 0:
            scores[k, target] += score[r]
        if target >= 0:
            areas[target] += area[r]
    state[0], state[1], state[2] = j, target, invalid
    return invalid


@njit(
    [_array(types.int64, readonly=False)(kind, kind) for kind in KEY_KINDS], cache=True, nogil=True
)
def merge_sorted_keys(left: Any, right: Any) -> np.ndarray:
    """For sorted ``left`` keys and strictly increasing ``right`` keys: each left key's row in
    right, -1 where it has none (a merge join)."""
    rows = np.empty(key_count(left), np.int64)
    j = 0
    for i in range(rows.shape[0]):
        j, rows[i] = seek(right, j, left, i)
    return rows
