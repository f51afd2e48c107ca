"""The ``missing_data:`` section of an analysis spec (schema, refusals and methods text; the
run's imputation and pooling are in ``imputation.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cohortcalc.errors import SpecError
from cohortcalc.features.outcomes import OUTCOME_COLUMNS
from cohortcalc.processes import free_memory

#: rows × imputations from which ``workers: auto`` runs chains and fits in parallel processes.
AUTO_PARALLEL = 100_000

#: Copies of the completed data a worker process holds at its peak (the data set, its
#: analysis frames, the design matrices of a fit), for the memory cap of ``workers: auto``.
WORKER_COPIES = 6


#: Exposure columns that are never imputed (CAC and everything computed from it).
CAC_PREFIXES = ("cac_", "log_cac", "n_lesions", "lesion")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MissingData(_Strict):
    """``missing_data: {method: multiple_imputation, m, iterations, seed, variables}``.

    The run imputes ``variables`` (raw inputs) ``m`` times by chained equations, re-derives
    features from them, fits every main model on each completed data set and pools by Rubin's
    rules; the complete-case analysis is kept as a sensitivity analysis.
    """

    method: Literal["multiple_imputation"]
    m: int = 20
    iterations: int = Field(10, ge=1)
    seed: int = Field(ge=0)
    variables: list[str] = Field(min_length=1)
    donors: int = Field(5, ge=1)
    #: processes for the m chains and the m fit sets (the same result for any number);
    #: "auto": every core where that pays (see ``processes``).
    workers: int | Literal["auto"] = "auto"

    @field_validator("m")
    @classmethod
    def _enough_imputations(cls, m: int) -> int:
        if m < 2:
            raise ValueError(
                "m must be at least 2: Rubin's rules need the between-imputation variance of "
                "2 or more imputations; 20 is usual"
            )
        return m

    @field_validator("workers")
    @classmethod
    def _positive(cls, workers: int | str) -> int | str:
        if isinstance(workers, int) and workers < 1:
            raise ValueError(f"workers must be at least 1 or 'auto', got {workers}")
        return workers

    def processes(self, rows: int, data_bytes: int = 0) -> int:
        """The worker processes for a population of ``rows`` (``data_bytes`` in memory): the
        stated number, or with "auto" one per core (at most m) once rows × m reaches
        ``AUTO_PARALLEL`` — below it, starting a process (about 2 s: imports and compiled
        kernels) costs more than its share of the chains and fits saves — and no more than
        the free memory holds at ``WORKER_COPIES`` copies of the data per process."""
        if isinstance(self.workers, int):
            return self.workers
        if rows * self.m < AUTO_PARALLEL:
            return 1
        cores = min(os.cpu_count() or 1, self.m)
        free = free_memory()
        if free is not None and data_bytes > 0:
            cores = min(cores, int(free // (WORKER_COPIES * data_bytes)))
        return max(1, cores)

    @field_validator("variables")
    @classmethod
    def _unique(cls, variables: list[str]) -> list[str]:
        if len(set(variables)) != len(variables):
            raise ValueError(f"a variable is named twice: {variables}")
        return variables


def check_variables(spec: Any, frame: Any, features: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse, with the spec line and the fix, a variable that is absent, an outcome column
    (status or time), the exposure (CAC) or a derived feature whose inputs are present."""
    section: MissingData = spec.missing_data
    outcome_columns = {c for o in spec.outcomes for c in (o.time, o.status)} | set(OUTCOME_COLUMNS)
    exposures = {e.column for e in spec.exposures}
    outcome_columns |= {o.entry for o in spec.outcomes if getattr(o, "entry", None)}
    spec_derived = {d.name: d.column for d in getattr(spec, "derived", None) or []}
    problems = []
    for i, name in enumerate(section.variables):
        where = spec.where("missing_data", "variables", i)
        inputs = features.get(name)
        if name not in frame.columns:
            problems.append(
                f"{where}: {name!r} is not a column of the analysis frame; name a raw input "
                "that the data have (e.g. serum_creatinine, uacr, smoking)."
            )
        elif name in outcome_columns:
            problems.append(
                f"{where}: {name!r} is an outcome (event status or follow-up time); outcomes "
                "are never imputed: remove it (participants with an unknown outcome are "
                "excluded by the population filters)."
            )
        elif name in exposures or name.startswith(CAC_PREFIXES):
            problems.append(
                f"{where}: {name!r} is the exposure (coronary artery calcium) or computed from "
                "it; it is never imputed: remove it from missing_data.variables."
            )
        elif name in spec_derived:
            problems.append(
                f"{where}: {name!r} is a derived variable of the spec (from "
                f"{spec_derived[name]!r}); impute {spec_derived[name]!r} (or its raw inputs) "
                "instead and it is recomputed in each completed data set."
            )
        elif inputs is not None and set(inputs) <= set(frame.columns):
            raw = _raw_inputs(name, features)
            missing = [c for c in raw if c in frame.columns and frame[c].null_count()] or raw
            problems.append(
                f"{where}: {name!r} is derived from {list(inputs)}; impute its raw inputs "
                f"instead (list {', '.join(missing)}) and it is re-derived from them in each "
                "completed data set."
            )
    if problems:
        raise SpecError("missing_data cannot be imputed as written:\n  " + "\n  ".join(problems))


def _raw_inputs(name: str, features: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The measured columns a derived feature is computed from, through other features."""
    raw: list[str] = []
    for column in features.get(name, ()):
        raw += _raw_inputs(column, features) if column in features else [column]
    return list(dict.fromkeys(raw))


def missing_data_methods(spec: Any, inputs: Mapping[str, Any]) -> list[str]:
    """The methods paragraph on missing data (none without the section): the imputation
    models as the run made them, the pooling, and the complete-case sensitivity analysis."""
    record = inputs.get("missing_data")
    if getattr(spec, "missing_data", None) is None or not isinstance(record, Mapping):
        return []
    text = str(record["methods_text"])
    fitted = (
        " Every main and sensitivity model (each outcome, method and adjustment set, overall "
        "and within the subgroups of the effect modifiers), except the complete-case analysis, "
        "was fitted on each completed data set and so used every participant; hazard ratios "
        "are pooled estimates with 95% CIs and p-values from the t distribution (not the Wald "
        "intervals and available cases of single-data fits), and p for trend is the pooled "
        "test of the ordinal score. Tests of effect modification are D1 tests (Li, "
        "Raghunathan & Rubin 1991): the interaction model was fitted on each completed data "
        "set and its product terms tested jointly by the pooled Wald statistic, an F test "
        "with Reiter's (2007) denominator degrees of freedom."
    )
    sensitivity = (
        f" A complete-case analysis ({record['complete_case']!r}: participants with every model "
        "variable observed) is reported as a sensitivity analysis."
    )
    observed = (
        " Table 1 describes the observed data, with the number missing per variable."
        if "table_one" in spec.outputs.tables
        else ""
    )
    other = ""
    if getattr(spec, "exposure_response", None) is not None:
        other = (
            " Spline exposure–response curves were fitted on each completed data set and "
            "pooled point by point (Rubin's rules; D1 tests of association and non-linearity); "
            "additive interactions (joint and stratum-specific HRs, RERI, AP, SI) were pooled "
            "quantity by quantity; E-values use the pooled hazard ratios; standardised curves "
            "used the observed data (available cases)."
        )
    if getattr(spec, "prediction", None) is not None:
        other += " Prediction analyses used the observed data (available cases)."
    return ["**Missing data.** " + text + fitted + sensitivity + observed + other]
