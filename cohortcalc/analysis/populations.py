"""The analysis populations: main, per-SD scaling of continuous exposures, and the frames of
each sensitivity analysis (complete cases; landmark excluding the first years of follow-up).

Frames are Polars DataFrames, or ``SparkFrame``s on the Spark engine (same steps, in Spark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from cohortcalc.analysis.checks import cells_without_events, event_count
from cohortcalc.analysis.fitting import MAIN, trend_column
from cohortcalc.analysis.spec import Outcome, Sensitivity, Spec
from cohortcalc.errors import SpecError
from cohortcalc.survival.rates import DAYS_PER_YEAR

#: Length of one year in each outcome time unit (Julian year of 365.25 days).
UNITS_PER_YEAR = {"years": 1.0, "days": DAYS_PER_YEAR}


def per_sd_units(frame: Any, spec: Spec) -> dict[str, float]:
    """The SD of each per-SD exposure in the main population.

    The same SD scales every sensitivity and subgroup analysis, so their HRs stay comparable.
    """
    scales: dict[str, float] = {}
    for i, exposure in enumerate(spec.exposures):
        if not exposure.per_sd:
            continue
        sd = (
            frame.get_column(exposure.column).drop_nulls().drop_nans().std()
            if isinstance(frame, pl.DataFrame)
            else frame.std(exposure.column)
        )
        if sd is None or not float(sd) > 0:  # type: ignore[arg-type]
            raise SpecError(
                f"{spec.where('exposures', i)}: {exposure.column!r} does not vary in the analysis "
                "population, so it cannot be scaled per SD."
            )
        scales[exposure.column] = float(sd)  # type: ignore[arg-type]
    return scales


def add_trend_scores(frame: Any, spec: Spec) -> Any:
    """Add ``<column>_score`` (0, 1, 2, ... in level order) for ordered categorical exposures.

    Only ordered (Enum) columns get a score, so a p for trend is never computed over an
    arbitrary (alphabetical) order.
    """
    for exposure in spec.exposures:
        dtype = frame.schema[exposure.column]
        if not (exposure.kind == "categorical" and isinstance(dtype, pl.Enum)):
            continue
        if not isinstance(frame, pl.DataFrame):
            frame = frame.with_score(exposure.column, trend_column(exposure))
        else:
            score = pl.col(exposure.column).to_physical().cast(pl.Float64)
            frame = frame.with_columns(score.alias(trend_column(exposure)))
    return frame


def model_columns(spec: Spec) -> list[str]:
    """Every exposure, covariate and modifier column of the spec's models."""
    columns = [e.column for e in spec.exposures]
    for outcome in spec.outcomes:
        for covariates in spec.models.covariate_sets(outcome).values():
            columns += covariates
    columns += [m.column for m in spec.effect_modifiers]
    return list(dict.fromkeys(columns))


@dataclass
class AnalysisFrames:
    """Frames per (analysis, outcome), built on first use and checked for events."""

    spec: Spec
    main: Any
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def analyses(self) -> list[str]:
        """``main`` then the sensitivity analyses, in spec order."""
        return [MAIN, *(s.name for s in self.spec.sensitivity)]

    def get(self, analysis: str, outcome: Outcome) -> Any:
        """The frame on which ``outcome`` is analysed in ``analysis``."""
        key = (analysis, outcome.name)
        if key not in self._cache:
            self._cache[key] = self._build(analysis, outcome)
        return self._cache[key]

    def check_all(self) -> None:
        """Build every sensitivity frame now, so an empty one fails before any fit."""
        for analysis in self.analyses():
            for outcome in self.spec.outcomes:
                self.get(analysis, outcome)

    def collected(
        self, columns: Sequence[str], sensitivity_columns: Sequence[str], order_by: str | None
    ) -> AnalysisFrames:
        """The same frames as local Polars frames sorted by ``order_by``, for the Spark
        engine's tables and figures: the main frame with ``columns``, the sensitivity frames
        with ``sensitivity_columns`` (their HR tables need only a few); all built first."""
        self.check_all()
        local = AnalysisFrames(self.spec, self.main.collect(columns, order_by))
        for (analysis, outcome), frame in self._cache.items():
            rows = local.main if analysis == MAIN else frame.collect(sensitivity_columns, order_by)
            local._cache[(analysis, outcome)] = rows
        return local

    def _build(self, analysis: str, outcome: Outcome) -> Any:
        if analysis == MAIN:
            return self.main
        index, sensitivity = next(
            (i, s) for i, s in enumerate(self.spec.sensitivity) if s.name == analysis
        )
        frame = _apply_sensitivity(self.main, sensitivity, outcome, model_columns(self.spec))
        events = event_count(frame, outcome, outcome.event_code)
        where = self.spec.where("sensitivity", index)
        if frame.height == 0 or events == 0:
            raise SpecError(
                f"{where}: sensitivity analysis {sensitivity.name!r} leaves {frame.height} "
                f"participants and {events} {outcome.name!r} events; loosen it or remove it."
            )
        for exposure in self.spec.exposures:
            if exposure.kind != "categorical":
                continue
            empty = cells_without_events(frame, outcome, (exposure.column,))
            if empty:
                raise SpecError(
                    f"{where}: sensitivity analysis {sensitivity.name!r} leaves no "
                    f"{outcome.name!r} events where {exposure.column} is "
                    f"{[cell[0] for cell in empty]}; its hazard ratios cannot be estimated."
                )
        return frame


def _apply_sensitivity(
    frame: Any, sensitivity: Sensitivity, outcome: Outcome, columns: list[str]
) -> Any:
    """Complete cases on ``columns``; landmark at L years after each participant's entry.

    Without ``entry`` (follow-up time) the rows with time > L stay and the clock restarts at
    L. With ``entry`` (age or calendar scale, or delayed entry) each entry moves to entry + L
    and the rows whose exit is not after it drop out; exits stay where they are.
    """
    local = isinstance(frame, pl.DataFrame)
    if sensitivity.complete_cases:
        frame = _complete_cases(frame, columns) if local else frame.complete(columns)
    if sensitivity.exclude_first_years is None:
        return frame
    landmark = sensitivity.exclude_first_years * UNITS_PER_YEAR[outcome.time_unit]
    time = pl.col(outcome.time)
    if outcome.entry is None:
        if local:
            return frame.filter(time > landmark).with_columns(time - landmark)
        return frame.landmark(outcome.time, landmark)
    if not local:
        return frame.landmark_entry(outcome.entry, outcome.time, landmark)
    moved = pl.col(outcome.entry) + landmark
    return frame.filter(time > moved).with_columns(moved.alias(outcome.entry))


def _complete_cases(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    frame = frame.drop_nulls(columns)
    floats = [c for c in columns if frame.schema[c].is_float()]
    if floats:
        frame = frame.filter(pl.all_horizontal([pl.col(c).is_not_nan() for c in floats]))
    return frame
