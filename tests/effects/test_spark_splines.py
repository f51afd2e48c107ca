"""``rcs(x, k)`` on a PySpark frame: knots from one group-by pass equal the local knots, and
the Cox and Fine–Gray fits (hence the HR curves) equal the local engine's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def cac_cohort() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    n = 800
    log_cac = np.log1p(np.where(rng.random(n) < 0.45, 0, np.round(rng.lognormal(4, 1.6, n))))
    age = np.round(rng.normal(62, 9, n))
    time = rng.exponential(1 / (0.05 * np.exp(0.5 * np.log1p(log_cac) + 0.03 * (age - 62))))
    competing = rng.exponential(20, n)
    censor = rng.uniform(2, 12, n)
    stop = np.minimum.reduce([time, competing, censor])
    status = np.select([stop == time, stop == competing], [1, 2], 0)
    log_cac[:7] = np.nan  # dropped rows: knots must come from the complete rows only
    return pd.DataFrame(
        {
            "time": stop,
            "status": status,
            "mi": (status == 1).astype(int),
            "age": age,
            "log_cac": log_cac,
        }
    )


@pytest.fixture(scope="module")
def spark_frame(spark: Any, cac_cohort: pd.DataFrame) -> Any:
    return spark.createDataFrame(cac_cohort)


COVARIATES = ["rcs(log_cac, 4)", "age"]


def test_cox_with_a_spline_equals_the_local_engine(
    spark_frame: Any, cac_cohort: pd.DataFrame
) -> None:
    covariates = COVARIATES
    local = cc.cox(cac_cohort, "time", "mi", covariates)
    remote = cc.cox(spark_frame, "time", "mi", covariates)
    assert remote.splines == local.splines  # same knots, value and display ranges
    assert remote.terms == local.terms
    np.testing.assert_allclose(remote.vcov.to_numpy(), local.vcov.to_numpy(), rtol=1e-8)
    at = np.log1p([0.0, 10, 100, 1000])
    np.testing.assert_allclose(
        cc.hr_curve(remote, "log_cac", reference=0.0, at=at).table.to_numpy(),
        cc.hr_curve(local, "log_cac", reference=0.0, at=at).table.to_numpy(),
        rtol=1e-8,
    )


@pytest.mark.slow
def test_finegray_with_a_spline_equals_the_local_engine(
    spark_frame: Any, cac_cohort: pd.DataFrame
) -> None:
    covariates = COVARIATES
    local_fg = cc.finegray(cac_cohort, "time", "status", 1, covariates)
    remote_fg = cc.finegray(spark_frame, "time", "status", 1, covariates)
    assert remote_fg.splines == local_fg.splines
    np.testing.assert_allclose(remote_fg.coef.to_numpy(), local_fg.coef.to_numpy(), rtol=1e-8)
