"""A small, hand-made study in several formats, with its mapping, for the ingest tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pyreadstat
import pytest

MAPPING = """\
mapping_version: "test-1"
study: tiny_study
missing_codes: [-9, 999, "."]
on_row_error: {policy}
sources:
  - file: participants.csv
    table: participants
    columns:
      participant_id: ID
      site: CENTER
      baseline_date: {{column: VISIT, date_format: "%d/%m/%Y"}}
      age: AGE
      sex: {{column: SEX, codes: {{1: male, 2: female}}}}
      serum_calcium: {{column: CA, unit_by: {{column: CENTER, units: {{A: mg/dL, B: mmol/L}}}}}}
      serum_creatinine: {{column: CREAT, unit: umol/L}}
      albumin: {{column: ALB, unit_column: ALB_UNIT}}
      diabetes: DM
  - file: events.parquet
    table: events
    columns:
      participant_id: ID
      event: {{column: TYPE, codes: {{1: mi, 2: death}}}}
      event_date: DATE
      death_cause: {{column: CAUSE, codes: {{CV: cardiovascular, NCV: non_cardiovascular}}}}
  - file: followup.dta
    table: followup
    columns:
      participant_id: ID
      end_date: ENDDATE
      end_reason:
        column: REASON
        codes: {{1: administrative_end, 2: lost_to_follow_up, 3: death}}
  - file: lesions.sav
    table: cac_lesions
    columns:
      participant_id: ID
      artery: ARTERY
      lesion_id: LESION
      area_mm2: AREA
      peak_hu: PEAK
"""


def _d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


PARTICIPANTS_CSV = """\
ID,CENTER,VISIT,AGE,SEX,CA,CREAT,ALB,ALB_UNIT,DM
P001,A,15/03/2001,61,1,9.5,88.42,4.1,g/dL,1
P002,A,16/03/2001,55,2,9.1,70.7,40,g/L,0
P003,B,17/03/2001,70,1,2.4,106.1,3.9,g/dL,0
P004,B,18/03/2001,64,2,2.2,-9,38,g/L,1
P005,A,19/03/2001,49,1,10.2,.,4.3,g/dL,0
"""


EVENTS = {
    "ID": ["P001", "P002", "P003", "P001"],
    "TYPE": [1, 1, 2, 2],
    "DATE": [_d("2005-01-01"), _d("2006-02-01"), _d("2007-03-01"), _d("2009-01-01")],
    "CAUSE": [None, None, "CV", "NCV"],
}


def write_tiny_study(
    folder: Path,
    policy: str = "error",
    participants: str = PARTICIPANTS_CSV,
    events: dict[str, list[Any]] | None = None,
) -> Path:
    """Write the tiny study's files and mapping into ``folder``; return the mapping path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "participants.csv").write_text(participants, encoding="utf-8")
    pl.DataFrame(events or EVENTS).write_parquet(folder / "events.parquet")
    followup = pl.DataFrame(
        {
            "ID": ["P001", "P002", "P003", "P004", "P005"],
            "ENDDATE": [
                _d(t)
                for t in ("2009-01-01", "2012-01-01", "2007-03-01", "2010-05-05", "2012-01-01")
            ],
            "REASON": [3.0, 1.0, 3.0, 2.0, 1.0],
        }
    ).to_pandas()
    pyreadstat.write_dta(followup, str(folder / "followup.dta"))
    lesions = pl.DataFrame(
        {
            "ID": ["P001", "P001", "P003"],
            "ARTERY": ["LAD", "RCA", "LM"],
            "LESION": [1.0, 2.0, 1.0],
            "AREA": [4.5, 2.0, 10.0],
            "PEAK": [250.0, 410.0, 180.0],
        }
    ).to_pandas()
    pyreadstat.write_sav(lesions, str(folder / "lesions.sav"))
    mapping = folder / "study.yaml"
    mapping.write_text(MAPPING.format(policy=policy), encoding="utf-8")
    return mapping


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    """The mapping path of a freshly written tiny study."""
    return write_tiny_study(tmp_path / "raw")
