"""The Cox engine core: risk-set sums aggregated by distinct event time, arrays only.

Each Newton step needs, per stratum and distinct event time t, S0 = Σ w·e^{xβ},
S1 = Σ w·x·e^{xβ}, S2 = Σ w·xxᵀ·e^{xβ} over the risk set and the same sums over the events
tied at t (Efron). One pass adds every row into the bin of its exit time (and subtracts it at
the bin of its entry time, for delayed entry / (start, stop] rows); reverse cumulative sums over
the bins then give the risk-set sums (DESIGN.md, "aggregate by distinct time"). No N×N, memory
O(T·p²). The rows are put in bin order once per fit (an O(N) counting sort; rows never at risk
at an event time are left out), so each pass streams the matrix and keeps the current bin's
sums in cache. Formulas: Therneau & Grambsch (2000), ch. 3; Efron (1977).

The per-row passes (``risk_set_sums``, the cluster score sums) are what ``CoxLikelihood``
supplies as ``engine.CoxSums``; a distributed engine supplies the same sums its own way, and
``partial_likelihood``, ``robust_meat`` and ``baseline_terms`` work on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortcalc.survival import _kernels, _layout


@dataclass(frozen=True)
class RiskSetIndex:
    """Per-row bin indices and per-bin event counts, prepared once per fit.

    Bins are the distinct event times, ordered by (stratum, time); ``stratum_start[s]`` is the
    first bin of stratum s. ``rows`` lists the input rows that are at risk at some event time,
    in bin order, events first within a bin; the per-row arrays below follow that order, and
    bin k holds rows ``bin_start[k]:bin_start[k+1]``, its events ending at ``bin_events_end[k]``.
    ``stop_bin`` is the last bin whose time is <= the row's exit time; ``entry_bin`` the last
    bin whose time is <= the row's entry time (-1: at risk from the start of its stratum).
    """

    rows: np.ndarray
    stop_bin: np.ndarray
    entry_bin: np.ndarray | None
    event: np.ndarray
    weights: np.ndarray
    bin_time: np.ndarray
    stratum_start: np.ndarray
    bin_start: np.ndarray
    bin_events_end: np.ndarray
    n_deaths: np.ndarray
    death_weight: np.ndarray

    @property
    def n_bins(self) -> int:
        return int(self.bin_time.shape[0])


def prepare_risk_sets(
    time: np.ndarray,
    event: np.ndarray,
    *,
    strata: np.ndarray | None = None,
    entry: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> RiskSetIndex:
    """Bin every row by distinct event time within stratum (strata: integer codes 0..S-1)."""
    time = np.ascontiguousarray(time, dtype=np.float64)
    event = np.ascontiguousarray(event, dtype=np.bool_)
    n = time.shape[0]
    codes = (
        np.zeros(n, dtype=np.int64)
        if strata is None
        else np.ascontiguousarray(strata, dtype=np.int64)
    )
    n_strata = int(codes.max()) + 1 if n else 1
    integral, lo, hi = _kernels.integer_range(time)
    if entry is not None:
        entry = np.ascontiguousarray(entry, dtype=np.float64)
        entry_integral, entry_lo, entry_hi = _kernels.integer_range(entry)
        integral, lo, hi = integral and entry_integral, min(lo, entry_lo), max(hi, entry_hi)
    if not (integral and (hi - lo + 1) * n_strata <= 4 * n + 4096):
        lo, hi = 0, -1  # no lookup table: sort the event times and search
    bin_time, bin_stratum = _distinct_event_times(time, event, codes, n_strata, lo, hi)
    stratum_start = np.searchsorted(bin_stratum, np.arange(n_strata + 1))
    stop_bin = _kernels.locate_bins(time, codes, bin_time, stratum_start, lo, hi)
    entry_bin = None
    if entry is not None:
        entry_bin = _kernels.locate_bins(entry, codes, bin_time, stratum_start, lo, hi)
        stop_bin[stop_bin <= entry_bin] = -1  # no event time in (entry, exit]
    w = np.ones(n) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    rows, bin_start, n_deaths, death_weight, stop_bin, event = _layout.bin_layout(
        stop_bin, event, w, bin_time.shape[0]
    )
    return RiskSetIndex(
        rows=rows,
        stop_bin=stop_bin,
        entry_bin=None if entry_bin is None else entry_bin[rows],
        event=event,
        weights=np.ones(rows.shape[0]) if weights is None else w[rows],
        bin_time=bin_time,
        stratum_start=stratum_start.astype(np.int64),
        bin_start=bin_start,
        bin_events_end=bin_start[:-1] + n_deaths,
        n_deaths=n_deaths,
        death_weight=death_weight,
    )


def _distinct_event_times(
    time: np.ndarray, event: np.ndarray, codes: np.ndarray, n_strata: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct (stratum, time) pairs among the events: (bin_time, bin_stratum)."""
    if lo <= hi:
        return _kernels.integer_event_bins(time, event, codes, n_strata, lo, hi)
    event_time, event_stratum = time[event], codes[event]
    order = np.lexsort((event_time, event_stratum))
    event_time, event_stratum = event_time[order], event_stratum[order]
    new_bin = np.ones(event_time.shape[0], dtype=bool)
    new_bin[1:] = (np.diff(event_time) != 0) | (np.diff(event_stratum) != 0)
    return event_time[new_bin], event_stratum[new_bin]


def risk_set_sums(
    matrix: np.ndarray, beta: np.ndarray, index: RiskSetIndex, *, events: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin sums of w·e^{xβ}·a aᵀ with a = (1, x): rows added at exit, subtracted at entry.
    Returns ``(by_exit, events_only)``, each n_bins x (p+1)² (S0, S1, S2 in the q x q layout
    of ``_kernels``); ``events_only`` (the Efron tie sums) is empty unless ``events``.

    ``matrix`` is ``CoxLikelihood.matrix``: the centred rows of ``index.rows``, in bin order.
    This is the single pass over the rows, the step a distributed engine replaces.
    """
    if matrix.shape[0] != index.rows.shape[0]:
        raise ValueError("risk_set_sums needs the rows of index.rows, in bin order")
    threads = _layout.thread_count(matrix.shape[0])
    entry_bin = index.entry_bin if index.entry_bin is not None else index.stop_bin[:0]
    return _kernels.bin_sums(
        matrix,
        np.ascontiguousarray(beta, dtype=np.float64),
        index.bin_start,
        index.bin_events_end,
        entry_bin,
        index.weights,
        events,
        max(1, min(threads, index.n_bins)),
    )


def at_risk_sums(by_exit: np.ndarray, index: RiskSetIndex) -> np.ndarray:
    """Reverse cumulative sums over bins within each stratum: the risk-set sums per event time."""
    return _kernels.reverse_cumsum_by_stratum(by_exit, index.stratum_start)


def event_time_terms(
    at_risk: np.ndarray, events_only: np.ndarray, index: RiskSetIndex, *, efron: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin log-denominator, mean-covariate and information terms (Efron or Breslow).

    With d tied events of total weight W and a = W/d, term j = 0..d-1 uses the denominator
    S0 - (j/d)·D0 (Efron 1977; R coxfit6): returns Σ_j a·log(den_j), Σ_j a·x̄_j and the flat
    p x p Σ_j a·(S2_j/den_j - x̄_j x̄_jᵀ), one row per bin.
    """
    return _kernels.event_time_terms(
        at_risk, events_only, index.n_deaths, index.death_weight, efron
    )


@dataclass(frozen=True)
class CoxLikelihood:
    """The partial log-likelihood, score and information at β, for the Newton driver.

    ``matrix`` holds x - center for the rows of ``index.rows``, in that order (R centres the
    covariates too; centring changes no result, only the rounding)."""

    matrix: np.ndarray
    index: RiskSetIndex
    efron: bool
    center: np.ndarray
    event_sum: np.ndarray  # Σ over events of w·(x - center), constant over iterations
    cluster: np.ndarray | None = None  # cluster code per input row (None: per row)

    @classmethod
    def build(cls, matrix: np.ndarray, index: RiskSetIndex, *, efron: bool) -> CoxLikelihood:
        """Copy the rows that enter the risk sets, in bin order, and centre them at their
        weighted means (one gather; ``matrix`` is left as it was)."""
        ordered = np.take(np.asarray(matrix, dtype=np.float64), index.rows, axis=0)
        center = (index.weights @ ordered) / index.weights.sum()
        ordered -= center
        event_sum = _kernels.event_sums(ordered, index.event, index.weights)
        return cls(ordered, index, efron, center, event_sum)

    @classmethod
    def from_ordered(cls, matrix: np.ndarray, index: RiskSetIndex, *, efron: bool) -> CoxLikelihood:
        """Take over ``matrix``, whose rows already are ``index.rows`` in order (as
        ``build_design(..., row_order=)`` makes it), and centre it IN PLACE."""
        if matrix.shape[0] != index.rows.shape[0] or matrix.dtype != np.float64:
            raise ValueError("from_ordered needs the float64 rows of index.rows, in bin order")
        threads = _layout.thread_count(matrix.shape[0])
        center, event_sum = _layout.center_in_place(matrix, index.weights, index.event, threads)
        return cls(matrix, index, efron, center, event_sum)

    def __call__(self, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return partial_likelihood(self, beta, efron=self.efron)

    def bin_sums(self, beta: np.ndarray, *, events: bool) -> tuple[np.ndarray, np.ndarray]:
        """``engine.CoxSums.bin_sums``: ``risk_set_sums`` of these rows."""
        return risk_set_sums(self.matrix, beta, self.index, events=events)

    def score_products(
        self, beta: np.ndarray, hazards: np.ndarray, cumulative: np.ndarray
    ) -> np.ndarray:
        """``engine.CoxSums.score_products``: Σ_clusters UᵀU of the score residuals."""
        index = self.index
        codes = np.arange(index.rows.shape[0]) if self.cluster is None else self.cluster
        n_clusters = int(codes.max()) + 1 if codes.size else 0
        rows = index.rows if self.cluster is not None else np.arange(index.rows.shape[0])
        scores = _cluster_scores(self, beta, hazards, cumulative, codes[rows], n_clusters)
        return scores.T @ scores


def partial_likelihood(
    sums: Any, beta: np.ndarray, *, efron: bool
) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information at β from an ``engine.CoxSums``."""
    index = sums.index
    p = sums.event_sum.shape[0]
    by_exit, events_only = sums.bin_sums(beta, events=efron)
    _kernels.reverse_cumsum_in_place(by_exit, index.stratum_start)  # now the at-risk sums
    rows = index.rows.shape[0] if index.rows.shape[0] > index.n_bins else index.n_bins
    log_den, mean_x, info = _kernels.event_time_terms(
        by_exit,
        events_only,
        index.n_deaths,
        index.death_weight,
        efron,
        per_bin=False,
        n_chunks=_layout.thread_count(rows),
    )
    loglik = float(sums.event_sum @ beta - log_den[0])
    score = sums.event_sum - mean_x[0]
    information = info[0].reshape(p, p)
    return loglik, score, (information + information.T) / 2.0


def hazard_pieces(
    sums: Any, beta: np.ndarray, *, efron: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(at_risk, events_only, hazards, cumulative)`` at β: the at-risk sums per bin, the
    tied events' sums, and the per-bin hazard terms of ``_kernels.hazard_terms`` with their
    forward cumulative sums within stratum (the pieces of score residuals and baselines)."""
    index = sums.index
    by_exit, events_only = sums.bin_sums(beta, events=True)
    at_risk = at_risk_sums(by_exit, index)
    hazards = _kernels.hazard_terms(at_risk, events_only, index.n_deaths, index.death_weight, efron)
    cumulative = _kernels.forward_cumsum_by_stratum(hazards, index.stratum_start)
    return at_risk, events_only, hazards, cumulative


def robust_meat(sums: Any, beta: np.ndarray, *, efron: bool) -> np.ndarray:
    """Σ_clusters UᵀU of the weighted score residuals summed within cluster, as R's
    ``cluster()`` (Lin & Wei 1989; coxscore2/agscore); the sandwich is V·meat·V."""
    _, _, hazards, cumulative = hazard_pieces(sums, beta, efron=efron)
    return sums.score_products(beta, hazards, cumulative)


@dataclass(frozen=True)
class BaselineTerms:
    """The baseline-hazard pieces of a fit at its β, per bin (distinct event time within
    stratum), covariates centred at ``center``: ``time``, ``stratum``, the number and weight
    of events, S0 = Σ_risk w·e^{(x-c)β}, x̄ = S1/S0, and the hazard increment at x = c with
    the fit's ties, dΛ₀ = Σ_j a/den_j (Efron: den_j = S0 - (j/d)·D0, a = W/d; Breslow: W/S0),
    its variance term Σ_j a/den_j² (R ``agsurv``'s ``varhaz``) and Σ_j (a/den_j)·x̄_j, the
    terms of R's ``survfit.coxph`` and its variance (Therneau & Grambsch 2000, sec. 10.2)."""

    time: np.ndarray
    stratum: np.ndarray
    n_events: np.ndarray
    event_weight: np.ndarray
    s0: np.ndarray
    mean_x: np.ndarray
    hazard: np.ndarray
    hazard_mean_x: np.ndarray
    center: np.ndarray
    hazard_variance: np.ndarray
    stratum_start: np.ndarray


def baseline_terms(sums: Any, beta: np.ndarray, *, efron: bool) -> BaselineTerms:
    """The baseline-hazard pieces of a fit from either engine's ``engine.CoxSums``."""
    index = sums.index
    p = sums.event_sum.shape[0]
    at_risk, events_only, hazards, _ = hazard_pieces(sums, beta, efron=efron)
    counts = np.diff(index.stratum_start)
    stratum = np.repeat(np.arange(counts.shape[0]), counts)
    s0 = at_risk[:, 0]
    return BaselineTerms(
        time=index.bin_time,
        stratum=stratum,
        n_events=index.n_deaths,
        event_weight=index.death_weight,
        s0=s0,
        mean_x=at_risk[:, 1 : 1 + p] / s0[:, None],
        hazard=hazards[:, 0],
        hazard_mean_x=hazards[:, 1 : 1 + p],
        center=sums.center,
        hazard_variance=_hazard_variance(
            s0, events_only[:, 0], index.n_deaths, index.death_weight, efron=efron
        ),
        stratum_start=index.stratum_start,
    )


def _hazard_variance(
    s0: np.ndarray, d0: np.ndarray, n_deaths: np.ndarray, weight: np.ndarray, *, efron: bool
) -> np.ndarray:
    """Per bin Σ_j a/den_j², den_j = S0 - (j/d)·D0, a = W/d over the d Efron terms (one term,
    den = S0, for Breslow or a single event): R ``agsurv``'s ``varhaz`` (survtype 2/3)."""
    terms = np.where(efron & (n_deaths > 1), n_deaths, 1).astype(np.int64)
    bins = np.repeat(np.arange(n_deaths.shape[0]), terms)
    step = np.arange(bins.shape[0]) - np.repeat(np.cumsum(terms) - terms, terms)
    fraction = np.where(terms[bins] > 1, step / np.maximum(n_deaths[bins], 1), 0.0)
    den = s0[bins] - fraction * d0[bins]
    return np.bincount(bins, weights=weight[bins] / terms[bins] / den**2, minlength=len(terms))


def score_residuals_by_cluster(
    likelihood: CoxLikelihood, beta: np.ndarray, cluster: np.ndarray, n_clusters: int
) -> np.ndarray:
    """Weighted score residuals summed within cluster (n_clusters x p), as R's
    ``residuals(fit, "score", weighted=TRUE, collapse=cluster)`` (coxscore2/agscore).

    ``cluster`` has one code per input row (rows never at risk have a zero residual)."""
    _, _, hazards, cumulative = hazard_pieces(likelihood, beta, efron=likelihood.efron)
    codes = np.ascontiguousarray(cluster, dtype=np.int64)[likelihood.index.rows]
    return _cluster_scores(likelihood, beta, hazards, cumulative, codes, n_clusters)


def _cluster_scores(
    likelihood: CoxLikelihood,
    beta: np.ndarray,
    hazards: np.ndarray,
    cumulative: np.ndarray,
    codes: np.ndarray,
    n_clusters: int,
) -> np.ndarray:
    """The compiled pass: per cluster (``codes`` per row in bin order) Σ score residuals."""
    index = likelihood.index
    entry_bin = index.entry_bin if index.entry_bin is not None else index.stop_bin[:0]
    return _kernels.cluster_scores(
        likelihood.matrix,
        np.ascontiguousarray(beta, dtype=np.float64),
        index.stop_bin,
        entry_bin,
        index.event,
        index.weights,
        hazards,
        cumulative,
        np.ascontiguousarray(codes, dtype=np.int64),
        n_clusters,
    )
