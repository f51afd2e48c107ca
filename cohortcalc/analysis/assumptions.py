"""The report's model checks: proportional hazards for every Cox and Fine–Gray model of the
main analysis, and Gray's test for every cumulative-incidence figure; failures are flagged.

- Cox: ``cc.ph_test`` (R ``cox.zph``, KM time transform: Grambsch & Therneau 1994).
- Fine–Gray: the same score test on the Schoenfeld-type residuals of the weighted risk sets,
  at the reported estimate (``finegray_ph_test``: R ``cox.zph`` of ``coxph(..., weights =
  fgwt)`` on ``finegray()`` rows; Geskus 2011 weights with delayed entry).
- Gray's K-sample test (Gray 1988) of the curves of each CIF figure (stratified by the panels
  of a "by X within Y" figure, as ``cmprsk::cuminc(strata=)``); it has no form for delayed
  entry (cmprsk), so on the age or calendar scale the row says so.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.analysis.checks import figure_groupings
from cohortcalc.analysis.fitting import ALL, MAIN, Fit
from cohortcalc.analysis.outputs import Context, labels, method_name
from cohortcalc.analysis.spec import Outcome, split_grouping
from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.format import format_number, format_p, variable_label
from cohortcalc.reporting.table import Table, values_frame
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray_proportionality import finegray_ph_test
from cohortcalc.survival.local import CoxFitData
from cohortcalc.survival.proportionality import ph_test
from cohortcalc.survival.tests import gray_test

#: A check whose p is below this is flagged in the table.
FLAG_BELOW = 0.05
COLUMNS = ["Outcome", "Method", "Exposure", "Model", "Check", "Exposure χ² (df)", "Exposure p",
           "Global χ² (df)", "Global p", "Flag"]  # fmt: skip


def assumption_table(ctx: Context) -> Table:
    """One row per main-analysis model (PH check) and per CIF figure (Gray's test)."""
    rows: list[dict[str, str]] = []
    records: list[tuple[int, str, str, float, str]] = []
    outcomes = {o.name: o for o in ctx.spec.outcomes}
    for fit in ctx.fits:
        if fit.key.analysis == MAIN and fit.key.subgroup == ALL:
            _ph_row(ctx, fit, outcomes[fit.key.outcome], rows, records)
    if "cumulative_incidence" in ctx.spec.outputs.figures:
        for outcome in ctx.spec.outcomes:
            if outcome.competing_code is None:
                continue
            for by in figure_groupings(ctx.spec):
                if by is not None:
                    _gray_row(ctx, outcome, by, rows, records)
    flagged = sum(row["Flag"] != "" for row in rows)
    return Table(
        title="Model checks: proportional hazards and Gray's test",
        frame=pd.DataFrame(rows, columns=COLUMNS),
        footnotes=(
            "Cox: score test of proportional hazards on Schoenfeld residuals (R cox.zph, "
            "Kaplan–Meier time transform). Fine–Gray: the same test on the Schoenfeld-type "
            "residuals of its weighted risk sets at the reported estimate (R cox.zph of the "
            "finegray() + coxph fit). "
            "Gray's test compares the cumulative incidence curves of each figure.",
            f"Flag: p < {FLAG_BELOW} for the exposure or the global test ({flagged} flagged); "
            "a flagged hazard ratio is an average over follow-up — consider a time-varying "
            "effect, stratification or a shorter horizon.",
        ),
        values=values_frame(records),
    )


def _ph_row(ctx: Context, fit: Fit, outcome: Outcome, rows: list, records: list) -> None:
    key = fit.key
    row = {
        "Outcome": outcome.label or outcome.name,
        "Method": method_name(key.method, outcome),
        "Exposure": variable_label(key.exposure, labels(ctx.spec)),
        "Model": key.model,
        "Check": "Schoenfeld residuals" if key.method == "cox" else "Schoenfeld-type residuals",
    }
    try:
        table = _ph_test(ctx, fit, outcome)
    except CohortcalcError as exc:
        rows.append({**row, **dict.fromkeys(COLUMNS[5:], ""), "Flag": f"not computed: {exc}"})
        return
    exposure, overall = table.loc[key.exposure], table.loc["GLOBAL"]
    i, source = len(rows), f"{key.outcome}/{key.method}/{key.exposure}/{key.model}"
    rows.append(
        {
            **row,
            "Exposure χ² (df)": f"{format_number(exposure['chisq'], 2)} ({int(exposure['df'])})",
            "Exposure p": format_p(exposure["p"]),
            "Global χ² (df)": f"{format_number(overall['chisq'], 2)} ({int(overall['df'])})",
            "Global p": format_p(overall["p"]),
            "Flag": _flag(min(exposure["p"], overall["p"])),
        }
    )
    records.append((i, "Exposure p", "p", float(exposure["p"]), f"ph_test {source}"))
    records.append((i, "Global p", "p", float(overall["p"]), f"ph_test {source}"))


def _ph_test(ctx: Context, fit: Fit, outcome: Outcome) -> pd.DataFrame:
    frame = ctx.frames.get(MAIN, outcome)
    if fit.key.method == "cox" and isinstance(fit.result.fit_data, CoxFitData):
        return ph_test(fit.result)
    if not isinstance(frame, pl.DataFrame):
        raise CohortcalcError("the check needs the analysis frame as a local frame")
    exposure = next(e for e in ctx.spec.exposures if e.column == fit.key.exposure)
    reference = {exposure.column: exposure.reference} if exposure.reference else None
    if fit.key.method == "cox":  # a Spark fit keeps no arrays: the same fit on the local rows
        event = (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event")
        local = cox(
            frame.with_columns(event), time=outcome.time, event="_event",
            covariates=[fit.key.exposure, *fit.covariates], ties=ctx.spec.models.ties,
            entry=outcome.entry, reference=reference,
        )  # fmt: skip
        return ph_test(local)
    return finegray_ph_test(
        frame, time=outcome.time, event=outcome.status, cause=outcome.event_code,
        covariates=[fit.key.exposure, *fit.covariates], beta=fit.result.coef,
        entry=outcome.entry, reference=reference,
    )  # fmt: skip


def _gray_row(ctx: Context, outcome: Outcome, grouping: str, rows: list, records: list) -> None:
    """Gray's test of one CIF figure; by curves within panels: stratified by the panels."""
    by, panels = split_grouping(grouping)
    name = f"cif_{outcome.name}_by_{grouping.replace(' within ', '_within_')}"
    row = {
        "Outcome": outcome.label or outcome.name,
        "Method": "Cumulative incidence",
        "Exposure": variable_label(by, labels(ctx.spec)),
        "Model": "",
        "Check": f"Gray's test (figure {name})",
        "Exposure χ² (df)": "",
        "Exposure p": "",
    }
    if outcome.entry is not None:
        note = "not computed: Gray's test has no delayed-entry form"
        rows.append({**row, "Global χ² (df)": "", "Global p": "", "Flag": note})
        return
    frame: Any = ctx.frame.drop_nulls([c for c in (outcome.time, outcome.status, by, panels) if c])
    test = gray_test(frame, time=outcome.time, event=outcome.status, cause=outcome.event_code,
                     group=by, strata=panels)  # fmt: skip
    i = len(rows)
    rows.append(
        {
            **row,
            "Global χ² (df)": f"{format_number(test.statistic, 2)} ({int(test.df)})",
            "Global p": format_p(test.p),
            "Flag": "",
        }
    )
    records.append((i, "Global p", "p", float(test.p), f"gray_test {name}"))


def _flag(p: float) -> str:
    return f"✗ p < {FLAG_BELOW}: proportionality doubtful" if p < FLAG_BELOW else ""
