"""The ``prediction:`` section of an analysis spec (schema, column references, the checks
made before any model is fitted, and the methods paragraph; the outputs are made by
``prediction.py``): does a marker such as CAC add to a base risk model?"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cohortcalc.reporting.format import short_label, variable_label

Risk = Annotated[float, Field(gt=0, lt=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Prediction(_Strict):
    """``base``: one published risk column (``pce_risk``, ``prevent_ascvd_10y``,
    ``mesa_chd_10y``; recalibrated in the cohort on log(−log(1 − risk))) or covariates
    refitted; ``marker``: the term(s) added. ``method: cox`` fits cause-specific Cox models
    (competing events censored; observed risks Kaplan–Meier); ``finegray`` fits Fine–Gray
    models assessed against the Aalen–Johansen cumulative incidence."""

    outcome: str
    base: str | Annotated[list[str], Field(min_length=1)]
    marker: str | Annotated[list[str], Field(min_length=1)]
    horizon: float = Field(gt=0)
    thresholds: Annotated[list[Risk], Field(min_length=1)]
    method: Literal["cox", "finegray"] = "cox"
    n_boot: int = Field(200, ge=20)
    seed: int = 1
    by: str | None = None
    groups: int = Field(10, ge=2, le=20)
    label: str | None = None

    @field_validator("thresholds")
    @classmethod
    def _increasing(cls, thresholds: list[float]) -> list[float]:
        if thresholds != sorted(set(thresholds)):
            raise ValueError("thresholds must be increasing and distinct, e.g. [0.075, 0.2]")
        return thresholds

    @property
    def base_columns(self) -> list[str]:
        return [self.base] if isinstance(self.base, str) else list(self.base)

    @property
    def marker_columns(self) -> list[str]:
        return [self.marker] if isinstance(self.marker, str) else list(self.marker)


def prediction_columns(spec: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    """The columns the ``prediction`` section names, as (spec location, role, column), for
    the spec checks and for the columns a Spark run collects."""
    section = getattr(spec, "prediction", None)
    if section is None:
        return []
    refs: list[tuple[tuple[str | int, ...], str, str]] = []
    for key, role, columns in (
        ("base", "prediction base", section.base),
        ("marker", "prediction marker", section.marker),
    ):
        if isinstance(columns, str):
            refs.append((("prediction", key), role, columns))
        else:
            refs += [(("prediction", key, i), role, c) for i, c in enumerate(columns)]
    if section.by is not None:
        refs.append((("prediction", "by"), "prediction grouping", section.by))
    return refs


def prediction_problems(spec: Any, frame: Any) -> list[str]:
    """What in the ``prediction`` section cannot be run on ``frame`` (each naming the spec
    line and the fix): an unknown outcome, a competing-risk method without a competing code,
    a published risk outside (0, 1), a horizon beyond the last follow-up time."""
    section = getattr(spec, "prediction", None)
    if section is None:
        return []
    outcomes = {o.name: o for o in spec.outcomes}
    outcome = outcomes.get(section.outcome)
    if outcome is None:
        return [
            f"{spec.where('prediction', 'outcome')}: prediction outcome {section.outcome!r} is "
            f"not an outcome of the spec; use one of {list(outcomes)}."
        ]
    problems = []
    if outcome.entry is not None or getattr(outcome, "time_scale", "follow_up") != "follow_up":
        return [  # risk "by 10 years" is follow-up time; an exit age is not a horizon
            f"{spec.where('prediction', 'outcome')}: outcome {outcome.name!r} is on the "
            f"{outcome.time_scale} time scale; prediction needs follow-up time since baseline. "
            "Add an outcome on the follow-up scale (same status, its *_years time) and name it."
        ]
    if section.method == "finegray" and outcome.competing_code is None:
        problems.append(
            f"{spec.where('prediction', 'method')}: 'finegray' needs a competing event; outcome "
            f"{outcome.name!r} has no 'competing_code' (use 'method: cox')."
        )
    if not isinstance(frame, pl.DataFrame):  # a Spark frame: checked on the collected rows
        return problems
    present = set(frame.columns)
    if isinstance(section.base, str) and section.base in present:
        risk = frame.get_column(section.base).drop_nulls().cast(pl.Float64)
        if risk.len() and not bool(((risk > 0) & (risk < 1)).all()):
            problems.append(
                f"{spec.where('prediction', 'base')}: published risk {section.base!r} has values "
                f"outside (0, 1) (range {risk.min():g} to {risk.max():g}); give a predicted "
                "risk column, or a list of covariates to refit."
            )
    if outcome.time in present:
        last = frame.get_column(outcome.time).drop_nulls().max()
        if last is not None and section.horizon > float(last):  # type: ignore[arg-type]
            problems.append(
                f"{spec.where('prediction', 'horizon')}: horizon {section.horizon:g} is beyond "
                f"the last follow-up time of {outcome.name!r} ({float(last):.3g} "  # type: ignore[arg-type]
                f"{outcome.time_unit}); choose a horizon within follow-up."
            )
    return problems


def prediction_methods(spec: Any) -> list[str]:
    """The methods paragraph of the ``prediction`` section (none without it)."""
    section = getattr(spec, "prediction", None)
    if section is None:
        return []
    outcome = next((o for o in spec.outcomes if o.name == section.outcome), None)
    name = (outcome.label or outcome.name) if outcome is not None else section.outcome
    if isinstance(section.base, str):
        base = (
            f"the published risk ({variable_label(section.base)}), recalibrated in the cohort "
            "by a model on "
            "log(−log(1 − risk)) (which keeps its ranking)"
        )
    else:
        base = "a model refitted in the cohort on " + ", ".join(
            short_label(c) for c in section.base
        )
    if section.method == "cox":
        model = (
            "Cox models of the cause-specific hazard (competing events censored; predicted "
            "risk 1 − S(t), observed risk Kaplan–Meier, so risks are those in the absence of "
            "the competing event)"
        )
        competing = ""
    else:
        model = "Fine–Gray models, assessed against the Aalen–Johansen cumulative incidence"
        competing = " with competing events as in Wolbers et al. (2009) and Blanche et al. (2013)"
    cuts = ", ".join(f"{100 * t:g}%" for t in section.thresholds)
    return [
        f"**Risk prediction.** To ask whether "
        f"{', '.join(variable_label(c) for c in section.marker_columns)} adds to "
        f"{base} in predicting {name.lower()} by {section.horizon:g} years, the base model and "
        f"the base model plus the marker were fitted as {model}, on the same complete cases "
        "and assessed on them (apparent performance, no optimism correction). "
        "Discrimination: Harrell's C with R concordance()'s conventions (higher predicted "
        "risk means shorter time, ties in the score count one half), the difference in C "
        f"with its joint jackknife variance{competing}; the cumulative/dynamic IPCW AUC and "
        f"the Brier score at {section.horizon:g} years with influence-function CIs, as "
        "riskRegression::Score. "
        f"Reclassification across risk categories cut at {cuts}: the net reclassification "
        "improvement for events and for non-events (and their sum and the continuous NRI), "
        "with groups weighted by their Kaplan–Meier (Aalen–Johansen) risk as Pencina, "
        "D'Agostino & Steyerberg (2011), and the IPCW integrated discrimination improvement; "
        f"their 95% CIs are percentile bootstrap intervals of {section.n_boot} replicates "
        f"(seed {section.seed}; 200 or more are recommended for publication). Calibration "
        f"of each model: observed against mean predicted risk in {section.groups} groups of "
        "predicted risk, the Greenwood–Nam–D'Agostino test, O/E and calibration slope."
    ]
