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
def status_codes(
    values: np.ndarray, cause: float, censor_code: float
) -> tuple[np.ndarray, np.ndarray]:
    """0 where values == censor_code, 1 where values == cause, 2 elsewhere, and the count of
    each (one pass)."""
    n = values.shape[0]
    status = np.empty(n, dtype=np.int64)
    n_censored, n_cause = 0, 0
    for i in range(n):
        censored, is_cause = values[i] == censor_code, values[i] == cause
        status[i] = 0 if censored else (1 if is_cause else 2)
        n_censored += censored
        n_cause += is_cause and not censored
    return status, np.array([n_censored, n_cause, n - n_censored - n_cause])


@njit(cache=True)
def day_keys(time: np.ndarray, strata: np.ndarray, limit: int) -> np.ndarray:
    """Integer keys (stratum, time - min time) in (stratum, time) order when every time is
    a whole number and the keys stay below `limit` (days, few strata); else an empty array."""
    n = time.shape[0]
    low, high, first, last = time[0], time[0], strata[0], strata[0]
    for i in range(n):
        if time[i] != math.floor(time[i]):
            return np.empty(0, dtype=np.int64)
        low, high = min(low, time[i]), max(high, time[i])
        first, last = min(first, strata[i]), max(last, strata[i])
    # in floating point: a huge whole time (>= 2**63) must not reach the int conversion
    if (high - low + 1.0) * (last - first + 1) >= limit:
        return np.empty(0, dtype=np.int64)
    span = int(high - low) + 1
    key = np.empty(n, dtype=np.int64)
    for i in range(n):
        key[i] = (strata[i] - first) * span + int(time[i] - low)
    return key


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


_SLOT = (2, 1, 0)  # within a key: competing rows (status 2) first, then cause, then censored


@njit(cache=True)
def layout_by_key(
    key: np.ndarray,
    n_keys: int,
    strata: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Counting sort (O(N), stable) of the rows by integer keys 0..n_keys-1 ordered as
    (stratum, time); within a key competing rows (status 2) first, then events of the cause
    (1), then censored rows (0). A bin per key present.

    Returns the rows in that order, their bin and status; bin_start (bins + 1) and
    competing_end; per bin its stratum and the weighted counts of all rows, censored rows
    and events of the cause, summed in input row order. One pass counts, one places."""
    n = key.shape[0]
    position = np.zeros(3 * n_keys + 1, dtype=np.int64)
    key_stratum = np.zeros(n_keys, dtype=np.int64)
    key_total, key_censored, key_cause = np.zeros(n_keys), np.zeros(n_keys), np.zeros(n_keys)
    for i in range(n):
        k = key[i]
        position[3 * k + _SLOT[status[i]] + 1] += 1
        key_stratum[k] = strata[i]
        key_total[k] += weights[i]
        if status[i] == 0:
            key_censored[k] += weights[i]
        elif status[i] == 1:
            key_cause[k] += weights[i]
    present = np.flatnonzero(position[1::3] + position[2::3] + position[3::3])
    for k in range(3 * n_keys):
        position[k + 1] += position[k]
    bin_start = np.append(position[3 * present], n)
    sorted_bin = np.empty(n, dtype=np.int64)
    sorted_status = np.empty(n, dtype=np.int64)
    for b in range(present.shape[0]):
        k = present[b]
        sorted_bin[bin_start[b] : bin_start[b + 1]] = b
        for slot in range(3):
            sorted_status[position[3 * k + slot] : position[3 * k + slot + 1]] = 2 - slot
    rows = np.empty(n, dtype=np.int64)
    for i in range(n):
        slot = 3 * key[i] + _SLOT[status[i]]
        rows[position[slot]] = i
        position[slot] += 1
    return (
        rows,
        sorted_bin,
        sorted_status,
        bin_start,
        position[3 * present],  # after placing, slot 0's end: the competing rows' end
        key_stratum[present],
        key_total[present],
        key_censored[present],
        key_cause[present],
    )


@njit(cache=True)
def _residual_products(
    x: np.ndarray,
    beta: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    inverse_g_bin: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_terms: np.ndarray,
    weights: np.ndarray,
    first: int,
    last: int,
) -> np.ndarray:
    """Σ wᵢUᵢUᵢᵀ over rows first..last-1 of the centred x, in blocks of rows into BLAS.

    Uᵢ = xᵢαᵢ + e·T₃(b) + g·T₄(b) + T_{sᵢ}(b), αᵢ = δᵢ - e·Λ(b) - g·A(b), with b the row's
    bin, sᵢ its status (0 censored, 1 cause, 2 competing), e = e^{xᵢβ}, g = e/G(Tᵢ-) on
    competing rows (`inverse_g_bin` = 1/G(t-) per bin), else 0. per_bin_scalars[:, 0:2] =
    Λ, A; per_bin_terms is (bins, 5, p): the constant vector of each status, then the
    vectors T₃, T₄."""
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
            g = e * inverse_g_bin[b] if s == 2 else 0.0
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
    inverse_g_bin: np.ndarray,
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
            inverse_g_bin,
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
    inverse_g_bin: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_terms: np.ndarray,
    weights: np.ndarray,
    n_chunks: int,
) -> np.ndarray:
    """Σᵢ wᵢUᵢUᵢᵀ (p x p) over all rows (see `_residual_products`): ``n_chunks`` threads each
    take a fixed range of rows; the partial sums are added in range order, so the result
    does not depend on scheduling."""
    arguments = (x, beta, status, row_bin, inverse_g_bin, per_bin_scalars, per_bin_terms, weights)
    if n_chunks <= 1:
        return _residual_products(*arguments, 0, x.shape[0])
    partial = _residual_products_parallel(*arguments, n_chunks)
    total = partial[0].copy()
    for c in range(1, n_chunks):
        total += partial[c]
    return total
