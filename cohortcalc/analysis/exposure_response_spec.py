"""The ``exposure_response:`` section of an analysis spec (schema only; the outputs are made
by ``exposure_response.py`` and ``exposure_response_curves.py``): spline exposures, adjusted
(standardised) risk curves, additive interactions, E-values."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SplineExposure(_Strict):
    """A continuous exposure as a restricted cubic spline; HRs against ``reference``."""

    column: str
    knots: int | list[float] = 4
    reference: float = 0.0
    at: list[float] | None = None
    scale: Literal["identity", "log1p"] = "identity"
    label: str | None = None
    model: str | None = None
    outcomes: list[str] | None = None

    @property
    def term(self) -> str:
        if isinstance(self.knots, int):
            return f"rcs({self.column}, {self.knots})"
        return f"rcs({self.column}, knots=[{', '.join(repr(float(k)) for k in self.knots)}])"

    def to_model_scale(self, values: Any) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return np.log1p(values) if self.scale == "log1p" else values


class BinaryExposure(_Strict):
    """A binary exposure: a boolean or 0/1 column, or ``column > above``."""

    column: str
    above: float | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.column if self.above is None else f"{self.column}_above_{self.above:g}"


class AdditiveInteractionSpec(_Strict):
    """Two binary exposures whose interaction is measured on the additive scale."""

    first: BinaryExposure
    second: BinaryExposure
    model: str | None = None
    outcomes: list[str] | None = None


class AdjustedCurves(_Strict):
    """Standardised risk by the levels of a spec exposure (``cc.standardized_risk``).

    ``times``: the grid of the curves (default 24 steps up to a horizon within follow-up);
    ``at``: the table's times (default ``times`` when given, else a quarter, half,
    three quarters and all of the horizon). ``levels``: the levels to set, the reference first
    (needed for a continuous exposure). ``method``: ``cox`` (1 − S; with a competing event the
    cause-specific pair, giving the cumulative incidence) or ``finegray`` (bootstrap CIs)."""

    exposure: str
    levels: list[str | float] | None = Field(None, min_length=2)
    outcomes: list[str] | None = None
    model: str | None = None
    times: list[float] | None = Field(None, min_length=2)
    at: list[float] | None = Field(None, min_length=1)
    method: Literal["cox", "finegray"] = "cox"
    n_boot: int = Field(200, ge=20)
    seed: int = 1

    @field_validator("times", "at")
    @classmethod
    def _positive_increasing(cls, values: list[float] | None) -> list[float] | None:
        if values is not None and (
            any(not np.isfinite(v) or v <= 0 for v in values)
            or any(b <= a for a, b in itertools.pairwise(values))
        ):
            raise ValueError(f"times must be positive and increasing, got {values}")
        return values


class ExposureResponse(_Strict):
    """The ``exposure_response:`` section of a spec."""

    splines: list[SplineExposure] = Field(default_factory=list)
    adjusted_curves: list[AdjustedCurves] = Field(default_factory=list)
    additive_interactions: list[AdditiveInteractionSpec] = Field(default_factory=list)
    evalues: bool = False


def exposure_response_columns(spec: Any) -> list[tuple[tuple[str | int, ...], str, str]]:
    """The columns the ``exposure_response`` section names, as (spec location, role, column),
    for the spec checks and for the columns a Spark run collects."""
    section = getattr(spec, "exposure_response", None)
    if section is None:
        return []
    refs: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, spline in enumerate(section.splines):
        refs.append(
            (("exposure_response", "splines", i, "column"), "spline exposure", spline.column)
        )
    for i, pair in enumerate(section.additive_interactions):
        for part in ("first", "second"):
            loc = ("exposure_response", "additive_interactions", i, part, "column")
            refs.append((loc, "additive-interaction exposure", getattr(pair, part).column))
    return refs


def exposure_response_methods(spec: Any) -> list[str]:
    """The methods paragraph of the ``exposure_response`` section (none without it)."""
    section = getattr(spec, "exposure_response", None)
    if section is None:
        return []
    parts = (section.splines, section.adjusted_curves, section.additive_interactions)
    if not any(parts) and not section.evalues:
        return []
    sentences = []
    for spline in section.splines:
        knots = (
            f"{spline.knots} knots at Harrell's default quantiles"
            if isinstance(spline.knots, int)
            else f"knots at {', '.join(f'{k:g}' for k in spline.knots)}"
        )
        scale = " (log(x + 1) scale; reference and values in x)" if spline.scale == "log1p" else ""
        inference = (
            "pointwise 95% CIs pooled over the imputed data sets (Rubin's rules), with D1 tests "
            "of any association and of non-linearity"
            if getattr(spec, "missing_data", None) is not None
            else "pointwise Wald 95% CIs, with Wald tests of any association and of non-linearity"
        )
        sentences.append(
            f"The association with {spline.label or spline.column} was modelled as a restricted "
            f"cubic spline of {spline.column} with {knots} (Harrell 2015, as rms::rcs){scale}; "
            f"hazard ratios are shown against {spline.reference:g} with {inference}."
        )
    sentences += [_curve_sentence(spec, entry) for entry in section.adjusted_curves]
    for pair in section.additive_interactions:
        first, second = (e.label or e.name for e in (pair.first, pair.second))
        sentences.append(
            f"Interaction between {first} and {second} was assessed on the additive scale from "
            "one cause-specific Cox model with their product term: the relative excess risk due "
            "to interaction (RERI), attributable proportion (AP) and synergy index (SI) with "
            "delta-method 95% CIs (Hosmer & Lemeshow 1992), reported with the joint and "
            "stratum-specific hazard ratios as recommended by Knol & VanderWeele (2012)."
        )
    if section.evalues:
        sentences.append(
            "E-values (VanderWeele & Ding 2017) quantify the unmeasured confounding needed to "
            "explain away each exposure hazard ratio; hazard ratios were taken as risk ratios "
            "only for outcomes with a cumulative incidence below 15% at the end of follow-up "
            "and otherwise converted (VanderWeele 2020)."
        )
    return ["**Exposure–response.** " + " ".join(sentences)]


def curve_outcomes(spec: Any, entry: AdjustedCurves) -> list[Any]:
    """The outcomes an adjusted-curve entry covers: those it names, else every outcome on
    follow-up time without delayed entry (g-computation needs follow-up from time 0)."""
    if entry.outcomes is not None:
        return [o for o in spec.outcomes if o.name in entry.outcomes]
    return [o for o in spec.outcomes if o.entry is None]


def exposure_response_problems(spec: Any) -> list[str]:
    """What in the ``exposure_response`` section cannot be run, each with its spec line and
    the fix (checked before any model is fitted)."""
    section = getattr(spec, "exposure_response", None)
    if section is None:
        return []
    problems = []
    named = {o.name: o for o in spec.outcomes}
    for kind, entries in (
        ("splines", section.splines),
        ("adjusted_curves", section.adjusted_curves),
        ("additive_interactions", section.additive_interactions),
    ):
        for i, entry in enumerate(entries):
            where = ("exposure_response", kind, i)
            unknown = [n for n in entry.outcomes or [] if n not in named]
            if unknown and kind == "adjusted_curves":  # splines, interactions: skipped
                problems.append(
                    f"{spec.where(*where, 'outcomes')}: outcome(s) {unknown} are not in the "
                    f"spec's outcomes {list(named)}; name those."
                )
            for outcome in spec.outcomes if entry.model is not None else []:
                sets = spec.models.covariate_sets(outcome)
                if entry.model not in sets:
                    problems.append(
                        f"{spec.where(*where, 'model')}: model {entry.model!r} is not an "
                        f"adjustment set of outcome {outcome.name!r} ({list(sets)}); name one "
                        "of those or leave 'model' out for the last."
                    )
                    break
    for i, entry in enumerate(section.adjusted_curves):
        problems += _curve_problems(spec, entry, ("exposure_response", "adjusted_curves", i))
    return problems


def _curve_problems(spec: Any, entry: AdjustedCurves, where: tuple[str | int, ...]) -> list[str]:
    exposures = {e.column: e for e in spec.exposures}
    exposure = exposures.get(entry.exposure)
    problems = []
    if exposure is None:
        problems.append(
            f"{spec.where(*where, 'exposure')}: {entry.exposure!r} is not an exposure of the "
            f"spec ({list(exposures)}); adjusted curves are by the levels of a spec exposure."
        )
    elif exposure.kind == "continuous" and entry.levels is None:
        problems.append(
            f"{spec.where(*where, 'exposure')}: {entry.exposure!r} is continuous; give "
            "'levels: [a, b, ...]' (the values to set it to, the reference first) or name a "
            "categorical exposure."
        )
    elif exposure.kind == "continuous" and any(isinstance(v, str) for v in entry.levels or []):
        problems.append(
            f"{spec.where(*where, 'levels')}: levels of the continuous {entry.exposure!r} are "
            f"numbers, got {entry.levels}."
        )
    for outcome in curve_outcomes(spec, entry):
        if outcome.entry is not None:
            problems.append(
                f"{spec.where(*where, 'outcomes')}: outcome {outcome.name!r} has delayed entry "
                f"({outcome.time_scale} time scale); standardised risks need follow-up from "
                "time 0: name only follow-up-time outcomes."
            )
        elif entry.method == "finegray" and outcome.competing_code is None:
            problems.append(
                f"{spec.where(*where, 'method')}: outcome {outcome.name!r} has no competing "
                "event, so no Fine–Gray model; use 'method: cox' (1 − Kaplan–Meier-type risk)."
            )
    if entry.outcomes is None and not curve_outcomes(spec, entry):
        problems.append(
            f"{spec.where(*where)}: no outcome on follow-up time to standardise; name one in "
            "'outcomes'."
        )
    return problems


def _curve_sentence(spec: Any, entry: AdjustedCurves) -> str:
    exposure = next((e for e in spec.exposures if e.column == entry.exposure), None)
    label = (exposure.label if exposure is not None else None) or entry.exposure
    outcomes = ", ".join(o.label or o.name for o in curve_outcomes(spec, entry))
    if entry.method == "finegray":
        model = (
            "the Fine–Gray model (cumulative incidence), with 95% CIs from the covariance of "
            f"{entry.n_boot} bootstrap refits (seed {entry.seed})"
        )
    else:
        model = (
            "Cox models (for an outcome with a competing event, the cause-specific models of "
            "the event and of the competing event, giving the cumulative incidence), with 95% "
            "CIs from the influence function as riskRegression::ate (Ozenne et al. 2020)"
        )
    return (
        f"Adjusted risks of {outcomes} by {label} were standardised over the cohort's "
        f"covariates by g-computation (Robins 1986) from {model}; risk differences and risk "
        "ratios are against the reference level (CIs of the risk on the log(-log(1 - F)) "
        "scale, of the ratio on the log scale)."
    )


def curve_level_problems(spec: Any, levels_of: Any) -> list[str]:
    """``levels`` of a categorical adjusted-curve exposure that the analysis population does
    not have (``levels_of(column)``: its levels as text), with the spec line."""
    section = getattr(spec, "exposure_response", None)
    kinds = {e.column: e.kind for e in spec.exposures}
    problems = []
    for i, entry in enumerate(section.adjusted_curves if section is not None else []):
        if entry.levels is None or kinds.get(entry.exposure) != "categorical":
            continue
        present = levels_of(entry.exposure)
        unseen = [v for v in entry.levels if (v if isinstance(v, str) else f"{v:g}") not in present]
        if unseen:
            problems.append(
                f"{spec.where('exposure_response', 'adjusted_curves', i, 'levels')}: levels "
                f"{unseen} of {entry.exposure!r} are not in the analysis population "
                f"({present}); name levels it has, the reference first."
            )
    return problems
