"""Inverse probability of censoring weights at a horizon, and their influence.

G is the Kaplan–Meier estimate of the censoring distribution (competing events are not
censorings); events at a tied time leave the risk set before the censorings, so the factor
at u is 1 − c(u)/(Y(u) − d(u)) with Y(u) = #{T ≥ u} (as ``prodlim(reverse = TRUE)``).
A row that had an event (of any cause) by the horizon t is weighted 1/G(T−), a row still
event-free at t is weighted 1/G(t), a row censored by t weighs 0 (Graf et al. 1999; Gerds &
Schumacher 2006). Replacing G by its influence function, Nelson–Aalen form
(Gerds, Kattan, Schumacher & Yu 2013, Stat Med 32:2173, appendix),

    MC_k(s) = n·1{T_k ≤ s, censored}/Y(T_k) − Σ_{u ≤ min(T_k, s)} n·c(u)/Y(u)²,

gives the censoring part of any IPCW mean's influence; ``censoring_term`` computes
(1/n) Σᵢ eᵢ·MC_k(sᵢ) for every k at once (s = T− for events by t, s = t otherwise) in
O(n log n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Weights:
    """Per row at one horizon: ``case`` (event of the cause by t), ``other`` (competing
    event by t), ``event_free`` (T > t), and ``weight`` = 1/G(evaluation time), 0 if censored
    by t. ``time``/``censored`` are kept for the influence term."""

    horizon: float
    time: np.ndarray
    censored: np.ndarray
    case: np.ndarray
    other: np.ndarray
    event_free: np.ndarray
    weight: np.ndarray
    _distinct: np.ndarray
    _group: np.ndarray
    _at_risk: np.ndarray
    _hazard_sum: np.ndarray


def ipcw_weights(
    time: np.ndarray,
    status: np.ndarray,
    cause: int,
    horizon: float,
    case_weights: np.ndarray | None = None,
) -> Weights:
    """``status``: 0 censored, ``cause`` the event of interest, any other value competing.
    ``case_weights`` (e.g. bootstrap resample counts) enter G as replication counts."""
    n = time.shape[0]
    distinct, group = np.unique(time, return_inverse=True)
    censored = status == 0
    replicate = np.ones(n) if case_weights is None else case_weights
    count = np.bincount(group, replicate, distinct.shape[0])
    censorings = np.bincount(group, replicate * censored, distinct.shape[0])
    at_risk = np.cumsum(count[::-1])[::-1]
    after_events = at_risk - (count - censorings)
    factor = np.where(censorings > 0, 1.0 - censorings / np.maximum(after_events, 1.0), 1.0)
    survival = np.cumprod(factor)  # G(u), right-continuous
    before = np.r_[1.0, survival[:-1]]  # G(u−)
    last = np.searchsorted(distinct, horizon, side="right") - 1
    at_horizon = survival[last] if last >= 0 else 1.0
    case = (time <= horizon) & (status == cause)
    other = (time <= horizon) & ~censored & ~case
    event_free = time > horizon
    weight = np.zeros(n)
    weight[case | other] = 1.0 / before[group[case | other]]
    weight[event_free] = 1.0 / at_horizon
    increment = np.divide(n * censorings, at_risk**2, out=np.zeros_like(at_risk), where=at_risk > 0)
    hazard_sum = np.cumsum(increment)
    return Weights(
        horizon,
        time,
        censored,
        case,
        other,
        event_free,
        weight,
        distinct,
        group,
        at_risk,
        hazard_sum,
    )


def censoring_term(weights: Weights, values: np.ndarray) -> np.ndarray:
    """(1/n) Σᵢ valuesᵢ·MC_k(sᵢ) for every row k, sᵢ = Tᵢ− for events by t, t for event-free
    rows (rows censored by t carry no value)."""
    n = weights.time.shape[0]
    group, at_risk, hazard = weights._group, weights._at_risk, weights._hazard_sum
    own = n * weights.censored / at_risk[group] - hazard[group]  # MC_k(s) for T_k < s
    n_groups = at_risk.shape[0]
    before = np.r_[0.0, hazard[:-1]]  # H(T−) of each time group
    by_event = np.where(weights.case | weights.other, values, 0.0)
    per_group = np.bincount(group, by_event, n_groups)
    later = np.r_[np.cumsum(per_group[::-1])[::-1][1:], 0.0]  # Σ over events after group
    earlier = np.cumsum(per_group * -before)  # Σ over events at or before group: −H(Tᵢ−)
    event_part = own * later[group] + earlier[group]
    last = np.searchsorted(weights._distinct, weights.horizon, side="right") - 1
    at_horizon = hazard[last] if last >= 0 else 0.0
    mc_horizon = np.where(weights.time <= weights.horizon, own, -at_horizon)
    free_part = mc_horizon * np.sum(np.where(weights.event_free, values, 0.0))
    return (event_part + free_part) / n
