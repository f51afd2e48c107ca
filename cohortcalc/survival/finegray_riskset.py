"""Fine–Gray risk-set sums by distinct time: log-likelihood, score, information, sandwich.

The engine over arrays (no names, no frames). Fine & Gray (1999, JASA 94:496) keep a subject
whose competing event came at Tᵢ in the risk set at t > Tᵢ with weight G(t-)/G(Tᵢ-), G the
censoring survival (`censoring.py`). G(t-) factors out of the risk-set sum at t, so

    S_r(t) = Σ_{Tᵢ ≥ t} wᵢe^{xᵢβ}xᵢ^{⊗r} + G(t-) Σ_{competing, Tᵢ < t} wᵢe^{xᵢβ}xᵢ^{⊗r}/G(Tᵢ-)

is a reverse cumulative sum plus a forward one over per-time bins: O(N·p²) per pass, no
expanded data. Ties are Breslow's, as `cmprsk::crr`. The information matrix and the sandwich
variance (Fine & Gray 1999, §3: η for the score, ψ for the estimated G) are reorganised as
cumulative sums too, so every pass is linear in N (crr's loops are quadratic/cubic).

The local fit lays the rows out as the Cox engine does (an O(N) counting sort,
`_finegray_kernels.layout_by_key`): the design matrix is built in bin order
(`build_design(row_order=)`), competing rows first within a bin, and centred in place.
G(Tᵢ-) is constant within a bin, so one pass of the Cox engine's bin kernel
(`_kernels.bin_sums`, threads share the bins) gives both per-bin sums of
w·e^{xβ}·(1, x)^{⊗2}: over all rows, and over the competing ones.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortcalc.survival import _finegray_kernels as kernels
from cohortcalc.survival import _kernels, _layout
from cohortcalc.survival.censoring import product_limit

CENSORED, CAUSE, COMPETING = 0, 1, 2


@dataclass(frozen=True)
class FineGrayData:
    """Rows binned by distinct (stratum, time), prepared once per fit.

    `x - center` is the centred design (the fit is invariant to the shift; sums lose no
    digits). Per-bin arrays are ordered by (stratum, time); `strata` holds each stratum's bin
    range. From `prepare` the rows are in input order; from `prepare_ordered` they are in
    bin order (bin k holds rows `bin_start[k]:bin_start[k+1]`, its competing rows first, up
    to `competing_end[k]`), `x` is centred in place and `center` is 0.
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
    bin_start: np.ndarray | None = None
    competing_end: np.ndarray | None = None

    @property
    def n_bins(self) -> int:
        """Number of distinct (stratum, time) bins."""
        return int(self.g_before.size)

    def bin_moments(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``engine.FineGraySums.bin_moments``: see the module function ``bin_moments``."""
        return bin_moments(self, beta)

    def score_products(
        self, beta: np.ndarray, scalars: np.ndarray, vectors: np.ndarray
    ) -> np.ndarray:
        """``engine.FineGraySums.score_products``: Σ wᵢUᵢUᵢᵀ by one compiled row pass."""
        return _score_products(self, beta, scalars, vectors)


@dataclass(frozen=True)
class RiskSums:
    """Per-bin sums at one β: S0, S1 at every bin and the competing parts F0, F1 (Tᵢ < t).
    Per-row risks are not kept: the row passes recompute e^{xβ}."""

    s0: np.ndarray
    s1: np.ndarray
    f0: np.ndarray
    f1: np.ndarray


@dataclass(frozen=True)
class Bins:
    """The rows laid out by (stratum, time) bin, and the censoring distribution G.

    `rows` are the input rows in bin order; within a bin competing rows first, then events
    of the cause, then censored rows (bin k holds positions `bin_start[k]:bin_start[k+1]`,
    its competing rows up to `competing_end[k]`);
    `status`, `weights` and `row_bin` follow that order. Per-bin arrays as `FineGrayData`."""

    rows: np.ndarray
    status: np.ndarray
    weights: np.ndarray
    row_bin: np.ndarray
    bin_start: np.ndarray
    competing_end: np.ndarray
    strata: tuple[tuple[int, int], ...]
    g_before: np.ndarray
    n_cause: np.ndarray
    n_censored: np.ndarray
    n_at_risk: np.ndarray


def layout(
    time: np.ndarray, status: np.ndarray, weights: np.ndarray | None, strata: np.ndarray
) -> Bins:
    """Bin the rows by (stratum, time), lay them out in bin order (a counting sort, O(N);
    whole-day times need no comparison sort at all) and compute G(t-) within stratum.
    `weights` None: every row weighs 1."""
    unit = np.ones(time.size) if weights is None else None  # unit weights: in any order
    key = kernels.day_keys(time, strata, 2**16)
    if key.size == 0:
        key = kernels.sorted_keys(_sort_order(time, strata), time, strata)
    rows, row_bin, ordered_status, bin_start, competing_end, *per_bin = kernels.layout_by_key(
        key,
        int(key.max()) + 1,
        strata,
        status,
        unit if weights is None else weights,
    )
    ordered_weights = unit if weights is None else weights[rows]
    bin_stratum, total, n_censored, n_cause = per_bin
    edges = np.flatnonzero(np.r_[True, bin_stratum[1:] != bin_stratum[:-1], True])
    stratum_ranges = tuple((int(a), int(b)) for a, b in itertools.pairwise(edges))
    n_at_risk = _reverse_cumsum(total, stratum_ranges)
    g_before = np.ones(total.size)
    for first, last in stratum_ranges:
        g_before[first + 1 : last] = product_limit(
            n_at_risk[first : last - 1], n_censored[first : last - 1]
        )
    return Bins(
        rows=rows,
        status=ordered_status,
        weights=ordered_weights,
        row_bin=row_bin,
        bin_start=bin_start,
        competing_end=competing_end,
        strata=stratum_ranges,
        g_before=g_before,
        n_cause=n_cause,
        n_censored=n_censored,
        n_at_risk=n_at_risk,
    )


def prepare(
    time: np.ndarray,
    status: np.ndarray,
    x: np.ndarray,
    weights: np.ndarray,
    strata: np.ndarray,
) -> FineGrayData:
    """Bin the rows by (stratum, time) and compute G within stratum; rows stay in input order
    (x is not copied). `status` is 0/1/2 (censored/cause/competing), `strata` integer codes."""
    binned = layout(time, status, weights, strata)
    row_bin = np.empty_like(binned.row_bin)
    row_bin[binned.rows] = binned.row_bin
    cause_weights = np.where(status == CAUSE, weights, 0.0)
    total_x, cause_total_x = np.stack((weights, cause_weights)) @ x  # one pass over x
    center = total_x / weights.sum()
    ordered = _from_bins(binned, x, center, cause_total_x - cause_weights.sum() * center)
    return dataclasses.replace(
        ordered,
        weights=weights,
        status=status,
        row_bin=row_bin,
        bin_start=None,
        competing_end=None,
    )


def prepare_ordered(binned: Bins, x: np.ndarray) -> FineGrayData:
    """The fit's data from `layout`'s bins and the design matrix of `binned.rows` in that
    order (as `build_design(..., row_order=)` makes it), which is centred IN PLACE."""
    if x.shape[0] != binned.rows.shape[0] or x.dtype != np.float64:
        raise ValueError("prepare_ordered needs the float64 rows of layout().rows, in order")
    status, weights = binned.status, binned.weights
    if x.shape[0] >= _layout.PARALLEL_ROWS:
        threads = _layout.thread_count(x.shape[0])
        _, cause_x = _layout.center_in_place(x, weights, status == CAUSE, threads)
    else:  # small: no thread pool to wake (a parallel kernel pays for that even on 1 chunk)
        x -= (weights @ x) / weights.sum()
        cause_x = np.where(status == CAUSE, weights, 0.0) @ x
    return _from_bins(binned, x, np.zeros(x.shape[1]), cause_x)


def _from_bins(
    binned: Bins, x: np.ndarray, center: np.ndarray, cause_x: np.ndarray
) -> FineGrayData:
    """The data of rows in `binned`'s order: its per-row and per-bin arrays, and x."""
    return FineGrayData(
        x=x,
        center=center,
        weights=binned.weights,
        status=binned.status,
        row_bin=binned.row_bin,
        strata=binned.strata,
        g_before=binned.g_before,
        n_cause=binned.n_cause,
        n_censored=binned.n_censored,
        n_at_risk=binned.n_at_risk,
        cause_x=cause_x,
        bin_start=binned.bin_start,
        competing_end=binned.competing_end,
    )


def _sort_order(time: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Rows by (stratum, time): a comparison sort."""
    if np.all(strata == strata[0]):
        return np.argsort(time, kind="stable")
    return np.lexsort((time, strata))


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


def bin_moments(data: FineGrayData, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, Σ w·e^{(x-c)β}·a aᵀ with a = (1, x - c), flat (p+1)² in `_kernels`' layout:
    over all rows of the bin, and over its competing rows divided by G(Tᵢ-). One pass over
    rows in bin order (`prepare_ordered`); without a layout, bin_start is made here."""
    if data.bin_start is None or data.competing_end is None:
        return bin_moments(_ordered_copy(data), beta)
    every, competing = _kernels.bin_sums(
        data.x,
        np.ascontiguousarray(beta, dtype=np.float64),
        data.bin_start,
        data.competing_end,
        data.row_bin[:0],
        data.weights,
        True,
        max(1, min(_layout.thread_count(data.x.shape[0]), data.n_bins)),
    )
    competing /= data.g_before[:, None]
    return every, competing


def _ordered_copy(data: FineGrayData) -> FineGrayData:
    """The same data with its rows copied into bin order (for `prepare`'s input-order data)."""
    rows, bin_start, n_competing, _, row_bin, _ = _layout.bin_layout(
        data.row_bin, data.status == COMPETING, data.weights, data.n_bins
    )
    return dataclasses.replace(
        data,
        x=data.x[rows] - data.center,
        center=np.zeros_like(data.center),
        weights=data.weights[rows],
        status=data.status[rows],
        row_bin=row_bin,
        bin_start=bin_start,
        competing_end=bin_start[:-1] + n_competing,
    )


def risk_set_sums(data: Any, every: np.ndarray, competing: np.ndarray) -> RiskSums:
    """S0(t), S1(t) at every bin (Fine & Gray 1999 §2's weighted risk set) from the per-bin
    sums of `bin_moments`, and the competing parts F0, F1 (``data``: an
    ``engine.FineGraySums``, as in the functions below)."""
    q = data.cause_x.shape[0] + 1
    f = _forward_cumsum(competing[:, :q], data.strata, inclusive=False)
    s = _reverse_cumsum(every[:, :q], data.strata) + data.g_before[:, None] * f
    return RiskSums(s0=s[:, 0], s1=s[:, 1:], f0=f[:, 0], f1=f[:, 1:])


def loglik(data: Any, beta: np.ndarray) -> float:
    """Breslow log pseudo-likelihood Σ_events wxβ - Σ_t d(t) log S0(t), as crr's `loglik`."""
    sums = risk_set_sums(data, *data.bin_moments(beta))
    failing = data.n_cause > 0
    return float(data.cause_x @ beta - data.n_cause[failing] @ np.log(sums.s0[failing]))


def _hazard_and_mean(data: Any, sums: RiskSums) -> tuple[np.ndarray, np.ndarray]:
    """dΛ(t) = d(t)/S0(t) and x̄(t) = S1/S0 per bin (zero where no event of the cause)."""
    failing = data.n_cause > 0
    s0 = np.where(failing, sums.s0, 1.0)
    hazard = np.where(failing, data.n_cause / s0, 0.0)
    return hazard, np.where(failing[:, None], sums.s1 / s0[:, None], 0.0)


def loglik_score_information(data: Any, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, score U(β) and information I(β) = Σ_t d(t) V(t)/S0(t), one pass."""
    every, competing = data.bin_moments(beta)
    return _loglik_score_information(data, beta, every, competing)[0]


def _loglik_score_information(
    data: Any, beta: np.ndarray, every: np.ndarray, competing: np.ndarray
) -> tuple[tuple[float, np.ndarray, np.ndarray], RiskSums]:
    """I(β) = Σᵢ aᵢxᵢxᵢᵀ - Σ_t d(t)x̄(t)x̄(t)ᵀ with aᵢ = wᵢe^{xᵢβ}[Λ(Tᵢ) + cᵢ/G(Tᵢ-)
    Σ_{t>Tᵢ} G(t-)dΛ(t)] (the sum over event times of S2/S0 regrouped by subject), whose
    first part is Σ_bins Λ·(all rows' S2) + Σ_{t>bin}G dΛ·(competing rows' S2/G)."""
    sums = risk_set_sums(data, every, competing)
    hazard, xbar = _hazard_and_mean(data, sums)
    failing = data.n_cause > 0
    value = float(data.cause_x @ beta - data.n_cause[failing] @ np.log(sums.s0[failing]))
    score = data.cause_x - data.n_cause @ xbar
    cumulative = _forward_cumsum(hazard, data.strata, inclusive=True)
    weighted = hazard * data.g_before
    after = _reverse_cumsum(weighted, data.strata) - weighted
    q = xbar.shape[1] + 1
    second = (cumulative @ every + after @ competing).reshape(q, q)[1:, 1:]
    information = second - (xbar.T * data.n_cause) @ xbar
    return (value, score, (information + information.T) / 2), sums


def sandwich(data: Any, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Log-likelihood, information I and meat at β, from one pass of risk-set sums."""
    every, competing = data.bin_moments(beta)
    (value, _, information), sums = _loglik_score_information(data, beta, every, competing)
    scalars, vectors = residual_bin_terms(data, sums)
    meat = data.score_products(beta, scalars, vectors)
    return value, information, (meat + meat.T) / 2


def residual_bin_terms(data: Any, sums: RiskSums) -> tuple[np.ndarray, np.ndarray]:
    """The per-bin parts of the score residuals Uᵢ (see `_score_products`); bin-level fields only.

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


def _score_products(
    data: FineGrayData, beta: np.ndarray, scalars: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """The meat Σ wᵢUᵢUᵢᵀ, Uᵢ = ηᵢ + ψᵢ, of var(β̂) = I⁻¹·meat·I⁻¹ (crr's `var`).

    Fine & Gray (1999) §3: ηᵢ = δᵢ(xᵢ - x̄(Tᵢ)) - ∫(xᵢ - x̄(t))rᵢ(t)dΛ(t), rᵢ(t) = e^{xᵢβ}
    [I(Tᵢ ≥ t) + cᵢG(t-)/G(Tᵢ-)I(Tᵢ < t)]; ψᵢ = ∫q(u)/Y(u)dMᶜᵢ(u), the term for the
    estimated G, q(u) = Σ_{t ≥ u} G(t-)dΛ(t) Σ_{competing, Tⱼ < u} wⱼe^{xⱼβ}(xⱼ - x̄(t))/G(Tⱼ-).
    Each Uᵢ = xᵢαᵢ + (per-bin vectors), built row by row in one compiled pass (threads share
    fixed row ranges). Case weights act as replication counts, so integer weights equal
    replicated rows.
    """
    if data.bin_start is None:  # rows in input order (from `prepare`): centred copy
        data = _ordered_copy(data)
    mean_x, cumulative_x, after_x, q_over_y, compensator = vectors
    per_bin = np.stack(  # per status the constant vector, then the vectors of e and g
        (q_over_y - compensator, -mean_x - compensator, -compensator, cumulative_x, after_x),
        axis=1,
    )
    meat = kernels.score_residual_products(
        data.x,
        np.ascontiguousarray(beta, dtype=np.float64),
        data.status,
        data.row_bin,
        1.0 / data.g_before,
        scalars,
        per_bin,
        data.weights,
        _layout.thread_count(data.x.shape[0]),
    )
    return meat
