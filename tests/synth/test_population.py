"""Demographics and risk factors (cohortcalc/synth/population.py) against MESA exam 1 targets.

Targets (Bild et al., Am J Epidemiol 2002;156:871): age 45-84, mean ~62; 47% men; 38% white,
28% black, 22% Hispanic, 12% Chinese; diabetes ~13%; current smoking ~13%; SBP ~126 mmHg;
BP treatment ~37%; statins ~15%. Bands are wide enough for sampling error at N = 20,000.
"""

from __future__ import annotations

import polars as pl
import pytest


def test_age_sex_and_race_mix(default_frame):
    age = default_frame["age"]
    assert age.min() >= 45 and age.max() <= 84
    assert 60.5 < age.mean() < 63.5
    assert 8.0 < age.std() < 11.0
    assert 0.44 < (default_frame["sex"] == "male").mean() < 0.50
    shares = dict(default_frame["race_ethnicity"].value_counts(normalize=True).iter_rows())
    for race, target in {"white": 0.38, "black": 0.28, "hispanic": 0.22, "chinese": 0.12}.items():
        assert shares[race] == pytest.approx(target, abs=0.035), race


def test_sites_recruit_their_own_minority_groups(default_frame):
    by_site = default_frame.group_by("site").agg(pl.col("race_ethnicity").unique())
    groups = {site: set(races) for site, races in by_site.iter_rows()}
    assert len(groups) == 6
    assert {s for s, r in groups.items() if "chinese" in r} == {"CHI", "LAX"}
    assert {s for s, r in groups.items() if "hispanic" in r} == {"LAX", "NYC", "STP"}
    assert all("white" in r for r in groups.values())


@pytest.mark.parametrize(
    ("column", "low", "high"),
    [
        ("diabetes", 0.10, 0.16),
        ("bp_treated", 0.32, 0.42),
        ("statin", 0.12, 0.20),
    ],
)
def test_risk_factor_prevalences(default_frame, column, low, high):
    assert low < default_frame[column].mean() < high


def test_smoking_and_continuous_risk_factors(default_frame):
    smoking = dict(default_frame["smoking"].value_counts(normalize=True).iter_rows())
    assert 0.10 < smoking["current"] < 0.17 and 0.30 < smoking["former"] < 0.42
    assert 122 < default_frame["sbp"].mean() < 132
    assert 185 < default_frame["total_cholesterol"].mean() < 200
    assert 47 < default_frame["hdl_cholesterol"].mean() < 55
    hdl = default_frame.group_by("sex").agg(pl.col("hdl_cholesterol").mean())
    hdl_by_sex = dict(hdl.iter_rows())
    assert hdl_by_sex["female"] - hdl_by_sex["male"] > 5  # women have higher HDL
    older = default_frame.filter(pl.col("age") >= 70)["sbp"].mean()
    assert older - default_frame.filter(pl.col("age") < 55)["sbp"].mean() > 8


def test_baseline_dates_span_the_exam_window(default_cohort):
    dates = default_cohort.tables["participants"]["baseline_date"]
    assert str(dates.min()) >= "2000-07-17" and str(dates.max()) <= "2002-07-31"
    assert (dates.max() - dates.min()).days > 700
