"""Risk-set bins of a Cox fit on Spark: distinct event times, bin columns, per-bin sums.

The Spark counterpart of ``survival.riskset.prepare_risk_sets`` / ``risk_set_sums``: one
aggregation finds the distinct (stratum, event time) bins with their death counts and
weights; every row gets the index of the last bin at or before its exit (and entry) time by
a JVM binary search (``Bucketizer``, no Python workers); each Newton step is then one
aggregation by (bin, kind) — kind 0 censored exit, 1 event, 2 delayed entry (subtracted) —
whose O(T·p²) result is unpacked into the layout of ``survival.riskset.risk_set_sums``, so
the reverse cumulative sums, Efron terms and Newton steps are the model layer's own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from pyspark.ml.feature import Bucketizer
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cohortcalc.spark.moments import full_moments, moment_sums
from cohortcalc.survival.riskset import RiskSetIndex, prepare_risk_sets

STRATUM, TIME, EVENT, WEIGHT, ENTRY = "__s", "__t", "__d", "__w", "__e"
STOP_BIN, ENTRY_BIN = "__b", "__eb"


def event_time_index(rows: DataFrame, n_strata: int) -> RiskSetIndex:
    """Bins = distinct (stratum, event time), ordered; per-bin death counts and weights.

    Built by the local ``prepare_risk_sets`` from one pseudo-row per bin (so the bin layout is
    the local engine's own), then given the real per-bin counts: on Spark the rows never leave
    the cluster, so the per-row arrays describe the pseudo-rows only and are not used."""
    collected = (
        rows.filter(F.col(EVENT) == 1)
        .groupBy(STRATUM, TIME)
        .agg(F.count(F.lit(1)), F.sum(WEIGHT))
        .collect()
    )
    table = np.array([tuple(r) for r in collected], dtype=np.float64).reshape(-1, 4)
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    strata = np.append(table[:, 0].astype(np.int64), n_strata - 1)  # every stratum code
    times = np.append(table[:, 1], table[:, 1].max(initial=0.0) + 1.0)
    events = np.append(np.ones(table.shape[0], dtype=bool), False)
    index = prepare_risk_sets(times, events, strata=strata)
    return dataclasses.replace(
        index, n_deaths=table[:, 2].astype(np.int64), death_weight=table[:, 3].copy()
    )


def with_bins(rows: DataFrame, index: RiskSetIndex, *, entry: bool) -> DataFrame:
    """Add the exit bin (and entry bin) of every row; keep the rows at risk at some event time.

    As ``prepare_risk_sets``: the bin is the last one of the row's stratum whose time is <=
    the value (-1: none); a row whose entry bin is not before its exit bin is never at risk.
    """
    values = [(TIME, STOP_BIN)] + ([(ENTRY, ENTRY_BIN)] if entry else [])
    splits, inputs, outputs, plans = [], [], [], []
    for s in range(index.stratum_start.shape[0] - 1):
        first, last = int(index.stratum_start[s]), int(index.stratum_start[s + 1])
        if last == first:
            continue
        for source, target in values:
            splits.append([-float("inf"), *index.bin_time[first:last].tolist(), float("inf")])
            inputs.append(source)
            outputs.append(f"{target}{s}")
        plans.append((s, first))
    if not plans:
        return rows.limit(0).withColumn(STOP_BIN, F.lit(-1)).withColumn(ENTRY_BIN, F.lit(-1))
    bucketed = Bucketizer(splitsArray=splits, inputCols=inputs, outputCols=outputs).transform(rows)
    binned = bucketed.select(
        *rows.columns,
        *(_bin(plans, target).alias(target) for _, target in values),
    )
    if not entry:
        return binned.withColumn(ENTRY_BIN, F.lit(-1)).filter(F.col(STOP_BIN) >= 0)
    return binned.filter((F.col(STOP_BIN) >= 0) & (F.col(STOP_BIN) > F.col(ENTRY_BIN)))


def _bin(plans: Sequence[tuple[int, int]], target: str) -> Column:
    """Global bin index from each stratum's bucket (bucket 0: before the first event time)."""
    result = F.lit(-1).cast("long")
    for s, first in reversed(plans):
        bucket = F.col(f"{target}{s}").cast("long")
        local = F.when(bucket == 0, F.lit(-1)).otherwise(bucket - 1 + first)
        result = F.when(F.col(STRATUM) == s, local).otherwise(result)
    return result


def bin_sums(
    rows: DataFrame,
    x_columns: Sequence[str],
    center: np.ndarray,
    beta: np.ndarray,
    index: RiskSetIndex,
    *,
    entry: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(by_exit, events_only)`` exactly as ``survival.riskset.risk_set_sums`` returns them,
    from one Spark aggregation by (bin, kind)."""
    base = [*x_columns]
    exits = rows.select(
        F.col(STOP_BIN).alias("__bin"), F.col(EVENT).cast("int").alias("__kind"), WEIGHT, *base
    )
    if entry:
        entries = rows.filter(F.col(ENTRY_BIN) >= 0).select(
            F.col(ENTRY_BIN).alias("__bin"),
            F.lit(2).alias("__kind"),
            (-F.col(WEIGHT)).alias(WEIGHT),
            *base,
        )
        exits = exits.unionByName(entries)
    sums = moment_sums(exits, ["__bin", "__kind"], x_columns, center, beta, WEIGHT)
    p = len(x_columns)
    moments = full_moments(sums[:, 2:], p)
    bins, kinds = sums[:, 0].astype(np.int64), sums[:, 1].astype(np.int64)
    by_exit = np.zeros((index.n_bins, moments.shape[1]))
    events_only = np.zeros_like(by_exit)
    np.add.at(by_exit, bins, moments)
    np.add.at(events_only, bins[kinds == 1], moments[kinds == 1])
    return by_exit, events_only
