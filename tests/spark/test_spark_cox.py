"""cc.cox on a PySpark frame runs the Spark engine and gives the local engine's numbers (1e-8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

pytestmark = pytest.mark.spark

CASES: dict[str, dict[str, Any]] = {
    "efron_categorical_interaction_cluster": {
        "time": "mi_days",
        "event": "mi",
        "covariates": "age * sex + cac_category + log_cac",
        "cluster": "site",
    },
    "breslow_strata_int_weights_reference": {
        "time": "mi_days",
        "event": "mi",
        "covariates": ["age", "diabetes", "cac_category"],
        "ties": "breslow",
        "strata": "sex",
        "weights": "w_int",
        "reference": {"cac_category": "1-100"},
    },
    "entry_age_scale_fractional_weights": {
        "time": "age_exit",
        "entry": "age_entry",
        "event": "mi",
        "covariates": ["sex", "log_cac", "egfr"],
        "weights": "w_frac",
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_equals_local_engine(case: str, cohort: pl.DataFrame, spark_cohort: Any) -> None:
    local = cc.cox(cohort, **CASES[case])
    spark = cc.cox(spark_cohort, **CASES[case])
    assert spark.terms == local.terms
    np.testing.assert_allclose(spark.summary.to_numpy(), local.summary.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(spark.vcov.to_numpy(), local.vcov.to_numpy(), rtol=1e-8)
    assert spark.loglik == pytest.approx(local.loglik, rel=1e-10)
    assert spark.loglik_null == pytest.approx(local.loglik_null, rel=1e-10)
    assert (spark.n, spark.n_events, spark.iterations) == (
        local.n,
        local.n_events,
        local.iterations,
    )
    assert spark.robust == local.robust and spark.n_clusters == local.n_clusters
    assert spark.reference == local.reference


REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"

# cc.cox arguments of an R call in tests/reference/cox_reference.json (make_cox_reference.R)
R_CASES: dict[str, dict[str, Any]] = {
    "heart_strata_breslow": {
        "time": "stop",
        "entry": "start",
        "event": "event",
        "covariates": ["age", "year", "transplant"],
        "strata": "surgery",
        "cluster": "id",
        "ties": "breslow",
    },
}


@pytest.mark.parametrize("case", list(R_CASES))
def test_matches_r_survival(case: str, spark: Any) -> None:
    reference = json.loads((REFERENCE_DIR / "cox_reference.json").read_text())["fits"][case]
    frame = spark.createDataFrame(pd.read_csv(REFERENCE_DIR / reference["data"]))
    fit = cc.cox(frame, **R_CASES[case])
    coef = [reference["coef"][term] for term in fit.terms]
    se = [reference["se"][term] for term in fit.terms]
    np.testing.assert_allclose(fit.summary["coef"].to_numpy(), coef, rtol=1e-8)
    np.testing.assert_allclose(fit.summary["se"].to_numpy(), se, rtol=1e-8)


def test_refuses_level_without_events(cohort: pl.DataFrame, spark: Any) -> None:
    rows = cohort.head(400).with_columns(
        pl.when(pl.col("cac_category") == ">400").then(0).otherwise(pl.col("mi")).alias("mi")
    )
    frame = spark.createDataFrame(rows.to_pandas())
    with pytest.raises(ModelError, match=r"cac_category\[>400\]"):
        cc.cox(frame, "mi_days", "mi", ["age", "cac_category"])
