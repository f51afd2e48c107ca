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

from cohortcalc.errors import ModelError
from cohortcalc.frames import refuse_missing_columns
from cohortcalc.spark.checks import SparkRowChecks, count_where, is_numeric_type
from cohortcalc.survival import nonparametric as local
from cohortcalc.survival.aalen_johansen import aalen_johansen
from cohortcalc.survival.inputs import (
    as_list,
    check_binary_event,
    check_cause,
    check_complete,
    check_entry_not_after,
    check_times,
    check_weights,
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
    checks = _checked(frame, [*by, time, event, weights], time, weights)
    check_binary_event(checks, event)
    if weights is not None:
        check_weights(checks, weights)
    if weights is not None and checks.count("fraction", weights):
        raise ModelError(
            f"weights column {weights!r} has non-integer values, whose jackknife variance needs "
            "every row's weight: this is local-only; collect with .toPandas() and use the "
            "local engine."
        )
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
    _checked(frame, [*by, time, event], time, None)
    present = frame.select(event).distinct().toPandas()
    codes = check_cause(pl.from_pandas(present), event, cause, censor_code)
    per_code = [
        count_where(F.col(event) == F.lit(code)).alias(f"__d{i}") for i, code in enumerate(codes)
    ]
    counts = pl.from_pandas(
        frame.groupBy(*by, time).agg(F.count(F.lit(1)).alias(COUNT), *per_code).toPandas()
    )
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
    checks = _checked(frame, [*by, time, event, entry], time, None)
    check_binary_event(checks, event)
    if entry is not None:
        check_entry_not_after(checks, entry, time)
    exit_time = F.col(time).cast("double")
    start = F.col(entry).cast("double") if entry else F.lit(0.0)
    counts = frame.groupBy(*by, event).agg(
        F.count(F.lit(1)).alias(COUNT), F.sum(exit_time - start).alias("__time")
    )
    data = pl.from_pandas(counts.toPandas())
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


def _checked(
    frame: DataFrame, columns: Sequence[str | None], time: str, weights: str | None
) -> SparkRowChecks:
    """Missing columns, nulls, times and weights: the local checks (``survival.inputs``),
    their counts from one Spark aggregation."""
    wanted = [c for c in dict.fromkeys(columns) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        refuse_missing_columns(missing, frame.columns)
    data = frame.select(*wanted)
    numeric = [c for c in wanted if is_numeric_type(data.schema[c].dataType)]
    expected = [("null", c, None) for c in wanted]
    expected += [(kind, c, None) for c in numeric for kind in ("non_finite", "negative")]
    expected += [("not_01", c, None) for c in numeric]
    if weights is not None:
        expected += [("bad_weight", weights, None), ("fraction", weights, None)]
    checks = SparkRowChecks(data, expected)
    check_complete(checks, wanted)
    check_times(checks, time)
    return checks
