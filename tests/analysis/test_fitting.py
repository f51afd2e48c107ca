"""Fitting helpers: warnings kept with the fit they came from, the joint Wald test, planning."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from scipy import stats

import cohortcalc as cc
from cohortcalc.analysis.fitting import FitKey, fit_model, plan, wald_test
from cohortcalc.analysis.spec import Exposure, Outcome, spec_from_dict


@pytest.fixture(scope="module")
def separated() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    status = (rng.random(400) < 0.3).astype(int)
    return pl.DataFrame(
        {
            "t": rng.exponential(1.0, 400) + 0.01,
            "s": status,
            "x": rng.normal(size=400),
            "z": status.astype(float),  # separates events from non-events
        }
    )


def test_engine_warnings_are_kept_and_passed_on(separated):
    key = FitKey("main", "o", "cox", "x", "M")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_model(
            key, separated, Outcome(name="o", time="t", status="s"),
            Exposure(column="x", kind="continuous"), ("z",), "efron",
        )  # fmt: skip
    assert len(fit.warnings) == 1 and "['z']" in fit.warnings[0]
    assert fit.warnings[0].startswith("cox fit of outcome 'o' on 'x', M")
    assert any(issubclass(w.category, cc.ModelWarning) for w in caught)


def test_rows_with_missing_values_are_counted(separated):
    gappy = separated.with_columns(
        pl.when(pl.col("x") > 1.5).then(None).otherwise(pl.col("x")).alias("x")
    )
    fit = fit_model(
        FitKey("main", "o", "cox", "x", "M"), gappy, Outcome(name="o", time="t", status="s"),
        Exposure(column="x", kind="continuous"), (), "efron",
    )  # fmt: skip
    missing = int(gappy["x"].null_count())
    assert missing > 0
    assert fit.n_excluded_missing == missing and fit.result.n == 400 - missing


def test_wald_test_of_one_term_is_the_square_of_z():
    cohort = cc.simulate(1500, seed=2).analysis_frame()
    cohort = cohort.with_columns(mi_event=(pl.col("mi_status") == 1).cast(pl.Int8))
    fit = cc.cox(cohort, time="mi_years", event="mi_event", covariates=["age", "log_cac"])
    statistic, df, p = wald_test(fit, ["log_cac"])
    z = fit.summary.loc["log_cac", "z"]
    assert df == 1 and statistic == pytest.approx(z**2, rel=1e-10)
    assert p == pytest.approx(fit.summary.loc["log_cac", "p"], rel=1e-8)
    both, df2, p2 = wald_test(fit, ["age", "log_cac"])
    assert df2 == 2 and both > statistic and p2 == pytest.approx(stats.chi2.sf(both, 2))


def test_plan_covers_the_grid(small_spec):
    spec = spec_from_dict(small_spec())
    tasks = plan(spec, ["main", "landmark_1y"])
    # main: 2 methods x 2 exposures x 1 model x (overall + subgroups + interaction)
    # landmark: overall only
    assert len(tasks) == 2 * 2 * 3 + 2 * 2
    assert {t.key.analysis for t in tasks if t.modifier is not None} == {"main"}
    assert all(t.covariates == ("age", "sex") for t in tasks)


def test_per_sd_estimates_rescale_the_log_ratio_and_keep_the_fits_confidence_level(separated):
    from cohortcalc.analysis.fitting import exposure_estimates

    key = FitKey("main", "o", "cox", "x", "M")
    outcome = Outcome(name="o", time="t", status="s")
    fit = fit_model(key, separated, outcome, Exposure(column="x", kind="continuous"), (), "efron")
    summary = fit.result.summary.loc[["x"]]
    unscaled = exposure_estimates(fit, {})
    for column in ("hr", "hr_lower", "hr_upper", "p"):  # the fit's own Wald limits
        np.testing.assert_allclose(unscaled[column], summary[column], rtol=1e-14)
    per_sd = exposure_estimates(fit, {"x": 2.0}).iloc[0]
    half_width = np.log(summary["hr_upper"].iloc[0] / summary["hr"].iloc[0])
    assert per_sd["hr"] == pytest.approx(summary["hr"].iloc[0] ** 2, rel=1e-13)
    assert np.log(per_sd["hr_upper"] / per_sd["hr"]) == pytest.approx(2 * half_width, rel=1e-12)
    assert per_sd["p"] == summary["p"].iloc[0]
