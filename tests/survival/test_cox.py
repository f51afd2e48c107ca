"""cc.cox against R survival 3.5.3 (tests/reference/make_cox_reference.R), lifelines, the
synthetic cohort's known truth, invariances, and every refusal of the "never silent garbage" list.
"""

from __future__ import annotations

import numpy as np
import pytest

import cohortcalc as cc

REFERENCE_FITS = [
    "lung_efron",
    "lung_breslow",
    "lung_strata",
    "lung_weights_int",
    "lung_weights_frac",
    "lung_cluster",
    "lung_cluster_breslow",
    "heart_counting",
    "heart_strata_breslow",
    "mgus2_age_scale",
    "flchain_interaction",
    "flchain_reference",
]


@pytest.mark.parametrize("name", REFERENCE_FITS)
def test_matches_r_coxph(
    name: str, cox_reference: dict, reference_data: dict, cox_cases: dict
) -> None:
    expected = cox_reference["fits"][name]
    fit = cc.cox(reference_data[expected["data"]], **cox_cases[name])
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
