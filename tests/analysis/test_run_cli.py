"""`cohortcalc run` and `cohortcalc validate`: exit codes, the printed result paths, errors."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from cohortcalc.cli import app

RUNNER = CliRunner()


def _write(tmp_path, spec) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def test_run_prints_where_the_results_are(small_spec, tmp_path):
    spec = small_spec(effect_modifiers=[], sensitivity=[])
    spec["outcomes"][0]["methods"] = ["cox"]
    spec["outputs"]["figures"] = []
    out = tmp_path / "out"
    result = RUNNER.invoke(app, ["run", _write(tmp_path, spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Report:   {out / 'report.html'}" in result.output
    assert "Fit models" in result.output
    assert (out / "report.html").is_file() and (out / "manifest.json").is_file()


def test_run_reports_spec_errors_with_their_line(small_spec, tmp_path):
    spec = small_spec()
    spec["outcomes"][0]["tiem"] = "mi_years"
    result = RUNNER.invoke(app, ["run", _write(tmp_path, spec), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "run failed" in result.output and "unknown key 'tiem'" in result.output
    assert "line " in result.output
    assert not (tmp_path / "o").exists()


def test_run_needs_a_spec_or_example():
    result = RUNNER.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "--example" in result.output


def test_validate_prints_the_table_and_fails_loudly(tmp_path):
    result = RUNNER.invoke(
        app, ["validate", "--replicates", "3", "--n", "1000", "--out", str(tmp_path)]
    )
    assert "coverage" in result.output and "cac_gt_400" in result.output
    assert (tmp_path / "validation.csv").is_file()
    assert result.exit_code == 0, result.output
    assert "more than" not in result.output


def test_run_example_uses_the_packaged_spec(small_spec, tmp_path, monkeypatch):
    import cohortcalc.analysis

    spec = small_spec(effect_modifiers=[], sensitivity=[])
    spec["outcomes"][0]["methods"] = ["cox"]
    spec["outputs"]["figures"] = []
    path = _write(tmp_path, spec)
    monkeypatch.setattr(cohortcalc.analysis, "example_spec", lambda: path)
    result = RUNNER.invoke(app, ["run", "--example", "--out", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ex" / "tables" / "hr_mi_cox.csv").is_file()
    both = RUNNER.invoke(app, ["run", path, "--example"])
    assert both.exit_code == 2
