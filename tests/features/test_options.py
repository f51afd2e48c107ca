"""derive() options (issue 16, items 4 and 12): a wrong type or an impossible value is a clean
``DeriveOptionError`` naming the option, and in a spec a ``SpecError`` naming its line."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.analysis.spec import spec_from_text
from cohortcalc.errors import DeriveOptionError, SpecError


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return cc.simulate(300, seed=1).tables


def _derive(tables, **options):
    return cc.derive(
        tables["participants"],
        lesions=tables["cac_lesions"],
        events=tables["events"],
        followup=tables["followup"],
        **options,
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("cac_categories", True, "give 'standard', 'mesa' or a list"),
        ("cac_categories", [100, "x"], "give 'standard', 'mesa' or a list"),
        ("cac_categories", [400, 100], "increasing"),
        ("cac_categories", "tertiles", "unknown cac_categories"),
        ("landmark_days", "x", "whole number of days"),
        ("landmark_days", 1.5, "whole number of days"),
        ("landmark_days", -1, "whole number of days"),
        ("landmark_days", True, "whole number of days"),
        ("landmark_days", float("nan"), "whole number of days"),
        ("censor_date", 5, "YYYY-MM-DD"),
        ("censor_date", "2020-13-01", "YYYY-MM-DD"),
        ("censor_date", dt.datetime(2010, 1, 1), "YYYY-MM-DD"),
        ("slice_thickness_mm", "3", "slice thickness"),
        ("slice_thickness_mm", -3, "slice thickness"),
        ("slice_thickness_mm", 0, "slice thickness"),
        ("slice_thickness_mm", 30, "slice thickness"),
        ("slice_thickness_mm", float("inf"), "slice thickness"),
        ("hyperphosphatemia_above", "5.5", "phosphate level"),
        ("hyperphosphatemia_above", -1.0, "phosphate level"),
        ("ckd_definition", ["egfr"], "use one of"),
        ("require", "egfr", "list of column names"),
    ],
)
def test_a_bad_option_is_refused_by_name(tables, option, value, message):
    with pytest.raises(DeriveOptionError, match=rf"derive option {option}: .*{message}") as info:
        _derive(tables, **{option: value})
    assert info.value.option == option


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("landmark_days", 30.0),
        ("censor_date", "2010-06-30"),
        ("censor_date", dt.date(2010, 6, 30)),
        ("slice_thickness_mm", 2.5),
        ("cac_categories", (100, 300)),
    ],
)
def test_good_options_of_every_accepted_type_pass(tables, option, value):
    frame = _derive(tables, **{option: value})
    assert frame.height > 0 and (frame["mi_days"] >= 0).all()


def test_censor_date_before_baselines_is_refused_naming_the_participants(tables):
    """Item 12: it gave negative follow-up for 1,155 of 2,000 participants silently."""
    censor = dt.date(2001, 6, 1)
    participants = tables["participants"]
    late = participants.filter(pl.col("baseline_date") > censor).sort("participant_id")
    assert 0 < late.height < participants.height
    first = ", ".join(late["participant_id"].head(5).to_list())
    with pytest.raises(
        DeriveOptionError,
        match=rf"censor_date: 2001-06-01 is before the baseline_date of {late.height} "
        rf"participant\(s\) \(participant_id {first}, \.\.\.\)",
    ):
        _derive(tables, censor_date=censor)


def test_censor_date_on_the_last_baseline_gives_no_negative_follow_up(tables):
    last = tables["participants"]["baseline_date"].max()
    frame = _derive(tables, censor_date=last)
    assert frame["mi_days"].min() == 0 and frame["death_days"].min() == 0


def test_negative_slice_thickness_no_longer_gives_negative_volumes(tables):
    with pytest.raises(DeriveOptionError, match="slice_thickness_mm"):
        _derive(tables, slice_thickness_mm=-3)
    volumes = _derive(tables, slice_thickness_mm=3)["cac_volume"]
    assert volumes.drop_nulls().min() >= 0


SPEC = """\
name: options
title: Derive options
data: {synthetic: {n: 300, seed: 1}}
derive:
  ckd_definition: egfr_or_uacr
  OPTION
exposures: [{column: log_cac, kind: continuous}]
outcomes: [{name: mi, time: mi_years, status: mi_status, methods: [cox]}]
models: {adjustment: [{name: M1, covariates: [age]}]}
"""


@pytest.mark.parametrize(
    "option",
    [
        "cac_categories: true",
        'landmark_days: "x"',
        "censor_date: 5",
        'slice_thickness_mm: "3"',
        "slice_thickness_mm: -3",
        "censor_date: 2001-06-01",
    ],
)
def test_in_a_spec_a_bad_option_names_its_line(option):
    """Item 4: these gave raw tracebacks from `cohortcalc run`."""
    spec = spec_from_text(SPEC.replace("OPTION", option), source="options.yaml")
    name = option.split(":")[0]
    with pytest.raises(SpecError, match=rf"options\.yaml, line 6: derive option {name}:"):
        cc.run(spec)
