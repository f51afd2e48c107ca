"""The run's figures, drawn with ``cohortcalc.reporting`` from the main analysis population.

- ``cif_<outcome>_by_<group>``: Aalen–Johansen cumulative incidence, for outcomes with a
  competing event (1 − Kaplan–Meier would overstate their risk);
- ``km_<outcome>_by_<group>``: Kaplan–Meier survival, for outcomes without one;
- ``forest_<outcome>_<method>``: HRs of the last adjustment set, overall and within each
  level of every effect modifier, per exposure term.

Numbers at risk below the small-cell threshold print as "<threshold".
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl

from cohortcalc.analysis.checks import figure_groupings
from cohortcalc.analysis.fitting import ALL, MAIN, exposure_estimates
from cohortcalc.analysis.outputs import Context, labels
from cohortcalc.analysis.spec import Outcome, split_grouping
from cohortcalc.analysis.timescales import curve_axis
from cohortcalc.reporting.figures import (
    forest_plot,
    plot_cumulative_incidence,
    plot_survival,
    save_figure,
)
from cohortcalc.reporting.format import stratum_label, variable_label
from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier

#: Forest plots span a page's two columns (7 in) minus margins, so labels are not cut.
FOREST_WIDTH_IN = 5.0


def draw_figures(ctx: Context, out: Path) -> dict[str, tuple[Path, ...]]:
    """Draw and save every figure the spec asks for; ``{name: written files}``."""
    spec = ctx.spec
    wanted, formats = spec.outputs.figures, list(spec.outputs.figure_formats)
    groups = figure_groupings(spec)
    written: dict[str, tuple[Path, ...]] = {}
    for outcome in spec.outcomes:
        competing = outcome.competing_code is not None
        kind = "cumulative_incidence" if competing else "kaplan_meier"
        if kind in wanted:
            for by in groups:
                suffix = f"_by_{by.replace(' within ', '_within_')}" if by is not None else ""
                name = f"{'cif' if competing else 'km'}_{outcome.name}{suffix}"
                figure = _curve(ctx, outcome, by)
                written[name] = tuple(save_figure(figure, out / "figures" / name, formats))
        if "forest" in wanted:
            for method in outcome.methods:
                rows = forest_table(ctx, outcome.name, method)
                if rows.empty:
                    continue
                title = f"{outcome.label or outcome.name} ({_method_label(method)})"
                figure = forest_plot(rows, title=title, xlabel=f"{_ratio(method)} (95% CI)",
                                     estimate_header=f"{_ratio(method)} (95% CI)",
                                     width=FOREST_WIDTH_IN)  # fmt: skip
                name = f"forest_{outcome.name}_{method}"
                written[name] = tuple(save_figure(figure, out / "figures" / name, formats))
    return written


def caption(ctx: Context, name: str) -> str:
    """A figure's caption, from its name (``cif_<outcome>[_by_<group>]``, ``km_…``,
    ``forest_<outcome>_<method>``)."""
    names = labels(ctx.spec)
    kind, _, rest = name.partition("_")
    for outcome in ctx.spec.outcomes:
        label = outcome.label or outcome.name
        if kind in ("cif", "km") and (
            rest == outcome.name or rest.startswith(f"{outcome.name}_by_")
        ):
            by = rest.removeprefix(outcome.name).removeprefix("_by_")
            curves, _, panels = by.partition("_within_")
            grouping = f" by {variable_label(curves, names)}" if by else ""
            grouping += f", within each level of {variable_label(panels, names)}" if panels else ""
            if kind == "km":
                return f"Kaplan–Meier curves of {label}{grouping} (proportion event-free, 95% CIs)."
            return (
                f"Cumulative incidence of {label}{grouping} (Aalen–Johansen, competing event "
                f"{outcome.status} = {outcome.competing_code}), with 95% CIs."
            )
        for method in outcome.methods:
            if kind == "forest" and rest == f"{outcome.name}_{method}":
                model = ctx.spec.models.adjustment[-1].name
                return (
                    f"{label}: {_ratio(method).lower()}s ({_method_label(method)}, {model}), "
                    "in all participants and within each level of the effect modifiers."
                )
    return name


def _curve(ctx: Context, outcome: Outcome, grouping: str | None):
    by, facet = split_grouping(grouping) if grouping else (None, None)
    times = (outcome.entry, outcome.time, outcome.status, by, facet)
    frame = ctx.frame.drop_nulls([c for c in times if c])
    label = outcome.label or outcome.name
    options = {
        "by": by,
        **({"facet": facet} if facet else {}),
        **curve_axis(frame, outcome),
        "time_unit": outcome.time_unit,
        "title": f"{label} by {variable_label(by, labels(ctx.spec))}" if by else label,
        **(
            {
                "title": f"{label} by {variable_label(by, labels(ctx.spec))} within "
                f"{variable_label(facet, labels(ctx.spec))}"
            }
            if facet
            else {}
        ),
        "min_cell": ctx.spec.small_cell_threshold or None,
        "labels": labels(ctx.spec),
    }
    if outcome.competing_code is not None:
        curves = cumulative_incidence(
            frame, time=outcome.time, event=outcome.status, cause=outcome.event_code,
            by=[c for c in (by, facet) if c] or None, entry=outcome.entry,
        )  # fmt: skip
        return plot_cumulative_incidence(curves, **options)
    binary = frame.with_columns(
        (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event")
    )
    groups = [c for c in (by, facet) if c] or None
    curves = kaplan_meier(binary, time=outcome.time, event="_event", by=groups, entry=outcome.entry)
    return plot_survival(curves, **options)


def forest_table(ctx: Context, outcome: str, method: str) -> pd.DataFrame:
    """Rows for a forest plot: per exposure term (group), overall then each modifier level."""
    model = ctx.spec.models.adjustment[-1].name
    fits = [
        f
        for f in ctx.fits
        if (f.key.analysis, f.key.outcome, f.key.method, f.key.model)
        == (MAIN, outcome, method, model)
    ]
    records = []
    for exposure in ctx.spec.exposures:
        chosen = sorted(
            (f for f in fits if f.key.exposure == exposure.column),
            key=lambda f: (f.key.subgroup != ALL, f.key.subgroup),
        )
        for fit in chosen:
            estimates = exposure_estimates(fit, ctx.per_sd_units)
            for term, row in estimates.iterrows():
                records.append(
                    {
                        "label": _subgroup_label(ctx, fit.key.subgroup, fit.subgroup_value),
                        "group": _term_label(ctx, str(term), exposure.column),
                        "hr": row["hr"],
                        "hr_lower": row["hr_lower"],
                        "hr_upper": row["hr_upper"],
                        "n": fit.result.n,
                        "n_events": fit.result.n_events,
                    }
                )
    rows = pd.DataFrame.from_records(records)
    if rows.empty:
        return rows
    order = list(dict.fromkeys(rows["group"]))
    rows["_order"] = rows["group"].map(order.index)
    return rows.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _subgroup_label(ctx: Context, subgroup: str, value: object) -> str:
    if subgroup == ALL:
        return "All participants"
    column = subgroup.split("=", 1)[0]
    return f"{variable_label(column, labels(ctx.spec))}: {stratum_label(value)}"


def _term_label(ctx: Context, term: str, column: str) -> str:
    if term.startswith(f"{column}["):
        short = "CAC" if column == "cac_category" else variable_label(column, labels(ctx.spec))
        return f"{short} {term[len(column) + 1 : -1]} vs {_reference(ctx, column)}"
    label = variable_label(column, labels(ctx.spec))
    return f"Per SD {label}" if column in ctx.per_sd_units else label


def _reference(ctx: Context, column: str) -> str:
    return next((e.reference or "" for e in ctx.spec.exposures if e.column == column), "")


def _ratio(method: str) -> str:
    return "Subdistribution HR" if method == "finegray" else "Hazard ratio"


def _method_label(method: str) -> str:
    return "Fine–Gray" if method == "finegray" else "Cox"
