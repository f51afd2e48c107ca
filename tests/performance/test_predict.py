"""cc.predict for Cox fits against R survfit(coxfit, newdata=) (make_predict_reference.R)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

from .conftest import reference, reference_data

CASES = {case["name"]: case for case in reference("predict_reference.json")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cox_prediction_matches_r_survfit(name: str) -> None:
    case = CASES[name]
    data = reference_data(case["data"])
    fit = cc.cox(data, **case["args"])
    rows = data.iloc[case["rows"]].reset_index(drop=True)
    predicted = cc.predict(fit, rows, case["times"], conf_type=case["conf_type"])
    surv = np.array(case["surv"], dtype=float)
    std_err = np.array(case["std_err"], dtype=float)
    lower = np.array(case["lower"], dtype=float)
    upper = np.array(case["upper"], dtype=float)
    np.testing.assert_allclose(1.0 - predicted.risk, surv, rtol=1e-8, atol=1e-12)
    se_cumhaz = predicted.se / (1.0 - predicted.risk)
    np.testing.assert_allclose(se_cumhaz, std_err, rtol=1e-8, atol=1e-12)
    defined = np.isfinite(lower)  # R leaves the log-log interval undefined where S = 1
    np.testing.assert_allclose((1.0 - predicted.upper)[defined], lower[defined], rtol=1e-8)
    np.testing.assert_allclose((1.0 - predicted.lower)[defined], upper[defined], rtol=1e-8)
    assert predicted.table.shape == (len(case["rows"]) * len(case["times"]), 6)


def _lung_fit(**kwargs: object) -> tuple[pd.DataFrame, cc.CoxResult]:
    data = reference_data("cox_lung.csv")
    return data, cc.cox(data, "time", "event", ["age", "sex_label", "ph_ecog"], **kwargs)


def test_missing_covariate_costs_the_row_its_value_only() -> None:
    data, fit = _lung_fit()
    rows = data.iloc[[0, 1, 2]].copy()
    rows.loc[1, "age"] = np.nan
    predicted = cc.predict(fit, rows, [100.0, 365.0])
    assert predicted.n_missing == 1
    assert np.isnan(predicted.risk[1]).all() and np.isfinite(predicted.risk[[0, 2]]).all()
    alone = cc.predict(fit, rows.iloc[[2]], [100.0, 365.0])
    np.testing.assert_array_equal(alone.risk[0], predicted.risk[2])


def test_unseen_level_and_stratum_and_horizon_are_refused() -> None:
    data, fit = _lung_fit()
    rows = data.iloc[[0]].copy()
    rows["sex_label"] = "other"
    with pytest.raises(ModelError, match=r"'sex_label' has level 'other'.*never saw"):
        cc.predict(fit, rows, 100.0)
    with pytest.raises(ModelError, match="beyond the last follow-up time 1022"):
        cc.predict(fit, data.iloc[[0]], [100.0, 2000.0])
    with pytest.raises(ModelError, match=r"times=.*> 0"):
        cc.predict(fit, data.iloc[[0]], [0.0])
    strat = cc.cox(data, "time", "event", ["age"], strata="sex_label")
    rows = data.iloc[[0]].copy()
    rows["sex_label"] = "unknown"
    with pytest.raises(ModelError, match=r"stratum .*never saw"):
        cc.predict(strat, rows, 100.0)


def test_risk_rises_with_time_and_with_the_linear_predictor() -> None:
    data, fit = _lung_fit()
    predicted = cc.predict(fit, data.dropna(subset=["ph_ecog"]), [100.0, 300.0, 600.0])
    assert np.all(np.diff(predicted.risk, axis=1) >= 0)
    assert np.all((predicted.lower <= predicted.risk) & (predicted.risk <= predicted.upper))


def test_missing_stratum_value_costs_the_row_and_order_does_not_matter() -> None:
    data = reference_data("cox_lung.csv")
    fit = cc.cox(data, "time", "event", ["age"], strata=["sex_label", "w_int"])
    rows = data.iloc[[0, 1, 2, 3, 4]].copy()
    rows.loc[2, "w_int"] = np.nan
    predicted = cc.predict(fit, rows, [100.0, 300.0])
    assert np.isnan(predicted.risk[2]).all() and predicted.n_missing == 1
    shuffled = cc.predict(fit, rows.iloc[[4, 3, 1, 0]], [100.0, 300.0])
    np.testing.assert_array_equal(shuffled.risk, predicted.risk[[4, 3, 1, 0]])
