"""`simulate_cohort`: the clean in-memory synthetic cohort (tables + truth + analysis frame)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import SpecError
from cohortcalc.synth.calcium import (
    ARTERIES,
    CAC_CATEGORIES,
    agatston_from_arrays,
    cac_category,
    simulate_lesions,
)
from cohortcalc.synth.labs import simulate_labs
from cohortcalc.synth.outcomes import DAYS_PER_YEAR, design_terms, simulate_outcomes
from cohortcalc.synth.params import SynthParams
from cohortcalc.synth.population import RACES, SMOKING, simulate_population
from cohortcalc.synth.truth import build_truth

CAC_CATEGORY_DTYPE = pl.Enum(list(CAC_CATEGORIES))
_LAB_COLUMNS = (
    "serum_creatinine",
    "cystatin_c",
    "uacr",
    "serum_calcium",
    "serum_phosphate",
    "albumin",
    "pth",
    "vitamin_d_25oh",
    "alkaline_phosphatase",
)


@dataclass(frozen=True)
class SyntheticCohort:
    """Clean tables (canonical names/units), the truth (JSON-able) and the analysis frame."""

    tables: dict[str, pl.DataFrame]
    truth: dict[str, Any]
    params: SynthParams
    seed: int
    analysis: pl.DataFrame

    def analysis_frame(self) -> pl.DataFrame:
        """One row per participant: participants + CAC, kidney truth and outcome columns."""
        return self.analysis.clone()


def _participant_ids(n: int) -> pl.Series:
    width = max(6, len(str(n)))
    return (
        pl.int_range(1, n + 1, eager=True).cast(pl.String).str.zfill(width).str.replace(r"^", "P")
    )


def _participants(
    ids: pl.Series, pop: dict[str, np.ndarray], labs: dict[str, np.ndarray]
) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "participant_id": ids,
            "site": pop["site"],
            "baseline_date": pl.Series(pop["baseline_days"], dtype=pl.Int32).cast(pl.Date),
            "age": pop["age"],
            "sex": np.where(pop["male"], "male", "female"),
            "race_ethnicity": np.array(RACES)[pop["race_idx"]],
            "diabetes": pop["diabetes"],
            "smoking": np.array(SMOKING)[pop["smoking_idx"]],
            "sbp": pop["sbp"],
            "total_cholesterol": pop["total_cholesterol"],
            "hdl_cholesterol": pop["hdl_cholesterol"],
            "bp_treated": pop["bp_treated"],
            "statin": pop["statin"],
        }
    )
    return frame.with_columns(pl.Series(name, labs[name]) for name in _LAB_COLUMNS)


def _lesions(ids: pl.Series, lesions: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "participant_id": ids.gather(lesions["owner"]),
            "artery": np.array(ARTERIES)[lesions["artery_idx"]],
            "lesion_id": lesions["lesion_id"].astype(np.int64),
            "area_mm2": lesions["area_mm2"],
            "peak_hu": lesions["peak_hu"],
        }
    )


def _events_and_followup(
    participants: pl.DataFrame, out: dict[str, np.ndarray]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    base = participants.select("participant_id", "baseline_date").with_columns(
        mi_days=out["mi_days"],
        mi_status=out["mi_status"],
        death_days=out["death_days"],
        death_status=out["death_status"],
        cv_death_status=out["cv_death_status"],
        lost=out["lost_to_follow_up"],
    )
    date = pl.col("baseline_date") + pl.duration(days=pl.col("death_days"))
    mi = base.filter(pl.col("mi_status") == 1).select(
        "participant_id",
        event=pl.lit("mi"),
        event_date=pl.col("baseline_date") + pl.duration(days=pl.col("mi_days")),
        death_cause=pl.lit(None, dtype=pl.String),
        _order=pl.lit(0),
    )
    cause = pl.when(pl.col("cv_death_status") == 1).then(pl.lit("cardiovascular"))
    death = base.filter(pl.col("death_status") == 1).select(
        "participant_id",
        event=pl.lit("death"),
        event_date=date,
        death_cause=cause.otherwise(pl.lit("non_cardiovascular")),
        _order=pl.lit(1),
    )
    events = pl.concat([mi, death]).sort("participant_id", "event_date", "_order").drop("_order")
    reason = (
        pl.when(pl.col("death_status") == 1)
        .then(pl.lit("death"))
        .when(pl.col("lost"))
        .then(pl.lit("lost_to_follow_up"))
        .otherwise(pl.lit("administrative_end"))
    )
    followup = base.select("participant_id", end_date=date, end_reason=reason)
    return events, followup


def _analysis(
    participants: pl.DataFrame,
    labs: dict[str, np.ndarray],
    cac: np.ndarray,
    out: dict[str, np.ndarray],
) -> pl.DataFrame:
    return participants.with_columns(
        cac_agatston=cac,
        cac_category=pl.Series(np.array(CAC_CATEGORIES)[cac_category(cac)]).cast(
            CAC_CATEGORY_DTYPE
        ),
        log_cac=np.log1p(cac),
        egfr=labs["egfr"],
        ckd=labs["ckd"],
        mi_days=out["mi_days"],
        mi_years=out["mi_days"] / DAYS_PER_YEAR,
        mi_status=out["mi_status"],
        death_days=out["death_days"],
        death_years=out["death_days"] / DAYS_PER_YEAR,
        death_status=out["death_status"],
        cv_death_status=out["cv_death_status"],
        age_entry=participants["age"],
        age_exit=participants["age"] + out["mi_days"] / DAYS_PER_YEAR,
    )


def simulate_cohort(
    n: int = 20_000, seed: int = 1, params: SynthParams | None = None
) -> SyntheticCohort:
    """Simulate a MESA/CRIC-style cohort of `n` participants with known truth.

    Independent NumPy streams (population, labs, CAC, outcomes) are spawned from `seed`, so
    the same seed gives identical frames, and changing outcome parameters leaves the baseline
    data unchanged.
    """
    if n < 1:
        raise SpecError(f"n={n}: the cohort needs at least one participant")
    params = params or SynthParams()
    rng_pop, rng_labs, rng_cac, rng_out = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    pop = simulate_population(rng_pop, n, params.baseline_start, params.baseline_end)
    labs = simulate_labs(rng_labs, pop)
    lesions = simulate_lesions(rng_cac, pop, labs["ckd"])
    cac = agatston_from_arrays(lesions["owner"], lesions["area_mm2"], lesions["peak_hu"], n)
    terms = design_terms(pop, labs["ckd"], cac_category(cac))
    out = simulate_outcomes(rng_out, params, terms, pop["baseline_days"])

    ids = _participant_ids(n)
    participants = _participants(ids, pop, labs)
    events, followup = _events_and_followup(participants, out)
    tables = {
        "participants": participants,
        "cac_lesions": _lesions(ids, lesions),
        "events": events,
        "followup": followup,
    }
    analysis = _analysis(participants, labs, cac, out)
    return SyntheticCohort(
        tables=tables,
        truth=build_truth(params, seed, tables, analysis),
        params=params,
        seed=seed,
        analysis=analysis,
    )
