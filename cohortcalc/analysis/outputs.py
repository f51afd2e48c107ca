"""Turn a run's fits into the paper's tables (via ``cohortcalc.reporting``), with small-cell
suppression applied to every table before it leaves the process.

Names: ``flow``, ``table_one``, ``hr_<outcome>_<method>`` (main analysis),
``hr_<outcome>_<method>_<sensitivity>``, ``hr_<outcome>_<method>_by_<modifier>``,
``interactions``, and ``estimates`` (every fit and exposure term, long format).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cohortcalc.analysis.checks import levels_of, table_one_by
from cohortcalc.analysis.disclosure import CountSpace, hide, register_table
from cohortcalc.analysis.estimates import estimates_display, fit_cells, tidy_frame, tidy_rows
from cohortcalc.analysis.fitting import ALL, MAIN, Fit, InteractionTest
from cohortcalc.analysis.populations import AnalysisFrames
from cohortcalc.analysis.sparse import mark_sparse_cells
from cohortcalc.analysis.spec import Exposure, Outcome, Spec
from cohortcalc.analysis.timescales import person_time
from cohortcalc.reporting.format import (
    format_count,
    format_df,
    format_number,
    format_p,
    format_ratio_ci,
    level_label,
    stratum_heading,
    suppressed_label,
    variable_label,
)
from cohortcalc.reporting.suppression import COMPLEMENT_LABEL
from cohortcalc.reporting.table import CountGrid, Table, values_frame
from cohortcalc.reporting.table_one import table_one
from cohortcalc.reporting.tables import RATE_COLUMN, hr_table
from cohortcalc.survival.rates import incidence_rates

ID_COLUMN = "participant_id"


def method_name(method: str, outcome: Outcome) -> str:
    """How a model is named in tables: cause-specific only when there is a competing event."""
    if method == "finegray":
        return "Fine–Gray (subdistribution HR)"
    return "Cox (cause-specific HR)" if outcome.competing_code is not None else "Cox (HR)"


@dataclass(frozen=True)
class Context:
    """What the output steps read: the spec, the main population, the flow, and the fits."""

    spec: Spec
    frame: pl.DataFrame
    flow: pl.DataFrame
    per_sd_units: dict[str, float]
    fits: tuple[Fit, ...]
    interactions: tuple[InteractionTest, ...]
    frames: AnalysisFrames


@dataclass(frozen=True)
class PValue:
    """A p-value with the test that produced it (reporting prints ``method`` in footnotes)."""

    p: float
    method: str


def labels(spec: Spec) -> dict[str, str]:
    """Display labels from the spec (exposures, per-SD terms, modifiers)."""
    out: dict[str, str] = {}
    for exposure in spec.exposures:
        if exposure.label:
            out[exposure.column] = exposure.label
    for modifier in spec.effect_modifiers:
        if modifier.label:
            out[modifier.column] = modifier.label
    return out


@dataclass(frozen=True)
class Disclosed:
    """A run's outputs after disclosure control: the display ``tables``, the ``tidy``
    estimates, and ``at_risk(figure, group value, time, n)``, the text of a number at risk."""

    tables: dict[str, Table]
    tidy: pd.DataFrame
    at_risk: Callable[[str, Any, float, int], str]
    fit_counts: Callable[[Any], tuple[str, str]] | None = None
    unlinked: tuple[str, ...] = ()


def build_tables(ctx: Context) -> dict[str, Table]:
    """Every table the spec's ``outputs.tables`` asks for, plus ``estimates``; suppressed."""
    return disclose(ctx).tables


def _raw_tables(ctx: Context) -> tuple[dict[str, Table], dict[str, Any], list[dict[str, Any]]]:
    """The tables before disclosure control, the frame(s) each was built from, and the
    tidy estimate rows."""
    wanted = ctx.spec.outputs.tables
    tables: dict[str, Table] = {}
    frames: dict[str, Any] = {}
    if "flow" in wanted:
        tables["flow"] = flow_table(ctx.flow)
        frames["flow"] = ctx.frame
    if "table_one" in wanted:
        tables["table_one"] = _table_one(ctx)
        frames["table_one"] = ctx.frame
    if "incidence_rates" in wanted:
        tables["incidence_rates"], frames["incidence_rates"] = incidence_rate_table(ctx)
    if "hazard_ratios" in wanted:
        sparse = ctx.spec.sparse_events_threshold
        for name, (table, frame) in hazard_ratio_tables(ctx).items():
            tables[name], frames[name] = mark_sparse_cells(table, sparse), frame
    if "interactions" in wanted and ctx.interactions:
        tables["interactions"] = interaction_table(ctx.spec, ctx.interactions)
    if "assumptions" in wanted:
        from cohortcalc.analysis.assumptions import assumption_table  # it reads Context

        tables["assumptions"] = assumption_table(ctx)
    rows = tidy_rows(ctx)
    tables["estimates"] = estimates_display(rows, ctx.spec)
    frames["estimates"] = {
        f"{kind}_{i}": row["_cells"][j][0]
        for i, row in enumerate(rows)
        for j, kind in enumerate(("n", "events"))
    }
    return tables, frames, rows


def disclose(ctx: Context) -> Disclosed:
    """Tables, tidy estimates and numbers at risk with one disclosure control over them all
    (``analysis.disclosure``): a count hidden in one is hidden wherever it would reveal."""
    from cohortcalc.analysis.figures import forest_fits, risk_cells

    tables, frames, rows = _raw_tables(ctx)
    threshold = ctx.spec.small_cell_threshold
    if threshold <= 1:
        return Disclosed(tables, tidy_frame(rows, set()), _plain_at_risk)
    space = CountSpace(ID_COLUMN if ID_COLUMN in ctx.frame.columns else None)
    ids = {name: register_table(space, name, t, frames.get(name)) for name, t in tables.items()}
    risk = {}
    for figure, (frame, cells) in risk_cells(ctx).items():
        for value, time, where in cells:
            risk[(figure, value, time)] = space.cell(frame, where)
            space.show(risk[(figure, value, time)])
    forest = {}
    if "forest" in ctx.spec.outputs.figures:
        for fit in {id(f): f for o in ctx.spec.outcomes for m in o.methods
                    for f in forest_fits(ctx, o.name, m)}.values():  # fmt: skip
            forest[id(fit)] = fit_cells(space, ctx, fit)
            for cid in forest[id(fit)]:
                space.show(cid)
    protection = space.protect(threshold)
    values = frozenset(space.counts[c] for c in protection.complementary)
    shown = {n: hide(t, ids[n], protection, threshold, values) if t.counts else t
             for n, t in tables.items()}  # fmt: skip
    hidden_rows = {
        (i, kind) for i in range(len(rows)) for kind in ("n", "events")
        if ids["estimates"][f"{kind}_{i}"] in protection.hidden
    }  # fmt: skip

    def at_risk(figure: str, value: Any, time: float, n: int) -> str:
        cid = risk.get((figure, value, time))
        if cid in protection.primary:
            return suppressed_label(threshold)
        if cid in protection.complementary:
            return COMPLEMENT_LABEL
        return suppressed_label(threshold) if 0 < n < threshold else format_count(n)

    def fit_counts(fit: Any) -> tuple[str, str]:
        cells = forest.get(id(fit))
        values = (fit.result.n, fit.result.n_events)
        if cells is None:
            return tuple(format_count(v) for v in values)  # type: ignore[return-value]
        return tuple(_label(c, v) for c, v in zip(cells, values, strict=True))  # type: ignore[return-value]

    def _label(cid: str, n: int) -> str:
        if cid in protection.primary:
            return suppressed_label(threshold)
        return COMPLEMENT_LABEL if cid in protection.complementary else format_count(n)

    tidy = tidy_frame(rows, hidden_rows)
    return Disclosed(shown, tidy, at_risk, fit_counts, tuple(space.unlinked))


def _plain_at_risk(figure: str, value: Any, time: float, n: int) -> str:
    return format_count(n)


def _table_one(ctx: Context) -> Table:
    outputs = ctx.spec.outputs
    by = table_one_by(ctx.spec)
    assert by is not None  # checked before fitting
    return table_one(
        ctx.frame, by=by, variables=outputs.table_one_variables, labels=labels(ctx.spec),
        skew_threshold=math.inf, nonnormal=outputs.table_one_median,
    )  # fmt: skip


def flow_table(flow: pl.DataFrame) -> Table:
    """The participant flow: each inclusion criterion, participants remaining and excluded."""
    rows, records, counts, location, margins = [], [], {}, {}, []
    for i, step in enumerate(flow.iter_rows(named=True)):
        remaining, excluded = int(step["n_remaining"]), int(step["n_excluded"])
        rows.append(
            {
                "Step": str(step["step"]),
                "Criterion": step["criterion"],
                "Participants remaining": format_count(remaining),
                "Excluded": format_count(excluded) if i else "",
            }
        )
        records.append((i, "Participants remaining", "count", remaining, "flow"))
        counts[f"remaining_{i}"] = remaining
        location[f"remaining_{i}"] = (i, "Participants remaining")
        if i:
            counts[f"excluded_{i}"] = excluded
            location[f"excluded_{i}"] = (i, "Excluded")
            records.append((i, "Excluded", "count", excluded, "flow"))
            margins.append((f"remaining_{i}", f"excluded_{i}", f"remaining_{i - 1}"))
    final = {f"remaining_{len(rows) - 1}": ()}  # the analysis population itself
    return Table(
        title="Participant flow",
        frame=pd.DataFrame(rows),
        footnotes=("Criteria applied in order; each row counts participants still included.",),
        values=values_frame(records),
        counts=CountGrid(counts, location, margins=tuple(margins), conditions=final),
    )


def incidence_rate_table(ctx: Context) -> tuple[Table, dict[str, pl.DataFrame]]:
    """Events, person-years and rate per 1,000 PY (exact Poisson CI) of every outcome, overall
    and by the first categorical exposure (within each level of the first modifier); with
    the frame each count was taken from."""
    spec = ctx.spec
    by = [e.column for e in spec.exposures if e.kind == "categorical"][:1]
    by = [m.column for m in spec.effect_modifiers][:1] + by
    columns = ["Outcome", *(variable_label(c, labels(spec)) for c in by), "Events",
               "Person-years", RATE_COLUMN]  # fmt: skip
    rows: list[dict[str, str]] = []
    records, counts, location, dependents, margins = [], {}, {}, {}, []
    where, frames = {}, {}
    for outcome in spec.outcomes:
        frame, time = person_time(ctx.frame, outcome)  # exit - entry on the age scale
        data = frame.drop_nulls([time, outcome.status, *by]).with_columns(
            (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event")
        )
        rate_by = incidence_rates(data, time=time, event="_event", by=by or None,
                                  time_unit=outcome.time_unit)  # fmt: skip
        overall = incidence_rates(data, time=time, event="_event",
                                  time_unit=outcome.time_unit)  # fmt: skip
        ids = []
        for group, line in [*(("all", r) for r in overall.to_dict("records")),
                            *(("cell", r) for r in rate_by.to_dict("records"))]:  # fmt: skip
            i = len(rows)
            cells = {c: _group_text(c, line[c], spec) if group == "cell" else "All" for c in by}
            rows.append(
                {
                    "Outcome": outcome.label or outcome.name,
                    **{variable_label(c, labels(spec)): v for c, v in cells.items()},
                    "Events": format_count(line["events"]),
                    "Person-years": format_number(line["person_years"], 1),
                    RATE_COLUMN: format_ratio_ci(line["rate"], line["lower"], line["upper"]),
                }
            )
            cid = f"{outcome.name}_{i}"
            counts[cid], location[cid] = int(line["events"]), (i, "Events")
            cells = tuple((c, line[c]) for c in by) if group == "cell" else ()
            where[cid] = (*cells, (outcome.status, outcome.event_code))
            frames[cid] = data
            dependents[cid] = ((i, RATE_COLUMN),)
            records.append((i, RATE_COLUMN, "rate", float(line["rate"]), cid))
            ids.append(cid)
        if by:
            margins.append((*ids[1:], ids[0]))
    table = Table(
        title="Incidence rates",
        frame=pd.DataFrame(rows, columns=columns),
        footnotes=("Rates per 1,000 person-years with exact Poisson 95% CIs.",),
        values=values_frame(records),
        counts=CountGrid(counts, location, dependents, tuple(margins), conditions=where),
    )
    return table, frames


def _group_text(column: str, value: Any, spec: Spec) -> str:
    """A group in a table cell: "Without CKD" for a yes/no column, else the level."""
    if isinstance(value, bool | np.bool_):
        return stratum_heading(column, bool(value), labels(spec))
    return level_label(value)


def _fits_of(ctx: Context, **match: Any) -> list[Fit]:
    return [f for f in ctx.fits if all(getattr(f.key, k) == v for k, v in match.items())]


def _trend(fit: Fit) -> PValue | None:
    if fit.p_trend is None:
        return None
    return PValue(fit.p_trend, "Wald test of the ordinal category score in the same model")


def hazard_ratio_tables(ctx: Context) -> dict[str, tuple[Table, pl.DataFrame]]:
    """One HR table per analysis x outcome x method, and per effect modifier (main only),
    each with the frame it was built from."""
    spec = ctx.spec
    categorical = [e for e in spec.exposures if e.kind == "categorical"]
    continuous = [e for e in spec.exposures if e.kind == "continuous" and e.per_sd]
    if not categorical:
        return {}
    exposure, per_sd = categorical[0], (continuous[0] if continuous else None)
    tables: dict[str, tuple[Table, pl.DataFrame]] = {}
    for analysis in ctx.frames.analyses():
        for outcome in spec.outcomes:
            frame = ctx.frames.get(analysis, outcome)
            for method in outcome.methods:
                base = f"hr_{outcome.name}_{method}"
                name = base if analysis == MAIN else f"{base}_{analysis}"
                key = {"analysis": analysis, "outcome": outcome.name, "method": method}
                tables[name] = (_hr(ctx, frame, outcome, exposure, per_sd, key, None), frame)
                if analysis != MAIN:
                    continue
                for modifier in spec.effect_modifiers:
                    tables[f"{base}_by_{modifier.column}"] = (
                        _hr(ctx, frame, outcome, exposure, per_sd, key, modifier.column),
                        frame,
                    )
    return tables


def _hr(
    ctx: Context,
    frame: pl.DataFrame,
    outcome: Outcome,
    exposure: Exposure,
    per_sd: Exposure | None,
    key: dict[str, str],
    modifier: str | None,
) -> Table:
    def by_model(column: str) -> dict[str, Any]:
        fits = [
            f
            for f in _fits_of(ctx, exposure=column, **key)
            if (f.key.subgroup == ALL) == (modifier is None)
            and (modifier is None or f.key.subgroup.startswith(f"{modifier}="))
        ]
        out: dict[str, Any] = {}
        for fit in fits:
            if modifier is None:
                out[fit.key.model] = fit
            else:
                out.setdefault(fit.key.model, {})[fit.subgroup_value] = fit
        return out

    fits = by_model(exposure.column)
    results = _map(fits, lambda f: f.result)
    trend = _map(fits, _trend) if any(f.p_trend is not None for f in _flat(fits)) else None
    sd_results = _map(by_model(per_sd.column), lambda f: f.result) if per_sd else None
    interaction = None
    if modifier is not None:
        tests = [
            t
            for t in ctx.interactions
            if t.modifier == modifier
            and (t.key.analysis, t.key.outcome, t.key.method, t.key.exposure)
            == (key["analysis"], key["outcome"], key["method"], exposure.column)
        ]
        interaction = {t.key.model: PValue(t.p, _test_name(t)) for t in tests} or None
    kind = "subdistribution hazard ratios" if key["method"] == "finegray" else "hazard ratios"
    title = f"{outcome.label or outcome.name}: {kind} by {exposure.label or exposure.column}"
    if key["analysis"] != MAIN:
        title += f" — {_sensitivity_label(ctx.spec, key['analysis'])}"
    if modifier is not None:
        title += f", by {variable_label(modifier, labels(ctx.spec))}"
    frame, time = person_time(frame, outcome)  # exit - entry on the age scale
    return hr_table(
        frame,
        models=results,
        time=time,
        event=outcome.status,
        exposure=exposure.column,
        levels=_reference_first(levels_of(frame, exposure.column), exposure.reference),
        cause=outcome.event_code,
        per_sd=sd_results,
        per_sd_term=per_sd.column if per_sd else "log_cac",
        per_sd_unit=ctx.per_sd_units.get(per_sd.column) if per_sd else None,
        modifier=modifier,
        p_trend=trend,
        interaction_p=interaction,
        time_unit=outcome.time_unit,
        labels=labels(ctx.spec),
        title=title,
        outcome_label=outcome.label,
    )


def _reference_first(levels: list[str], reference: str | None) -> list[str]:
    """Level order of an HR table: the reference first, the rest in their own order."""
    if reference is None or reference not in levels:
        return levels
    return [reference, *(lv for lv in levels if lv != reference)]


def _flat(fits: dict[str, Any]) -> list[Fit]:
    return [f for v in fits.values() for f in (v.values() if isinstance(v, dict) else [v])]


def _map(fits: dict[str, Any], fn: Any) -> dict[str, Any]:
    return {
        model: ({k: fn(f) for k, f in v.items()} if isinstance(v, dict) else fn(v))
        for model, v in fits.items()
    }


def _sensitivity_label(spec: Spec, name: str) -> str:
    return next((s.label or s.name for s in spec.sensitivity if s.name == name), name)


def _test_name(test: InteractionTest) -> str:
    if test.test == "lrt":
        return "likelihood-ratio test of the exposure × modifier product terms"
    if test.test == "d1":
        return "pooled Wald test (D1) of the exposure × modifier product terms over imputations"
    return "joint Wald test of the exposure × modifier product terms"


def _interaction_notes(tests: tuple[InteractionTest, ...], outcomes: dict) -> tuple[str, ...]:
    """What each test used here is, with the methods it was used for."""
    used: dict[str, list[str]] = {}
    for test in tests:
        method = method_name(test.key.method, outcomes[test.key.outcome]).split(" (")[0]
        used.setdefault(test.test, [])
        if method not in used[test.test]:
            used[test.test].append(method)
    words = {
        "lrt": "LRT, likelihood-ratio test of models with vs without the exposure × modifier "
        "product terms (same participants)",
        "wald": "Wald, joint Wald test of the exposure × modifier product terms",
        "d1": "D1, Wald test of the exposure × modifier product terms pooled over the "
        "imputed data sets (Li, Raghunathan & Rubin 1991), F on (df, denominator df) with "
        "Reiter's (2007) denominator df",
    }
    return tuple(f"{words[t]}; used for {' and '.join(m)} models." for t, m in used.items())


def interaction_table(spec: Spec, tests: tuple[InteractionTest, ...]) -> Table:
    """One row per interaction test: outcome, method, exposure, model, test, statistic
    (chi-square; F for tests pooled over imputations), df, p."""
    rows, records = [], []
    outcomes = {o.name: o for o in spec.outcomes}
    names = labels(spec)
    pooled = {t.test == "d1" for t in tests}
    statistic = "F" if pooled == {True} else "Chi-square" if pooled == {False} else "Statistic"
    for i, test in enumerate(tests):
        outcome = outcomes[test.key.outcome]
        df = str(test.df) if test.df2 is None else f"{test.df}, {format_df(test.df2)}"
        rows.append(
            {
                "Outcome": outcome.label or outcome.name,
                "Method": method_name(test.key.method, outcome),
                "Exposure": variable_label(test.key.exposure, names),
                "Modifier": variable_label(test.modifier, names),
                "Model": test.key.model,
                "Test": {"lrt": "LRT", "wald": "Wald", "d1": "D1"}[test.test],
                statistic: format_number(test.statistic, 2),
                "df": df,
                "p for interaction": format_p(test.p),
            }
        )
        source = f"{test.key.outcome}/{test.key.method}/{test.key.exposure}/{test.key.model}"
        records.append((i, statistic, "statistic", test.statistic, source))
        records.append((i, "p for interaction", "p", test.p, source))
    return Table(
        title="Tests of effect modification",
        frame=pd.DataFrame(rows),
        footnotes=_interaction_notes(tests, outcomes),
        values=values_frame(records),
    )
