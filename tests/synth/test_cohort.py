"""Schema and determinism of the clean in-memory cohort (cohortcalc/synth/cohort.py)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import cohortcalc as cc
from cohortcalc.errors import SpecError
from cohortcalc.synth import SynthParams, simulate_cohort
from cohortcalc.synth.export import write_study_export

CANONICAL_COLUMNS = {
    "participants": [
        "participant_id", "site", "baseline_date", "age", "sex", "race_ethnicity", "diabetes",
        "smoking", "sbp", "total_cholesterol", "hdl_cholesterol", "bp_treated", "statin",
        "serum_creatinine", "cystatin_c", "uacr", "serum_calcium", "serum_phosphate", "albumin",
        "pth", "vitamin_d_25oh", "alkaline_phosphatase",
    ],
    "cac_lesions": ["participant_id", "artery", "lesion_id", "area_mm2", "peak_hu"],
    "events": ["participant_id", "event", "event_date", "death_cause"],
    "followup": ["participant_id", "end_date", "end_reason"],
}  # fmt: skip


@pytest.fixture(scope="module")
def cohort() -> cc.synth.SyntheticCohort:
    return simulate_cohort(n=3_000, seed=11)


def test_tables_have_exactly_the_canonical_columns(cohort):
    assert {k: v.columns for k, v in cohort.tables.items()} == CANONICAL_COLUMNS


def test_same_seed_gives_identical_frames_and_other_seed_differs(cohort):
    again = simulate_cohort(n=3_000, seed=11)
    for name, frame in cohort.tables.items():
        assert_frame_equal(frame, again.tables[name])
    assert_frame_equal(cohort.analysis_frame(), again.analysis_frame())
    other = simulate_cohort(n=3_000, seed=12)
    assert not other.tables["participants"].equals(cohort.tables["participants"])


def test_outcome_parameters_leave_baseline_data_unchanged(cohort):
    sub = simulate_cohort(n=3_000, seed=11, params=SynthParams(outcome_model="subdistribution"))
    assert_frame_equal(sub.tables["participants"], cohort.tables["participants"])
    assert_frame_equal(sub.tables["cac_lesions"], cohort.tables["cac_lesions"])
    assert not sub.tables["events"].equals(cohort.tables["events"])


def test_reexport_and_analysis_frame_one_row_per_participant(cohort):
    frame = cc.simulate(n=500, seed=3).analysis_frame()
    assert frame.height == 500
    assert frame["participant_id"].is_unique().all()
    assert cohort.analysis_frame()["cac_category"].dtype == pl.Enum(
        ["0", "1-100", "101-400", ">400"]
    )


def test_bad_parameters_raise_spec_errors():
    with pytest.raises(SpecError, match="unknown hazard-ratio term"):
        cc.synth.HazardModel(rate=0.001, shape=1.0, hazard_ratios={"cac_huge": 2.0})
    with pytest.raises(SpecError, match="outcome_model"):
        SynthParams(outcome_model="fine_gray")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="at least one"):
        simulate_cohort(n=0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    model=st.sampled_from(["cause_specific", "subdistribution"]),
)
def test_outcome_invariants_hold_for_any_size_seed_and_model(n, seed, model):
    cohort = simulate_cohort(n=n, seed=seed, params=SynthParams(outcome_model=model))
    f = cohort.analysis_frame()
    assert f.height == n == cohort.truth["row_counts"]["participants"]
    assert (f["mi_days"] >= 1).all() and (f["mi_days"] <= f["death_days"]).all()
    assert f["mi_status"].is_in([0, 1, 2]).all() and f["cv_death_status"].is_in([0, 1, 2]).all()
    assert ((f["mi_status"] == 2) <= (f["death_status"] == 1)).all()
    assert ((f["cv_death_status"] > 0) == (f["death_status"] == 1)).all()
    no_mi = f.filter(pl.col("mi_status") != 1)
    assert (no_mi["mi_days"] == no_mi["death_days"]).all()  # censored or dead: same exit day
    assert ((f["cac_agatston"] > 0) == (f["cac_category"] != "0")).all()
    assert cohort.tables["events"].height == int(
        (f["mi_status"] == 1).sum() + f["death_status"].sum()
    )


@pytest.mark.parametrize("n", [1, 10, 37])
def test_tiny_cohorts_export_and_reconcile(n, tmp_path):
    cohort = simulate_cohort(n=n, seed=n)
    truth = json.loads((write_study_export(cohort, tmp_path) / "truth.json").read_text())
    k = truth["export"]["defects_per_kind"]
    assert k == min(max(2, n // 5000), n // 10)
    for name, info in truth["export"]["files"].items():
        assert info["clean_rows"] == cohort.tables[info["table"]].height, name
