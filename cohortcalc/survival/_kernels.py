"""Compiled loops of the risk-set engine (numba, cached). Called only from ``riskset.py``.

Layout of a bin row of sums: [S0, S1 (p), S2 packed upper triangle (p(p+1)/2, row-major)].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def locate_bins(
    values: np.ndarray, strata: np.ndarray, bin_time: np.ndarray, stratum_start: np.ndarray
) -> np.ndarray:
    """Index of the last bin (within the row's stratum) whose time is <= value, else -1."""
    n = values.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        lo = stratum_start[strata[i]]
        hi = stratum_start[strata[i] + 1]
        first = lo
        v = values[i]
        while lo < hi:  # first bin with time > v
            mid = (lo + hi) // 2
            if bin_time[mid] <= v:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo - 1 if lo > first else -1
    return out


@njit(cache=True)
def _add_row(target: np.ndarray, x: np.ndarray, r: float) -> None:
    p = x.shape[0]
    target[0] += r
    t = 1 + p
    for i in range(p):
        rx = r * x[i]
        target[1 + i] += rx
        for j in range(i, p):
            target[t] += rx * x[j]
            t += 1


@njit(cache=True, parallel=True)
def bin_sums(
    matrix: np.ndarray,
    center: np.ndarray,
    beta: np.ndarray,
    stop_bin: np.ndarray,
    entry_bin: np.ndarray,
    event: np.ndarray,
    weights: np.ndarray,
    n_bins: int,
    events: bool,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One fused pass: each row's w·e^{(x-c)β}·(1, x, xxᵀ) into its exit bin (minus its entry
    bin); event rows also into the tie sums. One accumulator per chunk, summed at the end."""
    n, p = matrix.shape
    width = 1 + p + p * (p + 1) // 2
    has_entry = entry_bin.shape[0] == n
    by_exit = np.zeros((n_chunks, n_bins, width))
    tie_bins = n_bins if events else 0
    tied = np.zeros((n_chunks, tie_bins, width))
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        x = np.empty(p)
        for i in range(c * step, min(n, (c + 1) * step)):
            b = stop_bin[i]
            if b < 0:
                continue
            eta = 0.0
            for j in range(p):
                x[j] = matrix[i, j] - center[j]
                eta += x[j] * beta[j]
            r = weights[i] * math.exp(eta)
            _add_row(by_exit[c, b], x, r)
            if events and event[i]:
                _add_row(tied[c, b], x, r)
            if has_entry and entry_bin[i] >= 0:
                _add_row(by_exit[c, entry_bin[i]], x, -r)
    for c in range(1, n_chunks):
        by_exit[0] += by_exit[c]
        if events:
            tied[0] += tied[c]
    return by_exit[0], tied[0]


@njit(cache=True)
def reverse_cumsum_by_stratum(sums: np.ndarray, stratum_start: np.ndarray) -> np.ndarray:
    """Σ over bins k' >= k of the same stratum, for every bin k."""
    out = np.empty_like(sums)
    width = sums.shape[1]
    for s in range(stratum_start.shape[0] - 1):
        running = np.zeros(width)
        for k in range(stratum_start[s + 1] - 1, stratum_start[s] - 1, -1):
            running += sums[k]
            out[k] = running
    return out


@njit(cache=True)
def forward_cumsum_by_stratum(values: np.ndarray, stratum_start: np.ndarray) -> np.ndarray:
    """Σ over bins k' <= k of the same stratum, for every bin k."""
    out = np.empty_like(values)
    width = values.shape[1]
    for s in range(stratum_start.shape[0] - 1):
        running = np.zeros(width)
        for k in range(stratum_start[s], stratum_start[s + 1]):
            running += values[k]
            out[k] = running
    return out


@njit(cache=True)
def event_time_terms(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    efron: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: Σ_j a·log(den_j), Σ_j a·x̄_j, packed Σ_j a·(S2_j/den_j - x̄_j x̄_jᵀ)."""
    n_bins, width = at_risk.shape
    p = int((math.sqrt(8 * width + 1) - 3) / 2 + 0.5)
    log_den = np.zeros(n_bins)
    mean_x = np.zeros((n_bins, p))
    info = np.zeros((n_bins, width - 1 - p))
    xbar = np.empty(p)
    for k in range(n_bins):
        m = n_deaths[k]
        if m == 0:
            continue
        n_terms = m if (efron and m > 1) else 1
        a = death_weight[k] / n_terms
        for j in range(n_terms):
            frac = j / m if n_terms > 1 else 0.0
            den = at_risk[k, 0] - (frac * tied[k, 0] if frac > 0 else 0.0)
            log_den[k] += a * math.log(den)
            for i in range(p):
                s1 = at_risk[k, 1 + i] - (frac * tied[k, 1 + i] if frac > 0 else 0.0)
                xbar[i] = s1 / den
                mean_x[k, i] += a * xbar[i]
            t = 0
            for i in range(p):
                for l in range(i, p):
                    col = 1 + p + t
                    s2 = at_risk[k, col] - (frac * tied[k, col] if frac > 0 else 0.0)
                    info[k, t] += a * (s2 / den - xbar[i] * xbar[l])
                    t += 1
    return log_den, mean_x, info


@njit(cache=True)
def hazard_terms(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    efron: bool,
) -> np.ndarray:
    """Per bin [h0, h1 (p), g0, g1 (p), x̄m (p)]: Σ_j haz_j, Σ_j haz_j x̄_j, the same with the
    Efron down-weight (1 - j/d) that applies to the tied events, and the mean of x̄_j.
    haz_j = a/den_j (R coxscore2)."""
    n_bins, width = at_risk.shape
    p = int((math.sqrt(8 * width + 1) - 3) / 2 + 0.5)
    out = np.zeros((n_bins, 2 + 3 * p))
    for k in range(n_bins):
        m = n_deaths[k]
        if m == 0:
            continue
        n_terms = m if (efron and m > 1) else 1
        a = death_weight[k] / n_terms
        for j in range(n_terms):
            frac = j / m if n_terms > 1 else 0.0
            den = at_risk[k, 0] - (frac * tied[k, 0] if frac > 0 else 0.0)
            hazard = a / den
            out[k, 0] += hazard
            out[k, 1 + p] += hazard * (1.0 - frac)
            for i in range(p):
                s1 = at_risk[k, 1 + i] - (frac * tied[k, 1 + i] if frac > 0 else 0.0)
                xbar = s1 / den
                out[k, 1 + i] += hazard * xbar
                out[k, 2 + p + i] += hazard * (1.0 - frac) * xbar
                out[k, 2 + 2 * p + i] += xbar / n_terms
    return out


@njit(cache=True)
def cluster_scores(
    matrix: np.ndarray,
    center: np.ndarray,
    beta: np.ndarray,
    stop_bin: np.ndarray,
    entry_bin: np.ndarray,
    event: np.ndarray,
    weights: np.ndarray,
    hazards: np.ndarray,
    cumulative: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
    stratum_start: np.ndarray,
) -> np.ndarray:
    """Σ within cluster of w_i·U_i, U_i = δ_i(x_i - x̄m) - r_i Σ_{t at risk} haz(t)(x_i - x̄(t)),
    the tied events' own term down-weighted as Efron's (R coxscore2 / agscore)."""
    n, p = matrix.shape
    out = np.zeros((n_clusters, p))
    x = np.empty(p)
    for i in range(n):
        b = stop_bin[i]
        if b < 0:
            continue
        eta = 0.0
        for j in range(p):
            x[j] = matrix[i, j] - center[j]
            eta += x[j] * beta[j]
        r = math.exp(eta)
        e = entry_bin[i] if entry_bin.shape[0] == n else -1
        h0 = cumulative[b, 0] - (cumulative[e, 0] if e >= 0 else 0.0)
        if event[i]:
            h0 -= hazards[b, 0] - hazards[b, 1 + p]
        for j in range(p):
            h1 = cumulative[b, 1 + j] - (cumulative[e, 1 + j] if e >= 0 else 0.0)
            resid = 0.0
            if event[i]:
                h1 -= hazards[b, 1 + j] - hazards[b, 2 + p + j]
                resid = x[j] - hazards[b, 2 + 2 * p + j]
            resid -= r * (x[j] * h0 - h1)
            out[cluster[i], j] += weights[i] * resid
    return out


@njit(cache=True)
def weighted_column_means(matrix: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_i w_i x_i / Σ_i w_i, column by column, in one row-major pass."""
    n, p = matrix.shape
    total = np.zeros(p)
    wsum = 0.0
    for i in range(n):
        wsum += weights[i]
        for j in range(p):
            total[j] += weights[i] * matrix[i, j]
    return total / wsum
