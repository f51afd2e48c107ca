"""The mapping file: schema-checked, dictionary-checked, safely loaded; errors name key and line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from cohortcalc.dictionary import load_dictionary
from cohortcalc.errors import IngestError
from cohortcalc.ingest.mapping import code_key, load_mapping

GOOD = """\
mapping_version: "1"
study: s
sources:
  - file: a.csv
    table: participants
    columns:
      participant_id: ID
      site: SITE
      baseline_date: DATE
      age: AGE
      sex: {column: SEX, codes: {1: male, 2: female}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load(tmp_path: Path, text: str):
    return load_mapping(_write(tmp_path, text), load_dictionary())


def test_good_mapping_loads_with_short_forms_expanded(tmp_path: Path) -> None:
    mapping = _load(tmp_path, GOOD)
    source = mapping.sources[0]
    assert source.column("age").column == "AGE"
    assert source.column("sex").codes == {"1": "male", "2": "female"}
    assert source.file_format == "csv"
    assert mapping.row_error_policy(source) == "error"


@pytest.mark.parametrize(
    ("edit", "key", "line"),
    [
        (("table: participants", "table: people"), "table", 5),
        (("age: AGE", "agee: AGE"), "columns.agee", 10),
        (
            (
                "sex: {column: SEX, codes: {1: male, 2: female}}",
                "sex: {column: SEX, codes: {1: m}}",
            ),
            "columns.sex.codes",
            11,
        ),
        (("age: AGE", "age: {column: AGE, unit: furlongs}"), "columns.age", 10),
        (("age: AGE", "age: {column: AGE, unitt: years}"), "columns.age", 10),
        (("file: a.csv", "file: a.weird"), "file", 4),
    ],
)
def test_errors_name_the_key_and_its_line(
    tmp_path: Path, edit: tuple[str, str], key: str, line: int
) -> None:
    with pytest.raises(IngestError) as info:
        _load(tmp_path, GOOD.replace(*edit))
    message = str(info.value)
    assert f"line {line}" in message
    assert key in message
    assert "study.yaml" in message


def test_missing_required_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"required variable\(s\) \['age'\]"):
        _load(tmp_path, GOOD.replace("      age: AGE\n", ""))


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"study\.yaml, line 1\d, column \d+: not valid YAML"):
        _load(tmp_path, GOOD + "  - [unclosed\n")


def test_loading_is_safe(tmp_path: Path) -> None:
    hostile = GOOD.replace("study: s", 'study: !!python/object/apply:os.system ["echo hi"]')
    with pytest.raises(IngestError, match="not valid YAML"):
        _load(tmp_path, hostile)


def test_columns_source_must_carry_the_key(tmp_path: Path) -> None:
    extra = "  - file: b.csv\n    table: participants\n    role: columns\n    columns: {sbp: SBP}\n"
    with pytest.raises(IngestError, match=r"must map the key \['participant_id'\]"):
        _load(tmp_path, GOOD + extra)


def test_columns_source_may_not_repeat_a_variable(tmp_path: Path) -> None:
    extra = (
        "  - file: b.csv\n    table: participants\n    role: columns\n"
        "    columns: {participant_id: ID, age: AGE2}\n"
    )
    with pytest.raises(IngestError, match=r"\['age'\] are also mapped"):
        _load(tmp_path, GOOD + extra)


def test_only_one_unit_rule_per_column(tmp_path: Path) -> None:
    text = GOOD.replace("age: AGE", "age: {column: AGE, unit: years, unit_column: U}")
    with pytest.raises(IngestError, match="only one of unit"):
        _load(tmp_path, text)


def test_code_keys_are_compared_as_text() -> None:
    assert code_key(1) == code_key(1.0) == code_key(" 1 ") == "1"
    assert code_key(True) == "true"
    assert code_key(1.5) == "1.5"


def test_shipped_synthetic_mapping_is_valid() -> None:
    path = Path(str(resources.files("cohortcalc") / "ingest" / "mappings" / "synthetic_study.yaml"))
    mapping = load_mapping(path, load_dictionary())
    formats = {s.file_format for s in mapping.sources}
    assert formats == {"xpt", "csv", "dta", "parquet", "xlsx", "sav"}


def test_shipped_mappings_resolve_by_name(tmp_path: Path) -> None:
    from cohortcalc.ingest import builtin_mappings, resolve_mapping

    assert "synthetic_study" in builtin_mappings()
    assert resolve_mapping("synthetic_study").name == "synthetic_study.yaml"
    with pytest.raises(IngestError, match="no shipped mapping"):
        resolve_mapping(tmp_path / "nope.yaml")
