"""cc.ph_test against R's cox.zph (survival 3.5.3; tests/reference/make_cox_reference.R)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cohortcalc as cc
from cohortcalc.errors import ModelError


@pytest.mark.parametrize(
    "name",
    [
        "lung_efron",
        "lung_breslow",
        "lung_strata",
        "heart_counting",
        "mgus2_age_scale",
        "flchain_interaction",
    ],
)
def test_matches_r_cox_zph(
    name: str, cox_reference: dict, reference_data: dict, cox_cases: dict
) -> None:
    expected = cox_reference["zph"][name]
    data = reference_data[cox_reference["fits"][name]["data"]]
    table = cc.ph_test(cc.cox(data, **cox_cases[name]))
    assert list(table.columns) == ["chisq", "df", "p"]
    assert list(table.index) == list(expected["chisq"])  # model terms in order, then GLOBAL
    np.testing.assert_allclose(table["chisq"], list(expected["chisq"].values()), rtol=1e-9)
    np.testing.assert_array_equal(table["df"], list(expected["df"].values()))
    np.testing.assert_allclose(table["p"], list(expected["p"].values()), rtol=1e-8)


def test_categorical_term_is_one_multi_df_test(reference_data: dict, cox_cases: dict) -> None:
    data = reference_data["cox_flchain.csv"]
    table = cc.ph_test(cc.cox(data, **cox_cases["flchain_interaction"]))
    assert table.loc["flc_grp", "df"] == 9
    assert table.loc["GLOBAL", "df"] == 13


def test_detects_a_time_varying_effect() -> None:
    """Hazard ratio 4 early, 1/4 late: the PH test must reject; a constant HR must not."""
    rng = np.random.default_rng(7)
    n = 4000
    group = rng.integers(0, 2, n).astype(float)
    early = rng.exponential(1.0 / np.where(group == 1, 4.0, 1.0))
    late = 1.0 + rng.exponential(1.0 / np.where(group == 1, 0.25, 1.0))
    crossing = np.where(early < 1.0, early, late)
    constant = rng.exponential(1.0 / np.where(group == 1, 2.0, 1.0))
    censor = rng.uniform(0.5, 4.0, n)
    p_values = {}
    for label, event_time in {"crossing": crossing, "constant": constant}.items():
        frame = pd.DataFrame(
            {
                "time": np.minimum(event_time, censor),
                "event": (event_time <= censor).astype(int),
                "group": group,
            }
        )
        p_values[label] = cc.ph_test(cc.cox(frame, "time", "event", ["group"])).loc["group", "p"]
    assert p_values["crossing"] < 1e-4
    assert p_values["constant"] > 0.001


def test_rejects_objects_that_are_not_cox_fits() -> None:
    fake = cc.CoxResult.__new__(cc.CoxResult)
    object.__setattr__(fake, "fit_data", None)
    with pytest.raises(ModelError, match=r"cc\.cox"):
        cc.ph_test(fake)
