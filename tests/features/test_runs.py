"""_runs: run-by-run lesion sums (Polars) equal the group-by sums they replace, in any order."""

from __future__ import annotations

import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortcalc.features import cac
from cohortcalc.features._runs import lesion_sums

SUMS = ("cac_area", cac.INVALID_LESIONS, *cac.PER_ARTERY)


def _lesions(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"participant_id": pl.String, "artery": pl.String, "area_mm2": pl.Float64,
                "peak_hu": pl.Float64},
        orient="row",
    )  # fmt: skip


def _by_group_by(lesions: pl.LazyFrame) -> pl.DataFrame:
    scored = cac.scored_lesions(nw.from_native(lesions))
    return cac.participant_sums(scored).to_native().collect()


def _by_runs(lesions: pl.LazyFrame) -> pl.DataFrame:
    return lesion_sums(cac.scored_lesions(nw.from_native(lesions))).to_native().collect()


def _assert_same_sums(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    got, expected = (f.sort("participant_id", nulls_last=True) for f in (got, expected))
    assert got["participant_id"].to_list() == expected["participant_id"].to_list()
    for column in SUMS:
        assert got[column].to_list() == pytest.approx(expected[column].to_list(), abs=1e-9)


ROW = st.tuples(
    st.sampled_from(["P1", "P2", "P10", "P3", "Q", None]),
    st.sampled_from(["LM", "LAD", "LCX", "RCA", "XYZ", None]),
    st.sampled_from([2.5, 10.0, 1.0, 0.5, 31.7, -1.0, None]),  # mostly scored lesions
    st.sampled_from([250.0, 450.0, 130.0, 399.0, 129.0, None]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=40), st.booleans())
def test_run_sums_equal_the_group_by_in_any_row_order(rows: list[tuple], grouped: bool) -> None:
    lesions = _lesions(rows)
    if grouped:  # the usual export: lesions grouped by sorted participant_id
        lesions = lesions.sort("participant_id", maintain_order=True)
    got = _by_runs(lesions.lazy())
    _assert_same_sums(got, _by_group_by(lesions.lazy()))
    ids = got["participant_id"]
    if grouped and not ids.null_count():  # grouped: participant order, no group-by needed
        assert ids.is_sorted() and ids.n_unique() == ids.len()


def test_runs_continue_across_chunks() -> None:
    first = _lesions([("P1", "LAD", 10.0, 250.0), ("P2", "LM", 2.0, 150.0)])
    second = _lesions([("P2", "RCA", 3.0, 450.0), ("P2", "LCX", 1.5, 310.0)])
    third = _lesions([("P3", "XYZ", 1.0, 200.0)])
    lesions = pl.concat([first, second, third], rechunk=False)
    assert lesions.n_chunks() == 3  # P2's run spans two chunks
    got = _by_runs(lesions.lazy())
    assert got["participant_id"].to_list() == ["P1", "P2", "P3"]
    assert got["cac_agatston_lad"].to_list() == [20.0, 0.0, 0.0]
    assert got["cac_agatston_lm"].to_list() == [0.0, 2.0, 0.0]
    assert got["cac_agatston_rca"].to_list() == [0.0, 12.0, 0.0]
    assert got["cac_agatston_lcx"].to_list() == [0.0, 4.5, 0.0]
    assert got["cac_area"].to_list() == [10.0, 6.5, 1.0]
    assert got[cac.INVALID_LESIONS].to_list() == [0, 0, 1]  # the unknown artery


def test_no_lesion_rows_give_no_sums() -> None:
    got = _by_runs(_lesions([]).lazy())
    assert got.height == 0 and set(SUMS) <= set(got.columns)
