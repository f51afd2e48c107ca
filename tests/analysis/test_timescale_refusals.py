"""Set-ups that would be silently wrong are refused before fitting, naming the spec line and
the fix: age used as follow-up time, exit not after entry, another outcome's time column, a
covariate that is the time scale, a landmark longer than most follow-up, effect modifiers with
one level or continuous values."""

from __future__ import annotations

import re

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.checks import check_spec_against_frame
from cohortcalc.analysis.data import derive_frame, load_source
from cohortcalc.analysis.filters import apply_population
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import SpecError

HEAD = """\
name: t
title: Time scales
data:
  synthetic: {n: 1500, seed: 3}
population:
  - {column: age, op: ">=", value: 45}
exposures:
  - {column: cac_category, kind: categorical, reference: "0"}
"""
MODELS = """\
models:
  adjustment:
    - {name: Model 1, covariates: [age, sex]}
"""
OUTPUTS = """\
outputs:
  tables: [hazard_ratios]
  figures: []
"""


def _spec(outcomes: str, models: str = MODELS, extra: str = "") -> object:
    return spec_from_text(HEAD + outcomes + models + extra + OUTPUTS, source="t.yaml")


def _line(text: str, needle: str) -> int:
    lines = (HEAD + text).splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    spec = _spec("outcomes:\n  - {name: d, time: death_years, status: death_status}\n")
    derived = derive_frame(spec, load_source(spec, None).tables)  # type: ignore[arg-type]
    return apply_population(derived, spec)[0]  # type: ignore[arg-type]


def _refused(spec: object, frame: pl.DataFrame) -> str:
    with pytest.raises(SpecError) as caught:
        check_spec_against_frame(spec, frame)  # type: ignore[arg-type]
    return str(caught.value)


def test_age_as_follow_up_time_is_refused_with_the_fix(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - name: death\n    time: death_age_exit\n    status: death_status\n"
    message = _refused(_spec(outcomes), frame)
    assert f"t.yaml, line {_line(outcomes, 'time: death_age_exit')}" in message
    assert "starts at 4" in message and "far from 0" in message  # the smallest age, 45+
    assert "time_scale: age, entry: age_entry, time: death_age_exit" in message


def test_a_date_like_time_without_entry_is_refused(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - {name: death, time: death_calendar_exit, status: death_status}\n"
    message = _refused(_spec(outcomes), frame)
    assert re.search(r"starts at 2\d{3}\.\d years, far from 0", message)
    assert "time_scale: calendar, entry: calendar_entry" in message


def test_an_unnamed_column_far_from_zero_is_refused_by_its_values(frame: pl.DataFrame) -> None:
    renamed = frame.with_columns(exit_age=pl.col("death_age_exit"))
    outcomes = "outcomes:\n  - {name: death, time: exit_age, status: death_status}\n"
    message = _refused(_spec(outcomes), renamed)
    assert "line 10" in message and "far from 0" in message and "entry: age_entry" in message


def test_exit_not_after_entry_is_refused(frame: pl.DataFrame) -> None:
    broken = frame.with_columns(
        death_age_exit=pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.col("age_entry"))
        .otherwise(pl.col("death_age_exit"))
    )
    outcomes = (
        "outcomes:\n  - name: death\n    time_scale: age\n    entry: age_entry\n"
        "    time: death_age_exit\n    status: death_status\n"
    )
    models = "models:\n  adjustment:\n    - {name: Model 1, covariates: [sex]}\n"
    message = _refused(_spec(outcomes, models), broken)
    first = broken["participant_id"][0]
    assert f"line {_line(outcomes, 'entry: age_entry')}" in message
    assert "3 participant(s) whose exit 'death_age_exit' is not after entry" in message
    assert repr(first) in message


def test_another_outcomes_time_column_is_refused(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - {name: death, time: mi_years, status: death_status}\n"
    message = _refused(_spec(outcomes), frame)
    assert f"line {_line(outcomes, 'mi_years')}" in message
    assert "follow-up of another outcome (mi)" in message and "Use time: death_years" in message


def test_cv_death_may_use_deaths_follow_up(frame: pl.DataFrame) -> None:
    outcomes = (
        "outcomes:\n  - {name: cvd, time: death_years, status: cv_death_status, "
        "competing_code: 2}\n"
    )
    check_spec_against_frame(_spec(outcomes), frame)  # type: ignore[arg-type]


def test_exit_on_another_scale_than_declared_is_refused(frame: pl.DataFrame) -> None:
    outcomes = (
        "outcomes:\n  - {name: death, time_scale: age, entry: calendar_entry, "
        "time: death_age_exit, status: death_status}\n"
    )
    models = "models:\n  adjustment:\n    - {name: Model 1, covariates: [sex]}\n"
    message = _refused(_spec(outcomes, models), frame)
    assert "entry 'calendar_entry' of outcome 'death' is on the calendar time scale" in message


def test_age_as_covariate_on_the_age_scale_is_refused(frame: pl.DataFrame) -> None:
    outcomes = (
        "outcomes:\n  - {name: death, time_scale: age, entry: age_entry, "
        "time: death_age_exit, status: death_status}\n"
    )
    message = _refused(_spec(outcomes), frame)
    assert f"line {_line(outcomes + MODELS, 'covariates: [age, sex]')}" in message
    assert "covariate 'age' of 'Model 1' is the time scale of outcome 'death' (age)" in message
    assert "its own adjustment sets without 'age' (outcomes[0].adjustment" in message


def test_per_outcome_adjustment_without_age_is_accepted(frame: pl.DataFrame) -> None:
    outcomes = (
        "outcomes:\n  - {name: mi, time: mi_years, status: mi_status}\n"
        "  - name: death\n    time_scale: age\n    entry: age_entry\n"
        "    time: death_age_exit\n    status: death_status\n"
        "    adjustment:\n      - {name: Model 1, covariates: [sex]}\n"
    )
    spec = _spec(outcomes)
    check_spec_against_frame(spec, frame)  # type: ignore[arg-type]
    sets = {o.name: spec.models.covariate_sets(o) for o in spec.outcomes}  # type: ignore[attr-defined]
    assert sets == {"mi": {"Model 1": ["age", "sex"]}, "death": {"Model 1": ["sex"]}}


def test_per_outcome_adjustment_names_must_match(frame: pl.DataFrame) -> None:
    outcomes = (
        "outcomes:\n  - name: death\n    time: death_years\n    status: death_status\n"
        "    adjustment:\n      - {name: Crude, covariates: [sex]}\n"
    )
    with pytest.raises(SpecError, match=r"named \['Crude'\]; name them as models.adjustment"):
        _spec(outcomes)


def test_age_scale_needs_an_entry() -> None:
    outcomes = (
        "outcomes:\n  - {name: death, time_scale: age, time: death_age_exit, "
        "status: death_status}\n"
    )
    with pytest.raises(SpecError) as caught:
        _spec(outcomes)
    assert "t.yaml, line 10" in str(caught.value)
    assert "needs 'entry' (e.g. entry: age_entry and time: death_age_exit)" in str(caught.value)


def test_landmark_longer_than_most_follow_up_is_refused(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - {name: death, time: death_years, status: death_status}\n"
    sensitivity = "sensitivity:\n  - {name: late, exclude_first_years: 15}\n"
    message = _refused(_spec(outcomes, extra=sensitivity), frame)
    assert f"line {_line(outcomes + MODELS + sensitivity, 'exclude_first_years')}" in message
    assert "landmark of 15 years is longer than most follow-up of outcome 'death'" in message
    assert "Shorten it" in message


def test_modifier_left_with_one_level_names_the_filter(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - {name: death, time: death_years, status: death_status}\n"
    modifiers = "effect_modifiers:\n  - {column: ckd}\n"
    spec = spec_from_text(
        HEAD.replace('value: 45}', 'value: 45}\n  - {column: ckd, op: "==", value: true}')
        + outcomes + MODELS + modifiers + OUTPUTS, source="t.yaml",
    )  # fmt: skip
    only_ckd = frame.filter(pl.col("ckd"))
    message = _refused(spec, only_ckd)
    assert "effect modifier 'ckd' has fewer than two levels" in message
    assert "the population filter(s) t.yaml, line 7 (ckd == True) left only 'true'" in message


def test_continuous_modifier_asks_for_cut_points(frame: pl.DataFrame) -> None:
    outcomes = "outcomes:\n  - {name: death, time: death_years, status: death_status}\n"
    modifiers = "effect_modifiers:\n  - {column: egfr}\n"
    message = _refused(_spec(outcomes, extra=modifiers), frame)
    assert "effect modifier 'egfr' is continuous" in message and "give cut points" in message
    assert len(message) < 600  # not a list of every value


def test_run_refuses_the_issue_spec_before_fitting(tmp_path) -> None:
    """The issue's spec: all-cause mortality with time: age_exit-like and no entry."""
    text = (
        HEAD
        + "outcomes:\n  - {name: death, time: death_age_exit, status: death_status}\n"
        + MODELS
        + OUTPUTS
    )
    path = tmp_path / "age.yaml"
    path.write_text(text)
    steps: list[str] = []
    with pytest.raises(SpecError, match=r"age.yaml, line 10: .*far from 0"):
        cc.run(path, progress=lambda event: steps.append(event.step))
    assert "fit" not in steps
