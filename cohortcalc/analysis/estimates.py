"""One tidy table of every estimate of a run (``estimates.csv`` / ``.parquet``), and the
display table made from it.

One row per fit and exposure level (the reference level too, estimate 1): the analysis,
outcome, method, model, exposure, level, modifier and its level, the counts of the rows the
estimate describes (for a level: that level in the analysis frame, as in the HR tables; for a
continuous exposure: the rows the model used), person-years and the rate per 1,000
person-years, the ratio with its confidence limits, p, the confidence level, and a flag
saying whether the counts are suppressed. Numeric columns are numbers (null when suppressed),
so a co-author can re-plot in R without parsing "1.94 (1.57–2.38)".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cohortcalc.analysis.fitting import ALL, Fit, exposure_estimates
from cohortcalc.analysis.spec import Spec
from cohortcalc.reporting.format import (
    REFERENCE_LABEL,
    format_count,
    format_number,
    format_p,
    format_ratio_ci,
    level_label,
    stratum_heading,
    variable_label,
)
from cohortcalc.reporting.notes import confidence_level
from cohortcalc.reporting.table import CountGrid, Table, values_frame
from cohortcalc.survival.rates import incidence_rates

TIDY_COLUMNS = {
    "analysis": "string", "outcome": "string", "method": "string", "model": "string",
    "exposure": "string", "term": "string", "level": "string", "modifier": "string",
    "modifier_level": "string", "n": "Int64", "events": "Int64", "person_years": "float64",
    "rate_per_1000py": "float64", "estimate": "float64", "lower": "float64", "upper": "float64",
    "p": "float64", "conf_level": "float64", "suppressed": "bool",
}  # fmt: skip
"""The tidy table's columns and pandas dtypes (nullable integers for suppressed counts)."""


def _analysed(frame: pl.DataFrame, fit: Fit, spec: Spec) -> pl.DataFrame:
    """The rows ``fit`` used: its subgroup, complete for its columns (as ``fit_model``)."""
    outcome = next(o for o in spec.outcomes if o.name == fit.key.outcome)
    if fit.key.subgroup != ALL:
        column, level = fit.key.subgroup.split("=", 1)
        frame = frame.filter(pl.col(column).cast(pl.String) == level)
    columns = [outcome.time, outcome.status, fit.key.exposure]
    columns = list(dict.fromkeys(columns + [p for c in fit.covariates for p in c.split(":")]))
    present = [pl.col(c).is_not_null() for c in columns]
    present += [pl.col(c).is_not_nan() for c in columns if frame.schema[c].is_float()]
    return frame.filter(pl.all_horizontal(present))


def fit_cells(space: Any, ctx: Any, fit: Fit) -> tuple[str, str]:
    """The run-wide ids (``analysis.disclosure.CountSpace``) of a fit's analysed n and
    events: the rows it used, and those of them with the event."""
    outcome = next(o for o in ctx.spec.outcomes if o.name == fit.key.outcome)
    analysed = _analysed(ctx.frames.get(fit.key.analysis, outcome), fit, ctx.spec)
    ids = []
    for where, value in (((), fit.result.n), (((outcome.status, outcome.event_code),),
                                                fit.result.n_events)):  # fmt: skip
        if space.counts_to(analysed, where, value):
            ids.append(space.cell(analysed, where))
        else:  # the engine counted differently: a count of its own, never linked silently
            ids.append(space.named(f"fit {fit.key}: {'events' if where else 'n'}", value))
            space.unlinked.append(ids[-1])
    return ids[0], ids[1]


def tidy_rows(ctx: Any) -> list[dict[str, Any]]:
    """The tidy rows with, per row, the count cells behind ``n`` and ``events``
    (``_cells``: (frame, conditions) pairs for ``analysis.disclosure``)."""
    spec: Spec = ctx.spec
    outcomes = {o.name: o for o in spec.outcomes}
    exposures = {e.column: e for e in spec.exposures}
    rows = []
    for fit in ctx.fits:
        key, outcome = fit.key, outcomes[fit.key.outcome]
        exposure = exposures[key.exposure]
        frame = ctx.frames.get(key.analysis, outcome)
        modifier, modifier_value = None, None
        where: tuple = ()
        if key.subgroup != ALL:
            modifier = key.subgroup.split("=", 1)[0]
            modifier_value = fit.subgroup_value
            where = ((modifier, modifier_value),)
        event = (outcome.status, outcome.event_code)
        estimates = exposure_estimates(fit, ctx.per_sd_units)
        level_data = None
        common = {
            "analysis": key.analysis, "outcome": outcome.name, "method": key.method,
            "model": key.model, "exposure": key.exposure, "modifier": modifier,
            "modifier_level": None if modifier is None else str(modifier_value),
            "conf_level": confidence_level(fit.result),
        }  # fmt: skip
        if exposure.kind == "categorical":
            levels = _levels(frame, exposure.column, exposure.reference)
            level_data = _level_counts(frame, outcome, exposure.column, where)
            for level in levels:
                term = f"{exposure.column}[{level}]"
                counts = level_data.get(level, {"n": 0, "events": 0, "person_years": 0.0})
                cell = (*where, (exposure.column, level))
                line = estimates.loc[term] if term in estimates.index else None
                rows.append({
                    **common, "term": term if line is not None else None, "level": level,
                    **_numbers(line, counts),
                    "_cells": ((frame, cell), (frame, (*cell, event))),
                })  # fmt: skip
        else:
            analysed = _analysed(frame, fit, spec)
            events = int((analysed.get_column(outcome.status) == outcome.event_code).sum())
            years = _years(analysed, outcome)
            line = estimates.loc[fit.exposure_terms[0]]
            counts = {"n": analysed.height, "events": events, "person_years": years}
            rows.append({
                **common, "term": fit.exposure_terms[0],
                "level": "per SD" if key.exposure in ctx.per_sd_units else "per unit",
                **_numbers(line, counts),
                "_cells": ((analysed, ()), (analysed, ((outcome.status, outcome.event_code),))),
            })  # fmt: skip
    return rows


def _levels(frame: pl.DataFrame, column: str, reference: str | None) -> list[str]:
    from cohortcalc.analysis.checks import levels_of

    levels = levels_of(frame, column)
    if reference in levels:
        levels = [reference, *(lv for lv in levels if lv != reference)]
    return levels


def _years(rows: pl.DataFrame, outcome: Any) -> float:
    factor = {"years": 1.0, "months": 1 / 12, "days": 1 / 365.25}[outcome.time_unit]
    return float(rows.get_column(outcome.time).sum() or 0.0) * factor


def _level_counts(frame: pl.DataFrame, outcome: Any, column: str, where: tuple) -> dict:
    data = frame.filter(pl.col(column).is_not_null())
    for name, value in where:
        data = data.filter(pl.col(name).cast(pl.String) == str(value)) if not isinstance(
            value, bool) else data.filter(pl.col(name).cast(pl.Boolean) == value)  # fmt: skip
    data = data.drop_nulls([outcome.time, outcome.status]).with_columns(
        (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event"),
        pl.col(column).cast(pl.String),
    )
    rates = incidence_rates(data, time=outcome.time, event="_event", by=[column],
                            time_unit=outcome.time_unit)  # fmt: skip
    sizes = dict(data.group_by(column).len().iter_rows())
    return {
        str(r[column]): {"n": sizes[str(r[column])], "events": int(r["events"]),
                         "person_years": float(r["person_years"])}
        for r in rates.to_dict("records")
    }  # fmt: skip


def _numbers(line: pd.Series | None, counts: dict) -> dict[str, Any]:
    years = counts.get("person_years", np.nan)
    events = counts.get("events")
    rate = 1000.0 * events / years if events is not None and years > 0 else np.nan
    if line is None:  # the reference level
        estimate, lower, upper, p = 1.0, np.nan, np.nan, np.nan
    else:
        estimate, lower, upper, p = (float(line[k]) for k in ("hr", "hr_lower", "hr_upper", "p"))
    return {
        "n": counts.get("n"), "events": events, "person_years": years,
        "rate_per_1000py": rate, "estimate": estimate, "lower": lower, "upper": upper, "p": p,
    }  # fmt: skip


def tidy_frame(
    rows: list[dict[str, Any]], hidden: set[tuple[int, str]] = frozenset()
) -> pd.DataFrame:
    """The tidy table; a ``(row, "n" | "events")`` in ``hidden`` is null (events: the rate
    too) and the row is flagged ``suppressed``."""
    records = []
    for i, row in enumerate(rows):
        record = {k: v for k, v in row.items() if not k.startswith("_")}
        record["suppressed"] = False
        for column in ("n", "events"):
            if (i, column) in hidden:
                record[column] = None
                record["suppressed"] = True
        if (i, "events") in hidden:
            record["rate_per_1000py"] = np.nan
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(TIDY_COLUMNS))
    return frame.astype(TIDY_COLUMNS)


def estimates_display(rows: list[dict[str, Any]], spec: Spec) -> Table:
    """The display table of the tidy rows, with reader-facing words, and its count layout."""
    names = {e.column: e.label for e in spec.exposures if e.label}
    names |= {m.column: m.label for m in spec.effect_modifiers if m.label}
    outcomes = {o.name: o.label or o.name for o in spec.outcomes}
    analyses = {s.name: s.label or s.name for s in spec.sensitivity}
    display, records, counts, location, dependents, where = [], [], {}, {}, {}, {}
    for i, row in enumerate(rows):
        exposure = variable_label(row["exposure"], names)
        if row["level"] in ("per SD", "per unit"):
            term = f"{exposure}, {row['level']}"
        else:
            term = f"{_short(row['exposure'], exposure)} {level_label(row['level'])}"
        modifier = (
            "All participants" if row["modifier"] is None
            else stratum_heading(row["modifier"], _value(row), names)
        )  # fmt: skip
        ratio = (
            REFERENCE_LABEL if row["term"] is None
            else format_ratio_ci(row["estimate"], row["lower"], row["upper"])
        )  # fmt: skip
        display.append({
            "Analysis": "Main" if row["analysis"] == "main" else analyses[row["analysis"]],
            "Outcome": outcomes[row["outcome"]],
            "Method": "Fine–Gray" if row["method"] == "finegray" else "Cox",
            "Model": row["model"], "Subgroup": modifier, "Exposure": term,
            "N": format_count(row["n"]), "Events": format_count(row["events"]),
            "Rate per 1,000 PY": format_number(row["rate_per_1000py"], 2),
            "HR (95% CI)": ratio, "p": format_p(row["p"]) if row["term"] else "",
        })  # fmt: skip
        if row["term"] is not None:
            source = f"{row['analysis']}/{row['outcome']}/{row['method']}/{row['model']}"
            records.append((i, "HR (95% CI)", "hr", row["estimate"], f"{source}:{row['term']}"))
        for kind, column in (("n", "N"), ("events", "Events")):
            counts[f"{kind}_{i}"], location[f"{kind}_{i}"] = int(row[kind]), (i, column)
        dependents[f"events_{i}"] = ((i, "Rate per 1,000 PY"),)
        where[f"n_{i}"], where[f"events_{i}"] = row["_cells"][0][1], row["_cells"][1][1]
    return Table(
        title="All estimates (every fitted model and exposure level)",
        frame=pd.DataFrame(display),
        footnotes=(
            "HR: hazard ratio from Cox models (cause-specific where a competing event exists), "
            "subdistribution hazard ratio from Fine–Gray models; CI, confidence interval; PY, "
            "person-years. N, events and rates: the exposure level within the subgroup of the "
            "analysis population (for a continuous exposure, the rows the model used). The "
            "same numbers, unformatted, are in estimates_tidy.csv and estimates_tidy.parquet.",
        ),
        values=values_frame(records),
        counts=CountGrid(counts, location, dependents, conditions=where),
    )


def _value(row: dict[str, Any]) -> Any:
    level = row["modifier_level"]
    return {"True": True, "False": False}.get(level, level)


def _short(column: str, label: str) -> str:
    """ "CAC" for the CAC category, else the label without its unit."""
    return "CAC" if column == "cac_category" else label.split(", ", 1)[0]
