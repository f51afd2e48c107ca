"""``cohortcalc report``: Table 1 and the Kaplan–Meier / cumulative-incidence curves of an
analysis frame, with one disclosure control over the table and the numbers at risk."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cohortcalc.analysis.disclosure import AT_LEAST, CountSpace, hide, register_table
from cohortcalc.reporting.export import export_table
from cohortcalc.reporting.figures import plot_cumulative_incidence, plot_survival, risk_times
from cohortcalc.reporting.format import format_count, suppressed_label
from cohortcalc.reporting.style import save_figure
from cohortcalc.reporting.suppression import COMPLEMENT_LABEL
from cohortcalc.reporting.table_one import table_one
from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier

ID_COLUMN = "participant_id"
OUTCOME_NAMES = {"mi_status": "MI", "death_status": "death", "cv_death_status": "CV death"}


def write_frame_report(
    data: pl.DataFrame,
    out: Path,
    *,
    by: str,
    groupings: list[str],
    time: str,
    event: str,
    cause: int,
    min_cell: int,
    max_time: float | None,
    table_formats: list[str],
    figure_formats: list[str],
) -> list[Path]:
    """Write ``table1.<fmt>`` and one curve figure per grouping; counts from 1 to
    ``min_cell - 1`` and the counts that would reveal them are hidden in every output."""
    table = table_one(data, by=by)
    curves = {g: _curves(data, g, time, event, cause) for g in groupings}
    space = CountSpace(ID_COLUMN if ID_COLUMN in data.columns else None)
    ids = register_table(space, "table1", table, data)
    risk: dict[tuple[str, object, float], str] = {}
    for group, (subset, table_of_curves, _) in curves.items():
        horizon = float(table_of_curves["time"].max()) if max_time is None else max_time
        for value in subset.get_column(group).unique().to_list():
            for at in risk_times(horizon):
                where = ((group, value), (time, (AT_LEAST, float(at))))
                risk[(group, value, float(at))] = space.cell(subset, where)
                space.show(risk[(group, value, float(at))])
    written = []
    if min_cell > 1:
        protection = space.protect(min_cell)
        values = frozenset(space.counts[c] for c in protection.complementary)
        table = hide(table, ids, protection, min_cell, values)
    for fmt in table_formats:
        written.append(export_table(table, out / f"table1.{fmt.strip()}"))
    for group, (_, table_of_curves, binary) in curves.items():

        def label(key: tuple, at: float, n: int, group: str = group) -> str:
            cid = risk.get((group, key[0], at))
            if min_cell > 1 and cid in protection.primary:
                return suppressed_label(min_cell)
            if min_cell > 1 and cid in protection.complementary:
                return COMPLEMENT_LABEL
            return format_count(n)

        outcome = OUTCOME_NAMES.get(event, event)
        unit = "days" if time.endswith("days") else "years"
        options = {"max_time": max_time, "time_unit": unit, "risk_label": label}
        if binary:
            figure = plot_survival(table_of_curves, ylabel=f"Free of {outcome}, %", **options)
        else:
            ylabel = f"Cumulative incidence of {outcome}, %"
            figure = plot_cumulative_incidence(table_of_curves, ylabel=ylabel, **options)
        name = f"{'km' if binary else 'cif'}_{event}_by_{group}"
        written += save_figure(figure, out / name, formats=figure_formats)
    return written


def _curves(data: pl.DataFrame, group: str, time: str, event: str, cause: int):
    subset = data.drop_nulls([group, time, event])
    binary = set(subset[event].unique().to_list()) <= {0, 1}
    if binary:
        return subset, kaplan_meier(subset, time=time, event=event, by=group), True
    curves = cumulative_incidence(subset, time=time, event=event, cause=cause, by=group)
    return subset, curves, False
