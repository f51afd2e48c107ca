"""The baseline-hazard pieces a Cox fit keeps for prediction (``CoxResult.baseline_terms``)
against R ``basehaz(fit, centered = FALSE)`` (tests/reference/make_engine_baseline_reference.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
CASES = {
    "efron": {"ties": "efron"},
    "breslow": {"ties": "breslow"},
    "strata_breslow": {"ties": "breslow", "strata": "sex"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_cumulative_baseline_hazard_matches_r_basehaz(case: str) -> None:
    data = pd.read_csv(REFERENCE / "cox_lung.csv")
    expected = pd.read_csv(REFERENCE / "engine_baseline_reference.csv", keep_default_na=False)
    expected = expected[expected["case"] == case]
    fit = cc.cox(data, "time", "event", ["age", "ph_ecog"], **CASES[case])
    terms = fit.baseline_terms()
    # the increments are at x = c: dΛ(t | x = 0) = dΛ(t | x = c)·e^{-cβ}
    shift = np.exp(-terms.center @ fit.summary["coef"].to_numpy())
    for stratum, label in enumerate(sorted(set(expected["strata"]))):
        here = terms.stratum == stratum
        cumulative = np.cumsum(terms.hazard[here]) * shift
        r = expected[expected["strata"] == label].set_index("time")["cumhaz"]
        np.testing.assert_allclose(cumulative, r.loc[terms.time[here]].to_numpy(), rtol=1e-9)
    assert terms.n_events.sum() == fit.n_events
