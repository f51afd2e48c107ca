"""End to end: the synthetic study's messy six-format export, ingested with the shipped mapping.

Known truth: truth.json lists every injected defect (file, row, kind, column) and every
missing-value code. Expected quarantine rows are computed from truth.json and from the raw files
read directly (pyreadstat/Polars), not from the ingest code.
"""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pyreadstat
import pytest

import cohortcalc as cc
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export

MAPPING = resources.files("cohortcalc") / "ingest" / "mappings" / "synthetic_study.yaml"
ROW_DEFINING = {  # the dictionary's keys and defines_row variables, written out independently
    "participants": {"participant_id", "baseline_date"},
    "cac_lesions": {"participant_id", "lesion_id", "area_mm2", "peak_hu"},
    "events": {"participant_id", "event", "event_date"},
    "followup": {"participant_id", "end_date", "end_reason"},
}
ADDED_ROW_REASONS = {
    "duplicate_id_exact": "duplicate_row",
    "duplicate_id_conflicting": "duplicate_id",
    "event_before_baseline": "event_before_baseline",
    "event_after_death": "event_after_death",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("synthetic_export")
    cohort = simulate_cohort(n=5000, seed=11)
    write_study_export(cohort, folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = cc.ingest(folder, mapping=str(MAPPING), out=folder / "cohort")
    truth = json.loads((folder / "truth.json").read_text())["export"]
    return {
        "folder": folder,
        "cohort": cohort,
        "report": report,
        "truth": truth,
        "warnings": [w.message for w in caught],
    }


def _raw_ids(path: Path) -> pl.Series:
    """PTID per 1-based data row, read straight from the file (not through ingest)."""
    readers = {".xpt": pyreadstat.read_xport, ".dta": pyreadstat.read_dta}
    readers[".sav"] = pyreadstat.read_sav
    if path.suffix in readers:
        return pl.Series(readers[path.suffix](str(path), usecols=["PTID"])[0]["PTID"])
    if path.suffix == ".xlsx":
        return pl.read_excel(path, columns=["PTID"])["PTID"]
    if path.suffix == ".parquet":
        return pl.read_parquet(path, columns=["PTID"])["PTID"]
    return pl.read_csv(path, columns=["PTID"], infer_schema=False)["PTID"]


def _expected_reason(defect: dict[str, Any], sources: dict[str, Any]) -> str:
    if defect["kind"] == "impossible_value":
        canonical = sources[defect["file"]]["columns"][defect["column"]]["canonical"]
        return f"hard_range:{canonical}"
    return ADDED_ROW_REASONS[defect["kind"]]


def _costs_the_row(defect: dict[str, Any], sources: dict[str, Any]) -> bool:
    """Row problems and value problems of a row-defining variable quarantine the row."""
    if defect["kind"] != "impossible_value":
        return True
    source = sources[defect["file"]]
    return source["columns"][defect["column"]]["canonical"] in ROW_DEFINING[source["table"]]


def _issues(store: Path) -> pl.DataFrame:
    return pl.read_parquet(store / "_issues" / "*.parquet", missing_columns="insert")


def _quarantine(store: Path) -> pl.DataFrame:
    frames = cc.read_store(store, quarantine=True)
    return pl.concat(
        [
            f.select("participant_id", "_source_file", "_source_row", "_reasons")
            for f in frames.values()
        ]
    ).collect()


def test_every_defect_ends_where_it_belongs(study: dict[str, Any]) -> None:
    """Row defects in the quarantine; a bad value in the issues table, its row kept."""
    truth, store = study["truth"], study["folder"] / "cohort"
    quarantine = _quarantine(store)
    reasons = {
        (f, r): set(rs)
        for f, r, rs in quarantine.select("_source_file", "_source_row", "_reasons").iter_rows()
    }
    issues = {
        (f, r, c): (v, why)
        for f, r, c, v, why in _issues(store)
        .select("_source_file", "_source_row", "source_column", "value", "reason")
        .iter_rows()
    }
    assert truth["defects"], "the export should contain defects"
    for defect in truth["defects"]:
        where = (defect["file"], defect["row"])
        if _costs_the_row(defect, truth["sources"]):
            assert where in reasons, f"defect not quarantined: {defect}"
            assert _expected_reason(defect, truth["sources"]) in reasons[where], defect
        else:
            assert where not in reasons, f"a bad value cost its row: {defect}"
            value, why = issues[(*where, defect["column"])]
            assert why == "hard_range" and float(value) == defect["value"], defect


def test_quarantine_and_issues_hold_exactly_the_defects(study: dict[str, Any]) -> None:
    truth, folder = study["truth"], study["folder"]
    quarantine = _quarantine(folder / "cohort")
    issues = _issues(folder / "cohort")
    for file in truth["files"]:
        defects = [d for d in truth["defects"] if d["file"] == file]
        rows = {d["row"] for d in defects if _costs_the_row(d, truth["sources"])}
        got = set(quarantine.filter(pl.col("_source_file") == file)["_source_row"].to_list())
        assert got == rows, file
        values = {(d["row"], d["column"]) for d in defects} - {(r, None) for r in rows}
        values = {v for v in values if v[0] not in rows}
        mine = issues.filter(pl.col("_source_file") == file)
        assert set(mine.select("_source_row", "source_column").iter_rows()) == values, file
    assert not quarantine["_reasons"].list.contains("participant_quarantined").any()


def test_counts_reconcile_with_truth(study: dict[str, Any]) -> None:
    truth, report = study["truth"], study["report"]
    by_file = {Path(s.path).name: s for s in report.sources}
    assert set(by_file) == set(truth["files"])
    for file, facts in truth["files"].items():
        record = by_file[file]
        assert record.rows_read == facts["rows"]
        assert record.rows_read == record.rows_accepted + record.rows_quarantined
        impossible = [d for d in truth["defects"] if d["file"] == file and d["column"]]
        nulled = [d for d in impossible if not _costs_the_row(d, truth["sources"])]
        assert sum(record.values_nulled.values()) == len(nulled), file
        codes = {m["column"]: m["count"] for m in truth["missing_values"] if m["file"] == file}
        columns = truth["sources"][file]["columns"]
        assert record.missing_codes == {
            columns[c]["canonical"]: n for c, n in codes.items() if n
        }, file
    for counts in report.tables.values():
        assert counts.reconciles, counts
    demog = truth["files"]["mesa_demog.xpt"]
    assert report.tables["participants"].rows_written == demog["clean_rows"]
    kinds = truth["defect_counts"]
    reasons = report.tables["participants"].reasons
    assert reasons["duplicate_row"] == kinds["duplicate_id_exact"]
    assert reasons["duplicate_id"] == kinds["duplicate_id_conflicting"]
    nulled = report.tables["participants"].values_nulled
    assert nulled["hard_range:age"] + nulled["hard_range:serum_creatinine"] == sum(
        1 for d in truth["defects"] if d["column"] in ("AGE", "CREAT_UMOL")
    )
    events = report.tables["events"].reasons
    for kind in ("event_before_baseline", "event_after_death"):
        assert events[kind] == kinds[kind]


def test_accepted_values_equal_the_clean_cohort(study: dict[str, Any]) -> None:
    tables = {k: v.collect() for k, v in cc.read_store(study["folder"] / "cohort").items()}
    clean = study["cohort"].tables["participants"]
    got = tables["participants"]
    joined = got.join(clean, on="participant_id", suffix="_clean", how="left")
    assert joined.height == got.height
    assert joined["site_clean"].null_count() == 0, "every accepted id is a real participant"
    tolerance = {"serum_calcium": 0.021}  # mmol/L rounded to 0.01 before export
    for var in got.columns[1:]:
        if var not in clean.columns:  # a dictionary variable this study does not export
            assert got[var].null_count() == got.height, var
            continue
        pair = joined.select(var, f"{var}_clean").drop_nulls()
        assert pair.height >= 0.9 * got.height, var
        if got[var].dtype == pl.Float64:
            diff = (pair[var] - pair[f"{var}_clean"]).abs().max()
            assert diff <= tolerance.get(var, 1e-6), var
        else:
            assert (pair[var] == pair[f"{var}_clean"]).all(), var


def test_missing_codes_become_nulls(study: dict[str, Any]) -> None:
    truth, folder = study["truth"], study["folder"]
    participants = cc.read_store(folder / "cohort")["participants"].collect()
    for record in truth["missing_values"]:
        canonical = truth["sources"][record["file"]]["columns"][record["column"]]["canonical"]
        ids = _raw_ids(folder / record["file"])
        coded = {ids[row - 1] for row in record["rows"]}
        nulled = {  # impossible values become nulls too; nothing else does
            d["participant_id"]
            for d in truth["defects"]
            if d["file"] == record["file"] and d["column"] == record["column"]
        }
        assert participants[canonical].null_count() == len(coded | nulled), canonical


def test_other_tables_match_the_clean_cohort(study: dict[str, Any]) -> None:
    truth = study["truth"]
    store = {k: v.collect() for k, v in cc.read_store(study["folder"] / "cohort").items()}
    bad_lesion_rows = [d["row"] for d in truth["defects"] if d["file"] == "ct_lesions.parquet"]
    for name in ("events", "followup", "cac_lesions"):
        clean = study["cohort"].tables[name].with_row_index("_row", offset=1)
        if name == "cac_lesions":  # no added rows: file row = clean row
            clean = clean.filter(~pl.col("_row").is_in(bad_lesion_rows))
        clean = clean.drop("_row").cast(dict(store[name].schema))  # type: ignore[arg-type]
        assert (
            store[name]
            .sort(store[name].columns)
            .equals(clean.select(store[name].columns).sort(store[name].columns))
        ), name


def test_reingest_is_byte_identical(study: dict[str, Any]) -> None:
    folder = study["folder"]
    again = cc.ingest(folder, mapping=str(MAPPING), out=folder / "again").out
    for path in (folder / "cohort").rglob("*.parquet"):
        twin = again / path.relative_to(folder / "cohort")
        assert path.read_bytes() == twin.read_bytes(), path.name


def test_streaming_path_gives_the_same_store(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large inputs stream through scratch Parquet files; force that path and compare."""
    from cohortcalc.ingest import pipeline, tables

    monkeypatch.setattr(pipeline, "IN_MEMORY_MAX_BYTES", 0)
    monkeypatch.setattr(tables, "IN_MEMORY_MAX_ROWS", 0)
    folder = study["folder"]
    streamed = cc.ingest(folder, mapping=str(MAPPING), out=folder / "streamed")
    assert streamed.tables == study["report"].tables
    for quarantine in (False, True):
        expected = cc.read_store(folder / "cohort", quarantine=quarantine)
        got = cc.read_store(folder / "streamed", quarantine=quarantine)
        for name, frame in expected.items():
            assert got[name].collect().equals(frame.collect()), (name, quarantine)
    for path in (folder / "cohort" / "_issues").glob("*.parquet"):
        twin = folder / "streamed" / "_issues" / path.name
        assert pl.read_parquet(path).equals(pl.read_parquet(twin)), path.name


def test_soft_range_warning_matches_the_report(study: dict[str, Any]) -> None:
    soft = {
        f"{t.table}.{var}": n
        for t in study["report"].tables.values()
        for var, n in t.soft_range.items()
    }
    quality = [w for w in study["warnings"] if isinstance(w, cc.DataQualityWarning)]
    assert len(quality) == (1 if soft else 0)
    for name, n in soft.items():
        assert f"{name} ({n})" in str(quality[0])
