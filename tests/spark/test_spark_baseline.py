"""A Spark Cox fit keeps the baseline-hazard pieces (its rows are gone after the fit); they equal
the local fit's (which R's basehaz checks, tests/survival/test_baseline_terms.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc

pytestmark = pytest.mark.spark


def test_baseline_terms_equal_the_local_engine(cohort: pl.DataFrame, spark_cohort: Any) -> None:
    kwargs: dict[str, Any] = {"covariates": ["age", "cac_category"], "strata": "sex"}
    local = cc.cox(cohort, "mi_days", "mi", **kwargs).baseline_terms()
    spark = cc.cox(spark_cohort, "mi_days", "mi", **kwargs).baseline_terms()
    for name in ("time", "stratum", "stratum_start", "n_events", "event_weight"):
        np.testing.assert_array_equal(getattr(spark, name), getattr(local, name))
    for name in ("s0", "mean_x", "hazard", "hazard_mean_x", "hazard_variance", "center"):
        np.testing.assert_allclose(getattr(spark, name), getattr(local, name), rtol=1e-8)
