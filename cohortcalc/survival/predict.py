"""``cc.predict``: absolute risk by given times for each row of a frame, from a fitted model.

Cox: 1 − S(t | x) with S = exp(−Λ0(t)·e^{(x−c)β}), Λ0 from ``baseline.py`` (Efron or Breslow
as fitted, by stratum, delayed entry), and the standard error of the cumulative hazard as R
``survfit(coxfit, newdata=)``: var = e^{2(x−c)β}·[Σ W/den² + dᵀ V d], d = Λ0(t)(x−c) − Σ x̄ dΛ0
(Tsiatis 1981; Therneau & Grambsch 2000, sec. 10.2.4). Intervals as R's ``conf.type`` ("log"
by default, on S, then turned into risk). Fine–Gray: ``fine_gray_risk`` (``predict_finegray.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame
from cohortcalc.survival.baseline import BaselineHazard, baseline_hazard
from cohortcalc.survival.newdata import code_new_rows, linear_predictor
from cohortcalc.survival.predicted import PredictedRisk
from cohortcalc.survival.results import CoxResult

__all__ = ["CONF_TYPES", "PredictedRisk", "predict"]

CONF_TYPES = ("log", "log-log", "plain")


def predict(
    fit: Any,
    frame: Any,
    times: float | Sequence[float],
    conf_level: float = 0.95,
    conf_type: str = "log",
    n_boot: int = 200,
    seed: int = 1,
) -> PredictedRisk:
    """Absolute risk by each of ``times`` for each row of ``frame`` (a Cox or Fine–Gray fit).

    Cox: SE and interval in closed form as R (``conf_type`` "log", "log-log" or "plain").
    Fine–Gray: the interval is a seeded bootstrap of ``n_boot`` refits (0: none); see
    ``predict_finegray.py``.

    Raises ``ModelError`` for a level or stratum the fit never saw, a time beyond the fit's
    follow-up (in the row's stratum) or ≤ 0, or a fit without its arrays (Spark engine).
    """
    if is_spark_frame(frame):
        raise ModelError(
            "cc.predict runs on a local frame; select the rows to predict for and pass "
            ".toPandas() of them (the fit itself may come from Spark only once it keeps "
            "its baseline hazard, which it does not yet)."
        )
    horizons = prediction_times(times)
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level={conf_level!r} must be in (0, 1), e.g. 0.95.")
    if conf_type not in CONF_TYPES:
        raise ModelError(f"conf_type={conf_type!r} is not supported; use one of {CONF_TYPES}.")
    from cohortcalc.survival.finegray_result import FineGrayResult

    if isinstance(fit, FineGrayResult):
        from cohortcalc.survival.predict_finegray import fine_gray_risk

        return fine_gray_risk(fit, frame, horizons, conf_level, n_boot, seed)
    if not isinstance(fit, CoxResult):
        raise ModelError(f"cc.predict needs a cc.cox or cc.finegray fit, not {type(fit).__name__}.")
    return _cox_risk(fit, frame, horizons, conf_level, conf_type)


def prediction_times(times: float | Sequence[float]) -> tuple[float, ...]:
    """``times`` as a tuple of finite times > 0 (a ``ModelError`` otherwise)."""
    values = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ModelError(f"times={times!r} must be one or more finite times > 0.")
    return tuple(float(t) for t in values)


def _cox_risk(
    fit: CoxResult,
    frame: Any,
    horizons: tuple[float, ...],
    conf_level: float,
    conf_type: str,
) -> PredictedRisk:
    data = fit.fit_data
    if data is None or getattr(data, "design", None) is None:
        raise ModelError(
            "this Cox fit keeps no baseline hazard (a Spark fit); refit with cc.cox on a local "
            "frame to predict absolute risk."
        )
    design = data.design
    rows = code_new_rows(frame, design, fit.terms, fit.strata or ())
    base = baseline_hazard(fit.baseline_terms())
    _check_follow_up(fit, data, design, rows.stratum, horizons)
    beta = data.beta
    vcov = fit.vcov.to_numpy()
    shifted = rows.matrix - base.center
    risk_score = np.exp(linear_predictor(shifted, beta))
    n, k = shifted.shape[0], len(horizons)
    cumhaz = np.full((n, k), np.nan)
    variance = np.full((n, k), np.nan)
    for j, horizon in enumerate(horizons):
        at = _bin_at(base, rows.stratum, horizon)
        valid = ~rows.missing
        h0 = np.where(at >= 0, base.cumhaz[np.maximum(at, 0)], 0.0)
        v0 = np.where(at >= 0, base.cumvar[np.maximum(at, 0)], 0.0)
        xbar = np.where((at >= 0)[:, None], base.cumxbar[np.maximum(at, 0)], 0.0)
        d = h0[:, None] * shifted - xbar
        quad = np.einsum("ij,jk,ik->i", d, vcov, d)
        cumhaz[valid, j] = (h0 * risk_score)[valid]
        variance[valid, j] = ((v0 + quad) * risk_score**2)[valid]
    survival = np.exp(-cumhaz)
    se_cumhaz = np.sqrt(variance)
    lower, upper = _interval(survival, se_cumhaz, conf_level, conf_type)
    return PredictedRisk(
        times=horizons,
        risk=1.0 - survival,
        se=survival * se_cumhaz,
        lower=1.0 - upper,
        upper=1.0 - lower,
        conf_level=conf_level,
        method=(
            f"Cox ({fit.ties}) baseline hazard as R survfit.coxph; SE of the cumulative hazard "
            f"(Tsiatis); {conf_type} interval on survival"
        ),
        n_missing=int(rows.missing.sum()),
    )


def _bin_at(base: BaselineHazard, stratum: np.ndarray, horizon: float) -> np.ndarray:
    """Per row, the last bin of its stratum with time ≤ horizon (-1: none, Λ0 = 0)."""
    starts = base.stratum_start
    per_stratum = np.full(starts.shape[0] - 1, -1, dtype=np.int64)
    for s, (first, last) in enumerate(itertools.pairwise(starts)):
        k = first + np.searchsorted(base.time[first:last], horizon, side="right") - 1
        per_stratum[s] = k if k >= first else -1
    return np.where(stratum >= 0, per_stratum[np.maximum(stratum, 0)], -1)


def _check_follow_up(
    fit: CoxResult, data: Any, design: Any, stratum: np.ndarray, horizons: tuple[float, ...]
) -> None:
    """A horizon past the last follow-up time (of the row's stratum) has no estimate."""
    if fit.strata:
        from cohortcalc.survival.cox import group_codes

        fitted = group_codes(design.columns, design.column_levels, list(fit.strata))
    else:
        fitted = np.zeros(data.time.shape[0], dtype=np.int64)
    last = np.full(int(fitted.max()) + 1, -np.inf)
    np.maximum.at(last, fitted, data.time)
    for s in np.flatnonzero(np.bincount(stratum[stratum >= 0], minlength=last.shape[0])):
        beyond = [t for t in horizons if t > last[s]]
        if beyond:
            where = f" in stratum {int(s)} of {list(fit.strata)}" if fit.strata else ""
            raise ModelError(
                f"time {beyond[0]:g} is beyond the last follow-up time {last[s]:g}{where} of "
                f"the fit ({fit.time!r}); the baseline hazard is not estimated there. Choose "
                "a horizon within follow-up."
            )


def _interval(
    survival: np.ndarray, se_cumhaz: np.ndarray, conf_level: float, conf_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval for S with se of log S (R ``survfit_confint``, logse = TRUE)."""
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log":
            lower = survival * np.exp(-z * se_cumhaz)
            upper = np.minimum(survival * np.exp(z * se_cumhaz), 1.0)
        elif conf_type == "log-log":
            log_s = np.log(survival)
            shift = z * se_cumhaz / log_s
            lower = np.exp(-np.exp(np.log(-log_s) - shift))
            upper = np.exp(-np.exp(np.log(-log_s) + shift))
            at_one = survival >= 1.0
            lower, upper = np.where(at_one, 1.0, lower), np.where(at_one, 1.0, upper)
        else:
            half = z * se_cumhaz * survival
            lower, upper = np.maximum(survival - half, 0.0), np.minimum(survival + half, 1.0)
    return lower, upper
