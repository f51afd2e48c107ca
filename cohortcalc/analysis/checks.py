"""Check a spec against the analysis frame before any model is fitted.

Every problem found is reported at once, each naming the spec line and what to change:
a column that is not there, an unknown reference level, an outcome without events (overall,
in an exposure level or in a modifier level), a modifier with a single level.
``frame`` is a Polars DataFrame or a ``SparkFrame`` (whose counts are Spark aggregations).
"""

from __future__ import annotations

import difflib
from typing import Any

import polars as pl

from cohortcalc.analysis.exposure_response_spec import (
    curve_level_problems,
    exposure_response_columns,
    exposure_response_problems,
)
from cohortcalc.analysis.prediction_spec import prediction_columns, prediction_problems
from cohortcalc.analysis.spec import Outcome, Spec, split_grouping
from cohortcalc.analysis.timescales import time_scale_problems
from cohortcalc.errors import SpecError


def check_spec_against_frame(spec: Spec, frame: Any) -> None:
    """Raise one ``SpecError`` listing every mismatch between ``spec`` and ``frame``."""
    problems = exposure_response_problems(spec) + _missing_columns(spec, frame)
    problems += prediction_problems(spec, frame)
    if not problems:
        problems = time_scale_problems(spec, frame) + _modifier_problems(spec, frame)
    if not problems:
        problems = _levels_and_events(spec, frame) + _grouping_problems(spec, frame)
        problems += curve_level_problems(spec, lambda column: levels_of(frame, column))
    if problems:
        raise SpecError(
            f"the spec does not match the data ({frame.height} participants after the "
            "population filters):\n  " + "\n  ".join(problems)
        )


def referenced_columns(spec: Spec) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Every column the spec names, as (spec location, role, column)."""
    refs: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, exposure in enumerate(spec.exposures):
        refs.append((("exposures", i, "column"), "exposure", exposure.column))
    for i, outcome in enumerate(spec.outcomes):
        if outcome.entry is not None:
            refs.append(
                (("outcomes", i, "entry"), f"entry of outcome {outcome.name!r}", outcome.entry)
            )
        refs.append((("outcomes", i, "time"), f"time of outcome {outcome.name!r}", outcome.time))
        refs.append(
            (("outcomes", i, "status"), f"status of outcome {outcome.name!r}", outcome.status)
        )
        for j, adjustment in enumerate(outcome.adjustment or []):
            key = "covariates" if adjustment.covariates is not None else "add"
            for k, column in enumerate(adjustment.covariates or adjustment.add or []):
                loc = ("outcomes", i, "adjustment", j, key, k)
                refs.append((loc, f"covariate of {adjustment.name!r}", column))
    for i, adjustment in enumerate(spec.models.adjustment):
        key = "covariates" if adjustment.covariates is not None else "add"
        for j, column in enumerate(adjustment.covariates or adjustment.add or []):
            loc = ("models", "adjustment", i, key, j)
            refs.append((loc, f"covariate of {adjustment.name!r}", column))
    for i, modifier in enumerate(spec.effect_modifiers):
        refs.append((("effect_modifiers", i, "column"), "effect modifier", modifier.column))
    outputs = spec.outputs
    if outputs.table_one_by is not None:
        refs.append((("outputs", "table_one_by"), "Table 1 grouping", outputs.table_one_by))
    for j, column in enumerate(outputs.table_one_variables or []):
        refs.append((("outputs", "table_one_variables", j), "Table 1 variable", column))
    for j, grouping in enumerate(outputs.figures_by):
        for column in split_grouping(grouping):
            if column is not None:
                refs.append((("outputs", "figures_by", j), "figure grouping", column))
    return refs + exposure_response_columns(spec) + prediction_columns(spec)


def _missing_columns(spec: Spec, frame: Any) -> list[str]:
    problems = []
    present = frame.columns
    exposures = {e.column for e in spec.exposures}
    for loc, role, column in referenced_columns(spec):
        if column not in present:
            close = difflib.get_close_matches(column, present, n=3)
            hint = f" Did you mean {close}?" if close else " Derive it or drop it from the spec."
            problems.append(f"{spec.where(*loc)}: {role} {column!r} is not a column.{hint}")
        elif role.startswith("covariate") and column in exposures:
            problems.append(
                f"{spec.where(*loc)}: {column!r} is an exposure; remove it from the covariates."
            )
    for i, outcome in enumerate(spec.outcomes):
        pairs = [(outcome.time, "time"), (outcome.status, "status")]
        pairs += [(outcome.entry, "entry")] if outcome.entry is not None else []
        for column, what in pairs:
            if column in present and not frame.schema[column].is_numeric():
                problems.append(
                    f"{spec.where('outcomes', i, what)}: {what} column {column!r} of outcome "
                    f"{outcome.name!r} is {frame.schema[column]}, not numeric."
                )
    for i, exposure in enumerate(spec.exposures):
        dtype = frame.schema.get(exposure.column)
        if exposure.kind == "continuous" and dtype is not None and not dtype.is_numeric():
            problems.append(
                f"{spec.where('exposures', i, 'kind')}: continuous exposure "
                f"{exposure.column!r} is {dtype}, not numeric."
            )
    return problems


#: Most groups a Table 1 can show legibly, and most curves per figure (palette colours).
MAX_GROUPS = {"table": 12, "figure": 8}


def table_one_by(spec: Spec) -> str | None:
    """Table 1's grouping: ``outputs.table_one_by``, else the first categorical exposure,
    else the first effect modifier."""
    categorical = [e.column for e in spec.exposures if e.kind == "categorical"]
    modifiers = [m.column for m in spec.effect_modifiers]
    return spec.outputs.table_one_by or next(iter(categorical + modifiers), None)


def figure_groupings(spec: Spec) -> list[str | None]:
    """Curve groupings: ``outputs.figures_by``, else the first categorical exposure or
    modifier, else one overall curve (None)."""
    if spec.outputs.figures_by:
        return list(spec.outputs.figures_by)
    categorical = [e.column for e in spec.exposures if e.kind == "categorical"]
    return [next(iter(categorical + [m.column for m in spec.effect_modifiers]), None)]


def _grouping_problems(spec: Spec, frame: Any) -> list[str]:
    problems = []
    outputs = spec.outputs
    groupings = [
        (("outputs", "figures_by", i), column, "figure")
        for i, grouping in enumerate(figure_groupings(spec))
        for column in (split_grouping(grouping) if grouping else (None,))
    ]
    if not spec.outputs.figures:
        groupings = []
    if "table_one" in outputs.tables:
        by = table_one_by(spec)
        if by is None:
            problems.append(
                f"{spec.where('outputs')}: Table 1 needs a grouping; set outputs.table_one_by "
                "(no categorical exposure or effect modifier to group by)."
            )
        else:
            groupings.append((("outputs", "table_one_by"), by, "table"))
    for loc, column, kind in groupings:
        if column is None:
            continue
        levels = (
            frame.get_column(column).drop_nulls().n_unique()
            if isinstance(frame, pl.DataFrame)
            else frame.n_levels(column)
        )
        if levels > MAX_GROUPS[kind]:
            problems.append(
                f"{spec.where(*loc)}: {column!r} has {levels} distinct values; group the "
                f"{kind} by a categorical column with at most {MAX_GROUPS[kind]} levels."
            )
    return problems


def levels_of(frame: Any, column: str) -> list[str]:
    """Distinct non-null levels of ``column`` as text, in the column's own order when ordered."""
    if not isinstance(frame, pl.DataFrame):
        return frame.levels(column)
    series = frame.get_column(column).drop_nulls()
    if isinstance(series.dtype, pl.Enum):
        present = set(series.cast(pl.String).unique().to_list())
        return [level for level in series.dtype.categories.to_list() if level in present]
    return series.unique().sort().cast(pl.String).to_list()


def event_count(frame: Any, outcome: Outcome, code: int) -> int:
    """Rows of ``frame`` with ``outcome.status == code``."""
    if not isinstance(frame, pl.DataFrame):
        return frame.count_equal(outcome.status, code)
    return int((frame.get_column(outcome.status) == code).sum())


def _levels_and_events(spec: Spec, frame: Any) -> list[str]:
    problems = []
    for i, outcome in enumerate(spec.outcomes):
        where = spec.where("outcomes", i)
        if event_count(frame, outcome, outcome.event_code) == 0:
            problems.append(
                f"{where}: outcome {outcome.name!r} has no events ({outcome.status} == "
                f"{outcome.event_code}) in the analysis population."
            )
            continue
        competing = outcome.competing_code
        fine_gray = "finegray" in outcome.methods and competing is not None
        if fine_gray and event_count(frame, outcome, competing or 0) == 0:
            problems.append(
                f"{where}: outcome {outcome.name!r} has no competing events "
                f"({outcome.status} == {competing}); drop 'finegray'."
            )
        for columns in cells_to_check(spec):
            empty = cells_without_events(frame, outcome, columns)
            if empty:
                problems.append(
                    f"{where}: outcome {outcome.name!r} has no events where "
                    f"{_describe_cells(columns, empty)}; its hazard ratio cannot be estimated. "
                    "Merge levels or restrict the population."
                )
    return problems + _reference_levels(spec, frame)


#: Most distinct values an effect modifier may have before it counts as continuous.
MAX_MODIFIER_LEVELS = 8


def _modifier_problems(spec: Spec, frame: Any) -> list[str]:
    """A modifier needs 2 to ``MAX_MODIFIER_LEVELS`` levels; the message says what to do."""
    problems = []
    for i, modifier in enumerate(spec.effect_modifiers):
        where, column = spec.where("effect_modifiers", i), modifier.column
        n_levels = (
            frame.get_column(column).drop_nulls().n_unique()
            if isinstance(frame, pl.DataFrame)
            else frame.n_levels(column)
        )
        if n_levels > MAX_MODIFIER_LEVELS:
            kind = "continuous" if frame.schema[column].is_numeric() else "many-valued"
            problems.append(
                f"{where}: effect modifier {column!r} is {kind} ({n_levels} distinct values): "
                "give cut points, e.g. a derived variable {name: "
                f"{column}_group, from: {column}, cut: {{breaks: [...], labels: [...]}}}} "
                f"and modify by {column}_group."
            )
        elif n_levels < 2:
            problems.append(f"{where}: {_single_level(spec, frame, column)}")
    return problems


def _single_level(spec: Spec, frame: Any, column: str) -> str:
    levels = levels_of(frame, column)
    found = f"only {levels[0]!r}" if levels else "no non-missing value"
    filters = [
        f"{spec.where('population', j)} ({rule.describe()})"
        for j, rule in enumerate(spec.population)
        if rule.column == column
    ]
    cause = (
        f"the population filter(s) {'; '.join(filters)} left {found}"
        if filters
        else f"the data have {found} among the {frame.height} participants after the "
        "population filters"
    )
    return (
        f"effect modifier {column!r} has fewer than two levels: {cause}. Remove the modifier, "
        "or the filter that fixes it."
    )


def cells_to_check(spec: Spec) -> list[tuple[str, ...]]:
    """Groupings whose every cell needs an event: each categorical exposure and modifier, and
    each categorical exposure within each modifier level (the subgroup fits)."""
    exposures = [e.column for e in spec.exposures if e.kind == "categorical"]
    modifiers = [m.column for m in spec.effect_modifiers]
    cells: list[tuple[str, ...]] = [(c,) for c in exposures + modifiers]
    return cells + [(m, e) for m in modifiers for e in exposures]


def cells_without_events(
    frame: Any, outcome: Outcome, columns: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """The level combinations of ``columns`` present in ``frame`` with no ``outcome`` event."""
    if not isinstance(frame, pl.DataFrame):
        return frame.cells_without_events(outcome.status, outcome.event_code, columns)
    counts = (
        frame.drop_nulls(list(columns))
        .group_by([pl.col(c).cast(pl.String) for c in columns])
        .agg(events=(pl.col(outcome.status) == outcome.event_code).sum())
        .filter(pl.col("events") == 0)
        .sort(list(columns))
    )
    return [tuple(row) for row in counts.select(columns).iter_rows()]


def _describe_cells(columns: tuple[str, ...], cells: list[tuple[str, ...]]) -> str:
    return " or ".join(
        " and ".join(f"{c} is {v!r}" for c, v in zip(columns, cell, strict=True)) for cell in cells
    )


def _reference_levels(spec: Spec, frame: Any) -> list[str]:
    problems = []
    for i, exposure in enumerate(spec.exposures):
        if exposure.kind != "categorical" or exposure.reference is None:
            continue
        levels = levels_of(frame, exposure.column)
        if exposure.reference not in levels:
            problems.append(
                f"{spec.where('exposures', i, 'reference')}: reference level "
                f"{exposure.reference!r} of {exposure.column!r} is not in the data; levels: "
                f"{levels}."
            )
    return problems
