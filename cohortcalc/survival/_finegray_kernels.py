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
def status_codes(values: np.ndarray, cause: float, censor_code: float) -> np.ndarray:
    """0 where values == censor_code, 1 where values == cause, 2 elsewhere (one pass)."""
    status = np.empty(values.shape[0], dtype=np.int64)
    for i in range(values.shape[0]):
        v = values[i]
        status[i] = 0 if v == censor_code else (1 if v == cause else 2)
    return status


@njit(cache=True)
def sorted_keys(order: np.ndarray, time: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Walk the rows in (stratum, time) order: each row's rank among the distinct pairs."""
    n = order.shape[0]
    key = np.empty(n, dtype=np.int64)
    n_keys = 0
    for k in range(n):
        i = order[k]
        if k == 0 or time[i] != time[order[k - 1]] or strata[i] != strata[order[k - 1]]:
            n_keys += 1
        key[i] = n_keys - 1
    return key


@njit(cache=True)
def layout_by_key(
    key: np.ndarray,
    n_keys: int,
    strata: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Counting sort (O(N), stable) of the rows by integer keys 0..n_keys-1 ordered as
    (stratum, time), competing rows (status 2) first within a key; a bin per key present.

    Returns the rows in that order with their bin, status and weight; bin_start (bins + 1)
    and competing_end; per bin its stratum and the weighted counts of all rows, censored
    rows (status 0) and events of the cause (1), summed in input row order. Two passes."""
    n = key.shape[0]
    position = np.zeros(2 * n_keys + 1, dtype=np.int64)
    for i in range(n):
        position[2 * key[i] + (0 if status[i] == 2 else 1) + 1] += 1
    rank = np.empty(n_keys, dtype=np.int64)
    n_bins = 0
    for k in range(n_keys):
        rank[k] = n_bins
        if position[2 * k + 1] + position[2 * k + 2] > 0:
            n_bins += 1
    bin_start = np.empty(n_bins + 1, dtype=np.int64)
    competing_end = np.empty(n_bins, dtype=np.int64)
    for k in range(2 * n_keys):
        position[k + 1] += position[k]
    for k in range(n_keys):
        if position[2 * k + 2] > position[2 * k]:
            bin_start[rank[k]] = position[2 * k]
            competing_end[rank[k]] = position[2 * k + 1]
    bin_start[n_bins] = n
    rows = np.empty(n, dtype=np.int64)
    sorted_bin = np.empty(n, dtype=np.int64)
    sorted_status = np.empty(n, dtype=np.int64)
    sorted_weights = np.empty(n)
    bin_stratum = np.empty(n_bins, dtype=np.int64)
    total, censored, cause = np.zeros(n_bins), np.zeros(n_bins), np.zeros(n_bins)
    for i in range(n):
        slot = 2 * key[i] + (0 if status[i] == 2 else 1)
        k = position[slot]
        position[slot] += 1
        b = rank[key[i]]
        rows[k], sorted_bin[k], sorted_status[k], sorted_weights[k] = i, b, status[i], weights[i]
        bin_stratum[b] = strata[i]
        total[b] += weights[i]
        if status[i] == 0:
            censored[b] += weights[i]
        elif status[i] == 1:
            cause[b] += weights[i]
    return (
        rows,
        sorted_bin,
        sorted_status,
        sorted_weights,
        bin_start,
        competing_end,
        bin_stratum,
        total,
        censored,
        cause,
    )


@njit(cache=True)
def _residual_products(
    x: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_terms: np.ndarray,
    weights: np.ndarray,
    first: int,
    last: int,
) -> np.ndarray:
    """Σ wᵢUᵢUᵢᵀ over rows first..last-1 of the centred x, in blocks of rows into BLAS.

    Uᵢ = xᵢαᵢ + e·T₃(b) + g·T₄(b) + T_{sᵢ}(b), αᵢ = δᵢ - e·Λ(b) - g·A(b), with b the row's
    bin, sᵢ its status (0 censored, 1 cause, 2 competing), e = e^{xᵢβ}, g = e/G(Tᵢ-) on
    competing rows (`inverse_g`, else 0). per_bin_scalars[:, 0:2] = Λ, A; per_bin_terms is
    (bins, 5, p): the constant vector of each status, then the vectors T₃, T₄."""
    p = x.shape[1]
    total = np.zeros((p, p))
    out = np.empty((_BLOCK_ROWS, p))
    weighted = np.empty((_BLOCK_ROWS, p))
    for start in range(first, last, _BLOCK_ROWS):
        m = min(_BLOCK_ROWS, last - start)
        eta = np.dot(x[start : start + m], beta)
        for row in range(m):
            i = start + row
            b = row_bin[i]
            s = status[i]
            e = math.exp(eta[row])
            g = e * inverse_g[i]
            alpha = (1.0 if s == 1 else 0.0) - e * per_bin_scalars[b, 0] - g * per_bin_scalars[b, 1]
            w = weights[i]
            for j in range(p):
                value = (
                    x[i, j] * alpha
                    + e * per_bin_terms[b, 3, j]
                    + g * per_bin_terms[b, 4, j]
                    + per_bin_terms[b, s, j]
                )
                out[row, j] = value
                weighted[row, j] = w * value
        total += np.dot(out[:m].T, weighted[:m])
    return total


@njit(cache=True, parallel=True)
def _residual_products_parallel(
    x: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_terms: np.ndarray,
    weights: np.ndarray,
    n_chunks: int,
) -> np.ndarray:
    n, p = x.shape
    step = (n + n_chunks - 1) // n_chunks
    partial = np.zeros((n_chunks, p, p))
    for c in prange(n_chunks):
        partial[c] = _residual_products(
            x,
            beta,
            status,
            row_bin,
            inverse_g,
            per_bin_scalars,
            per_bin_terms,
            weights,
            c * step,
            min(n, (c + 1) * step),
        )
    return partial


def score_residual_products(
    x: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_terms: np.ndarray,
    weights: np.ndarray,
    n_chunks: int,
) -> np.ndarray:
    """Σᵢ wᵢUᵢUᵢᵀ (p x p) over all rows (see `_residual_products`): ``n_chunks`` threads each
    take a fixed range of rows; the partial sums are added in range order, so the result
    does not depend on scheduling."""
    arguments = (x, beta, status, row_bin, inverse_g, per_bin_scalars, per_bin_terms, weights)
    if n_chunks <= 1:
        return _residual_products(*arguments, 0, x.shape[0])
    partial = _residual_products_parallel(*arguments, n_chunks)
    total = partial[0].copy()
    for c in range(1, n_chunks):
        total += partial[c]
    return total
