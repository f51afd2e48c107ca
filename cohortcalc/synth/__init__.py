"""Synthetic MESA/CRIC-style cohorts with known truth: the project's test bed and demo data.

``simulate_cohort(n=20_000, seed=1, params=None) -> SyntheticCohort`` (also ``cc.simulate``).
Same seed -> identical frames. Tables (``cohort.tables``, Polars, canonical names and units):

- ``participants``: participant_id ("P000001"), site ("BAL","CHI","FOR","LAX","NYC","STP"),
  baseline_date (Date, 2000-07-17..2002-07-31), age (float, 0.1 y, 45-84), sex
  ("female"/"male"), race_ethnicity ("white","black","hispanic","chinese"), diabetes (bool),
  smoking ("never","former","current"), sbp (mmHg), total_cholesterol, hdl_cholesterol
  (mg/dL), bp_treated, statin (bool), serum_creatinine (mg/dL, 0.01), cystatin_c (mg/L),
  uacr (mg/g), serum_calcium, serum_phosphate (mg/dL), albumin (g/dL), pth (pg/mL),
  vitamin_d_25oh (ng/mL), alkaline_phosphatase (U/L). No missing values in the clean form.
- ``cac_lesions``: participant_id, artery ("LM","LAD","LCX","RCA"), lesion_id (1.. within
  participant), area_mm2 (0.1 mm² steps), peak_hu (int, >= 130). Participants without lesions
  have no rows. Lesions with area < 1 mm² exist and must be ignored by Agatston.
- ``events``: participant_id, event ("mi"|"death"), event_date, death_cause
  ("cardiovascular"|"non_cardiovascular", null for MI). At most one MI and one death per
  participant; a death may follow an MI (same day possible).
- ``followup``: participant_id, end_date (death date, last contact, or 2016-12-31),
  end_reason ("death"|"lost_to_follow_up"|"administrative_end").

``cohort.analysis_frame()``: participants + cac_agatston (Σ area × weight over lesions with
area >= 1 mm², weights 1-4 at 130/200/300/400 HU, rounded to 0.1), cac_category (pl.Enum
"0" | "1-100" = (0,100] | "101-400" = (100,400] | ">400"), log_cac = ln(cac + 1), egfr
(CKD-EPI 2021 creatinine, from the rounded creatinine and age), ckd (egfr < 60 or uacr >= 30),
mi_days (event day = days after baseline; censoring day otherwise), mi_years = days / 365.25,
mi_status (0 censored, 1 MI, 2 death without prior MI), death_days/death_years, death_status
(0/1), cv_death_status (0, 1 CV, 2 non-CV), age_entry = age, age_exit = age + mi_years.

``cohort.truth`` (JSON-able): params, ``true_hazard_ratios`` per model, ``ratio_kinds``
(whether each ratio is cause-specific or subdistribution), term definitions, exact MI CIFs and
implied subdistribution HRs per CAC category x CKD (``true_mi_cif_by_profile``; constant in
time only in the subdistribution mode), row counts and realised prevalences/rates.
Hazard ratios act on the terms of ``TERMS``: cac_1_100, cac_101_400, cac_gt_400 (vs CAC 0),
ckd, cac_pos_x_ckd (interaction), age_per_10y = (age - 62)/10, male, diabetes, current_smoker.

``write_study_export(cohort, out_dir)`` (cohortcalc.synth.export; CLI ``cohortcalc simulate``)
writes the messy study files (xpt, csv, dta, parquet, xlsx, sav) and truth.json, whose
``export`` section describes every file's columns, codes, units and missing codes
(``sources``), per-file row counts, and every injected defect and missing-code cell.

``generating_terms(frame)`` rebuilds the terms the hazard ratios
act on; ``true_mi_cif(params, terms, years)`` gives exact MI cumulative incidences.
"""

from cohortcalc.synth.cohort import CAC_CATEGORY_DTYPE, SyntheticCohort, simulate_cohort
from cohortcalc.synth.params import TERMS, HazardModel, SynthParams
from cohortcalc.synth.truth import generating_terms, true_mi_cif

__all__ = [
    "CAC_CATEGORY_DTYPE",
    "TERMS",
    "HazardModel",
    "SynthParams",
    "SyntheticCohort",
    "generating_terms",
    "simulate_cohort",
    "true_mi_cif",
]
