"""The run's figures, drawn with ``cohortcalc.reporting`` from the main analysis population.

- ``cif_<outcome>_by_<group>``: Aalen–Johansen cumulative incidence, for outcomes with a
  competing event (1 − Kaplan–Meier would overstate their risk);
- ``km_<outcome>_by_<group>``: Kaplan–Meier survival, for outcomes without one;
- ``forest_<outcome>_<method>``: HRs of the last adjustment set, overall and within each
  level of every effect modifier, per exposure term.

Numbers at risk below the small-cell threshold print as "<threshold".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.analysis.checks import figure_groupings
from cohortcalc.analysis.disclosure import AT_LEAST, BEFORE
from cohortcalc.analysis.exposure_response_curves import adjusted_caption
from cohortcalc.analysis.fitting import ALL, MAIN, exposure_estimates
from cohortcalc.analysis.outputs import Context, labels
from cohortcalc.analysis.spec import Outcome, split_grouping
from cohortcalc.analysis.timescales import curve_axis
from cohortcalc.reporting.figures import (
    forest_plot,
    plot_cumulative_incidence,
    plot_survival,
    risk_times,
    save_figure,
)
from cohortcalc.reporting.format import (
    format_p,
    level_label,
    short_label,
    stratum_heading,
    variable_label,
)
from cohortcalc.survival.nonparametric import cumulative_incidence, kaplan_meier


def _curve_names(ctx: Context) -> list[tuple[str, Outcome, str | None]]:
    """(name, outcome, grouping) of every curve figure the spec asks for."""
    wanted, names = ctx.spec.outputs.figures, []
    for outcome in ctx.spec.outcomes:
        competing = outcome.competing_code is not None
        if ("cumulative_incidence" if competing else "kaplan_meier") in wanted:
            for by in figure_groupings(ctx.spec):
                suffix = f"_by_{by.replace(' within ', '_within_')}" if by is not None else ""
                names.append(
                    (f"{'cif' if competing else 'km'}_{outcome.name}{suffix}", outcome, by)
                )
    return names


def _curve_frame(ctx: Context, outcome: Outcome, grouping: str | None) -> pl.DataFrame:
    by, facet = split_grouping(grouping) if grouping else (None, None)
    columns = (outcome.entry, outcome.time, outcome.status, by, facet)
    return ctx.frame.drop_nulls([c for c in columns if c])


def risk_cells(ctx: Context) -> dict[str, tuple[pl.DataFrame, list[tuple[Any, float, tuple]]]]:
    """The numbers at risk each curve figure prints, as counts for disclosure control:
    ``{figure: (frame, [(group value, time, conditions)])}``; the number at risk at t is the
    group's rows with follow-up >= t."""
    cells = {}
    for name, outcome, grouping in _curve_names(ctx):
        if grouping is not None and split_grouping(grouping)[1] is not None:
            continue  # faceted figures: numbers at risk get the plain small-cell rule
        frame = _curve_frame(ctx, outcome, grouping)
        horizon = float(frame.get_column(outcome.time).max() or 0.0)
        axis = curve_axis(frame, outcome)
        times = axis.get("at_risk_times") or risk_times(horizon)
        groups = [None] if grouping is None else frame.get_column(grouping).unique().to_list()
        listed = []
        for value in groups:
            group = () if grouping is None else ((grouping, value),)
            for time in times:
                at = (outcome.time, (AT_LEAST, time))  # at risk at t: entry < t <= exit
                entered = ((outcome.entry, (BEFORE, time)),) if outcome.entry else ()
                listed.append((value, float(time), (*group, at, *entered)))
        cells[name] = (frame, listed)
    return cells


def draw_figures(
    ctx: Context,
    out: Path,
    at_risk: Callable[[str, Any, float, int], str] | None = None,
    counts: Callable[[Any], tuple[str, str]] | None = None,
) -> dict[str, tuple[Path, ...]]:
    """Draw and save every figure the spec asks for; ``{name: written files}``. ``at_risk``
    gives the text of each number at risk and ``counts`` the N and events of a fit in a
    forest plot (both from the run's disclosure control)."""
    spec = ctx.spec
    wanted, formats = spec.outputs.figures, list(spec.outputs.figure_formats)
    dpi = spec.outputs.figure_dpi
    written: dict[str, tuple[Path, ...]] = {}
    for name, outcome, by in _curve_names(ctx):
        label = None
        faceted = by is not None and split_grouping(by)[1] is not None
        if at_risk is not None and not faceted:

            def label(key: tuple, time: float, n: int, name: str = name) -> str:
                return at_risk(name, key[0] if key else None, time, n)

        figure = _curve(ctx, outcome, by, label)
        written[name] = tuple(save_figure(figure, out / "figures" / name, formats, dpi))
    for outcome in spec.outcomes:
        if "forest" in wanted:
            for method in outcome.methods:
                rows = forest_table(ctx, outcome.name, method, counts)
                if rows.empty:
                    continue
                short = "sHR" if method == "finegray" else "HR"
                figure = forest_plot(
                    rows, title=f"{outcome.label or outcome.name}: {_ratios(method)}",
                    subtitle=_model_text(ctx, method), xlabel=f"{_ratio(method)} (log scale)",
                    estimate_header=f"{short} (95% CI)",
                    section_notes=_interaction_notes(ctx, outcome.name, method, rows),
                )  # fmt: skip
                name = f"forest_{outcome.name}_{method}"
                written[name] = tuple(save_figure(figure, out / "figures" / name, formats, dpi))
    return written


def caption(ctx: Context, name: str) -> str:
    """A figure's caption, from its name (``cif_<outcome>[_by_<group>]``, ``km_…``,
    ``forest_<outcome>_<method>``)."""
    from cohortcalc.analysis.imputation import caption as imputation_caption
    from cohortcalc.analysis.prediction import caption as prediction_caption

    text = imputation_caption(name, ctx.spec) or prediction_caption(name, ctx.spec)
    if text is not None:
        return text
    names = labels(ctx.spec)
    kind, _, rest = name.partition("_")
    if kind == "adjusted":
        return adjusted_caption(ctx.spec, rest, names)
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
                f"Cumulative incidence of {label.lower()}{grouping} (Aalen–Johansen, treating "
                "the competing event as such rather than as censoring), with 95% CIs."
            )
        for method in outcome.methods:
            if kind == "forest" and rest == f"{outcome.name}_{method}":
                model = ctx.spec.models.adjustment[-1].name
                return (
                    f"{label}: {_ratios(method)} ({_method_label(method)}, {model}), "
                    "in all participants and within each level of the effect modifiers."
                )
            if kind == "spline" and rest.startswith(f"{outcome.name}_{method}_"):
                return (
                    f"{label}: {_ratios(method).removesuffix('s')} across "
                    f"{variable_label(rest.removeprefix(f'{outcome.name}_{method}_'), names)} "
                    "(restricted cubic spline, pointwise 95% CIs), with its distribution below."
                )
    return name


def _curve(ctx: Context, outcome: Outcome, grouping: str | None, risk_label: Any = None):
    by, facet = split_grouping(grouping) if grouping else (None, None)
    frame = _curve_frame(ctx, outcome, grouping)
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
        "risk_label": risk_label,
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


def forest_fits(ctx: Context, outcome: str, method: str) -> list:
    """The fits a forest plot shows: main analysis, last adjustment set, every exposure,
    overall then within each level of each modifier."""
    model = ctx.spec.models.adjustment[-1].name
    fits = [
        f
        for f in ctx.fits
        if (f.key.analysis, f.key.outcome, f.key.method, f.key.model)
        == (MAIN, outcome, method, model)
    ]
    ordered = []
    for exposure in ctx.spec.exposures:
        ordered += sorted(
            (f for f in fits if f.key.exposure == exposure.column),
            key=lambda f: (f.key.subgroup != ALL, f.key.subgroup),
        )
    return ordered


def forest_table(
    ctx: Context, outcome: str, method: str, counts: Callable[[Any], tuple[str, str]] | None = None
) -> pd.DataFrame:
    """Rows for a forest plot: per exposure term (group), all participants, then a section
    per modifier with a row per level; ``counts(fit)`` gives the printed N and events."""
    records = []
    for fit in forest_fits(ctx, outcome, method):
        estimates = exposure_estimates(fit, ctx.per_sd_units)
        section, label = None, "All participants"
        if fit.key.subgroup != ALL:
            column = fit.key.subgroup.split("=", 1)[0]
            section = variable_label(column, labels(ctx.spec))
            label = stratum_heading(column, fit.subgroup_value, labels(ctx.spec))
        n_text, events_text = counts(fit) if counts else (None, None)
        for term, row in estimates.iterrows():
            records.append({
                "label": label, "section": section, "exposure": fit.key.exposure,
                "group": _term_label(ctx, str(term), fit.key.exposure),
                "hr": row["hr"], "hr_lower": row["hr_lower"], "hr_upper": row["hr_upper"],
                "n": fit.result.n, "n_events": fit.result.n_events,
                "n_text": n_text, "events_text": events_text,
            })  # fmt: skip
    rows = pd.DataFrame.from_records(records)
    if rows.empty:
        return rows
    order = list(dict.fromkeys(rows["group"]))
    rows["_order"] = rows["group"].map(order.index)
    return rows.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)


def _interaction_notes(ctx: Context, outcome: str, method: str, rows: pd.DataFrame) -> dict:
    """(term group, modifier section) -> "p for interaction = 0.40" from the run's tests."""
    model = ctx.spec.models.adjustment[-1].name
    notes = {}
    for test in ctx.interactions:
        key = test.key
        if (key.analysis, key.outcome, key.method, key.model) != (MAIN, outcome, method, model):
            continue
        section = variable_label(test.modifier, labels(ctx.spec))
        kind = {"lrt": "LRT", "wald": "Wald", "d1": "pooled Wald (D1)"}[test.test]
        chosen = (rows["section"] == section) & (rows["exposure"] == key.exposure)
        joint = f"joint over {test.df} terms, " if test.df > 1 else ""
        text = f"p for interaction {format_p(test.p, prefix=True)[2:]}, {joint}{kind}"
        for group in rows.loc[chosen, "group"].unique():
            notes[(group, section)] = text
    return notes


def _term_label(ctx: Context, term: str, column: str) -> str:
    if term.startswith(f"{column}["):
        short = "CAC" if column == "cac_category" else variable_label(column, labels(ctx.spec))
        level = level_label(term[len(column) + 1 : -1])
        return f"{short} {level} vs {level_label(_reference(ctx, column))}"
    label = variable_label(column, labels(ctx.spec))
    return f"Per SD {label}" if column in ctx.per_sd_units else label


def _reference(ctx: Context, column: str) -> str:
    return next((e.reference or "" for e in ctx.spec.exposures if e.column == column), "")


def _model_text(ctx: Context, method: str) -> str:
    """The model of a forest plot, named: "Cox proportional hazards, Model 2: adjusted for ..."."""
    model = ctx.spec.models.adjustment[-1].name
    covariates = ctx.spec.models.covariate_sets()[model]
    kind = (
        "Fine–Gray subdistribution hazards" if method == "finegray" else "Cox proportional hazards"
    )
    adjusted = ", ".join(short_label(c, labels(ctx.spec)) for c in covariates) or "nothing"
    return f"{kind}, {model}: adjusted for {adjusted}."


def _ratios(method: str) -> str:
    return "subdistribution hazard ratios" if method == "finegray" else "hazard ratios"


def _ratio(method: str) -> str:
    return "Subdistribution HR" if method == "finegray" else "Hazard ratio"


def _method_label(method: str) -> str:
    return "Fine–Gray" if method == "finegray" else "Cox"
