"""Table layouts: resolving ``partition_by`` against the dictionary, Hive folder names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import cohortcalc as cc
from cohortcalc.errors import IngestError
from cohortcalc.ingest.layout import (
    TableLayout,
    parse_partition_option,
    partition_segment,
    resolve_layouts,
    write_table,
)

TABLES = ("participants", "events", "followup", "cac_lesions")

# Folder names Spark 4.0 wrote for these values (`df.write.partitionBy("site")`, run once).
SPARK_FOLDERS = {
    "a/b": "a%2Fb",
    "x=y": "x%3Dy",
    "50%": "50%25",
    "sp ace": "sp ace",
    "São": "São",
    "q?#*:'\"\\{[]^": "q%3F%23%2A%3A%27%22%5C%7B%5B%5D%5E",
    "tab\there": "tab%09here",
    "a.b": "a.b",
    "-": "-",
    "é~!@$&()+,;<>|`": "é~!@$&()+,;<>|`",
}


@pytest.mark.parametrize(("value", "folder"), SPARK_FOLDERS.items())
def test_partition_values_are_escaped_as_spark_does(value: str, folder: str) -> None:
    assert partition_segment(value, "participants", "site") == folder


def test_typed_partition_values_are_written_as_spark_does() -> None:
    assert partition_segment(None, "events", "death_cause") == "__HIVE_DEFAULT_PARTITION__"
    assert partition_segment(True, "participants", "diabetes") == "true"
    assert partition_segment(False, "participants", "diabetes") == "false"
    assert partition_segment(dt.date(2001, 3, 5), "events", "event_date") == "2001-03-05"
    assert partition_segment(-3, "cac_lesions", "lesion_id") == "-3"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "reads it back as null"),
        ("__HIVE_DEFAULT_PARTITION__", "reads it back as null"),
        ("a\x00b", "NUL"),
        ("x" * 260, "exceed 255 bytes"),
    ],
)
def test_values_that_cannot_be_folders_are_rejected(value: str, problem: str) -> None:
    with pytest.raises(IngestError, match=rf"participants\.site .*{problem}"):
        partition_segment(value, "participants", "site")


def test_a_column_applies_to_every_table_that_has_it() -> None:
    layouts = resolve_layouts(["site", "death_cause"], None, cc.load_dictionary(), TABLES)
    assert layouts["participants"].partition_types == {"site": "string"}
    assert layouts["events"].partition_types == {"death_cause": "category"}
    assert not layouts["followup"].is_dataset and not layouts["cac_lesions"].is_dataset
    split = resolve_layouts(None, 100, cc.load_dictionary(), TABLES)
    assert all(layout.is_dataset and not layout.partition_by for layout in split.values())


def test_a_mapping_partitions_each_table_by_its_own_columns() -> None:
    layouts = resolve_layouts(
        {"participants": ["site", "sex"], "cac_lesions": "artery"}, 10, cc.load_dictionary(), TABLES
    )
    assert layouts["participants"].partition_by == ("site", "sex")
    assert layouts["cac_lesions"].partition_by == ("artery",)
    assert layouts["events"] == TableLayout({}, 10)


@pytest.mark.parametrize(
    ("partition_by", "rows_per_file", "message"),
    [
        ("sitee", None, r"column 'sitee' is in none of the tables .*participants"),
        ({"events": "site"}, None, r"table 'events' has no column 'site'"),
        ({"labs": "site"}, None, r"table\(s\) \['labs'\] are not written"),
        ("age", None, r"participants\.age is a float column"),
        (["site", "site"], None, "listed twice"),
        ([3], None, "give column names as text"),
        (None, 0, "rows_per_file must be a whole number >= 1"),
        (None, 2.5, "rows_per_file must be a whole number >= 1"),
    ],
)
def test_bad_layout_options_name_the_column_and_table(
    partition_by: object, rows_per_file: object, message: str
) -> None:
    with pytest.raises(IngestError, match=message):
        resolve_layouts(partition_by, rows_per_file, cc.load_dictionary(), TABLES)  # type: ignore[arg-type]


def test_cli_option_is_a_list_or_a_per_table_mapping() -> None:
    assert parse_partition_option([]) is None
    assert parse_partition_option(["site", "sex"]) == ["site", "sex"]
    assert parse_partition_option(["participants:site", "events:death_cause"]) == {
        "participants": ["site"],
        "events": ["death_cause"],
    }
    with pytest.raises(IngestError, match="not a mix"):
        parse_partition_option(["site", "events:death_cause"])


@pytest.mark.parametrize("in_memory", [True, False])
def test_rows_per_file_splits_each_partition_in_order(tmp_path: Path, in_memory: bool) -> None:
    frame = pl.DataFrame({"site": ["b", "a", None, "a", "b", "a"], "x": [0, 1, 2, 3, 4, 5]})
    layout = TableLayout({"site": "string"}, rows_per_file=2)
    (tmp_path / "scratch").mkdir()
    files = write_table(frame.lazy(), tmp_path, "t", layout, in_memory, tmp_path / "scratch")
    assert [(f.path, f.partition, f.rows) for f in files] == [
        ("t.parquet/site=a/part-00000.parquet", {"site": "a"}, 2),
        ("t.parquet/site=a/part-00001.parquet", {"site": "a"}, 1),
        ("t.parquet/site=b/part-00000.parquet", {"site": "b"}, 2),
        ("t.parquet/site=__HIVE_DEFAULT_PARTITION__/part-00000.parquet", {"site": None}, 1),
    ]
    rows = [pl.read_parquet(tmp_path / f.path)["x"].to_list() for f in files]
    assert rows == [[1, 3], [5], [0, 4], [2]]
    assert pl.read_parquet(tmp_path / files[0].path)["_store_row"].to_list() == [1, 3]


def test_too_many_partitions_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cohortcalc.ingest import layout as module

    monkeypatch.setattr(module, "MAX_PARTITIONS", 2)
    frame = pl.LazyFrame({"participant_id": ["P1", "P2", "P3"]})
    layout = TableLayout({"participant_id": "string"})
    with pytest.raises(IngestError, match=r"participants by \['participant_id'\] gives 3"):
        write_table(frame, tmp_path, "participants", layout, True, tmp_path)


def test_an_empty_table_is_one_file_with_every_column(tmp_path: Path) -> None:
    """No rows, no partitions: one empty file keeps the schema readable (Spark needs a file)."""
    frame = pl.LazyFrame(schema={"site": pl.String, "x": pl.Int64})
    layout = TableLayout({"site": "string"}, rows_per_file=2)
    files = write_table(frame, tmp_path, "t", layout, True, tmp_path)
    assert [(f.path, f.partition, f.rows) for f in files] == [("t.parquet", {}, 0)]
    assert pl.read_parquet(tmp_path / "t.parquet").schema == frame.collect_schema()
