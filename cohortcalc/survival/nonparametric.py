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
from cohortcalc.survival.aalen_johansen import aalen_johansen, aalen_johansen_truncated
from cohortcalc.survival.engine import engine_for
from cohortcalc.survival.inputs import (
    N_EXIT,
    as_list,
    check_binary_event,
    check_cause,
    check_entry,
    check_times,
    check_weights,
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


def _tidy(
    table: pl.DataFrame,
    by: list[str],
    time: str,
    columns: dict[str, np.ndarray],
    method: dict[str, Any],
) -> pd.DataFrame:
    """The output table: group keys, time (float) and the estimate columns, built at once.

    ``method`` (estimator, variance, confidence limits) is kept in ``DataFrame.attrs`` so that
    reports can state it in a footnote.
    """
    clash = sorted(set(by) & {"time", *columns})
    if clash:
        raise ModelError(f"grouping column(s) {clash} clash with output column names; rename them.")
    keys = {name: table[name].to_numpy(writable=True) for name in by}
    keys["time"] = table[time].cast(pl.Float64).to_numpy(writable=True)
    # every array is freshly computed and writable, so no copy (and no block consolidation)
    out = pd.DataFrame(
        keys | {k: np.require(v, requirements="W") for k, v in columns.items()}, copy=False
    )
    out.attrs.update(method)
    return out


def kaplan_meier(
    frame: Any,
    time: str,
    event: str,
    by: str | Sequence[str] | None = None,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    entry: str | None = None,
    weights: str | None = None,
) -> pd.DataFrame:
    """Kaplan–Meier survival by group, as R ``survfit(Surv([entry,] time, event) ~ by)``.

    Returns a pandas DataFrame, one row per distinct time per group: ``[by...], time, n_risk,
    n_event, n_censor, survival, std_err, lower, upper``. ``std_err`` is the standard error of
    the survival estimate (survival scale, as ``summary.survfit``): Greenwood's (1926), or, with
    non-integer case ``weights``, the infinitesimal jackknife, as R chooses. With ``weights``
    the counts are weighted sums. ``entry`` gives delayed-entry (left-truncation) times: a
    subject is at risk at t when entry < t ≤ time. Times tie only when exactly equal (R's
    ``timefix`` also merges floating-point near-ties; round computed times first if needed).
    """
    engine = engine_for(frame)
    if engine is not None:  # counts per distinct time from the frame's engine (e.g. Spark)
        return engine.kaplan_meier(
            frame, time, event, by, conf_type, conf_level, entry=entry, weights=weights
        )
    by = as_list(by)
    data = load_columns(frame, [*by, time, event, entry, weights])
    check_times(data, time)
    data = check_binary_event(data, event)
    if entry is not None:
        _check_entry(data, entry, time, weights)
    table, starts, sums = _weighted_counts(data, by, time, event, weights)
    exits, events = sums["exit_w"], sums["event_w"]
    at_risk = reverse_cumsum(exits, starts)
    if entry is not None:
        at_risk -= _late_entries(data, by, entry, table, starts)
    jackknife = weights is not None and not _integer_valued(data[weights])
    survival, std_err, se_log = (np.empty(exits.size) for _ in range(3))
    for start, stop in pairwise(starts):
        part = slice(start, stop)
        n, d = at_risk[part], events[part]
        with np.errstate(divide="ignore", invalid="ignore"):
            survival[part] = np.cumprod(1.0 - d / n)
            if jackknife:
                still = reverse_cumsum(sums["exit_w2"][part], [0, stop - start])
                std_err[part] = (
                    np.sqrt(
                        _km_jackknife_variance(
                            n,
                            d,
                            sums["exit_w2"][part] - sums["event_w2"][part],
                            sums["event_w2"][part],
                            still - sums["exit_w2"][part],
                        )
                    )
                    * survival[part]
                )
                se_log[part] = np.where(std_err[part] == 0, 0.0, std_err[part] / survival[part])
            else:
                se_log[part] = np.sqrt(np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0)))
                std_err[part] = survival[part] * se_log[part]
    lower, upper = confidence_limits(survival, se_log, conf_type, conf_level, log_se=True)
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
        {
            "estimator": "Kaplan–Meier",
            "variance": "infinitesimal jackknife" if jackknife else "Greenwood",
            "conf_type": conf_type,
            "conf_level": conf_level,
        },
    )


def _check_entry(data: pl.DataFrame, entry: str, time: str, weights: str | None) -> None:
    check_entry(data, entry, time)
    if weights is not None:
        raise ModelError("weights together with entry are not supported; drop one of them.")


def _weighted_counts(
    data: pl.DataFrame, by: list[str], time: str, event: str, weights: str | None
) -> tuple[pl.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Per (group, time): exits and events, their weighted sums and sums of squared weights."""
    if weights is None:
        table, starts = counts_by_time(data, by, time, {"event": pl.col(event)})
        exits = table[N_EXIT].to_numpy().astype(np.int64)
        events = table["event"].to_numpy().astype(np.int64)
        sums = {"exit_w": exits, "event_w": events}
        return table, starts, sums | {"exit_w2": exits, "event_w2": events}
    check_weights(data, weights)
    w, d = pl.col(weights).cast(pl.Float64), pl.col(event)
    per_row = {"exit_w": w, "event_w": w * d, "exit_w2": w * w, "event_w2": w * w * d}
    table, starts = counts_by_time(data, by, time, per_row)
    names = ["exit_w", "event_w", "exit_w2", "event_w2"]
    return table, starts, {name: table[name].to_numpy() for name in names}


def _integer_valued(values: pl.Series) -> bool:
    return bool((values.cast(pl.Float64).round(0) == values.cast(pl.Float64)).all())


def reverse_cumsum(values: np.ndarray, starts: Sequence[int] | np.ndarray) -> np.ndarray:
    """Within each group segment: the sum over this and all later times (the risk set)."""
    out = np.empty_like(values)
    for start, stop in pairwise(starts):
        out[start:stop] = np.cumsum(values[start:stop][::-1])[::-1]
    return out


def _km_jackknife_variance(
    n: np.ndarray,
    d: np.ndarray,
    censored_sq: np.ndarray,
    events_sq: np.ndarray,
    still_sq: np.ndarray,
) -> np.ndarray:
    """Infinitesimal-jackknife variance of log S(t) for one group (as survfitkm.c).

    Subject i's influence is S(t)·V_i(t), V_i accumulating h/(n(1−h)) while at risk and
    −1/n at its own event; summed in closed form over exit classes (squared weights).
    """
    hazard = d / n
    jump = np.where(d > 0, hazard / (n * (1.0 - hazard)), 0.0)
    cum_jump = np.cumsum(jump)
    jump_before = np.concatenate([[0.0], cum_jump[:-1]])
    v_censor = np.where(censored_sq > 0, cum_jump, 0.0)
    v_event = jump_before - 1.0 / n
    exited = np.cumsum(censored_sq * v_censor**2 + events_sq * v_event**2)
    at_risk_part = np.where(still_sq > 0, still_sq * cum_jump**2, 0.0)
    return at_risk_part + exited


def _late_entries(
    data: pl.DataFrame, by: list[str], entry: str, table: pl.DataFrame, starts: np.ndarray
) -> np.ndarray:
    """Per (group, time) row: how many of the group enter at or after that time."""
    times = table[table.columns[len(by)]].cast(pl.Float64).to_numpy()
    late = np.empty(times.size, dtype=np.int64)
    parts = data.partition_by(by, as_dict=True, maintain_order=False) if by else {(): data}
    for start, stop in pairwise(starts):
        key = tuple(table.row(int(start))[: len(by)])
        group_entries = np.sort(parts[key][entry].to_numpy())
        late[start:stop] = group_entries.size - np.searchsorted(
            group_entries, times[start:stop], side="left"
        )
    return late


def cumulative_incidence(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    by: str | Sequence[str] | None = None,
    censor_code: Any = 0,
    conf_level: float = 0.95,
    conf_type: ConfType = "log",
    weights: str | None = None,
    entry: str | None = None,
) -> pd.DataFrame:
    """Aalen–Johansen cumulative incidence of ``cause`` in the presence of competing events.

    As R ``survfit(Surv([entry,] time, factor(event)) ~ by, weights, id)`` (survival 3.5,
    multi-state): F_k(t) = Σ_{s≤t} S(s−) d_k(s)/n(s) (Aalen & Johansen 1978), standard error
    from the infinitesimal jackknife (Therneau, survival "methods" vignette), log confidence
    limits on the CIF scale. Returns a pandas DataFrame, one row per distinct time per group:
    ``[by...], time, n_risk, n_event, n_competing, n_censor, cif, std_err, lower, upper``
    (counts unweighted, as R). Every code other than ``censor_code`` is a competing state;
    ties are exact. ``entry``: delayed entry (at risk when entry < t ≤ time), one row each.
    """
    engine = engine_for(frame)
    if engine is not None:  # counts per distinct time from the frame's engine (e.g. Spark)
        return engine.cumulative_incidence(
            frame, time, event, cause, by, censor_code, conf_level, conf_type, weights, entry
        )
    by = as_list(by)
    data = load_columns(frame, [*by, time, event, entry, weights])
    check_times(data, time)
    codes = check_cause(data, event, cause, censor_code)
    if weights is not None:
        check_weights(data, weights)
    if entry is not None:
        _check_entry(data, entry, time, None)
    counts = {f"__d{i}": pl.col(event) == code for i, code in enumerate(codes)}
    table, starts = counts_by_time(data, by, time, counts)
    exits = table[N_EXIT].to_numpy().astype(np.int64)
    events = table.select([f"__d{i}" for i in range(len(codes))]).to_numpy().astype(np.int64)
    at_risk = reverse_cumsum(exits, starts)
    if entry is not None:
        at_risk -= _late_entries(data, by, entry, table, starts)
    if entry is None and weights is None:
        curves = [aalen_johansen(at_risk[a:b], events[a:b]) for a, b in pairwise(starts)]
    else:
        curves = _per_subject_curves(data, by, time, event, codes, entry, weights, table, starts)
    return cif_table(
        table, by, time, curves, at_risk, events, exits, codes, cause, conf_type, conf_level
    )


def cif_table(
    table: pl.DataFrame,
    by: list[str],
    time: str,
    curves: list[tuple[np.ndarray, np.ndarray]],
    at_risk: np.ndarray,
    events: np.ndarray,
    exits: np.ndarray,
    codes: list[Any],
    cause: Any,
    conf_type: str,
    conf_level: float,
) -> pd.DataFrame:
    """The ``cumulative_incidence`` table from per-group Aalen–Johansen ``curves`` (CIF and
    variance per state) and the counts per time; shared by the local and Spark engines."""
    target = codes.index(cause)
    cif = np.concatenate([curve[:, target] for curve, _ in curves])
    std_err = np.sqrt(np.maximum(np.concatenate([var[:, target] for _, var in curves]), 0.0))
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
        {
            "estimator": "Aalen–Johansen",
            "variance": "infinitesimal jackknife",
            "conf_type": conf_type,
            "conf_level": conf_level,
            "cause": cause,
            "competing": [code for code in codes if code != cause],
        },
    )


def _per_subject_curves(
    data: pl.DataFrame,
    by: list[str],
    time: str,
    event: str,
    codes: list[Any],
    entry: str | None,
    weights: str | None,
    table: pl.DataFrame,
    starts: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Aalen–Johansen per group from subject rows (delayed entry and/or case weights)."""
    grid = table[time].cast(pl.Float64).to_numpy()
    parts = data.partition_by(by, as_dict=True, maintain_order=False) if by else {(): data}
    state = {code: i + 1 for i, code in enumerate(codes)}
    curves = []
    for start, stop in pairwise(starts):
        rows = parts[tuple(table.row(int(start))[: len(by)])]
        times = grid[start:stop]
        exit_index = np.searchsorted(times, rows[time].cast(pl.Float64).to_numpy())
        entry_index = (
            np.searchsorted(times, rows[entry].cast(pl.Float64).to_numpy(), side="right")
            if entry is not None
            else np.zeros(rows.height, dtype=np.int64)
        )
        status = rows[event].replace_strict(state, default=0, return_dtype=pl.Int64).to_numpy()
        case_weights = (
            rows[weights].cast(pl.Float64).to_numpy() if weights else np.ones(rows.height)
        )
        curves.append(
            aalen_johansen_truncated(
                entry_index, exit_index, status, case_weights, stop - start, len(codes)
            )
        )
    return curves
