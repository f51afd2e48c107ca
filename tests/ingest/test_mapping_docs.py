"""docs/mapping.md: every worked example is a mapping that loads, and every key is shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cohortcalc.dictionary import load_dictionary
from cohortcalc.ingest.mapping import ColumnSpec, Mapping, SourceSpec, UnitBy, load_mapping

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_yaml_example_loads(tmp_path: Path, index: int) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(BLOCKS[index], encoding="utf-8")
    mapping = load_mapping(path, load_dictionary())
    assert mapping.sources


def test_every_key_has_an_example() -> None:
    shown = "\n".join(BLOCKS)
    for model in (Mapping, SourceSpec, ColumnSpec, UnitBy):
        for key in model.model_fields:
            assert re.search(rf"\b{key}:", shown) or f"`{key}:`" in DOC.read_text(), key


def test_one_example_per_format() -> None:
    shown = "\n".join(BLOCKS)
    for suffix in ("csv", "parquet", "xpt", "sas7bdat", "dta", "sav", "xlsx"):
        assert re.search(rf"file: \S+\.{suffix}\b|or \S+\.{suffix}", shown), suffix
    assert "format: tsv" in shown
