"""A small cohort store with labs and smoking missing at random (for the ``missing_data:``
tests): the synthetic cohort's canonical tables, written as a store with a minimal manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import cohortcalc as cc

TABLES = ("participants", "cac_lesions", "events", "followup")
#: logit intercepts of missingness (older participants are missing more often)
MISSING = {"serum_creatinine": -1.8, "uacr": -1.4, "hdl_cholesterol": -2.0}


def write_store(root: Path, n: int = 1500, seed: int = 3) -> Path:
    """Write the store to ``root`` and return it; smoking is missing completely at random
    (8%), the labs at random given age."""
    cohort = cc.simulate(n=n, seed=seed)
    tables = {name: cohort.tables[name] for name in TABLES}
    people = tables["participants"]
    rng = np.random.default_rng(seed + 19)
    older = (people["age"].to_numpy() - 65.0) / 10.0
    drops: dict[str, Any] = {}
    for name, intercept in MISSING.items():
        p = 1.0 / (1.0 + np.exp(-(intercept + 0.5 * older)))
        drops[name] = pl.when(pl.Series(rng.random(n) < p)).then(None).otherwise(pl.col(name))
    drops["smoking"] = pl.when(pl.Series(rng.random(n) < 0.08)).then(None).otherwise("smoking")
    tables["participants"] = people.with_columns(**drops)
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(root / f"{name}.parquet")
    manifest = {"tables": {name: {"file": f"{name}.parquet"} for name in TABLES}}
    (root / "_manifest.json").write_text(json.dumps(manifest))
    return root


def spec(store: Path, m: int = 3, iterations: int = 3) -> dict[str, Any]:
    """MI by CAC category and per SD of log(CAC + 1) (cause-specific Cox and Fine–Gray), two
    models, within CKD (re-derived from imputed labs); creatinine, UACR, HDL cholesterol and
    smoking imputed."""
    return {
        "name": "mi_test",
        "title": "Multiple imputation test",
        "data": {"store": str(store)},
        "population": [{"column": "cac_agatston", "op": "not_null"}],
        "exposures": [
            {"column": "cac_category", "kind": "categorical", "reference": "0"},
            {"column": "log_cac", "kind": "continuous", "per_sd": True},
        ],
        "outcomes": [
            {
                "name": "mi",
                "label": "Myocardial infarction",
                "time": "mi_years",
                "status": "mi_status",
                "event_code": 1,
                "competing_code": 2,
                "methods": ["cox", "finegray"],
            },
        ],
        "models": {
            "adjustment": [
                {"name": "Model 1", "covariates": ["age", "sex"]},
                {"name": "Model 2", "add": ["smoking", "hdl_cholesterol", "ckd"]},
            ]
        },
        "effect_modifiers": [{"column": "ckd", "label": "CKD", "test": "wald"}],
        "missing_data": {
            "method": "multiple_imputation",
            "m": m,
            "iterations": iterations,
            "seed": 2026,
            "variables": ["serum_creatinine", "uacr", "hdl_cholesterol", "smoking"],
        },
        "outputs": {
            "tables": ["flow", "table_one", "hazard_ratios", "interactions"],
            "figures": ["forest"],
            "table_formats": ["csv", "html"],
            "table_one_by": "cac_category",
            "table_one_variables": [
                "age",
                "sex",
                "smoking",
                "hdl_cholesterol",
                "egfr",
                "uacr",
                "ckd",
            ],
        },
    }
