"""Test of proportional hazards: ``cc.ph_test(fit)``, the numbers of R ``cox.zph(fit)``.

Score test, at the fitted β, of adding the terms x·g(t) to the model (Grambsch & Therneau
1994; survival 3.x ``cox.zph``, default ``transform = "km"``, ``terms = TRUE``): g(t) = 1 - S(t-)
with S the pooled, unweighted Kaplan–Meier estimate, centred at its mean over the events. Each
model term is tested with its own degrees of freedom (a categorical covariate as one test),
plus a GLOBAL test of all terms. The sums come from the same per-time aggregates as the fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.survival.local import CoxFitData
from cohortcalc.survival.results import CoxResult
from cohortcalc.survival.riskset import at_risk_sums, event_time_terms, risk_set_sums


def ph_test(fit: CoxResult) -> pd.DataFrame:
    """Table indexed by model term plus ``"GLOBAL"``: ``chisq``, ``df``, ``p`` (as cox.zph)."""
    data = fit.fit_data
    if not isinstance(data, CoxFitData):
        raise ModelError("ph_test needs a result of cc.cox (it carries the fitted arrays).")
    score, information = _time_interaction_score(data)
    p = len(fit.terms)
    rows: dict[str, tuple[float, int]] = {}
    for term, columns in data.assign.items():
        rows[term] = (_score_statistic(score, information, list(columns), p), len(columns))
    rows["GLOBAL"] = (_score_statistic(score, information, list(range(p)), p), p)
    table = pd.DataFrame(
        {
            "chisq": [chisq for chisq, _ in rows.values()],
            "df": [df for _, df in rows.values()],
        },
        index=pd.Index(list(rows), name="term"),
    )
    table["p"] = stats.chi2.sf(table["chisq"].to_numpy(), table["df"].to_numpy())
    return table


def _score_statistic(
    score: np.ndarray, information: np.ndarray, columns: list[int], p: int
) -> float:
    """uᵀ I⁻¹ u over the β block and the g(t)-interaction block of ``columns`` (u = 0 for β)."""
    keep = list(range(p)) + [p + j for j in columns]
    u = np.concatenate([np.zeros(p), score[columns]])
    return float(u @ np.linalg.solve(information[np.ix_(keep, keep)], u))


def _time_interaction_score(data: CoxFitData) -> tuple[np.ndarray, np.ndarray]:
    """Score vector of the g(t)·x terms (p) and the 2p x 2p information at (β̂, 0)."""
    likelihood, index = data.likelihood, data.index
    p = likelihood.matrix.shape[1]
    g = _km_transform(data.time, data.entry, data.event, index.bin_time)
    g = g - np.sum(index.n_deaths * g) / index.n_deaths.sum()
    _, event_sums = risk_set_sums(likelihood.matrix, np.zeros(p), index, events=True)
    by_exit, tied = risk_set_sums(likelihood.matrix, data.beta, index, events=likelihood.efron)
    _, mean_x, info = event_time_terms(
        at_risk_sums(by_exit, index), tied, index, efron=likelihood.efron
    )
    score = g @ (event_sums[:, 1 : 1 + p] - mean_x)
    blocks = [(info * weight[:, None]).sum(axis=0).reshape(p, p) for weight in (g**0, g, g**2)]
    information = np.block([[blocks[0], blocks[1]], [blocks[1].T, blocks[2]]])
    return score, (information + information.T) / 2.0


def _km_transform(
    time: np.ndarray, entry: np.ndarray | None, event: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """1 - S(t-) at each time in ``at``, S the unweighted Kaplan–Meier of all rows (as cox.zph)."""
    event_times, deaths = np.unique(time[event], return_counts=True)
    sorted_exit = np.sort(time)
    at_risk = time.shape[0] - np.searchsorted(sorted_exit, event_times, side="left")
    if entry is not None:
        sorted_entry = np.sort(entry)
        at_risk = at_risk - (entry.shape[0] - np.searchsorted(sorted_entry, event_times, "left"))
    survival_after = np.cumprod(1.0 - deaths / at_risk)
    survival_before = np.concatenate([[1.0], survival_after[:-1]])
    position = np.searchsorted(event_times, at)
    return 1.0 - survival_before[position]
