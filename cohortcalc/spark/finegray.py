"""``cc.finegray`` on a PySpark DataFrame, with the local engine's conventions and numbers.

One aggregation by (stratum, time) gives the per-time weighted counts; the local
``finegray_riskset.prepare`` turns them (as one weighted pseudo-row per time and status) into
the censoring Kaplan–Meier G, the bins and their counts — no second copy of that code. Each
Newton step is one aggregation by (bin, competing): the subdistribution risk set at t is the
reverse cumulative sum of all rows plus G(t-) times the forward sum of the competing rows
divided by G(Tᵢ-), which is constant within a bin (Fine & Gray 1999; DESIGN.md). Breslow
terms then come from the Cox engine's ``event_time_terms``. crr's sandwich variance: the
per-bin parts are ``finegray_riskset.residual_bin_terms``; the per-row residual Uᵢ is formed
in Spark and only Σ wᵢUᵢUᵢᵀ (p x p) comes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cohortcalc.errors import ModelError
from cohortcalc.spark.checks import (
    count_where,
    group_code,
    persisted,
    refuse_bad_times_and_weights,
    require_numeric,
)
from cohortcalc.spark.design import SparkDesign, as_text, build_design
from cohortcalc.spark.moments import full_moments, moment_sums, sql_centred, sql_linear_predictor
from cohortcalc.spark.riskset import likelihood
from cohortcalc.survival import finegray_riskset as engine
from cohortcalc.survival.finegray import _inverse, _last_newton_step, refuse_equal_codes
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.newton import newton_raphson
from cohortcalc.survival.results import coefficient_table, vcov_frame
from cohortcalc.survival.riskset import RiskSetIndex, prepare_risk_sets

STATUS, TIME, WEIGHT, STRATUM, BIN = "__st", "__t", "__w", "__s", "__bin"


def finegray(
    frame: DataFrame,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    censor_code: Any = 0,
    strata: str | Sequence[str] | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
) -> FineGrayResult:
    """``cc.finegray`` for a PySpark DataFrame (same arguments, same result, to rounding)."""
    strata_names = [strata] if isinstance(strata, str) else list(strata or [])
    extra = (time, event, weights, *strata_names)
    with build_design(frame, covariates, reference=reference, columns=extra) as design:
        rows, codes = _model_rows(design, time, event, cause, censor_code, weights, strata_names)
        counts = _check_rows(design, rows, time, event, cause, censor_code, weights, codes)
        data, binned = _prepare(rows, design)
        with persisted(binned) as binned:
            x = design.x_columns
            index = _cause_index(data)
            fit = newton_raphson(
                lambda beta: _objective(binned, x, data, index, beta)[0], design.terms
            )
            beta = _last_newton_step(fit)
            (loglik, _, information), sums = _objective(binned, x, data, index, beta)
            meat = _meat(binned, x, data, sums, beta)
    bread = _inverse(information, fit.variance)
    vcov = bread @ meat @ bread
    vcov = (vcov + vcov.T) / 2
    return FineGrayResult(
        summary=coefficient_table(beta, vcov, design.terms),
        vcov=vcov_frame(vcov, design.terms),
        terms=design.terms,
        time=time,
        event=event,
        cause=cause,
        competing=tuple(c for c in codes if str(c) not in (str(cause), str(censor_code))),
        censor_code=censor_code,
        n=design.n,
        n_events=int(counts["n_cause"]),
        n_competing=int(counts["n_competing"]),
        n_censored=int(counts["n_censored"]),
        n_dropped=design.n_dropped,
        loglik=loglik,
        loglik_null=fit.loglik_init,
        converged=fit.converged,
        iterations=fit.iterations,
        strata=", ".join(strata_names) or None,
        n_strata=len(data.strata),
        weights=weights,
        reference=dict(design.reference),
        splines=dict(design.splines),
    )


def _model_rows(
    design: SparkDesign,
    time: str,
    event: str,
    cause: Any,
    censor_code: Any,
    weights: str | None,
    strata: Sequence[str],
) -> tuple[DataFrame, list[Any]]:
    """Design columns, time, status 0/1/2 (censored/cause/competing), weight, stratum code."""
    require_numeric(design, time, "time")
    if weights is not None:
        require_numeric(design, weights, "weights")
    refuse_equal_codes(cause, censor_code)
    codes = sorted(r[0] for r in design.frame.select(event).distinct().collect())
    if design.is_numeric(event):
        codes = [int(c) if float(c).is_integer() else float(c) for c in codes]
        try:
            value, is_cause, is_censored = (
                F.col(event).cast("double"),
                F.lit(float(cause)),
                F.lit(float(censor_code)),
            )
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"event column {event!r} is numeric but cause={cause!r} / censor_code="
                f"{censor_code!r} are not numbers; codes present: {codes}."
            ) from exc
    else:
        codes = [str(c) for c in codes]
        value = as_text(F.col(event), design.types[event])
        is_cause, is_censored = F.lit(str(cause)), F.lit(str(censor_code))
    status = F.when(value == is_censored, 0).when(value == is_cause, 1).otherwise(2)
    stratum, _ = group_code(design.frame, strata) if strata else (F.lit(0), 1)
    return design.frame.select(
        *design.x_columns,
        F.col(time).cast("double").alias(TIME),
        status.alias(STATUS),
        (F.col(weights).cast("double") if weights else F.lit(1.0)).alias(WEIGHT),
        stratum.alias(STRATUM),
    ), codes


def _check_rows(
    design: SparkDesign,
    rows: DataFrame,
    time: str,
    event: str,
    cause: Any,
    censor_code: Any,
    weights: str | None,
    codes: list[Any],
) -> dict[str, Any]:
    """One pass of checks, each refusing with the local engine's reason."""
    t, w, st = F.col(TIME), F.col(WEIGHT), F.col(STATUS)
    aggregates = {
        "bad_time": count_where((t <= 0) | F.isnan(t)),
        "bad_weight": count_where(~(w > 0) | F.isnan(w)),
        "n_cause": count_where(st == 1),
        "n_competing": count_where(st == 2),
        "n_censored": count_where(st == 0),
    }
    checks = _term_event_counts(design)
    stats = rows.agg(*(v.alias(k) for k, v in {**aggregates, **checks}.items())).first()
    assert stats is not None
    refuse_bad_times_and_weights(time, stats["bad_time"], weights, stats["bad_weight"])
    if stats["n_censored"] == design.n:
        raise ModelError(
            f"every row is censored ({event} = {censor_code!r}); there is nothing to estimate. "
            "Check the event coding or the population."
        )
    if not stats["n_cause"]:
        raise ModelError(
            f"cause {cause!r} never occurs in column {event!r} (codes present: {codes}); "
            "give the code of the event of interest."
        )
    _refuse_terms_without_events(design, stats, cause)
    return stats.asDict()


def _term_event_counts(design: SparkDesign) -> dict[str, Any]:
    """Events of the cause per level of each factor, and per side of each 0/1 term."""
    cause = F.col(STATUS) == 1
    counts: dict[str, Any] = {}
    for term, cols in design.assign.items():
        dummies = [F.col(design.x_columns[j]) for j in cols]
        if term in design.levels:
            counts[f"{term}#0"] = count_where(cause & (sum(dummies) == 0))
            for k, dummy in enumerate(dummies, start=1):
                counts[f"{term}#{k}"] = count_where(cause & (dummy == 1))
        elif len(cols) == 1:
            counts[f"{term}#binary"] = count_where(~dummies[0].isin(0.0, 1.0))
            counts[f"{term}#0"] = count_where(cause & (dummies[0] == 0))
            counts[f"{term}#1"] = count_where(cause & (dummies[0] == 1))
    return counts


def _refuse_terms_without_events(design: SparkDesign, stats: Any, cause: Any) -> None:
    for term, cols in design.assign.items():
        if term in design.levels:
            names = [f"{term}[{level}]" for level in design.levels[term]]
            counts = [stats[f"{term}#{k}"] for k in range(len(cols) + 1)]
        elif len(cols) == 1 and not stats[f"{term}#binary"]:
            names = [f"{term} = 0", f"{term} = 1"]
            counts = [stats[f"{term}#0"], stats[f"{term}#1"]]
        else:
            continue
        empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
        if empty:
            raise ModelError(
                f"no events of cause {cause!r} in {empty}: the subdistribution hazard ratio of "
                f"{term!r} is infinite (monotone likelihood). Merge the level with a neighbour, "
                "choose another reference, or drop the term."
            )


def _prepare(rows: DataFrame, design: SparkDesign) -> tuple[engine.FineGrayData, DataFrame]:
    """G, bins and per-bin counts by the local ``prepare`` (weighted pseudo-rows, one per
    (stratum, time, status)); the rows get their bin index by a broadcast join."""
    x = design.x_columns
    w = F.col(WEIGHT)
    per_time = rows.groupBy(STRATUM, TIME, STATUS).agg(F.sum(w).alias("w")).toPandas()
    per_time = per_time.sort_values([STRATUM, TIME, STATUS], kind="stable")
    totals = rows.agg(
        F.sum(w),
        *(F.sum(w * F.col(c)) for c in x),
        *(F.sum(F.when(F.col(STATUS) == 1, w * F.col(c))) for c in x),
    ).first()
    values = np.array([np.nan if v is None else v for v in totals], dtype=np.float64)
    p = len(x)
    center = values[1 : 1 + p] / values[0]
    cause_weight = per_time["w"].to_numpy()[per_time[STATUS].to_numpy() == 1].sum()
    pseudo = engine.prepare(
        per_time[TIME].to_numpy(dtype=np.float64),
        per_time[STATUS].to_numpy(dtype=np.int64),
        np.zeros((len(per_time), p)),
        per_time["w"].to_numpy(dtype=np.float64),
        per_time[STRATUM].to_numpy(dtype=np.int64),
    )
    data = dataclasses.replace(
        pseudo,
        center=center,
        cause_x=np.nan_to_num(values[1 + p :]) - cause_weight * center,
    )
    bins = pd.DataFrame(
        {
            STRATUM: per_time[STRATUM].to_numpy(),
            TIME: per_time[TIME].to_numpy(),
            BIN: pseudo.row_bin,
        }
    ).drop_duplicates([STRATUM, TIME])
    table = rows.sparkSession.createDataFrame(bins)
    return data, rows.join(F.broadcast(table), on=[STRATUM, TIME])


def _objective(
    rows: DataFrame,
    x: Sequence[str],
    data: engine.FineGrayData,
    index: RiskSetIndex,
    beta: np.ndarray,
) -> tuple[tuple[float, np.ndarray, np.ndarray], engine.RiskSums]:
    """Newton's objective from one aggregation by (bin, competing), and the risk sums."""
    p = len(x)
    keyed = rows.withColumn("__comp", (F.col(STATUS) == 2).cast("int"))
    sums = moment_sums(keyed, [BIN, "__comp"], x, data.center, beta, WEIGHT)
    moments = full_moments(sums[:, 2:], p)
    bins, competing = sums[:, 0].astype(np.int64), sums[:, 1] == 1
    every = np.zeros((data.n_bins, moments.shape[1]))
    from_competing = np.zeros_like(every)
    np.add.at(every, bins, moments)
    np.add.at(from_competing, bins[competing], moments[competing])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        from_competing /= data.g_before[:, None]
        before = engine._forward_cumsum(from_competing, data.strata, inclusive=False)
        at_risk = engine._reverse_cumsum(every, data.strata) + data.g_before[:, None] * before
        value = likelihood(at_risk, np.zeros_like(at_risk), index, data.cause_x, beta, efron=False)
    risk_sums = engine.RiskSums(
        s0=at_risk[:, 0],
        s1=at_risk[:, 1 : 1 + p],
        f0=before[:, 0],
        f1=before[:, 1 : 1 + p],
    )
    return value, risk_sums


def _cause_index(data: engine.FineGrayData) -> RiskSetIndex:
    """A Cox risk-set index over the Fine–Gray bins: Breslow terms weighted by the cause."""
    index = prepare_risk_sets(np.arange(1.0, data.n_bins + 1), np.ones(data.n_bins, dtype=bool))
    return dataclasses.replace(
        index, n_deaths=(data.n_cause > 0).astype(np.int64), death_weight=data.n_cause
    )


def _meat(
    rows: DataFrame,
    x: Sequence[str],
    data: engine.FineGrayData,
    sums: engine.RiskSums,
    beta: np.ndarray,
) -> np.ndarray:
    """Σ wᵢUᵢUᵢᵀ (crr's `var`): Uᵢ = xᵢαᵢ + per-bin vectors (``score_residual_rows``), with
    αᵢ = δᵢ - e^{ηᵢ}Λ(Tᵢ) - cᵢe^{ηᵢ}/G(Tᵢ-)·Σ_{s>Tᵢ}G dΛ, formed per row in Spark."""
    scalars, vectors = engine.residual_bin_terms(data, sums)
    p = len(x)
    table = {BIN: np.arange(data.n_bins), "__l": scalars[:, 0], "__a": scalars[:, 1]}
    table["__ig"] = 1.0 / data.g_before
    for m in range(vectors.shape[0]):
        for j in range(p):
            table[f"__v{m}_{j}"] = vectors[m, :, j]
    terms = rows.sparkSession.createDataFrame(pd.DataFrame(table))
    joined = rows.join(F.broadcast(terms), on=BIN)
    e = f"exp({sql_linear_predictor(x, data.center, beta)})"
    staged = joined.selectExpr(
        f"`{WEIGHT}` AS w",
        f"CAST(`{STATUS}` = 1 AS DOUBLE) AS cause",
        f"CAST(`{STATUS}` = 0 AS DOUBLE) AS cens",
        f"{e} AS e",
        f"CASE WHEN `{STATUS}` = 2 THEN {e} * __ig ELSE 0D END AS g",
        "__l",
        "__a",
        *(f"{c} AS xc{j}" for j, c in enumerate(sql_centred(x, data.center))),
        *(f"__v{m}_{j}" for m in range(vectors.shape[0]) for j in range(p)),
    )
    alpha = "(cause - e * __l - g * __a)"
    residuals = staged.selectExpr(
        "w",
        *(
            f"xc{j} * {alpha} - cause * __v0_{j} + e * __v1_{j} + g * __v2_{j} "
            f"+ cens * __v3_{j} - __v4_{j} AS u{j}"
            for j in range(p)
        ),
    )
    pairs = [(i, j) for i in range(p) for j in range(i, p)]
    totals = residuals.agg(*(F.expr(f"sum(w * u{i} * u{j})") for i, j in pairs)).first()
    meat = np.zeros((p, p))
    for (i, j), value in zip(pairs, tuple(totals), strict=True):
        meat[i, j] = meat[j, i] = value
    return meat
