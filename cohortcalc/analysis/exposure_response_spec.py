"""The ``exposure_response:`` section of an analysis spec (schema only; the outputs are made
by ``exposure_response.py``): spline exposures, additive interactions, E-values."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


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


class ExposureResponse(_Strict):
    """The ``exposure_response:`` section of a spec."""

    splines: list[SplineExposure] = Field(default_factory=list)
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
    if section is None or not (section.splines or section.additive_interactions or section.evalues):
        return []
    sentences = []
    for spline in section.splines:
        knots = (
            f"{spline.knots} knots at Harrell's default quantiles"
            if isinstance(spline.knots, int)
            else f"knots at {', '.join(f'{k:g}' for k in spline.knots)}"
        )
        scale = " (log(x + 1) scale; reference and values in x)" if spline.scale == "log1p" else ""
        sentences.append(
            f"The association with {spline.label or spline.column} was modelled as a restricted "
            f"cubic spline of {spline.column} with {knots} (Harrell 2015, as rms::rcs){scale}; "
            f"hazard ratios are shown against {spline.reference:g} with pointwise Wald 95% CIs, "
            "with Wald tests of any association and of non-linearity."
        )
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
