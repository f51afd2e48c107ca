"""Crude incidence rates with exact Poisson confidence limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import gamma

from cohortcalc.errors import ModelError
from cohortcalc.survival.engine import engine_for
from cohortcalc.survival.inputs import (
    as_list,
    check_binary_event,
    check_entry_not_after,
    check_times,
    load_columns,
)

DAYS_PER_YEAR = 365.25  # Julian year, the usual person-time convention
YEARS_PER_UNIT = {"days": 1 / DAYS_PER_YEAR, "months": 1 / 12, "years": 1.0}


def poisson_limits(
    events: np.ndarray, exposure: np.ndarray, conf_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood 1936) limits for a Poisson rate events/exposure, as R ``poisson.test``.

    lower = Γ⁻¹(α/2; x) / T (0 when x = 0), upper = Γ⁻¹(1 − α/2; x + 1) / T.
    """
    if not 0 < conf_level < 1:
        raise ModelError(f"conf_level must be between 0 and 1, got {conf_level}.")
    alpha = 1 - conf_level
    events = np.asarray(events, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    lower = np.where(events > 0, gamma.ppf(alpha / 2, np.maximum(events, 1)), 0.0)
    upper = gamma.ppf(1 - alpha / 2, events + 1)
    return lower / exposure, upper / exposure


def incidence_rates(
    frame: Any,
    time: str,
    event: str,
    by: str | Sequence[str] | None = None,
    per: float = 1000,
    time_unit: Literal["days", "months", "years"] = "days",
    conf_level: float = 0.95,
    entry: str | None = None,
) -> pd.DataFrame:
    """Events, person-years and the rate per ``per`` person-years, with exact Poisson limits.

    ``time`` is each participant's follow-up in ``time_unit`` (days are converted with 365.25
    days per year), or the exit time when ``entry`` is given (person-time = time − entry, e.g.
    on the age scale). Returns a pandas DataFrame ``[by...], events, person_years, rate,
    lower, upper``, one row per group, sorted by group.
    """
    engine = engine_for(frame)
    if engine is not None:  # counts per distinct time from the frame's engine (e.g. Spark)
        return engine.incidence_rates(frame, time, event, by, per, time_unit, conf_level, entry)
    if time_unit not in YEARS_PER_UNIT:
        raise ModelError(f"time_unit {time_unit!r} is not one of {sorted(YEARS_PER_UNIT)}.")
    by = as_list(by)
    data = load_columns(frame, [*by, time, event, entry])
    check_times(data, time)
    data = check_binary_event(data, event)
    follow_up = pl.col(time).cast(pl.Float64)
    if entry is not None:
        check_entry_not_after(data, entry, time)
        follow_up = follow_up - pl.col(entry).cast(pl.Float64)
    aggregations = [
        pl.col(event).sum().alias("events"),
        (follow_up.sum() * YEARS_PER_UNIT[time_unit]).alias("person_years"),
    ]
    table = data.group_by(by).agg(aggregations).sort(by) if by else data.select(aggregations)
    return rate_table(table, by, time, per, conf_level)


def rate_table(
    table: pl.DataFrame, by: list[str], time: str, per: float, conf_level: float
) -> pd.DataFrame:
    """Rates per ``per`` person-years with exact limits from summed ``events``/``person_years``.

    Shared by the local and Spark ``incidence_rates``; raises ``ModelError`` for a group with
    no person-time (naming ``time``).
    """
    empty = table.filter(pl.col("person_years") <= 0)
    if empty.height:
        raise ModelError(
            f"zero person-time in group(s) {empty.select(by).rows() if by else 'all'}; "
            f"check column {time!r}."
        )
    out = table.to_pandas()
    lower, upper = poisson_limits(
        out["events"].to_numpy(), out["person_years"].to_numpy(), conf_level
    )
    out["rate"] = per * out["events"] / out["person_years"]
    out["lower"] = per * lower
    out["upper"] = per * upper
    return out
