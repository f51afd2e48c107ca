"""Compiled loops of the risk-set engine (numba, cached). Called only from ``riskset.py``.

The design enters centred (x - c), its rows in bin order. A bin's sums are the q x q matrix
(q = p + 1) Σ w·e^{η}·a aᵀ with a = (1, x), stored flat (q² entries): entry 0 is S0, entries
1..p are S1, entry (1+i)·q + 1+j is S2[i, j].
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from cohortcalc._sums import add_outer_rows


@njit(cache=True)
def integer_range(values: np.ndarray) -> tuple[bool, int, int]:
    """(all values are integers, min, max) — day-resolution times take the lookup-table path.

    Integers beyond ±2**52 count as not integral (checked as floats: converting 1e19 to int64
    would overflow), so such times take the sorting path.
    """
    if values.shape[0] == 0:
        return False, 0, 0
    lo = values[0]
    hi = values[0]
    for v in values:
        if v != math.floor(v) or abs(v) > 4503599627370496.0:
            return False, 0, 0
        lo = min(lo, v)
        hi = max(hi, v)
    return True, int(lo), int(hi)


@njit(cache=True)
def integer_event_bins(
    time: np.ndarray, event: np.ndarray, strata: np.ndarray, n_strata: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (stratum, integer time) pairs among events, in order, without sorting."""
    span = hi - lo + 1
    seen = np.zeros(n_strata * span, dtype=np.bool_)
    for i in range(time.shape[0]):
        if event[i]:
            seen[strata[i] * span + int(time[i]) - lo] = True
    where = np.flatnonzero(seen)
    bin_time = (where % span + lo).astype(np.float64)
    return bin_time, where // span


@njit(cache=True)
def locate_bins(
    values: np.ndarray,
    strata: np.ndarray,
    bin_time: np.ndarray,
    stratum_start: np.ndarray,
    lookup_lo: int,
    lookup_hi: int,
) -> np.ndarray:
    """Index of the last bin (within the row's stratum) whose time is <= value, else -1.

    With ``lookup_lo <= lookup_hi`` the values are integers in that range and a lookup table
    per stratum replaces the binary search."""
    n = values.shape[0]
    out = np.empty(n, dtype=np.int64)
    n_strata = stratum_start.shape[0] - 1
    span = lookup_hi - lookup_lo + 1
    if span > 0:
        table = np.empty(n_strata * span, dtype=np.int64)
        for s in range(n_strata):
            k = stratum_start[s]
            for v in range(span):
                while k < stratum_start[s + 1] and bin_time[k] <= v + lookup_lo:
                    k += 1
                table[s * span + v] = k - 1 if k > stratum_start[s] else -1
        for i in range(n):
            out[i] = table[strata[i] * span + int(values[i]) - lookup_lo]
        return out
    for i in range(n):
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
def _add_rows(
    matrix: np.ndarray,
    beta: np.ndarray,
    weights: np.ndarray,
    start: int,
    end: int,
    out: np.ndarray,
    rx: np.ndarray,
    xx: np.ndarray,
) -> None:
    """Add Σ over rows start..end of w·e^{xβ}·a aᵀ, a = (1, x), to ``out`` (q x q): S0 and
    S1 in the loop that forms r = w·e^{xβ} and r·x, the upper triangle of S2 from rows taken
    eight at a time (``_sums.add_outer_rows``; no BLAS, so the sums do not depend on the
    machine). ``rx``, ``xx``:
    8 x p scratch, allocated once by the caller (bins are a few rows each: allocations per
    bin had cost more than the sums)."""
    p = matrix.shape[1]
    s2 = out[1:, 1:]
    i = start
    while i < end:
        k = 0
        while k < 8 and i < end:
            eta = 0.0
            for j in range(p):
                eta += matrix[i, j] * beta[j]
            r = weights[i] * math.exp(eta)
            out[0, 0] += r
            for j in range(p):
                xx[k, j] = matrix[i, j]
                rx[k, j] = matrix[i, j] * r
                out[0, 1 + j] += rx[k, j]
            k += 1
            i += 1
        add_outer_rows(s2, rx, xx, k)


@njit(cache=True)
def _mirror(out: np.ndarray) -> None:
    """Complete a q x q sum whose first row and S2's upper triangle are filled."""
    q = out.shape[0]
    for a in range(1, q):
        out[a, 0] = out[0, a]
        for c in range(1, a):
            out[a, c] = out[c, a]


@njit(cache=True)
def _block_sums(
    matrix: np.ndarray, beta: np.ndarray, weights: np.ndarray, start: int, end: int
) -> np.ndarray:
    """Σ over rows start..end of w·e^{xβ}·a aᵀ, a = (1, x), as a q x q matrix."""
    p = matrix.shape[1]
    total = np.zeros((p + 1, p + 1))
    _add_rows(matrix, beta, weights, start, end, total, np.empty((8, p)), np.empty((8, p)))
    _mirror(total)
    return total


@njit(cache=True)
def _bins_range(
    matrix: np.ndarray,
    beta: np.ndarray,
    bin_start: np.ndarray,
    bin_events_end: np.ndarray,
    weights: np.ndarray,
    first: int,
    last: int,
    by_exit: np.ndarray,
    tied: np.ndarray,
) -> None:
    """Fill the sums of bins first..last-1 (events first within a bin, see ``bin_sums``):
    a bin's event rows are summed into ``tied``, then its other rows added on top of a copy
    in ``by_exit``."""
    events = tied.shape[0] > 0
    p = matrix.shape[1]
    q = p + 1
    rx = np.empty((8, p))
    xx = np.empty((8, p))
    for k in range(first, last):
        total = by_exit[k].reshape((q, q))
        if events:
            tied_sums = tied[k].reshape((q, q))
            _add_rows(matrix, beta, weights, bin_start[k], bin_events_end[k], tied_sums, rx, xx)
            total[:, :] = tied_sums
            _add_rows(matrix, beta, weights, bin_events_end[k], bin_start[k + 1], total, rx, xx)
            _mirror(tied_sums)
        else:
            _add_rows(matrix, beta, weights, bin_start[k], bin_start[k + 1], total, rx, xx)
        _mirror(total)


@njit(cache=True, parallel=True)
def _bins_parallel(
    matrix: np.ndarray,
    beta: np.ndarray,
    bin_start: np.ndarray,
    bin_events_end: np.ndarray,
    weights: np.ndarray,
    by_exit: np.ndarray,
    tied: np.ndarray,
    n_chunks: int,
) -> None:
    n_bins = bin_start.shape[0] - 1
    step = (n_bins + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        first = c * step
        last = min(n_bins, first + step)
        _bins_range(matrix, beta, bin_start, bin_events_end, weights, first, last, by_exit, tied)


@njit(cache=True)
def _subtract_entries(
    matrix: np.ndarray,
    beta: np.ndarray,
    entry_bin: np.ndarray,
    weights: np.ndarray,
    by_exit: np.ndarray,
) -> None:
    for i in range(matrix.shape[0]):
        if entry_bin[i] >= 0:
            by_exit[entry_bin[i]] -= _block_sums(matrix, beta, weights, i, i + 1).ravel()


def bin_sums(
    matrix: np.ndarray,
    beta: np.ndarray,
    bin_start: np.ndarray,
    bin_events_end: np.ndarray,
    entry_bin: np.ndarray,
    weights: np.ndarray,
    events: bool,
    n_chunks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin sums over the (centred) rows in bin order: a bin's rows are contiguous, events
    first, so each bin is one or two small blocks (``n_chunks`` threads share the bins). Rows
    with delayed entry are then subtracted at their entry bin. Returns (by_exit,
    events_only), flat (p+1)² per bin."""
    n, p = matrix.shape
    n_bins = bin_start.shape[0] - 1
    by_exit = np.zeros((n_bins, (p + 1) ** 2))
    tied = np.zeros((n_bins if events else 0, (p + 1) ** 2))
    if n_chunks > 1:
        _bins_parallel(matrix, beta, bin_start, bin_events_end, weights, by_exit, tied, n_chunks)
    else:
        _bins_range(matrix, beta, bin_start, bin_events_end, weights, 0, n_bins, by_exit, tied)
    if entry_bin.shape[0] == n:
        _subtract_entries(matrix, beta, entry_bin, weights, by_exit)
    return by_exit, tied


@njit(cache=True)
def event_sums(matrix: np.ndarray, event: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ over event rows of w·x."""
    n, p = matrix.shape
    total = np.zeros(p)
    for i in range(n):
        if event[i]:
            for j in range(p):
                total[j] += weights[i] * matrix[i, j]
    return total


@njit(cache=True)
def reverse_cumsum_in_place(sums: np.ndarray, stratum_start: np.ndarray) -> None:
    """``reverse_cumsum_by_stratum`` overwriting its input (no second T x q² array)."""
    for s in range(stratum_start.shape[0] - 1):
        for k in range(stratum_start[s + 1] - 2, stratum_start[s] - 1, -1):
            sums[k] += sums[k + 1]


@njit(cache=True)
def reverse_cumsum_by_stratum(sums: np.ndarray, stratum_start: np.ndarray) -> np.ndarray:
    """Σ over bins k' >= k of the same stratum, for every bin k."""
    out = sums.copy()
    reverse_cumsum_in_place(out, stratum_start)
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
def _event_time_fill(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    efron: bool,
    bins: tuple[int, int, int],
    log_den: np.ndarray,
    mean_x: np.ndarray,
    info: np.ndarray,
) -> None:
    """Add the Efron terms of bins ``bins[0]..bins[1]-1`` to row k of the outputs (to row
    ``bins[2]`` if that is >= 0).

    With den_j = S0 - c_j·T0, S1_j = S1 - c_j·T1 (T: tie sums, c_j = j/d), the sums over j
    reduce to scalar weights times S2, T2, S1S1ᵀ, S1T1ᵀ + T1S1ᵀ and T1T1ᵀ: O(d + p²) per bin."""
    width = at_risk.shape[1]
    q = int(math.sqrt(width) + 0.5)  # width = q², q = p + 1
    p = q - 1
    for k in range(bins[0], bins[1]):
        m = n_deaths[k]
        if m == 0:
            continue
        row = k if bins[2] < 0 else bins[2]
        n_terms = m if (efron and m > 1) else 1
        a = death_weight[k] / n_terms
        w_s = 0.0  # Σ a/den
        w_t = 0.0  # Σ a c/den
        q_ss = 0.0  # Σ a/den²
        q_st = 0.0  # Σ a c/den²
        q_tt = 0.0  # Σ a c²/den²
        for j in range(n_terms):
            frac = j / m if n_terms > 1 else 0.0
            den = at_risk[k, 0] - (frac * tied[k, 0] if frac > 0 else 0.0)
            log_den[row] += a * math.log(den)
            w_s += a / den
            w_t += a * frac / den
            q_ss += a / (den * den)
            q_st += a * frac / (den * den)
            q_tt += a * frac * frac / (den * den)
        has_ties = n_terms > 1
        for i in range(p):
            s1_i = at_risk[k, 1 + i]
            t1_i = tied[k, 1 + i] if has_ties else 0.0
            mean_x[row, i] += w_s * s1_i - w_t * t1_i
            for l in range(p):
                s1_l = at_risk[k, 1 + l]
                col = (1 + i) * q + 1 + l
                value = w_s * at_risk[k, col] - q_ss * s1_i * s1_l
                if has_ties:
                    t1_l = tied[k, 1 + l]
                    value += (
                        -w_t * tied[k, col]
                        + q_st * (s1_i * t1_l + t1_i * s1_l)
                        - q_tt * t1_i * t1_l
                    )
                info[row, i * p + l] += value


def event_time_terms(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    efron: bool,
    *,
    per_bin: bool = True,
    n_chunks: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin (or, with ``per_bin=False``, summed over bins): Σ_j a·log(den_j), Σ_j a·x̄_j,
    Σ_j a·(S2_j/den_j - x̄_j x̄_jᵀ) (p x p, flat). Summed: ``n_chunks`` threads each sum a
    fixed range of bins, the partial sums are then added in order."""
    n_bins = at_risk.shape[0]
    rows = n_bins if per_bin else max(1, min(n_chunks, n_bins))
    p = int(math.sqrt(at_risk.shape[1]) + 0.5) - 1
    log_den, mean_x, info = np.zeros(rows), np.zeros((rows, p)), np.zeros((rows, p * p))
    if per_bin or rows == 1:
        bins = (0, n_bins, -1 if per_bin else 0)
        _event_time_fill(at_risk, tied, n_deaths, death_weight, efron, bins, log_den, mean_x, info)
        return log_den, mean_x, info
    _event_time_chunks(at_risk, tied, n_deaths, death_weight, efron, log_den, mean_x, info)
    return log_den.sum(keepdims=True), mean_x.sum(axis=0)[None], info.sum(axis=0)[None]


@njit(cache=True, parallel=True)
def _event_time_chunks(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    efron: bool,
    log_den: np.ndarray,
    mean_x: np.ndarray,
    info: np.ndarray,
) -> None:
    n_bins, n_chunks = at_risk.shape[0], log_den.shape[0]
    step = (n_bins + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        chunk = np.int64(c)  # prange's index may be unsigned: keep the tuple int64
        bins = (chunk * step, min(n_bins, (chunk + 1) * step), chunk)
        _event_time_fill(at_risk, tied, n_deaths, death_weight, efron, bins, log_den, mean_x, info)


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
    p = int(math.sqrt(width) + 0.5) - 1  # width = (p + 1)²
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
    beta: np.ndarray,
    stop_bin: np.ndarray,
    entry_bin: np.ndarray,
    event: np.ndarray,
    weights: np.ndarray,
    hazards: np.ndarray,
    cumulative: np.ndarray,
    cluster: np.ndarray,
    n_clusters: int,
) -> np.ndarray:
    """Σ within cluster of w_i·U_i, U_i = δ_i(x_i - x̄m) - r_i Σ_{t at risk} haz(t)(x_i - x̄(t)),
    the tied events' own term down-weighted as Efron's (R coxscore2 / agscore)."""
    n, p = matrix.shape
    out = np.zeros((n_clusters, p))
    x = np.empty(p)
    for i in range(n):
        b = stop_bin[i]
        eta = 0.0
        for j in range(p):
            x[j] = matrix[i, j]
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
