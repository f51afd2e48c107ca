"""The age time scale against R (tests/reference/make_agescale_reference.R, survival 3.5.3).

Cox with delayed entry, the landmark 2 years after each participant's entry, Kaplan–Meier and
Aalen–Johansen with delayed-entry risk sets, and Fine–Gray with left truncation (Geskus 2011
weights) against R ``finegray()`` + ``coxph(..., weights = fgwt, cluster = id)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.populations import _apply_sensitivity
from cohortcalc.analysis.spec import Outcome, Sensitivity

REFERENCE = Path(__file__).parents[1] / "reference"


@pytest.fixture(scope="module")
def cohort() -> pl.DataFrame:
    return pl.read_csv(
        REFERENCE / "agescale_cohort.csv", schema_overrides={"cac_category": pl.String}
    )


@pytest.fixture(scope="module")
def mgus() -> pl.DataFrame:
    frame = pl.read_csv(REFERENCE / "agescale_mgus2.csv")
    return frame.with_columns(pl.col("age_entry").cast(pl.Float64))


def _reference(case: str) -> pl.DataFrame:
    table = pl.read_csv(REFERENCE / "agescale_coefficients.csv", infer_schema_length=0)
    return table.filter(pl.col("case") == case)


def _r_term(term: str) -> str:
    """R's term name (``cac_category>400``, ``sexmale``) as cohortcalc writes it."""
    for column in ("cac_category", "sex"):
        if term.startswith(column) and term != column:
            return f"{column}[{term[len(column) :]}]"
    return term


def _agrees(case: str, fit, rtol: float = 1e-8) -> None:
    rows = _reference(case)
    terms = [_r_term(t) for t in rows["term"]]
    assert list(fit.summary.index) == terms
    for column in ("coef", "se"):
        expected = rows[column].cast(pl.Float64).to_numpy()
        np.testing.assert_allclose(fit.summary[column].to_numpy(), expected, rtol=rtol, atol=0)
    np.testing.assert_allclose(fit.loglik, float(rows["loglik"][0]), rtol=1e-10)


def test_cox_on_the_age_scale_matches_coxph(cohort: pl.DataFrame) -> None:
    fit = cc.cox(cohort, time="death_age_exit", entry="age_entry", event="death_status",
                 covariates=["cac_category", "sex"], reference={"cac_category": "0"})  # fmt: skip
    _agrees("cox_death_age", fit)
    assert fit.n == 1500 and fit.n_events == int(_reference("cox_death_age")["nevent"][0])


def test_cox_with_tied_ages_matches_coxph(mgus: pl.DataFrame) -> None:
    fit = cc.cox(mgus, time="age_exit", entry="age_entry", event="death",
                 covariates=["sex", "hgb"])  # fmt: skip
    _agrees("cox_mgus2_age", fit)


def test_landmark_moves_each_entry_as_r(cohort: pl.DataFrame) -> None:
    outcome = Outcome(name="death", time_scale="age", entry="age_entry",
                      time="death_age_exit", status="death_status")  # fmt: skip
    landmark = Sensitivity(name="landmark_2y", exclude_first_years=2.0)
    frame = _apply_sensitivity(cohort, landmark, outcome, [])
    expected = _reference("cox_death_age_landmark2")
    # entry + 2 years for everyone; those whose exit is not after it drop out; exits stay
    assert frame.height == int(expected["n"][0]) < cohort.height
    kept = cohort.join(frame.select("id", moved="age_entry"), on="id")
    assert (kept["moved"] - kept["age_entry"]).to_list() == pytest.approx([2.0] * kept.height)
    fit = cc.cox(frame, time="death_age_exit", entry="age_entry", event="death_status",
                 covariates=["cac_category", "sex"], reference={"cac_category": "0"})  # fmt: skip
    _agrees("cox_death_age_landmark2", fit)


@pytest.mark.parametrize(
    ("case", "data", "columns"),
    [
        ("fg_mi_age", "cohort", ("mi_age_exit", "mi_status", ["log_cac", "sex"])),
        ("fg_mgus2_age", "mgus", ("age_exit_cr", "event", ["sex", "hgb"])),
    ],
)
def test_finegray_with_delayed_entry_matches_r_finegray(
    case: str, data: str, columns: tuple, request: pytest.FixtureRequest
) -> None:
    frame = request.getfixturevalue(data)
    time, status, covariates = columns
    fit = cc.finegray(frame, time=time, event=status, cause=1, covariates=covariates,
                      entry="age_entry")  # fmt: skip
    _agrees(case, fit)
    reference = _reference(case)
    assert fit.n_events == int(reference["nevent"][0])
    assert fit.n == frame.height  # participants, not the expanded rows R counts


def test_finegray_entry_at_zero_is_the_usual_model(cohort: pl.DataFrame) -> None:
    """With every entry at 0 the truncation weights are 1: the same point estimate as crr's
    Fine–Gray on follow-up time (Breslow ties; SEs differ by crr's term for estimated G).
    The two stop at their own convergence rule (relative log-likelihood change < 1e-9 here,
    crr's gradient there), which leaves ~1e-7 relative: a wrong weight would move it 1e-2."""
    frame = cohort.with_columns(zero=pl.lit(0.0), years=pl.col("mi_age_exit") - pl.col("age_entry"))
    with_entry = cc.finegray(frame, time="years", event="mi_status", cause=1,
                             covariates=["log_cac", "sex"], entry="zero")  # fmt: skip
    usual = cc.finegray(frame, time="years", event="mi_status", cause=1,
                        covariates=["log_cac", "sex"])  # fmt: skip
    np.testing.assert_allclose(with_entry.summary["coef"], usual.summary["coef"], rtol=1e-5)


def test_kaplan_meier_with_delayed_entry_matches_survfit(cohort: pl.DataFrame) -> None:
    curves = cc.kaplan_meier(cohort, time="death_age_exit", event="death_status",
                             entry="age_entry", by="sex")  # fmt: skip
    reference = pl.read_csv(REFERENCE / "agescale_km.csv", infer_schema_length=0)
    assert curves["sex"].tolist() == reference["sex"].to_list()
    for ours, theirs in (("time", "time"), ("survival", "surv"), ("lower", "lower"),
                         ("upper", "upper")):  # fmt: skip
        expected = reference[theirs].cast(pl.Float64).to_numpy()
        np.testing.assert_allclose(curves[ours].to_numpy(), expected, rtol=1e-10, atol=1e-13)
    # survfit's std.err is the SE of the cumulative hazard; ours is Greenwood's SE of S
    standard_error = reference["std_err"].cast(pl.Float64) * reference["surv"].cast(pl.Float64)
    np.testing.assert_allclose(curves["std_err"], standard_error.to_numpy(), rtol=1e-10)
    for column in ("n_risk", "n_event", "n_censor"):
        assert curves[column].tolist() == reference[column].cast(pl.Int64).to_list()
    # numbers at risk rise while people enter and fall as they leave
    n_risk = curves.loc[curves["sex"] == "female", "n_risk"].to_numpy()
    assert n_risk.argmax() not in (0, n_risk.size - 1)


def test_aalen_johansen_with_delayed_entry_matches_survfit(cohort: pl.DataFrame) -> None:
    curves = cc.cumulative_incidence(cohort, time="mi_age_exit", event="mi_status", cause=1,
                                     entry="age_entry")  # fmt: skip
    reference = pl.read_csv(REFERENCE / "agescale_aj.csv", infer_schema_length=0)
    for ours, theirs in (("time", "time"), ("cif", "cif"), ("std_err", "std_err")):
        expected = reference[theirs].cast(pl.Float64).to_numpy()
        np.testing.assert_allclose(curves[ours].to_numpy(), expected, rtol=1e-9, atol=1e-13)
    assert curves["n_risk"].tolist() == reference["n_risk"].cast(pl.Int64).to_list()


def test_ph_checks_match_cox_zph(cohort: pl.DataFrame) -> None:
    """cc.ph_test of the age-scale Cox fit, and of the Fine–Gray model fitted as R fits it
    (weighted counting-process rows), equal R cox.zph (the report's model checks)."""
    from cohortcalc.survival.finegray_entry import finegray_weighted_cox

    reference = pl.read_csv(REFERENCE / "agescale_zph.csv", infer_schema_length=0)
    cox_fit = cc.cox(
        cohort, time="death_age_exit", entry="age_entry", event="death_status",
        covariates=["cac_category", "sex"], reference={"cac_category": "0"},
    )  # fmt: skip
    fine_gray = finegray_weighted_cox(
        cohort, time="mi_age_exit", entry="age_entry", event="mi_status", cause=1,
        covariates=["log_cac", "sex"],
    )  # fmt: skip
    for case, fit in (("cox_death_age", cox_fit), ("fg_mi_age", fine_gray)):
        expected = reference.filter(pl.col("case") == case)
        ours = cc.ph_test(fit).loc[expected["term"].to_list()]
        for column in ("chisq", "p"):
            theirs = expected[column].cast(pl.Float64).to_numpy()
            np.testing.assert_allclose(ours[column].to_numpy(), theirs, rtol=1e-8)
        assert ours["df"].tolist() == expected["df"].cast(pl.Int64).to_list()


def test_finegray_ph_test_without_expanding_rows_matches_cox_zph(
    cohort: pl.DataFrame, mgus: pl.DataFrame
) -> None:
    """The report's Fine–Gray check (cumulative sums, no finegray() rows) equals R cox.zph on
    the finegray() + coxph fit at R's estimate, and cc.ph_test of the expanded fit on tied
    data (mgus2 in months, no entry)."""
    from cohortcalc.survival.finegray_entry import finegray_weighted_cox
    from cohortcalc.survival.finegray_proportionality import finegray_ph_test

    fit = cc.finegray(cohort, time="mi_age_exit", event="mi_status", cause=1,
                      covariates=["log_cac", "sex"], entry="age_entry")  # fmt: skip
    ours = finegray_ph_test(
        cohort, time="mi_age_exit", event="mi_status", cause=1, covariates=["log_cac", "sex"],
        beta=fit.coef, entry="age_entry",
    )  # fmt: skip
    reference = pl.read_csv(REFERENCE / "agescale_zph.csv", infer_schema_length=0)
    expected = reference.filter(pl.col("case") == "fg_mi_age")
    np.testing.assert_allclose(
        ours.loc[expected["term"].to_list(), "chisq"], expected["chisq"].cast(pl.Float64), rtol=1e-8
    )
    months = mgus.with_columns(months=pl.col("age_exit_cr") - pl.col("age_entry"))
    expanded = finegray_weighted_cox(months, time="months", event="event", cause=1,
                                     covariates=["sex", "hgb"])  # fmt: skip
    direct = finegray_ph_test(months, time="months", event="event", cause=1,
                              covariates=["sex", "hgb"], beta=expanded.coef)  # fmt: skip
    np.testing.assert_allclose(direct["chisq"], cc.ph_test(expanded)["chisq"], rtol=1e-9)
