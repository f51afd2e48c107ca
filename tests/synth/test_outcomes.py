"""Outcomes (cohortcalc/synth/outcomes.py): realistic rates, consistent tables, and the true
cause-specific hazard ratios recovered by an independent estimator (statsmodels PHReg, Efron).

Tolerance: |estimate - truth| < 3 SE per term. With ~8-10 terms per model, 3 SE keeps the
family-wise chance of a false alarm near 2% (Bonferroni), while a real error in the generator
of the size of the smallest effect (log 1.3) would move the estimate by > 4 SE at this N.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from statsmodels.duration.hazard_regression import PHReg

from cohortcalc.synth import SynthParams, generating_terms, simulate_cohort

Z_TOLERANCE = 3.0


@pytest.fixture(scope="module")
def large_cause_specific():
    return simulate_cohort(n=40_000, seed=77, params=SynthParams(outcome_model="cause_specific"))


def _phreg(frame: pl.DataFrame, terms: list[str], status: pl.Expr) -> tuple[np.ndarray, np.ndarray]:
    """(log-HR estimates, SEs) of a Cox fit by statsmodels PHReg (Efron ties)."""
    fit = PHReg(
        frame["mi_years"].to_numpy(),
        generating_terms(frame).select(terms).to_numpy(),
        status=frame.select(status.cast(pl.Float64)).to_series().to_numpy(),
        ties="efron",
    ).fit()
    return fit.params, fit.bse


def _z(fit: tuple[np.ndarray, np.ndarray], hazard_ratios: dict[str, float]) -> dict[str, float]:
    estimate, se = fit
    truth = np.log(np.array(list(hazard_ratios.values())))
    return dict(zip(hazard_ratios, (estimate - truth) / se, strict=True))


@pytest.fixture(scope="module")
def mi_fit(large_cause_specific) -> tuple[np.ndarray, np.ndarray]:
    terms = list(large_cause_specific.params.mi.hazard_ratios)
    return _phreg(large_cause_specific.analysis_frame(), terms, pl.col("mi_status") == 1)


def test_mi_cause_specific_hazard_ratios_recovered(large_cause_specific, mi_fit):
    z = _z(mi_fit, large_cause_specific.params.mi.hazard_ratios)
    assert set(z) >= {"cac_1_100", "cac_101_400", "cac_gt_400", "ckd", "cac_pos_x_ckd"}
    assert all(abs(v) < Z_TOLERANCE for v in z.values()), z


def test_a_wrong_truth_is_detected(large_cause_specific, mi_fit):
    """The check has power: a CAC > 400 ratio of 4.5 instead of 5.9 is rejected."""
    wrong = dict(large_cause_specific.params.mi.hazard_ratios) | {"cac_gt_400": 4.5}
    assert _z(mi_fit, wrong)["cac_gt_400"] > Z_TOLERANCE


def test_competing_cv_death_cause_specific_hazard_ratios_recovered(large_cause_specific):
    ratios = large_cause_specific.params.cv_death.hazard_ratios
    cv_first = (pl.col("mi_status") == 2) & (pl.col("cv_death_status") == 1)
    fit = _phreg(large_cause_specific.analysis_frame(), list(ratios), cv_first)
    z = _z(fit, ratios)
    assert all(abs(v) < Z_TOLERANCE for v in z.values()), z


def test_rates_and_follow_up_are_realistic(default_cohort, default_frame):
    realised = default_cohort.truth["realised"]
    assert 2.0 < realised["mi_rate_per_1000_person_years"] < 6.0
    assert 14.0 < realised["median_follow_up_years"] < 16.5
    rates = default_frame.group_by("cac_category").agg(
        ((pl.col("mi_status") == 1).sum() / pl.col("mi_years").sum()).alias("rate")
    )
    ordered = rates.sort("cac_category")["rate"].to_numpy()
    assert np.all(np.diff(ordered) > 0)
    reasons = dict(
        default_cohort.tables["followup"]["end_reason"].value_counts(normalize=True).iter_rows()
    )
    assert 0.12 < reasons["death"] < 0.30 and 0.05 < reasons["lost_to_follow_up"] < 0.20


def test_statuses_agree_with_events_and_followup_tables(default_cohort, default_frame):
    events = default_cohort.tables["events"]
    followup = default_cohort.tables["followup"]
    f = default_frame.join(followup, on="participant_id")
    mi = events.filter(pl.col("event") == "mi")
    death = events.filter(pl.col("event") == "death")
    assert mi["participant_id"].is_unique().all() and death["participant_id"].is_unique().all()
    assert set(mi["participant_id"]) == set(f.filter(pl.col("mi_status") == 1)["participant_id"])
    assert set(death["participant_id"]) == set(
        f.filter(pl.col("death_status") == 1)["participant_id"]
    )
    end = f.select(pl.col("baseline_date") + pl.duration(days="death_days")).to_series()
    assert (end == f["end_date"]).all()
    died_first = f.filter(pl.col("mi_status") == 2)
    assert (died_first["death_status"] == 1).all() and (
        died_first["mi_days"] == died_first["death_days"]
    ).all()
    dated = events.join(
        f.select("participant_id", "baseline_date", "end_date"), on="participant_id"
    )
    assert (dated["event_date"] > dated["baseline_date"]).all()
    assert (dated["event_date"] <= dated["end_date"]).all()
    cv = death.join(f.select("participant_id", "cv_death_status"), on="participant_id")
    assert ((cv["death_cause"] == "cardiovascular") == (cv["cv_death_status"] == 1)).all()
    assert (f["mi_days"] <= f["death_days"]).all() and (f["age_exit"] > f["age_entry"]).all()
    admin = f.filter(pl.col("end_reason") == "administrative_end")
    assert (admin["end_date"].cast(pl.String) == "2016-12-31").all()
