"""Time-to-event outcomes from long event and follow-up tables.

Conventions (documented in derive()): time zero is ``baseline_date``; only the first MI counts;
MI with a death on the same day counts as MI; death without a prior MI is the competing event of
MI (``mi_status`` 2); an administrative censoring date ignores events after it and ends
follow-up there; days are whole days, years = days / 365.25 (Julian year).

Time scales (docs/features.md): every outcome has its own exit on each scale. Follow-up time
is ``<outcome>_years`` (entry 0); on the age scale entry is ``age_entry`` and exit is
``<outcome>_age_exit`` = age at entry + that outcome's own follow-up; on the calendar scale
entry is ``calendar_entry`` and exit ``<outcome>_calendar_exit`` (decimal years, 1970 + days
since 1970-01-01 / 365.25, so exit − entry is the follow-up in years on every scale).
Ages and calendar times are rounded to ``SCALE_DECIMALS`` decimals (3 ms): an age at entry of
53.6 plus 1,461 days and one of 57.6 plus 0 days are the same age, and rounding makes them
the same number, so they tie as R's ``timefix`` would tie them.
"""

from __future__ import annotations

import datetime as dt

import narwhals as nw

from cohortcalc.features._checks import raise_violations
from cohortcalc.features._engine import left_join
from cohortcalc.features._expr import day_number

DAYS_PER_YEAR = 365.25  # Julian year, as R's survival and most cohort software
EVENT_TYPES = ("mi", "death")
DEATH_CAUSES = ("cardiovascular", "non_cardiovascular")
#: Outcome name -> its follow-up column in years (cv_death shares death's follow-up).
OUTCOME_YEARS = {"mi": "mi_years", "death": "death_years"}
AGE_COLUMNS = ("age_entry", "mi_age_exit", "death_age_exit")
CALENDAR_COLUMNS = ("calendar_entry", "mi_calendar_exit", "death_calendar_exit")
OUTCOME_COLUMNS = (
    "mi_days", "mi_years", "mi_status", "death_days", "death_years", "death_status",
    "cv_death_status", *AGE_COLUMNS, *CALENDAR_COLUMNS,
)  # fmt: skip
#: Day number (``date.toordinal()``) of 1970-01-01, the origin of the calendar scale.
CALENDAR_ORIGIN_DAY = dt.date(1970, 1, 1).toordinal()
CALENDAR_ORIGIN_YEAR = 1970
#: Decimals (of a year) kept on the age and calendar scales; below the double's noise at
#: ages and years (~1e-14), above any real difference (a day is 0.0027 years).
SCALE_DECIMALS = 9


TEMPORARY_COLUMNS = (
    "_baseline_day", "_end_day", "_end_is_death", "_has_followup", "_mi_day", "_death_day",
    "_death_cv", "_n_deaths", "_unknown_event", "_first_event_day", "_last_event_day",
)  # fmt: skip


def event_summary(events: nw.LazyFrame) -> nw.LazyFrame:
    """One row per participant: first MI day, death day and cause, counts, first/last event.

    The day number is a column first: used thrice, built once (engines other than Polars
    rebuild an expression at each use).
    """
    event, day = nw.col("event"), nw.col("_event_day")
    is_death = event == "death"
    cause = nw.col("death_cause")
    days = events.select(
        "participant_id", "event", "death_cause",
        _event_day=day_number("event_date", events.implementation),
    )  # fmt: skip
    return (
        days.select(
            "participant_id",
            _mi_day=nw.when(event == "mi").then(day),
            _death_day=nw.when(is_death).then(day),
            _death_cv=nw.when(is_death & (cause == "cardiovascular"))
            .then(1)
            .when(is_death & (cause == "non_cardiovascular"))
            .then(0),
            _n_deaths=nw.when(is_death).then(1).otherwise(0),
            _unknown_event=nw.when(event.is_in(EVENT_TYPES)).then(0).otherwise(1),
            _event_day=day,
        )
        .group_by("participant_id")
        .agg(
            nw.col("_mi_day").min(),
            nw.col("_death_day").min(),
            nw.col("_death_cv").max(),
            nw.col("_n_deaths").sum(),
            nw.col("_unknown_event").sum(),
            nw.col("_event_day").min().alias("_first_event_day"),
            nw.col("_event_day").max().alias("_last_event_day"),
        )
    )


def join_followup(
    frame: nw.LazyFrame, events: nw.LazyFrame, followup: nw.LazyFrame
) -> nw.LazyFrame:
    """Attach baseline, end-of-follow-up and event days to each participant of ``frame``."""
    ends = followup.select(
        "participant_id",
        _end_day=day_number("end_date", followup.implementation),
        _end_is_death=nw.col("end_reason") == "death",
        _has_followup=nw.lit(True),
    )
    frame = frame.with_columns(_baseline_day=day_number("baseline_date", frame.implementation))
    frame = left_join(frame, ends, "participant_id")
    return left_join(frame, event_summary(events), "participant_id")


def check_dates(joined: nw.LazyFrame) -> None:
    """FeatureError naming participants whose dates contradict each other."""
    base, end = nw.col("_baseline_day"), nw.col("_end_day")
    mi, death = nw.col("_mi_day"), nw.col("_death_day")
    checks = {
        "no followup row for participant": nw.col("_has_followup").is_null(),
        "baseline_date missing": base.is_null(),
        "end_date missing": nw.col("_has_followup") & end.is_null(),
        "end_date before baseline_date": end < base,
        "event_date before baseline_date": nw.col("_first_event_day") < base,
        "event_date after end_date (end of follow-up)": nw.col("_last_event_day") > end,
        "MI after death": mi > death,
        "more than one death": nw.col("_n_deaths") > 1,
        f"event not one of {EVENT_TYPES}": nw.col("_unknown_event") > 0,
        "end_reason 'death' without a death event": nw.col("_end_is_death") & death.is_null(),
        "death event but end_reason is not 'death'": ~nw.col("_end_is_death") & ~death.is_null(),
    }
    raise_violations(joined, checks, "participant_id", "events/followup")


def outcome_columns(
    joined: nw.LazyFrame, censor_date: dt.date | None, landmark_days: int | None
) -> nw.LazyFrame:
    """MI (competing death), all-cause and CV death outcomes; entry and per-outcome exit on the
    age and calendar scales (each exit at that outcome's own event or censoring).

    Competing-risks coding as Fine JP, Gray RJ, JASA 1999 (0 censored, 1 event, 2 competing).
    """
    base, end = nw.col("_baseline_day"), nw.col("_end_day")
    mi, death, cv = nw.col("_mi_day"), nw.col("_death_day"), nw.col("_death_cv")
    if censor_date is not None:
        admin = censor_date.toordinal()
        mi = nw.when(mi <= admin).then(mi)
        death = nw.when(death <= admin).then(death)
        end = nw.when(end > admin).then(admin).otherwise(end)
    out = joined.with_columns(
        mi_days=nw.coalesce(mi, death, end) - base,
        mi_status=nw.when(~mi.is_null()).then(1).when(~death.is_null()).then(2).otherwise(0),
        death_days=nw.coalesce(death, end) - base,
        death_status=nw.when(~death.is_null()).then(1).otherwise(0),
        cv_death_status=nw.when(death.is_null())
        .then(0)
        .when(cv == 1)
        .then(1)
        .when(cv == 0)
        .then(2),
    )
    integer = ("mi_days", "mi_status", "death_days", "death_status", "cv_death_status")
    out = out.with_columns(*[nw.col(c).cast(nw.Int64) for c in integer])
    entry_days = 0
    if landmark_days is not None:
        entry_days = int(landmark_days)
        out = out.filter(nw.col("mi_days") > entry_days).with_columns(
            nw.col("mi_days") - entry_days, nw.col("death_days") - entry_days
        )
    out = out.with_columns(
        mi_years=nw.col("mi_days") / DAYS_PER_YEAR,
        death_years=nw.col("death_days") / DAYS_PER_YEAR,
    )
    calendar = (
        nw.col("_baseline_day") + entry_days - CALENDAR_ORIGIN_DAY
    ) / DAYS_PER_YEAR + CALENDAR_ORIGIN_YEAR
    out = out.with_columns(calendar_entry=calendar.round(SCALE_DECIMALS))
    out = out.with_columns(
        **{
            f"{name}_calendar_exit": (nw.col("calendar_entry") + nw.col(years)).round(
                SCALE_DECIMALS
            )
            for name, years in OUTCOME_YEARS.items()
        }
    )
    if "age" in out.collect_schema().names():
        entry = nw.col("age") + entry_days / DAYS_PER_YEAR
        out = out.with_columns(age_entry=entry.round(SCALE_DECIMALS))
        out = out.with_columns(
            **{
                f"{name}_age_exit": (nw.col("age_entry") + nw.col(years)).round(SCALE_DECIMALS)
                for name, years in OUTCOME_YEARS.items()
            }
        )
    return out.drop(*TEMPORARY_COLUMNS)
