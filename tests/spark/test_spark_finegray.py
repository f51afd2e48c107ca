"""The Spark Fine–Gray engine gives the local engine's numbers (1e-8) on the synthetic cohort."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

pytestmark = pytest.mark.spark

CASES: dict[str, dict[str, Any]] = {
    "categorical": {
        "time": "mi_days",
        "event": "mi_status",
        "cause": 1,
        "covariates": ["age", "sex", "cac_category"],
    },
    "strata_weights_cause_2": {
        "time": "death_days",
        "event": "cv_death_status",
        "cause": 2,
        "covariates": ["age", "ckd", "log_cac"],
        "strata": "sex",
        "weights": "w_int",
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_equals_local_engine(case: str, cohort: pl.DataFrame, spark_cohort: Any) -> None:
    local = cc.finegray(cohort, **CASES[case])
    spark = cc.finegray(spark_cohort, **CASES[case])
    assert spark.terms == local.terms
    np.testing.assert_allclose(spark.summary.to_numpy(), local.summary.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(spark.vcov.to_numpy(), local.vcov.to_numpy(), rtol=1e-8)
    assert spark.loglik == pytest.approx(local.loglik, rel=1e-10)
    counts = ("n", "n_events", "n_competing", "n_censored", "n_strata", "competing")
    assert [getattr(spark, k) for k in counts] == [getattr(local, k) for k in counts]


def test_refuses_a_cause_that_never_occurs(spark_cohort: Any) -> None:
    with pytest.raises(ModelError, match="cause 7 never occurs"):
        cc.finegray(spark_cohort, "mi_days", "mi_status", 7, ["age"])


@pytest.mark.parametrize("fit", ["cox", "finegray"])
def test_refuses_bad_times_and_weights_as_the_local_engine(fit: str, spark: Any) -> None:
    rows = pl.DataFrame(
        {
            "t": [1.0, 2.0, 0.0, 3.0, 4.0, 5.0],
            "status": [1, 2, 0, 1, 0, 1],
            "x": [0.1, 0.5, 0.2, 0.9, 0.4, 0.3],
            "w": [1.0, 1.0, 1.0, -1.0, 1.0, 1.0],
        }
    )
    frame = spark.createDataFrame(rows.to_pandas())
    kwargs: dict[str, Any] = {"time": "t", "covariates": ["x"]}
    if fit == "cox":
        frame = frame.withColumn("status", (frame["status"] == 1).cast("int"))
        kwargs["event"] = "status"
    else:
        kwargs.update(event="status", cause=1)
    expected = r"time column 't' has values <= 0 in 1 row\(s\), first at row 2 "
    with pytest.raises(ModelError, match=expected):
        getattr(cc, fit)(frame, **kwargs)
    positive = frame.filter(frame["t"] > 0)
    with pytest.raises(ModelError, match=r"weights column 'w' has values <= 0 in 1 row"):
        getattr(cc, fit)(positive, weights="w", **kwargs)
