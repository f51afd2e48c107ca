"""`write_study_export`: the messy multi-format study export plus truth.json.

Files (see `sources.SOURCES`): SAS XPORT, CSV, Stata, Parquet, Excel and SPSS. The same
cohort and seed give byte-identical files: the creation stamps that ReadStat (xpt, dta, sav)
and XlsxWriter embed are pinned to the data-freeze date.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyreadstat
import xlsxwriter

from cohortcalc.errors import CohortcalcError
from cohortcalc.synth.cohort import SyntheticCohort
from cohortcalc.synth.mess import (
    added_row_defects,
    defects_per_kind,
    duplicate_rows,
    impossible_events,
    inject_impossible,
    inject_missing,
    insert_rows,
)
from cohortcalc.synth.sources import DATA_FREEZE, END_CODES, SOURCES, clean_source_frames

TRUTH_FILE = "truth.json"
_FREEZE = dt.date.fromisoformat(DATA_FREEZE)
_MONTH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY, _MON, _YEAR = f"{_FREEZE.day:02d}", _MONTH[_FREEZE.month - 1], _FREEZE.year
#: Creation stamps ReadStat writes (pattern -> pinned data-freeze replacement, same length).
_STAMPS: dict[str, tuple[bytes, bytes]] = {
    ".dta": (
        rb"<timestamp>\x11\d\d \w{3} \d{4} \d\d:\d\d</timestamp>",
        f"<timestamp>\x11{_DAY} {_MON} {_YEAR} 00:00</timestamp>".encode(),
    ),
    ".sav": (
        rb"\d\d \w{3} \d\d\d\d:\d\d:\d\d",
        f"{_DAY} {_MON} {_YEAR % 100:02d}00:00:00".encode(),
    ),
    ".xpt": (
        rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d",
        f"{_DAY}{_MON.upper()}{_YEAR % 100:02d}:00:00:00".encode(),
    ),
}
_HEADER_BYTES = 2048  # the stamps live in the first header records of each format


def pin_timestamp(path: Path) -> None:
    """Overwrite the creation stamp(s) in the file header with the data-freeze date."""
    pattern, pinned = _STAMPS[path.suffix]
    data = path.read_bytes()
    head, count = re.subn(pattern, pinned, data[:_HEADER_BYTES])
    if count == 0:
        raise CohortcalcError(
            f"{path.name}: no creation stamp found to pin; has pyreadstat changed its header?"
        )
    path.write_bytes(head + data[_HEADER_BYTES:])


def _labels(file: str, frame: pl.DataFrame) -> list[str]:
    columns = SOURCES[file]["columns"]
    return [columns[c]["description"][:40] for c in frame.columns]


def _to_pandas_with_dates(frame: pl.DataFrame) -> Any:
    """pandas frame whose Date columns hold datetime.date (ReadStat writes them as dates)."""
    pdf = frame.to_pandas()
    for name in frame.columns:
        if frame[name].dtype == pl.Date:
            pdf[name] = frame[name].to_list()
    return pdf


def _write_xlsx(frame: pl.DataFrame, path: Path) -> None:
    """One sheet 'events', header row, real Excel dates; row by row (constant memory)."""
    workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
    workbook.set_properties({"created": dt.datetime.combine(_FREEZE, dt.time())})
    sheet = workbook.add_worksheet("events")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, frame.columns)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
            elif value is not None:
                sheet.write(r, c, value)
    workbook.close()


def _write(file: str, frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix == ".parquet":
        frame.write_parquet(path)
    elif suffix == ".xlsx":
        _write_xlsx(frame, path)
    else:
        pdf, labels = _to_pandas_with_dates(frame), _labels(file, frame)
        if suffix == ".xpt":
            pyreadstat.write_xport(
                pdf, path, column_labels=labels, table_name="DEMOG", file_format_version=5
            )
        elif suffix == ".dta":
            pyreadstat.write_dta(pdf, path, column_labels=labels)
        else:
            value_labels = {"ENDSTAT": {float(c): r for r, c in END_CODES.items()}}
            pyreadstat.write_sav(
                pdf, path, column_labels=labels, variable_value_labels=value_labels
            )
        pin_timestamp(path)


def _add_rows(
    rng: np.random.Generator, frames: dict[str, pl.DataFrame], k: int
) -> dict[str, pl.DataFrame]:
    """Duplicates and impossible events; every frame gets `_kind` / `_source` helper columns."""
    demog = frames["mesa_demog.xpt"]
    out = {
        "mesa_demog.xpt": duplicate_rows(rng, demog, k, conflicting=None),
        "exam1_labs.dta": duplicate_rows(rng, frames["exam1_labs.dta"], k, "CREAT_UMOL"),
        "adjudicated_events.xlsx": impossible_events(
            rng, frames["adjudicated_events.xlsx"], demog.select("PTID", "EXAMDT"), k
        ),
    }
    empty = np.zeros(0, dtype=np.int64)
    for file, frame in frames.items():
        if file not in out:
            out[file] = insert_rows(frame, frame.clear(), empty, [])
    return {file: out[file] for file in frames}


def make_mess(
    rng: np.random.Generator, frames: dict[str, pl.DataFrame], k: int
) -> tuple[dict[str, pl.DataFrame], list[dict[str, Any]], list[dict[str, Any]]]:
    """(messy frames, defect records, missing-code records) from the clean source frames."""
    messy: dict[str, pl.DataFrame] = {}
    defects: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    for file, frame in _add_rows(rng, frames, k).items():
        defects += added_row_defects(file, frame)
        frame, impossible = inject_impossible(rng, file, frame, k)
        frame, codes = inject_missing(rng, file, frame, {d["row"] - 1 for d in impossible})
        defects += impossible
        missing += codes
        messy[file] = frame.drop("_kind", "_source")
    defects.sort(key=lambda d: (d["file"], d["row"], d["column"] or ""))
    return messy, defects, missing


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_study_export(
    cohort: SyntheticCohort,
    out_dir: str | Path,
    progress: Callable[[str], None] | None = None,
    style: str = "mesa",
) -> Path:
    """Write the messy study files and truth.json into `out_dir`; return `out_dir`.

    `progress(file_name)` is called after each file is written (the CLI draws a bar with it).
    `style`: "mesa" (six files, mapping `synthetic_study`) or "centre" (five files with no
    lesion numbers, end reasons or causes of death, per-row units, day-first dates and
    decimal commas; mapping `synthetic_centre`; see `cohortcalc.synth.centre`).
    """
    if style == "centre":
        from cohortcalc.synth.centre import write_centre_export

        return write_centre_export(cohort, out_dir)
    if style != "mesa":
        raise CohortcalcError(f"style must be 'mesa' or 'centre', got {style!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence(cohort.seed, spawn_key=(4,)))
    k = defects_per_kind(cohort.truth["n"])
    messy, defects, missing = make_mess(rng, clean_source_frames(cohort.tables), k)
    files: dict[str, dict[str, Any]] = {}
    for file, frame in messy.items():
        _write(file, frame, out / file)
        added = sum(1 for d in defects if d["file"] == file and d["column"] is None)
        files[file] = {
            "table": SOURCES[file]["table"],
            "rows": frame.height,
            "clean_rows": frame.height - added,
            "added_rows": added,
            "sha256": _sha256(out / file),
        }
        if progress is not None:
            progress(file)
    export = {
        "data_freeze": DATA_FREEZE,
        "row_convention": "row = 1-based data row in the file; the header row is not counted",
        "defects_per_kind": k,
        "files": files,
        "sources": SOURCES,
        "defect_counts": dict(sorted(Counter(d["kind"] for d in defects).items())),
        "defects": defects,
        "missing_values": missing,
    }
    truth = {**cohort.truth, "export": export}
    (out / TRUTH_FILE).write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    if progress is not None:
        progress(TRUTH_FILE)
    return out
