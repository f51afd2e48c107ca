"""`cohortcalc report`: Table 1 and the curves written from an analysis frame."""

from __future__ import annotations

from typer.testing import CliRunner

from cohortcalc.cli import app


def test_report_writes_tables_and_figures(cohort, tmp_path):
    frame = tmp_path / "frame.parquet"
    cohort.write_parquet(frame)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["report", str(frame), "--out", str(out), "--min-cell", "11", "--figure-formats", "png"],
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f"table1.{s}" for s in ("csv", "md", "html", "tex", "docx")]
        + ["cif_mi_status_by_cac_category.png", "cif_mi_status_by_ckd.png"]
    )
    assert "Counts from 1 to 10" in (out / "table1.md").read_text()


def test_report_binary_event_draws_kaplan_meier(cohort, tmp_path):
    frame = tmp_path / "frame.parquet"
    cohort.write_parquet(frame)
    args = [
        "report",
        str(frame),
        "--out",
        str(tmp_path),
        "--event",
        "death_status",
        "--also-by",
        "sex",
    ]
    result = CliRunner().invoke(app, [*args, "--table-formats", "csv", "--figure-formats", "svg"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "km_death_status_by_sex.svg").exists()
    assert not (tmp_path / "km_death_status_by_ckd.svg").exists()


def test_report_bad_input_exits_non_zero(tmp_path):
    result = CliRunner().invoke(
        app, ["report", str(tmp_path / "nope.parquet"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no such Parquet file" in result.output
