"""CAC lesions and Agatston scores (cohortcalc/synth/calcium.py) against MESA targets.

Targets: about half with CAC 0 (Detrano et al., NEJM 2008: 51% CAC 0, 26% 1-100, 11% 101-300,
12% > 300), CAC > 0 more common with age, in men, white participants (Bild et al.,
Circulation 2005) and with CKD; the score is Σ area × density weight (Agatston 1990).
The share bands are the generator's calibration spec against those published targets (the
shares emerge from the lesion model and have no closed form), not sampling tolerances; the
sampling error at N = 20,000 (SE ≤ 0.0036) is a small part of each band.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cohortcalc.synth.calcium import agatston_from_arrays, cac_category, density_weight


def _independent_agatston(lesions: pl.DataFrame, ids: pl.Series) -> pl.Series:
    weight = (
        pl.when(pl.col("peak_hu") >= 400).then(4)
        .when(pl.col("peak_hu") >= 300).then(3)
        .when(pl.col("peak_hu") >= 200).then(2)
        .otherwise(1)
    )  # fmt: skip
    score = (
        lesions.filter(pl.col("area_mm2") >= 1.0)
        .group_by("participant_id")
        .agg((pl.col("area_mm2") * weight).sum().alias("score"))
    )
    joined = pl.DataFrame({"participant_id": ids}).join(score, on="participant_id", how="left")
    return joined["score"].fill_null(0.0)


def test_agatston_is_recomputable_from_the_lesion_rows(default_cohort, default_frame):
    lesions = default_cohort.tables["cac_lesions"]
    assert lesions["peak_hu"].min() >= 130
    assert (lesions["area_mm2"] < 1).sum() > 100  # specks exist and must be ignored
    expected = _independent_agatston(lesions, default_frame["participant_id"])
    np.testing.assert_allclose(
        default_frame["cac_agatston"].to_numpy(), expected.to_numpy(), atol=1e-6
    )
    specks_only = lesions.group_by("participant_id").agg((pl.col("area_mm2") < 1).all().alias("s"))
    ids = specks_only.filter("s")["participant_id"]
    assert ids.len() > 10
    assert (
        default_frame.filter(pl.col("participant_id").is_in(ids.implode()))["cac_agatston"] == 0
    ).all()


def test_lesion_ids_run_from_one_within_participant(default_cohort):
    lesions = default_cohort.tables["cac_lesions"]
    runs = lesions.group_by("participant_id").agg(
        ok=(pl.col("lesion_id") == pl.int_range(1, pl.len() + 1)).all()
    )
    assert runs["ok"].all()
    assert set(lesions["artery"].unique()) == {"LM", "LAD", "LCX", "RCA"}


def test_density_weights_and_category_boundaries():
    assert density_weight(np.array([129, 130, 199, 200, 299, 300, 399, 400, 900])).tolist() == [
        0, 1, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip
    scores = np.array([0.0, 0.1, 100.0, 100.1, 400.0, 400.1])
    assert cac_category(scores).tolist() == [0, 1, 1, 2, 2, 3]
    owner = np.array([0, 0, 0, 2])
    score = agatston_from_arrays(
        owner, np.array([2.5, 0.9, 1.0, 3.3]), np.array([450, 500, 130, 210]), 3
    )
    assert score.tolist() == [2.5 * 4 + 1.0 * 1, 0.0, 3.3 * 2]


def test_category_shares_near_mesa(default_frame):
    shares = dict(
        default_frame["cac_category"].cast(pl.String).value_counts(normalize=True).iter_rows()
    )
    assert shares["0"] == pytest.approx(0.50, abs=0.07)
    assert shares["1-100"] == pytest.approx(0.25, abs=0.05)
    assert shares["101-400"] == pytest.approx(0.14, abs=0.04)
    assert shares[">400"] == pytest.approx(0.11, abs=0.04)
    middle = default_frame.filter(pl.col("age").is_between(45, 64.9))
    assert 0.5 < (middle["cac_agatston"] == 0).mean() < 0.7
    log_cac = default_frame["log_cac"].to_numpy()
    np.testing.assert_allclose(log_cac, np.log1p(default_frame["cac_agatston"].to_numpy()))


def test_cac_prevalence_rises_with_age_male_sex_and_ckd(default_frame):
    positive = pl.col("cac_agatston") > 0
    bands = (
        default_frame.with_columns(band=(pl.col("age") // 10))
        .group_by("band", "sex")
        .agg(positive.mean().alias("p"))
        .sort("band")
    )
    for sex in ("female", "male"):
        p = bands.filter(pl.col("sex") == sex)["p"].to_numpy()
        assert np.all(np.diff(p) > 0.05), sex
    by_sex = bands.pivot("sex", index="band", values="p")
    assert (by_sex["male"] > by_sex["female"] + 0.1).all()
    ckd = dict(default_frame.group_by("ckd").agg(positive.mean()).iter_rows())
    assert ckd[True] > ckd[False] + 0.1
    race = dict(default_frame.group_by("race_ethnicity").agg(positive.mean()).iter_rows())
    assert race["white"] > max(race["black"], race["hispanic"], race["chinese"])
