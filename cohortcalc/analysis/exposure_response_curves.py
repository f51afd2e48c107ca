"""Adjusted (standardised) risk curves of the spec's ``exposure_response.adjusted_curves``:
per entry and outcome one ``cc.standardized_risk`` of a model fitted on the analysis
population, drawn by its ``.plot()`` and tabulated at the chosen times with the risk
differences and ratios against the reference level.

```yaml
exposure_response:
  adjusted_curves:
    - {exposure: cac_category, outcomes: [mi], times: [2, 4, 6, 8, 10], method: cox}
```
``method: cox`` on an outcome with a competing event standardises the cumulative incidence
from the cause-specific Cox models of the event and of the competing event (``competing=``,
as ``riskRegression::ate`` on a ``CSC`` fit); without one it is 1 − S(t | x). ``finegray``
standardises the Fine–Gray cumulative incidence with ``n_boot`` seeded bootstrap refits.
The table shows estimates only (no participant counts), so small-cell suppression has
nothing to act on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from cohortcalc.analysis.exposure_response_spec import AdjustedCurves, curve_outcomes
from cohortcalc.effects.standardized import standardized_risk
from cohortcalc.errors import ModelError
from cohortcalc.reporting.format import (
    MISSING_VALUE,
    format_ratio_ci,
    stratum_label,
    variable_label,
)
from cohortcalc.reporting.style import save_figure
from cohortcalc.reporting.table import Table, values_frame
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray import finegray

if TYPE_CHECKING:
    from cohortcalc.analysis.spec import Outcome, Spec
    from cohortcalc.effects.standardized import StandardizedRisk

GRID_STEPS = 24  # default curve grid: 24 steps up to the horizon


def adjusted_curve_outputs(
    spec: Spec, frames: Any, out: Path | None
) -> tuple[dict[str, Table], dict[str, tuple[Path, ...]]]:
    """Tables ``adjusted_<outcome>_<method>_<exposure>`` (and, with ``out``, the figures of
    the same names) of every ``adjusted_curves`` entry and outcome."""
    from cohortcalc.analysis.fitting import MAIN
    from cohortcalc.analysis.outputs import labels

    section = getattr(spec, "exposure_response", None)
    tables: dict[str, Table] = {}
    figures: dict[str, tuple[Path, ...]] = {}
    for entry in section.adjusted_curves if section is not None else []:
        for outcome in curve_outcomes(spec, entry):
            name = f"adjusted_{outcome.name}_{entry.method}_{entry.exposure}"
            frame = frames.get(MAIN, outcome)
            result, at = adjusted_risk(spec, entry, outcome, frame, name)
            covariates = curve_covariates(spec, entry, outcome)
            tables[name] = adjusted_table(spec, entry, outcome, result, at, covariates)
            if out is not None:
                figure = result.plot(
                    time_unit=outcome.time_unit,
                    ylabel=f"{_risk_word(entry, outcome)}, %",
                    labels=labels(spec),
                    title=f"{outcome.label or outcome.name}, standardised over the covariates "
                    f"of {_model_name(spec, entry, outcome)}",
                )
                path = out / "figures" / name
                formats = list(spec.outputs.figure_formats)
                figures[name] = tuple(save_figure(figure, path, formats, spec.outputs.figure_dpi))
    return tables, figures


def curve_covariates(spec: Spec, entry: AdjustedCurves, outcome: Outcome) -> list[str]:
    """The adjustment set (``model``, default the outcome's last), without the exposure."""
    sets = spec.models.covariate_sets(outcome)
    chosen = sets[entry.model] if entry.model is not None else list(sets.values())[-1]
    return [c for c in chosen if c != entry.exposure]


def _model_name(spec: Spec, entry: AdjustedCurves, outcome: Outcome) -> str:
    return entry.model or list(spec.models.covariate_sets(outcome))[-1]


def adjusted_risk(
    spec: Spec, entry: AdjustedCurves, outcome: Outcome, frame: pl.DataFrame, name: str
) -> tuple[StandardizedRisk, tuple[float, ...]]:
    """The standardised risk over the curve grid and the table times (one call), and the
    table times."""
    exposure = next(e for e in spec.exposures if e.column == entry.exposure)
    reference = {exposure.column: exposure.reference} if exposure.reference is not None else None
    terms = [entry.exposure, *curve_covariates(spec, entry, outcome)]
    event, other = (f"{outcome.status} = {c}" for c in (outcome.event_code, outcome.competing_code))
    status = pl.col(outcome.status)  # 0/1 event columns named for what they are
    data = frame.with_columns((status == outcome.event_code).cast(pl.Int8).alias(event))
    if outcome.competing_code is not None:
        data = data.with_columns((status == outcome.competing_code).cast(pl.Int8).alias(other))
    grid, at = curve_times(
        entry,
        data.select(outcome.time, outcome.status, *terms).drop_nulls()[outcome.time].to_numpy(),
    )
    times = tuple(float(t) for t in np.union1d(grid, at))
    levels = entry.levels if exposure.kind == "continuous" else _categorical_levels(entry)
    try:
        if entry.method == "finegray":
            fit = finegray(
                data, outcome.time, outcome.status, outcome.event_code, terms, reference=reference
            )
            result = standardized_risk(
                fit, data, entry.exposure, times, levels, n_boot=entry.n_boot, seed=entry.seed
            )
        else:
            ties = spec.models.ties
            fit = cox(data, outcome.time, event, terms, ties=ties, reference=reference)
            competing = None
            if outcome.competing_code is not None:
                competing = cox(data, outcome.time, other, terms, ties=ties, reference=reference)
            result = standardized_risk(fit, data, entry.exposure, times, levels, competing)
    except ModelError as exc:
        raise ModelError(f"{spec.source}: exposure_response {name}: {exc}") from exc
    return result, at


def _categorical_levels(entry: AdjustedCurves) -> list[str] | None:
    return None if entry.levels is None else [_level_text(v) for v in entry.levels]


def _level_text(value: str | float) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def curve_times(entry: AdjustedCurves, follow_up: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """(curve grid, table times): the spec's, else 24 steps up to a horizon — the 90th
    percentile of the fitted rows' follow-up, floored to two significant digits — with the
    table at a quarter, half, three quarters and all of it."""
    if entry.times is not None:
        grid = tuple(entry.times)
        return grid, tuple(entry.at) if entry.at is not None else grid
    if follow_up.size == 0:
        raise ModelError("no complete rows to standardise over.")
    q = float(np.quantile(follow_up, 0.9))
    step = 10.0 ** (np.floor(np.log10(q)) - 1)
    horizon = float(np.floor(q / step) * step)
    grid = tuple(float(horizon * k / GRID_STEPS) for k in range(1, GRID_STEPS + 1))
    quarters = tuple(grid[k * GRID_STEPS // 4 - 1] for k in range(1, 5))
    return grid, tuple(entry.at) if entry.at is not None else quarters


def _model_kind(entry: AdjustedCurves, outcome: Outcome) -> str:
    if entry.method == "finegray":
        return "Fine–Gray"
    return "cause-specific Cox" if outcome.competing_code is not None else "Cox"


def _risk_word(entry: AdjustedCurves, outcome: Outcome) -> str:
    if outcome.competing_code is not None:
        return "Standardised cumulative incidence"
    return "Standardised risk"


def adjusted_table(
    spec: Spec,
    entry: AdjustedCurves,
    outcome: Outcome,
    result: StandardizedRisk,
    at: tuple[float, ...],
    covariates: list[str],
) -> Table:
    """Standardised risk per level at the ``at`` times, with the difference (percentage
    points) and ratio against the reference level."""
    from cohortcalc.analysis.outputs import labels

    names = labels(spec)
    exposure = variable_label(entry.exposure, names)
    chosen = result.risk.loc[result.risk["time"].isin(at)]
    decimals = 2 if float(chosen["upper"].max()) < 0.1 else 1
    risk_col = f"{_risk_word(entry, outcome).removeprefix('Standardised ').capitalize()}, % "
    risk_col += "(95% CI)"
    diff_col, ratio_col = "Difference, percentage points (95% CI)", "Ratio (95% CI)"
    time_col = f"Time ({outcome.time_unit})"
    rows, records = [], []
    for time in at:
        for level in result.levels:
            risk = result.risk.loc[(result.risk["time"] == time) & (result.risk["level"] == level)]
            r = risk.iloc[0]
            source = f"{outcome.name}/{entry.method}/{entry.exposure}={level}@{time:g}"
            row = {
                time_col: f"{time:g}",
                exposure: stratum_label(level),
                risk_col: _percent_ci(r["risk"], r["lower"], r["upper"], decimals),
                diff_col: "0 (reference)",
                ratio_col: "1 (reference)",
            }
            records.append((len(rows), risk_col, "risk", float(r["risk"]), source))
            if level != result.reference:
                c = result.contrasts.loc[
                    (result.contrasts["time"] == time) & (result.contrasts["level"] == level)
                ].iloc[0]
                row[diff_col] = _percent_ci(
                    c["difference"], c["difference_lower"], c["difference_upper"], decimals
                )
                row[ratio_col] = format_ratio_ci(c["ratio"], c["ratio_lower"], c["ratio_upper"])
                records.append((len(rows), diff_col, "difference", float(c["difference"]), source))
                records.append((len(rows), ratio_col, "ratio", float(c["ratio"]), source))
            rows.append(row)
    return Table(
        title=f"{outcome.label or outcome.name}: {_risk_word(entry, outcome).lower()} by "
        f"{exposure} ({_model_kind(entry, outcome)}, g-computation)",
        frame=pd.DataFrame(rows),
        footnotes=(
            f"Risk had all {result.n:,} participants had each level of {exposure}, averaged over "
            f"their own covariates (g-computation), adjusted for "
            f"{', '.join(covariates) or 'nothing'} ({_model_name(spec, entry, outcome)}); "
            "differences and ratios against "
            f"{exposure} {stratum_label(result.reference)}.",
            f"{result.method[0].upper()}{result.method[1:]}.",
            "Estimates only (no participant or event counts), so small-cell suppression does "
            "not apply.",
        ),
        values=values_frame(records),
    )


def _percent_ci(estimate: float, lower: float, upper: float, decimals: int) -> str:
    """A proportion as percent with its interval: "4.12 (3.01 to 5.30)" (differences can be
    negative, so "to" rather than a dash); "—" without an interval."""
    values = [100.0 * float(v) for v in (estimate, lower, upper)]
    text = [f"{v:.{decimals}f}" for v in values]
    text = [t[1:] if t.startswith("-") and float(t) == 0 else t for t in text]  # no "-0.0"
    if not np.all(np.isfinite(values[1:])):
        return f"{text[0]} ({MISSING_VALUE})"
    return f"{text[0]} ({text[1]} to {text[2]})"


def adjusted_caption(spec: Spec, rest: str, names: dict[str, str]) -> str:
    """The caption of figure ``adjusted_<rest>`` (``<outcome>_<method>_<exposure>``)."""
    for outcome in spec.outcomes:
        for method in ("cox", "finegray"):
            prefix = f"{outcome.name}_{method}_"
            if not rest.startswith(prefix):
                continue
            exposure = variable_label(rest.removeprefix(prefix), names)
            model = (
                "cause-specific Cox models of the event and the competing event"
                if method == "cox" and outcome.competing_code is not None
                else "a Fine–Gray model"
                if method == "finegray"
                else "a Cox model"
            )
            interval = "bootstrap 95% CIs" if method == "finegray" else "influence-function 95% CIs"
            word = "cumulative incidence" if outcome.competing_code is not None else "risk"
            return (
                f"{outcome.label or outcome.name}: standardised {word} by {exposure} "
                f"(g-computation from {model}, {interval}), and the risk difference against "
                "the reference level."
            )
    return f"adjusted_{rest}"
