"""Restricted cubic splines against R: knots and basis of ``rms::rcs``, Cox fits against
``coxph``, Fine–Gray fits against ``cmprsk::crr``, Wald tests against ``rms::anova``, HR curves
against ``rms::contrast``, the LR test against ``anova(coxph, coxph)`` and ``cc.ph_test``
against ``cox.zph``.

Numbers from tests/reference/make_rcs_reference.R (rcs_reference.json, rcs_cac.csv).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelWarning

REFERENCE = Path(__file__).parents[1] / "reference"


@cache
def _reference() -> dict:
    return json.loads((REFERENCE / "rcs_reference.json").read_text())


@cache
def _data(name: str) -> pd.DataFrame:
    if name == "lung":
        frame = pd.read_csv(REFERENCE / "lung.csv")
        return frame.assign(male=(frame["sex"] == "male").astype(int))
    if name == "mgus2":
        frame = pd.read_csv(REFERENCE / "finegray_mgus2.csv")
        return frame.assign(male=(frame["sex"] == "M").astype(int))
    return pd.read_csv(REFERENCE / "rcs_cac.csv")


def _relative(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


KNOT_CASES = [(c["name"], c["n_knots"]) for c in _reference()["knots"]]


@pytest.mark.parametrize(("name", "n_knots"), KNOT_CASES)
def test_default_knots_equal_rms(name: str, n_knots: int) -> None:
    case = next(c for c in _reference()["knots"] if (c["name"], c["n_knots"]) == (name, n_knots))
    values = np.array(_reference()["vectors"][name], dtype=float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        knots = cc.rcs_knots(values, n_knots, name=name)
    assert knots.shape == (len(case["knots"]),)
    np.testing.assert_array_equal(knots, case["knots"])  # R's own quantile arithmetic: exact
    warned = any(issubclass(w.category, ModelWarning) for w in caught)
    assert warned == case["warned"]


@pytest.mark.parametrize("name", sorted(_reference()["vectors"]))
def test_knots_from_a_frequency_table_equal_knots_from_the_values(name: str) -> None:
    """What a distributed engine computes from one group-by-value count pass."""
    import polars as pl

    values = np.array(_reference()["vectors"][name], dtype=float)
    table = pl.DataFrame({"x": values}).group_by("x").len().sort("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_knots in (3, 4, 5):
            np.testing.assert_array_equal(
                cc.rcs_knots_from_counts(table["x"].to_numpy(), table["len"].to_numpy(), n_knots),
                cc.rcs_knots(values, n_knots),
            )


def test_the_knot_cases_cover_every_rule() -> None:
    """The reference exercises the tied minimum (CAC = 0), a tied maximum, n < 100 and the
    too-few-distinct-values path; check the cases really hit them (else the test is weak)."""
    cases = {(c["name"], c["n_knots"]): c for c in _reference()["knots"]}
    vectors = _reference()["vectors"]
    assert cases[("cac", 4)]["knots"][0] == np.unique(vectors["cac"])[1]  # knot beside 0
    assert cases[("tied_max", 4)]["knots"][-1] < max(vectors["tied_max"])
    assert len(vectors["normal_small"]) < 100
    assert cases[("normal_small", 3)]["knots"][0] == sorted(vectors["normal_small"])[4]
    assert cases[("few_distinct", 5)]["warned"]
    assert len(cases[("cac_small", 6)]["knots"]) == 5  # rms drops a repeated knot


@pytest.mark.parametrize("case", _reference()["basis"], ids=lambda c: c["name"])
def test_basis_equals_rms_rcs(case: dict) -> None:
    x = np.array(case["x"], dtype=float)
    spec = case["spec"]
    knots = cc.rcs_knots(x, int(spec[0])) if len(spec) == 1 else np.array(spec)
    np.testing.assert_allclose(knots, case["knots"], rtol=1e-14)
    basis = cc.rcs_basis(x, knots)
    reference = np.array(case["basis"])
    assert basis.shape == reference.shape
    np.testing.assert_allclose(basis, reference, rtol=1e-12, atol=1e-12)


COX_MODELS = {
    "lung_age_4_efron": ("lung", "status", ["rcs(age, 4)", "male"], "rcs(age, 4)"),
    "lung_age_5_breslow": ("lung", "status", ["rcs(age, 5)", "male"], "rcs(age, 5)"),
    "cac_4_efron": ("cac", "mi", ["rcs(log_cac, 4)", "age"], "rcs(log_cac, 4)"),
    "cac_given_efron": (
        "cac",
        "mi",
        ["rcs(log_cac, knots=[0, 2, 4, 6, 8])", "age"],
        "rcs(log_cac, knots=[0, 2, 4, 6, 8])",
    ),
}


@cache
def _cox(name: str) -> cc.CoxResult:
    case = next(c for c in _reference()["cox"] if c["name"] == name)
    data, event, covariates, _ = COX_MODELS[name]
    return cc.cox(_data(data), "time", event, covariates, ties=case["ties"])


@pytest.mark.parametrize("case", _reference()["cox"], ids=lambda c: c["name"])
def test_cox_with_a_spline_equals_coxph(case: dict) -> None:
    fit = _cox(case["name"])
    assert len(fit.terms) == len(case["terms"])
    assert _relative(fit.coef.to_numpy(), case["coef"]) < 1e-8
    assert _relative(fit.vcov.to_numpy(), case["var"]) < 1e-8
    assert abs(fit.loglik - case["loglik"][1]) < 1e-8 * abs(case["loglik"][1])


@pytest.mark.parametrize("case", _reference()["cox"], ids=lambda c: c["name"])
def test_wald_tests_and_contrasts_equal_rms(case: dict) -> None:
    """rms::cph is fitted to 1e-12 in R, coxph (and we) stop at R's 1e-9 rule (cph - coxph
    coefficients differ by ≤ 1.1e-8); observed agreement ≤ 3.4e-9 relative."""
    term = COX_MODELS[case["name"]][3]
    with warnings.catch_warnings():  # CAC = 3000 lies past the data: extrapolated, as in rms
        warnings.simplefilter("ignore", ModelWarning)
        curve = cc.hr_curve(_cox(case["name"]), term, reference=case["reference"][0], at=case["at"])
    assert curve.association.df == case["wald_total"][1]
    assert curve.nonlinearity.df == case["wald_nonlinear"][1]
    assert _relative(curve.association.statistic, case["wald_total"][0]) < 1e-8
    assert _relative(curve.nonlinearity.statistic, case["wald_nonlinear"][0]) < 1e-8
    table = curve.table
    assert _relative(table["log_hr"], case["contrast_log_hr"]) < 1e-8
    assert _relative(table["se"], case["contrast_se"]) < 1e-8
    assert _relative(np.log(table["hr_lower"]), case["contrast_lower"]) < 1e-8
    assert _relative(np.log(table["hr_upper"]), case["contrast_upper"]) < 1e-8


@pytest.mark.parametrize("case", _reference()["cox"], ids=lambda c: c["name"])
def test_lr_test_of_non_linearity_equals_anova_coxph(case: dict) -> None:
    data, event, covariates, _ = COX_MODELS[case["name"]]
    spline_fit = _cox(case["name"])
    column = next(iter(spline_fit.splines.values())).column
    linear = cc.cox(_data(data), "time", event, [column, *covariates[1:]], ties=case["ties"])
    test = cc.lrtest(linear, spline_fit)
    assert test.df == case["lr_nonlinear"][1]
    assert _relative(test.statistic, case["lr_nonlinear"][0]) < 1e-10


@pytest.mark.parametrize("case", _reference()["cox"], ids=lambda c: c["name"])
def test_ph_test_of_a_spline_fit_equals_cox_zph(case: dict) -> None:
    table = cc.ph_test(_cox(case["name"]))
    np.testing.assert_allclose(table["df"], case["zph_df"])
    assert _relative(table["chisq"].to_numpy(), case["zph_chisq"]) < 1e-8


CRR_MODELS = {
    "mgus2_hgb_4": ("mgus2", ["rcs(hgb, 4)", "age", "male"]),
    "cac_4": ("cac", ["rcs(log_cac, 4)", "age"]),
}


@pytest.mark.parametrize("case", _reference()["crr"], ids=lambda c: c["name"])
def test_finegray_with_a_spline_equals_crr(case: dict) -> None:
    data, covariates = CRR_MODELS[case["name"]]
    fit = cc.finegray(_data(data), "time", "status", 1, covariates)
    spline = next(iter(fit.splines.values()))
    np.testing.assert_allclose(spline.knots, case["knots"], rtol=1e-14)
    assert _relative(fit.coef.to_numpy(), case["coef"]) < 1e-8
    assert _relative(fit.vcov.to_numpy(), case["var"]) < 1e-8
    curve = cc.hr_curve(fit, covariates[0], reference=float(np.median(_data(data)[spline.column])))
    assert curve.ratio == "SHR"
    assert _relative(curve.association.statistic, case["wald_total"][0]) < 1e-8
    assert _relative(curve.nonlinearity.statistic, case["wald_nonlinear"][0]) < 1e-8
    assert curve.nonlinearity.df == case["wald_nonlinear"][1]
