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


def test_participant_rows_quarantined_with_every_reason(checked: tuple[IngestReport, Path]) -> None:
    assert _reasons(checked[1], "participants") == {
        2: ["hard_range:age"],
        3: ["invalid_code:sex"],
        5: ["duplicate_id"],
        6: ["unparseable:age", "missing_required:age"],
        7: ["unknown_unit:albumin"],
        8: ["missing_required:age"],
        9: ["hard_range:age", "invalid_code:sex"],
    }


def test_accepted_participants_and_soft_range(checked: tuple[IngestReport, Path]) -> None:
    report, store = checked
    accepted = cc.read_store(store)["participants"].collect()
    assert accepted["participant_id"].to_list() == ["P001", "P004"]
    assert accepted["age"].to_list() == [61.0, 64.0], "the first P001 row is the one kept"
    assert report.tables["participants"].soft_range == {"serum_calcium": 1}


def test_child_rows_checked_against_participants_and_dates(
    checked: tuple[IngestReport, Path],
) -> None:
    store = checked[1]
    assert _reasons(store, "events") == {
        3: ["event_after_death"],
        4: ["event_before_baseline"],
        5: ["unknown_participant"],
        6: ["participant_quarantined"],
        7: ["death_cause_on_mi"],
    }
    assert _reasons(store, "followup") == {
        2: ["participant_quarantined"],
        3: ["participant_quarantined"],
        5: ["unknown_participant"],
    }
    assert _reasons(store, "cac_lesions") == {3: ["participant_quarantined"]}


def test_counts_reconcile_per_table_and_reason(checked: tuple[IngestReport, Path]) -> None:
    report, store = checked
    for name, counts in report.tables.items():
        assert counts.rows_read == counts.rows_written + counts.rows_quarantined, name
        quarantine = cc.read_store(store, quarantine=True)[name].collect()
        assert quarantine.height == counts.rows_quarantined
        exploded = quarantine["_reasons"].explode().value_counts()
        assert dict(exploded.iter_rows()) == counts.reasons, name
    assert report.tables["participants"].reasons["hard_range:age"] == 2


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
