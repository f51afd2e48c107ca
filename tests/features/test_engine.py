"""_engine fast paths (Polars): the same rows as the plain join / group-by they replace."""

from __future__ import annotations

import narwhals as nw
import numpy as np
import polars as pl
import pytest

from cohortcalc.features._engine import left_join, sum_by_key, unique_sorted_key


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


def test_left_join_places_identical_keys_side_by_side() -> None:
    left = pl.DataFrame({"id": ["a", "b", "c"], "x": [1, 2, 3]})
    right = pl.DataFrame({"id": ["a", "b", "c"], "y": [10, 20, 30]})
    assert _via_engine(left, right)["y"].to_list() == [10, 20, 30]


def _lesion_like(n_groups: int, seed: int, shuffle: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(n_groups), rng.integers(1, 5, n_groups))
    frame = pl.DataFrame(
        {
            "id": [f"P{i:04d}" for i in owner],
            "v": rng.lognormal(1.0, 1.0, owner.size),
            "k": rng.integers(0, 3, owner.size).astype(np.int32),
        }
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed) if shuffle else frame


@pytest.mark.parametrize("shuffle", [False, True])
def test_sum_by_key_equals_group_by_sum(shuffle: bool) -> None:
    frame = _lesion_like(300, seed=5, shuffle=shuffle)
    expected = frame.group_by("id").agg(pl.col("v", "k").sum()).sort("id")
    got = sum_by_key(nw.from_native(frame.lazy()), "id").to_native().collect().sort("id")
    assert got.schema == expected.schema
    assert got["id"].to_list() == expected["id"].to_list()
    assert got["k"].to_list() == expected["k"].to_list()
    assert np.allclose(got["v"].to_numpy(), expected["v"].to_numpy(), rtol=1e-13, atol=0)


@pytest.mark.parametrize(
    "frame",
    [
        pl.DataFrame({"id": ["a", "a", "b"], "v": [1.0, None, 2.0]}),  # null value
        pl.DataFrame({"id": ["a", None, None], "v": [1.0, 2.0, 3.0]}),  # null key
        pl.DataFrame({"id": ["a", "b"], "v": [True, True]}),  # booleans are not summed runs
        pl.DataFrame(schema={"id": pl.String, "v": pl.Float64}),  # no rows
    ],
)
def test_sum_by_key_edge_cases_fall_back_to_group_by(frame: pl.DataFrame) -> None:
    expected = frame.group_by("id").agg(pl.col("v").sum()).sort("id", nulls_last=True)
    got = sum_by_key(nw.from_native(frame.lazy()), "id").to_native().collect()
    assert got.sort("id", nulls_last=True).equals(expected)


def test_unique_sorted_key_is_a_proof_not_a_guess() -> None:
    def check(ids: list[str | None]) -> bool:
        return unique_sorted_key(nw.from_native(pl.LazyFrame({"id": ids})), "id")

    assert check(["a", "b", "c"])
    assert not check(["a", "b", "b"])  # repeated
    assert not check(["b", "a"])  # unique but unsorted: not proven here
    assert not check(["a", None])
