"""Shared fixtures of the survival tests: the R reference numbers and the data they used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


@pytest.fixture(scope="session")
def cox_reference() -> dict[str, Any]:
    """tests/reference/cox_reference.json, made by make_cox_reference.R."""
    return json.loads((REFERENCE_DIR / "cox_reference.json").read_text())


@pytest.fixture(scope="session")
def reference_data() -> dict[str, pd.DataFrame]:
    """The CSV files the R reference fits used, keyed by file name."""
    names = ["cox_lung.csv", "cox_heart.csv", "cox_mgus2.csv", "cox_flchain.csv"]
    return {name: pd.read_csv(REFERENCE_DIR / name) for name in names}
