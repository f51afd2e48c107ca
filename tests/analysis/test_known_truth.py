"""Known truth through the whole pipeline: simulate -> derive -> filter -> fit by subgroup.

In the generator, CAC acts on the MI hazard (cause-specific scenario) or on the MI
subdistribution hazard (subdistribution scenario) with ratios 2.2 / 3.8 / 5.9, multiplied by
0.8 in CKD (the CAC x CKD term), adjusted for age (linear), sex and diabetes. Within each CKD
level the model with those covariates is therefore correctly specified, so the runner's
subgroup fits must recover the true ratios (each within 3 SE).
"""

from __future__ import annotations

import math

import pytest

import cohortcalc as cc

TRUE_RATIOS = {"1-100": 2.2, "101-400": 3.8, ">400": 5.9}
CKD_FACTOR = 0.8


def _spec(method: str, params: dict) -> dict:
    return {
        "name": f"truth_{method}",
        "title": "Known truth",
        "data": {"synthetic": {"n": 8000, "seed": 21, "params": params}},
        "exposures": [{"column": "cac_category", "kind": "categorical", "reference": "0"}],
        "outcomes": [
            {
                "name": "mi",
                "time": "mi_years",
                "status": "mi_status",
                "event_code": 1,
                "competing_code": 2,
                "methods": [method],
            }
        ],
        "models": {
            "adjustment": [{"name": "True model", "covariates": ["age", "sex", "diabetes"]}]
        },
        "effect_modifiers": [{"column": "ckd", "test": "wald"}],
        "outputs": {"tables": ["hazard_ratios"], "figures": []},
    }


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("cox", {"outcome_model": "cause_specific", "mi": {"rate": 0.006}}),
        ("finegray", {"outcome_model": "subdistribution", "mi_subdist_p": 0.12}),
    ],
)
def test_subgroup_fits_recover_the_true_ratios(method, params):
    result = cc.run(_spec(method, params))
    for subgroup, factor in (("ckd=false", 1.0), ("ckd=true", CKD_FACTOR)):
        summary = result.fit("mi", method, subgroup=subgroup).result.summary
        for level, ratio in TRUE_RATIOS.items():
            row = summary.loc[f"cac_category[{level}]"]
            z = (row["coef"] - math.log(ratio * factor)) / row["se"]
            assert abs(z) < 3, f"{method} {subgroup} {level}: z = {z:.2f}"
