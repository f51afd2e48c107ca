"""derive(): same values on every engine, same kind of frame back, require= and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from cohortcalc import FeatureError, FrameError
from cohortcalc.features import derive
from cohortcalc.synth import simulate_cohort

TABLES = ("participants", "cac_lesions", "events", "followup")


@pytest.fixture(scope="module")
def cohort() -> dict[str, pl.DataFrame]:
    return simulate_cohort(n=400, seed=7).tables


@pytest.fixture(scope="module")
def reference(cohort: dict[str, pl.DataFrame]) -> pl.DataFrame:
    p, les, ev, fu = (cohort[t] for t in TABLES)
    return derive(p, lesions=les, events=ev, followup=fu)


def _assert_same_values(got: pl.DataFrame, reference: pl.DataFrame) -> None:
    """Every derived column equal (floats to 1e-9, categories as strings), matched by id."""
    got = got.sort("participant_id")
    reference = reference.sort("participant_id")
    derived = reference.columns[reference.columns.index("alkaline_phosphatase") + 1 :]
    assert "egfr" in derived and "mi_status" in derived
    assert set(derived) <= set(got.columns)
    for column in derived:
        ref, new = reference[column], got[column]
        if ref.dtype.is_float():
            assert (ref.is_null() == new.is_null()).all(), column
            assert ((ref - new.cast(pl.Float64)).abs().fill_null(0.0) < 1e-9).all(), column
        else:
            assert ref.cast(pl.String).to_list() == new.cast(pl.String).to_list(), column


def _convert(kind: str, table: pl.DataFrame) -> Any:
    return {
        "polars": lambda: table,
        "lazy": table.lazy,
        "pandas": table.to_pandas,
        "pyarrow": table.to_arrow,
        "duckdb": lambda: duckdb.from_arrow(table.to_arrow()),
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "native_type"),
    [("polars", pl.DataFrame), ("lazy", pl.LazyFrame), ("pandas", pd.DataFrame),
     ("pyarrow", pa.Table), ("duckdb", duckdb.DuckDBPyRelation)],
)  # fmt: skip
def test_identical_values_and_same_frame_kind(
    cohort: dict[str, pl.DataFrame], reference: pl.DataFrame, kind: str, native_type: type
) -> None:
    p, les, ev, fu = (_convert(kind, cohort[t]) for t in TABLES)
    out = derive(p, lesions=les, events=ev, followup=fu)
    assert isinstance(out, native_type)
    as_polars = {
        "polars": lambda: out,
        "lazy": lambda: out.collect(),
        "pandas": lambda: pl.from_pandas(out),
        "pyarrow": lambda: pl.from_arrow(out),
        "duckdb": lambda: out.pl(),
    }[kind]()
    _assert_same_values(as_polars, reference)
    assert not [c for c in as_polars.columns if c.startswith("__cohortcalc")]  # temporaries


def test_a_frame_column_named_like_a_temporary_is_kept_and_not_used(
    cohort: dict[str, pl.DataFrame], reference: pl.DataFrame
) -> None:
    """DuckDB computes the risk predictors as temporary columns: never the frame's own."""
    les, ev, fu = (_convert("duckdb", cohort[t]) for t in TABLES[1:])
    taken = ["__cohortcalc_pce_ln_age", "__cohortcalc_prevent_age", "___cohortcalc_pce_x"]
    own = duckdb.from_arrow(
        cohort["participants"].with_columns(pl.lit(7.0).alias(c) for c in taken).to_arrow()
    )
    out = derive(own, lesions=les, events=ev, followup=fu).pl()
    _assert_same_values(out, reference)
    assert all(out[c].to_list() == [7.0] * out.height for c in taken)
    assert [c for c in out.columns if c.startswith(("__", "___"))] == taken


@pytest.mark.spark
def test_identical_values_on_pyspark(
    spark: Any, cohort: dict[str, pl.DataFrame], reference: pl.DataFrame
) -> None:
    small = {t: cohort[t] for t in TABLES}
    p, les, ev, fu = (spark.createDataFrame(small[t].to_pandas()) for t in TABLES)
    out = derive(p, lesions=les, events=ev, followup=fu)
    assert type(out).__module__.startswith("pyspark.sql")
    _assert_same_values(pl.from_pandas(out.toPandas()), reference)
    assert not [c for c in out.columns if c.startswith("__cohortcalc")]  # predictor columns


def test_eager_row_order_is_kept(cohort: dict[str, pl.DataFrame]) -> None:
    shuffled = cohort["participants"].sample(fraction=1.0, shuffle=True, seed=3).to_pandas()
    shuffled.index = range(100, 100 + len(shuffled))
    out = derive(shuffled, lesions=cohort["cac_lesions"])
    assert out["participant_id"].tolist() == shuffled["participant_id"].tolist()


def test_side_columns_line_up_with_shuffled_tables(
    cohort: dict[str, pl.DataFrame], reference: pl.DataFrame
) -> None:
    """Polars places the per-participant side table by row position: every long table shuffled
    (and the lazy frame too) must still give each participant their own values, in frame order."""
    p, les, ev, fu = (cohort[t].sample(fraction=1.0, shuffle=True, seed=i) for i, t in
                      enumerate(TABLES))  # fmt: skip
    out = derive(p.lazy(), lesions=les, events=ev, followup=fu).collect()
    assert out["participant_id"].to_list() == p["participant_id"].to_list()
    _assert_same_values(out, reference)
    landmark = derive(p.lazy(), events=ev, followup=fu, landmark_days=365).collect()
    kept = reference.filter(pl.col("mi_days") > 365)["participant_id"].to_list()
    assert sorted(landmark["participant_id"].to_list()) == sorted(kept)
    assert landmark["participant_id"].to_list() == [i for i in p["participant_id"] if i in kept]


def test_parquet_paths(
    tmp_path: Path, cohort: dict[str, pl.DataFrame], reference: pl.DataFrame
) -> None:
    for t in TABLES:
        cohort[t].write_parquet(tmp_path / f"{t}.parquet")
    out = derive(*(tmp_path / f"{t}.parquet" for t in TABLES[:1]), lesions=tmp_path /
                 "cac_lesions.parquet", events=tmp_path / "events.parquet",
                 followup=tmp_path / "followup.parquet")  # fmt: skip
    assert isinstance(out, pl.LazyFrame)
    _assert_same_values(out.collect(), reference)


def test_derive_is_idempotent(cohort: dict[str, pl.DataFrame], reference: pl.DataFrame) -> None:
    again = derive(reference, lesions=cohort["cac_lesions"])
    assert sorted(again.columns) == sorted(reference.columns)
    _assert_same_values(again, reference)


def test_missing_inputs_leave_features_out() -> None:
    out = derive(pl.DataFrame({"age": [50.0], "sex": ["male"], "uacr": [12.0]}))
    assert set(out.columns) == {"age", "sex", "uacr", "ckd_stage_a"}


def test_require_names_missing_inputs() -> None:
    frame = pl.DataFrame({"participant_id": ["P1"], "age": [50.0], "sex": ["male"]})
    with pytest.raises(FeatureError, match=r"egfr needs \['serum_creatinine'\]"):
        derive(frame, require=["egfr"])
    with pytest.raises(FeatureError, match=r"ckd_stage_g needs \['serum_creatinine'\]"):
        derive(frame, require=["ckd_stage_g"])
    with pytest.raises(FeatureError, match=r"cac_category needs \['lesions= table"):
        derive(frame, require=["cac_category"])
    with pytest.raises(FeatureError, match="unknown feature"):
        derive(frame, require=["egfr_mdrd"])
    # 142 x (1.2/0.9)^-1.2 x 0.9938^50 = 73.7 -> G2
    ok = derive(frame.with_columns(serum_creatinine=1.2), require=["egfr", "ckd_stage_g"])
    assert ok["ckd_stage_g"].cast(pl.String).to_list() == ["G2"]


def test_unsupported_frame_type_is_a_frame_error() -> None:
    from cohortcalc import FrameError

    with pytest.raises(FrameError, match="unsupported frame type"):
        derive([1, 2, 3])


def test_duplicate_participant_ids_are_an_error_when_tables_are_joined(
    cohort: dict[str, pl.DataFrame],
) -> None:
    frame = cohort["participants"].head(5)
    doubled = pl.concat([frame, frame.head(2)])
    with pytest.raises(FeatureError, match=r"participant_id appears more than once: 2 row"):
        derive(doubled, lesions=cohort["cac_lesions"])
    assert derive(doubled)["egfr"].len() == 7  # row-wise features need no unique ids


def test_duckdb_relations_of_another_connection_get_a_clear_error(
    cohort: dict[str, pl.DataFrame],
) -> None:
    from cohortcalc import FrameError

    connection = duckdb.connect()
    frame = connection.from_arrow(cohort["participants"].to_arrow())
    with pytest.raises(FrameError, match="same connection"):
        derive(frame, lesions=cohort["cac_lesions"])
    same = derive(frame, lesions=connection.from_arrow(cohort["cac_lesions"].to_arrow()))
    assert "cac_agatston" in same.columns


def test_categories_are_enums_whether_built_or_given() -> None:
    """Built on Polars as Enums directly; a given string category column is cast as before."""
    frame = pl.DataFrame({"cac_category": ["0", ">400", None], "egfr": [95.0, None, 10.0]})
    out = derive(frame)
    assert out["cac_category"].dtype == pl.Enum(["0", "1-100", "101-400", ">400"])
    assert out["ckd_stage_g"].dtype == pl.Enum(["G1", "G2", "G3a", "G3b", "G4", "G5"])
    assert out["ckd_stage_g"].cast(pl.String).to_list() == ["G1", None, "G5"]
    as_pandas = derive(frame.to_pandas())
    assert list(as_pandas["ckd_stage_g"].cat.categories) == ["G1", "G2", "G3a", "G3b", "G4", "G5"]


def test_columns_named_like_derives_own_are_refused(cohort: dict[str, pl.DataFrame]) -> None:
    p, les, ev, fu = (cohort[t] for t in TABLES)
    with pytest.raises(FeatureError, match=r"\['_end_day'\] are names derive\(\) uses"):
        derive(p.with_columns(_end_day=1), lesions=les, events=ev, followup=fu)
    with pytest.raises(FrameError, match="__cohortcalc_row"):
        derive(p.with_columns(__cohortcalc_row=1).to_pandas())


def test_rederive_reads_recomputed_inputs_not_stale_columns(
    cohort: dict[str, pl.DataFrame], reference: pl.DataFrame
) -> None:
    # A frame that already holds egfr/ckd, whose creatinine then changes (as after imputation):
    # every feature built on egfr must follow the new creatinine, not the frame's old egfr.
    changed = reference.with_columns(pl.col("serum_creatinine") * 3)
    again = derive(changed, lesions=cohort["cac_lesions"])
    fresh = derive(cohort["participants"].with_columns(pl.col("serum_creatinine") * 3))
    for column in ("egfr", "ckd_stage_g", "ckd"):
        got = again.sort("participant_id")[column].cast(pl.String)
        want = fresh.sort("participant_id")[column].cast(pl.String)
        assert got.equals(want), column
    assert not again["egfr"].equals(reference.sort("participant_id")["egfr"])
