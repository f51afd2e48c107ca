"""Risk-set sums computed by Spark: ``survival.engine.CoxSums`` and ``FineGraySums``.

Each call is one Spark aggregation whose O(bins × p²) result reaches the driver; everything
after (cumulative sums, Efron/Breslow terms, Newton steps, variances) is the model layer's.
Cox (``riskset.py`` here): rows binned by (stratum, event time); each step one aggregation by
(bin, kind). Robust variance: the score residuals (R's coxscore2/agscore) are formed per row
from per-bin hazard tables, summed within cluster, and only Σ UᵀU (p × p) is returned.
Fine–Gray: the local ``finegray_riskset.prepare`` turns the weighted counts per (stratum,
time, status) into G, the bins and their counts; each step is one aggregation by (bin,
competing); crr's residual Uᵢ is formed per row and only Σ wᵢUᵢUᵢᵀ comes back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from cohortcalc.spark import riskset as spark_riskset
from cohortcalc.spark.checks import persisted
from cohortcalc.spark.moments import (
    centred,
    full_moments,
    linear_predictor,
    moment_sums,
    sql_centred,
    sql_linear_predictor,
)
from cohortcalc.spark.riskset import ENTRY_BIN, EVENT, STOP_BIN, STRATUM, TIME, WEIGHT
from cohortcalc.survival import finegray_riskset as fg_engine
from cohortcalc.survival.riskset import RiskSetIndex

CLUSTER, STATUS, BIN = "__cl", "__st", "__bin"


@dataclass(frozen=True)
class SparkCoxSums:
    """``engine.CoxSums`` over a persisted, binned Spark frame."""

    rows: DataFrame
    x_columns: tuple[str, ...]
    index: RiskSetIndex
    center: np.ndarray
    event_sum: np.ndarray
    entry: bool
    cluster: bool

    @classmethod
    def build(
        cls,
        rows: DataFrame,
        x_columns: Sequence[str],
        n_strata: int,
        entry: bool,
        cluster: bool,
        stack: ExitStack,
    ) -> SparkCoxSums:
        """Bins (one aggregation), binned rows persisted until ``stack`` closes, centring."""
        index = spark_riskset.event_time_index(rows, n_strata)
        binned = stack.enter_context(persisted(spark_riskset.with_bins(rows, index, entry=entry)))
        center, event_sum = _center_and_event_sums(binned, x_columns)
        return cls(binned, tuple(x_columns), index, center, event_sum, entry, cluster)

    def bin_sums(self, beta: np.ndarray, *, events: bool) -> tuple[np.ndarray, np.ndarray]:
        return spark_riskset.bin_sums(
            self.rows, self.x_columns, self.center, beta, self.index, entry=self.entry
        )

    def score_products(
        self, beta: np.ndarray, hazards: np.ndarray, cumulative: np.ndarray
    ) -> np.ndarray:
        """Σ_clusters UᵀU (per row without a cluster column), formed in Spark."""
        x, p = self.x_columns, len(self.x_columns)
        exit_table, entry_table = _hazard_tables(self.rows.sparkSession, hazards, cumulative, p)
        joined = self.rows.join(F.broadcast(exit_table), on=[STOP_BIN, EVENT]).join(
            F.broadcast(entry_table), on=ENTRY_BIN, how="left"
        )
        xc = centred(x, self.center)
        risk = F.exp(linear_predictor(x, self.center, beta))
        h0 = F.col("__a0") - F.coalesce(F.col("__c0"), F.lit(0.0))
        residuals = [
            F.col(WEIGHT)
            * (
                F.col(EVENT) * xc[j]
                - F.col(f"__m{j}")
                - risk
                * (
                    xc[j] * h0
                    - (F.col(f"__a{j + 1}") - F.coalesce(F.col(f"__c{j + 1}"), F.lit(0.0)))
                )
            )
            for j in range(p)
        ]
        names = [f"__u{j}" for j in range(p)]
        if not self.cluster:
            scores = joined.select(*(r.alias(n) for r, n in zip(residuals, names, strict=True)))
        else:
            scores = joined.groupBy(CLUSTER).agg(
                *(F.sum(r).alias(n) for r, n in zip(residuals, names, strict=True))
            )
        return _cross_products(scores, [F.col(n) for n in names], None)


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


def _cross_products(scores: DataFrame, u: Sequence[Any], weight: Any) -> np.ndarray:
    """Σ (w·) uᵢuⱼ over the rows of ``scores`` as a symmetric p × p matrix."""
    p = len(u)
    pairs = [(i, j) for i in range(p) for j in range(i, p)]
    factor = F.lit(1.0) if weight is None else weight
    totals = scores.agg(*(F.sum(factor * u[i] * u[j]) for i, j in pairs)).first()
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


@dataclass(frozen=True)
class SparkFineGraySums:
    """``engine.FineGraySums`` over a persisted, binned Spark frame; the per-bin fields are
    those of the local ``prepare`` on one weighted pseudo-row per (stratum, time, status)."""

    rows: DataFrame
    x_columns: tuple[str, ...]
    bins: fg_engine.FineGrayData
    center: np.ndarray
    cause_x: np.ndarray

    @property
    def strata(self) -> tuple[tuple[int, int], ...]:
        return self.bins.strata

    @property
    def g_before(self) -> np.ndarray:
        return self.bins.g_before

    @property
    def n_cause(self) -> np.ndarray:
        return self.bins.n_cause

    @property
    def n_censored(self) -> np.ndarray:
        return self.bins.n_censored

    @property
    def n_at_risk(self) -> np.ndarray:
        return self.bins.n_at_risk

    @property
    def n_bins(self) -> int:
        return self.bins.n_bins

    @classmethod
    def build(
        cls, rows: DataFrame, x_columns: Sequence[str], stack: ExitStack
    ) -> SparkFineGraySums:
        """G, bins and per-bin counts from one aggregation by (stratum, time, status); the
        rows get their bin by a broadcast join and are persisted until ``stack`` closes."""
        x, p, w = list(x_columns), len(x_columns), F.col(WEIGHT)
        per_time = rows.groupBy(STRATUM, TIME, STATUS).agg(F.sum(w).alias("w")).toPandas()
        per_time = per_time.sort_values([STRATUM, TIME, STATUS], kind="stable")
        totals = rows.agg(
            F.sum(w),
            *(F.sum(w * F.col(c)) for c in x),
            *(F.sum(F.when(F.col(STATUS) == 1, w * F.col(c))) for c in x),
        ).first()
        values = np.array([np.nan if v is None else v for v in totals], dtype=np.float64)
        center = values[1 : 1 + p] / values[0]
        cause_weight = per_time["w"].to_numpy()[per_time[STATUS].to_numpy() == 1].sum()
        pseudo = fg_engine.prepare(
            per_time[TIME].to_numpy(dtype=np.float64),
            per_time[STATUS].to_numpy(dtype=np.int64),
            np.zeros((len(per_time), p)),
            per_time["w"].to_numpy(dtype=np.float64),
            per_time[STRATUM].to_numpy(dtype=np.int64),
        )
        bins = pd.DataFrame(
            {
                STRATUM: per_time[STRATUM].to_numpy(),
                TIME: per_time[TIME].to_numpy(),
                BIN: pseudo.row_bin,
            }
        ).drop_duplicates([STRATUM, TIME])
        table = rows.sparkSession.createDataFrame(bins)
        binned = stack.enter_context(persisted(rows.join(F.broadcast(table), on=[STRATUM, TIME])))
        cause_x = np.nan_to_num(values[1 + p :]) - cause_weight * center
        pseudo = dataclasses.replace(pseudo, center=center, cause_x=cause_x)
        return cls(binned, tuple(x), pseudo, center, cause_x)

    def bin_moments(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One aggregation by (bin, competing): per-bin Σ w·e^{xβ}·a aᵀ of all rows and of the
        competing rows / G(Tᵢ-) (``finegray_riskset.bin_moments``)."""
        p = len(self.x_columns)
        keyed = self.rows.withColumn("__comp", (F.col(STATUS) == 2).cast("int"))
        sums = moment_sums(keyed, [BIN, "__comp"], self.x_columns, self.center, beta, WEIGHT)
        moments = full_moments(sums[:, 2:], p)
        bins, competing = sums[:, 0].astype(np.int64), sums[:, 1] == 1
        every = np.zeros((self.n_bins, moments.shape[1]))
        from_competing = np.zeros_like(every)
        np.add.at(every, bins, moments)
        np.add.at(from_competing, bins[competing], moments[competing])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            from_competing /= self.g_before[:, None]
        return every, from_competing

    def score_products(
        self, beta: np.ndarray, scalars: np.ndarray, vectors: np.ndarray
    ) -> np.ndarray:
        """Σ wᵢUᵢUᵢᵀ (crr's `var`): Uᵢ = xᵢαᵢ + per-bin vectors, with αᵢ = δᵢ - e^{ηᵢ}Λ(Tᵢ)
        - cᵢe^{ηᵢ}/G(Tᵢ-)·Σ_{s>Tᵢ}G dΛ, formed per row in Spark."""
        x, p = self.x_columns, len(self.x_columns)
        table = {BIN: np.arange(self.n_bins), "__l": scalars[:, 0], "__a": scalars[:, 1]}
        table["__ig"] = 1.0 / self.g_before
        for m in range(vectors.shape[0]):
            for j in range(p):
                table[f"__v{m}_{j}"] = vectors[m, :, j]
        terms = self.rows.sparkSession.createDataFrame(pd.DataFrame(table))
        joined = self.rows.join(F.broadcast(terms), on=BIN)
        e = f"exp({sql_linear_predictor(x, self.center, beta)})"
        staged = joined.selectExpr(
            f"`{WEIGHT}` AS w",
            f"CAST(`{STATUS}` = 1 AS DOUBLE) AS cause",
            f"CAST(`{STATUS}` = 0 AS DOUBLE) AS cens",
            f"{e} AS e",
            f"CASE WHEN `{STATUS}` = 2 THEN {e} * __ig ELSE 0D END AS g",
            "__l",
            "__a",
            *(f"{c} AS xc{j}" for j, c in enumerate(sql_centred(x, self.center))),
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
        return _cross_products(residuals, [F.col(f"u{j}") for j in range(p)], F.col("w"))
