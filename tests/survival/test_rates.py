"""Incidence rates and exact Poisson limits against R ``poisson.test``.

Reference numbers: tests/reference/make_nonparametric_reference.R.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.errors import ModelError
from cohortcalc.survival.rates import poisson_limits

REFERENCE = Path(__file__).parents[1] / "reference"
LUNG = pd.read_csv(REFERENCE / "lung.csv")
POISSON = pd.read_csv(REFERENCE / "poisson_reference.csv")


@pytest.mark.parametrize(("level", "suffix"), [(0.95, "95"), (0.9, "90")])
def test_poisson_limits_match_poisson_test(level: float, suffix: str) -> None:
    lower, upper = poisson_limits(POISSON["events"], POISSON["person_years"], level)
    np.testing.assert_allclose(lower, POISSON[f"lower{suffix}"], rtol=1e-10, atol=0)
    np.testing.assert_allclose(upper, POISSON[f"upper{suffix}"], rtol=1e-10, atol=0)


def test_rates_by_group_match_r() -> None:
    ref = pd.read_csv(REFERENCE / "rates_lung_sex_reference.csv")
    ours = cc.incidence_rates(pl.from_pandas(LUNG), "time", "status", by="sex")
    assert list(ours.columns) == ["sex", "events", "person_years", "rate", "lower", "upper"]
    assert ours["sex"].tolist() == ref["sex"].tolist()
    for column in ["events", "person_years", "rate", "lower", "upper"]:
        np.testing.assert_allclose(ours[column], ref[column], rtol=1e-10, err_msg=column)


def test_time_units_and_overall_rate() -> None:
    overall = cc.incidence_rates(LUNG, "time", "status", per=100)
    assert overall["events"].item() == LUNG["status"].sum()
    in_years = LUNG.assign(years=LUNG["time"] / 365.25)
    again = cc.incidence_rates(in_years, "years", "status", per=100, time_unit="years")
    np.testing.assert_allclose(again[["person_years", "rate"]], overall[["person_years", "rate"]])
    months = cc.incidence_rates(LUNG.assign(m=LUNG["time"] * 12), "m", "status", time_unit="months")
    assert months["person_years"].item() == pytest.approx(LUNG["time"].sum(), rel=1e-12)


def test_entry_gives_person_time_from_entry_to_exit() -> None:
    mgus2 = pd.read_csv(REFERENCE / "mgus2.csv")
    on_age_scale = cc.incidence_rates(
        mgus2, "exit_months", "death", by="sex", entry="entry_months", time_unit="months"
    )
    on_follow_up = cc.incidence_rates(mgus2, "futime", "death", by="sex", time_unit="months")
    pd.testing.assert_frame_equal(on_age_scale, on_follow_up)
    with pytest.raises(ModelError, match="entry column 'futime' is after time column 'age'"):
        cc.incidence_rates(mgus2, "age", "death", entry="futime")


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 500), st.floats(0.5, 1e5), st.floats(0.5, 0.999))
def test_limits_bracket_the_rate_and_widen_with_level(events: int, exposure: float, level: float):
    lower, upper = poisson_limits(np.array([events]), np.array([exposure]), level)
    wider_lower, wider_upper = poisson_limits(
        np.array([events]), np.array([exposure]), min(level + 0.0005, 0.9995)
    )
    rate = events / exposure
    assert lower[0] <= rate <= upper[0]
    assert wider_lower[0] <= lower[0] and wider_upper[0] >= upper[0]


def test_rates_reject_bad_input() -> None:
    with pytest.raises(ModelError, match="time_unit 'weeks'"):
        cc.incidence_rates(LUNG, "time", "status", time_unit="weeks")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="zero person-time"):
        cc.incidence_rates(LUNG.assign(time=0), "time", "status", by="sex")
    with pytest.raises(ModelError, match="event column 'ph_ecog' must be 0"):
        cc.incidence_rates(LUNG.dropna(), "time", "ph_ecog")
    with pytest.raises(ModelError, match="conf_level"):
        cc.incidence_rates(LUNG, "time", "status", conf_level=95)
