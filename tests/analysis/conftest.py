"""Fixtures for the analysis tests: a small spec (as a dict) and one small finished run."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cohortcalc as cc

SMALL_SPEC: dict[str, Any] = {
    "name": "small",
    "title": "Small test analysis",
    "data": {"synthetic": {"n": 3000, "seed": 5}},
    "population": [{"column": "age", "op": ">=", "value": 45}],
    "exposures": [
        {"column": "cac_category", "kind": "categorical", "reference": "0"},
        {"column": "log_cac", "kind": "continuous", "per_sd": True},
    ],
    "outcomes": [
        {
            "name": "mi",
            "time": "mi_years",
            "status": "mi_status",
            "event_code": 1,
            "competing_code": 2,
            "methods": ["cox", "finegray"],
        }
    ],
    "models": {"adjustment": [{"name": "Model 1", "covariates": ["age", "sex"]}]},
    "effect_modifiers": [{"column": "ckd", "test": "lrt"}],
    "sensitivity": [{"name": "landmark_1y", "exclude_first_years": 1.0}],
    "outputs": {
        "tables": ["flow", "table_one", "incidence_rates", "hazard_ratios", "interactions"],
        "figures": ["cumulative_incidence", "forest"],
        "table_formats": ["csv", "md"],
        "figure_formats": ["png"],
        "report": "html",
        "table_one_variables": ["age", "sex", "diabetes", "egfr", "ckd"],
    },
    "small_cell_threshold": 11,
}


@pytest.fixture
def small_spec() -> Callable[..., dict[str, Any]]:
    """A factory: a deep copy of the small spec with top-level keys replaced."""

    def make(**overrides: Any) -> dict[str, Any]:
        spec = copy.deepcopy(SMALL_SPEC)
        spec.update(overrides)
        return spec

    return make


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[cc.AnalysisResult, Path, list]:
    """One run of the small spec written to disk, with the progress events it reported."""
    out = tmp_path_factory.mktemp("small_run")
    events: list = []
    result = cc.run(copy.deepcopy(SMALL_SPEC), out=out, progress=events.append)
    return result, out, events
