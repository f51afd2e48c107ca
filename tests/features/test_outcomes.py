"""Time-to-event outcomes from event and follow-up tables (hand-worked calendars)."""

from __future__ import annotations

import datetime as dt

import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortcalc import FeatureError
from cohortcalc.features import derive
from cohortcalc.features._expr import day_number
from cohortcalc.synth import simulate_cohort

D = dt.date
BASE = D(2010, 1, 1)


def _tables() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    frame = pl.DataFrame(
        {"participant_id": ["P1", "P2", "P3", "P4", "P5"], "baseline_date": [BASE] * 5,
         "age": [60.0, 50.0, 70.0, 65.0, 55.0]}
    )  # fmt: skip
    events = pl.DataFrame(
        [("P1", "mi", D(2011, 1, 1), None), ("P1", "death", D(2012, 1, 1), "cardiovascular"),
         ("P3", "death", D(2010, 7, 1), "non_cardiovascular"), ("P4", "mi", D(2013, 3, 1), None),
         ("P4", "death", D(2013, 3, 1), "cardiovascular"), ("P5", "mi", D(2014, 1, 1), None)],
        schema=["participant_id", "event", "event_date", "death_cause"], orient="row",
    )  # fmt: skip
    followup = pl.DataFrame(
        [("P1", D(2012, 1, 1), "death"), ("P2", D(2015, 1, 1), "lost_to_follow_up"),
         ("P3", D(2010, 7, 1), "death"), ("P4", D(2013, 3, 1), "death"),
         ("P5", D(2016, 12, 31), "administrative_end")],
        schema=["participant_id", "end_date", "end_reason"], orient="row",
    )  # fmt: skip
    return frame, events, followup


def test_hand_worked_outcomes() -> None:
    frame, events, followup = _tables()
    out = derive(frame, events=events, followup=followup)
    # days from 2010-01-01: 2011-01-01 = 365, 2012-01-01 = 730, 2015-01-01 = 1826 (2012 leap),
    # 2010-07-01 = 181, 2013-03-01 = 1155, 2014-01-01 = 1461, 2016-12-31 = 2556
    assert out["mi_days"].to_list() == [365, 1826, 181, 1155, 1461]
    assert out["mi_status"].to_list() == [1, 0, 2, 1, 1]  # P4: MI and death on one day -> MI
    assert out["death_days"].to_list() == [730, 1826, 181, 1155, 2556]
    assert out["death_status"].to_list() == [1, 0, 1, 1, 0]
    assert out["cv_death_status"].to_list() == [1, 0, 2, 1, 0]
    assert out["mi_years"].to_list() == pytest.approx([d / 365.25 for d in out["mi_days"]])
    assert out["age_entry"].to_list() == frame["age"].to_list()
    ages = [60.0, 50.0, 70.0, 65.0, 55.0]
    # each outcome exits at the age at its own event or censoring (P1: MI at 1 y, death at 2 y)
    assert out["mi_age_exit"].to_list() == pytest.approx(
        [a + d / 365.25 for a, d in zip(ages, [365, 1826, 181, 1155, 1461], strict=True)]
    )
    assert out["death_age_exit"].to_list() == pytest.approx(
        [a + d / 365.25 for a, d in zip(ages, [730, 1826, 181, 1155, 2556], strict=True)]
    )
    # 2010-01-01 is 14,610 days after 1970-01-01 = 40 Julian years: calendar entry 2010.0
    assert out["calendar_entry"].to_list() == pytest.approx([2010.0] * 5, abs=1e-12)
    assert out["death_calendar_exit"].to_list() == pytest.approx(
        [2010 + d / 365.25 for d in [730, 1826, 181, 1155, 2556]]
    )
    assert "age_exit" not in out.columns  # no exit column that belongs to no outcome


def test_administrative_censoring_date() -> None:
    frame, events, followup = _tables()
    out = derive(frame, events=events, followup=followup, censor_date="2013-01-01")
    # 2013-01-01 is day 1096: later events are ignored and follow-up ends there
    assert out["mi_days"].to_list() == [365, 1096, 181, 1096, 1096]
    assert out["mi_status"].to_list() == [1, 0, 2, 0, 0]
    assert out["death_days"].to_list() == [730, 1096, 181, 1096, 1096]
    assert out["death_status"].to_list() == [1, 0, 1, 0, 0]


def test_landmark_keeps_event_free_and_shifts_time_origin() -> None:
    frame, events, followup = _tables()
    out = derive(frame, events=events, followup=followup, landmark_days=200)
    assert out["participant_id"].to_list() == ["P1", "P2", "P4", "P5"]  # P3 died on day 181
    assert out["mi_days"].to_list() == [165, 1626, 955, 1261]
    assert out["death_days"].to_list() == [530, 1626, 955, 2356]
    assert out["age_entry"].to_list() == pytest.approx([a + 200 / 365.25 for a in (60, 50, 65, 55)])
    # the exit ages do not move with the landmark: entry moves, each exit stays at its event
    assert out["death_age_exit"].to_list() == pytest.approx(
        [a + d / 365.25 for a, d in zip((60, 50, 65, 55), (730, 1826, 1155, 2556), strict=True)]
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e, f: (e.with_columns(event_date=pl.when(pl.col("participant_id") == "P5")
            .then(D(2009, 1, 1)).otherwise("event_date")), f), "event_date before baseline.*P5"),
        (lambda e, f: (e.with_columns(event_date=pl.when((pl.col("participant_id") == "P1")
            & (pl.col("event") == "mi")).then(D(2012, 6, 1)).otherwise("event_date")), f),
            "MI after death.*P1"),
        (lambda e, f: (e, f.with_columns(end_date=pl.when(pl.col("participant_id") == "P2")
            .then(D(2009, 1, 1)).otherwise("end_date"))), "end_date before baseline.*P2"),
        (lambda e, f: (e, f.filter(pl.col("participant_id") != "P2")), "no followup row.*P2"),
        (lambda e, f: (pl.concat([e, e.filter(pl.col("participant_id") == "P3")]), f),
            "more than one death.*P3"),
        (lambda e, f: (e, f.with_columns(end_date=pl.when(pl.col("participant_id") == "P5")
            .then(D(2013, 1, 1)).otherwise("end_date"))), "after end_date.*P5"),
        (lambda e, f: (e.filter(pl.col("participant_id") != "P3"), f),
            "end_reason 'death' without a death event.*P3"),
        (lambda e, f: (e, f.with_columns(end_reason=pl.lit("administrative_end"))),
            "death event but end_reason.*P1, P3, P4"),
        (lambda e, f: (e.with_columns(event=pl.lit("stroke")), f), "event not one of"),
        (lambda e, f: (e, pl.concat([f, f.filter(pl.col("participant_id") == "P2")])),
            "participant_id appears more than once.*P2"),
    ],
)  # fmt: skip
def test_contradictory_records_name_the_participant(edit: object, message: str) -> None:
    frame, events, followup = _tables()
    events, followup = edit(events, followup)  # type: ignore[operator]
    with pytest.raises(FeatureError, match=message):
        derive(frame, events=events, followup=followup)


def test_outcomes_need_both_tables_and_baseline() -> None:
    frame, events, followup = _tables()
    with pytest.raises(FeatureError, match="both events= and followup="):
        derive(frame, events=events)
    with pytest.raises(FeatureError, match=r"mi_status needs .*baseline_date"):
        derive(frame.drop("baseline_date"), events=events, followup=followup, require=["mi_status"])
    with pytest.raises(FeatureError, match=r"frame lacks \['baseline_date'\]"):
        derive(frame.drop("baseline_date"), events=events, followup=followup)
    with pytest.raises(FeatureError, match="landmark_days"):
        derive(frame, events=events, followup=followup, landmark_days=-5)


def test_outcomes_equal_synthetic_generator() -> None:
    cohort = simulate_cohort(n=4000, seed=21)
    t = cohort.tables
    out = derive(t["participants"], events=t["events"], followup=t["followup"])
    truth = cohort.analysis_frame()
    for column in ("mi_days", "mi_status", "death_days", "death_status", "cv_death_status"):
        assert out[column].to_list() == truth[column].to_list(), column
    for column in ("mi_years", "death_years", "age_entry"):
        assert (out[column] - truth[column]).abs().max() < 1e-9, column
    # the generator's age_exit is the age at the end of MI follow-up
    assert (out["mi_age_exit"] - truth["age_exit"]).abs().max() < 1e-9
    assert set(truth["mi_status"].unique()) == {0, 1, 2}  # every status was exercised


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 2000))
def test_outcome_invariants_on_random_cohorts(seed: int, landmark: int) -> None:
    t = simulate_cohort(n=300, seed=seed).tables
    out = derive(t["participants"], events=t["events"], followup=t["followup"])
    assert (out["mi_days"] <= out["death_days"]).all()
    competing = out.filter(pl.col("mi_status") == 2)
    assert (competing["death_status"] == 1).all()
    assert (competing["mi_days"] == competing["death_days"]).all()
    assert ((out["cv_death_status"] > 0) == (out["death_status"] == 1)).all()
    marked = derive(t["participants"], events=t["events"], followup=t["followup"],
                    landmark_days=landmark)  # fmt: skip
    kept = out.filter(pl.col("mi_days") > landmark)
    assert marked["participant_id"].to_list() == kept["participant_id"].to_list()
    assert (marked["death_days"] == kept["death_days"] - landmark).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.dates(), min_size=1, max_size=20))
def test_day_number_is_toordinal_on_polars_and_on_the_generic_path(dates: list[dt.date]) -> None:
    frame = nw.from_native(pl.LazyFrame({"d": [*dates, None]}))
    got = frame.select(
        polars=day_number("d", nw.Implementation.POLARS), generic=day_number("d")
    ).collect()
    expected = [d.toordinal() for d in dates] + [None]
    assert got["polars"].to_list() == expected
    assert got["generic"].to_list() == expected
