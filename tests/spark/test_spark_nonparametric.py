"""KM, Aalen–Johansen and rates on Spark equal the local tables (values, dtypes, order)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

pytestmark = pytest.mark.spark


def _same(spark: pd.DataFrame, local: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(spark, local, check_exact=False, rtol=1e-10, atol=0)


def test_kaplan_meier(cohort: pl.DataFrame, spark_cohort: Any) -> None:
    args = {"time": "death_days", "event": "death_status", "by": ["sex", "ckd"]}
    _same(cc.kaplan_meier(spark_cohort, **args), cc.kaplan_meier(cohort, **args))
    weighted = {"time": "death_years", "event": "death_status", "weights": "w_int"}
    _same(cc.kaplan_meier(spark_cohort, **weighted), cc.kaplan_meier(cohort, **weighted))


def test_cumulative_incidence(cohort: pl.DataFrame, spark_cohort: Any) -> None:
    args = {"time": "mi_days", "event": "mi_status", "cause": 1, "by": "cac_category"}
    _same(cc.cumulative_incidence(spark_cohort, **args), cc.cumulative_incidence(cohort, **args))


def test_incidence_rates(cohort: pl.DataFrame, spark_cohort: Any) -> None:
    args = {"time": "mi_years", "event": "mi", "by": "cac_category", "time_unit": "years"}
    _same(cc.incidence_rates(spark_cohort, **args), cc.incidence_rates(cohort, **args))
    age_scale = {"time": "age_exit", "entry": "age_entry", "event": "mi", "time_unit": "years"}
    _same(cc.incidence_rates(spark_cohort, **age_scale), cc.incidence_rates(cohort, **age_scale))


def test_local_only_options_are_refused(spark_cohort: Any) -> None:
    with pytest.raises(ModelError, match=r"entry=.*not available on Spark"):
        cc.kaplan_meier(spark_cohort, "age_exit", "death_status", entry="age_entry")
    with pytest.raises(ModelError, match="non-integer values"):
        cc.kaplan_meier(spark_cohort, "death_days", "death_status", weights="w_frac")
