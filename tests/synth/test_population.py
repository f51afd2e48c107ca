"""Demographics and risk factors (cohortcalc/synth/population.py) against MESA exam 1 targets.

Targets (Bild et al., Am J Epidemiol 2002;156:871): age 45-84, mean ~62; 47% men; 38% white,
28% black, 22% Hispanic, 12% Chinese; diabetes ~13%; current smoking ~13%; SBP ~126 mmHg;
BP treatment ~37%; statins ~15%.

Where the generator draws a quantity directly (age, sex, race via the site mixes) the test
compares with the generating distribution's exact expectation within Z_TOLERANCE standard
errors (several comparisons per test; see test_outcomes.py). Shares that emerge from the
risk-factor models (diabetes, smoking, lipids) have no closed form: those bands are the
calibration spec against the MESA targets above, wide enough for sampling error at N = 20,000.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import truncnorm

from cohortcalc.synth.population import (
    AGE_MAX,
    AGE_MEAN,
    AGE_MIN,
    AGE_SD,
    MALE_SHARE,
    RACES,
    SITE_RACE_MIX,
)

Z_TOLERANCE = 3.0
MESA_RACE_MIX = {"white": 0.38, "black": 0.28, "hispanic": 0.22, "chinese": 0.12}


def _within(observed: float, expected: float, se: float) -> bool:
    return abs(observed - expected) < Z_TOLERANCE * se


def test_age_sex_and_race_mix_match_the_generating_distributions(default_frame):
    n = default_frame.height
    age = default_frame["age"]
    assert age.min() >= AGE_MIN and age.max() <= AGE_MAX
    a, b = (AGE_MIN - AGE_MEAN) / AGE_SD, (AGE_MAX - AGE_MEAN) / AGE_SD
    mean, var = truncnorm.stats(a, b, loc=AGE_MEAN, scale=AGE_SD, moments="mv")
    assert _within(age.mean(), float(mean), float(np.sqrt(var / n)))
    male = (default_frame["sex"] == "male").mean()
    assert _within(male, MALE_SHARE, np.sqrt(MALE_SHARE * (1 - MALE_SHARE) / n))
    # Sites are drawn uniformly, so each race's share is the mean of its site mixes.
    expected = np.array(list(SITE_RACE_MIX.values())).mean(axis=0)
    shares = dict(default_frame["race_ethnicity"].value_counts(normalize=True).iter_rows())
    for race, p in zip(RACES, expected, strict=True):
        assert _within(shares[race], p, np.sqrt(p * (1 - p) / n)), race
        # Calibration (not sampling): the design mix stays near MESA's (Bild 2002).
        assert abs(p - MESA_RACE_MIX[race]) < 0.03, race


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
