"""MESA 10-year CHD risk (McClelland et al., JACC 2015) through derive(): a hand-worked case
computed here from the paper's equations, the CAC gradient, and null outside MESA's range."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import cohortcalc as cc

PERSON = {
    "age": 60.0, "sex": "male", "race_ethnicity": "white", "diabetes": False,
    "smoking": "never", "total_cholesterol": 200.0, "hdl_cholesterol": 50.0,
    "statin": False, "sbp": 130.0, "bp_treated": False, "family_history_chd": False,
}  # fmt: skip


def _by_hand(person: dict, cac: float | None) -> float:
    """The appendix equations, written out term by term for a white non-smoker."""
    if cac is None:
        x = (
            0.0455 * person["age"]
            + 0.7496
            + 0.0053 * person["total_cholesterol"]
            - 0.0140 * person["hdl_cholesterol"]
            + 0.0085 * person["sbp"]
        )
        return 1 - 0.99963 ** math.exp(x)
    x = (
        0.0172 * person["age"]
        + 0.4079
        + 0.0043 * person["total_cholesterol"]
        - 0.0114 * person["hdl_cholesterol"]
        + 0.0066 * person["sbp"]
        + 0.2743 * math.log(cac + 1)
    )
    return 1 - 0.99833 ** math.exp(x)


def test_hand_worked_man_with_and_without_cac() -> None:
    frame = pd.DataFrame([{**PERSON, "cac_agatston": c} for c in (0.0, 100.0, 400.0)])
    derived = cc.derive(frame)
    derived = derived.to_pandas() if hasattr(derived, "to_pandas") else derived
    assert derived["mesa_chd_10y"].iloc[0] == pytest.approx(_by_hand(PERSON, None), rel=1e-12)
    for row, cac in enumerate((0.0, 100.0, 400.0)):
        expected = _by_hand(PERSON, cac)
        assert derived["mesa_chd_cac_10y"].iloc[row] == pytest.approx(expected, rel=1e-12)
    # the published message: CAC 0 lowers, CAC 400 raises the estimate for this man
    risks = derived["mesa_chd_cac_10y"].tolist()
    assert risks[0] < derived["mesa_chd_10y"].iloc[0] < risks[2]


def test_ethnicity_terms_and_range() -> None:
    rows = [
        {**PERSON, "race_ethnicity": race, "cac_agatston": 10.0}
        for race in ("white", "chinese", "black", "hispanic", "other")
    ] + [{**PERSON, "age": 44.0, "cac_agatston": 0.0}, {**PERSON, "age": 85.0, "cac_agatston": 0.0}]
    derived = cc.derive(pd.DataFrame(rows))
    derived = derived.to_pandas() if hasattr(derived, "to_pandas") else derived
    base = math.exp(0.0455 * 60 + 0.7496 + 0.0053 * 200 - 0.0140 * 50 + 0.0085 * 130)
    for row, beta in enumerate((0.0, -0.5055, -0.2111, -0.1900)):
        expected = 1 - 0.99963 ** (base * math.exp(beta))
        assert derived["mesa_chd_10y"].iloc[row] == pytest.approx(expected, rel=1e-12)
    assert derived["mesa_chd_10y"].iloc[4:].isna().all()
    assert derived["mesa_chd_cac_10y"].iloc[4:].isna().all()
