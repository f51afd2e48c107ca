"""Standardised risk from a Cox fit with its influence function, as ``riskRegression::ate``.

For rows j = 1..n of the fit, level a and time t, with r = e^{(x−c)β}, Λ0 the baseline
hazard at x = c (``baseline.py``, R ``survfit.coxph`` conventions) and S_i = e^{−Λ0(t) r_i}:

    F_a(t) = (1/n) Σ_i (1 − S_i)
    IF_j = (1 − S_j) − F_a + n·A_s(j)·m_j(t) + (B − Σ_s A_s H_s(t))ᵀ ψβ_j

with A_s = (1/n) Σ_{i∈s} S_i r_i, B = (1/n) Σ_i S_i Λ0 r_i (x_i − c), H_s(t) = Σ_{u≤t} x̄ dΛ0
(stratum s), ψβ_j = n·I⁻¹U_j (U the score residual, R's ``residuals(fit, "score")``) and
m_j(t) = δ_j 1{T_j ≤ t}/S0(T_j) − r_j Σ_{u ≤ min(t, T_j)} dΛ0(u)/S0(u) the martingale term of
Λ̂0 (Ozenne et al. 2017, R Journal 9:440, sec. "Influence function"). Var = Σ_j IF_j IF_jᵀ/n².
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.survival.baseline import BaselineHazard, baseline_hazard
from cohortcalc.survival.riskset import at_risk_sums, risk_set_sums, score_residuals_by_cluster


def cox_standardized(
    fit: Any, data: pl.DataFrame, exposure: str, levels: list[Any], horizons: tuple[float, ...]
) -> tuple[tuple[np.ndarray, np.ndarray], int, str]:
    """(risk levels x times, covariance times x levels x levels), rows used, method text."""
    from cohortcalc.effects.standardized import coded, set_exposure

    _refuse_unsupported(fit)
    kept = fit.fit_data
    strata = list(fit.strata or ())
    rows = coded(fit, kept.design, data, strata)
    used = _matching_rows(fit, kept, data, rows.missing)
    pieces = _Pieces.build(fit, rows.matrix[used], rows.stratum[used])
    _check_follow_up(fit, kept, pieces.base, pieces.stratum, horizons)
    settings = []
    for level in levels:
        matrix = coded(fit, kept.design, set_exposure(data, exposure, level), strata).matrix
        shifted = matrix[used] - pieces.base.center
        settings.append((shifted, np.exp(np.einsum("ij,j->i", shifted, kept.beta))))
    risk = np.empty((len(levels), len(horizons)))
    cov = np.empty((len(horizons), len(levels), len(levels)))
    for k, horizon in enumerate(horizons):
        risk[:, k], influence = pieces.influence(horizon, settings)
        cov[k] = np.einsum("ia,ib->ab", influence, influence) / pieces.n**2
    method = (
        f"g-computation from the Cox fit ({fit.ties}; baseline hazard as R survfit.coxph); "
        "influence-function SEs as riskRegression::ate"
    )
    return (risk, cov), pieces.n, method


@dataclass(frozen=True)
class _Pieces:
    """What the influence function needs at any time: the fit's rows (input order) with
    their stratum, e^{(x−c)β}, exit bin, event and time; ψβ; the baseline hazard and the
    per-bin event terms of its martingale part (jump/W, and Efron's tied term)."""

    n: int
    stratum: np.ndarray
    score: np.ndarray
    exit_bin: np.ndarray
    event: np.ndarray
    time: np.ndarray
    psi_beta: np.ndarray
    base: BaselineHazard
    per_event: np.ndarray
    per_event_score: np.ndarray

    @classmethod
    def build(cls, fit: Any, matrix: np.ndarray, stratum: np.ndarray) -> _Pieces:
        kept = fit.fit_data
        n, beta = matrix.shape[0], kept.beta
        base = baseline_hazard(fit.baseline_terms())
        vcov = (fit.naive_vcov if fit.naive_vcov is not None else fit.vcov).to_numpy()
        residuals = score_residuals_by_cluster(kept.likelihood, beta, np.arange(n), n)
        starts = base.stratum_start[:-1]
        jump = np.diff(base.cumhaz, prepend=0.0)
        jump[starts] = base.cumhaz[starts]
        weight = kept.likelihood.index.death_weight
        return cls(
            n=n,
            stratum=stratum,
            score=np.exp(np.einsum("ij,j->i", matrix - base.center, beta)),
            exit_bin=_bin_of(base, stratum, kept.time),
            event=kept.event,
            time=kept.time,
            psi_beta=n * np.einsum("ij,jk->ik", residuals, vcov),
            base=base,
            per_event=jump / np.where(weight > 0, weight, 1.0),
            per_event_score=_efron_tied_term(kept.likelihood, beta),
        )

    def influence(
        self, horizon: float, settings: list[tuple[np.ndarray, np.ndarray]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """F_a(t) per level and the n x levels influence values at ``horizon``."""
        base, n = self.base, self.n
        at = _bin_of(base, self.stratum, np.full(n, horizon))
        cumhaz = np.where(at >= 0, base.cumhaz[np.maximum(at, 0)], 0.0)
        upto = np.minimum(at, self.exit_bin)
        died = self.event & (self.time <= horizon) & (self.exit_bin >= 0)
        own = np.maximum(self.exit_bin, 0)
        martingale = np.where(died, self.per_event[own] + self.score * self.per_event_score[own], 0)
        martingale -= self.score * np.where(upto >= 0, base.cumvar[np.maximum(upto, 0)], 0.0)
        xbar_at = _per_stratum_at(base, horizon)  # H_s(t), strata x p
        n_strata = xbar_at.shape[0]
        risk = np.empty(len(settings))
        influence = np.empty((n, len(settings)))
        for a, (shifted, score_a) in enumerate(settings):
            surv = np.exp(-cumhaz * score_a)
            risk[a] = np.mean(1.0 - surv)
            weight = np.bincount(self.stratum, weights=surv * score_a, minlength=n_strata) / n
            slope = np.einsum("i,ij->j", surv * cumhaz * score_a, shifted) / n - weight @ xbar_at
            influence[:, a] = (
                (1.0 - surv)
                - risk[a]
                + n * weight[self.stratum] * martingale
                + np.einsum("ij,j->i", self.psi_beta, slope)
            )
        return risk, influence


def _efron_tied_term(likelihood: Any, beta: np.ndarray) -> np.ndarray:
    """Per bin, Σ_m (W/d)(m/d)/den_m² over Efron's d tied terms (0 for Breslow or one death):
    an event's own e^{xβ} leaves the Efron denominators den_m = S0 − (m/d)·D0, so the
    derivative of the hazard jump by its weight gains e^{xβ} times this sum."""
    index = likelihood.index
    n_deaths = index.n_deaths
    out = np.zeros(n_deaths.shape[0])
    if not likelihood.efron or not np.any(n_deaths > 1):
        return out
    by_exit, tied = risk_set_sums(likelihood.matrix, beta, index, events=True)
    at_risk = at_risk_sums(by_exit, index)
    tied_bins = np.flatnonzero(n_deaths > 1)
    count = n_deaths[tied_bins]
    bins = np.repeat(tied_bins, count)
    frac = (np.arange(bins.shape[0]) - np.repeat(np.cumsum(count) - count, count)) / n_deaths[bins]
    den = at_risk[bins, 0] - frac * tied[bins, 0]
    weight = index.death_weight[bins] / n_deaths[bins]
    out += np.bincount(bins, weights=weight * frac / den**2, minlength=out.shape[0])
    return out


def _refuse_unsupported(fit: Any) -> None:
    for what, name in (("entry", fit.entry), ("weights", fit.weights), ("cluster", fit.cluster)):
        if name is not None:
            raise ModelError(
                f"cc.standardized_risk does not handle a Cox fit with {what}={name!r}: its "
                "influence function (as riskRegression::ate) is for independent rows without "
                f"{what}. Refit without {what} to standardise."
            )


def _matching_rows(fit: Any, kept: Any, data: pl.DataFrame, missing: np.ndarray) -> np.ndarray:
    """The rows of ``data`` the fit used, checked to be the fit's own rows in order."""
    for name in (fit.time, fit.event):
        if name not in data.columns:
            raise ModelError(f"frame has no column {name!r}; pass the frame the fit was fitted on.")
    time = data[fit.time].cast(pl.Float64, strict=False)
    event = data[fit.event]
    used = ~missing & time.is_not_null().to_numpy() & event.is_not_null().to_numpy()
    values = time.to_numpy()[used]
    if values.shape != kept.time.shape or not np.array_equal(values, kept.time):
        raise ModelError(
            f"frame is not the frame the fit was fitted on: {int(used.sum())} complete rows "
            f"(column {fit.time!r}) where the fit used {kept.time.shape[0]}, or in another "
            "order. Pass the fitting frame: the standardised risk averages over its rows."
        )
    return used


def _bin_of(base: BaselineHazard, stratum: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Per row, the last bin of its stratum with bin time ≤ its ``time`` (-1: none)."""
    out = np.full(stratum.shape[0], -1, dtype=np.int64)
    for s, (first, last) in enumerate(itertools.pairwise(base.stratum_start)):
        mine = stratum == s
        out[mine] = first + np.searchsorted(base.time[first:last], time[mine], side="right") - 1
        out[mine & (out < first)] = -1
    return out


def _per_stratum_at(base: BaselineHazard, horizon: float) -> np.ndarray:
    """H_s(t) = Σ_{u ≤ t} x̄ dΛ0 for each stratum (strata x p)."""
    starts = base.stratum_start
    out = np.zeros((starts.shape[0] - 1, base.cumxbar.shape[1]))
    for s, (first, last) in enumerate(itertools.pairwise(starts)):
        k = first + np.searchsorted(base.time[first:last], horizon, side="right") - 1
        if k >= first:
            out[s] = base.cumxbar[k]
    return out


def _check_follow_up(
    fit: Any, kept: Any, base: BaselineHazard, stratum: np.ndarray, horizons: tuple[float, ...]
) -> None:
    """A horizon past a stratum's last follow-up time has no estimate there."""
    last = np.full(base.stratum_start.shape[0] - 1, -np.inf)
    np.maximum.at(last, stratum, kept.time)
    beyond = [(t, s) for t in horizons for s in range(last.shape[0]) if t > last[s]]
    if beyond:
        t, s = beyond[0]
        where = f" in stratum {s} of {list(fit.strata)}" if fit.strata else ""
        raise ModelError(
            f"time {t:g} is beyond the last follow-up time {last[s]:g}{where} ({fit.time!r}); "
            "the baseline hazard is not estimated there. Choose times within follow-up."
        )
