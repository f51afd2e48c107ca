"""The spec is checked against the analysis frame before any model is fitted."""

from __future__ import annotations

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.checks import check_spec_against_frame
from cohortcalc.analysis.spec import spec_from_dict, spec_from_text
from cohortcalc.errors import SpecError


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return cc.simulate(1500, seed=3).analysis_frame()


def test_the_small_spec_matches_the_synthetic_frame(small_spec, frame):
    check_spec_against_frame(spec_from_dict(small_spec()), frame)


def test_missing_covariate_names_line_and_suggests(frame):
    text = (
        "name: t\ntitle: t\ndata: {synthetic: {n: 500}}\n"
        "exposures: [{column: cac_category, kind: categorical, reference: '0'}]\n"
        "outcomes: [{name: mi, time: mi_years, status: mi_status}]\n"
        "models:\n  adjustment:\n    - name: M1\n      covariates: [age, sexx]\n"
    )
    spec = spec_from_text(text, source="t.yaml")
    with pytest.raises(SpecError) as info:
        check_spec_against_frame(spec, frame)
    message = str(info.value)
    assert "t.yaml, line 9: covariate of 'M1' 'sexx' is not a column" in message
    assert "Did you mean ['sex']" in message


def test_every_problem_is_reported_at_once(small_spec, frame):
    spec = small_spec()
    spec["outcomes"][0]["time"] = "mi_yrs"
    spec["effect_modifiers"] = [{"column": "ckd_status"}]
    with pytest.raises(SpecError) as info:
        check_spec_against_frame(spec_from_dict(spec), frame)
    assert "'mi_yrs' is not a column" in str(info.value)
    assert "'ckd_status' is not a column" in str(info.value)


def test_outcome_without_events(small_spec, frame):
    no_events = frame.with_columns(pl.lit(0).alias("mi_status"))
    with pytest.raises(SpecError, match="outcome 'mi' has no events"):
        check_spec_against_frame(spec_from_dict(small_spec()), no_events)


def test_exposure_level_without_events(small_spec, frame):
    emptied = frame.with_columns(
        pl.when(pl.col("cac_category") == ">400")
        .then(0)
        .otherwise(pl.col("mi_status"))
        .alias("mi_status")
    )
    with pytest.raises(SpecError, match="no events where cac_category is '>400';"):
        check_spec_against_frame(spec_from_dict(small_spec()), emptied)


def test_exposure_level_without_events_within_a_modifier_level(small_spec, frame):
    emptied = frame.with_columns(
        pl.when((pl.col("cac_category") == "1-100") & pl.col("ckd"))
        .then(0)
        .otherwise(pl.col("mi_status"))
        .alias("mi_status")
    )
    with pytest.raises(SpecError, match="where ckd is 'true' and cac_category is '1-100'"):
        check_spec_against_frame(spec_from_dict(small_spec()), emptied)


def test_unknown_reference_level(small_spec, frame):
    spec = small_spec()
    spec["exposures"][0]["reference"] = "none"
    with pytest.raises(SpecError, match="reference level 'none' of 'cac_category' is not in"):
        check_spec_against_frame(spec_from_dict(spec), frame)


def test_single_level_modifier(small_spec, frame):
    one_level = frame.with_columns(pl.lit(False).alias("ckd"))
    with pytest.raises(SpecError, match="fewer than two levels"):
        check_spec_against_frame(spec_from_dict(small_spec()), one_level)


def test_table_one_needs_a_categorical_grouping(small_spec, frame):
    spec = small_spec(effect_modifiers=[])
    spec["exposures"] = [spec["exposures"][1]]
    with pytest.raises(SpecError, match="Table 1 needs a grouping"):
        check_spec_against_frame(spec_from_dict(spec), frame)
    spec["outputs"]["table_one_by"] = "age"
    with pytest.raises(SpecError, match=r"'age' has .* distinct values"):
        check_spec_against_frame(spec_from_dict(spec), frame)
    spec["outputs"]["table_one_by"] = "sex"
    check_spec_against_frame(spec_from_dict(spec), frame)


def test_exposure_used_as_covariate(small_spec, frame):
    models = {"adjustment": [{"name": "M1", "covariates": ["age", "log_cac"]}]}
    with pytest.raises(SpecError, match="'log_cac' is an exposure"):
        check_spec_against_frame(spec_from_dict(small_spec(models=models)), frame)
