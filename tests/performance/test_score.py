"""cc.score (AUC(t), Brier(t), their SEs and contrasts) against riskRegression::Score
(make_score_reference.R) and a brute-force pair sum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError

from .conftest import reference, reference_data

CASES = {case["name"]: case for case in reference("score_reference.json")}
DATA = {"lung": "cox_lung.csv", "mgus2_competing": "finegray_mgus2.csv"}


def _data(name: str) -> pd.DataFrame:
    data = reference_data(DATA[name])
    if name == "lung":
        data = data.dropna(subset=["ph_ecog"]).reset_index(drop=True)
    return data


def _score(name: str) -> cc.ScoreResult:
    case = CASES[name]
    risks = {label: np.array(value) for label, value in case["risks"].items()}
    return cc.score(
        risks,
        _data(name),
        time=case["time"],
        event=case["event"],
        times=case["times"],
        cause=1 if name != "lung" else None,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_auc_and_brier_match_riskregression_score(name: str) -> None:
    case = CASES[name]
    result = _score(name)
    for metric, column in (("auc", "AUC"), ("brier", "Brier")):
        table = getattr(result, metric)
        expected = pd.DataFrame(case[metric]).rename(columns={"times": "time"})
        merged = table.merge(expected, on=["model", "time"], suffixes=("", "_r"))
        assert len(merged) == len(expected)
        np.testing.assert_allclose(merged[metric], merged[column], rtol=1e-8)
        np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-8)
        contrast = result.contrasts[result.contrasts["metric"] == metric]
        reference_contrast = case[f"{metric}_contrast"]
        np.testing.assert_allclose(contrast["delta"], reference_contrast["delta"], rtol=1e-8)
        np.testing.assert_allclose(contrast["se"], reference_contrast["se"], rtol=1e-8)


def test_auc_equals_the_weighted_pair_sum() -> None:
    """The estimate against a direct double loop over cases and controls, G by its product."""
    data = _data("lung")
    risk = np.array(CASES["lung"]["risks"]["age"])[:, 1]
    horizon = 365.0
    result = cc.score({"age": risk}, data, time="time", event="event", times=horizon)
    time, event = data["time"].to_numpy(float), data["event"].to_numpy(int)

    def censoring(t: float, left: bool) -> float:
        """G(t) or G(t−) by its product, deaths at a tied time leaving first (prodlim)."""
        product = 1.0
        for u in np.unique(time[event == 0]):
            if u < t or (u == t and not left):
                censored = np.sum((time == u) & (event == 0))
                product *= 1.0 - censored / (np.sum(time >= u) - np.sum((time == u) & (event == 1)))
        return product

    numerator = denominator = 0.0
    at_horizon = censoring(horizon, False)
    for i in np.flatnonzero((time <= horizon) & (event == 1)):
        case_weight = censoring(time[i], True)
        for j in np.flatnonzero(time > horizon):
            w = 1.0 / (case_weight * at_horizon)
            numerator += w * ((risk[i] > risk[j]) + 0.5 * (risk[i] == risk[j]))
            denominator += w
    assert result.auc["auc"].iloc[0] == pytest.approx(numerator / denominator, rel=1e-12)


def test_bad_predictions_are_refused() -> None:
    data = _data("lung")
    with pytest.raises(ModelError, match=r"shape \(5,\)|shape \(5, 1\)"):
        cc.score({"m": np.zeros(5)}, data, time="time", event="event", times=100.0)
    with pytest.raises(ModelError, match="beyond the last follow-up"):
        cc.score({"m": np.zeros(len(data))}, data, time="time", event="event", times=5000.0)
