"""Readers: every format gives the same raw columns and 1-based ``_source_row``; text files
get their delimiter and encoding detected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

import cohortcalc as cc
from cohortcalc.errors import IngestError
from cohortcalc.ingest.mapping import SourceSpec
from cohortcalc.ingest.readers import (
    SOURCE_ROW,
    check_utf8,
    detect_delimiter,
    detect_encoding,
    scan_source,
)

from .conftest import PARTICIPANTS_CSV, write_tiny_study

FRAME = pl.DataFrame(
    {
        "PTID": ["P1", "P2", "P3"],
        "AGE": [61.5, 55.0, 70.25],
        "SEX": [1.0, 2.0, 1.0],
        "EXAMDT": [dt.date(2001, 3, 15), dt.date(2001, 3, 16), dt.date(2002, 1, 2)],
    }
)


def _write(frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix
    if suffix == ".csv":
        frame.write_csv(path, separator=";" if "semicolon" in path.name else ",")
    elif suffix == ".tsv":
        frame.write_csv(path, separator="\t")
    elif suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix == ".xlsx":
        frame.write_excel(path)
    else:
        writer = {".xpt": pyreadstat.write_xport, ".dta": pyreadstat.write_dta}
        writer[".sav"] = pyreadstat.write_sav
        pdf = frame.to_pandas()
        pdf["EXAMDT"] = frame["EXAMDT"].to_list()
        writer[suffix](pdf, str(path))


@pytest.mark.parametrize(
    "name", ["a.csv", "a_semicolon.csv", "a.tsv", "a.parquet", "a.xlsx", "a.xpt", "a.dta", "a.sav"]
)
def test_every_format_reads_the_same_values(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write(FRAME, path)
    source = SourceSpec(file=name, table="participants", columns={"participant_id": "PTID"})
    lazy, info = scan_source(path, source, tmp_path / "scratch")
    got = lazy.collect()
    assert got[SOURCE_ROW].to_list() == [1, 2, 3]
    assert got["PTID"].to_list() == ["P1", "P2", "P3"]
    ages = got["AGE"].cast(pl.Float64).to_list()
    assert ages == [61.5, 55.0, 70.25]
    if name.endswith("csv"):
        assert info.delimiter == (";" if "semicolon" in name else ",")
        assert info.encoding == "utf-8"


def test_cp1252_is_detected_and_transcoded(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    text = PARTICIPANTS_CSV.replace("P005,", "Pü05,", 1)
    (raw / "participants.csv").write_bytes(text.encode("cp1252"))
    assert detect_encoding(raw / "participants.csv") == "cp1252"
    report = cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    assert report.sources[0].encoding == "cp1252"
    ids = cc.read_store(tmp_path / "cohort")["participants"].collect()["participant_id"]
    assert "Pü05" in ids.to_list()


def test_utf8_check_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xe9\n")
    with pytest.raises(IngestError, match="line 3"):
        check_utf8(path)


def test_delimiter_detection_prefers_the_consistent_one(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("a|b|c\n1,5|2|3\n4|5,5|6\n")
    assert detect_delimiter(path) == "|"
