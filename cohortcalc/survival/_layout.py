"""Compiled loops that lay the rows out in the Cox engine's bin order (numba, cached): the
counting sort, the design fill straight into that order, and the centring. Called from
``riskset.py``, ``design.py`` and ``finegray_riskset.py``; the per-iteration loops are in
``_kernels.py``."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

#: Row count from which the row passes use every numba thread; below it one thread (waking
#: the pool costs more than it saves on small designs and on busy machines).
PARALLEL_ROWS = 200_000


def thread_count(n_rows: int) -> int:
    """Threads for a row pass over ``n_rows`` rows (all of numba's, or 1 below PARALLEL_ROWS)."""
    return numba.get_num_threads() if n_rows >= PARALLEL_ROWS else 1


@njit(cache=True)
def scatter_rows(block: np.ndarray, position: np.ndarray, out: np.ndarray) -> None:
    """out[position[i]] = block[i] for every i with position[i] >= 0."""
    for i in range(block.shape[0]):
        k = position[i]
        if k >= 0:
            for j in range(block.shape[1]):
                out[k, j] = block[i, j]


@njit(cache=True, parallel=True)
def scatter_columns(
    columns: tuple, rows: np.ndarray, matrix: np.ndarray, n_chunks: int
) -> tuple[np.ndarray, np.ndarray]:
    """matrix[k, j] = columns[j][rows[k]] for float64 columns of equal length, written row by
    row from a sequential read of the columns (fixed chunks, one per thread). Returns each
    column's minimum and maximum over ALL its rows (kept or not)."""
    n_all = columns[0].shape[0]
    p = len(columns)
    position = np.full(n_all, -1, dtype=np.int64)
    m = rows.shape[0]
    step = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for k in range(c * step, min(m, (c + 1) * step)):
            position[rows[k]] = k
            matrix[k, 0] = 0.0  # each thread faults in its own pages, in order
    low = np.full((n_chunks, p), np.inf)
    high = np.full((n_chunks, p), -np.inf)
    step = (n_all + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for first in range(c * step, min(n_all, (c + 1) * step), 2048):
            last = min(n_all, (c + 1) * step, first + 2048)
            for j in range(p):  # a block's rows stay in cache across the columns
                column = columns[j]
                lo, hi = low[c, j], high[c, j]
                for i in range(first, last):
                    v = column[i]
                    lo, hi = min(lo, v), max(hi, v)
                    if position[i] >= 0:
                        matrix[position[i], j] = v
                low[c, j], high[c, j] = lo, hi
    out_low = np.full(p, np.inf)
    out_high = np.full(p, -np.inf)
    for c in range(n_chunks):
        for j in range(p):
            out_low[j] = min(out_low[j], low[c, j])
            out_high[j] = max(out_high[j], high[c, j])
    return out_low, out_high


@njit(cache=True)
def bin_layout(
    stop_bin: np.ndarray, event: np.ndarray, weights: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counting sort (O(N), stable) of the rows with a bin (>= 0) by bin, events first within
    a bin: rows, bin_start, n_deaths, the per-bin event weight (summed in row order) and the
    rows' bin and event flag in that order. One pass counts, one places the row numbers."""
    position = np.zeros(2 * n_bins + 1, dtype=np.int64)
    death_weight = np.zeros(n_bins)
    for i in range(stop_bin.shape[0]):
        if stop_bin[i] >= 0:
            position[2 * stop_bin[i] + (0 if event[i] else 1) + 1] += 1
            if event[i]:
                death_weight[stop_bin[i]] += weights[i]
    n_deaths = position[1::2].copy()
    for k in range(2 * n_bins):
        position[k + 1] += position[k]
    bin_start = position[0::2].copy()
    order = np.empty(position[2 * n_bins], dtype=np.int64)
    sorted_bin = np.empty(position[2 * n_bins], dtype=np.int64)
    sorted_event = np.zeros(position[2 * n_bins], dtype=np.bool_)
    for k in range(n_bins):
        sorted_bin[bin_start[k] : bin_start[k + 1]] = k
        sorted_event[bin_start[k] : bin_start[k] + n_deaths[k]] = True
    for i in range(stop_bin.shape[0]):
        if stop_bin[i] >= 0:
            key = 2 * stop_bin[i] + (0 if event[i] else 1)
            order[position[key]] = i
            position[key] += 1
    return order, bin_start, n_deaths, death_weight, sorted_bin, sorted_event


@njit(cache=True, parallel=True)
def center_in_place(
    matrix: np.ndarray, weights: np.ndarray, event: np.ndarray, n_chunks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Subtract the weighted column means c = Σ w x / Σ w in place; returns c and the
    Σ over event rows of w·(x - c). Fixed row chunks (one per thread), partial sums added
    in chunk order, so the result does not depend on scheduling."""
    n, p = matrix.shape
    step = (n + n_chunks - 1) // n_chunks
    partial = np.zeros((n_chunks, p))
    for c in prange(n_chunks):
        for i in range(c * step, min(n, (c + 1) * step)):
            for j in range(p):
                partial[c, j] += weights[i] * matrix[i, j]
    total = np.zeros(p)
    for c in range(n_chunks):
        total += partial[c]
    center = total / weights.sum()
    events = np.zeros((n_chunks, p))
    for c in prange(n_chunks):
        for i in range(c * step, min(n, (c + 1) * step)):
            for j in range(p):
                matrix[i, j] -= center[j]
            if event[i]:
                for j in range(p):
                    events[c, j] += weights[i] * matrix[i, j]
    event_sum = np.zeros(p)
    for c in range(n_chunks):
        event_sum += events[c]
    return center, event_sum
