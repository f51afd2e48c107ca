"""_runs: lesion sums placed on the frame's rows in one pass equal the group-by and join they
replace; tables out of participant order are left to the group-by."""

from __future__ import annotations

import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc import FeatureError
from cohortcalc.features import cac
from cohortcalc.features._runs import placed_lesion_sums

SUMS = ("cac_area", *cac.PER_ARTERY)
LONG = "participant-0000000000001"  # > 12 bytes: kept in a data buffer, not inline


def _lesions(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"participant_id": pl.String, "artery": pl.String, "area_mm2": pl.Float64,
                "peak_hu": pl.Float64},
        orient="row",
    )  # fmt: skip


def _scored(lesions: pl.DataFrame) -> nw.LazyFrame:
    return cac.scored_lesions(nw.from_native(lesions.lazy()))


def _by_group_by(lesions: pl.DataFrame, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    sums = cac.participant_sums(_scored(lesions)).to_native().collect()
    joined = frame.join(sums, on="participant_id", how="left", maintain_order="left")
    return joined.with_columns(pl.col(SUMS).fill_null(0.0)), int(sums[cac.INVALID_LESIONS].sum())


def _placed(lesions: pl.DataFrame, frame: pl.DataFrame) -> tuple[pl.DataFrame, int] | None:
    placed = placed_lesion_sums(_scored(lesions), nw.from_native(frame.lazy()))
    return None if placed is None else (placed[0].to_native().collect(), placed[1])


def _assert_same(got: tuple[pl.DataFrame, int], expected: tuple[pl.DataFrame, int]) -> None:
    assert got[0]["participant_id"].to_list() == expected[0]["participant_id"].to_list()
    for column in SUMS:  # the group-by may sum in another order: ulps apart at most
        assert got[0][column].to_list() == pytest.approx(expected[0][column].to_list(), abs=1e-9)
    assert got[1] == expected[1]  # invalid rows, counted over the whole table


IDS = ["P1", "P10", "P2", "Pé", "", LONG, LONG + "2", "Q"]
ARTERY = st.sampled_from(["LM", "LAD", "LCX", "RCA", "XYZ", None])
AREA = st.sampled_from([2.5, 10.0, 1.0, 0.5, 31.7, -1.0, None])  # mostly scored lesions
HU = st.sampled_from([250.0, 450.0, 130.0, 399.0, 129.0, None])
ROW = st.tuples(st.sampled_from(IDS), ARTERY, AREA, HU)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(ROW, max_size=40),
    st.sets(st.sampled_from([*IDS, "P0", "P3", "Z"])),
    st.booleans(),
    st.integers(1, 4),
)
def test_placed_sums_equal_the_group_by_and_join(
    rows: list[tuple], frame_ids: set[str], grouped: bool, chunks: int
) -> None:
    lesions = _lesions(rows)
    if grouped:  # the usual export: lesions grouped by participant in id order
        lesions = lesions.sort("participant_id", maintain_order=True)
    size = -(-lesions.height // chunks) if lesions.height else 1
    lesions = pl.concat([lesions.slice(i, size) for i in range(0, max(lesions.height, 1), size)],
                        rechunk=False)  # fmt: skip
    frame = pl.DataFrame(
        {"participant_id": sorted(frame_ids)}, schema={"participant_id": pl.String}
    )
    got = _placed(lesions, frame)
    ids = lesions["participant_id"]
    in_order = ids.is_sorted()
    assert (got is not None) == in_order  # placed exactly when the lesions are in id order
    if got is not None:
        _assert_same(got, _by_group_by(lesions, frame))


def test_a_run_spanning_chunks_is_summed_in_one_frame_row() -> None:
    first = _lesions([("P1", "LAD", 10.0, 250.0), ("P2", "LM", 2.0, 150.0)])
    second = _lesions([("P2", "RCA", 3.0, 450.0), ("P2", "LCX", 1.5, 310.0)])
    third = _lesions([("P4", "XYZ", 1.0, 200.0)])
    lesions = pl.concat([first, second, third], rechunk=False)
    assert lesions.n_chunks() == 3
    frame = pl.DataFrame({"participant_id": ["P0", "P1", "P2", "P3"]})
    placed, invalid = _placed(lesions, frame)  # type: ignore[misc]
    assert placed["cac_agatston_lad"].to_list() == [0.0, 20.0, 0.0, 0.0]
    assert placed["cac_agatston_lm"].to_list() == [0.0, 0.0, 2.0, 0.0]
    assert placed["cac_agatston_rca"].to_list() == [0.0, 0.0, 12.0, 0.0]
    assert placed["cac_agatston_lcx"].to_list() == [0.0, 0.0, 4.5, 0.0]
    assert placed["cac_area"].to_list() == [0.0, 10.0, 6.5, 0.0]
    assert invalid == 1  # P4's unknown artery counts, though P4 is not in the frame


def test_out_of_order_tables_are_left_to_the_group_by() -> None:
    lesions = _lesions([("P2", "LAD", 10.0, 250.0), ("P1", "LM", 2.0, 150.0)])
    frame = pl.DataFrame({"participant_id": ["P1", "P2"]})
    assert _placed(lesions, frame) is None  # lesions out of order
    across_chunks = pl.concat([lesions.slice(1, 1), lesions.slice(0, 1)], rechunk=False)
    assert _placed(across_chunks, frame.reverse()) is None  # frame out of order
    repeated = pl.concat([lesions.slice(0, 1), lesions.slice(1, 1), lesions.slice(0, 1)],
                         rechunk=False)  # fmt: skip
    assert _placed(repeated, frame) is None  # P2 again after P1, in another chunk
    with_null = _lesions([(None, "LAD", 10.0, 250.0)])
    assert _placed(with_null, frame) is None  # the group-by names the missing id


def test_no_lesion_rows_give_zero_sums() -> None:
    frame = pl.DataFrame({"participant_id": ["P1", "P2"]})
    placed, invalid = _placed(_lesions([]), frame)  # type: ignore[misc]
    assert placed["cac_area"].to_list() == [0.0, 0.0] and invalid == 0


def test_long_ids_held_in_several_data_buffers() -> None:
    ids = [f"{LONG}-{i:03d}" for i in range(6)]  # > 12 bytes: in data buffers
    halves = [pl.Series("participant_id", ids[:3]), pl.Series("participant_id", ids[3:])]
    frame = pl.DataFrame(pl.concat(halves, rechunk=True))  # one chunk, two data buffers
    buffers = frame["participant_id"].to_arrow(compat_level=pl.CompatLevel.newest()).buffers()
    assert len(buffers) > 3
    rows = [(i, "LAD", 2.0 + k, 250.0) for k, i in enumerate(ids) for _ in range(2) if k != 2]
    lesions = pl.concat([_lesions(rows[:5]), _lesions(rows[5:])], rechunk=True)
    got = _placed(lesions, frame)
    assert got is not None
    _assert_same(got, _by_group_by(lesions, frame))
    assert got[0]["cac_agatston_lad"].to_list() == [8.0, 12.0, 0.0, 20.0, 24.0, 28.0]


@pytest.mark.parametrize("column", ["area_mm2", "peak_hu"])
def test_nan_lesion_values_are_refused_on_both_paths(column: str) -> None:
    rows = [("P1", "LAD", 2.0, 250.0), ("P2", "LM", 3.0, 450.0), ("P2", "RCA", 1.5, 300.0)]
    lesions = _lesions(rows).with_columns(
        pl.when(pl.col("participant_id") == "P2").then(float("nan")).otherwise(pl.col(column))
        .alias(column)
    )  # fmt: skip
    frame = pl.DataFrame({"participant_id": ["P1", "P2"]})
    assert _placed(lesions, frame)[1] == 2  # type: ignore[index]
    assert _by_group_by(lesions, frame)[1] == 2
    for table in (lesions, lesions.reverse()):  # placed, then the group-by
        with pytest.raises(
            FeatureError, match=rf"{column} is NaN .*: 2 row\(s\) \(participant_id P2"
        ):
            cc.derive(frame, lesions=table)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-3, 6), ARTERY, AREA, HU), max_size=30),
    st.sets(st.integers(-4, 8)),
    st.booleans(),
    st.sampled_from([pl.Int64, pl.Int32, pl.UInt16]),
)
def test_integer_ids_are_placed_like_the_group_by(
    rows: list[tuple], frame_ids: set[int], grouped: bool, dtype: pl.DataType
) -> None:
    if dtype == pl.UInt16:  # unsigned ids
        rows = [(abs(r[0]), *r[1:]) for r in rows]
        frame_ids = {abs(i) for i in frame_ids}
    lesions = _lesions([(str(r[0]), *r[1:]) for r in rows]).with_columns(
        pl.col("participant_id").cast(pl.Int64).cast(dtype)
    )
    if grouped:
        lesions = lesions.sort("participant_id", maintain_order=True)
    frame = pl.DataFrame({"participant_id": sorted(frame_ids)}, schema={"participant_id": dtype})
    got = _placed(lesions, frame)
    assert (got is not None) == lesions["participant_id"].is_sorted()
    if got is not None:
        _assert_same(got, _by_group_by(lesions, frame))
