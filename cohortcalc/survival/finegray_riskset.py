"""Fine–Gray risk-set sums by distinct time: log-likelihood, score, information, sandwich.

The engine over arrays (no names, no frames). Fine & Gray (1999, JASA 94:496) keep a subject
whose competing event came at Tᵢ in the risk set at t > Tᵢ with weight G(t-)/G(Tᵢ-), G the
censoring survival (`censoring.py`). G(t-) factors out of the risk-set sum at t, so

    S_r(t) = Σ_{Tᵢ ≥ t} wᵢe^{xᵢβ}xᵢ^{⊗r} + G(t-) Σ_{competing, Tᵢ < t} wᵢe^{xᵢβ}xᵢ^{⊗r}/G(Tᵢ-)

is a reverse cumulative sum plus a forward one over per-time bins: O(N·p) per pass, no
expanded data. Ties are Breslow's, as `cmprsk::crr`. The information matrix and the sandwich
variance (Fine & Gray 1999, §3: η for the score, ψ for the estimated G) are reorganised as
cumulative sums too, so every pass is linear in N (crr's loops are quadratic/cubic). Only
the 1-D columns are sorted (to bin the times and estimate G); the design matrix is read in
place, centred on the fly, by compiled passes (`_finegray_kernels.py`) or by chunks into
BLAS, so no copy of it is made.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numba
import numpy as np

from cohortcalc.survival import _finegray_kernels as kernels
from cohortcalc.survival.censoring import product_limit

CENSORED, CAUSE, COMPETING = 0, 1, 2
_CHUNK_ROWS = 1 << 16
_PARALLEL_ROWS = 200_000


@dataclass(frozen=True)
class FineGrayData:
    """Rows binned by distinct (stratum, time), prepared once per fit; rows stay in input order.

    `x` is the caller's matrix and `center` its weighted mean, subtracted on the fly (the fit
    is invariant to the shift; sums lose no digits). Per-bin arrays are ordered by (stratum,
    time); `strata` holds each stratum's bin range. `inverse_g` is 1/G(Tᵢ-) on competing
    rows, 0 elsewhere.
    """

    x: np.ndarray
    center: np.ndarray
    weights: np.ndarray
    status: np.ndarray
    row_bin: np.ndarray
    strata: tuple[tuple[int, int], ...]
    g_before: np.ndarray
    n_cause: np.ndarray
    n_censored: np.ndarray
    n_at_risk: np.ndarray
    cause_x: np.ndarray
    inverse_g: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of distinct (stratum, time) bins."""
        return int(self.g_before.size)


@dataclass(frozen=True)
class RiskSums:
    """Per-bin sums at one β: S0, S1 at every bin and the competing parts F0, F1 (Tᵢ < t)."""

    risk: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    f0: np.ndarray
    f1: np.ndarray


def prepare(
    time: np.ndarray,
    status: np.ndarray,
    x: np.ndarray,
    weights: np.ndarray,
    strata: np.ndarray,
) -> FineGrayData:
    """Bin the rows by (stratum, time) and compute G within stratum (x is not copied).

    `status` is 0/1/2 (censored/cause/competing), `strata` integer codes.
    """
    key = _small_key(time, strata)
    if key is not None:
        binned = kernels.bin_rows_by_key(key, int(key.max()) + 1, strata, status, weights)
    else:
        binned = kernels.bin_rows(_sort_order(time, strata), time, strata, status, weights)
    row_bin, bin_stratum, total, n_censored, n_cause = binned
    edges = np.flatnonzero(np.r_[True, bin_stratum[1:] != bin_stratum[:-1], True])
    stratum_ranges = tuple((int(a), int(b)) for a, b in itertools.pairwise(edges))
    n_at_risk = _reverse_cumsum(total, stratum_ranges)
    g_before = np.ones(total.size)
    for first, last in stratum_ranges:
        g_before[first + 1 : last] = product_limit(
            n_at_risk[first : last - 1], n_censored[first : last - 1]
        )
    cause_weights = np.where(status == CAUSE, weights, 0.0)
    total_x, cause_total_x = np.stack((weights, cause_weights)) @ x  # one pass over x
    center = total_x / weights.sum()
    return FineGrayData(
        x=x,
        center=center,
        weights=weights,
        status=status,
        row_bin=row_bin,
        strata=stratum_ranges,
        g_before=g_before,
        n_cause=n_cause,
        n_censored=n_censored,
        n_at_risk=n_at_risk,
        cause_x=cause_total_x - cause_weights.sum() * center,
        inverse_g=np.where(status == COMPETING, 1.0 / g_before[row_bin], 0.0),
    )


def _small_key(time: np.ndarray, strata: np.ndarray) -> np.ndarray | None:
    """An integer key in (stratum, time) order below 2**16 when the times are whole numbers
    in a short range (days, with few strata): bins by counting, no sort. Else None."""
    codes = strata - strata.min()
    low, span = time.min(), time.max() - time.min()
    if (span + 1) * (codes.max() + 1) < 2**16 and np.all(time == np.floor(time)):
        return (codes * (span + 1) + (time - low)).astype(np.int64)
    return None


def _sort_order(time: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Rows by (stratum, time): a comparison sort."""
    if np.all(strata == strata[0]):
        return np.argsort(time, kind="stable")
    return np.lexsort((time, strata))


def _row_buffers(data: FineGrayData) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """Row chunks with two reused (chunk, p) buffers for the compiled row passes to fill
    (BLAS-sized pieces, no N x p temporary)."""
    n, p = data.x.shape
    first = np.empty((min(n, _CHUNK_ROWS), p))
    second = np.empty_like(first)
    for rows in _row_chunks(n):
        m = rows.stop - rows.start
        yield rows, first[:m], second[:m]


def _row_chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, _CHUNK_ROWS):
        yield slice(start, min(n, start + _CHUNK_ROWS))


def _reverse_cumsum(values: np.ndarray, strata: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Σ_{j ≥ k} within each stratum's bin range (inclusive)."""
    out = np.empty_like(values)
    for first, last in strata:
        out[first:last] = np.cumsum(values[first:last][::-1], axis=0)[::-1]
    return out


def _forward_cumsum(
    values: np.ndarray, strata: tuple[tuple[int, int], ...], *, inclusive: bool
) -> np.ndarray:
    """Σ_{j ≤ k} (inclusive) or Σ_{j < k} (exclusive) within each stratum's bin range."""
    out = np.zeros_like(values)
    for first, last in strata:
        total = np.cumsum(values[first:last], axis=0)
        if inclusive:
            out[first:last] = total
        else:
            out[first + 1 : last] = total[:-1]
    return out


def risk_set_sums(data: FineGrayData, beta: np.ndarray, *, first_moment: bool = True) -> RiskSums:
    """S0(t) (and S1(t)) at every bin: Fine & Gray (1999) §2's weighted risk set."""
    parallel = data.weights.size >= _PARALLEL_ROWS
    kernel = kernels.risk_bins_parallel if parallel else kernels.risk_bins_serial
    risk, every, competing = kernel(
        data.x,
        data.center,
        beta,
        data.weights,
        data.row_bin,
        data.inverse_g,
        data.n_bins,
        first_moment,
        numba.get_num_threads() if parallel else 1,
    )
    f = _forward_cumsum(competing, data.strata, inclusive=False)
    s = _reverse_cumsum(every, data.strata) + data.g_before[:, None] * f
    return RiskSums(risk=risk, s0=s[:, 0], s1=s[:, 1:], f0=f[:, 0], f1=f[:, 1:])


def loglik(data: FineGrayData, beta: np.ndarray) -> float:
    """Breslow log pseudo-likelihood Σ_events wxβ - Σ_t d(t) log S0(t), as crr's `loglik`."""
    sums = risk_set_sums(data, beta, first_moment=False)
    failing = data.n_cause > 0
    return float(data.cause_x @ beta - data.n_cause[failing] @ np.log(sums.s0[failing]))


def _hazard_and_mean(data: FineGrayData, sums: RiskSums) -> tuple[np.ndarray, np.ndarray]:
    """dΛ(t) = d(t)/S0(t) and x̄(t) = S1/S0 per bin (zero where no event of the cause)."""
    failing = data.n_cause > 0
    s0 = np.where(failing, sums.s0, 1.0)
    hazard = np.where(failing, data.n_cause / s0, 0.0)
    return hazard, np.where(failing[:, None], sums.s1 / s0[:, None], 0.0)


def loglik_score_information(
    data: FineGrayData, beta: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score U(β) and information I(β) = Σ_t d(t) V(t)/S0(t).

    I(β) = Σᵢ aᵢxᵢxᵢᵀ - Σ_t d(t)x̄(t)x̄(t)ᵀ with aᵢ = wᵢe^{xᵢβ}[Λ(Tᵢ) + cᵢ/G(Tᵢ-) Σ_{t>Tᵢ}
    G(t-)dΛ(t)]: the sum over event times of S2/S0 regrouped by subject.
    """
    return _loglik_score_information(data, beta, risk_set_sums(data, beta))


def _loglik_score_information(
    data: FineGrayData, beta: np.ndarray, sums: RiskSums
) -> tuple[float, np.ndarray, np.ndarray]:
    hazard, xbar = _hazard_and_mean(data, sums)
    failing = data.n_cause > 0
    value = float(data.cause_x @ beta - data.n_cause[failing] @ np.log(sums.s0[failing]))
    score = data.cause_x - data.n_cause @ xbar
    cumulative = _forward_cumsum(hazard, data.strata, inclusive=True)
    weighted = hazard * data.g_before
    after = _reverse_cumsum(weighted, data.strata) - weighted
    information = -(xbar.T * data.n_cause) @ xbar
    for rows, x, scratch in _row_buffers(data):
        kernels.information_rows(
            data.x,
            data.center,
            sums.risk,
            data.row_bin,
            data.inverse_g,
            cumulative,
            after,
            rows.start,
            x,
            scratch,
        )
        information += x.T @ scratch
    return value, score, (information + information.T) / 2


def sandwich(data: FineGrayData, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, information I and meat at β, from one pass of risk-set sums."""
    sums = risk_set_sums(data, beta)
    value, _, information = _loglik_score_information(data, beta, sums)
    return value, information, _meat(data, sums)


def residual_bin_terms(data: FineGrayData, sums: RiskSums) -> tuple[np.ndarray, np.ndarray]:
    """The per-bin parts of the score residuals Uᵢ (see `_meat`); bin-level fields only.

    Scalars (bins, 2): Λ(t), Σ_{s>t}G(s-)dΛ(s). Vectors (5, bins, p): x̄, Σ_{s≤t}dΛ x̄,
    Σ_{s>t}G dΛ x̄, q/Y and the censoring compensator. Also used by the Spark engine.
    """
    hazard, xbar = _hazard_and_mean(data, sums)
    weighted = hazard * data.g_before
    cumulative = _forward_cumsum(hazard, data.strata, inclusive=True)
    cumulative_x = _forward_cumsum(hazard[:, None] * xbar, data.strata, inclusive=True)
    from_here = _reverse_cumsum(weighted, data.strata)
    from_here_x = _reverse_cumsum(weighted[:, None] * xbar, data.strata)
    q_over_y = (sums.f1 * from_here[:, None] - sums.f0[:, None] * from_here_x) / data.n_at_risk[
        :, None
    ]
    compensator = _forward_cumsum(
        q_over_y * (data.n_censored / data.n_at_risk)[:, None], data.strata, inclusive=True
    )
    scalars = np.column_stack((cumulative, from_here - weighted))
    vectors = np.stack(
        (xbar, cumulative_x, from_here_x - weighted[:, None] * xbar, q_over_y, compensator)
    )
    return scalars, vectors


def _meat(data: FineGrayData, sums: RiskSums) -> np.ndarray:
    """The meat Σ wᵢUᵢUᵢᵀ, Uᵢ = ηᵢ + ψᵢ, of var(β̂) = I⁻¹·meat·I⁻¹ (crr's `var`).

    Fine & Gray (1999) §3: ηᵢ = δᵢ(xᵢ - x̄(Tᵢ)) - ∫(xᵢ - x̄(t))rᵢ(t)dΛ(t), rᵢ(t) = e^{xᵢβ}
    [I(Tᵢ ≥ t) + cᵢG(t-)/G(Tᵢ-)I(Tᵢ < t)]; ψᵢ = ∫q(u)/Y(u)dMᶜᵢ(u), the term for the
    estimated G, q(u) = Σ_{t ≥ u} G(t-)dΛ(t) Σ_{competing, Tⱼ < u} wⱼe^{xⱼβ}(xⱼ - x̄(t))/G(Tⱼ-).
    Each Uᵢ = xᵢαᵢ + (per-bin vectors), built row by row in one compiled pass. Case weights act as
    replication counts, so integer weights equal replicated rows.
    """
    scalars, vectors = residual_bin_terms(data, sums)
    exp_eta = sums.risk / data.weights
    competing = exp_eta * data.inverse_g
    p = data.x.shape[1]
    meat = np.zeros((p, p))
    for rows, residuals, weighted in _row_buffers(data):
        kernels.score_residual_rows(
            data.x,
            data.center,
            data.status,
            data.row_bin,
            exp_eta,
            competing,
            scalars,
            vectors,
            data.weights,
            rows.start,
            residuals,
            weighted,
        )
        meat += residuals.T @ weighted
    return (meat + meat.T) / 2
