"""Every kind of bad input: a clear IngestError naming file, column, row and the fix; the CLI
exits non-zero; nothing is written (an existing store stays as it was, no temp folders left)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import cohortcalc as cc
from cohortcalc.cli import app
from cohortcalc.errors import IngestError

from .conftest import PARTICIPANTS_CSV, write_tiny_study


def _replace_line(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _corrupt_parquet(raw: Path) -> None:
    (raw / "events.parquet").write_bytes(b"PAR1 this is not really parquet")


def _empty_csv(raw: Path) -> None:
    (raw / "participants.csv").write_bytes(b"")


def _header_only(raw: Path) -> None:
    (raw / "participants.csv").write_text(PARTICIPANTS_CSV.splitlines()[0] + "\n")


def _wrong_encoding(raw: Path) -> None:
    text = _replace_line(PARTICIPANTS_CSV, "P002,A,", "P002,Amélie,")
    (raw / "participants.csv").write_bytes(text.encode("cp1252"))
    mapping = raw / "study.yaml"
    text = mapping.read_text()
    mapping.write_text(
        text.replace(
            "    table: participants\n", "    table: participants\n    encoding: utf-8\n", 1
        )
    )


def _missing_column(raw: Path) -> None:
    text = PARTICIPANTS_CSV.replace(",CREAT,", ",KREA,", 1)
    (raw / "participants.csv").write_text(text)


def _unknown_unit(raw: Path) -> None:
    text = _replace_line(PARTICIPANTS_CSV, "40,g/L,0", "40,g/furlong,0")
    (raw / "participants.csv").write_text(text)


def _mixed_types(raw: Path) -> None:
    text = _replace_line(PARTICIPANTS_CSV, "P003,B,17/03/2001,70,", "P003,B,17/03/2001,seventy,")
    (raw / "participants.csv").write_text(text)


def _duplicate_ids(raw: Path) -> None:
    text = _replace_line(PARTICIPANTS_CSV, "P004,B,", "P002,B,")
    (raw / "participants.csv").write_text(text)


def _bad_date(raw: Path) -> None:
    text = _replace_line(PARTICIPANTS_CSV, "19/03/2001", "31/02/2001")
    (raw / "participants.csv").write_text(text)


# (damage, expected message parts: file, column, row, fix)
CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "corrupt file": (_corrupt_parquet, ["events.parquet", "corrupt", "export it again"]),
    "empty file": (_empty_csv, ["participants.csv", "empty", "Export it again"]),
    "header only": (_header_only, ["participants.csv", "no data rows"]),
    "wrong encoding": (
        _wrong_encoding,
        ["participants.csv", "not valid UTF-8 at line 3", "data row 2", "encoding: cp1252"],
    ),
    "mapped column missing": (
        _missing_column,
        ["participants.csv", "'CREAT'", "serum_creatinine", "'KREA'", "Fix the column name"],
    ),
    "unconvertible unit": (
        _unknown_unit,
        ["participants.csv", "'ALB_UNIT'", "row 2", "'g/furlong'", "unknown unit", "unit"],
    ),
    "mixed types": (
        _mixed_types,
        ["participants.csv", "'AGE'", "row 3", "'seventy'", "missing_codes"],
    ),
    "duplicate ids": (
        _duplicate_ids,
        ["participant_id='P002'", "participants.csv row 2", "row 4", "on_row_error: quarantine"],
    ),
    "unparseable date": (
        _bad_date,
        ["participants.csv", "'VISIT'", "row 5", "'31/02/2001'", "date_format"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_clear_error_and_leaves_the_store(tmp_path: Path, case: str) -> None:
    damage, expected = CASES[case]
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    out = tmp_path / "cohort"
    cc.ingest(mapping=mapping, out=out)  # a good store first
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    damage(raw)
    with pytest.raises(IngestError) as info:
        cc.ingest(mapping=mapping, out=out)
    for part in expected:
        assert part in str(info.value), (case, part, str(info.value))
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the existing store changed"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("case", ["mixed types", "wrong encoding", "duplicate ids"])
def test_cli_exits_nonzero_and_writes_nothing(tmp_path: Path, case: str) -> None:
    damage = CASES[case][0]
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    damage(raw)
    out = tmp_path / "cohort"
    result = CliRunner().invoke(app, ["ingest", "--mapping", str(mapping), "--out", str(out)])
    assert result.exit_code == 1
    assert "ingest failed" in result.output
    assert not out.exists()
    assert list(tmp_path.glob(".cohort*")) == []


def test_cli_ingests_and_summarizes(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "cohort"
    result = CliRunner().invoke(app, ["ingest", "--mapping", str(mapping), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "participants" in result.output and "Details:" in result.output
    assert (out / "participants.parquet").is_file()


def test_sas7bdat_goes_through_pyreadstat(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    (raw / "events.sas7bdat").write_bytes(b"\x00" * 2048)
    text = mapping.read_text().replace("file: events.parquet", "file: events.sas7bdat")
    mapping.write_text(text)
    with pytest.raises(
        IngestError,
        match=r"events\.sas7bdat: file is corrupt or not sas7bdat: cannot be read as sas7bdat",
    ):
        cc.ingest(mapping=mapping, out=tmp_path / "cohort")


def test_refuses_to_replace_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work")
    with pytest.raises(IngestError, match="not a cohort store"):
        cc.ingest(mapping=mapping, out=out)
    assert (out / "thesis.docx").read_text() == "years of work"


def test_missing_excel_sheet_is_named(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    pl.read_parquet(raw / "events.parquet").write_excel(raw / "events.xlsx", worksheet="events")
    text = mapping.read_text().replace("file: events.parquet", "file: events.xlsx\n    sheet: ev")
    mapping.write_text(text)
    with pytest.raises(IngestError, match=r"events\.xlsx: cannot be read as Excel .*'ev'"):
        cc.ingest(mapping=mapping, out=tmp_path / "cohort")


def test_unreadable_file_is_an_ingest_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cohortcalc.ingest import readers

    mapping = write_tiny_study(tmp_path / "raw")

    def denied(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(readers, "check_utf8", denied)
    with pytest.raises(IngestError, match=r"participants\.csv: cannot be read \(Permission denied"):
        cc.ingest(mapping=mapping, out=tmp_path / "cohort")
