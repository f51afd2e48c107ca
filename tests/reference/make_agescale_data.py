"""Write agescale_cohort.csv and agescale_headline.csv (synthetic cohorts through cc.derive)
for the age-scale R references (make_agescale_reference.R). Run from the repository root:
    python tests/reference/make_agescale_data.py
"""

from pathlib import Path

import polars as pl

from cohortcalc.features import derive
from cohortcalc.synth import simulate_cohort

COLUMNS = ["id", "sex", "cac_category", "log_cac", "age_entry", "mi_age_exit", "mi_status",
           "death_age_exit", "death_status", "death_years"]  # fmt: skip


def small_cohort() -> pl.DataFrame:
    """1,500 synthetic participants (seed 14) through cc.derive, aged 45 or older."""
    tables = simulate_cohort(n=1500, seed=14).tables
    frame = derive(tables["participants"], lesions=tables["cac_lesions"],
                   events=tables["events"], followup=tables["followup"])  # fmt: skip
    frame = frame.with_row_index("id", offset=1).filter(pl.col("age_entry") >= 45)
    return frame.with_columns(pl.col("cac_category").cast(pl.String), pl.col("sex").cast(pl.String))


# agescale_headline.csv: the headline spec's analysis population (cohortcalc/analyses/
# cac_mi_ckd.yaml with n = 3,000, seed 1), the columns of its age-scale mortality Model 2.
HEADLINE_COLUMNS = ["participant_id", "age_entry", "death_age_exit", "death_status",
                    "cac_category", "sex", "race_ethnicity", "diabetes", "smoking", "sbp",
                    "bp_treated", "total_cholesterol", "hdl_cholesterol", "statin"]  # fmt: skip


def headline_population(n: int = 3000) -> pl.DataFrame:
    """The headline spec's population on a synthetic cohort of ``n`` (seed 1)."""
    import yaml

    from cohortcalc.analysis.data import derive_frame, load_source
    from cohortcalc.analysis.filters import apply_population
    from cohortcalc.analysis.spec import spec_from_dict

    root = Path(__file__).parents[2]
    data = yaml.safe_load((root / "cohortcalc" / "analyses" / "cac_mi_ckd.yaml").read_text())
    data["data"]["synthetic"]["n"] = n
    spec = spec_from_dict(data)
    derived = derive_frame(spec, load_source(spec, None).tables)
    return apply_population(derived, spec)[0]


if __name__ == "__main__":
    small_cohort().select(COLUMNS).write_csv(Path(__file__).parent / "agescale_cohort.csv")
    headline = headline_population().select(HEADLINE_COLUMNS)
    headline.with_columns(pl.col("cac_category").cast(pl.String)).write_csv(
        Path(__file__).parent / "agescale_headline.csv"
    )
