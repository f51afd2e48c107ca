"""The outputs of the spec's ``exposure_response:`` section (``exposure_response_spec.py``):
spline HR tables and figures, the additive-interaction table, E-values (adjusted risk
curves: ``exposure_response_curves.py``).

```yaml
exposure_response:
  splines:            # HR across a continuous exposure, restricted cubic spline (rms::rcs)
    - {column: log_cac, knots: 4, scale: log1p, reference: 0, at: [10, 100, 400, 1000],
       label: "CAC (Agatston units)"}
  additive_interactions:   # RERI, AP, SI (Cox, cause-specific) with the joint table
    - first: {column: cac_agatston, above: 0, label: "CAC > 0"}
      second: {column: ckd, label: CKD}
  adjusted_curves:     # standardised risk by exposure level (exposure_response_curves.py)
    - {exposure: cac_category, outcomes: [mi], times: [2, 4, 6, 8, 10]}
  evalues: true        # E-values of the exposure HRs of the main (last-model) fits
```
``scale: log1p`` says the column is log(x + 1) and that ``reference``/``at`` are given in x
(here CAC = 0, 10, ...). Fits use the spec's last adjustment set unless ``model`` names one.
Every outcome and method of the spec gets a spline table and figure; additive interaction is
fitted with Cox models only; ``outcomes: [...]`` restricts an entry to some outcomes. With
``engine: spark`` these fits run locally on the collected output columns, as the tables and
figures of a Spark run do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from cohortcalc.analysis.exposure_response_curves import adjusted_curve_outputs
from cohortcalc.analysis.exposure_response_spec import (
    AdditiveInteractionSpec,
    BinaryExposure,
    SplineExposure,
)
from cohortcalc.effects import additive_interaction, evalue, hr_curve
from cohortcalc.effects.figures import plot_hr_curve
from cohortcalc.errors import ModelError, SpecError
from cohortcalc.reporting.format import format_count, format_df, format_p, format_ratio_ci
from cohortcalc.reporting.style import save_figure
from cohortcalc.reporting.suppression import suppress_small_cells
from cohortcalc.reporting.table import CountGrid, Table, values_frame
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray import finegray
from cohortcalc.survival.nonparametric import cumulative_incidence

if TYPE_CHECKING:
    from cohortcalc.analysis.spec import Outcome, Spec


def exposure_response_outputs(
    spec: Spec,
    frames: Any,
    fits: tuple[Any, ...],
    per_sd_units: dict[str, float],
    out: Path | None,
    completed: Sequence[Any] = (),
) -> tuple[dict[str, Table], dict[str, tuple[Path, ...]]]:
    """Tables (and, with ``out``, figures) of the spec's ``exposure_response`` section.

    ``completed``: the analysis frames of each completed data set of a run with
    ``missing_data``; spline curves are then fitted on each and pooled (Rubin's rules per
    point, D1 tests); the other analyses here use ``frames`` (observed data)."""
    section = getattr(spec, "exposure_response", None)
    if section is None:
        return {}, {}
    from cohortcalc.analysis.fitting import MAIN

    ties = spec.models.ties
    tables: dict[str, Table] = {}
    figures: dict[str, tuple[Path, ...]] = {}
    for outcome in spec.outcomes:
        frame = frames.get(MAIN, outcome)
        for i, spline in enumerate(section.splines):
            if spline.outcomes is not None and outcome.name not in spline.outcomes:
                continue
            _check_columns(spec, frame, [spline.column], ("exposure_response", "splines", i))
            for method in outcome.methods:
                name = f"spline_{outcome.name}_{method}_{spline.column}"
                covariates = _covariates(spec, outcome, spline.model, [spline.column])
                terms = [spline.term, *covariates]
                fit = (
                    [_fit(spec, f.get(MAIN, outcome), outcome, method, terms, ties, name)
                     for f in completed]
                    if completed
                    else _fit(spec, frame, outcome, method, terms, ties, name)
                )  # fmt: skip
                tables[name] = spline_table(fit, spline, outcome, method, covariates)
                if out is not None:
                    figures[name] = _spline_figure(fit, spline, frame, out / "figures" / name, spec)
        for j, pair in enumerate(section.additive_interactions):
            if pair.outcomes is not None and outcome.name not in pair.outcomes:
                continue
            where = ("exposure_response", "additive_interactions", j)
            _check_columns(spec, frame, [pair.first.column, pair.second.column], where)
            data = frame.with_columns(_binary(pair.first, frame), _binary(pair.second, frame))
            a, b = pair.first.name, pair.second.name
            covariates = _covariates(
                spec, outcome, pair.model, [pair.first.column, pair.second.column]
            )
            name = f"additive_{outcome.name}_{a}_{b}"
            terms = [f"{a} * {b}", *covariates]
            if completed:  # one fit per completed data set; counts from the first
                datasets = [
                    f.get(MAIN, outcome).with_columns(
                        _binary(pair.first, frame), _binary(pair.second, frame)
                    )
                    for f in completed
                ]
                pooled = [_fit(spec, d, outcome, "cox", terms, ties, name) for d in datasets]
                cells = _cell_counts(datasets[0], outcome, [a, b, *covariates], pooled[0])
                table = additive_table(pooled, pair, outcome, cells)
            else:
                fit = _fit(spec, data, outcome, "cox", terms, ties, name)
                cells = _cell_counts(data, outcome, [a, b, *covariates], fit)
                table = additive_table(fit, pair, outcome, cells)
            threshold = spec.small_cell_threshold  # 0 or 1: off, as for the other tables
            tables[name] = suppress_small_cells(table, threshold) if threshold > 1 else table
    curve_tables, curve_figures = adjusted_curve_outputs(spec, frames, out)
    tables.update(curve_tables)
    figures.update(curve_figures)
    if section.evalues:
        tables["evalues"] = evalue_table(spec, frames, fits, per_sd_units)
    return tables, figures


def _check_columns(spec: Spec, frame: pl.DataFrame, columns: list[str], where: tuple) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SpecError(
            f"{spec.where(*where)}: column(s) {missing} not in the analysis frame; check the "
            "spelling or derive them first."
        )


def _covariates(
    spec: Spec, outcome: Outcome, model: str | None, exposure_columns: list[str]
) -> list[str]:
    """The adjustment set ``model`` (default the last) of ``outcome`` (its own sets when it
    has them, e.g. without age on the age scale), without the exposure columns."""
    sets = spec.models.covariate_sets(outcome)
    name = model or list(sets)[-1]
    if name not in sets:
        raise SpecError(f"exposure_response: model {name!r} is not one of {list(sets)}.")
    return [c for c in sets[name] if c not in exposure_columns]


def _fit(spec, frame, outcome: Outcome, method: str, terms: list[str], ties: str, name: str):
    try:
        if method == "cox":
            event = (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event")
            return cox(frame.with_columns(event), outcome.time, "_event", terms, ties=ties)
        return finegray(frame, outcome.time, outcome.status, outcome.event_code, terms)
    except ModelError as exc:
        raise ModelError(f"{spec.source}: exposure_response {name}: {exc}") from exc


def _binary(exposure: BinaryExposure, frame: pl.DataFrame) -> pl.Expr:
    column = pl.col(exposure.column)
    if exposure.above is not None:
        return (column > exposure.above).cast(pl.Int8).alias(exposure.name)
    values = frame.get_column(exposure.column).drop_nulls().unique().cast(pl.Float64).to_list()
    if not set(values) <= {0.0, 1.0}:
        raise SpecError(
            f"exposure_response: {exposure.column!r} is not binary (values {sorted(values)[:5]}); "
            f"give 'above: <cut>' to binarise it."
        )
    return column.cast(pl.Int8).alias(exposure.name)


def _ratio(method: str) -> str:
    return "HR" if method == "cox" else "SHR"


def spline_table(fit, spline: SplineExposure, outcome: Outcome, method: str, covariates) -> Table:
    """HRs at the chosen exposure values against the reference, and the Wald tests."""
    values = spline.at if spline.at is not None else _default_values(fit, spline)
    curve = hr_curve(
        fit,
        spline.term,
        reference=float(spline.to_model_scale(spline.reference)),
        at=spline.to_model_scale(values),
    )
    label = spline.label or spline.column
    rows, records = [], []
    source = f"{outcome.name}/{method}/{spline.term}"
    for i, (value, row) in enumerate(zip(values, curve.table.itertuples(), strict=True)):
        rows.append(
            {
                label: f"{value:,.4g}",
                f"{_ratio(method)} (95% CI)": format_ratio_ci(row.hr, row.hr_lower, row.hr_upper),
            }
        )
        records.append((i, f"{_ratio(method)} (95% CI)", "hr", float(row.hr), f"{source}@{value}"))
    knots = ", ".join(f"{k:.3g}" for k in curve.knots)
    a, n = curve.association, curve.nonlinearity
    if curve.imputations:
        intervals = (
            f"pointwise 95% CIs pooled over {curve.imputations} imputed data sets (Rubin's "
            "rules: t with Barnard–Rubin df)"
        )
        tests = (
            f"D1 pooled Wald test of any association: F {a.statistic:.2f} on {a.df1} and "
            f"{format_df(a.df2)} df, p {format_p(a.p)}; of non-linearity: F "
            f"{n.statistic:.2f} on {n.df1} and {format_df(n.df2)} df, p {format_p(n.p)}."
        )
    else:
        intervals = "pointwise Wald 95% CIs"
        tests = (
            f"Wald test of any association: chi-square {a.statistic:.2f} on {a.df} df, "
            f"p {format_p(a.p)}; of non-linearity: {n.statistic:.2f} on {n.df} df, "
            f"p {format_p(n.p)}."
        )
    return Table(
        title=f"{outcome.label or outcome.name}: {_ratio(method)} by {label} "
        f"(restricted cubic spline, reference {spline.reference:g})",
        frame=pd.DataFrame(rows),
        footnotes=(
            f"Restricted cubic spline of {spline.column} with knots at {knots} (rms::rcs); "
            f"adjusted for {', '.join(covariates) or 'nothing'}; {intervals}.",
            tests,
        ),
        values=values_frame(records),
    )


def _default_values(fit, spline: SplineExposure) -> list[float]:
    first = fit[0] if isinstance(fit, list) else fit  # one fit per completed data set
    low, high = first.splines[spline.term].display_range
    grid = np.linspace(low, high, 6)
    return list(np.expm1(grid) if spline.scale == "log1p" else grid)


def _spline_figure(fit, spline: SplineExposure, frame, path: Path, spec: Spec):
    reference = float(spline.to_model_scale(spline.reference))
    curve = hr_curve(fit, spline.term, reference=reference)
    ticks = None
    if spline.scale == "log1p":
        ticks = {float(np.log1p(v)): f"{v:g}" for v in (0, 10, 100, 1000, 10000)}
    label = spline.label or spline.column
    figure = plot_hr_curve(
        curve,
        frame.get_column(spline.column).drop_nulls().to_numpy(),
        xlabel=f"{label}, log scale" if spline.scale == "log1p" else label,
        ticks=ticks,
    )
    formats = list(spec.outputs.figure_formats)
    return tuple(save_figure(figure, path, formats, spec.outputs.figure_dpi))


def _cell_counts(
    data: pl.DataFrame, outcome: Outcome, columns: list[str], fit: Any
) -> dict[tuple[int, int], tuple[int, int]]:
    """Participants and events in each exposure combination, on the fit's complete cases;
    they must add up to the fit's N and events."""
    first, second = columns[:2]
    used = data.select(outcome.time, outcome.status, *columns).drop_nulls()
    grouped = used.group_by(first, second).agg(
        pl.len().alias("n"), (pl.col(outcome.status) == outcome.event_code).sum().alias("events")
    )
    cells = {(int(r[0]), int(r[1])): (int(r[2]), int(r[3])) for r in grouped.iter_rows()}
    n = sum(c[0] for c in cells.values())
    events = sum(c[1] for c in cells.values())
    if (n, events) != (fit.n, fit.n_events):
        raise ModelError(
            f"additive interaction of {first} and {second}: cell counts ({n} participants, "
            f"{events} events) do not reconcile with the fit ({fit.n}, {fit.n_events})."
        )
    return cells


def additive_table(fit, pair: AdditiveInteractionSpec, outcome: Outcome, cells: dict) -> Table:
    """Knol & VanderWeele (2012): participants, events and HRs of each combination against the
    doubly unexposed, stratum-specific HRs, RERI/AP/SI and the ratio of HRs."""
    result = additive_interaction(fit, pair.first.name, pair.second.name)
    fit = fit[0] if isinstance(fit, list) else fit  # pooled: counts of the first data set
    first = pair.first.label or pair.first.name
    second = pair.second.label or pair.second.name
    rows, records = [], []
    counts: dict[str, int] = {"n_total": int(fit.n), "events_total": int(fit.n_events)}
    location: dict[str, tuple[int, str]] = {}
    for i, row in enumerate(result.joint.itertuples()):
        a, b = result.levels[0].index(row.first), result.levels[1].index(row.second)
        n, events = cells.get((a, b), (0, 0))
        rows.append(
            {
                "Quantity": f"{first}: {_yes(row.first)}, {second}: {_yes(row.second)}",
                "Participants": format_count(n),
                "Events": format_count(events),
                "Estimate (95% CI)": "1 (reference)"
                if a == b == 0
                else format_ratio_ci(row.hr, row.hr_lower, row.hr_upper),
                "p": "",
            }
        )
        records.append((i, "Estimate (95% CI)", "hr", float(row.hr), "joint"))
        counts |= {f"n_{i}": n, f"events_{i}": events}
        location |= {f"n_{i}": (i, "Participants"), f"events_{i}": (i, "Events")}
    for row in result.stratified.itertuples():
        exposure = first if row.exposure == pair.first.name else second
        within = second if row.within == pair.second.name else first
        rows.append(
            {
                "Quantity": f"HR of {exposure} within {within}: {_yes(row.level)}",
                "Participants": "",
                "Events": "",
                "Estimate (95% CI)": format_ratio_ci(row.hr, row.hr_lower, row.hr_upper),
                "p": "",
            }
        )
        records.append((len(rows) - 1, "Estimate (95% CI)", "hr", float(row.hr), "stratum"))
    names = {"RERI": "RERI", "AP": "AP", "SI": "SI", "multiplicative": "Ratio of HRs"}
    for key, row in result.measures.iterrows():
        additive = key in ("RERI", "AP")  # differences: can be negative, printed with "to"
        text = (
            f"{_signed(row['estimate'])} ({_signed(row['lower'])} to {_signed(row['upper'])})"
            if additive
            else format_ratio_ci(row["estimate"], row["lower"], row["upper"])
        )
        quantity = names[str(key)]
        rows.append(
            {
                "Quantity": quantity,
                "Participants": "",
                "Events": "",
                "Estimate (95% CI)": text,
                "p": format_p(row["p"]),
            }
        )
        records.append((len(rows) - 1, "Estimate (95% CI)", str(key), float(row["estimate"]), ""))
    return Table(
        title=f"{outcome.label or outcome.name}: interaction of {first} and {second} on the "
        "additive and multiplicative scales (cause-specific Cox)",
        frame=pd.DataFrame(rows),
        footnotes=(
            f"HRs against participants with neither {first} nor {second}, from one model with "
            "the product term (Knol & VanderWeele 2012). RERI: relative excess risk due to "
            "interaction; AP: attributable proportion; SI: synergy index; delta-method 95% CIs "
            "(Hosmer & Lemeshow 1992), SI on the log scale.",
            *_pooled_note(result.imputations),
        ),
        values=values_frame(records),
        counts=CountGrid(
            counts,
            location,
            margins=(
                (*(f"n_{i}" for i in range(4)), "n_total"),
                (*(f"events_{i}" for i in range(4)), "events_total"),
            ),
        ),
    )


def _pooled_note(m: int) -> tuple[str, ...]:
    if not m:
        return ()
    return (
        f"Each quantity (log HRs, RERI, AP, log SI) pooled over {m} imputed data sets by "
        "Rubin's rules: CIs and p from the t distribution with Barnard–Rubin df. Participants "
        "and events are those of the first completed data set (they vary across imputations "
        "when an exposure is derived from imputed values).",
    )


def _signed(value: float) -> str:
    """Two decimals without a negative zero ("-0.00" reads as a sign error)."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _yes(level: str) -> str:
    return "yes" if level in ("1", "True") else "no" if level in ("0", "False") else level


def evalue_table(
    spec: Spec, frames: Any, fits: tuple[Any, ...], per_sd_units: dict[str, float]
) -> Table:
    """E-values of the exposure terms of the main, overall Cox fits of the last model (per SD
    where the spec reports per SD); a subdistribution HR is not a risk ratio, so no E-value."""
    from cohortcalc.analysis.fitting import ALL, MAIN, exposure_estimates

    last_model = list(spec.models.covariate_sets())[-1]
    outcomes = {o.name: o for o in spec.outcomes}
    risks = {o.name: outcome_risk(frames.get(MAIN, o), o) for o in spec.outcomes}
    rows, records = [], []
    for fit in fits:
        key = fit.key
        if (key.analysis, key.subgroup, key.model, key.method) != (MAIN, ALL, last_model, "cox"):
            continue
        estimates = exposure_estimates(fit, per_sd_units)
        for term in fit.exposure_terms:
            line = estimates.loc[term]
            result = evalue(
                line["hr"], line["hr_lower"], line["hr_upper"], outcome_risk=risks[key.outcome]
            )
            outcome = outcomes[key.outcome]
            rows.append(
                {
                    "Outcome": outcome.label or outcome.name,
                    "Term": f"{term}, per SD" if key.exposure in per_sd_units else term,
                    "HR (95% CI)": format_ratio_ci(line["hr"], line["hr_lower"], line["hr_upper"]),
                    "E-value": f"{result.point:.2f}",
                    "E-value (CI)": f"{result.ci:.2f}",
                    "Outcome risk": f"{100 * risks[key.outcome]:.1f}%",
                    "HR as RR": "yes (rare)" if result.rare else "no (converted)",
                }
            )
            records.append((len(rows) - 1, "E-value", "evalue", result.point, f"{key}:{term}"))
    return Table(
        title=f"E-values of the exposure hazard ratios ({last_model})",
        frame=pd.DataFrame(rows),
        footnotes=(
            "Cause-specific Cox hazard ratios. E-value: the minimum risk ratio an unmeasured "
            "confounder would need with both the exposure and the outcome to explain the "
            "estimate away (VanderWeele & Ding 2017); "
            "'E-value (CI)' for the CI limit closer to 1 (1 if the CI contains 1). The HR is "
            "taken as a risk ratio only when the outcome's cumulative incidence at the end of "
            "follow-up is below 15%; otherwise it is converted with (1 - 0.5^sqrt(HR)) / "
            "(1 - 0.5^sqrt(1/HR)) (VanderWeele 2020).",
        ),
        values=values_frame(records),
    )


def outcome_risk(frame: pl.DataFrame, outcome: Outcome) -> float:
    """Cumulative incidence of the outcome at the end of follow-up (Aalen–Johansen, competing
    events as the spec codes them; 1 − Kaplan–Meier without them)."""
    data = frame.select(outcome.time, outcome.status).drop_nulls()
    curve = cumulative_incidence(data, outcome.time, outcome.status, outcome.event_code)
    return float(curve["cif"].iloc[-1]) if len(curve) else 0.0
