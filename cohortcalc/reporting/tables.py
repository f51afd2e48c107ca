"""The hazard-ratio table: counts, incidence rates and HRs of sequentially adjusted models.

Reads fitted results (``cc.cox`` / ``cc.finegray``) and counts (``cc.incidence_rates``); fits
nothing. Every printed number is recorded in ``Table.values`` with the fit and term it came
from, so a reader can trace each cell back to ``fit.summary``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.errors import CohortcalcError, ModelError
from cohortcalc.frames import to_polars
from cohortcalc.reporting import notes
from cohortcalc.reporting.format import (
    REFERENCE_LABEL,
    format_count,
    format_number,
    format_p,
    format_ratio_ci,
    level_label,
    stratum_heading,
    stratum_label,
    variable_label,
)
from cohortcalc.reporting.table import NOT_MISSING, Cell, CountGrid, Table, values_frame
from cohortcalc.survival.rates import YEARS_PER_UNIT, incidence_rates

CAC_LEVELS = ("0", "1-100", "101-400", ">400")
RATE_COLUMN = "Rate per 1,000 PY (95% CI)"


class _Rows:
    """Accumulates display rows, traceability records and the count layout of one table."""

    def __init__(self, columns: list[str], label_column: int = 0) -> None:
        self.columns = columns
        self.label = columns[label_column]
        self.rows: list[dict[str, str]] = []
        self.records: list[tuple[int, str, str, float, str]] = []
        self.counts: dict[str, int] = {}
        self.location: dict[str, Cell] = {}
        self.dependents: dict[str, tuple[Cell, ...]] = {}
        self.margins: list[tuple[str, ...]] = []
        self.conditions: dict[str, tuple[tuple[str, Any], ...]] = {}
        self.formats: dict[str, str] = {}
        self.groups: list[int] = []
        self.quoted: list[str] = []
        self.shares: dict[str, tuple[Cell, ...]] = {}

    def add(self, cells: Mapping[str, str]) -> int:
        self.rows.append({c: cells.get(c, "") for c in self.columns})
        return len(self.rows) - 1

    def record(self, row: int, column: str, quantity: str, value: float, source: str) -> None:
        self.records.append((row, column, quantity, float(value), source))

    def count(
        self,
        cid: str,
        value: int,
        cell: Cell | None,
        dependents: tuple[Cell, ...] = (),
        where: tuple[tuple[str, Any], ...] | None = None,
    ) -> None:
        self.counts[cid] = int(value)
        if where is not None:
            self.conditions[cid] = where
        if cell is not None:
            self.location[cid] = cell
        if dependents:
            self.dependents[cid] = dependents

    def table(self, title: str, footnotes: list[str]) -> Table:
        grid = CountGrid(
            self.counts, self.location, self.dependents, tuple(self.margins), self.conditions,
            self.formats, tuple(self.quoted), self.shares,
        )  # fmt: skip
        frame = pd.DataFrame(self.rows, columns=self.columns)
        records = values_frame(self.records)
        return Table(title, frame, tuple(footnotes), records, grid, group_rows=tuple(self.groups))


def hr_table(
    frame: Any,
    *,
    models: Mapping[str, Any],
    time: str,
    event: str,
    exposure: str = "cac_category",
    cause: int = 1,
    levels: Sequence[str] | None = None,
    per_sd: Mapping[str, Any] | None = None,
    per_sd_term: str = "log_cac",
    per_sd_unit: float | None = None,
    modifier: str | None = None,
    p_trend: Mapping[str, Any] | None = None,
    interaction_p: Mapping[str, Any] | None = None,
    time_unit: str = "years",
    labels: dict[str, str] | None = None,
    title: str | None = None,
    outcome_label: str | None = None,
) -> Table:
    """Counts, incidence rates and hazard ratios by exposure level for sequential models.

    ``models`` maps a model name ("Model 1", ...) to a fitted ``CoxResult``/``FineGrayResult``
    whose covariates include ``exposure`` (dummy terms ``exposure[level]``); with a
    ``modifier`` it maps each model name to ``{modifier value: fit within that stratum}``.
    ``per_sd`` has the same shape with fits of the continuous ``per_sd_term``; its HR is
    rescaled to one SD (``hr ** per_sd_unit``; the SD of the column over the whole ``frame``,
    the same in every stratum, when ``per_sd_unit`` is None; pass 1.0 for a term already
    standardised).
    ``p_trend`` maps model name to a p (or a result with ``.p``), per stratum with a modifier;
    ``interaction_p`` maps model name to the p for interaction. Counts use rows with
    ``event == cause`` as events and ``time`` in ``time_unit`` ("years", "months", "days") for
    person-years, via ``cc.incidence_rates``. ``outcome_label`` ("Myocardial infarction")
    names the events in the footnotes and the default title.
    """
    strata = _strata(models, modifier)
    names = list(models)
    interaction_p = _single_model_p(interaction_p, names)
    sd_column = per_sd_term if per_sd is not None and per_sd_unit is None else None
    data = _analysis_data(frame, time, event, exposure, modifier, cause, time_unit, sd_column)
    if sd_column is not None:
        per_sd_unit = float(data[sd_column].drop_nulls().std())  # whole cohort, every stratum
    levels = list(levels) if levels is not None else _levels(data, exposure)
    fits = {name: _by_stratum(models[name], modifier, strata, name) for name in names}
    headers = {name: _model_header(name, fits[name]) for name in names}
    columns = [
        variable_label(exposure, labels), "N", "Events", "Person-years", RATE_COLUMN,
        *headers.values(),
    ]  # fmt: skip
    rows = _Rows(columns)
    for stratum in strata:
        subset = data if modifier is None else data.filter(pl.col(modifier) == stratum)
        prefix = "  " if modifier else ""
        if modifier is not None:
            _stratum_heading(rows, modifier, stratum, subset.height, labels)
        context = (rows, prefix, headers, stratum, exposure)
        where = (((modifier, stratum),) if modifier else (), (event, cause))
        _level_rows(context, subset, levels, {n: fits[n][stratum] for n in names}, where)
        if p_trend is not None:
            trend = {n: _by_stratum(p_trend[n], modifier, strata, n)[stratum] for n in p_trend}
            _p_row(context, "p for trend", trend)
        if per_sd is not None:
            sd_fits = {n: _by_stratum(per_sd[n], modifier, strata, n)[stratum] for n in per_sd}
            show_sd = sd_column is not None or per_sd_unit != 1.0
            _per_sd_row(context, sd_fits, per_sd_term, float(per_sd_unit), labels, show_sd)
    if modifier is not None:
        _add_stratum_margins(rows, strata, levels, (modifier, exposure), (event, cause))
        if interaction_p is not None:
            _p_row((rows, "", headers, None, exposure), "p for interaction", interaction_p)
    _analysed_counts(rows, fits, (modifier, exposure, time, event, cause))
    footnotes = notes.hr_footnotes(
        fits, exposure=exposure, event=event, cause=cause, time=time, per_sd_term=per_sd_term,
        per_sd=per_sd is not None, modifier=modifier, p_trend=p_trend,
        interaction_p=interaction_p, labels=labels, outcome_label=outcome_label,
    )  # fmt: skip
    what = outcome_label or f"{event} = {cause}"
    default_title = f"Hazard ratios for {what} by {variable_label(exposure, labels)}"
    return rows.table(title or default_title, footnotes)


def _analysed_counts(rows: _Rows, fits: dict, columns: tuple) -> None:
    """The n and events each fit analysed (quoted in a footnote), as counts of the rows
    complete for the fit's variables, for run-wide disclosure control."""
    modifier, exposure, time, event, cause = columns
    for name, by_stratum in fits.items():
        for stratum, fit in by_stratum.items():
            used = [time, event, exposure] + [
                part.split("[", 1)[0] for term in map(str, fit.summary.index)
                for part in term.split(":")
            ]  # fmt: skip
            complete = tuple((c, NOT_MISSING) for c in dict.fromkeys(used))
            where = (((modifier, stratum),) if modifier else ()) + complete
            key = stratum_label(stratum) if stratum is not None else "all"
            rows.count(f"analysed|{name}|{key}", fit.n, None, where=where)
            where_events = (*where, (event, cause))
            rows.count(f"analysed events|{name}|{key}", fit.n_events, None, where=where_events)
            rows.quoted += [f"analysed|{name}|{key}", f"analysed events|{name}|{key}"]


def _stratum_heading(
    rows: _Rows, modifier: str, stratum: Any, n: int, labels: dict[str, str] | None
) -> None:
    """A bold group row, "Without CKD (n = 15,067)", whose n is the stratum's count."""
    heading = stratum_heading(modifier, stratum, labels)
    row = rows.add({rows.label: f"{heading} (n = {format_count(n)})"})
    rows.groups.append(row)
    key = stratum_label(stratum)
    rows.location[f"n|{key}|total"] = (row, rows.label)
    rows.formats[f"n|{key}|total"] = f"{heading} (n = {{}})"


def _single_model_p(value: Any, names: list[str]) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    if len(names) != 1:
        raise CohortcalcError(
            f"interaction_p is a single value but there are {len(names)} models; pass "
            "{model name: p} so each p goes under the model it came from."
        )
    return {names[0]: value}


def _strata(models: Mapping[str, Any], modifier: str | None) -> list[Any]:
    if not models:
        raise CohortcalcError("hr_table needs at least one fitted model in `models`.")
    if modifier is None:
        return [None]
    first = next(iter(models.values()))
    if not isinstance(first, Mapping):
        raise CohortcalcError(
            f"with modifier={modifier!r}, each entry of `models` must map a {modifier} value "
            "to the fit within that stratum, e.g. {'Model 1': {True: fit_ckd, False: fit_no}}."
        )
    return list(first)


def _by_stratum(value: Any, modifier: str | None, strata: list[Any], name: str) -> dict:
    if modifier is None:
        return {None: value}
    if not isinstance(value, Mapping) or set(value) != set(strata):
        raise CohortcalcError(
            f"{name!r}: expected one entry per {modifier} stratum {strata}, got "
            f"{list(value) if isinstance(value, Mapping) else type(value).__name__}."
        )
    return dict(value)


def _analysis_data(
    frame: Any,
    time: str,
    event: str,
    exposure: str,
    modifier: str | None,
    cause: int,
    unit: str,
    extra: str | None,
) -> pl.DataFrame:
    if unit not in YEARS_PER_UNIT:
        raise CohortcalcError(f"time_unit must be one of {list(YEARS_PER_UNIT)}, got {unit!r}.")
    data = to_polars(frame, [time, event, exposure, modifier, extra])
    years = pl.col(time) * YEARS_PER_UNIT[unit]
    return data.filter(pl.col(exposure).is_not_null()).with_columns(
        pl.col(exposure).cast(pl.String),
        _years=years.cast(pl.Float64),
        _event=(pl.col(event) == cause).cast(pl.Int64),
    )


def _levels(data: pl.DataFrame, exposure: str) -> list[str]:
    present = [v for v in data[exposure].unique().to_list() if v is not None]
    if set(present) <= set(CAC_LEVELS):
        return [level for level in CAC_LEVELS if level in present]
    return sorted(present)


def _is_fine_gray(fit: Any) -> bool:
    return hasattr(fit, "n_competing") or hasattr(fit, "cause")


def _model_header(name: str, fits: Mapping[Any, Any]) -> str:
    kinds = {_is_fine_gray(fit) for fit in fits.values()}
    if len(kinds) > 1:
        raise CohortcalcError(f"{name!r} mixes Cox and Fine–Gray fits across strata.")
    return f"{name} {'sHR' if kinds.pop() else 'HR'} (95% CI)"


def _summary_row(fit: Any, term: str, model: str) -> pd.Series:
    summary = fit.summary
    if term not in summary.index:
        raise ModelError(
            f"{model}: term {term!r} not in the fit's summary (terms: {list(summary.index)}). "
            "Fit the model with this exposure as a covariate, or pass `levels` that match."
        )
    return summary.loc[term]


def _rates(subset: pl.DataFrame, exposure: str) -> pd.DataFrame:
    table = incidence_rates(subset, time="_years", event="_event", by=[exposure], time_unit="years")
    counts = subset.group_by(exposure).len("n").to_pandas()
    return table.merge(counts, on=exposure, how="left").set_index(exposure)


def _level_rows(
    context: tuple, subset: pl.DataFrame, levels: list[str], fits: dict, where: tuple
) -> None:
    """Count, rate and HR cells of each exposure level in one stratum. ``where``: the
    stratum's conditions and the event condition, recorded for run-wide disclosure control."""
    rows, prefix, headers, stratum, exposure = context
    in_stratum, is_event = where
    rates = _rates(subset, exposure)
    key = stratum_label(stratum) if stratum is not None else "all"
    for name, fit in fits.items():
        _check_reference(fit, exposure, levels, name)
    for level in levels:
        if level not in rates.index:
            raise CohortcalcError(f"{exposure} level {level!r} has no rows in stratum {key}.")
        counts = rates.loc[level]
        row = rows.add({rows.label: prefix + level_label(level)})
        source = f"cc.incidence_rates, {exposure} = {level}, stratum {key}"
        cells = {
            "N": (counts["n"], format_count(counts["n"]), "n"),
            "Events": (counts["events"], format_count(counts["events"]), "events"),
            "Person-years": (counts["person_years"], format_number(counts["person_years"]), "py"),
        }
        for column, (value, text, quantity) in cells.items():
            rows.rows[row][column] = text
            rows.record(row, column, quantity, value, source)
        rate = (counts["rate"], counts["lower"], counts["upper"])
        rows.rows[row][RATE_COLUMN] = format_ratio_ci(*rate)
        for quantity, value in zip(("rate", "rate_lower", "rate_upper"), rate, strict=True):
            rows.record(row, RATE_COLUMN, quantity, value, source)
        cell = (*in_stratum, (exposure, level))
        rows.count(f"n|{key}|{level}", counts["n"], (row, "N"), where=cell)
        rate_cell = ((row, RATE_COLUMN),)
        rows.count(
            f"events|{key}|{level}", counts["events"], (row, "Events"), rate_cell,
            where=(*cell, is_event),
        )  # fmt: skip
        for name, fit in fits.items():
            _hr_cell(rows, row, headers[name], fit, f"{exposure}[{level}]", name)
    for kind in ("n", "events"):
        total = int(sum(rows.counts[f"{kind}|{key}|{level}"] for level in levels))
        cell = (*in_stratum, (exposure, NOT_MISSING), *((is_event,) if kind == "events" else ()))
        rows.count(f"{kind}|{key}|total", total, None, where=cell)
        rows.margins.append((*(f"{kind}|{key}|{level}" for level in levels), f"{kind}|{key}|total"))


def _hr_cell(rows: _Rows, row: int, column: str, fit: Any, term: str, model: str) -> None:
    if term not in fit.summary.index:
        rows.rows[row][column] = REFERENCE_LABEL
        rows.record(row, column, "hr", 1.0, f"{model}: reference level (no term {term!r})")
        return
    line = _summary_row(fit, term, model)
    rows.rows[row][column] = format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"])
    for quantity in ("hr", "hr_lower", "hr_upper"):
        rows.record(row, column, quantity, line[quantity], f"{model}: summary[{term!r}]")


def _check_reference(fit: Any, exposure: str, levels: list[str], model: str) -> None:
    """Exactly one level (the reference) may lack an ``exposure[level]`` term."""
    absent = [level for level in levels if f"{exposure}[{level}]" not in fit.summary.index]
    if len(absent) != 1:
        raise ModelError(
            f"{model}: expected terms {exposure}[level] for every level of {levels} but one "
            f"(the reference); missing {absent}, fit terms {list(fit.summary.index)}. Fit the "
            f"model with {exposure!r} as a covariate, or pass `levels` that match its coding."
        )


def _p_value(value: Any) -> float:
    return float(value.p if hasattr(value, "p") else value)


def _p_row(context: tuple, label: str, values: Mapping[str, Any]) -> None:
    rows, prefix, headers, _, _ = context
    row = rows.add({rows.label: prefix + label})
    for name, value in values.items():
        if name not in headers:
            raise CohortcalcError(f"{label}: {name!r} is not one of the models {list(headers)}.")
        p = _p_value(value)
        rows.rows[row][headers[name]] = format_p(p)
        rows.record(row, headers[name], "p", p, f"{label}, {name} (as supplied)")


def _per_sd_row(
    context: tuple, fits: dict, term: str, unit: float, labels: dict | None, show_sd: bool
) -> None:
    rows, prefix, headers, _, _ = context
    label = f"Per SD {variable_label(term, labels)}" + (f" (SD {unit:.2f})" if show_sd else "")
    row = rows.add({rows.label: prefix + label})
    for name, fit in fits.items():
        line = _summary_row(fit, term, name)
        column = headers[name]
        scaled = [line[q] ** unit for q in ("hr", "hr_lower", "hr_upper")]
        rows.rows[row][column] = format_ratio_ci(*scaled)
        source = f"{name}: summary[{term!r}] ** {unit:.6g} (1 SD)"
        for quantity, value in zip(("hr", "hr_lower", "hr_upper"), scaled, strict=True):
            rows.record(row, column, quantity, value, source)


def _add_stratum_margins(
    rows: _Rows, strata: list[Any], levels: list[str], columns: tuple[str, str], is_event: tuple
) -> None:
    """Across strata, each level's counts add up to the (unprinted) whole-cohort count."""
    keys = [stratum_label(s) for s in strata]
    for kind in ("n", "events"):
        for level in [*levels, "total"]:
            parts = [f"{kind}|{key}|{level}" for key in keys]
            total = f"{kind}|all-strata|{level}"
            modifier, exposure = columns
            cell = ((modifier, NOT_MISSING), (exposure, NOT_MISSING if level == "total" else level))
            cell += (is_event,) if kind == "events" else ()
            rows.count(total, sum(rows.counts[p] for p in parts), None, where=cell)
            rows.margins.append((*parts, total))
