"""The baseline cumulative hazard of a Cox fit and its variance pieces, from risk-set sums.

Built from the per-time sums at the final β only — S0, S1 over the risk set and D0, D1 over
the events tied at t — so a distributed engine that supplies those sums gets the same curve.
Conventions are R ``survfit.coxph``'s (survival 3.5, ``agsurv``): for a Breslow fit the
Nelson–Aalen-type increment W/S0 with variance W/S0² and x̄ term (S1/S0)·W/S0; for an Efron
fit the Fleming–Harrington correction, d terms with denominators S0 − (j/d)·D0 (Therneau &
Grambsch 2000, sec. 10.2; Kalbfleisch & Prentice 2002, sec. 4.3).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cohortcalc.survival.riskset import CoxLikelihood, at_risk_sums, risk_set_sums


@dataclass(frozen=True)
class BaselineHazard:
    """Cumulative baseline hazard at each distinct event time, by stratum, at centred x.

    Arrays run over the fit's bins (distinct event times ordered by stratum, time);
    ``stratum_start[s]:stratum_start[s+1]`` are stratum s's bins. ``cumhaz`` is Λ0(t) for
    x = ``center``; ``cumvar`` the cumulated Σ W/den² (R's ``cumsum(varhaz)``); ``cumxbar``
    (bins x p) the cumulated Σ hazard·x̄ (R's ``xbar``), with x centred at ``center``.
    """

    time: np.ndarray
    stratum_start: np.ndarray
    cumhaz: np.ndarray
    cumvar: np.ndarray
    cumxbar: np.ndarray
    center: np.ndarray


def baseline_hazard(likelihood: CoxLikelihood, beta: np.ndarray) -> BaselineHazard:
    """Λ0 and its variance pieces from one pass of risk-set sums at ``beta``."""
    index = likelihood.index
    p = likelihood.matrix.shape[1]
    by_exit, tied = risk_set_sums(likelihood.matrix, beta, index, events=True)
    at_risk = at_risk_sums(by_exit, index)
    return hazard_from_sums(
        at_risk[:, : p + 1],
        tied[:, : p + 1],
        index.n_deaths,
        index.death_weight,
        index.bin_time,
        index.stratum_start,
        likelihood.center,
        efron=likelihood.efron,
    )


def hazard_from_sums(
    at_risk: np.ndarray,
    tied: np.ndarray,
    n_deaths: np.ndarray,
    death_weight: np.ndarray,
    bin_time: np.ndarray,
    stratum_start: np.ndarray,
    center: np.ndarray,
    *,
    efron: bool,
) -> BaselineHazard:
    """The increments from per-bin (S0, S1) over the risk set and (D0, D1) over the tied
    events (``at_risk``/``tied``: bins x (1 + p)), as R ``agsurv`` (survtype/vartype 2 or 3).

    With d tied events of total weight W, term j = 0..d-1 (Efron; one term for Breslow) has
    den_j = S0 − (j/d)·D0 and adds W/d/den_j to the hazard, W/d/den_j² to its variance and
    W/d·(S1 − (j/d)·D1)/den_j² to the x̄ term.
    """
    terms = np.where(efron & (n_deaths > 1), n_deaths, 1).astype(np.int64)
    bins = np.repeat(np.arange(n_deaths.shape[0]), terms)
    first = np.repeat(np.cumsum(terms) - terms, terms)
    frac = (np.arange(bins.shape[0]) - first) / np.maximum(n_deaths[bins], 1)
    frac = np.where(terms[bins] > 1, frac, 0.0)
    weight = death_weight[bins] / terms[bins]
    den = at_risk[bins, 0] - frac * tied[bins, 0]
    s1 = at_risk[bins, 1:] - frac[:, None] * tied[bins, 1:]
    n_bins = n_deaths.shape[0]
    hazard = np.bincount(bins, weights=weight / den, minlength=n_bins)
    variance = np.bincount(bins, weights=weight / den**2, minlength=n_bins)
    xbar_terms = s1 * (weight / den**2)[:, None]
    xbar = np.column_stack(
        [np.bincount(bins, weights=xbar_terms[:, i], minlength=n_bins) for i in range(s1.shape[1])]
    ).reshape(n_bins, s1.shape[1])
    return BaselineHazard(
        time=bin_time,
        stratum_start=stratum_start,
        cumhaz=_cumsum_by_stratum(hazard, stratum_start),
        cumvar=_cumsum_by_stratum(variance, stratum_start),
        cumxbar=_cumsum_by_stratum(xbar, stratum_start),
        center=center,
    )


def _cumsum_by_stratum(values: np.ndarray, stratum_start: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    for first, last in itertools.pairwise(stratum_start):
        out[first:last] = np.cumsum(values[first:last], axis=0)
    return out
