"""Issue 13's acceptance: a coordinating centre's export ingests with its mapping alone.

Five formats, no lesion numbers, no end reasons, no cause of death, a per-row unit column,
day-first text dates and decimal commas (``cohortcalc.synth.centre``). Every injected defect
must end where issue 13 says (a bad value in ``_issues/`` with its row kept; a row problem in
``_quarantine/``), and every count must reconcile: per file, per table, in the report and in
the CLI summary.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import cohortcalc as cc
from cohortcalc.cli import app
from cohortcalc.synth import simulate_cohort
from cohortcalc.synth.export import write_study_export

#: defect kind -> (where it must end, the reason there). Written from issue 13's rules.
EXPECTED = {
    "impossible_age": ("issues", "hard_range"),
    "negative_creatinine": ("issues", "hard_range"),
    "unknown_unit": ("issues", "unknown_unit"),
    "duplicate_exact": ("quarantine", "duplicate_row"),
    "duplicate_conflicting": ("quarantine", "duplicate_id"),
    "negative_area": ("quarantine", "hard_range:area_mm2"),  # the area defines a lesion row
    "event_before_baseline": ("quarantine", "event_before_baseline"),
    "death_before_baseline": ("quarantine", "event_before_baseline"),
    "event_after_death": ("quarantine", "event_after_death"),
    "impossible_date": ("quarantine", "unparseable_date:end_date"),
}
VALUE_COLUMN = {"CREAT_U": "CREAT"}  # an unknown unit costs the value of the column it qualifies


@pytest.fixture(scope="module")
def centre(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("centre")
    cohort = simulate_cohort(n=3000, seed=13)
    write_study_export(cohort, folder / "raw", style="centre")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.DataQualityWarning)
        report = cc.ingest(folder / "raw", mapping="synthetic_centre", out=folder / "cohort")
    truth = json.loads((folder / "raw" / "truth.json").read_text())["export"]
    store = folder / "cohort"
    return {
        "folder": folder,
        "cohort": cohort,
        "report": report,
        "truth": truth,
        "tables": {k: v.collect() for k, v in cc.read_store(store).items()},
        "quarantine": pl.concat(
            [
                f.select("_source_file", "_source_row", "_reasons").collect()
                for f in cc.read_store(store, quarantine=True).values()
            ]
        ),
        "issues": pl.read_parquet(store / "_issues" / "*.parquet", missing_columns="insert"),
    }


def test_every_defect_ends_where_issue_13_says(centre: dict[str, Any]) -> None:
    quarantine = {(f, r): set(rs) for f, r, rs in centre["quarantine"].iter_rows()}
    issues = {
        (f, r, c): why
        for f, r, c, why in centre["issues"]
        .select("_source_file", "_source_row", "source_column", "reason")
        .iter_rows()
    }
    for defect in centre["truth"]["defects"]:
        place, reason = EXPECTED[defect["kind"]]
        where = (defect["file"], defect["row"])
        if place == "quarantine":
            assert reason in quarantine.get(where, set()), defect
        else:
            column = VALUE_COLUMN.get(defect["column"], defect["column"])
            assert issues.get((*where, column)) == reason, defect
            assert where not in quarantine, f"a value problem cost its row: {defect}"


def test_nothing_else_is_quarantined_or_nulled(centre: dict[str, Any]) -> None:
    defects = centre["truth"]["defects"]
    rows = {(d["file"], d["row"]) for d in defects if EXPECTED[d["kind"]][0] == "quarantine"}
    followup = centre["folder"] / "raw" / "followup.xlsx"
    ids = pl.read_excel(followup, infer_schema_length=0)["ID"].to_list()
    dead_early = {d["participant_id"] for d in defects if d["kind"] == "death_before_baseline"}
    cascaded = {("followup.xlsx", ids.index(pid) + 1) for pid in dead_early}
    got = set(centre["quarantine"].select("_source_file", "_source_row").iter_rows())
    assert got == rows | cascaded
    death_rows = centre["quarantine"].filter(pl.col("_source_file") == "followup.xlsx")
    reasons = dict(zip(death_rows["_source_row"], death_rows["_reasons"].to_list(), strict=True))
    for where in cascaded:  # never read as censored: the row says why it is out
        assert reasons[where[1]] == ["death_event_quarantined"]
    values = {(d["file"], d["row"]) for d in defects if EXPECTED[d["kind"]][0] == "issues"}
    assert set(centre["issues"].select("_source_file", "_source_row").iter_rows()) == values
    assert centre["issues"].height == len(values)


def test_a_bad_value_keeps_the_rest_of_the_row(centre: dict[str, Any]) -> None:
    participants = centre["tables"]["participants"]
    clean = centre["cohort"].tables["participants"]
    joined = participants.join(clean, on="participant_id", suffix="_clean")
    assert participants.height == clean.height, "no participant lost to a bad value"
    bad_creatinine = {
        d["participant_id"]
        for d in centre["truth"]["defects"]
        if d["kind"] in ("negative_creatinine", "unknown_unit")
    }
    bad_age = {d["participant_id"] for d in centre["truth"]["defects"] if d["column"] == "AGE"}
    coded = set(centre["truth"]["missing_values"][0]["rows"])
    labs_ids = clean["participant_id"].to_list()
    phosphate_missing = {labs_ids[r - 1] for r in coded}
    for pid, age, creat, ca, phos, alb, c_age, c_creat, c_ca, c_phos, c_alb in joined.select(
        "participant_id",
        "age",
        "serum_creatinine",
        "serum_calcium",
        "serum_phosphate",
        "albumin",
        "age_clean",
        "serum_creatinine_clean",
        "serum_calcium_clean",
        "serum_phosphate_clean",
        "albumin_clean",
    ).iter_rows():
        assert (age is None) == (pid in bad_age) and (age is None or age == c_age), pid
        assert (creat is None) == (pid in bad_creatinine), pid
        # µmol/l values were written to 0.01 µmol/l: back in mg/dL within 0.005 / 88.4
        assert creat is None or abs(creat - c_creat) <= 0.005 / 88.4 + 1e-12, pid
        assert (ca, alb) == (c_ca, c_alb), pid
        assert (phos is None) == (pid in phosphate_missing) and (phos is None or phos == c_phos)


def test_derived_lesion_numbers_end_reasons_and_absent_cause(centre: dict[str, Any]) -> None:
    tables, clean = centre["tables"], centre["cohort"].tables
    lesions = tables["cac_lesions"].join(
        clean["cac_lesions"], on=["participant_id", "lesion_id"], suffix="_clean"
    )
    assert lesions.height == tables["cac_lesions"].height, "lesion_id numbers file order"
    assert (lesions["area_mm2"] - lesions["area_mm2_clean"]).abs().max() < 1e-9  # "12,5" read
    assert (lesions["artery"] == lesions["artery_clean"]).all()
    followup = tables["followup"].join(clean["followup"], on="participant_id", suffix="_clean")
    expected = followup["end_reason_clean"].replace_strict(
        {"death": "death", "administrative_end": "censored", "lost_to_follow_up": "censored"}
    )
    assert followup["end_reason"].to_list() == expected.to_list()
    assert (followup["end_date"] == followup["end_date_clean"]).all()  # "%d/%m/%Y" read
    assert tables["events"]["death_cause"].null_count() == tables["events"].height
    derived = {t.table: t.derived for t in centre["report"].tables.values()}
    assert derived["cac_lesions"] == ("lesion_id",) and derived["followup"] == ("end_reason",)


def test_counts_reconcile_per_file_table_report_and_cli(centre: dict[str, Any]) -> None:
    report, truth = centre["report"], centre["truth"]
    by_file = {Path(s.path).name: s for s in report.sources}
    for file, facts in truth["files"].items():
        record = by_file[file]
        assert record.rows_read == facts["rows"] == record.rows_accepted + record.rows_quarantined
        mine = centre["issues"].filter(pl.col("_source_file") == file)
        assert sum(record.values_nulled.values()) == mine.height, file
    assert by_file["labs.dta"].missing_codes == {
        "serum_phosphate": len(truth["missing_values"][0]["rows"])
    }
    for counts in report.tables.values():
        assert counts.reconciles, counts
    assert report.rows_quarantined == centre["quarantine"].height
    assert report.values_nulled == centre["issues"].height
    issues = cc.read_store(centre["folder"] / "cohort", issues=True)
    assert sum(f.collect().height for f in issues.values()) == report.values_nulled
    folder = centre["folder"]
    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "--mapping",
            "synthetic_centre",
            "--sources",
            str(folder / "raw"),
            "--out",
            str(folder / "again"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    summary = re.search(
        r"(\d+) row\(s\) quarantined, (\d+) value\(s\) nulled .*?, (\d+) missing code",
        result.output,
    )
    assert summary is not None, result.output
    assert int(summary[1]) == centre["quarantine"].height
    assert int(summary[2]) == centre["issues"].height
    assert int(summary[3]) == len(truth["missing_values"][0]["rows"])


def test_the_store_derives_outcomes(centre: dict[str, Any]) -> None:
    """Downstream sees absent optional variables as nulls and derived end reasons as usual."""
    tables = centre["tables"]
    followed = tables["participants"].join(tables["followup"], on="participant_id", how="semi")
    frame = cc.derive(
        followed,
        lesions=tables["cac_lesions"],
        events=tables["events"],
        followup=tables["followup"],
    )
    assert frame.height == followed.height
    assert {"cac_agatston", "mi_status", "death_status"} <= set(frame.columns)
    deaths = tables["followup"].filter(pl.col("end_reason") == "death").height
    assert int(frame["death_status"].sum()) == deaths
