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
