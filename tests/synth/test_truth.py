"""Known truth (cohortcalc/synth/truth.py): exact MI CIFs and subdistribution hazard ratios,
checked against the empirical Aalen-Johansen cumulative incidence (statsmodels
CumIncidenceRight, an estimator independent of cohortcalc.survival).

Proportional subdistribution hazards mean cloglog F1(t|x) - cloglog F1(t|ref) = log sHR at
every t (Fine & Gray 1999, eq. 2); we test it with the delta-method SE of the difference.
Tolerance 3 SE per comparison (several comparisons per test; see test_outcomes.py).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from statsmodels.duration.survfunc import CumIncidenceRight

from cohortcalc.synth import (
    HazardModel,
    SynthParams,
    generating_terms,
    simulate_cohort,
    true_mi_cif,
)

Z_TOLERANCE = 3.0
TIMES = (5.0, 10.0, 14.0)
CAC_TERM = {"1-100": "cac_1_100", "101-400": "cac_101_400", ">400": "cac_gt_400"}
SUBDIST_HR = {
    "cac_1_100": 2.2,
    "cac_101_400": 3.8,
    "cac_gt_400": 5.9,
    "ckd": 1.6,
    "cac_pos_x_ckd": 0.8,
}


def _aalen_johansen(frame: pl.DataFrame, times=TIMES) -> tuple[np.ndarray, np.ndarray]:
    ci = CumIncidenceRight(frame["mi_years"].to_numpy(), frame["mi_status"].to_numpy())
    index = np.searchsorted(ci.times, np.asarray(times), side="right") - 1
    return ci.cinc[0][index], ci.cinc_se[0][index]


@pytest.fixture(scope="module")
def subdistribution_cohort():
    """MI depends on CAC and CKD only, so (CAC category, CKD) groups are homogeneous."""
    params = SynthParams(
        outcome_model="subdistribution",
        mi=HazardModel(rate=1.0, shape=1.0, hazard_ratios=SUBDIST_HR),
        mi_subdist_p=0.03,
    )
    return simulate_cohort(n=60_000, seed=31, params=params)


def test_subdistribution_hazard_ratios_recovered_from_cumulative_incidence(subdistribution_cohort):
    frame = subdistribution_cohort.analysis_frame()

    def cloglog(cif: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_cum = -np.log1p(-cif)
        return np.log(log_cum), se / ((1 - cif) * log_cum)

    reference = frame.filter((pl.col("cac_category") == "0") & ~pl.col("ckd"))
    ref_value, ref_se = cloglog(*_aalen_johansen(reference))
    checked = 0
    for (category, ckd), group in frame.group_by("cac_category", "ckd"):
        if category == "0" and not ckd:
            continue
        value, se = cloglog(*_aalen_johansen(group))
        term = CAC_TERM.get(str(category))
        truth = np.log(SUBDIST_HR[term]) if term else 0.0
        truth += np.log(SUBDIST_HR["ckd"]) * ckd + np.log(SUBDIST_HR["cac_pos_x_ckd"]) * (
            ckd and term is not None
        )
        z = (value - ref_value - truth) / np.hypot(se, ref_se)
        assert np.all(np.abs(z) < Z_TOLERANCE), (category, ckd, z)
        checked += 1
    assert checked == 7


def test_subdistribution_cif_matches_the_closed_form(subdistribution_cohort):
    frame = subdistribution_cohort.analysis_frame()
    for (category, ckd), group in frame.group_by("cac_category", "ckd"):
        cif, se = _aalen_johansen(group)
        truth = true_mi_cif(
            subdistribution_cohort.params, generating_terms(group[:1]), np.array(TIMES)
        )[0]
        assert np.all(np.abs(cif - truth) < Z_TOLERANCE * se), (category, ckd, cif, truth)


def test_cause_specific_true_cif_matches_aalen_johansen(default_cohort, default_frame):
    """Mixed over the cohort's covariates: mean of the exact individual CIFs vs AJ."""
    for label, group in [
        ("all", default_frame),
        (">400", default_frame.filter(pl.col("cac_agatston") > 400)),
    ]:
        cif, se = _aalen_johansen(group)
        truth = true_mi_cif(default_cohort.params, generating_terms(group), np.array(TIMES)).mean(
            axis=0
        )
        assert np.all(np.abs(cif - truth) < Z_TOLERANCE * se), (label, cif, truth)


def test_truth_is_json_and_states_the_kind_of_each_ratio(default_cohort, subdistribution_cohort):
    cs, sd = default_cohort.truth, subdistribution_cohort.truth
    assert json.loads(json.dumps(cs)) == cs
    assert cs["ratio_kinds"]["mi"].startswith("cause-specific")
    assert sd["ratio_kinds"]["mi"].startswith("subdistribution")
    assert cs["true_hazard_ratios"]["mi"]["cac_gt_400"] == 5.9
    rows = {(r["cac_category"], r["ckd"]): r for r in sd["true_mi_cif_by_profile"]["rows"]}
    np.testing.assert_allclose(
        rows[(">400", True)]["subdistribution_hr_vs_cac0_no_ckd"], 5.9 * 1.6 * 0.8
    )
    drift = cs["true_mi_cif_by_profile"]["rows"][-1]["subdistribution_hr_vs_cac0_no_ckd"]
    assert drift[0] != drift[-1]  # cause-specific truth: the implied sHR is not constant
    assert cs["row_counts"] == {name: t.height for name, t in default_cohort.tables.items()}
