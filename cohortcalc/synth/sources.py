"""The study's source files as a real coordinating centre would hand them over (before mess).

Each source has study-specific names, codes and units; `SOURCES` describes every column
(canonical target, unit, codes, missing codes) and goes verbatim into truth.json, so the
ingest mapping can be written from it. `clean_source_frames` renders the clean tables into
these layouts; mess.py then injects the documented defects.
Unit factors: creatinine 1 mg/dL = 88.4 µmol/L; calcium 1 mmol/L = 4.008 mg/dL (molar mass
40.08 g/mol); both taken from the one table in cohortcalc/units.py that ingest also converts with.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from cohortcalc.units import conversion_factor

CREATININE_UMOL_PER_MG_DL = conversion_factor("creatinine", "mg/dL", "µmol/L")
CALCIUM_MG_DL_PER_MMOL_L = conversion_factor("calcium", "mmol/L", "mg/dL")
#: Sites whose laboratory reports serum calcium in mmol/L (the others in mg/dL).
CALCIUM_MMOL_SITES: tuple[str, ...] = ("LAX", "NYC", "STP")
SITE_CODES: dict[str, int] = {"BAL": 1, "CHI": 2, "FOR": 3, "LAX": 4, "NYC": 5, "STP": 6}
RACE_CODES: dict[str, int] = {"white": 1, "chinese": 2, "black": 3, "hispanic": 4}
SMOKING_CODES: dict[str, int] = {"never": 0, "former": 1, "current": 2}
VESSEL_CODES: dict[str, int] = {"LM": 1, "LAD": 2, "LCX": 3, "RCA": 4}
END_CODES: dict[str, int] = {"administrative_end": 1, "lost_to_follow_up": 2, "death": 3}
#: Date stamped into file headers (the data freeze), so exports are byte-identical.
DATA_FREEZE = "2017-03-01"


def _col(canonical: str | None, description: str, **extra: Any) -> dict[str, Any]:
    return {"canonical": canonical, "description": description, **extra}


def _codes(mapping: dict[str, int]) -> dict[str, str]:
    return {str(code): label for label, code in mapping.items()}


_ID = _col("participant_id", "participant identifier (string)")
SOURCES: dict[str, dict[str, Any]] = {
    "mesa_demog.xpt": {
        "format": "SAS transport (XPORT v5), member DEMOG",
        "table": "participants",
        "columns": {
            "PTID": _ID,
            "SITENO": _col("site", "field centre", codes=_codes(SITE_CODES)),
            "EXAMDT": _col("baseline_date", "baseline exam date", type="SAS date"),
            "AGE": _col("age", "age at exam", unit="years"),
            "GENDER": _col("sex", "sex", codes={"0": "female", "1": "male"}),
            "RACE": _col("race_ethnicity", "race/ethnicity", codes=_codes(RACE_CODES)),
        },
    },
    "exam1_riskfactors.csv": {
        "format": "CSV, comma-separated, header row, UTF-8",
        "table": "participants",
        "columns": {
            "PTID": _ID,
            "DIAB": _col("diabetes", "diabetes", codes={"0": False, "1": True}, missing=["-9"]),
            "SMKSTAT": _col(
                "smoking", "smoking status", codes=_codes(SMOKING_CODES), missing=["-9"]
            ),
            "SBP": _col("sbp", "systolic blood pressure", unit="mmHg", missing=["999"]),
            "TOTCHOL": _col("total_cholesterol", "total cholesterol", unit="mg/dL", missing=["."]),
            "HDL": _col("hdl_cholesterol", "HDL cholesterol", unit="mg/dL", missing=["."]),
            "HTNMED": _col(
                "bp_treated", "antihypertensive medication", codes={"0": False, "1": True}
            ),
            "STATIN": _col("statin", "statin use", codes={"N": False, "Y": True}),
        },
    },
    "exam1_labs.dta": {
        "format": "Stata 15 .dta",
        "table": "participants",
        "columns": {
            "PTID": _ID,
            "CREAT_UMOL": _col(
                "serum_creatinine",
                "serum creatinine",
                unit="umol/L",
                to_canonical=f"divide by {CREATININE_UMOL_PER_MG_DL} -> mg/dL",
                missing=["-9"],
            ),
            "CYSC": _col("cystatin_c", "cystatin C", unit="mg/L", missing=["-9"]),
            "UACR": _col("uacr", "urine albumin/creatinine", unit="mg/g", missing=["-9"]),
            "CA_SERUM": _col(
                "serum_calcium",
                "total serum calcium, unit in CA_UNIT",
                unit="CA_UNIT",
                to_canonical=f"mmol/L x {CALCIUM_MG_DL_PER_MMOL_L} -> mg/dL, round to 0.1",
                missing=["-9"],
            ),
            "CA_UNIT": _col(None, "unit of CA_SERUM", codes={"mg/dL": "mg/dL", "mmol/L": "mmol/L"}),
            "PHOS": _col("serum_phosphate", "serum phosphate", unit="mg/dL", missing=["-9"]),
            "ALB": _col("albumin", "serum albumin", unit="g/dL", missing=["-9"]),
            "PTH": _col("pth", "intact PTH", unit="pg/mL", missing=["-9"]),
            "VITD25": _col("vitamin_d_25oh", "25-OH vitamin D", unit="ng/mL", missing=["999"]),
            "ALKPHOS": _col(
                "alkaline_phosphatase", "alkaline phosphatase", unit="U/L", missing=["-9"]
            ),
        },
    },
    "ct_lesions.parquet": {
        "format": "Parquet",
        "table": "cac_lesions",
        "columns": {
            "PTID": _ID,
            "VESSEL": _col("artery", "coronary artery", codes=_codes(VESSEL_CODES)),
            "LESION_NO": _col("lesion_id", "lesion number within participant"),
            "AREA_MM2": _col("area_mm2", "lesion area", unit="mm2"),
            "PEAK_HU": _col("peak_hu", "peak attenuation", unit="HU"),
        },
    },
    "adjudicated_events.xlsx": {
        "format": "Excel .xlsx, sheet 'events', header row",
        "table": "events",
        "columns": {
            "PTID": _ID,
            "EVENT_TYPE": _col("event", "event type", codes={"MI": "mi", "DEATH": "death"}),
            "EVENT_DATE": _col("event_date", "event date", type="Excel date"),
            "DEATH_CAUSE": _col(
                "death_cause",
                "adjudicated cause of death; blank for MI",
                codes={"CVD": "cardiovascular", "NON-CVD": "non_cardiovascular"},
            ),
        },
    },
    "followup_status.sav": {
        "format": "SPSS .sav (value labels on ENDSTAT)",
        "table": "followup",
        "columns": {
            "PTID": _ID,
            "LASTDATE": _col(
                "end_date", "date of death, last contact or study end", type="SPSS date"
            ),
            "ENDSTAT": _col("end_reason", "reason follow-up ended", codes=_codes(END_CODES)),
        },
    },
}


def _recode(column: str, mapping: dict[str, Any]) -> pl.Expr:
    return pl.col(column).replace_strict(mapping)


def _labs_frame(p: pl.DataFrame) -> pl.DataFrame:
    """exam1_labs: creatinine in µmol/L everywhere, calcium in mmol/L at some sites."""
    ca_mmol = pl.col("site").is_in(CALCIUM_MMOL_SITES)
    return p.select(
        PTID="participant_id",
        CREAT_UMOL=(pl.col("serum_creatinine") * CREATININE_UMOL_PER_MG_DL).round(3),
        CYSC="cystatin_c",
        UACR="uacr",
        CA_SERUM=pl.when(ca_mmol)
        .then((pl.col("serum_calcium") / CALCIUM_MG_DL_PER_MMOL_L).round(2))
        .otherwise(pl.col("serum_calcium")),
        CA_UNIT=pl.when(ca_mmol).then(pl.lit("mmol/L")).otherwise(pl.lit("mg/dL")),
        PHOS="serum_phosphate",
        ALB="albumin",
        PTH="pth",
        VITD25="vitamin_d_25oh",
        ALKPHOS="alkaline_phosphatase",
    )


def clean_source_frames(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The clean tables in the study's source layouts (no defects yet), keyed by file name."""
    p = tables["participants"]
    events = tables["events"]
    return {
        "mesa_demog.xpt": p.select(
            PTID="participant_id",
            SITENO=_recode("site", SITE_CODES),
            EXAMDT="baseline_date",
            AGE="age",
            GENDER=(pl.col("sex") == "male").cast(pl.Int64),
            RACE=_recode("race_ethnicity", RACE_CODES),
        ),
        "exam1_riskfactors.csv": p.select(
            PTID="participant_id",
            DIAB=pl.col("diabetes").cast(pl.Int64).cast(pl.String),
            SMKSTAT=_recode("smoking", SMOKING_CODES).cast(pl.String),
            SBP=pl.col("sbp").cast(pl.Int64).cast(pl.String),
            TOTCHOL=pl.col("total_cholesterol").cast(pl.Int64).cast(pl.String),
            HDL=pl.col("hdl_cholesterol").cast(pl.Int64).cast(pl.String),
            HTNMED=pl.col("bp_treated").cast(pl.Int64).cast(pl.String),
            STATIN=pl.when("statin").then(pl.lit("Y")).otherwise(pl.lit("N")),
        ),
        "exam1_labs.dta": _labs_frame(p),
        "ct_lesions.parquet": tables["cac_lesions"].select(
            PTID="participant_id",
            VESSEL=_recode("artery", VESSEL_CODES),
            LESION_NO="lesion_id",
            AREA_MM2="area_mm2",
            PEAK_HU="peak_hu",
        ),
        "adjudicated_events.xlsx": events.select(
            PTID="participant_id",
            EVENT_TYPE=pl.col("event").str.to_uppercase(),
            EVENT_DATE="event_date",
            DEATH_CAUSE=_recode(
                "death_cause",
                {"cardiovascular": "CVD", "non_cardiovascular": "NON-CVD", None: None},
            ),
        ),
        "followup_status.sav": tables["followup"].select(
            PTID="participant_id", LASTDATE="end_date", ENDSTAT=_recode("end_reason", END_CODES)
        ),
    }
