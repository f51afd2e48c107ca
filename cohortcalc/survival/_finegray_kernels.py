"""Compiled row passes of the Fine–Gray engine (numba, cached). Called only from
``finegray_riskset.py``: binning the rows by (stratum, time), and the score residuals' outer
products. The per-bin moment sums are the Cox engine's (``_kernels.bin_sums``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_BLOCK_ROWS = 1024  # rows per BLAS call: small enough to stay in cache, one thread each


@njit(cache=True)
def bin_rows(
    order: np.ndarray,
    time: np.ndarray,
    strata: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk the rows in (stratum, time) order: each row's bin, and per bin its stratum and
    the weighted counts of all rows, censored rows (status 0) and events of the cause (1)."""
    n = order.shape[0]
    row_bin = np.empty(n, dtype=np.int64)
    n_bins = 0
    for k in range(n):
        i = order[k]
        if k == 0 or time[i] != time[order[k - 1]] or strata[i] != strata[order[k - 1]]:
            n_bins += 1
        row_bin[i] = n_bins - 1
    return (row_bin, *_bin_totals(row_bin, n_bins, strata, status, weights))


@njit(cache=True)
def bin_rows_by_key(
    key: np.ndarray,
    n_keys: int,
    strata: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """As `bin_rows` for small integer keys 0..n_keys-1 ordered as (stratum, time): each
    row's bin is its key's rank among the keys present (two sequential passes, no sort)."""
    n = key.shape[0]
    rank = np.zeros(n_keys, dtype=np.int64)
    for i in range(n):
        rank[key[i]] = 1
    n_bins = 0
    for k in range(n_keys):
        present = rank[k]
        rank[k] = n_bins
        n_bins += present
    row_bin = np.empty(n, dtype=np.int64)
    for i in range(n):
        row_bin[i] = rank[key[i]]
    return (row_bin, *_bin_totals(row_bin, n_bins, strata, status, weights))


@njit(cache=True)
def _bin_totals(
    row_bin: np.ndarray,
    n_bins: int,
    strata: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: its stratum and the weighted counts of all, censored and cause rows."""
    n = row_bin.shape[0]
    bin_stratum = np.empty(n_bins, dtype=np.int64)
    total = np.zeros(n_bins)
    censored = np.zeros(n_bins)
    cause = np.zeros(n_bins)
    for i in range(n):
        b = row_bin[i]
        bin_stratum[b] = strata[i]
        total[b] += weights[i]
        if status[i] == 0:
            censored[b] += weights[i]
        elif status[i] == 1:
            cause[b] += weights[i]
    return bin_stratum, total, censored, cause


@njit(cache=True)
def _residual_block(
    x: np.ndarray,
    center: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_vectors: np.ndarray,
    weights: np.ndarray,
    start: int,
    out: np.ndarray,
    weighted: np.ndarray,
) -> None:
    """Uᵢ = ηᵢ + ψᵢ into `out` and wᵢUᵢ into `weighted` for rows start.. of x (centred on c
    here): xᵢαᵢ + per-bin terms, e = e^{(xᵢ-c)β}, g = e/G(Tᵢ-) on competing rows (else 0).

    per_bin_scalars[:, 0:2] = Λ(t), Σ_{s>t}G(s-)dΛ(s); per_bin_vectors stacks x̄, Σ_{s≤t}dΛ x̄,
    Σ_{s>t}G dΛ x̄, q/Y and the censoring compensator, each (bins, p). `status` is 0
    censored, 1 cause, 2 competing.
    """
    m, p = out.shape
    for row in range(m):
        i = start + row
        b = row_bin[i]
        eta = 0.0
        for j in range(p):
            eta += (x[i, j] - center[j]) * beta[j]
        e = math.exp(eta)
        g = e * inverse_g[i]
        cause = 1.0 if status[i] == 1 else 0.0
        censored = 1.0 if status[i] == 0 else 0.0
        alpha = cause - e * per_bin_scalars[b, 0] - g * per_bin_scalars[b, 1]
        for j in range(p):
            value = (
                (x[i, j] - center[j]) * alpha
                - cause * per_bin_vectors[0, b, j]
                + e * per_bin_vectors[1, b, j]
                + g * per_bin_vectors[2, b, j]
                + censored * per_bin_vectors[3, b, j]
                - per_bin_vectors[4, b, j]
            )
            out[row, j] = value
            weighted[row, j] = weights[i] * value


@njit(cache=True, parallel=True)
def score_residual_products(
    x: np.ndarray,
    center: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_vectors: np.ndarray,
    weights: np.ndarray,
    n_chunks: int,
) -> np.ndarray:
    """Σᵢ wᵢUᵢUᵢᵀ (p x p) over all rows (see `_residual_block`): fixed row ranges, one per
    thread, each in blocks of rows into BLAS; the partial sums are added in range order, so
    the result does not depend on scheduling."""
    n, p = x.shape
    step = (n + n_chunks - 1) // n_chunks
    partial = np.zeros((n_chunks, p, p))
    for c in prange(n_chunks):
        out = np.empty((_BLOCK_ROWS, p))
        weighted = np.empty((_BLOCK_ROWS, p))
        last = min(n, (c + 1) * step)
        for first in range(c * step, last, _BLOCK_ROWS):
            m = min(_BLOCK_ROWS, last - first)
            _residual_block(
                x,
                center,
                beta,
                status,
                row_bin,
                inverse_g,
                per_bin_scalars,
                per_bin_vectors,
                weights,
                first,
                out[:m],
                weighted[:m],
            )
            partial[c] += np.dot(out[:m].T, weighted[:m])
    total = np.zeros((p, p))
    for c in range(n_chunks):
        total += partial[c]
    return total
