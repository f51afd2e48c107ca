"""cc.cox against R survival 3.5.3 (tests/reference/make_cox_reference.R), lifelines, the
synthetic cohort's known truth, invariances, and every refusal of the "never silent garbage" list.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import cohortcalc as cc

LUNG3 = ["age", "sex", "ph_ecog"]

# Each reference case: the data file and the cc.cox arguments reproducing the R call in the JSON.
CASES: dict[str, dict[str, Any]] = {
    "lung_efron": {"time": "time", "event": "event", "covariates": LUNG3},
    "lung_breslow": {"time": "time", "event": "event", "covariates": LUNG3, "ties": "breslow"},
    "lung_strata": {"time": "time", "event": "event", "covariates": LUNG3, "strata": "inst"},
    "lung_weights_int": {"time": "time", "event": "event", "covariates": LUNG3, "weights": "w_int"},
    "lung_weights_frac": {
        "time": "time",
        "event": "event",
        "covariates": LUNG3,
        "weights": "w_frac",
    },
    "lung_cluster": {"time": "time", "event": "event", "covariates": LUNG3, "cluster": "inst"},
    "lung_cluster_breslow": {
        "time": "time",
        "event": "event",
        "covariates": LUNG3,
        "cluster": "inst",
        "ties": "breslow",
        "weights": "w_int",
    },
    "heart_counting": {
        "time": "stop",
        "entry": "start",
        "event": "event",
        "covariates": ["age", "year", "surgery", "transplant"],
        "cluster": "id",
    },
    "heart_strata_breslow": {
        "time": "stop",
        "entry": "start",
        "event": "event",
        "covariates": ["age", "year", "transplant"],
        "strata": "surgery",
        "cluster": "id",
        "ties": "breslow",
    },
    "mgus2_age_scale": {
        "time": "exit_months",
        "entry": "entry_months",
        "event": "death",
        "covariates": ["sex", "hgb", "creat"],
    },
    "flchain_interaction": {
        "time": "futime",
        "event": "death",
        "covariates": "age * sex + C(flc_grp) + mgus",
    },
    "flchain_reference": {
        "time": "futime",
        "event": "death",
        "covariates": ["age", "sex", "creatinine", "C(flc_grp)"],
        "reference": {"flc_grp": "10"},
        "ties": "breslow",
    },
}


def fit_case(name: str, cox_reference: dict, reference_data: dict) -> tuple[Any, dict]:
    expected = cox_reference["fits"][name]
    return cc.cox(reference_data[expected["data"]], **CASES[name]), expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_r_coxph(name: str, cox_reference: dict, reference_data: dict) -> None:
    fit, expected = fit_case(name, cox_reference, reference_data)
    terms = list(expected["coef"])
    assert sorted(fit.terms) == sorted(terms)
    summary = fit.summary.loc[terms]
    np.testing.assert_allclose(summary["coef"], list(expected["coef"].values()), rtol=1e-9)
    np.testing.assert_allclose(summary["se"], list(expected["se"].values()), rtol=1e-9)
    assert fit.loglik == pytest.approx(expected["loglik"], rel=1e-11)
    assert fit.loglik_null == pytest.approx(expected["loglik_null"], rel=1e-11)
    assert fit.iterations == expected["iterations"]
    assert (fit.n, fit.n_events, fit.n_dropped) == (
        expected["n"],
        expected["n_events"],
        expected["n_dropped"],
    )
    assert fit.robust == expected["robust"]
    assert fit.score_test is not None
    assert fit.score_test.statistic == pytest.approx(expected["score_test"], rel=1e-9)
    if fit.robust:
        naive = np.sqrt(np.diag(fit.naive_vcov.loc[terms, terms]))
        np.testing.assert_allclose(naive, list(expected["naive_se"].values()), rtol=1e-9)
    np.testing.assert_allclose(
        fit.vcov.loc[terms, terms].to_numpy(), np.array(expected["vcov"]), rtol=1e-8, atol=1e-15
    )
