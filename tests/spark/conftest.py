"""Fixtures of the Spark-engine tests: one synthetic cohort, locally and as a Spark frame."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

import cohortcalc as cc


@pytest.fixture(scope="module")
def cohort() -> pl.DataFrame:
    """The synthetic analysis frame (n = 5000) with a few helper columns for the tests."""
    frame = cc.simulate(n=5000, seed=11).analysis_frame()
    return frame.drop("baseline_date").with_columns(
        pl.col("cac_category").cast(pl.String),
        (pl.col("mi_status") == 1).cast(pl.Int64).alias("mi"),
        (pl.int_range(pl.len()) % 3 + 1).cast(pl.Float64).alias("w_int"),
        (0.5 + (pl.int_range(pl.len()) % 7) / 4).alias("w_frac"),
    )


@pytest.fixture(scope="module")
def spark_cohort(spark: Any, cohort: pl.DataFrame) -> Any:
    """The same rows as a PySpark DataFrame."""
    return spark.createDataFrame(cohort.to_pandas())
