"""Compiled row passes of the Fine–Gray engine (numba, cached). Called only from
``finegray_riskset.py``; rows in input order, each carrying its (stratum, time) bin index.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


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


def _risk_bins(
    x: np.ndarray,
    center: np.ndarray,
    beta: np.ndarray,
    weights: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    n_bins: int,
    first_moment: bool,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rᵢ = wᵢe^{(xᵢ-c)β}; per bin Σ rᵢ(1, xᵢ-c) over all rows and Σ rᵢ(1, xᵢ-c)/G(Tᵢ-)
    over the competing ones (`inverse_g` is 0 for the others). Width 1 + p, or 1 without x.
    One pass in row order; each chunk adds into its own bins, summed at the end."""
    n, p = x.shape
    width = 1 + p if first_moment else 1
    risk = np.empty(n)
    every = np.zeros((n_chunks, n_bins, width))
    competing = np.zeros((n_chunks, n_bins, width))
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        centred = np.empty(p)
        for i in range(c * step, min(n, (c + 1) * step)):
            eta = 0.0
            for j in range(p):
                centred[j] = x[i, j] - center[j]
                eta += centred[j] * beta[j]
            r = weights[i] * math.exp(eta)
            risk[i] = r
            b = row_bin[i]
            every[c, b, 0] += r
            rc = r * inverse_g[i]
            if rc != 0.0:
                competing[c, b, 0] += rc
            if first_moment:
                for j in range(p):
                    every[c, b, 1 + j] += r * centred[j]
                    if rc != 0.0:
                        competing[c, b, 1 + j] += rc * centred[j]
    return risk, every.sum(axis=0), competing.sum(axis=0)


# Threads pay off on big inputs only; on small ones (and busy machines) the serial build wins.
risk_bins_serial = njit(cache=True)(_risk_bins)
risk_bins_parallel = njit(cache=True, parallel=True)(_risk_bins)


@njit(cache=True)
def information_rows(
    x: np.ndarray,
    center: np.ndarray,
    risk: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    cumulative: np.ndarray,
    after: np.ndarray,
    start: int,
    centred: np.ndarray,
    scaled: np.ndarray,
) -> None:
    """Rows start.. of x - c into `centred` and aᵢ(xᵢ - c) into `scaled` for the information
    Σᵢ aᵢxᵢxᵢᵀ, aᵢ = rᵢ[Λ(Tᵢ) + cᵢ/G(Tᵢ-) Σ_{t>Tᵢ}G(t-)dΛ(t)]."""
    m, p = centred.shape
    for row in range(m):
        i = start + row
        b = row_bin[i]
        a = risk[i] * (cumulative[b] + inverse_g[i] * after[b])
        for j in range(p):
            value = x[i, j] - center[j]
            centred[row, j] = value
            scaled[row, j] = value * a


@njit(cache=True)
def score_residual_rows(
    x: np.ndarray,
    center: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    exp_eta: np.ndarray,
    competing: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_vectors: np.ndarray,
    weights: np.ndarray,
    start: int,
    out: np.ndarray,
    weighted: np.ndarray,
) -> None:
    """Uᵢ = ηᵢ + ψᵢ into `out` and wᵢUᵢ into `weighted` for rows start.. of x (centred on c
    here): xᵢαᵢ + per-bin terms.

    per_bin_scalars[:, 0:2] = Λ(t), Σ_{s>t}G(s-)dΛ(s); per_bin_vectors stacks x̄, Σ_{s≤t}dΛ x̄,
    Σ_{s>t}G dΛ x̄, q/Y and the censoring compensator, each (bins, p). `status` is 0
    censored, 1 cause, 2 competing; `competing` is e^{xβ}/G(Tᵢ-) on competing rows, else 0.
    """
    m, p = out.shape
    for row in range(m):
        i = start + row
        b = row_bin[i]
        cause = 1.0 if status[i] == 1 else 0.0
        censored = 1.0 if status[i] == 0 else 0.0
        e = exp_eta[i]
        g = competing[i]
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
