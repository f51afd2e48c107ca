"""Kaplan–Meier and Aalen–Johansen estimates, computed on counts per distinct time.

Every estimator first collapses the data to one row per (group, distinct time) with a single
Polars group-by, then works on those few thousand rows; ties are handled exactly (no jitter).
Conventions follow R's ``survfit`` (survival 3.5): Greenwood variance and log confidence limits
for Kaplan–Meier, infinitesimal-jackknife variance for the Aalen–Johansen curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import norm

from cohortcalc.errors import ModelError
from cohortcalc.survival.inputs import (
    N_EXIT,
    as_list,
    check_binary_event,
    check_cause,
    check_times,
    counts_by_time,
    load_columns,
)

ConfType = Literal["log", "log-log", "plain"]


def confidence_limits(
    estimate: np.ndarray, se: np.ndarray, conf_type: str, conf_level: float, *, log_se: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits as R's ``survfit_confint`` (survival 3.5).

    ``se`` is the standard error of log(estimate) when ``log_se`` else of the estimate itself.
    Limits are NaN where the transform is undefined (estimate 0, or 1 for log-log), as in R.
    """
    if conf_type not in ("log", "log-log", "plain"):
        raise ModelError(f"conf_type {conf_type!r} is not one of 'log', 'log-log', 'plain'.")
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level must be between 0 and 1, got {conf_level}.")
    z = norm.ppf(1 - (1 - conf_level) / 2)
    p = np.asarray(estimate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_log = se if log_se else np.where(se == 0, 0.0, se / p)
        if conf_type == "plain":
            half = se_log * p * z
            return np.maximum(p - half, 0.0), np.minimum(p + half, 1.0)
        if conf_type == "log":
            xx = np.where(p == 0, np.nan, p)
            return np.exp(np.log(xx) - z * se_log), np.minimum(np.exp(np.log(xx) + z * se_log), 1)
        xx = np.where((p == 0) | (p == 1), np.nan, p)
        half = z * se_log / np.log(xx)
        loglog = np.log(-np.log(xx))
        return np.exp(-np.exp(loglog - half)), np.exp(-np.exp(loglog + half))


def entries_before(entry: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Number of entry times strictly below each time (for left-truncated risk sets)."""
    return np.searchsorted(np.sort(entry), times, side="left")


def _tidy(
    table: pl.DataFrame, by: list[str], time: str, columns: dict[str, np.ndarray]
) -> pd.DataFrame:
    keys = table.select([*by, time]).rename({time: "time"}) if time not in by else None
    out = keys.to_pandas() if keys is not None else pd.DataFrame({"time": table[time]})
    out["time"] = out["time"].astype(float)
    for name, values in columns.items():
        out[name] = values
    return out


def kaplan_meier(
    frame: Any,
    time: str,
    event: str,
    by: str | Sequence[str] | None = None,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    entry: str | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier survival by group, as R ``survfit(Surv([entry,] time, event) ~ by)``.

    Returns a pandas DataFrame, one row per distinct time per group: ``[by...], time, n_risk,
    n_event, n_censor, survival, std_err, lower, upper``. ``std_err`` is the Greenwood standard
    error of the survival estimate (Greenwood 1926; on the survival scale, as
    ``summary.survfit``). ``entry`` gives delayed-entry (left-truncation) times: a subject is
    at risk at t when entry < t ≤ time.
    """
    by = as_list(by)
    data = load_columns(frame, [*by, time, event, entry])
    check_times(data, time)
    data = check_binary_event(data, event)
    if entry is not None:
        check_times(data, entry, allow_negative=True)
        bad = data[entry] >= data[time]
        if bad.any():
            row = int(bad.arg_true()[0])
            raise ModelError(
                f"entry column {entry!r} is not before time column {time!r} in "
                f"{int(bad.sum())} row(s) (first at row {row}); entry must be < exit."
            )
    table, starts = counts_by_time(data, by, time, [pl.col(event).sum().alias("n_event")])
    times = table[time].cast(pl.Float64).to_numpy()
    exits = table[N_EXIT].to_numpy().astype(np.int64)
    events = table["n_event"].to_numpy().astype(np.int64)
    at_risk = np.empty_like(exits)
    for start, stop in pairwise(starts):
        at_risk[start:stop] = np.cumsum(exits[start:stop][::-1])[::-1]
    if entry is not None:
        _subtract_late_entries(data, by, entry, table, starts, times, at_risk)
    n = at_risk.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = events / n
        greenwood = np.where(events > 0, events / (n * (n - events)), 0.0)
    survival = np.empty_like(n)
    var_log = np.empty_like(n)
    for start, stop in pairwise(starts):
        survival[start:stop] = np.cumprod(1.0 - hazard[start:stop])
        var_log[start:stop] = np.cumsum(greenwood[start:stop])
    se_log = np.sqrt(var_log)
    lower, upper = confidence_limits(survival, se_log, conf_type, conf_level, log_se=True)
    with np.errstate(invalid="ignore"):
        std_err = survival * se_log
    return _tidy(
        table,
        by,
        time,
        {
            "n_risk": at_risk,
            "n_event": events,
            "n_censor": exits - events,
            "survival": survival,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        },
    )


def _subtract_late_entries(
    data: pl.DataFrame,
    by: list[str],
    entry: str,
    table: pl.DataFrame,
    starts: np.ndarray,
    times: np.ndarray,
    at_risk: np.ndarray,
) -> None:
    """Remove from the risk set at t everyone who enters at or after t (in place)."""
    if not by:
        at_risk -= data.height - entries_before(data[entry].to_numpy(), times)
        return
    parts = data.partition_by(by, as_dict=True, maintain_order=False)
    for start, stop in pairwise(starts):
        key = tuple(table.row(int(start))[: len(by)])
        group_entries = parts[key][entry].to_numpy()
        at_risk[start:stop] -= group_entries.size - entries_before(group_entries, times[start:stop])


def cumulative_incidence(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    by: str | Sequence[str] | None = None,
    censor_code: Any = 0,
    conf_level: float = 0.95,
    conf_type: ConfType = "log",
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of ``cause`` in the presence of competing events.

    As R ``survfit(Surv(time, factor(event)) ~ by)`` (survival 3.5, multi-state): estimate
    F_k(t) = Σ_{s≤t} S(s−) d_k(s)/n(s) (Aalen & Johansen 1978), standard error from the
    infinitesimal jackknife (Therneau, survival "methods" vignette), log confidence limits on
    the CIF scale. Returns a pandas DataFrame, one row per distinct time per group:
    ``[by...], time, n_risk, n_event, n_competing, n_censor, cif, std_err, lower, upper``.
    Every event code other than ``censor_code`` is a competing state; ties are exact.
    """
    by = as_list(by)
    data = load_columns(frame, [*by, time, event])
    check_times(data, time)
    codes = check_cause(data, event, cause, censor_code)
    counts = [(pl.col(event) == code).sum().alias(f"__d{i}") for i, code in enumerate(codes)]
    table, starts = counts_by_time(data, by, time, counts)
    exits = table[N_EXIT].to_numpy().astype(np.int64)
    events = table.select([f"__d{i}" for i in range(len(codes))]).to_numpy().astype(np.int64)
    target = codes.index(cause)
    at_risk = np.empty_like(exits)
    cif = np.empty(exits.size)
    variance = np.empty(exits.size)
    for start, stop in pairwise(starts):
        at_risk[start:stop] = np.cumsum(exits[start:stop][::-1])[::-1]
        cif_all, var_all = aalen_johansen(at_risk[start:stop], events[start:stop])
        cif[start:stop] = cif_all[:, target]
        variance[start:stop] = var_all[:, target]
    std_err = np.sqrt(np.maximum(variance, 0.0))
    lower, upper = confidence_limits(cif, std_err, conf_type, conf_level, log_se=False)
    n_event = events[:, target]
    return _tidy(
        table,
        by,
        time,
        {
            "n_risk": at_risk,
            "n_event": n_event,
            "n_competing": events.sum(axis=1) - n_event,
            "n_censor": exits - events.sum(axis=1),
            "cif": cif,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        },
    )


def aalen_johansen(at_risk: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIFs and their infinitesimal-jackknife variances for one group (times sorted).

    ``at_risk[m]`` is the number at risk at the m-th distinct time, ``events[m, k]`` the number
    of events of type k there (right-censored data, everyone starting event-free). The
    per-subject influence of F_k(t) depends only on the subject's exit time and status: it is
    G_k(t) while at risk and α + β·F_k(t) after exit, so Σ_i U_i(t)² is a sum of cumulative
    sums over times; O(T·K) with no N×T matrix (the recursion of R's survfitci.c, summed).
    """
    n = at_risk.astype(float)
    total = events.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = total / n
        cause_hazard = events / n[:, None]
        jump = np.where(total > 0, hazard / (n * (1.0 - hazard)), 0.0)
    survival = np.cumprod(1.0 - hazard)
    surv_before = np.concatenate([[1.0], survival[:-1]])
    cif = np.cumsum(surv_before[:, None] * cause_hazard, axis=0)
    cum_jump = np.cumsum(jump)
    jump_before = np.concatenate([[0.0], cum_jump[:-1]])
    increment = surv_before[:, None] * cause_hazard * (jump_before - 1 / n)[:, None]
    at_risk_part = np.cumsum(increment, axis=0)
    censored = n - np.concatenate([n[1:], [0.0]]) - total  # exits without an event
    v_event = jump_before - 1.0 / n
    v_censor = np.where(censored > 0, cum_jump, 0.0)
    own = (surv_before / n)[:, None]
    base_event = at_risk_part - v_event[:, None] * cif
    base_censor = at_risk_part - v_censor[:, None] * cif
    sq = (
        censored[:, None] * base_censor**2
        + total[:, None] * base_event**2
        + events * (2 * base_event * own + own**2)
    )
    cross = censored[:, None] * base_censor * v_censor[:, None] + v_event[:, None] * (
        total[:, None] * base_event + events * own
    )
    slope = censored * v_censor**2 + total * v_event**2
    still_at_risk = np.concatenate([n[1:], [0.0]])[:, None]
    variance = (
        still_at_risk * at_risk_part**2
        + np.cumsum(sq, axis=0)
        + 2 * cif * np.cumsum(cross, axis=0)
        + cif**2 * np.cumsum(slope, axis=0)[:, None]
    )
    return cif, variance
