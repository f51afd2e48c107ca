"""Shared helpers of the prediction and performance tests: the committed R reference files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"


def reference(name: str) -> Any:
    """A JSON file of tests/reference/ (each names the R script that made it)."""
    return json.loads((REFERENCE_DIR / name).read_text())


def reference_data(name: str) -> pd.DataFrame:
    """A data file of tests/reference/, with the columns the R scripts derive from it."""
    data = pd.read_csv(REFERENCE_DIR / name)
    if "ph_ecog" in data:  # lung
        data["sex_label"] = (data["sex"] == 1).map({True: "male", False: "female"})
    return data
