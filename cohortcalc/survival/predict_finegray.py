"""Absolute risk from a Fine–Gray fit: the cumulative incidence of the cause, as
``cmprsk::predict.crr``: F(t | x) = 1 − exp(−e^{(x−c)β} Σ_{s ≤ t} dΛ0(s)), dΛ0 = d(s)/S0(s)
over the weighted risk set at the final β (Fine & Gray 1999, sec. 4), by stratum.

The interval is a nonparametric bootstrap (rows resampled, the model refitted, ``n_boot``
replicates, seeded): the SE is the replicates' SD of F; the interval is normal on the
log cumulative subdistribution hazard, log(−log(1 − F)), with the replicates' SD there,
and transformed back — so it stays in (0, 1) and carries the variance of β̂, of Λ0 and of
the censoring distribution G together (no closed form covers the last).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

from cohortcalc.errors import CohortcalcError, CohortcalcWarning, ModelError
from cohortcalc.survival import finegray_riskset as engine
from cohortcalc.survival.cox import group_codes
from cohortcalc.survival.newdata import code_new_rows, linear_predictor
from cohortcalc.survival.newton import newton_raphson
from cohortcalc.survival.predicted import PredictedRisk


def fine_gray_risk(
    fit: Any, frame: Any, horizons: tuple[float, ...], conf_level: float, n_boot: int, seed: int
) -> PredictedRisk:
    """``cc.predict`` for a ``FineGrayResult`` (see the module docstring)."""
    kept = fit.fit_data
    if kept is None:
        raise ModelError(
            "this Fine–Gray fit keeps no baseline (a Spark fit); refit with cc.finegray on a "
            "local frame to predict cumulative incidence."
        )
    design = kept.design
    rows = code_new_rows(frame, design, fit.terms, kept.strata)
    time = design.columns[fit.time]
    fitted_strata = (
        group_codes(design.columns, design.column_levels, list(kept.strata))
        if kept.strata
        else np.zeros(time.shape[0], dtype=np.int64)
    )
    _check_follow_up(fit, time, fitted_strata, rows.stratum, horizons)
    bin_time = time[kept.bins.rows[kept.bins.bin_start[:-1]]]
    risk = _incidence(kept.data, kept.beta, kept.center, bin_time, rows, horizons)
    se = lower = upper = np.full(risk.shape, np.nan)
    if n_boot > 0:
        se, lower, upper = _bootstrap(
            fit, kept, time, fitted_strata, rows, horizons, risk, conf_level, n_boot, seed
        )
    return PredictedRisk(
        times=horizons,
        risk=risk,
        se=se,
        lower=lower,
        upper=upper,
        conf_level=conf_level,
        method=(
            "Fine–Gray cumulative incidence as cmprsk::predict.crr; "
            + (
                f"bootstrap ({n_boot} replicates, seed {seed}) SE, normal interval on "
                "log(-log(1 - F))"
                if n_boot > 0
                else "no interval (n_boot = 0)"
            )
        ),
        n_missing=int(rows.missing.sum()),
    )


def _incidence(
    data: engine.FineGrayData,
    beta: np.ndarray,
    center: np.ndarray,
    bin_time: np.ndarray,
    rows: Any,
    horizons: tuple[float, ...],
) -> np.ndarray:
    """F(t | x) for each new row and horizon; ``center`` is where data.x is centred."""
    sums = engine.risk_set_sums(data, *engine.bin_moments(data, beta))
    failing = data.n_cause > 0
    jump = np.where(failing, data.n_cause / np.where(failing, sums.s0, 1.0), 0.0)
    cumulative = np.empty_like(jump)
    for first, last in data.strata:
        cumulative[first:last] = np.cumsum(jump[first:last])
    score = np.exp(linear_predictor(rows.matrix - center - data.center, beta))
    out = np.full((score.shape[0], len(horizons)), np.nan)
    for s, (first, last) in enumerate(data.strata):
        mine = (rows.stratum == s) & ~rows.missing
        for j, horizon in enumerate(horizons):
            k = first + np.searchsorted(bin_time[first:last], horizon, side="right") - 1
            base = cumulative[k] if k >= first else 0.0
            out[mine, j] = 1.0 - np.exp(-base * score[mine])
    return out


def _bootstrap(
    fit: Any,
    kept: Any,
    time: np.ndarray,
    strata: np.ndarray,
    rows: Any,
    horizons: tuple[float, ...],
    risk: np.ndarray,
    conf_level: float,
    n_boot: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replicate SD of F and the back-transformed normal interval on log(−log(1 − F))."""
    rng = np.random.default_rng(seed)
    inputs = _input_order(kept, time, strata)
    sums = np.zeros((4, *risk.shape))  # Σ F, Σ F², Σ log H, Σ (log H)²
    used = 0
    for _ in range(n_boot):
        values = _replicate(
            fit,
            inputs,
            rng.integers(0, time.shape[0], time.shape[0]),
            rows,
            horizons,
            len(kept.data.strata),
            kept.center,
        )
        if values is None:
            continue
        with np.errstate(divide="ignore"):
            log_h = np.log(-np.log1p(-values))
        sums += np.stack([values, values**2, log_h, log_h**2])
        used += 1
    if used < 2:
        raise ModelError("fewer than two bootstrap replicates could be fitted; no interval.")
    if used < n_boot:
        warnings.warn(
            f"{n_boot - used} of {n_boot} bootstrap replicates could not be fitted and were "
            "left out of the interval.",
            CohortcalcWarning,
            stacklevel=4,
        )
    se = np.sqrt(np.maximum(sums[1] - sums[0] ** 2 / used, 0.0) / (used - 1))
    log_se = np.sqrt(np.maximum(sums[3] - sums[2] ** 2 / used, 0.0) / (used - 1))
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_h = np.log(-np.log1p(-risk))
        lower = 1.0 - np.exp(-np.exp(log_h - z * log_se))
        upper = 1.0 - np.exp(-np.exp(log_h + z * log_se))
    return se, lower, upper


def _input_order(kept: Any, time: np.ndarray, strata: np.ndarray) -> dict[str, np.ndarray]:
    """The fit's rows back in input order: time, status, weights, x (uncentred), stratum."""
    bins, data = kept.bins, kept.data
    status = np.empty(time.shape[0], dtype=bins.status.dtype)
    status[bins.rows] = bins.status
    weights = np.empty(time.shape[0])
    weights[bins.rows] = bins.weights
    x = np.empty_like(data.x)
    x[bins.rows] = data.x + kept.center
    return {"time": time, "status": status, "weights": weights, "x": x, "strata": strata}


def _replicate(
    fit: Any,
    inputs: dict[str, np.ndarray],
    pick: np.ndarray,
    rows: Any,
    horizons: tuple[float, ...],
    n_strata: int,
    center: np.ndarray,
) -> np.ndarray | None:
    """F for the new rows from the model refitted on the resampled rows ``pick`` (None if
    that refit fails, e.g. a level without events, or a stratum is missing)."""
    sample = {name: values[pick] for name, values in inputs.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CohortcalcWarning)
            data = engine.prepare(
                sample["time"], sample["status"], sample["x"], sample["weights"], sample["strata"]
            )
            beta = newton_raphson(
                lambda b: engine.loglik_score_information(data, b), fit.terms
            ).beta
    except CohortcalcError:
        return None
    if len(data.strata) != n_strata:
        return None
    bins = np.unique(np.c_[sample["strata"], sample["time"]], axis=0)  # (stratum, time)
    return _incidence(data, beta, np.zeros_like(center), bins[:, 1], rows, horizons)


def _check_follow_up(
    fit: Any,
    time: np.ndarray,
    fitted: np.ndarray,
    stratum: np.ndarray,
    horizons: tuple[float, ...],
) -> None:
    last = np.full(int(fitted.max()) + 1, -np.inf)
    np.maximum.at(last, fitted, time)
    for s in np.unique(stratum[stratum >= 0]):
        beyond = [t for t in horizons if t > last[s]]
        if beyond:
            raise ModelError(
                f"time {beyond[0]:g} is beyond the last follow-up time {last[s]:g} of the "
                f"Fine–Gray fit ({fit.time!r}"
                + (f", stratum {int(s)}" if fit.strata else "")
                + "); choose a horizon within follow-up."
            )
