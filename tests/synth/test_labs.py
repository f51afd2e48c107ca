"""Kidney and mineral labs (cohortcalc/synth/labs.py): CKD-EPI 2021, CKD share, CKD-MBD pattern."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from cohortcalc.synth.labs import _creatinine_from_gfr, egfr_ckd_epi_2021


def test_ckd_epi_2021_hand_worked_values():
    # 142 · (1.0/0.7)^-1.200 · 0.9938^50 · 1.012 (female, Scr 1.0 mg/dL, 50 y; Inker 2021 Table 2)
    female = 142 * (1.0 / 0.7) ** -1.2 * 0.9938**50 * 1.012
    # 142 · (0.7/0.9)^-0.302 · 0.9938^60 (male, Scr 0.7 mg/dL below κ = 0.9, 60 y)
    male = 142 * (0.7 / 0.9) ** -0.302 * 0.9938**60
    got = egfr_ckd_epi_2021(np.array([1.0, 0.7]), np.array([50.0, 60.0]), np.array([False, True]))
    np.testing.assert_allclose(got, [female, male], rtol=1e-12)
    assert 68 < got[0] < 69.5  # the published calculator's 68-69 mL/min/1.73m²


@given(
    gfr=st.floats(5, 150),
    age=st.floats(45, 84),
    male=st.booleans(),
)
def test_creatinine_inversion_round_trips(gfr, age, male):
    creatinine = _creatinine_from_gfr(np.array([gfr]), np.array([age]), np.array([male]))
    back = egfr_ckd_epi_2021(creatinine, np.array([age]), np.array([male]))
    np.testing.assert_allclose(back, [gfr], rtol=1e-9)


def test_truth_egfr_and_ckd_follow_from_the_reported_labs(default_frame):
    f = default_frame
    recomputed = egfr_ckd_epi_2021(
        f["serum_creatinine"].to_numpy(), f["age"].to_numpy(), (f["sex"] == "male").to_numpy()
    )
    np.testing.assert_allclose(f["egfr"].to_numpy(), recomputed, rtol=1e-12)
    ckd = (f["egfr"] < 60) | (f["uacr"] >= 30)
    assert (f["ckd"] == ckd).all()


def test_ckd_in_about_a_quarter_with_both_criteria_contributing(default_frame):
    f = default_frame
    assert 0.20 < f["ckd"].mean() < 0.30
    assert 0.10 < (f["egfr"] < 60).mean() < 0.22
    assert 0.10 < (f["uacr"] >= 30).mean() < 0.25
    assert ((f["egfr"] < 60) & (f["uacr"] >= 30)).mean() > 0.03
    older = f.filter(pl.col("age") >= 70)["ckd"].mean()
    assert older > 1.5 * f.filter(pl.col("age") < 55)["ckd"].mean()


def test_ckd_mineral_bone_disorder_pattern(default_frame):
    by = default_frame.group_by(pl.col("egfr") < 45).agg(
        pl.col("serum_phosphate", "pth", "alkaline_phosphatase", "vitamin_d_25oh").mean()
    )
    low, normal = (by.filter(pl.col("egfr") == flag).row(0, named=True) for flag in (True, False))
    assert low["serum_phosphate"] > normal["serum_phosphate"] + 0.2
    assert low["pth"] > 1.3 * normal["pth"]
    assert low["vitamin_d_25oh"] < normal["vitamin_d_25oh"] - 2
    assert low["alkaline_phosphatase"] > normal["alkaline_phosphatase"]
    corr = default_frame.select(
        ca_alb=pl.corr("serum_calcium", "albumin"),
        cys_egfr=pl.corr("cystatin_c", "egfr", method="spearman"),
        d_pth=pl.corr("vitamin_d_25oh", "pth", method="spearman"),
    ).row(0, named=True)
    assert corr["ca_alb"] > 0.3 and corr["cys_egfr"] < -0.7 and corr["d_pth"] < -0.1


def test_lab_ranges_are_plausible(default_frame):
    f = default_frame
    assert f["serum_creatinine"].min() >= 0.3 and f["serum_creatinine"].median() < 1.1
    assert 8.9 < f["serum_calcium"].mean() < 9.9
    assert 3.3 < f["serum_phosphate"].mean() < 4.0
    assert 3.9 < f["albumin"].mean() < 4.4
    assert 20 < f["vitamin_d_25oh"].mean() < 30
    assert 35 < f["pth"].median() < 60
    assert f["cystatin_c"].min() >= 0.4 and 0.8 < f["cystatin_c"].median() < 1.05
