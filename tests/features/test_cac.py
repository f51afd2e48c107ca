"""Agatston, density and volume scores, CAC categories (hand-worked examples)."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortcalc import FeatureError
from cohortcalc.features import derive
from cohortcalc.synth import simulate_cohort


def _frame(ids: list[str], **extra: list) -> pl.DataFrame:
    return pl.DataFrame({"participant_id": ids, **extra})


def _lesions(rows: list[tuple[str, str, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema=["participant_id", "artery", "area_mm2", "peak_hu"], orient="row"
    )


def test_density_weight_boundaries_of_agatston_1990() -> None:
    hu = [129.0, 130.0, 199.0, 200.0, 299.0, 300.0, 399.0, 400.0, 900.0]
    lesions = _lesions([(f"P{i}", "LAD", 10.0, h) for i, h in enumerate(hu)])
    out = derive(_frame([f"P{i}" for i in range(len(hu))]), lesions=lesions)
    # Agatston et al. JACC 1990: weight 1 for 130-199, 2 for 200-299, 3 for 300-399, 4 for >= 400
    assert out["cac_agatston"].to_list() == [0.0, 10, 10, 20, 20, 30, 30, 40, 40]


def test_agatston_per_artery_area_density_volume_hand_example() -> None:
    lesions = _lesions(
        [
            ("P1", "LAD", 10.0, 250.0),  # 10 x 2 = 20
            ("P1", "RCA", 0.5, 500.0),  # < 1 mm^2: ignored
            ("P1", "LM", 1.0, 130.0),  # exactly 1 mm^2 at 130 HU: 1 x 1 = 1
            ("P1", "LCX", 5.5, 410.0),  # 5.5 x 4 = 22
            ("P1", "RCA", 3.0, 129.0),  # below 130 HU: not calcium
        ]
    )
    row = derive(_frame(["P1", "P2"]), lesions=lesions).row(0, named=True)
    assert row["cac_agatston"] == pytest.approx(43.0)
    assert [row[f"cac_agatston_{a}"] for a in ("lm", "lad", "lcx", "rca")] == [1.0, 20.0, 22.0, 0]
    assert row["cac_area"] == pytest.approx(16.5)
    assert row["cac_density"] == pytest.approx(43.0 / 16.5)  # Criqui 2014: Agatston / area
    assert row["cac_volume"] == pytest.approx(16.5 * 3.0)
    assert row["log_cac"] == pytest.approx(math.log(44.0))


def test_participant_without_lesions_is_zero_unless_not_scanned() -> None:
    lesions = _lesions([("P1", "LAD", 10.0, 250.0)])
    frame = _frame(["P1", "P2", "P3"], cac_scanned=[True, True, False])
    out = derive(frame, lesions=lesions)
    assert out["cac_agatston"].to_list() == [20.0, 0.0, None]
    assert out["cac_category"].cast(pl.String).to_list() == ["1-100", "0", None]
    assert out["cac_density"].to_list() == [2.0, None, None]


@pytest.mark.parametrize(
    ("cuts", "scores", "expected"),
    [
        ("standard", [0, 0.5, 100, 100.5, 101, 400, 400.5], ["0", "1-100", "1-100", "101-400",
         "101-400", "101-400", ">400"]),
        ("mesa", [100, 101, 300, 301], ["1-100", "101-300", "101-300", ">300"]),
        ((10, 100, 1000), [10, 11, 1000, 1001], ["1-10", "11-100", "101-1000", ">1000"]),
    ],
)  # fmt: skip
def test_category_boundaries(cuts: object, scores: list[float], expected: list[str]) -> None:
    frame = pl.DataFrame({"cac_agatston": [float(s) for s in scores]})
    out = derive(frame, cac_categories=cuts)
    assert out["cac_category"].cast(pl.String).to_list() == expected
    levels = out["cac_category"].dtype.categories.to_list()
    assert levels[0] == "0" and levels[-1] == expected[-1]


def test_category_is_ordered_with_standard_labels() -> None:
    out = derive(pl.DataFrame({"cac_agatston": [0.0, 50.0]}))
    assert out["cac_category"].dtype == pl.Enum(["0", "1-100", "101-400", ">400"])


def test_float_summation_noise_does_not_cross_boundary() -> None:
    areas = [10.1, 10.2, 10.3, 10.4, 9.0]  # sum 50.0 mm^2 at weight 2 -> exactly 100
    lesions = _lesions([("P1", "LAD", a, 250.0) for a in areas])
    out = derive(_frame(["P1"]), lesions=lesions)
    assert out["cac_category"].cast(pl.String).to_list() == ["1-100"]


def test_bad_cut_points_and_lesion_values_are_errors() -> None:
    with pytest.raises(FeatureError, match="increasing"):
        derive(pl.DataFrame({"cac_agatston": [1.0]}), cac_categories=(400, 100))
    with pytest.raises(FeatureError, match=r"area_mm2 < 0: 1 row\(s\) \(participant_id P7"):
        derive(_frame(["P7"]), lesions=_lesions([("P7", "LAD", -2.0, 300.0)]))
    with pytest.raises(FeatureError, match="artery not one of"):
        derive(_frame(["P7"]), lesions=_lesions([("P7", "XYZ", 2.0, 300.0)]))
    with pytest.raises(FeatureError, match=r"cac_agatston < 0.*P9"):
        derive(_frame(["P9"], cac_agatston=[-1.0]))


def test_agatston_equals_synthetic_generator() -> None:
    cohort = simulate_cohort(n=3000, seed=11)
    t = cohort.tables
    out = derive(t["participants"], lesions=t["cac_lesions"])
    truth = cohort.analysis_frame()
    # the generator sums exact tenths of mm^2 in integers and rounds to 0.1
    assert (out["cac_agatston"] - truth["cac_agatston"]).abs().max() < 1e-6
    assert (out["cac_category"].cast(pl.String) == truth["cac_category"].cast(pl.String)).all()
    assert (t["cac_lesions"]["area_mm2"] < 1).any()  # the sub-1 mm^2 specks were exercised


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2", "P3"]),
            st.sampled_from(["LM", "LAD", "LCX", "RCA"]),
            st.floats(0.0, 80.0).map(lambda a: round(a, 1)),
            st.integers(100, 1200),
        ),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_scores_ignore_lesion_order_and_arteries_add_up(rows: list, rnd: object) -> None:
    frame = _frame(["P1", "P2", "P3"])
    lesions = _lesions([(p, a, area, float(hu)) for p, a, area, hu in rows])
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = derive(frame, lesions=lesions)
    second = derive(frame, lesions=_lesions([(p, a, ar, float(h)) for p, a, ar, h in shuffled]))
    assert first.equals(second)
    arteries = sum(first[f"cac_agatston_{a}"] for a in ("lm", "lad", "lcx", "rca"))
    assert ((first["cac_agatston"] - arteries).abs() < 1e-6).all()
    assert (
        (first["cac_density"].drop_nulls() >= 1) & (first["cac_density"].drop_nulls() <= 4)
    ).all()
