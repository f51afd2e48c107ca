"""Issue 13: optional variables may be absent, a mapping mistake fails loudly with its likely
cause, every mapping problem is reported at once, ``--check`` writes nothing, and a mapping
cannot read files outside its sources folder (issue 16, item 15)."""

from __future__ import annotations

import warnings
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import cohortcalc as cc
from cohortcalc.cli import app
from cohortcalc.errors import IngestError
from cohortcalc.ingest.check import check_mapping

from .conftest import write_tiny_study

HEADER = "ID,CENTER,VISIT,AGE,SEX,CA,CREAT,ALB,ALB_UNIT,DM\n"


def _participants(n: int, bad_unit_rows: int = 0, creat: float = 88.4) -> str:
    rows = [
        f"P{i:03d},A,15/03/2001,60,1,9.5,{creat},4.1,{'mg/dL' if i <= bad_unit_rows else 'g/dL'},1"
        for i in range(1, n + 1)
    ]
    return HEADER + "\n".join(rows) + "\n"


def _ingest(mapping: Path, out: Path) -> cc.IngestReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        return cc.ingest(mapping=mapping, out=out)


def test_optional_variable_not_exported_is_absent_everywhere(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    text = mapping.read_text()
    start = text.index("      death_cause:")
    mapping.write_text(text[:start] + text[text.index("  - file: followup.dta") :])
    report = _ingest(mapping, tmp_path / "cohort")
    events = cc.read_store(tmp_path / "cohort")["events"].collect()
    assert events.height == report.tables["events"].rows_written == 4
    assert events["death_cause"].null_count() == events.height
    assert events.schema["death_cause"] == pl.String


def test_a_wrong_unit_fails_with_its_likely_cause(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", _participants(50, bad_unit_rows=20))
    out = tmp_path / "cohort"
    with pytest.raises(IngestError) as caught:
        _ingest(mapping, out)
    message = str(caught.value)
    assert "participants.csv (participants): column 'albumin' lost 20 of 50 (40.0%)" in message
    assert "'unknown_unit'" in message and "Likely cause: the unit" in message
    assert not out.exists() and list(tmp_path.glob(".cohort*")) == []


def test_a_unit_that_puts_values_out_of_range_names_the_unit(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", _participants(30, creat=1.0))
    with pytest.raises(IngestError, match=r"serum_creatinine.*hard_range.*wrong unit"):
        _ingest(mapping, tmp_path / "cohort")  # mapped as umol/L: 1.0 umol/L is 0.011 mg/dL


def test_max_loss_in_the_mapping_lets_a_known_bad_file_through(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", _participants(50, bad_unit_rows=20))
    mapping.write_text(mapping.read_text().replace("on_row_error:", "max_loss: 0.5\non_row_error:"))
    report = _ingest(mapping, tmp_path / "cohort")
    assert report.tables["participants"].values_nulled == {"unknown_unit:albumin": 20}


def test_few_lost_values_never_fail(tmp_path: Path) -> None:
    """A small file may carry a typo: fewer than MIN_LOSS_TO_FAIL values never fail."""
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", _participants(10, bad_unit_rows=3))
    report = _ingest(mapping, tmp_path / "cohort")
    assert report.values_nulled == 3


def test_every_mapping_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    text = (
        mapping.read_text().replace("age: AGE", "agee: AGE").replace("artery: ARTERY", "arteri: X")
    )
    mapping.write_text(text)
    lines = text.splitlines()
    with pytest.raises(IngestError) as caught:
        _ingest(mapping, tmp_path / "cohort")
    message = str(caught.value)
    assert "problems" in message
    for key in ("agee", "arteri"):
        line = next(i for i, t in enumerate(lines, start=1) if f"{key}:" in t)
        assert f"line {line}: key sources.[" in message and key in message


def test_check_reports_problems_and_writes_nothing(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw, "quarantine", _participants(40, bad_unit_rows=20))
    text = mapping.read_text().replace("end_date: ENDDATE", "end_date: END_DATE")
    mapping.write_text(text)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = check_mapping(mapping, sample_rows=25)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "check wrote something"
    assert not result.ok
    messages = [f.message for f in result.findings]
    assert any("'END_DATE'" in m and "not in the file" in m for m in messages), messages
    albumin = next(f for f in result.findings if f.column == "ALB")
    assert albumin.count == 20 and albumin.fatal  # 20 of the 25 sampled rows
    assert result.rows_sampled["participants.csv"] == 25
    cli = CliRunner().invoke(app, ["ingest", "--mapping", str(mapping), "--check"])
    assert cli.exit_code == 1 and "nothing was written" in cli.output
    assert not (tmp_path / "cohort").exists()


def test_check_passes_a_good_mapping_and_notes_values(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", _participants(40, bad_unit_rows=1))
    result = check_mapping(mapping)
    assert result.ok and [f.count for f in result.findings] == [1]
    cli = CliRunner().invoke(app, ["ingest", "--mapping", str(mapping), "--check"])
    assert cli.exit_code == 0, cli.output


@pytest.mark.parametrize("where", ["../secret.csv", "ABSOLUTE"])
def test_mapped_file_outside_the_sources_folder_is_refused(tmp_path: Path, where: str) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    secret = tmp_path / "secret.csv"
    secret.write_text((raw / "participants.csv").read_text())
    target = str(secret) if where == "ABSOLUTE" else where
    mapping.write_text(mapping.read_text().replace("file: participants.csv", f"file: {target}"))
    with pytest.raises(IngestError, match="outside the sources folder"):
        _ingest(mapping, tmp_path / "cohort")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        report = cc.ingest(mapping=mapping, out=tmp_path / "cohort", allow_outside_sources=True)
    assert report.tables["participants"].rows_written == 5


def test_followup_without_events_or_end_reason_is_censored_and_says_derived(
    tmp_path: Path,
) -> None:
    mapping = write_tiny_study(tmp_path / "raw")
    text = mapping.read_text()
    events = text[text.index("  - file: events.parquet") : text.index("  - file: followup.dta")]
    text = text.replace(events, "")
    text = text[: text.index("      end_reason:")] + text[text.index("  - file: lesions.sav") :]
    mapping.write_text(text)
    report = _ingest(mapping, tmp_path / "cohort")
    followup = cc.read_store(tmp_path / "cohort")["followup"].collect()
    assert followup["end_reason"].to_list() == ["censored"] * 5
    assert report.tables["followup"].derived == ("end_reason",)
    assert (
        "`end_reason`: death when an accepted death"
        in (tmp_path / "cohort" / "_ingest_report.md").read_text()
    )


def test_a_wrong_date_format_fails_naming_the_date_format(tmp_path: Path) -> None:
    text = _participants(30).replace("15/03/2001", "2001-03-15")
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", text)
    with pytest.raises(IngestError) as caught:
        _ingest(mapping, tmp_path / "cohort")
    message = str(caught.value)
    assert "participants.csv (participants): rows lost 30 of 30 (100.0%)" in message
    assert "'unparseable_date'" in message and "Likely cause: the date format" in message
