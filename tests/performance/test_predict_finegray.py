"""cc.predict for Fine–Gray fits against cmprsk::predict.crr
(make_predict_finegray_reference.R), and the seeded bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

from .conftest import reference, reference_data

CASES = {case["name"]: case for case in reference("predict_finegray_reference.json")}


@pytest.mark.parametrize("name", sorted(CASES))
def test_cumulative_incidence_matches_predict_crr(name: str) -> None:
    case = CASES[name]
    data = reference_data(case["data"])
    fit = cc.finegray(data, "time", "status", 1, case["covariates"])
    predicted = cc.predict(fit, data.iloc[case["rows"]], case["times"], n_boot=0)
    np.testing.assert_allclose(predicted.risk, np.array(case["cif"]), rtol=1e-8, atol=1e-13)
    assert np.isnan(predicted.lower).all()


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    data = reference_data("finegray_mgus2.csv").iloc[:400]
    fit = cc.finegray(data, "time", "status", 1, ["age", "sex"])
    rows = data.iloc[[0, 5, 9]]
    first = cc.predict(fit, rows, [60.0, 200.0], n_boot=40, seed=5)
    again = cc.predict(fit, rows, [60.0, 200.0], n_boot=40, seed=5)
    other = cc.predict(fit, rows, [60.0, 200.0], n_boot=40, seed=6)
    np.testing.assert_array_equal(first.se, again.se)
    assert not np.array_equal(first.se, other.se)
    assert np.all((first.lower < first.risk) & (first.risk < first.upper))
    assert np.all(first.se > 0) and "bootstrap (40 replicates, seed 5)" in first.method


def test_fine_gray_refuses_horizon_beyond_follow_up_and_unseen_level() -> None:
    data = reference_data("finegray_synth.csv")
    fit = cc.finegray(data, "time", "status", 1, ["age", "cac_category"])
    with pytest.raises(ModelError, match="beyond the last follow-up time 6011"):
        cc.predict(fit, data.iloc[[0]], 7000.0, n_boot=0)
    rows = data.iloc[[0]].copy()
    rows["cac_category"] = ">1000"
    with pytest.raises(ModelError, match="never saw"):
        cc.predict(fit, rows, 365.0, n_boot=0)
