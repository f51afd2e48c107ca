"""A coordinating centre's export: five files that ingest with a mapping alone (issue 13).

``write_centre_export(cohort, out_dir)`` (also ``write_study_export(..., style="centre")``)
writes what studies really hand over, with what they really leave out:

- ``baseline.xpt``   SAS transport: ID, CENTRE (text), VISITDT, AGE, SEX (M/F), DIABETES.
- ``labs.dta``       Stata: ID, CREAT with a per-row unit column CREAT_U (µmol/l or mg/dl),
                     CA (mg/dL), PHOS (-9 = missing), ALB (g/dL).
- ``lesions.csv``    ';'-separated, latin-1, decimal commas (SURFACE "12,5" mm²), a reader
                     name with accents; no lesion numbers.
- ``events.sav``     SPSS: ID, EVTYPE (1 MI, 2 death; value labels), EVDATE; no cause of death.
- ``followup.xlsx``  Excel: ID, LASTCONTACT as day-first text ("31/12/2016"); no end reason.

Defects (``defects_per_kind`` of each, every one listed in truth.json with file, 1-based data
row, column and kind): ``impossible_age`` (AGE 213), ``duplicate_exact`` (a baseline row
repeated), ``negative_creatinine``, ``unknown_unit`` (CREAT_U "mmol/L"),
``duplicate_conflicting`` (a labs row repeated with another CREAT), ``negative_area``,
``event_before_baseline`` / ``event_after_death`` (added MI rows), ``death_before_baseline``
(a death row moved before baseline: that participant's follow-up must not read as censored),
``impossible_date`` (LASTCONTACT "31/02/yyyy"). The mapping is
``cohortcalc/ingest/mappings/synthetic_centre.yaml``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyreadstat
import xlsxwriter

from cohortcalc.synth.cohort import SyntheticCohort
from cohortcalc.synth.export import TRUTH_FILE, pin_timestamp
from cohortcalc.synth.mess import defects_per_kind
from cohortcalc.synth.sources import CREATININE_UMOL_PER_MG_DL, DATA_FREEZE

READERS = ("Dr Müller", "Dr Pérez", "Dr Søndergaard", "Dr Okafor")
EVENT_CODES = {"mi": 1, "death": 2}


def _defect(file: str, row: int, pid: str, column: str | None, kind: str, value: Any) -> dict:
    value = value.isoformat() if isinstance(value, dt.date) else value
    return {
        "file": file,
        "row": row,
        "participant_id": pid,
        "column": column,
        "kind": kind,
        "value": value,
    }


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int, taken: set[int]) -> np.ndarray:
    free = np.setdiff1d(pool, np.fromiter(taken, dtype=np.int64, count=len(taken)))
    chosen = np.sort(rng.choice(free, size=k, replace=False))
    taken.update(chosen.tolist())
    return chosen


def _with_added(frame: pl.DataFrame, added: pl.DataFrame, after: np.ndarray) -> pl.DataFrame:
    """``added`` rows placed after 0-based rows ``after``; ``_added`` marks them."""
    keyed = frame.with_columns(_key=pl.int_range(pl.len(), dtype=pl.Int64) * 2, _added=False)
    extra = added.with_columns(_key=pl.Series(after.astype(np.int64) * 2 + 1), _added=True)
    return pl.concat([keyed, extra]).sort("_key", maintain_order=True).drop("_key")


def _added_rows(file: str, frame: pl.DataFrame, kinds: list[str]) -> list[dict]:
    rows = frame.with_row_index("_row", offset=1).filter("_added")
    return [
        _defect(file, int(r), pid, None, kind, None)
        for r, pid, kind in zip(rows["_row"], rows["ID"], kinds, strict=True)
    ]


def _baseline(rng: np.random.Generator, p: pl.DataFrame, k: int) -> tuple[pl.DataFrame, list]:
    frame = p.select(
        ID="participant_id",
        CENTRE="site",
        VISITDT="baseline_date",
        AGE="age",
        SEX=pl.when(pl.col("sex") == "male").then(pl.lit("M")).otherwise(pl.lit("F")),
        DIABETES=pl.col("diabetes").cast(pl.Int64),
    )
    bad = _pick(rng, np.arange(frame.height), k, set())
    age = frame["AGE"].to_numpy().copy()
    age[bad] = 213.0
    frame = frame.with_columns(AGE=pl.Series(age))
    defects = [_defect("baseline.xpt", 0, "", "AGE", "impossible_age", 213.0) for _ in bad]
    repeat = _pick(rng, np.arange(frame.height), k, set(bad.tolist()))
    frame = _with_added(frame, frame[repeat], repeat + rng.integers(0, 50, k))
    rows = frame.with_row_index("_row", offset=1)
    for defect, (row, pid) in zip(
        defects, rows.filter(pl.col("AGE") == 213.0).select("_row", "ID").iter_rows(), strict=True
    ):
        defect.update(row=int(row), participant_id=pid)
    defects += _added_rows("baseline.xpt", frame, ["duplicate_exact"] * k)
    return frame.drop("_added"), defects


def _labs(rng: np.random.Generator, p: pl.DataFrame, k: int) -> tuple[pl.DataFrame, list, dict]:
    umol = rng.random(p.height) < 0.5
    creat = p["serum_creatinine"].to_numpy()
    frame = pl.DataFrame(
        {
            "ID": p["participant_id"],
            "CREAT": np.where(umol, np.round(creat * CREATININE_UMOL_PER_MG_DL, 2), creat),
            "CREAT_U": np.where(umol, "µmol/l", "mg/dl"),
            "CA": p["serum_calcium"],
            "PHOS": p["serum_phosphate"],
            "ALB": p["albumin"],
        }
    )
    taken: set[int] = set()
    negative = _pick(rng, np.arange(frame.height), k, taken)
    unknown = _pick(rng, np.arange(frame.height), k, taken)
    coded = _pick(rng, np.arange(frame.height), max(1, round(0.01 * frame.height)), taken)
    values, units = frame["CREAT"].to_numpy().copy(), frame["CREAT_U"].to_numpy().copy()
    phos = frame["PHOS"].to_numpy().copy()
    values[negative] *= -1
    units[unknown] = "mmol/L"
    phos[coded] = -9.0
    frame = frame.with_columns(
        CREAT=pl.Series(values), CREAT_U=pl.Series(units), PHOS=pl.Series(phos)
    )
    file = "labs.dta"
    defects = [
        _defect(
            file, int(r) + 1, frame["ID"][int(r)], "CREAT", "negative_creatinine", float(values[r])
        )
        for r in negative
    ]
    defects += [
        _defect(file, int(r) + 1, frame["ID"][int(r)], "CREAT_U", "unknown_unit", "mmol/L")
        for r in unknown
    ]
    missing = {
        "file": file,
        "column": "PHOS",
        "code": "-9",
        "count": int(coded.size),
        "rows": (coded + 1).tolist(),
    }
    # conflicting repeats are added at the end, so the rows above keep their numbers
    repeat = _pick(rng, np.arange(frame.height), k, taken)
    added = frame[repeat].with_columns(pl.col("CREAT") * 1.1)
    frame = _with_added(frame, added, np.full(k, frame.height - 1))
    defects += _added_rows(file, frame, ["duplicate_conflicting"] * k)
    return frame.drop("_added"), defects, missing


def _lesions(rng: np.random.Generator, lesions: pl.DataFrame, k: int) -> tuple[pl.DataFrame, list]:
    bad = _pick(rng, np.arange(lesions.height), k, set())
    area = lesions["area_mm2"].to_numpy().copy()
    area[bad] *= -1
    frame = lesions.select(
        ID="participant_id",
        ARTERY="artery",
        SURFACE=pl.Series(area).map_elements(lambda a: f"{a:.1f}".replace(".", ","), pl.String),
        HU_MAX=pl.col("peak_hu").cast(pl.Int64),
        READER=pl.Series(rng.choice(READERS, lesions.height)),
    )
    defects = [
        _defect(
            "lesions.csv",
            int(r) + 1,
            frame["ID"][int(r)],
            "SURFACE",
            "negative_area",
            frame["SURFACE"][int(r)],
        )
        for r in bad
    ]
    return frame, defects


def _events(
    rng: np.random.Generator, events: pl.DataFrame, p: pl.DataFrame, k: int
) -> tuple[pl.DataFrame, list]:
    frame = events.select(
        ID="participant_id",
        EVTYPE=pl.col("event").replace_strict(EVENT_CODES, return_dtype=pl.Int64),
        EVDATE="event_date",
    )
    baseline = dict(zip(p["participant_id"], p["baseline_date"], strict=True))
    deaths = np.flatnonzero((frame["EVTYPE"] == 2).to_numpy())
    taken: set[int] = set()
    moved = _pick(rng, deaths, k, taken)
    dates = frame["EVDATE"].to_list()
    for r in moved:
        dates[r] = baseline[frame["ID"][int(r)]] - dt.timedelta(days=int(rng.integers(30, 900)))
    frame = frame.with_columns(EVDATE=pl.Series(dates, dtype=pl.Date))
    after = _pick(rng, deaths, k, taken)
    early = p[np.sort(rng.choice(p.height, k, replace=False))]
    added = pl.concat(
        [
            early.select(
                ID="participant_id",
                EVTYPE=pl.lit(1, pl.Int64),
                EVDATE=pl.col("baseline_date") - pl.duration(days=400),
            ),
            frame[after].with_columns(
                EVTYPE=pl.lit(1, pl.Int64), EVDATE=pl.col("EVDATE") + pl.duration(days=200)
            ),
        ]
    )
    frame = _with_added(frame, added, np.full(2 * k, frame.height - 1))
    file = "events.sav"
    defects = [
        _defect(file, int(r) + 1, frame["ID"][int(r)], "EVDATE", "death_before_baseline", dates[r])
        for r in moved
    ]
    defects += _added_rows(file, frame, ["event_before_baseline"] * k + ["event_after_death"] * k)
    return frame.drop("_added"), defects


def _followup(
    rng: np.random.Generator, followup: pl.DataFrame, k: int, avoid: set[str]
) -> tuple[pl.DataFrame, list]:
    text = followup["end_date"].dt.strftime("%d/%m/%Y").to_numpy().copy()
    pool = np.flatnonzero(~followup["participant_id"].is_in(list(avoid)).to_numpy())
    bad = _pick(rng, pool, k, set())
    for r in bad:
        text[r] = f"31/02/{followup['end_date'][int(r)].year}"
    frame = pl.DataFrame({"ID": followup["participant_id"], "LASTCONTACT": text})
    defects = [
        _defect(
            "followup.xlsx",
            int(r) + 1,
            frame["ID"][int(r)],
            "LASTCONTACT",
            "impossible_date",
            str(text[r]),
        )
        for r in bad
    ]
    return frame, defects


def _write_files(frames: dict[str, pl.DataFrame], out: Path) -> None:
    def pandas(frame: pl.DataFrame) -> Any:
        pdf = frame.to_pandas()
        for name in frame.columns:
            if frame[name].dtype == pl.Date:
                pdf[name] = frame[name].to_list()
        return pdf

    pyreadstat.write_xport(
        pandas(frames["baseline.xpt"]),
        out / "baseline.xpt",
        table_name="BASELINE",
        file_format_version=5,
    )
    pyreadstat.write_dta(pandas(frames["labs.dta"]), out / "labs.dta")
    pyreadstat.write_sav(
        pandas(frames["events.sav"]),
        out / "events.sav",
        variable_value_labels={"EVTYPE": {1.0: "MI", 2.0: "Death"}},
    )
    for name in ("baseline.xpt", "labs.dta", "events.sav"):
        pin_timestamp(out / name)
    text = frames["lesions.csv"].write_csv(separator=";")
    (out / "lesions.csv").write_bytes(text.encode("latin-1"))
    freeze = dt.datetime.combine(dt.date.fromisoformat(DATA_FREEZE), dt.time())
    workbook = xlsxwriter.Workbook(out / "followup.xlsx", {"constant_memory": True})
    workbook.set_properties({"created": freeze})
    sheet = workbook.add_worksheet("followup")
    sheet.write_row(0, 0, frames["followup.xlsx"].columns)
    for r, row in enumerate(frames["followup.xlsx"].iter_rows(), start=1):
        sheet.write_string(r, 0, row[0])
        sheet.write_string(r, 1, row[1])
    workbook.close()


def write_centre_export(cohort: SyntheticCohort, out_dir: str | Path) -> Path:
    """Write the five centre files and truth.json (defects, missing codes) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence(cohort.seed, spawn_key=(13,)))
    tables = cohort.tables
    k = defects_per_kind(cohort.truth["n"])
    p = tables["participants"]
    frames: dict[str, pl.DataFrame] = {}
    frames["baseline.xpt"], defects = _baseline(rng, p, k)
    frames["labs.dta"], found, missing = _labs(rng, p, k)
    defects += found
    frames["lesions.csv"], found = _lesions(rng, tables["cac_lesions"], k)
    defects += found
    frames["events.sav"], found = _events(rng, tables["events"], p, k)
    defects += found
    dead_early = {d["participant_id"] for d in found if d["kind"] == "death_before_baseline"}
    frames["followup.xlsx"], found = _followup(rng, tables["followup"], k, dead_early)
    defects += found
    _write_files(frames, out)
    files = {name: {"rows": frame.height} for name, frame in frames.items()}
    truth = {
        **cohort.truth,
        "export": {
            "style": "centre",
            "row_convention": "row = 1-based data row in the file; the header row is not counted",
            "defects_per_kind": k,
            "files": files,
            "defects": sorted(defects, key=lambda d: (d["file"], d["row"], d["column"] or "")),
            "missing_values": [missing],
        },
    }
    (out / TRUTH_FILE).write_text(json.dumps(truth, indent=1) + "\n")
    return out
