"""Time scales of a spec's outcomes, and the refusals of set-ups that would be silently wrong.

Checked against the analysis frame before any fit, each problem naming the spec line and the
fix: a time column far from 0 without an entry (age or a date used as follow-up time), an
exit not after the entry, a time or entry column that belongs to another outcome or another
scale, an adjustment covariate that is the time scale itself, a landmark longer than most
follow-up. ``frame`` is a Polars DataFrame or a ``SparkFrame``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.analysis.spec import Outcome, Spec

#: Smallest value (in years) of a follow-up time column that means its origin is not baseline.
FAR_FROM_ZERO_YEARS = 5.0
#: A landmark must leave more than this share of the participants in follow-up.
LANDMARK_MIN_SHARE = 0.5

#: Derived outcome columns: (outcome stem, time scale) of each time and status column name.
_DERIVED = re.compile(
    r"^(?P<stem>mi|death|cv_death)_(?P<kind>days|years|age_exit|calendar_exit|status)$"
)
_SCALE_OF_KIND = {"days": "follow_up", "years": "follow_up", "age_exit": "age",
                  "calendar_exit": "calendar"}  # fmt: skip
_ENTRY_SCALE = {"age_entry": "age", "calendar_entry": "calendar"}
#: Columns that are the time scale itself, per scale (besides the outcome's entry and time).
TIME_SCALE_COVARIATES = {"age": ("age", "age_entry"), "calendar": ("calendar_entry",)}
_SCALE_WORDS = {"follow_up": "follow-up time", "age": "age", "calendar": "calendar time"}


@dataclass(frozen=True)
class TimeSummary:
    """What the checks need of an outcome's times: rows with both times, the smallest exit,
    rows whose exit is not after entry (and the first one's id), and follow-up lengths."""

    n: int
    min_time: float
    n_not_after: int
    first_not_after: Any
    followup_years: pl.Series | None


def axis_label(outcome: Outcome) -> str:
    """The x-axis label of the outcome's curves: "Age, years", "Calendar year", or follow-up."""
    if outcome.time_scale == "age":
        return "Age, years"
    if outcome.time_scale == "calendar":
        return "Calendar year"
    return f"Time since baseline, {outcome.time_unit}"


def curve_axis(frame: pl.DataFrame, outcome: Outcome) -> dict[str, Any]:
    """The curve figure's x axis: its label and where it starts (the first entry, when the
    outcome has one; risk sets before it are empty)."""
    if outcome.entry is None:
        return {"xlabel": axis_label(outcome)}
    first = float(frame.get_column(outcome.entry).min())  # type: ignore[arg-type]
    last = float(frame.get_column(outcome.time).max())  # type: ignore[arg-type]
    step = next(s for s in (1.0, 2.0, 5.0, 10.0, 20.0) if (last - first) / s <= 7)
    ticks = np.arange(np.ceil(first / step) * step, last + 1e-9, step)
    return {"xlabel": axis_label(outcome), "start": first, "at_risk_times": ticks.tolist()}


def person_time(frame: pl.DataFrame, outcome: Outcome) -> tuple[pl.DataFrame, str]:
    """``frame`` and the column of each participant's time at risk for ``outcome`` (exit −
    entry on the age or calendar scale, else the follow-up time), in the outcome's unit, for
    person-years and rates."""
    if outcome.entry is None:
        return frame, outcome.time
    name = f"_{outcome.name}_time_at_risk"
    return frame.with_columns((pl.col(outcome.time) - pl.col(outcome.entry)).alias(name)), name


def years_per_unit(outcome: Outcome) -> float:
    """Years in one unit of the outcome's time (Julian year of 365.25 days)."""
    return 1.0 if outcome.time_unit == "years" else 1 / 365.25


def time_scale_problems(spec: Spec, frame: Any) -> list[str]:
    """Every time-scale refusal of ``spec`` on ``frame`` (columns are known to be present)."""
    problems: list[str] = []
    for i, outcome in enumerate(spec.outcomes):
        problems += _naming_problems(spec, i, outcome)
        problems += _covariate_problems(spec, i, outcome)
        summary = time_summary(frame, outcome)
        problems += _value_problems(spec, i, outcome, summary)
        problems += _landmark_problems(spec, outcome, summary)
    return problems


def _naming_problems(spec: Spec, i: int, outcome: Outcome) -> list[str]:
    problems = []
    time, status = _DERIVED.match(outcome.time), _DERIVED.match(outcome.status)
    if time and status and _stem(time["stem"]) != _stem(status["stem"]):
        right = f"{_stem(status['stem'])}_{time['kind']}"
        problems.append(
            f"{spec.where('outcomes', i, 'time')}: time {outcome.time!r} of outcome "
            f"{outcome.name!r} is the follow-up of another outcome ({time['stem']}), not of "
            f"its status {outcome.status!r}: participants would leave at the other outcome's "
            f"event. Use time: {right}."
        )
    if time and time["kind"] != "status" and _SCALE_OF_KIND[time["kind"]] != outcome.time_scale:
        scale = _SCALE_OF_KIND[time["kind"]]
        problems.append(
            f"{spec.where('outcomes', i, 'time')}: time {outcome.time!r} of outcome "
            f"{outcome.name!r} is on the {_SCALE_WORDS[scale]} scale but the outcome's "
            f"time_scale is {outcome.time_scale!r}. " + _scale_fix(outcome, scale)
        )
    scale = _ENTRY_SCALE.get(outcome.entry or "")
    if scale is not None and scale != outcome.time_scale:
        problems.append(
            f"{spec.where('outcomes', i, 'entry')}: entry {outcome.entry!r} of outcome "
            f"{outcome.name!r} is on the {_SCALE_WORDS[scale]} scale but the outcome's "
            f"time_scale is {outcome.time_scale!r}. " + _scale_fix(outcome, scale)
        )
    return problems


def _stem(stem: str) -> str:
    return "death" if stem == "cv_death" else stem  # CV death is followed as all-cause death


def _scale_fix(outcome: Outcome, scale: str) -> str:
    stem = _stem(m["stem"]) if (m := _DERIVED.match(outcome.status)) else outcome.name
    if scale == "age":
        return f"Set time_scale: age, entry: age_entry, time: {stem}_age_exit."
    if scale == "calendar":
        return f"Set time_scale: calendar, entry: calendar_entry, time: {stem}_calendar_exit."
    return f"Use time: {stem}_years (follow-up) or set time and entry on one scale."


def _covariate_problems(spec: Spec, i: int, outcome: Outcome) -> list[str]:
    itself = {c for c in (outcome.entry, outcome.time) if c is not None}
    itself |= set(TIME_SCALE_COVARIATES.get(outcome.time_scale, ()))
    own = outcome.adjustment is not None
    adjustment = outcome.adjustment if own else spec.models.adjustment
    problems = []
    for j, step in enumerate(adjustment or []):
        key = "covariates" if step.covariates is not None else "add"
        for k, column in enumerate(step.covariates or step.add or []):
            if column not in itself:
                continue
            loc = ("outcomes", i, "adjustment", j, key, k) if own else (
                "models", "adjustment", j, key, k)  # fmt: skip
            fix = (
                f"remove {column!r} from outcome {outcome.name!r}'s adjustment sets"
                if own
                else f"give outcome {outcome.name!r} its own adjustment sets without "
                f"{column!r} (outcomes[{i}].adjustment, same model names)"
            )
            problems.append(
                f"{spec.where(*loc)}: covariate {column!r} of {step.name!r} is the time scale "
                f"of outcome {outcome.name!r} ({_SCALE_WORDS[outcome.time_scale]}); the risk "
                f"sets already compare people at the same {_SCALE_WORDS[outcome.time_scale]}. "
                f"{fix[0].upper()}{fix[1:]}."
            )
    return problems


def _value_problems(spec: Spec, i: int, outcome: Outcome, summary: TimeSummary) -> list[str]:
    problems = []
    if outcome.entry is None and summary.n:
        smallest = summary.min_time * years_per_unit(outcome)
        if smallest > FAR_FROM_ZERO_YEARS:
            problems.append(
                f"{spec.where('outcomes', i, 'time')}: time {outcome.time!r} of outcome "
                f"{outcome.name!r} starts at {smallest:.1f} years, far from 0, and the outcome "
                "has no entry: it would be read as follow-up since 0 (everyone at risk from "
                "birth or year 0, person-years counted from 0). If it is an age or a date, set "
                "time_scale: age (or calendar) and entry: age_entry (or calendar_entry); if "
                "everyone was selected for surviving that long, give that time as entry (or "
                "use a landmark sensitivity analysis); otherwise give the follow-up time since "
                "baseline."
            )
    if summary.n_not_after:
        problems.append(
            f"{spec.where('outcomes', i, 'entry')}: outcome {outcome.name!r} has "
            f"{summary.n_not_after} participant(s) whose exit {outcome.time!r} is not after "
            f"entry {outcome.entry!r} (first: {summary.first_not_after}); each must be at risk "
            "for a positive time. Check that entry and exit are on the same scale and belong "
            "to this outcome, or exclude those rows with a population filter."
        )
    return problems


def _landmark_problems(spec: Spec, outcome: Outcome, summary: TimeSummary) -> list[str]:
    problems = []
    years = summary.followup_years
    if years is None or years.len() == 0:
        return problems
    for index, sensitivity in enumerate(spec.sensitivity):
        landmark = sensitivity.exclude_first_years
        if landmark is None:
            continue
        longer = int((years > landmark).sum())
        if longer <= LANDMARK_MIN_SHARE * years.len():
            median = float(years.median())  # type: ignore[arg-type]
            problems.append(
                f"{spec.where('sensitivity', index, 'exclude_first_years')}: the landmark of "
                f"{landmark:g} years is longer than most follow-up of outcome "
                f"{outcome.name!r}: only {longer} of {years.len()} participants are followed "
                f"past it (median follow-up {median:.1f} years). Shorten it."
            )
    return problems


def time_summary(frame: Any, outcome: Outcome) -> TimeSummary:
    """The ``TimeSummary`` of ``outcome`` on the rows with its time (and entry) present."""
    if not isinstance(frame, pl.DataFrame):
        return frame.time_summary(outcome.entry, outcome.time, years_per_unit(outcome))
    columns = [c for c in (outcome.entry, outcome.time) if c is not None]
    rows = frame.drop_nulls(columns)
    floats = [c for c in columns if rows.schema[c].is_float()]
    if floats:
        rows = rows.filter(pl.all_horizontal([pl.col(c).is_not_nan() for c in floats]))
    if rows.height == 0:
        return TimeSummary(0, float("nan"), 0, None, None)
    time = rows.get_column(outcome.time).cast(pl.Float64)
    entry = rows.get_column(outcome.entry).cast(pl.Float64) if outcome.entry is not None else None
    length = time - entry if entry is not None else time
    bad = length <= 0 if entry is not None else pl.Series([False] * rows.height)
    first = None
    if bool(bad.any()):
        ids = rows.get_column("participant_id") if "participant_id" in rows.columns else None
        position = int(bad.arg_true()[0])
        first = f"participant_id {ids[position]!r}" if ids is not None else f"row {position}"
    return TimeSummary(
        n=rows.height,
        min_time=float(time.min()),  # type: ignore[arg-type]
        n_not_after=int(bad.sum()),
        first_not_after=first,
        followup_years=length * years_per_unit(outcome),
    )
