"""The data dictionary: complete, consistent, rendered, and shipped inside the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cohortcalc.cli import app
from cohortcalc.dictionary import dictionary_path, load_dictionary, render_markdown
from cohortcalc.errors import DictionaryError

ROOT = Path(__file__).resolve().parents[1]

# The canonical names of the common brief (helper_common.md), the contract between stages.
CANONICAL = {
    "participants": [
        "participant_id",
        "site",
        "baseline_date",
        "age",
        "sex",
        "race_ethnicity",
        "diabetes",
        "smoking",
        "sbp",
        "total_cholesterol",
        "hdl_cholesterol",
        "bp_treated",
        "statin",
        "bmi",
        "serum_creatinine",
        "cystatin_c",
        "uacr",
        "serum_calcium",
        "serum_phosphate",
        "albumin",
        "pth",
        "vitamin_d_25oh",
        "alkaline_phosphatase",
    ],
    "cac_lesions": ["participant_id", "artery", "lesion_id", "area_mm2", "peak_hu"],
    "events": ["participant_id", "event", "event_date", "death_cause"],
    "followup": ["participant_id", "end_date", "end_reason"],
}
CANONICAL_UNITS = {
    "serum_creatinine": "mg/dL",
    "cystatin_c": "mg/L",
    "uacr": "mg/g",
    "serum_calcium": "mg/dL",
    "serum_phosphate": "mg/dL",
    "albumin": "g/dL",
    "pth": "pg/mL",
    "vitamin_d_25oh": "ng/mL",
    "sbp": "mmHg",
    "bmi": "kg/m2",
}


def test_every_canonical_variable_is_defined() -> None:
    dictionary = load_dictionary()
    for table, names in CANONICAL.items():
        assert list(dictionary.table(table).names) == names


def test_canonical_units_and_codes_match_the_contract() -> None:
    dictionary = load_dictionary()
    for name, unit in CANONICAL_UNITS.items():
        assert dictionary.variable("participants", name).unit == unit
    assert dictionary.variable("participants", "sex").codes == ("female", "male")
    assert dictionary.variable("cac_lesions", "artery").codes == ("LM", "LAD", "LCX", "RCA")
    assert set(dictionary.variable("followup", "end_reason").codes) == {
        "administrative_end",
        "lost_to_follow_up",
        "censored",
        "death",
    }


def test_calcium_scores_table_covers_total_per_artery_and_volume() -> None:
    names = load_dictionary().table("cac_scores").names
    for artery in ("lm", "lad", "lcx", "rca"):
        assert f"cac_agatston_{artery}" in names
    assert {"cac_agatston", "cac_volume_mm3"} <= set(names)


def test_soft_range_inside_hard_range_and_every_variable_documented() -> None:
    for table in load_dictionary().tables.values():
        for var in table.variables:
            assert var.description and var.citation, var.name
            if var.soft_range is not None:
                assert var.hard_range is not None, var.name
                assert var.hard_range[0] <= var.soft_range[0] <= var.soft_range[1]
                assert var.soft_range[1] <= var.hard_range[1], var.name


def test_every_accepted_unit_converts_to_the_canonical_unit() -> None:
    for table in load_dictionary().tables.values():
        for var in table.variables:
            for unit in var.source_units:
                assert var.factor_from(unit) > 0


def test_unaccepted_unit_is_rejected_with_the_fix() -> None:
    var = load_dictionary().variable("participants", "serum_calcium")
    with pytest.raises(DictionaryError, match="source_units"):
        var.factor_from("g/L")


def test_readme_is_generated_from_the_yaml() -> None:
    readme = (ROOT / "data_dictionary" / "README.md").read_text(encoding="utf-8")
    assert readme == render_markdown(load_dictionary()), (
        "data_dictionary/README.md is stale: run "
        "`cohortcalc dictionary --markdown > data_dictionary/README.md`"
    )


def test_top_level_folder_is_the_shipped_dictionary() -> None:
    top = ROOT / "data_dictionary" / "dictionary.yaml"
    assert top.read_bytes() == dictionary_path().read_bytes()


def test_malformed_dictionary_is_a_dictionary_error(tmp_path: Path) -> None:
    bad = tmp_path / "d.yaml"
    text = dictionary_path().read_text(encoding="utf-8").replace("type: float", "type: decimal", 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(DictionaryError, match=r"d\.yaml.*malformed"):
        load_dictionary(bad)


def test_cli_shows_the_dictionary() -> None:
    result = CliRunner().invoke(app, ["dictionary", "cac_lesions"])
    assert result.exit_code == 0
    assert "peak_hu" in result.output and "LAD" in result.output
    assert CliRunner().invoke(app, ["dictionary", "nonsense"]).exit_code == 1


def test_wheel_ships_the_dictionary(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cohortcalc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "cohortcalc/data_dictionary/dictionary.yaml" in names
    assert "cohortcalc/data_dictionary/README.md" in names
    assert "cohortcalc/ingest/mappings/synthetic_study.yaml" in names
    # installed non-editable (unpacked wheel first on sys.path), the package finds its data
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r}); import cohortcalc as cc; "
        f"assert cc.__file__.startswith({str(target)!r}), cc.__file__; "
        "from cohortcalc.ingest import resolve_mapping; "
        "print(cc.load_dictionary().version, resolve_mapping('synthetic_study'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.startswith(load_dictionary().version)
    assert str(target) in done.stdout
