"""Validation: hard range, codes, required values, duplicates, parents and date logic go to the
quarantine with every reason; soft-range values are kept and counted; counts reconcile."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

import cohortcalc as cc
from cohortcalc.ingest.report import IngestReport

from .conftest import write_tiny_study

PARTICIPANTS = """\
ID,CENTER,VISIT,AGE,SEX,CA,CREAT,ALB,ALB_UNIT,DM
P001,A,15/03/2001,61,1,9.5,88.4,4.1,g/dL,1
P002,A,16/03/2001,250,2,9.1,70.7,40,g/L,0
P003,B,17/03/2001,70,3,2.4,106.1,3.9,g/dL,0
P004,A,18/03/2001,64,2,13.0,80,3.8,g/dL,1
P001,A,19/03/2001,49,1,10.2,90,4.3,g/dL,0
P006,A,19/03/2001,abc,1,10.2,90,4.3,g/dL,0
P007,A,19/03/2001,50,1,10.2,90,4.3,g/furlong,0
P008,A,19/03/2001,-9,1,10.2,90,4.3,g/dL,0
P009,A,20/03/2001,251,7,10.0,90,4.3,g/dL,0
"""
EVENTS = {
    "ID": ["P001", "P001", "P001", "P004", "P999", "P002", "P004"],
    "TYPE": [1, 2, 1, 1, 1, 1, 1],
    "DATE": [dt.date(y, 1, 1) for y in (2005, 2009, 2010, 1999, 2005, 2005, 2003)],
    "CAUSE": [None, "CV", None, None, None, None, "NCV"],
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestReport, Path]:
    folder = tmp_path_factory.mktemp("validate")
    mapping = write_tiny_study(folder / "raw", "quarantine", PARTICIPANTS, EVENTS)
    with pytest.warns(cc.DataQualityWarning, match="serum_calcium"):
        report = cc.ingest(mapping=mapping, out=folder / "cohort")
    return report, folder / "cohort"


def _reasons(store: Path, table: str) -> dict[int, list[str]]:
    frame = cc.read_store(store, quarantine=True)[table].collect()
    return dict(zip(frame["_source_row"], frame["_reasons"].to_list(), strict=True))


def _issues(store: Path, table: str) -> list[tuple[int, str, str, str | None, str]]:
    frame = pl.read_parquet(store / "_issues" / f"{table}.parquet")
    columns = ("_source_row", "column", "source_column", "value", "reason")
    return list(frame.select(columns).iter_rows())


def test_value_problems_cost_the_value_row_problems_the_row(
    checked: tuple[IngestReport, Path],
) -> None:
    store = checked[1]
    assert _reasons(store, "participants") == {5: ["duplicate_id"]}
    assert _issues(store, "participants") == [
        (2, "age", "AGE", "250", "hard_range"),
        (3, "sex", "SEX", "3", "invalid_code"),
        (6, "age", "AGE", "abc", "unparseable"),
        (7, "albumin", "ALB", "4.3", "unknown_unit"),
        (8, "age", "AGE", None, "missing_required"),
        (9, "age", "AGE", "251", "hard_range"),
        (9, "sex", "SEX", "7", "invalid_code"),
    ]


def test_accepted_participants_keep_their_valid_values(checked: tuple[IngestReport, Path]) -> None:
    report, store = checked
    accepted = cc.read_store(store)["participants"].collect()
    assert accepted["participant_id"].to_list() == [f"P00{i}" for i in (1, 2, 3, 4, 6, 7, 8, 9)]
    assert accepted["age"].to_list() == [61.0, None, 70.0, 64.0, None, 50.0, None, None]
    assert accepted["sex"].to_list()[1:3] == ["female", None]
    assert accepted["albumin"][5] is None and accepted["serum_calcium"][5] == 10.2
    assert report.tables["participants"].soft_range == {"serum_calcium": 1}
    assert report.tables["participants"].values_nulled == {
        "hard_range:age": 2,
        "invalid_code:sex": 2,
        "missing_required:age": 1,
        "unknown_unit:albumin": 1,
        "unparseable:age": 1,
    }


def test_row_policy_quarantines_value_problems(tmp_path: Path) -> None:
    mapping = write_tiny_study(tmp_path / "raw", "quarantine", PARTICIPANTS, EVENTS)
    text = mapping.read_text().replace("on_row_error:", "on_value_error: quarantine\non_row_error:")
    mapping.write_text(text)
    with pytest.warns(cc.DataQualityWarning):
        report = cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    assert _reasons(tmp_path / "cohort", "participants") == {
        2: ["hard_range:age"],
        3: ["invalid_code:sex"],
        5: ["duplicate_id"],
        6: ["unparseable:age"],
        7: ["unknown_unit:albumin"],
        8: ["missing_required:age"],
        9: ["hard_range:age", "invalid_code:sex"],
    }
    assert report.values_nulled == 0
    assert all(s.reconciles for s in report.sources)


def test_child_rows_checked_against_participants_and_dates(
    checked: tuple[IngestReport, Path],
) -> None:
    store = checked[1]
    assert _reasons(store, "events") == {
        3: ["event_after_death"],
        4: ["event_before_baseline"],
        5: ["unknown_participant"],
    }
    # a cause of death on an MI row costs the cause, not the MI
    assert _issues(store, "events") == [
        (7, "death_cause", "CAUSE", "non_cardiovascular", "death_cause_on_mi")
    ]
    assert _reasons(store, "followup") == {
        3: ["end_reason_contradicts_events"],  # P003 ended by "death" but has no death event
        5: ["unknown_participant"],
    }
    assert _reasons(store, "cac_lesions") == {}


def test_counts_reconcile_per_table_and_reason(checked: tuple[IngestReport, Path]) -> None:
    report, store = checked
    for name, counts in report.tables.items():
        assert counts.rows_read == counts.rows_written + counts.rows_quarantined, name
        quarantine = cc.read_store(store, quarantine=True)[name].collect()
        assert quarantine.height == counts.rows_quarantined
        exploded = quarantine["_reasons"].explode().drop_nulls().value_counts()
        assert dict(exploded.iter_rows()) == counts.reasons, name
        issues = pl.read_parquet(store / "_issues" / f"{name}.parquet")
        by_reason = issues.select(pl.format("{}:{}", "reason", "column")).to_series()
        assert dict(by_reason.value_counts().iter_rows()) == counts.values_nulled, name
    for source in report.sources:
        assert source.reconciles, source.path


def test_followup_end_before_baseline_and_after_death(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw, "quarantine")
    followup = pl.DataFrame(
        {
            "ID": ["P001", "P002", "P003"],
            "ENDDATE": [dt.date(2010, 1, 1), dt.date(2000, 1, 1), dt.date(2007, 3, 1)],
            "REASON": [3.0, 1.0, 3.0],
        }
    )
    pyreadstat.write_dta(followup.to_pandas(), str(raw / "followup.dta"))
    cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    assert _reasons(tmp_path / "cohort", "followup") == {
        1: ["end_after_death"],
        2: ["end_before_baseline"],
    }


def test_soft_range_values_warn_and_are_kept(tmp_path: Path) -> None:
    text = PARTICIPANTS.splitlines()
    mapping = write_tiny_study(
        tmp_path / "raw", "quarantine", "\n".join(text[:2] + text[4:5]) + "\n"
    )
    with pytest.warns(cc.DataQualityWarning, match=r"participants\.serum_calcium \(1\)"):
        report = cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    assert report.tables["participants"].rows_written == 2
