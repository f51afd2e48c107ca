"""`cohortcalc report`: Table 1 and the curves written from an analysis frame."""

from __future__ import annotations

import csv
import io
from pathlib import Path

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
    assert "<11" not in (out / "table1.md").read_text()  # no small cell in this cohort


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


def test_min_cell_defaults_to_11_and_hides_a_count_everywhere_it_would_reveal(
    cohort, tmp_path, monkeypatch
):
    # five participants in a group of their own: "<11" in Table 1, and the other group's N
    # (overall minus five) must hide too, in Table 1 and as its number at risk at time 0
    import polars as pl

    from cohortcalc.analysis import frame_report

    frame = cohort.with_columns(
        pl.when(pl.int_range(pl.len()) < 5).then(pl.lit("tiny")).otherwise(pl.lit("big"))
        .alias("grp")
    )  # fmt: skip
    path = tmp_path / "frame.parquet"
    frame.write_parquet(path)
    figures = []
    monkeypatch.setattr(
        frame_report, "save_figure", lambda figure, *a, **k: figures.append(figure) or []
    )
    out = tmp_path / "report"
    args = ["report", str(path), "--out", str(out), "--by", "grp", "--also-by", "grp"]
    result = CliRunner().invoke(app, [*args, "--table-formats", "csv"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO((out / "table1.csv").read_text())))
    counts = table[0]
    assert counts["Tiny"] == "<11"
    shown = [counts[c] for c in ("Overall", "Big")]
    assert "[c]" in shown  # the total or the other group: one must hide, or 1,500 - 1,495 = 5
    hidden = "Overall" if counts["Overall"] == "[c]" else "Big"
    female = next(row for row in table if row["Characteristic"].strip() == "Female")
    assert female[hidden].endswith("(—)")  # its percentages would give the N back
    at_risk = [t.get_text() for t in figures[0].axes[1].texts]
    assert "<11" in at_risk  # the same small count, hidden in the figure too
    assert (counts["Big"] in at_risk) == (counts["Big"] != "[c]")


def test_min_cell_follows_the_spec_and_zero_turns_it_off(cohort, tmp_path):
    import yaml

    frame = tmp_path / "frame.parquet"
    cohort.write_parquet(frame)
    spec = tmp_path / "spec.yaml"
    headline = yaml.safe_load(Path("analyses/cac_mi_ckd.yaml").read_text())
    spec.write_text(yaml.safe_dump(headline | {"small_cell_threshold": 2000}))
    args = ["report", str(frame), "--table-formats", "csv", "--figure-formats", "png"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a"), "--spec", str(spec)])
    assert result.exit_code == 0, result.output
    assert "<2000" in (tmp_path / "a" / "table1.csv").read_text()
    off = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--min-cell", "0"])
    assert off.exit_code == 0, off.output
    text = (tmp_path / "b" / "table1.csv").read_text()
    assert "<" not in text.replace("<0.001", "") and "[c]" not in text
