"""``cc.score``: time-dependent AUC and Brier score at given horizons, as ``riskRegression::Score``.

AUC(t), cumulative/dynamic with IPCW (Uno et al. 2007; Blanche, Dartigues & Jacqmin-Gadda
2013): cases had the event of the cause by t (weight 1/G(T−)), controls are event-free at t
(1/G(t)) or, with competing risks, had a competing event by t (1/G(T−)); AUC = Σ wᵢwⱼ·
[rᵢ > rⱼ + ½ tie] / (Σ wᵢ · Σ wⱼ). Brier(t) = (1/n) Σ wᵢ (1{case} − rᵢ)² (Graf et al. 1999).
SEs from the influence function with the Kaplan–Meier censoring term (``ipcw.py``; Score's
``se.fit = TRUE, conservative = FALSE`` with a marginal censoring model): se = sd(IF)/√n;
a difference of two models uses the difference of their influence functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.performance.ipcw import Weights, censoring_term, ipcw_weights
from cohortcalc.performance.scores import read_outcome


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """``auc`` and ``brier``: one row per (model, time) with the estimate, se, lower, upper;
    ``contrasts``: per metric and time, each model minus the first (delta, se, lower, upper,
    p). Intervals are Wald intervals (not truncated to [0, 1], unlike Score's)."""

    auc: pd.DataFrame
    brier: pd.DataFrame
    contrasts: pd.DataFrame
    n: int
    cause: Any = None


def score(
    predictions: Mapping[str, Any],
    frame: Any,
    *,
    time: str,
    event: str,
    times: float | Sequence[float],
    cause: Any = None,
    censor_code: Any = 0,
    conf_level: float = 0.95,
) -> ScoreResult:
    """AUC(t) and Brier(t) of each model's predicted risks by each of ``times``.

    ``predictions`` maps a label to an n x len(times) array of predicted risks (or a
    ``cc.predict`` result, or one array for a single time). Rows must be complete: a missing
    outcome or prediction is an error (drop those rows first, for every model alike).
    """
    horizons = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if horizons.size == 0 or np.any(~np.isfinite(horizons)) or np.any(horizons <= 0):
        raise ModelError(f"times={times!r} must be one or more times > 0.")
    if not predictions:
        raise ModelError("no predictions given.")
    stop, status = _outcome(frame, time, event, cause, censor_code, horizons)
    risks = {
        label: _risk_matrix(label, value, stop.shape[0], horizons.size)
        for label, value in predictions.items()
    }
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    rows: dict[str, list[dict[str, Any]]] = {"auc": [], "brier": [], "contrast": []}
    for k, horizon in enumerate(horizons):
        weights = ipcw_weights(stop, status, 1, float(horizon))
        if not weights.case.any():
            raise ModelError(f"no events of the cause by time {horizon:g}; AUC is not defined.")
        for metric, measure in (("auc", _auc), ("brier", _brier)):
            found = {label: measure(weights, risk[:, k]) for label, risk in risks.items()}
            rows[metric] += [
                _row({"model": label, "time": float(horizon)}, metric, value, influence, z)
                for label, (value, influence) in found.items()
            ]
            rows["contrast"] += _contrasts(metric, found, float(horizon), z)
    return ScoreResult(
        auc=pd.DataFrame(rows["auc"]),
        brier=pd.DataFrame(rows["brier"]),
        contrasts=pd.DataFrame(
            rows["contrast"],
            columns=["metric", "time", "model", "reference", "delta", "se", "lower", "upper", "p"],
        ),
        n=int(stop.shape[0]),
        cause=cause,
    )


def _outcome(
    frame: Any, time: str, event: str, cause: Any, censor_code: Any, horizons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exit times and status (0 censored, 1 the cause, 2 competing), complete and covering
    the horizons."""
    outcome = read_outcome(frame, None, time, event, None, None, None, None, cause, censor_code)
    if not outcome.complete.all():
        row = int(np.argmax(~outcome.complete))
        raise ModelError(f"the outcome has a missing value in row {row}; drop such rows first.")
    status = np.where(outcome.status, 1, np.where(outcome.competing, 2, 0))
    stop = np.where(outcome.competing, _finite_times(frame, time), outcome.stop)
    if horizons.max() > stop.max():
        raise ModelError(
            f"time {horizons.max():g} is beyond the last follow-up time {stop.max():g}; the "
            "censoring distribution is not estimated there."
        )
    return stop, status


def _row(
    keys: dict[str, Any], metric: str, value: float, influence: np.ndarray, z: float
) -> dict[str, Any]:
    """The estimate with se = sd(IF)/√n and its Wald interval."""
    se = float(np.std(influence, ddof=1) / np.sqrt(influence.shape[0]))
    return {**keys, metric: value, "se": se, "lower": value - z * se, "upper": value + z * se}


def _finite_times(frame: Any, time: str) -> np.ndarray:
    from cohortcalc.frames import to_polars

    return to_polars(frame, columns=[time])[time].cast(float).to_numpy()


def _risk_matrix(label: str, value: Any, n: int, k: int) -> np.ndarray:
    risk = getattr(value, "risk", value)
    matrix = np.asarray(risk, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.shape != (n, k):
        raise ModelError(
            f"predictions {label!r} have shape {matrix.shape}; expected ({n}, {k}): one row "
            "per frame row, one column per time."
        )
    if not np.all(np.isfinite(matrix)):
        raise ModelError(f"predictions {label!r} have missing or infinite values.")
    return matrix


def _auc(weights: Weights, risk: np.ndarray) -> tuple[float, np.ndarray]:
    """AUC(t) and its influence function (the ratio ν/μ of two IPCW double sums)."""
    n = risk.shape[0]
    w = weights.weight
    case, control = weights.case, weights.other | weights.event_free
    if not control.any():
        raise ModelError(f"no controls at time {weights.horizon:g}; AUC is not defined.")
    below_case = _weighted_rank(risk[control], w[control], risk)  # Σ_ctrl w·h(r, r_ctrl)
    above_control = _weighted_rank(-risk[case], w[case], -risk)  # Σ_case w·h(r_case, r)
    case_total, control_total = w[case].sum(), w[control].sum()
    nu = float(np.sum(w[case] * below_case[case])) / n**2
    mu = case_total * control_total / n**2
    auc = nu / mu
    nu_part = w * np.where(case, below_case, 0.0) + w * np.where(control, above_control, 0.0)
    mu_part = w * np.where(case, control_total, 0.0) + w * np.where(control, case_total, 0.0)
    nu_influence = nu_part / n - 2 * nu + censoring_term(weights, nu_part / n)
    mu_influence = mu_part / n - 2 * mu + censoring_term(weights, mu_part / n)
    return auc, (nu_influence - auc * mu_influence) / mu


def _weighted_rank(
    reference: np.ndarray, reference_weight: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """Σ over reference rows of weight·(1{reference < at} + ½·1{reference = at})."""
    order = np.argsort(reference, kind="stable")
    values, cumulative = reference[order], np.r_[0.0, np.cumsum(reference_weight[order])]
    below = cumulative[np.searchsorted(values, at, side="left")]
    upto = cumulative[np.searchsorted(values, at, side="right")]
    return (below + upto) / 2.0


def _brier(weights: Weights, risk: np.ndarray) -> tuple[float, np.ndarray]:
    """Brier(t) = mean of wᵢ·(1{case} − rᵢ)² and its influence function."""
    residual = weights.weight * (weights.case - risk) ** 2
    brier = float(residual.mean())
    return brier, residual - brier + censoring_term(weights, residual)


def _contrasts(
    metric: str, found: dict[str, tuple[float, np.ndarray]], horizon: float, z: float
) -> list[dict[str, Any]]:
    """Each model minus the first: the difference of the estimates, se from the difference
    of the influence functions (as Score's contrasts)."""
    labels = list(found)
    reference_value, reference_influence = found[labels[0]]
    rows = []
    for label in labels[1:]:
        value, influence = found[label]
        row = _row(
            {"metric": metric, "time": horizon, "model": label, "reference": labels[0]},
            "delta",
            value - reference_value,
            influence - reference_influence,
            z,
        )
        row["p"] = (
            2.0 * stats.norm.sf(abs(row["delta"]) / row["se"]) if row["se"] > 0 else float("nan")
        )
        rows.append(row)
    return rows
