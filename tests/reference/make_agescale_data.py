"""Write agescale_cohort.csv: a small synthetic cohort through cc.derive, for the age-scale
R references (make_agescale_reference.R). Run from the repository root:
    python tests/reference/make_agescale_data.py
"""

from pathlib import Path

import polars as pl

from cohortcalc.features import derive
from cohortcalc.synth import simulate_cohort

COLUMNS = ["id", "sex", "cac_category", "log_cac", "age_entry", "mi_age_exit", "mi_status",
           "death_age_exit", "death_status", "death_years"]  # fmt: skip

cohort = simulate_cohort(n=1500, seed=14)
tables = cohort.tables
frame = derive(tables["participants"], lesions=tables["cac_lesions"], events=tables["events"],
               followup=tables["followup"])  # fmt: skip
frame = frame.with_row_index("id", offset=1).filter(pl.col("age_entry") >= 45)
frame = frame.with_columns(pl.col("cac_category").cast(pl.String), pl.col("sex").cast(pl.String))
frame.select(COLUMNS).write_csv(Path(__file__).parent / "agescale_cohort.csv")
