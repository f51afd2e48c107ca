"""Partitioned stores end to end: Hive folders on disk, manifest, reruns, read back, Spark.

Known truth: the same export ingested without ``partition_by`` (one file per table).
"""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import cohortcalc as cc
from cohortcalc.cli import app
from cohortcalc.ingest import layout
from cohortcalc.ingest.store import read_manifest, read_parquet_spark, sha256_of
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export

from .conftest import PARTICIPANTS_CSV, write_tiny_study

MAPPING = str(resources.files("cohortcalc") / "ingest" / "mappings" / "synthetic_study.yaml")
PARTITION_BY = ["site", "death_cause", "artery"]
ROWS_PER_FILE = 200
SITES = ["BAL", "CHI", "FOR", "LAX", "NYC", "STP"]


def _ingest(folder: Path, out: str, **options: Any) -> cc.IngestReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        return cc.ingest(folder, mapping=MAPPING, out=folder / out, **options)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("partitioned")
    write_study_export(simulate_cohort(n=1500, seed=21), folder)
    plain = _ingest(folder, "plain")
    parted = _ingest(folder, "parted", partition_by=PARTITION_BY, rows_per_file=ROWS_PER_FILE)
    return {"folder": folder, "plain": plain, "parted": parted}


def _data_files(store: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in store.rglob("*")
        if p.is_file() and p.name != "_manifest.json"
    }


def test_read_store_gives_the_unpartitioned_tables(study: dict[str, Any]) -> None:
    folder = study["folder"]
    for quarantine in (False, True):
        plain = cc.read_store(folder / "plain", quarantine=quarantine)
        parted = cc.read_store(folder / "parted", quarantine=quarantine)
        assert list(parted) == list(plain)
        for name, frame in plain.items():
            expected, got = frame.collect(), parted[name].collect()
            assert got.schema == expected.schema, name  # same columns, order and dtypes
            assert got.equals(expected), name  # same values in the same row order


def test_a_table_folder_path_reads_as_read_store(study: dict[str, Any]) -> None:
    """Functions that take a Parquet path (cc.derive, to_polars) see the unpartitioned table."""
    from cohortcalc.frames import to_polars

    for name, frame in cc.read_store(study["folder"] / "plain").items():
        path = study["folder"] / "parted" / f"{name}.parquet"
        assert to_polars(path).equals(frame.collect()), name


def test_partitioned_tables_are_hive_folders(study: dict[str, Any]) -> None:
    store = study["folder"] / "parted"
    participants = store / "participants.parquet"
    assert participants.is_dir()
    assert sorted(p.name for p in participants.iterdir()) == [f"site={s}" for s in SITES]
    events = sorted(p.name for p in (store / "events.parquet").iterdir())
    assert events == [
        "death_cause=__HIVE_DEFAULT_PARTITION__",  # MIs have no cause of death
        "death_cause=cardiovascular",
        "death_cause=non_cardiovascular",
    ]
    first = pl.read_parquet(participants / "site=BAL" / "part-00000.parquet")
    assert "site" not in first.columns and first.columns[-1] == "_store_row"
    assert first["_store_row"].is_sorted() and first.height == ROWS_PER_FILE
    assert (participants / "site=BAL" / "part-00001.parquet").is_file()
    assert (store / "_quarantine" / "participants.parquet").is_file()


def test_manifest_lists_every_file_with_rows_and_hash(study: dict[str, Any]) -> None:
    store = study["folder"] / "parted"
    tables = read_manifest(store)["tables"]
    entry = tables["participants"]
    assert entry["layout"] == "dataset" and entry["partition_by"] == ["site"]
    assert entry["partition_types"] == {"site": "string"} and entry["row_order"] == "_store_row"
    assert tables["followup"]["partition_by"] == [] and tables["followup"]["row_order"] is None
    for name, entry in tables.items():
        on_disk = {
            p.relative_to(store).as_posix() for p in (store / entry["file"]).rglob("*.parquet")
        }
        assert on_disk == {f["path"] for f in entry["files"]}, name
        assert sum(f["rows"] for f in entry["files"]) == entry["rows_written"], name
        assert entry["rows_read"] == entry["rows_written"] + entry["rows_quarantined"], name
        for file in entry["files"]:
            assert file["sha256"] == sha256_of(store / file["path"])
            assert (
                pl.scan_parquet(store / file["path"]).select(pl.len()).collect().item()
                == (file["rows"])
            )
            assert 0 < file["rows"] <= ROWS_PER_FILE
    plain = read_manifest(study["folder"] / "plain")["tables"]["participants"]
    assert plain["layout"] == "file" and [f["path"] for f in plain["files"]] == [
        "participants.parquet"
    ]
    assert study["parted"].tables == study["plain"].tables  # same counts and reasons


def test_rerun_and_streaming_give_the_same_bytes(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cohortcalc.ingest import pipeline, tables

    folder = study["folder"]
    expected = _data_files(folder / "parted")
    again = _ingest(folder, "again", partition_by=PARTITION_BY, rows_per_file=ROWS_PER_FILE)
    assert _data_files(again.out) == expected
    monkeypatch.setattr(pipeline, "IN_MEMORY_MAX_BYTES", 0)
    monkeypatch.setattr(tables, "IN_MEMORY_MAX_ROWS", 0)
    streamed = _ingest(folder, "streamed", partition_by=PARTITION_BY, rows_per_file=ROWS_PER_FILE)
    assert _data_files(streamed.out) == expected
    manifests = [read_manifest(folder / s)["tables"] for s in ("parted", "streamed")]
    assert manifests[0] == manifests[1]


def test_failed_partitioning_leaves_the_existing_store(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = study["folder"]
    before = _data_files(folder / "plain")
    monkeypatch.setattr(layout, "MAX_PARTITIONS", 5)
    with pytest.raises(cc.IngestError, match="participants by \\['site'\\] gives 6 partitions"):
        _ingest(folder, "plain", partition_by="site")
    assert _data_files(folder / "plain") == before
    assert not list(folder.glob(".plain*"))


def _awkward_tiny_study(folder: Path) -> Path:
    """The tiny study with sites that need escaping and one participant of unknown diabetes."""
    participants = (
        PARTICIPANTS_CSV.replace(",A,", ",A/1,")
        .replace(",B,", ",B=2%,")
        .replace("4.3,g/dL,0", "4.3,g/dL,-9")
    )
    mapping = write_tiny_study(folder, participants=participants)
    text = mapping.read_text().replace("{A: mg/dL, B: mmol/L}", '{"A/1": mg/dL, "B=2%": mmol/L}')
    mapping.write_text(text)
    return mapping


def test_escaped_and_null_partition_values_round_trip(tmp_path: Path) -> None:
    mapping = _awkward_tiny_study(tmp_path / "raw")
    cc.ingest(mapping=mapping, out=tmp_path / "plain")
    cc.ingest(mapping=mapping, out=tmp_path / "parted", partition_by=["site", "diabetes"])
    folders = sorted(
        p.relative_to(tmp_path / "parted" / "participants.parquet").as_posix()
        for p in (tmp_path / "parted" / "participants.parquet").glob("*/*")
    )
    assert folders == [
        "site=A%2F1/diabetes=__HIVE_DEFAULT_PARTITION__",
        "site=A%2F1/diabetes=false",
        "site=A%2F1/diabetes=true",
        "site=B%3D2%25/diabetes=false",
        "site=B%3D2%25/diabetes=true",
    ]
    plain = cc.read_store(tmp_path / "plain")["participants"].collect()
    parted = cc.read_store(tmp_path / "parted")["participants"].collect()
    assert plain["site"].to_list() == ["A/1", "A/1", "B=2%", "B=2%", "A/1"]
    assert plain["diabetes"].null_count() == 1
    assert parted.equals(plain)


def test_cli_partition_options(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    args = ["ingest", "--mapping", str(mapping), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--partition-by", "participants:site"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "participants.parquet").iterdir()) == ["site=A", "site=B"]
    assert (out / "events.parquet").is_file()
    result = CliRunner().invoke(app, [*args, "--partition-by", "sitee", "--rows-per-file", "2"])
    assert result.exit_code == 1 and "sitee" in result.output


def _spark_table(spark: Any, path: Path, like: pl.DataFrame) -> pl.DataFrame:
    """``spark.read.parquet`` of a table folder, in the stored row order and ``like``'s types."""
    frame = pl.from_arrow(spark.read.parquet(str(path)).toArrow())
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort("_store_row").select(like.columns)
    return frame.with_columns(  # partition columns come back as text ("true" for True)
        (pl.col(c) == "true") if t == pl.Boolean and frame.schema[c] == pl.String else pl.col(c)
        for c, t in like.schema.items()
    )


@pytest.mark.spark
def test_spark_reads_the_partitioned_store(
    spark: Any, study: dict[str, Any], tmp_path: Path
) -> None:
    key = "spark.sql.sources.partitionColumnTypeInference.enabled"
    mapping = _awkward_tiny_study(tmp_path / "raw")
    tiny = cc.ingest(mapping=mapping, out=tmp_path / "parted", partition_by=["site", "diabetes"])
    tiny_plain = cc.ingest(mapping=mapping, out=tmp_path / "plain")
    spark.conf.set(key, "false")
    try:
        for plain, parted, table in (
            (study["plain"].out, study["parted"].out, "events"),
            (tiny_plain.out, tiny.out, "participants"),
        ):
            expected = cc.read_store(plain)[table].collect()
            got = _spark_table(spark, parted / f"{table}.parquet", expected)
            assert got.equals(expected), (parted, table)
    finally:
        spark.conf.unset(key)
    assert json.loads((tiny.out / "_manifest.json").read_text())["tables"]["events"]["layout"] == (
        "file"
    )


@pytest.mark.spark
def test_read_store_in_spark_gives_dictionary_types(spark: Any, tmp_path: Path) -> None:
    """With Spark's default type inference on, partition columns still get dictionary types."""
    mapping = _awkward_tiny_study(tmp_path / "raw")
    columns = ["site", "diabetes", "lesion_id", "event_date", "death_cause"]
    cc.ingest(mapping=mapping, out=tmp_path / "parted", partition_by=columns)
    cc.ingest(mapping=mapping, out=tmp_path / "plain")
    expected = cc.read_store(tmp_path / "plain")
    got = cc.read_store(tmp_path / "parted", spark=spark)
    assert list(got) == list(expected)
    for name, frame in got.items():
        table = pl.from_arrow(frame.toArrow())
        assert isinstance(table, pl.DataFrame)
        want = expected[name].collect()
        key = list(cc.load_dictionary().table(name).key_columns)
        assert table.sort(key).equals(want.sort(key)), name
    rejected = cc.read_store(tmp_path / "parted", quarantine=True)
    rejected_spark = cc.read_store(tmp_path / "parted", quarantine=True, spark=spark)
    for name, frame in rejected_spark.items():
        assert frame.count() == rejected[name].select(pl.len()).collect().item(), name
    path = tmp_path / "parted" / "cac_lesions.parquet"
    names = expected["cac_lesions"].collect_schema().names()
    assert read_parquet_spark(spark, path).columns == names
