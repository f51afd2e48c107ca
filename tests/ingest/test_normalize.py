"""Normalization: renames, casts, unit conversions (fixed, per row, per site), code maps,
missing codes and dates, checked value by value on the tiny study."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import cohortcalc as cc

from .conftest import write_tiny_study


@pytest.fixture(scope="module")
def participants(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    folder = tmp_path_factory.mktemp("normalize")
    mapping = write_tiny_study(folder / "raw")
    cc.ingest(mapping=mapping, out=folder / "cohort")
    return cc.read_store(folder / "cohort")["participants"].collect()


def test_unit_per_site_per_row_and_fixed(participants: pl.DataFrame) -> None:
    calcium = participants["serum_calcium"].to_list()
    assert calcium[0] == pytest.approx(9.5)  # site A: mg/dL
    assert calcium[2] == pytest.approx(2.4 * 4.008)  # site B: mmol/L
    albumin = participants["albumin"].to_list()
    assert albumin[:2] == pytest.approx([4.1, 4.0])  # g/dL, then g/L per row
    assert participants["serum_creatinine"][0] == pytest.approx(88.42 / 88.40)


def test_missing_codes_and_code_maps(participants: pl.DataFrame) -> None:
    assert participants["serum_creatinine"].is_null().to_list() == [False] * 3 + [True, True]
    assert participants["sex"].to_list() == ["male", "female", "male", "female", "male"]
    assert participants["diabetes"].to_list() == [True, False, False, True, False]


def test_dates_parse_with_the_mapped_format(participants: pl.DataFrame) -> None:
    assert participants["baseline_date"][0] == dt.date(2001, 3, 15)


def test_output_has_every_variable_in_dictionary_order(participants: pl.DataFrame) -> None:
    assert tuple(participants.columns) == cc.load_dictionary().table("participants").names
    assert participants["pth"].null_count() == participants.height


def test_numeric_text_codes_and_excel_style_numbers(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    mapping = write_tiny_study(raw)
    text = (raw / "participants.csv").read_text().replace(",1,9.5,", ",1.0,9.5,", 1)
    (raw / "participants.csv").write_text(text)
    cc.ingest(mapping=mapping, out=tmp_path / "cohort")
    frame = cc.read_store(tmp_path / "cohort")["participants"].collect()
    assert frame["sex"][0] == "male"
