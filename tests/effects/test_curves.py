"""``cc.hr_curve``: a cohort with a known non-linear log hazard in log(CAC + 1) recovers its
shape within the band; the curve's arithmetic; the refusals; the figure."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

from ._pooling import Scalar


def _true_log_hr(log_cac: np.ndarray) -> np.ndarray:
    """A saturating rise with a late upturn, zero at CAC = 0."""
    return 1.2 * (1 - np.exp(-log_cac / 1.5)) + 0.04 * np.maximum(log_cac - 5, 0) ** 2


@cache
def _cohort(n: int = 6000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cac = np.where(rng.random(n) < 0.45, 0, np.round(rng.lognormal(4, 1.6, n)))
    log_cac = np.log1p(cac)
    age = rng.normal(62, 9, n)
    hazard = 0.01 * np.exp(_true_log_hr(log_cac) + 0.03 * (age - 62))
    event_time = rng.exponential(1 / hazard)
    competing_time = rng.exponential(1 / 0.015, n)
    censor = rng.uniform(5, 15, n)
    time = np.minimum.reduce([event_time, competing_time, censor])
    status = np.select([time == event_time, time == competing_time], [1, 2], 0)
    return pd.DataFrame(
        {
            "time": time,
            "mi": (status == 1).astype(int),
            "status": status,
            "age": age,
            "log_cac": log_cac,
        }
    )


@cache
def _fit() -> cc.CoxResult:
    return cc.cox(_cohort(), "time", "mi", ["rcs(log_cac, 4)", "age"])


def test_known_nonlinear_log_hazard_is_recovered_within_the_band() -> None:
    """At 25 exposure values the estimate is within 3.5 SE of the truth (pointwise false alarm
    4.7e-4; the points are strongly correlated, so the family-wise rate stays below 1%)."""
    values = np.linspace(0, np.quantile(_cohort()["log_cac"], 0.99), 25)
    curve = cc.hr_curve(_fit(), "log_cac", reference=0.0, at=values)
    table = curve.table
    truth = _true_log_hr(values) - _true_log_hr(np.array([0.0]))
    inner = table["se"] > 0
    assert np.all(np.abs(table["log_hr"] - truth)[inner] < 3.5 * table["se"][inner])
    assert np.all((table["hr_lower"] <= table["hr"]) & (table["hr"] <= table["hr_upper"]))
    assert curve.nonlinearity.p < 1e-3  # the shape is clearly not log-linear
    assert curve.association.df == 3 and curve.nonlinearity.df == 2


def test_a_linear_truth_keeps_the_band_and_its_pointwise_coverage() -> None:
    """Monte Carlo: 400 cohorts with a log-linear truth; the 95% band at log(CAC+1) = 4 covers
    the truth in 95% ± 3 binomial SE of them."""
    rng = np.random.default_rng(8)
    covered = 0
    repeats = 400
    for _ in range(repeats):
        n = 600
        u = np.where(rng.random(n) < 0.4, 0.0, rng.uniform(0, 7, n))
        time = rng.exponential(1 / (0.05 * np.exp(0.3 * u)))
        censor = rng.uniform(2, 10, n)
        frame = pd.DataFrame(
            {"time": np.minimum(time, censor), "e": (time <= censor).astype(int), "u": u}
        )
        curve = cc.hr_curve(cc.cox(frame, "time", "e", ["rcs(u, 3)"]), "u", reference=0.0, at=[4.0])
        covered += int(curve.table["hr_lower"][0] <= np.exp(1.2) <= curve.table["hr_upper"][0])
    tolerance = 3 * np.sqrt(0.95 * 0.05 / repeats)
    assert abs(covered / repeats - 0.95) < tolerance


def test_curve_is_the_contrast_of_the_basis_against_the_reference() -> None:
    fit = _fit()
    spline = fit.splines["rcs(log_cac, 4)"]
    at = np.array([0.5, 2.0, 6.0])
    curve = cc.hr_curve(fit, "rcs(log_cac, 4)", reference=1.0, at=at)
    labels = ["log_cac", "log_cac'", "log_cac''"]
    d = cc.rcs_basis(at, spline.knots) - cc.rcs_basis(np.array([1.0]), spline.knots)
    beta = fit.coef[labels].to_numpy()
    v = fit.vcov.loc[labels, labels].to_numpy()
    np.testing.assert_allclose(curve.table["log_hr"], d @ beta, rtol=1e-12)
    np.testing.assert_allclose(curve.table["se"], np.sqrt(np.diag(d @ v @ d.T)), rtol=1e-12)
    at_reference = cc.hr_curve(fit, "log_cac", reference=1.0, at=[1.0]).table
    assert at_reference["hr"][0] == 1.0 and at_reference["se"][0] == 0.0
    default = cc.hr_curve(fit, "log_cac", reference=0.0)
    assert len(default.table) == 101
    ordered = np.sort(_cohort()["log_cac"].to_numpy())
    assert default.table["value"].iloc[[0, -1]].tolist() == [ordered[9], ordered[-10]]
    assert spline.value_range == (ordered[0], ordered[-1])
    assert "non-linearity" in str(default)


def test_a_formula_string_gives_the_same_spline_fit() -> None:
    fit = cc.cox(_cohort(), "time", "mi", "rcs(log_cac, 4) + age")
    assert fit.terms == _fit().terms and fit.splines == _fit().splines
    np.testing.assert_array_equal(fit.coef.to_numpy(), _fit().coef.to_numpy())


def test_given_knots_are_used_and_the_wider_ci_level_is_wider() -> None:
    fit = cc.cox(_cohort(), "time", "mi", ["rcs(log_cac, knots=[0.5, 3, 5, 7])", "age"])
    assert fit.splines["rcs(log_cac, knots=[0.5, 3, 5, 7])"].knots == (0.5, 3.0, 5.0, 7.0)
    narrow = cc.hr_curve(fit, "log_cac", reference=0.0, at=[5.0]).table
    wide = cc.hr_curve(fit, "log_cac", reference=0.0, at=[5.0], conf_level=0.99).table
    assert wide["hr_lower"][0] < narrow["hr_lower"][0] < narrow["hr_upper"][0] < wide["hr_upper"][0]


def test_values_outside_the_data_warn_of_extrapolation() -> None:
    high = _fit().splines["rcs(log_cac, 4)"].value_range[1]
    with pytest.warns(cc.ModelWarning, match="extrapolation"):
        cc.hr_curve(_fit(), "log_cac", reference=0.0, at=[1.0, high + 1])
    with pytest.warns(cc.ModelWarning, match="outside the observed range"):
        cc.hr_curve(_fit(), "log_cac", reference=-1.0, at=[1.0])


def test_finegray_spline_curve_is_a_subdistribution_hr() -> None:
    fit = cc.finegray(_cohort(), "time", "status", 1, ["rcs(log_cac, 3)", "age"])
    curve = cc.hr_curve(fit, "log_cac", reference=0.0, at=[0.0, 3.0])
    assert curve.ratio == "SHR" and curve.table["hr"][0] == 1.0


def test_rows_with_missing_exposure_are_dropped_before_the_knots() -> None:
    data = _cohort().copy()
    data.loc[:99, "log_cac"] = np.nan
    fit = cc.cox(data, "time", "mi", ["rcs(log_cac, 4)", "age"])
    assert fit.n_dropped == 100
    expected = cc.rcs_knots(data["log_cac"].to_numpy()[100:], 4)
    np.testing.assert_array_equal(fit.splines["rcs(log_cac, 4)"].knots, expected)


@pytest.mark.parametrize(
    ("covariates", "term", "message"),
    [
        (["log_cac", "age"], "log_cac", "no spline term"),
        (["rcs(log_cac, 4)", "rcs(age, 3)"], "rcs(x, 3)", "names 0"),
        (["rcs(log_cac, 3) * sex"], "log_cac", "part of the interaction"),
    ],
)
def test_curves_that_cannot_be_drawn_are_refused(covariates, term, message) -> None:
    data = _cohort().assign(sex=np.where(np.arange(len(_cohort())) % 2, "female", "male"))
    fit = cc.cox(data, "time", "mi", covariates)
    with pytest.raises(ModelError, match=message):
        cc.hr_curve(fit, term, reference=0.0)


@pytest.mark.parametrize(
    ("covariates", "message"),
    [
        (["rcs(log_cac, 9)"], "3 to 7 knots"),
        (["rcs(log_cac, knots=[1, 1, 2])"], "strictly increasing"),
        (["rcs(log_cac, knots=[1, 2])"], "needs 3"),
        (["rcs(log_cac, four)"], "cannot read the spline term"),
        (["rcs(group, 3)"], "must be numeric"),
        (["rcs(log_cac, 3)", "log_cac"], "would appear twice"),
    ],
)
def test_bad_spline_terms_are_clear_errors(covariates, message) -> None:
    data = _cohort().assign(group=np.array(["a", "b", "c"])[np.arange(len(_cohort())) % 3])
    with pytest.raises(ModelError, match=message):
        cc.cox(data, "time", "mi", covariates)


def test_too_few_distinct_values_is_an_error_naming_the_column() -> None:
    data = _cohort().assign(flag=np.arange(len(_cohort())) % 3)
    with pytest.raises(ModelError, match=r"rcs\(flag\)"), pytest.warns(cc.ModelWarning):
        cc.cox(data, "time", "mi", ["rcs(flag, 3)"])


def test_figure_has_curve_band_reference_and_histogram(tmp_path) -> None:
    curve = cc.hr_curve(_fit(), "log_cac", reference=0.0)
    ticks = {float(np.log1p(c)): str(c) for c in (0, 10, 100, 1000)}
    figure = cc.plot_hr_curve(
        curve, _cohort()["log_cac"], xlabel="CAC (Agatston units)", ticks=ticks
    )
    axes, histogram = figure.axes
    assert axes.get_yscale() == "log"
    assert [t.get_text() for t in histogram.get_xticklabels()] == ["0", "10", "100", "1000"]
    assert len(histogram.patches) == 40
    assert any(abs(line.get_ydata()[0] - 1.0) < 1e-12 for line in axes.get_lines())
    written = cc.save_figure(figure, tmp_path / "hr_curve", formats=("png",))
    assert written[0].stat().st_size > 10_000


def test_curve_over_imputations_pools_each_point_by_rubins_rules() -> None:
    """A list of fits (age made missing, imputed m = 4 times): each point's log HR and SE are
    those of cc.pool on that point's per-data-set contrast (Barnard–Rubin df, t limits); the
    tests are D1 of the spline coefficients; knots differing across data sets are refused."""
    cohort = _cohort(n=2500, seed=9)
    rng = np.random.default_rng(4)
    holed = cohort.assign(age=cohort["age"].where(rng.random(len(cohort)) > 0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imputed = cc.impute(holed, ["age"], seed=3, m=4, iterations=3, time="time", event="mi")
    fits = [cc.cox(d, "time", "mi", ["rcs(log_cac, 4)", "age"]) for d in imputed.datasets]
    at = np.array([0.0, 1.0, 3.0, 6.5])
    curve = cc.hr_curve(fits, "log_cac", reference=1.0, at=at)
    assert curve.imputations == 4
    labels = ["log_cac", "log_cac'", "log_cac''"]
    spline = fits[0].splines["rcs(log_cac, 4)"]
    d = cc.rcs_basis(at, spline.knots) - cc.rcs_basis(np.array([1.0]), spline.knots)
    dfcom = fits[0].n_events - 4
    for i in (0, 2, 3):
        points = [
            Scalar(float(d[i] @ f.coef[labels]), float(d[i] @ f.vcov.loc[labels, labels] @ d[i]),
                   dfcom)
            for f in fits
        ]  # fmt: skip
        expected = cc.pool(points).summary.iloc[0]
        row = curve.table.iloc[i]
        assert row["log_hr"] == pytest.approx(expected["estimate"], rel=1e-12)
        assert row["se"] == pytest.approx(expected["se"], rel=1e-10)
        assert np.log(row["hr_lower"]) == pytest.approx(expected["lower"], rel=1e-10)
        assert np.log(row["hr_upper"]) == pytest.approx(expected["upper"], rel=1e-10)
    assert curve.table.iloc[1][["se", "hr", "hr_lower", "hr_upper"]].tolist() == [0, 1, 1, 1]
    direct = cc.pool(fits)
    assert curve.association.statistic == pytest.approx(direct.wald_test(labels).statistic)
    assert curve.nonlinearity.p == pytest.approx(direct.wald_test(labels[1:]).p)
    other = cc.cox(imputed.datasets[1].head(1200), "time", "mi", ["rcs(log_cac, 4)", "age"])
    with pytest.raises(ModelError, match="other knots in another completed data set"):
        cc.hr_curve([fits[0], other], "log_cac", reference=1.0)
    with pytest.raises(ModelError, match="at least 2 imputed data sets"):
        cc.hr_curve(fits[:1], "log_cac", reference=1.0)
