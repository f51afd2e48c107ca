"""``cc.cox`` on a PySpark DataFrame: every Newton step is one Spark aggregation by
(stratum, event time) bin; the driver receives O(T·p²) numbers and runs the local engine's
own reverse cumulative sums, Efron terms, Newton driver and variance (``survival/riskset.py``,
``survival/newton.py``). Robust variance: the score residuals (R's coxscore2/agscore, as
``survival.riskset.score_residuals_by_cluster``) are formed per row in Spark from per-bin
hazard tables, summed within cluster, and only their p x p cross-product is returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from cohortcalc.errors import ModelError
from cohortcalc.spark import riskset as spark_riskset
from cohortcalc.spark.checks import (
    count_where,
    group_code,
    persisted,
    refuse_bad_times_and_weights,
    require_numeric,
)
from cohortcalc.spark.design import SparkDesign, build_design
from cohortcalc.spark.moments import centred, linear_predictor
from cohortcalc.spark.riskset import ENTRY, ENTRY_BIN, EVENT, STOP_BIN, STRATUM, TIME, WEIGHT
from cohortcalc.survival import _kernels
from cohortcalc.survival.cox import TIES
from cohortcalc.survival.newton import NewtonResult, newton_raphson
from cohortcalc.survival.results import CoxResult, cox_result
from cohortcalc.survival.riskset import RiskSetIndex, at_risk_sums

CLUSTER = "__cl"


def cox(
    frame: DataFrame,
    time: str,
    event: str,
    covariates: Sequence[str] | str,
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
) -> CoxResult:
    """``cc.cox`` for a PySpark DataFrame (same arguments, same result, to rounding)."""
    if ties not in TIES:
        raise ModelError(f"ties={ties!r} is not supported; use one of {TIES}.")
    strata_names = [strata] if isinstance(strata, str) else list(strata or [])
    extra = [time, event, entry, weights, *strata_names, cluster]
    with build_design(frame, covariates, reference=reference, columns=extra) as design:
        rows, n_strata = _model_rows(design, time, event, entry, weights, strata_names, cluster)
        checks = _check_rows(design, rows, time, event, entry, weights, cluster)
        index = spark_riskset.event_time_index(rows, n_strata)
        with persisted(spark_riskset.with_bins(rows, index, entry=entry is not None)) as binned:
            per_row = cluster is None and weights is not None and checks["fractional_weights"] > 0
            robust = cluster is not None or per_row
            fit, meat = _fit(
                binned, design, index, ties == "efron", entry is not None, robust, per_row
            )
    variance, n_clusters = fit.variance, None
    if meat is not None:
        n_clusters = design.n if per_row else int(checks["n_clusters"])
        variance = fit.variance @ meat @ fit.variance
    labels = dict(ties=ties, time=time, event=event, entry=entry, cluster=cluster, weights=weights)
    return cox_result(
        fit,
        design,
        variance=variance,
        robust=meat is not None,
        n_events=int(checks["n_events"]),
        n_clusters=n_clusters,
        labels={**labels, "strata": tuple(strata_names) or None},
    )


def _fit(
    binned: DataFrame,
    design: SparkDesign,
    index: RiskSetIndex,
    efron: bool,
    entry: bool,
    robust: bool,
    per_row: bool,
) -> tuple[NewtonResult, np.ndarray | None]:
    """Newton–Raphson with one Spark aggregation per step; the robust meat if asked."""
    x = design.x_columns
    center, event_sum = _center_and_event_sums(binned, x)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        by_exit, events_only = spark_riskset.bin_sums(binned, x, center, beta, index, entry=entry)
        at_risk = at_risk_sums(by_exit, index)
        return spark_riskset.likelihood(at_risk, events_only, index, event_sum, beta, efron=efron)

    fit = newton_raphson(objective, design.terms)
    if not robust:
        return fit, None
    by_exit, events_only = spark_riskset.bin_sums(binned, x, center, fit.beta, index, entry=entry)
    meat = _score_cross_product(
        binned, x, center, fit.beta, index, by_exit, events_only, efron, per_row
    )
    return fit, meat


def _model_rows(
    design: SparkDesign,
    time: str,
    event: str,
    entry: str | None,
    weights: str | None,
    strata: Sequence[str],
    cluster: str | None,
) -> tuple[DataFrame, int]:
    """The columns every later pass reads: design, time, event (0/1), weight, entry, codes."""
    for name, role in ((time, "time"), (entry, "entry"), (weights, "weights")):
        if name is not None:
            require_numeric(design, name, role)
    if not (design.is_numeric(event) or design.types[event].typeName() == "boolean"):
        raise ModelError(
            f"event column {event!r} holds text; code it as boolean or 0/1 (1 = event)."
        )
    stratum, n_strata = group_code(design.frame, strata) if strata else (F.lit(0), 1)
    columns: list[Column] = [
        *(F.col(c) for c in design.x_columns),
        F.col(time).cast("double").alias(TIME),
        F.col(event).cast("double").alias(EVENT),
        (F.col(weights).cast("double") if weights else F.lit(1.0)).alias(WEIGHT),
        (F.col(entry).cast("double") if entry else F.lit(0.0)).alias(ENTRY),
        stratum.alias(STRATUM),
    ]
    if cluster is not None:
        columns.append(F.col(cluster).alias(CLUSTER))
    return design.frame.select(*columns), n_strata


def _check_rows(
    design: SparkDesign,
    rows: DataFrame,
    time: str,
    event: str,
    entry: str | None,
    weights: str | None,
    cluster: str | None,
) -> dict[str, Any]:
    """One pass of checks, each refusing with the local engine's reason (counts, no row no.)."""
    t, d, w, e = F.col(TIME), F.col(EVENT), F.col(WEIGHT), F.col(ENTRY)
    aggregates = {
        "n_events": count_where(d == 1),
        "bad_event": count_where(~d.isin(0.0, 1.0)),
        "bad_time": count_where((t <= 0) | F.isnan(t)),
        "negative_entry": count_where(e < 0),
        "late_entry": count_where(e >= t),
        "bad_weight": count_where((w <= 0) | F.isnan(w)),
        "fractional_weights": count_where(w != F.floor(w)),
        "n_clusters": F.countDistinct(CLUSTER) if cluster else F.lit(0),
    }
    levels = _level_event_counts(design)
    stats = rows.agg(*(v.alias(k) for k, v in {**aggregates, **levels}.items())).first()
    assert stats is not None
    refuse_bad_times_and_weights(time, stats["bad_time"], weights, stats["bad_weight"])
    if stats["bad_event"]:
        raise ModelError(
            f"event column {event!r} has codes besides 0/1 in {stats['bad_event']} row(s); a "
            f"Cox model needs 1 = event, 0 = censored. Map the codes first (cause-specific: "
            f"({event} == 1)); for competing risks see cc.finegray."
        )
    if entry is not None and stats["negative_entry"]:
        raise ModelError(f"entry column {entry!r} has negative values in some rows.")
    if entry is not None and stats["late_entry"]:
        raise ModelError(
            f"entry {entry!r} is not before exit {time!r} in {stats['late_entry']} row(s); each "
            "row must cover an interval (entry, exit] of positive length. Drop or fix those rows."
        )
    if not stats["n_events"]:
        raise ModelError(
            f"no events: every row has {event} = 0 (all censored), so a Cox model has nothing "
            "to estimate. Check the event coding or the population."
        )
    _refuse_levels_without_events(design, stats)
    return stats.asDict()


def _level_event_counts(design: SparkDesign) -> dict[str, Column]:
    """Events per level of each factor (main effects), reference level included."""
    d = F.col(EVENT)
    counts: dict[str, Column] = {}
    for term, cols in design.assign.items():
        if ":" in term or term not in design.levels:
            continue
        dummies = [F.col(design.x_columns[j]) for j in cols]
        for j, dummy in zip(cols, dummies, strict=True):
            counts[f"level{j}"] = F.sum(d * dummy)
        counts[f"reference:{term}"] = count_where((d == 1) & (sum(dummies) == 0))
    return counts


def _refuse_levels_without_events(design: SparkDesign, stats: Any) -> None:
    for term, cols in design.assign.items():
        if ":" in term or term not in design.levels:
            continue
        empty = [design.terms[j] for j in cols if not stats[f"level{j}"]]
        if not stats[f"reference:{term}"]:
            empty.insert(0, f"{term}[{design.levels[term][0]}] (reference)")
        if empty:
            raise ModelError(
                f"no events in {empty}: the hazard ratio against that level is infinite. "
                f"Merge the level with a neighbour or choose another reference for {term!r}."
            )


def _center_and_event_sums(rows: DataFrame, x: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column means over the rows at risk (R's centring) and Σ_events w·(x - c)."""
    w, dw = F.col(WEIGHT), F.col(WEIGHT) * F.col(EVENT)
    sums = rows.agg(
        F.sum(w), F.sum(dw), *(F.sum(w * F.col(c)) for c in x), *(F.sum(dw * F.col(c)) for c in x)
    ).first()
    values = np.array(tuple(sums), dtype=np.float64)
    p = len(x)
    center = values[2 : 2 + p] / values[0]
    return center, values[2 + p :] - values[1] * center


def _score_cross_product(
    rows: DataFrame,
    x: Sequence[str],
    center: np.ndarray,
    beta: np.ndarray,
    index: RiskSetIndex,
    by_exit: np.ndarray,
    events_only: np.ndarray,
    efron: bool,
    per_row: bool,
) -> np.ndarray:
    """Σ_clusters UᵀU of the weighted score residuals summed within cluster (p x p)."""
    at_risk = _kernels.reverse_cumsum_by_stratum(by_exit, index.stratum_start)
    hazards = _kernels.hazard_terms(at_risk, events_only, index.n_deaths, index.death_weight, efron)
    cumulative = _kernels.forward_cumsum_by_stratum(hazards, index.stratum_start)
    p = len(x)
    spark = rows.sparkSession
    exit_table, entry_table = _hazard_tables(spark, hazards, cumulative, p)
    joined = rows.join(F.broadcast(exit_table), on=[STOP_BIN, EVENT]).join(
        F.broadcast(entry_table), on=ENTRY_BIN, how="left"
    )
    xc = centred(x, center)
    risk = F.exp(linear_predictor(x, center, beta))
    h0 = F.col("__a0") - F.coalesce(F.col("__c0"), F.lit(0.0))
    residuals = [
        F.col(WEIGHT)
        * (
            F.col(EVENT) * xc[j]
            - F.col(f"__m{j}")
            - risk
            * (xc[j] * h0 - (F.col(f"__a{j + 1}") - F.coalesce(F.col(f"__c{j + 1}"), F.lit(0.0))))
        )
        for j in range(p)
    ]
    names = [f"__u{j}" for j in range(p)]
    if per_row:
        scores = joined.select(*(r.alias(n) for r, n in zip(residuals, names, strict=True)))
    else:
        scores = joined.groupBy(CLUSTER).agg(
            *(F.sum(r).alias(n) for r, n in zip(residuals, names, strict=True))
        )
    pairs = [(i, j) for i in range(p) for j in range(i, p)]
    totals = scores.agg(*(F.sum(F.col(names[i]) * F.col(names[j])) for i, j in pairs)).first()
    meat = np.zeros((p, p))
    for (i, j), value in zip(pairs, tuple(totals), strict=True):
        meat[i, j] = meat[j, i] = value
    return meat


def _hazard_tables(
    spark: Any, hazards: np.ndarray, cumulative: np.ndarray, p: int
) -> tuple[DataFrame, DataFrame]:
    """Per (bin, event) the exit-side terms of a row's residual; per bin the entry-side ones.

    Layout of ``hazards`` as ``_kernels.hazard_terms``: [h0, h1 (p), g0, g1 (p), x̄m (p)]."""
    n_bins = hazards.shape[0]
    bins = np.arange(n_bins, dtype=np.int64)
    exits = []
    for d in (0.0, 1.0):  # the tied events' own term is down-weighted (Efron; R coxscore2)
        columns = {STOP_BIN: bins, EVENT: np.full(n_bins, d)}
        columns["__a0"] = cumulative[:, 0] - d * (hazards[:, 0] - hazards[:, 1 + p])
        for j in range(p):
            columns[f"__a{j + 1}"] = cumulative[:, 1 + j] - d * (
                hazards[:, 1 + j] - hazards[:, 2 + p + j]
            )
        for j in range(p):
            columns[f"__m{j}"] = d * hazards[:, 2 + 2 * p + j]
        exits.append(pd.DataFrame(columns))
    entries = pd.DataFrame({ENTRY_BIN: bins, **{f"__c{j}": cumulative[:, j] for j in range(p + 1)}})
    return spark.createDataFrame(pd.concat(exits)), spark.createDataFrame(entries)
