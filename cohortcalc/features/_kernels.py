"""Compiled loops of derive()'s Polars path (numba, cached): lesion sums placed on the frame's
rows in one merge pass, and a merge of two sorted string keys. Called only from ``_runs.py``
and ``_engine.py``."""

from __future__ import annotations

import numpy as np
from numba import njit, types


def _array(dtype: types.Type, ndim: int = 1, readonly: bool = True) -> types.Array:
    return types.Array(dtype, ndim, "C", readonly=readonly)


# Explicit signatures: the cached machine code is loaded when this module is imported (with
# numba's one-time start-up in the process), not at derive()'s first call. Inputs are
# read-only views of Polars/Arrow buffers (writable arrays are accepted too).
# A string-view column (Arrow Utf8View): views as (n, 16) bytes and (n, 4) int32, the data
# buffers concatenated, each buffer's start in them.
_VIEWS = (_array(types.uint8, 2), _array(types.int32, 2), _array(types.uint8), _array(types.int64))
_VIEW_COMPARE = types.int64(*_VIEWS, types.int64, *_VIEWS, types.int64)
_SEEK = types.UniTuple(types.int64, 2)(*_VIEWS, types.int64, *_VIEWS, types.int64)
_PLACE_RUNS = types.int64(
    *_VIEWS, types.int64, _array(types.int8), _array(types.float64), _array(types.float64),
    *_VIEWS, _array(types.int64, readonly=False), _array(types.float64, 2, readonly=False),
    _array(types.float64, readonly=False),
)  # fmt: skip
_MERGE = _array(types.int64, readonly=False)(*_VIEWS, *_VIEWS)
UNSORTED = -1  # place_runs: the rows are not grouped by participant_id in increasing order


@njit(_VIEW_COMPARE, cache=True, nogil=True)
def view_compare(
    a_bytes: np.ndarray,
    a_words: np.ndarray,
    a_data: np.ndarray,
    a_starts: np.ndarray,
    i: int,
    b_bytes: np.ndarray,
    b_words: np.ndarray,
    b_data: np.ndarray,
    b_starts: np.ndarray,
    j: int,
) -> int:
    """Byte-wise comparison (-1, 0, 1) of string i of view column a with string j of b.

    A view holds its length, then up to 12 bytes inline, or a 4-byte prefix, a buffer index
    and an offset into that data buffer (Apache Arrow columnar format, Utf8View).
    """
    la, lb = a_words[i, 0], b_words[j, 0]
    for k in range(min(la, lb)):
        x = a_bytes[i, 4 + k] if la <= 12 else a_data[a_starts[a_words[i, 2]] + a_words[i, 3] + k]
        y = b_bytes[j, 4 + k] if lb <= 12 else b_data[b_starts[b_words[j, 2]] + b_words[j, 3] + k]
        if x != y:
            return -1 if x < y else 1
    return 0 if la == lb else (-1 if la < lb else 1)


@njit(_SEEK, cache=True, nogil=True)
def seek(
    keys: np.ndarray,
    key_words: np.ndarray,
    key_data: np.ndarray,
    key_starts: np.ndarray,
    j: int,
    wanted: np.ndarray,
    wanted_words: np.ndarray,
    wanted_data: np.ndarray,
    wanted_starts: np.ndarray,
    i: int,
) -> tuple[int, int]:
    """One step of a merge join: in strictly increasing ``keys``, from row j on, the first row
    not below string i of ``wanted``; (that row, the row again if it equals the string else -1).
    """
    while j < key_words.shape[0]:
        order = view_compare(
            keys,
            key_words,
            key_data,
            key_starts,
            j,
            wanted,
            wanted_words,
            wanted_data,
            wanted_starts,
            i,
        )
        if order >= 0:
            return j, (j if order == 0 else -1)
        j += 1
    return j, -1


@njit(_PLACE_RUNS, cache=True, nogil=True)
def place_runs(
    ids: np.ndarray,
    id_words: np.ndarray,
    id_data: np.ndarray,
    id_starts: np.ndarray,
    first: int,
    code: np.ndarray,
    score: np.ndarray,
    area: np.ndarray,
    frame: np.ndarray,
    frame_words: np.ndarray,
    frame_data: np.ndarray,
    frame_starts: np.ndarray,
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
        if r == 0:
            order = first
        elif (
            id_words[r, 0] == id_words[r - 1, 0]
            and id_words[r, 1] == id_words[r - 1, 1]
            and id_words[r, 2] == id_words[r - 1, 2]
            and id_words[r, 3] == id_words[r - 1, 3]
        ):
            order = 0  # identical views hold the same string
        else:
            order = view_compare(
                ids, id_words, id_data, id_starts, r, ids, id_words, id_data, id_starts, r - 1
            )
        if order < 0:
            return UNSORTED
        if order > 0:  # the next participant: find its frame row
            j, target = seek(
                frame,
                frame_words,
                frame_data,
                frame_starts,
                j,
                ids,
                id_words,
                id_data,
                id_starts,
                r,
            )
        k = code[r]
        if k < 0 or k >= n_codes:
            invalid += 1
        elif target >= 0:
            scores[k, target] += score[r]
        if target >= 0:
            areas[target] += area[r]
    state[0], state[1], state[2] = j, target, invalid
    return invalid


@njit(_MERGE, cache=True, nogil=True)
def merge_sorted_strings(
    left: np.ndarray,
    left_words: np.ndarray,
    left_data: np.ndarray,
    left_starts: np.ndarray,
    right: np.ndarray,
    right_words: np.ndarray,
    right_data: np.ndarray,
    right_starts: np.ndarray,
) -> np.ndarray:
    """For sorted left strings and strictly increasing right strings (string views): each
    left string's row in right, -1 where it has none (a merge join)."""
    rows = np.empty(left_words.shape[0], np.int64)
    j = 0
    for i in range(rows.shape[0]):
        j, rows[i] = seek(
            right,
            right_words,
            right_data,
            right_starts,
            j,
            left,
            left_words,
            left_data,
            left_starts,
            i,
        )
    return rows
