"""Shared fixtures of the survival tests: the R reference numbers and the data they used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference"

LUNG3 = ["age", "sex", "ph_ecog"]

# cc.cox arguments reproducing each R call of cox_reference.json (which names the data file).
COX_CASES: dict[str, dict[str, Any]] = {
    "lung_efron": {"time": "time", "event": "event", "covariates": LUNG3},
    "lung_breslow": {"time": "time", "event": "event", "covariates": LUNG3, "ties": "breslow"},
    "lung_strata": {"time": "time", "event": "event", "covariates": LUNG3, "strata": "inst"},
    "lung_weights_int": {"time": "time", "event": "event", "covariates": LUNG3, "weights": "w_int"},
    "lung_weights_frac": {
        "time": "time",
        "event": "event",
        "covariates": LUNG3,
        "weights": "w_frac",
    },
    "lung_cluster": {"time": "time", "event": "event", "covariates": LUNG3, "cluster": "inst"},
    "lung_cluster_breslow": {
        "time": "time",
        "event": "event",
        "covariates": LUNG3,
        "cluster": "inst",
        "ties": "breslow",
        "weights": "w_int",
    },
    "heart_counting": {
        "time": "stop",
        "entry": "start",
        "event": "event",
        "covariates": ["age", "year", "surgery", "transplant"],
        "cluster": "id",
    },
    "heart_strata_breslow": {
        "time": "stop",
        "entry": "start",
        "event": "event",
        "covariates": ["age", "year", "transplant"],
        "strata": "surgery",
        "cluster": "id",
        "ties": "breslow",
    },
    "mgus2_age_scale": {
        "time": "exit_months",
        "entry": "entry_months",
        "event": "death",
        "covariates": ["sex", "hgb", "creat"],
    },
    "flchain_interaction": {
        "time": "futime",
        "event": "death",
        "covariates": "age * sex + C(flc_grp) + mgus",
    },
    "flchain_reference": {
        "time": "futime",
        "event": "death",
        "covariates": ["age", "sex", "creatinine", "C(flc_grp)"],
        "reference": {"flc_grp": "10"},
        "ties": "breslow",
    },
}


@pytest.fixture(scope="session")
def cox_reference() -> dict[str, Any]:
    """tests/reference/cox_reference.json, made by make_cox_reference.R."""
    return json.loads((REFERENCE_DIR / "cox_reference.json").read_text())


@pytest.fixture(scope="session")
def reference_data() -> dict[str, pd.DataFrame]:
    """The CSV files the R reference fits used, keyed by file name."""
    names = ["cox_lung.csv", "cox_heart.csv", "cox_mgus2.csv", "cox_flchain.csv"]
    return {name: pd.read_csv(REFERENCE_DIR / name) for name in names}


@pytest.fixture(scope="session")
def cox_cases() -> dict[str, dict[str, Any]]:
    """cc.cox arguments reproducing each R call of cox_reference.json."""
    return COX_CASES
