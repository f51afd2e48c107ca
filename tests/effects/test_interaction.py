"""Additive interaction (RERI, AP, SI): the measures recomputed by hand from the fitted
coefficients and covariance, the delta method checked against a brute-force numerical
gradient, a cohort with known additive interaction, and the refusals."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cohortcalc as cc
from cohortcalc.errors import ModelError, ModelWarning

from ._pooling import Scalar

# true log hazard ratios: HR10 = 1.5, HR01 = 2, HR11 = 4.5 -> RERI = 4.5 - 1.5 - 2 + 1 = 2
TRUE_HR10, TRUE_HR01, TRUE_HR11 = 1.5, 2.0, 4.5
TRUE_RERI = TRUE_HR11 - TRUE_HR10 - TRUE_HR01 + 1
TRUE_AP = TRUE_RERI / TRUE_HR11
TRUE_SI = (TRUE_HR11 - 1) / (TRUE_HR10 + TRUE_HR01 - 2)


@cache
def _cohort(n: int = 8000, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = (rng.random(n) < 0.4).astype(int)
    b = (rng.random(n) < 0.3).astype(int)
    age = rng.normal(60, 8, n)
    log_hr = np.select(
        [(a == 1) & (b == 1), a == 1, b == 1],
        np.log([TRUE_HR11, TRUE_HR10, TRUE_HR01]),
        0.0,
    )
    hazard = 0.02 * np.exp(log_hr + 0.03 * (age - 60))
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(1, 20, n)
    return pd.DataFrame(
        {
            "time": np.minimum(event_time, censor),
            "event": (event_time <= censor).astype(int),
            "cac_any": a,
            "ckd": b,
            "age": age,
        }
    )


@cache
def _fit() -> cc.CoxResult:
    return cc.cox(_cohort(), "time", "event", ["cac_any * ckd", "age"])


def _coefficients(fit) -> tuple[np.ndarray, np.ndarray]:
    names = ["cac_any", "ckd", "cac_any:ckd"]
    return fit.coef.loc[names].to_numpy(), fit.vcov.loc[names, names].to_numpy()


def test_measures_equal_a_hand_computation_from_coef_and_vcov() -> None:
    """Hosmer & Lemeshow (1992) written out element by element from the variance matrix."""
    fit = _fit()
    result = cc.additive_interaction(fit, "cac_any", "ckd")
    (b1, b2, b3), v = _coefficients(fit)
    rr10, rr01, rr11 = np.exp(b1), np.exp(b2), np.exp(b1 + b2 + b3)
    reri = rr11 - rr10 - rr01 + 1
    h1, h2, h3 = rr11 - rr10, rr11 - rr01, rr11
    var_reri = (
        h1**2 * v[0, 0]
        + h2**2 * v[1, 1]
        + h3**2 * v[2, 2]
        + 2 * h1 * h2 * v[0, 1]
        + 2 * h1 * h3 * v[0, 2]
        + 2 * h2 * h3 * v[1, 2]
    )
    z = stats.norm.ppf(0.975)
    measures = result.measures
    assert measures.loc["RERI", "estimate"] == pytest.approx(reri, rel=1e-12)
    assert measures.loc["RERI", "se"] == pytest.approx(np.sqrt(var_reri), rel=1e-12)
    assert measures.loc["RERI", "lower"] == pytest.approx(reri - z * np.sqrt(var_reri), rel=1e-12)
    assert measures.loc["AP", "estimate"] == pytest.approx(reri / rr11, rel=1e-12)
    si = (rr11 - 1) / (rr10 + rr01 - 2)
    assert measures.loc["SI", "estimate"] == pytest.approx(si, rel=1e-12)
    assert measures.loc["multiplicative", "estimate"] == pytest.approx(np.exp(b3), rel=1e-12)
    assert measures.loc["multiplicative", "p"] == pytest.approx(fit.summary.loc["cac_any:ckd", "p"])
    joint = result.joint.set_index(["first", "second"])
    assert joint.loc[("1", "1"), "hr"] == pytest.approx(rr11, rel=1e-12)
    assert joint.loc[("1", "0"), "hr_upper"] == pytest.approx(
        fit.summary.loc["cac_any", "hr_upper"], rel=1e-12
    )
    se11 = np.sqrt(v.sum())  # var(b1 + b2 + b3) = 1' V 1
    assert joint.loc[("1", "1"), "hr_lower"] == pytest.approx(
        np.exp(b1 + b2 + b3 - z * se11), rel=1e-12
    )
    strata = result.stratified.set_index(["exposure", "level"])
    assert strata.loc[("cac_any", "1"), "hr"] == pytest.approx(np.exp(b1 + b3), rel=1e-12)
    assert strata.loc[("ckd", "0"), "hr"] == pytest.approx(np.exp(b2), rel=1e-12)
    se_b_in_a1 = np.sqrt(v[1, 1] + v[2, 2] + 2 * v[1, 2])
    assert strata.loc[("ckd", "1"), "se"] == pytest.approx(se_b_in_a1, rel=1e-12)


def _numerical_delta(function, beta: np.ndarray, vcov: np.ndarray) -> float:
    """Delta-method SE with a central-difference gradient (an implementation of its own)."""
    step = 1e-6
    gradient = np.array(
        [
            (function(beta + step * e) - function(beta - step * e)) / (2 * step)
            for e in np.eye(beta.shape[0])
        ]
    )
    return float(np.sqrt(gradient @ vcov @ gradient))


def test_delta_method_equals_a_numerical_gradient() -> None:
    fit = _fit()
    beta, vcov = _coefficients(fit)
    measures = cc.additive_interaction(fit, "cac_any", "ckd").measures

    def reri(b):
        return np.exp(b.sum()) - np.exp(b[0]) - np.exp(b[1]) + 1

    def ap(b):
        return reri(b) / np.exp(b.sum())

    def log_si(b):
        return np.log(np.exp(b.sum()) - 1) - np.log(np.exp(b[0]) + np.exp(b[1]) - 2)

    assert measures.loc["RERI", "se"] == pytest.approx(_numerical_delta(reri, beta, vcov), 1e-7)
    assert measures.loc["AP", "se"] == pytest.approx(_numerical_delta(ap, beta, vcov), rel=1e-7)
    assert measures.loc["SI", "se"] == pytest.approx(_numerical_delta(log_si, beta, vcov), 1e-7)
    z = stats.norm.ppf(0.975)
    si_upper = np.exp(log_si(beta) + z * measures.loc["SI", "se"])
    assert measures.loc["SI", "upper"] == pytest.approx(si_upper, rel=1e-12)


def test_a_cohort_with_known_additive_interaction_recovers_it() -> None:
    """Tolerance: 4 standard errors of the estimate (a false alarm about 1 in 16,000)."""
    measures = cc.additive_interaction(_fit(), "cac_any", "ckd").measures
    for name, truth in (("RERI", TRUE_RERI), ("AP", TRUE_AP)):
        estimate, se = measures.loc[name, ["estimate", "se"]]
        assert abs(estimate - truth) < 4 * se, name
    log_si, se = np.log(measures.loc["SI", "estimate"]), measures.loc["SI", "se"]
    assert abs(log_si - np.log(TRUE_SI)) < 4 * se
    assert measures.loc["RERI", "lower"] > 0  # n = 8000 has the power to see RERI = 2


def test_boolean_and_text_exposures_give_the_same_measures_with_their_levels() -> None:
    data = _cohort()
    coded = data.assign(
        cac_any=data["cac_any"] == 1, ckd=np.where(data["ckd"] == 1, "CKD", "no CKD")
    )
    fit = cc.cox(coded, "time", "event", ["cac_any * ckd", "age"], reference={"ckd": "no CKD"})
    result = cc.additive_interaction(fit, "cac_any", "ckd")
    expected = cc.additive_interaction(_fit(), "cac_any", "ckd").measures
    np.testing.assert_allclose(result.measures.to_numpy(), expected.to_numpy(), rtol=1e-9)
    assert result.levels == (("False", "True"), ("no CKD", "CKD"))
    assert result.coefficients == ("cac_any[True]", "ckd[CKD]", "cac_any[True]:ckd[CKD]")
    assert "cac_any = True, ckd = CKD" in str(result)


def test_finegray_fit_is_accepted() -> None:
    data = _cohort().assign(status=lambda d: d["event"])
    fit = cc.finegray(data, "time", "status", 1, ["cac_any * ckd", "age"])
    result = cc.additive_interaction(fit, "cac_any", "ckd")
    b = fit.coef.loc[["cac_any", "ckd", "cac_any:ckd"]].to_numpy()
    reri = np.exp(b.sum()) - np.exp(b[0]) - np.exp(b[1]) + 1
    assert result.measures.loc["RERI", "estimate"] == pytest.approx(reri, rel=1e-12)


def test_a_protective_exposure_warns_to_recode() -> None:
    data = _cohort().assign(no_cac=lambda d: 1 - d["cac_any"])
    fit = cc.cox(data, "time", "event", ["no_cac * ckd", "age"])
    with pytest.warns(ModelWarning, match="Recode"):
        cc.additive_interaction(fit, "no_cac", "ckd")


@pytest.mark.parametrize(
    ("covariates", "first", "message"),
    [
        (["cac_any", "ckd", "age"], "cac_any", "no product term"),
        (["cac_any * ckd", "age"], "sex", "must be one binary coefficient"),
        (["group * ckd"], "group", "must be one binary coefficient"),
        (["cac_any * ckd", "cac_any:age"], "cac_any", "also in the interaction"),
        (["age * ckd"], "age", "not coded 0/1"),
    ],
)
def test_models_the_measures_do_not_apply_to_are_refused(covariates, first, message) -> None:
    data = _cohort().assign(group=lambda d: np.array(["a", "b", "c"])[np.arange(len(d)) % 3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = cc.cox(data, "time", "event", covariates)
    with pytest.raises(ModelError, match=message):
        cc.additive_interaction(fit, first, "ckd")


def test_fits_of_imputed_data_sets_pool_each_quantity_by_rubins_rules() -> None:
    """A list of fits (age made missing, imputed m = 4 times): RERI and AP pooled on their own
    scale, SI and the product on the log scale, each joint and stratum-specific HR on the log
    scale — each equal to cc.pool of that quantity's per-data-set estimate and SE."""
    cohort = _cohort(n=3000, seed=2).rename(columns={"ckd": "kidney"})  # ckd: a derived name
    holed = cohort.assign(age=cohort["age"].where(np.random.default_rng(1).random(3000) > 0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imputed = cc.impute(holed, ["age"], seed=5, m=4, iterations=3, time="time", event="event")
    fits = [cc.cox(d, "time", "event", ["cac_any * kidney", "age"]) for d in imputed.datasets]
    pooled = cc.additive_interaction(fits, "cac_any", "kidney")
    singles = [cc.additive_interaction(f, "cac_any", "kidney") for f in fits]
    dfcom = fits[0].n_events - 4
    for name, log in (("RERI", False), ("AP", False), ("SI", True), ("multiplicative", True)):
        parts = [
            Scalar(np.log(s.measures.loc[name, "estimate"]) if log
                      else s.measures.loc[name, "estimate"], s.measures.loc[name, "se"] ** 2,
                      dfcom)
            for s in singles
        ]  # fmt: skip
        expected = cc.pool(parts).summary.iloc[0]
        back = np.exp if log else (lambda x: x)
        row = pooled.measures.loc[name]
        assert row["estimate"] == pytest.approx(back(expected["estimate"]), rel=1e-12)
        assert row["lower"] == pytest.approx(back(expected["lower"]), rel=1e-10)
        assert row["upper"] == pytest.approx(back(expected["upper"]), rel=1e-10)
        assert row["p"] == pytest.approx(expected["p"], rel=1e-8)
    for i in (1, 3):  # joint: A alone, both
        parts = [Scalar(s.joint["log_hr"][i], s.joint["se"][i] ** 2, dfcom) for s in singles]
        expected = cc.pool(parts).summary.iloc[0]
        assert pooled.joint["hr_lower"][i] == pytest.approx(np.exp(expected["lower"]), rel=1e-10)
    assert pooled.joint.iloc[0][["hr", "hr_lower", "hr_upper"]].tolist() == [1.0, 1.0, 1.0]
    parts = [Scalar(s.stratified["log_hr"][2], s.stratified["se"][2] ** 2, dfcom)
             for s in singles]  # fmt: skip
    expected = cc.pool(parts).summary.iloc[0]
    assert pooled.stratified["hr_upper"][2] == pytest.approx(np.exp(expected["upper"]), rel=1e-10)
    assert pooled.imputations == 4 and "Pooled over 4 imputed data sets" in str(pooled)
    assert pooled.measures.loc["RERI", "estimate"] != pytest.approx(
        singles[0].measures.loc["RERI", "estimate"], rel=1e-6
    )
