"""The messy study export (cohortcalc/synth/export.py, mess.py, sources.py).

The strongest check: undoing exactly what truth.json lists (drop added rows, restore impossible
cells, null the missing codes, convert units) gives back the clean in-memory tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pyreadstat
import pytest
from polars.testing import assert_frame_equal, assert_series_equal
from typer.testing import CliRunner

from cohortcalc.cli import app
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export
from cohortcalc.synth.sources import SOURCES

N, SEED = 2_500, 5


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(n=N, seed=SEED)


@pytest.fixture(scope="module")
def export(cohort, tmp_path_factory) -> tuple[Path, dict]:
    out = write_study_export(cohort, tmp_path_factory.mktemp("export"))
    return out, json.loads((out / "truth.json").read_text())


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".xlsx":
        return pl.read_excel(path, sheet_name="events")
    reader = {".xpt": pyreadstat.read_xport, ".dta": pyreadstat.read_dta}
    frame, _ = reader.get(path.suffix, pyreadstat.read_sav)(path)
    return pl.from_pandas(frame)


def _undo(file: str, frame: pl.DataFrame, truth: dict) -> pl.DataFrame:
    """Apply truth.json in reverse: restore impossible cells, null codes, drop added rows."""
    export = truth["export"]
    frame = frame.with_row_index("_row", offset=1)
    for d in export["defects"]:
        if d["file"] == file and d["column"] is not None:
            restored = pl.when(pl.col("_row") == d["row"]).then(d["clean_value"])
            frame = frame.with_columns(restored.otherwise(pl.col(d["column"])).alias(d["column"]))
    for m in export["missing_values"]:
        if m["file"] == file:
            coded = pl.col("_row").is_in(m["rows"])
            frame = frame.with_columns(pl.when(~coded).then(pl.col(m["column"])).alias(m["column"]))
    added = [d["row"] for d in export["defects"] if d["file"] == file and d["column"] is None]
    return frame.filter(~pl.col("_row").is_in(added)).drop("_row")


def test_same_seed_gives_byte_identical_files_with_pinned_stamps(cohort, export, tmp_path):
    first, truth = export
    again = write_study_export(simulate_cohort(n=N, seed=SEED), tmp_path)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    assert len(names) == len(SOURCES) + 1
    for name in names:
        digest = hashlib.sha256((first / name).read_bytes()).hexdigest()
        assert digest == hashlib.sha256((again / name).read_bytes()).hexdigest(), name
        if name in truth["export"]["files"]:
            assert truth["export"]["files"][name]["sha256"] == digest
    for name, reader in [
        ("mesa_demog.xpt", pyreadstat.read_xport),
        ("exam1_labs.dta", pyreadstat.read_dta),
        ("followup_status.sav", pyreadstat.read_sav),
    ]:
        _, meta = reader(first / name, metadataonly=True)
        assert meta.creation_time == dt.datetime(2017, 3, 1), name


def test_sources_describe_every_column_and_row_counts_reconcile(export):
    out, truth = export
    files = truth["export"]["files"]
    for name, spec in truth["export"]["sources"].items():
        frame = _read(out / name)
        assert frame.columns == list(spec["columns"]), name
        added = sum(
            1 for d in truth["export"]["defects"] if d["file"] == name and d["column"] is None
        )
        assert frame.height == files[name]["rows"] == files[name]["clean_rows"] + added
        assert files[name]["clean_rows"] == truth["row_counts"][spec["table"]], name
    k = truth["export"]["defects_per_kind"]
    assert truth["export"]["defect_counts"] == {
        "duplicate_id_conflicting": k,
        "duplicate_id_exact": k,
        "event_after_death": k,
        "event_before_baseline": k,
        "impossible_value": 3 * k,
    }


def test_missing_codes_occur_exactly_where_listed(export):
    out, truth = export
    for m in truth["export"]["missing_values"]:
        column = _read(out / m["file"])[m["column"]].cast(pl.String)
        code = m["code"]
        hits = column.str.replace(r"\.0$", "").eq(code) if code != "." else column.eq(".")
        assert (hits.arg_true() + 1).to_list() == m["rows"], (m["file"], m["column"])
        assert m["count"] == len(m["rows"]) > 0


def test_undoing_the_listed_defects_gives_back_the_clean_tables(cohort, export):
    out, truth = export
    p = cohort.tables["participants"]
    demog = _undo("mesa_demog.xpt", _read(out / "mesa_demog.xpt"), truth)
    assert_series_equal(demog["PTID"], p["participant_id"], check_names=False)
    assert_series_equal(demog["AGE"], p["age"], check_names=False)
    assert demog["EXAMDT"].cast(pl.Date).equals(p["baseline_date"])

    labs = _undo("exam1_labs.dta", _read(out / "exam1_labs.dta"), truth)
    assert labs.height == N
    creat = (labs["CREAT_UMOL"] / 88.4).round(2)
    ok = labs["CREAT_UMOL"].is_not_null()
    assert_series_equal(creat.filter(ok), p["serum_creatinine"].filter(ok), check_names=False)
    to_mg = pl.when(pl.col("CA_UNIT") == "mmol/L").then(pl.col("CA_SERUM") * 4.008)
    calcium = labs.select(to_mg.otherwise(pl.col("CA_SERUM")).round(1))["CA_SERUM"]
    ok = calcium.is_not_null()
    assert_series_equal(calcium.filter(ok), p["serum_calcium"].filter(ok), check_names=False)
    assert set(labs.filter(pl.col("CA_UNIT") == "mmol/L")["PTID"]) == set(
        p.filter(pl.col("site").is_in(["LAX", "NYC", "STP"]))["participant_id"]
    )

    lesions = _undo("ct_lesions.parquet", _read(out / "ct_lesions.parquet"), truth)
    assert_series_equal(
        lesions["AREA_MM2"], cohort.tables["cac_lesions"]["area_mm2"], check_names=False
    )
    events = _undo("adjudicated_events.xlsx", _read(out / "adjudicated_events.xlsx"), truth)
    clean = cohort.tables["events"]
    assert_frame_equal(
        events.sort("PTID", "EVENT_DATE", "EVENT_TYPE"),
        clean.select(
            PTID="participant_id",
            EVENT_TYPE=pl.col("event").str.to_uppercase(),
            EVENT_DATE="event_date",
            DEATH_CAUSE=pl.col("death_cause").replace(
                {"cardiovascular": "CVD", "non_cardiovascular": "NON-CVD"}
            ),
        ).sort("PTID", "EVENT_DATE", "EVENT_TYPE"),
    )
    followup = _read(out / "followup_status.sav")
    assert followup["LASTDATE"].cast(pl.Date).equals(cohort.tables["followup"]["end_date"])


def test_listed_impossible_events_are_really_impossible(cohort, export):
    out, truth = export
    events = _read(out / "adjudicated_events.xlsx").with_row_index("row", offset=1)
    base = dict(cohort.tables["participants"].select("participant_id", "baseline_date").iter_rows())
    died = dict(cohort.tables["events"].filter(pl.col("event") == "death").select(
        "participant_id", "event_date").iter_rows())  # fmt: skip
    for d in truth["export"]["defects"]:
        if d["kind"] not in ("event_before_baseline", "event_after_death"):
            continue
        row = events.row(d["row"] - 1, named=True)
        assert row["PTID"] == d["participant_id"]
        if d["kind"] == "event_before_baseline":
            assert row["EVENT_DATE"] < base[row["PTID"]]
        else:
            assert row["EVENT_DATE"] > died[row["PTID"]]


def test_cli_simulate_writes_files_and_truth(tmp_path):
    result = CliRunner().invoke(
        app, ["simulate", "--n", "300", "--seed", "3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["n"] == 300 and truth["seed"] == 3
    assert {p.name for p in tmp_path.iterdir()} == set(SOURCES) | {"truth.json"}
    bad = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path), "--outcome-model", "x"])
    assert bad.exit_code != 0 and "outcome_model" in bad.output
