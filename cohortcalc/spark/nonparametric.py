"""``cc.kaplan_meier``, ``cc.cumulative_incidence`` and ``cc.incidence_rates`` on PySpark.

Each estimator needs counts per (group, distinct time) only, so Spark does one group-by and
the driver runs the local estimator on the few thousand counted rows: Kaplan–Meier through
``survival.nonparametric.kaplan_meier`` itself (the counts enter as integer case weights,
which give the same estimate and Greenwood variance as the rows they count), Aalen–Johansen
through ``aalen_johansen`` and the local confidence limits, rates through ``rate_table``.
Delayed entry, and non-integer weights (whose jackknife variance needs per-row weights), are
local-only and refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cohortcalc.errors import FrameError, ModelError
from cohortcalc.spark.checks import count_where
from cohortcalc.spark.design import is_numeric_type
from cohortcalc.survival import nonparametric as local
from cohortcalc.survival.aalen_johansen import aalen_johansen
from cohortcalc.survival.inputs import (
    as_list,
    check_binary_event,
    check_cause,
    check_times,
    counts_by_time,
)
from cohortcalc.survival.rates import YEARS_PER_UNIT, rate_table

COUNT = "__n"


def kaplan_meier(
    frame: DataFrame,
    time: str,
    event: str,
    by: str | Sequence[str] | None = None,
    conf_type: local.ConfType = "log",
    conf_level: float = 0.95,
    entry: str | None = None,
    weights: str | None = None,
) -> pd.DataFrame:
    """``cc.kaplan_meier`` for a PySpark DataFrame: one Spark group-by, the local estimator."""
    by = as_list(by)
    _refuse_local_only("kaplan_meier", entry, None)
    _refuse_nulls(frame, [*by, time, event, weights], weights, integer_weights=True)
    w = F.col(weights).cast("double") if weights else F.lit(1)
    counts = frame.groupBy(*by, time, event).agg(F.sum(w).alias(COUNT)).toPandas()
    table = local.kaplan_meier(
        pl.from_pandas(counts),
        time,
        event,
        by=by,
        conf_type=conf_type,
        conf_level=conf_level,
        weights=COUNT,
    )
    if weights is None:
        for name in ("n_risk", "n_event", "n_censor"):
            table[name] = table[name].round().astype(np.int64)
    return table


def cumulative_incidence(
    frame: DataFrame,
    time: str,
    event: str,
    cause: Any,
    by: str | Sequence[str] | None = None,
    censor_code: Any = 0,
    conf_level: float = 0.95,
    conf_type: local.ConfType = "log",
    weights: str | None = None,
    entry: str | None = None,
) -> pd.DataFrame:
    """``cc.cumulative_incidence`` for a PySpark DataFrame: counts per (group, time) from one
    Spark group-by, then the local Aalen–Johansen recursion and limits."""
    by = as_list(by)
    _refuse_local_only("cumulative_incidence", entry, weights)
    _refuse_nulls(frame, [*by, time, event], None)
    present = frame.select(event).distinct().toPandas()
    codes = check_cause(pl.from_pandas(present), event, cause, censor_code)
    per_code = [
        count_where(F.col(event) == F.lit(code)).alias(f"__d{i}") for i, code in enumerate(codes)
    ]
    counts = pl.from_pandas(
        frame.groupBy(*by, time).agg(F.count(F.lit(1)).alias(COUNT), *per_code).toPandas()
    )
    check_times(counts, time)
    sums = {COUNT: pl.col(COUNT), **{f"__d{i}": pl.col(f"__d{i}") for i in range(len(codes))}}
    table, starts = counts_by_time(counts, by, time, sums)
    exits = table[COUNT].to_numpy().astype(np.int64)
    events = table.select([f"__d{i}" for i in range(len(codes))]).to_numpy().astype(np.int64)
    at_risk = local.reverse_cumsum(exits, starts)
    curves = [aalen_johansen(at_risk[a:b], events[a:b]) for a, b in pairwise(starts)]
    return local.cif_table(
        table, by, time, curves, at_risk, events, exits, codes, cause, conf_type, conf_level
    )


def incidence_rates(
    frame: DataFrame,
    time: str,
    event: str,
    by: str | Sequence[str] | None = None,
    per: float = 1000,
    time_unit: Literal["days", "months", "years"] = "days",
    conf_level: float = 0.95,
    entry: str | None = None,
) -> pd.DataFrame:
    """``cc.incidence_rates`` for a PySpark DataFrame: events and person-time per group from
    one Spark group-by (per group and event code), exact Poisson limits on the driver."""
    if time_unit not in YEARS_PER_UNIT:
        raise ModelError(f"time_unit {time_unit!r} is not one of {sorted(YEARS_PER_UNIT)}.")
    by = as_list(by)
    _refuse_nulls(frame, [*by, time, event, entry], None)
    for name in (time, entry):
        if name is not None and not is_numeric_type(frame.schema[name].dataType):
            raise ModelError(f"time column {name!r} must be numeric (days or years).")
    exit_time = F.col(time).cast("double")
    start = F.col(entry).cast("double") if entry else F.lit(0.0)
    counts = frame.groupBy(*by, event).agg(
        F.count(F.lit(1)).alias(COUNT),
        F.sum(exit_time - start).alias("__time"),
        F.min(exit_time).alias("__min"),
        count_where(F.isnan(exit_time) | F.isnan(start)).alias("__nan"),
        count_where(start > exit_time).alias("__late"),
    )
    data = pl.from_pandas(counts.toPandas())
    if data["__nan"].sum():
        raise ModelError(f"time column {time!r} (or entry) has NaN values; fix or drop those rows.")
    check_times(data.select(pl.col("__min").alias(time)), time)
    if data["__late"].sum():
        raise ModelError(
            f"entry column {entry!r} is after time column {time!r} in {data['__late'].sum()} "
            "row(s)."
        )
    data = check_binary_event(data, event)
    summed = [
        (pl.col(event) * pl.col(COUNT)).sum().alias("events"),
        (pl.col("__time").sum() * YEARS_PER_UNIT[time_unit]).alias("person_years"),
    ]
    table = data.group_by(by).agg(summed).sort(by) if by else data.select(summed)
    return rate_table(table, by, time, per, conf_level)


def _refuse_local_only(function: str, entry: str | None, weights: str | None) -> None:
    for name, value in (("entry", entry), ("weights", weights)):
        if value is not None:
            raise ModelError(
                f"{function}({name}=...) is not available on Spark (the estimator needs every "
                f"row's {name}); collect the columns with .toPandas() and use the local engine."
            )


def _refuse_nulls(
    frame: DataFrame,
    columns: Sequence[str | None],
    weights: str | None,
    *,
    integer_weights: bool = False,
) -> None:
    """Missing columns, nulls and bad weights, from one Spark pass (the local checks' reasons)."""
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise FrameError(
            f"column(s) {missing} not found in the frame; available columns: "
            f"{sorted(frame.columns)}. Check the spelling or derive the column first."
        )
    checks = [F.count(F.lit(1)).alias("__rows")]
    checks += [count_where(F.col(c).isNull()).alias(c) for c in wanted]
    if weights is not None:
        w = F.col(weights).cast("double")
        checks.append(count_where(~(w > 0) | F.isnan(w)).alias("__bad"))
        checks.append(count_where(w != F.floor(w)).alias("__fraction"))
    stats = frame.agg(*checks).first()
    assert stats is not None
    if not stats["__rows"]:
        raise ModelError("the frame has no rows; nothing to estimate.")
    for name in wanted:
        if stats[name]:
            raise ModelError(
                f"column {name!r} has {stats[name]} missing value(s); drop or impute them "
                "before the analysis."
            )
    if weights is not None and stats["__bad"]:
        raise ModelError(
            f"weights column {weights!r} has {stats['__bad']} value(s) that are not finite and "
            "> 0; drop those rows or fix the weights."
        )
    if weights is not None and integer_weights and stats["__fraction"]:
        raise ModelError(
            f"weights column {weights!r} has non-integer values, whose jackknife variance needs "
            "every row's weight: this is local-only; collect with .toPandas() and use the "
            "local engine."
        )
