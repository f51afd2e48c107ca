"""_engine: fast join paths (Polars) give the rows of the order-keeping hash join they replace;
Parquet paths (also a store's partitioned table folder) are read as the store reads them."""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cohortcalc as cc
from cohortcalc.features._engine import left_join, unique_sorted_key
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export


def _plain_join(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    return left.join(right, on="id", how="left", maintain_order="left")


def _via_engine(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    joined = left_join(nw.from_native(left.lazy()), nw.from_native(right.lazy()), "id")
    return joined.to_native().collect()


LEFT_IDS = {
    "sorted unique": ["a", "b", "c", "d", "e"],
    "sorted with repeats": ["a", "b", "b", "d", "e"],
    "unsorted": ["d", "a", "e", "b", "c"],
    "with null": ["a", None, "c", "d", "e"],
}
RIGHT_IDS = {
    "same as left": None,
    "sorted subset and extras": ["a", "c", "cc", "e", "z"],
    "unsorted": ["e", "a", "c"],
    "repeated": ["a", "a", "c"],
    "empty": [],
    "before all": ["0"],
}


@pytest.mark.parametrize("left_ids", LEFT_IDS)
@pytest.mark.parametrize("right_ids", RIGHT_IDS)
def test_left_join_matches_an_order_keeping_hash_join(left_ids: str, right_ids: str) -> None:
    ids = LEFT_IDS[left_ids]
    left = pl.DataFrame({"id": ids, "x": range(len(ids))})
    other = ids if RIGHT_IDS[right_ids] is None else RIGHT_IDS[right_ids]
    right = pl.DataFrame(
        {"id": other, "y": [float(i) + 0.5 for i in range(len(other))]},
        schema={"id": pl.String, "y": pl.Float64},
    )
    got = _via_engine(left, right)
    assert got.equals(_plain_join(left, right))
    assert got["x"].is_sorted()  # frame order kept (repeated right keys repeat rows)


KEYS = st.text(alphabet=["a", "b", "é", "z", "😀", "\x00"], max_size=4)  # prefixes, UTF-8


@settings(max_examples=80, deadline=None)
@given(st.lists(KEYS, max_size=30), st.lists(KEYS, max_size=30), st.booleans())
def test_merge_of_sorted_string_keys_matches_the_hash_join(
    left_ids: list[str], right_ids: list[str], sliced: bool
) -> None:
    keys = sorted(set(right_ids))
    left = pl.DataFrame(
        {"id": sorted(left_ids), "x": range(len(left_ids))},
        schema={"id": pl.String, "x": pl.Int64},
    )
    right = pl.DataFrame(
        {"id": keys, "y": [float(i) for i in range(len(keys))]},
        schema={"id": pl.String, "y": pl.Float64},
    )
    if sliced and right.height > 1:  # a slice of a frame
        right = right.slice(1)
    assert _via_engine(left, right).equals(_plain_join(left, right))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-5, 20), max_size=30), st.sets(st.integers(-5, 20)))
def test_merge_of_sorted_integer_keys_matches_the_join(left_ids: list[int], keys: set[int]) -> None:
    left = pl.DataFrame({"id": sorted(left_ids), "x": range(len(left_ids))},
                        schema={"id": pl.Int32, "x": pl.Int64})  # fmt: skip
    right = pl.DataFrame({"id": sorted(keys), "y": [float(k) for k in sorted(keys)]},
                         schema={"id": pl.Int32, "y": pl.Float64})  # fmt: skip
    assert _via_engine(left, right).equals(_plain_join(left, right))


def test_left_join_places_identical_keys_side_by_side() -> None:
    left = pl.DataFrame({"id": ["a", "b", "c"], "x": [1, 2, 3]})
    right = pl.DataFrame({"id": ["a", "b", "c"], "y": [10, 20, 30]})
    assert _via_engine(left, right)["y"].to_list() == [10, 20, 30]


def test_unique_sorted_key_is_a_proof_not_a_guess() -> None:
    def check(ids: list[str | None]) -> bool:
        return unique_sorted_key(nw.from_native(pl.LazyFrame({"id": ids})), "id")

    assert check(["a", "b", "c"])
    assert not check(["a", "b", "b"])  # repeated
    assert not check(["b", "a"])  # unique but unsorted: not proven here
    assert not check(["a", None])


def test_derive_reads_a_partitioned_store_table_folder_as_the_plain_store(
    tmp_path: Path,
) -> None:
    """Hive partition columns kept and no ``_store_row`` column, on Polars and DuckDB."""
    write_study_export(simulate_cohort(n=300, seed=5), tmp_path)
    mapping = str(resources.files("cohortcalc") / "ingest" / "mappings" / "synthetic_study.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        cc.ingest(tmp_path, mapping=mapping, out=tmp_path / "plain")
        cc.ingest(
            tmp_path, mapping=mapping, out=tmp_path / "parted", partition_by=["site"],
            rows_per_file=50,
        )  # fmt: skip

    def derived(store: str, engine: str) -> pl.DataFrame:
        tables = ("participants", "cac_lesions", "events", "followup")
        path = {t: tmp_path / store / f"{t}.parquet" for t in tables}
        frame: Any = path["participants"]
        if engine == "duckdb":
            frame = duckdb.from_arrow(cc.read_store(tmp_path / store)["participants"].collect())
        result = cc.derive(
            frame, lesions=path["cac_lesions"], events=path["events"], followup=path["followup"]
        )
        out = result.collect() if engine == "polars" else pl.from_arrow(result.arrow())
        return out.sort("participant_id")

    assert (tmp_path / "parted" / "participants.parquet").is_dir()
    for engine in ("polars", "duckdb"):
        plain, parted = derived("plain", engine), derived("parted", engine)
        assert "site" in parted.columns and "_store_row" not in parted.columns
        assert parted.equals(plain), engine
