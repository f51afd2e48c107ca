"""The grid of model fits a spec asks for, planned first (for progress) and then run.

For the main analysis and each sensitivity analysis: every outcome x method x exposure x
adjustment set, overall. For the main analysis also: within each level of every effect
modifier, and the exposure x modifier interaction test (likelihood ratio for Cox, joint Wald
for Fine-Gray or when asked). Rows with a missing value in a model's columns are left out of
that model (available-case); the ``complete_cases`` sensitivity analysis uses one common set.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from cohortcalc.analysis.spec import EffectModifier, Exposure, Outcome, Spec
from cohortcalc.errors import CohortcalcWarning, ModelError
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray import finegray
from cohortcalc.survival.results import coefficient_table
from cohortcalc.survival.tests import lrtest

Method = Literal["cox", "finegray"]
MAIN = "main"
ALL = "all"


@dataclass(frozen=True)
class FitKey:
    """Which fit: analysis (``main`` or a sensitivity name), outcome, method, exposure, model,
    and subgroup (``all`` or ``column=level``)."""

    analysis: str
    outcome: str
    method: Method
    exposure: str
    model: str
    subgroup: str = ALL


@dataclass(frozen=True)
class Fit:
    """One fitted model: key, exposure terms, covariates, the result, and (for an ordered
    categorical exposure) the p for trend from the same model with the ordinal score."""

    key: FitKey
    exposure_terms: tuple[str, ...]
    covariates: tuple[str, ...]
    n_excluded_missing: int
    result: Any
    subgroup_value: Any = None
    p_trend: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class InteractionTest:
    """The exposure x modifier interaction test of one outcome, method, exposure and model:
    a chi-square statistic on ``df`` (``lrt``, ``wald``) or, pooled over imputations, the D1
    F statistic on ``df`` and ``df2`` degrees of freedom (``d1``)."""

    key: FitKey
    modifier: str
    test: Literal["lrt", "wald", "d1"]
    terms: tuple[str, ...]
    statistic: float
    df: int
    p: float
    warnings: tuple[str, ...] = ()
    df2: float | None = None


@dataclass(frozen=True)
class Task:
    """A planned fit (``modifier`` is None) or interaction test (``modifier`` given)."""

    key: FitKey
    outcome: Outcome
    exposure: Exposure
    covariates: tuple[str, ...]
    subgroup_by: str | None = None
    modifier: EffectModifier | None = None


def exposure_estimates(fit: Fit, per_sd_units: Mapping[str, float]) -> pd.DataFrame:
    """The fit's exposure terms: coef, se, hr, hr_lower, hr_upper, p, per SD where asked.

    A per-SD exposure is fitted on its own scale; its log ratio and SE are multiplied by the
    SD (from the main population), which leaves z and p unchanged; the Wald limits come from
    ``coefficient_table`` at the confidence level the fits use.
    """
    scale = per_sd_units.get(fit.key.exposure, 1.0)
    if hasattr(fit.result, "scaled_estimates"):  # pooled over imputations: t-based limits
        return fit.result.scaled_estimates(list(fit.exposure_terms), scale)
    summary = fit.result.summary.loc[list(fit.exposure_terms)]
    coef, se = summary["coef"].to_numpy() * scale, summary["se"].to_numpy() * scale
    table = coefficient_table(coef, np.diag(se**2), list(summary.index))
    return table.drop(columns="z").assign(p=summary["p"].to_numpy())


def plan(spec: Spec, analyses: list[str]) -> list[Task]:
    """Every fit and interaction test the spec asks for, in a fixed order."""
    tasks: list[Task] = []
    for analysis in analyses:
        for outcome in spec.outcomes:
            covariate_sets = spec.models.covariate_sets(outcome)
            for method in outcome.methods:
                for exposure in spec.exposures:
                    for model, covariates in covariate_sets.items():
                        key = FitKey(analysis, outcome.name, method, exposure.column, model)
                        tasks.append(Task(key, outcome, exposure, tuple(covariates)))
                        if analysis == MAIN:
                            tasks += _modifier_tasks(key, outcome, exposure, covariates, spec)
    return tasks


def _modifier_tasks(
    key: FitKey, outcome: Outcome, exposure: Exposure, covariates: list[str], spec: Spec
) -> Iterator[Task]:
    for modifier in spec.effect_modifiers:
        within = tuple(c for c in covariates if c != modifier.column)
        yield Task(key, outcome, exposure, within, subgroup_by=modifier.column)
        yield Task(key, outcome, exposure, tuple(covariates), modifier=modifier)


def run_task(
    task: Task, frame: Any, levels: Mapping[str, list[str]], ties: str
) -> list[Fit | InteractionTest]:
    """Run one planned task on the analysis ``frame`` (subgroup tasks fit every level).

    ``frame`` is a Polars DataFrame or a ``SparkFrame`` (the fits then run in Spark)."""
    if task.modifier is not None:
        return [interaction_test(task, frame, levels[task.modifier.column], ties)]
    if task.subgroup_by is None:
        return [_fit_with_trend(task.key, frame, task, ties)]
    column = task.subgroup_by
    fits: list[Fit | InteractionTest] = []
    for level in levels[column]:
        rows, value = level_rows(frame, column, level)
        key = FitKey(**{**task.key.__dict__, "subgroup": f"{column}={level}"})
        fit = _fit_with_trend(key, rows, task, ties)
        fits.append(replace(fit, subgroup_value=value))
    return fits


def level_rows(frame: Any, column: str, level: str) -> tuple[Any, Any]:
    """The rows of ``frame`` at one level (as text) of ``column``, and the level's value."""
    if isinstance(frame, pl.DataFrame):
        rows = frame.filter(pl.col(column).cast(pl.String) == level)
        return rows, rows.get_column(column)[0]
    return frame.at_level(column, level)


def trend_column(exposure: Exposure) -> str:
    """The ordinal-score column of an ordered categorical exposure (0 for the first level)."""
    return f"{exposure.column}_score"


def fit_and_trend(key: FitKey, frame: Any, task: Task, ties: str) -> tuple[Fit, Fit | None]:
    """The task's fit and, in the main analysis of an ordered categorical exposure, the same
    model with the ordinal score in place of the categories (None otherwise)."""
    fit = fit_model(key, frame, task.outcome, task.exposure, task.covariates, ties)
    score = trend_column(task.exposure)
    if key.analysis != MAIN or task.exposure.kind != "categorical" or score not in frame.columns:
        return fit, None
    scored = Exposure(column=score, kind="continuous")
    return fit, fit_model(key, frame, task.outcome, scored, task.covariates, ties)


def _fit_with_trend(key: FitKey, frame: Any, task: Task, ties: str) -> Fit:
    fit, trend = fit_and_trend(key, frame, task, ties)
    if trend is None:
        return fit
    p_trend = float(trend.result.summary.loc[trend_column(task.exposure), "p"])
    return replace(fit, p_trend=p_trend, warnings=fit.warnings + trend.warnings)


def fit_model(
    key: FitKey,
    frame: Any,
    outcome: Outcome,
    exposure: Exposure,
    covariates: tuple[str, ...],
    ties: str,
    extra_terms: tuple[str, ...] = (),
) -> Fit:
    """Fit one Cox (cause-specific) or Fine-Gray model on the rows complete for its columns.

    Warnings of the engine (e.g. a term running to infinity) are passed on and also kept in
    ``Fit.warnings``, prefixed with the fit they came from.
    """
    terms = [exposure.column, *covariates, *extra_terms]
    columns = [part for term in terms for part in term.split(":")]
    times = [outcome.time] if outcome.entry is None else [outcome.entry, outcome.time]
    needed = list(dict.fromkeys([*times, outcome.status, *columns]))
    if isinstance(frame, pl.DataFrame):
        data = frame.select(needed)
        not_nan = [pl.col(c).is_not_nan() for c in needed if data.schema[c].is_float()]
        complete = data.drop_nulls().filter(pl.all_horizontal(not_nan or [pl.lit(True)]))
        excluded = data.height - complete.height
    else:  # Spark: the frame's row count is remembered; the fit counts the rows it used
        complete, excluded = frame.select(needed).complete(needed), None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = _engine(key.method, complete, outcome, exposure, terms, ties)
        except ModelError as exc:
            raise ModelError(f"{_describe(key)}: {exc}") from exc
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    notes = tuple(
        f"{_describe(key)}: {w.message}"
        for w in caught
        if issubclass(w.category, CohortcalcWarning)
    )
    exposure_terms = tuple(
        t for t in result.summary.index if t == terms[0] or t.startswith(f"{terms[0]}[")
    )
    excluded = frame.height - result.n if excluded is None else excluded
    return Fit(key, exposure_terms, covariates, excluded, result, warnings=notes)


def _engine(
    method: Method,
    data: Any,
    outcome: Outcome,
    exposure: Exposure,
    terms: list[str],
    ties: str,
) -> Any:
    """Call ``cox`` (event = status == event code; others censored) or ``finegray``, with the
    outcome's ``entry`` (delayed entry on the age or calendar scale) when it has one.

    A ``SparkFrame`` is passed on as its Spark DataFrame: the engine then fits in Spark."""
    reference = {exposure.column: exposure.reference} if exposure.reference is not None else None
    local = isinstance(data, pl.DataFrame)
    if method == "cox":
        event = (pl.col(outcome.status) == outcome.event_code).cast(pl.Int8).alias("_event")
        data = (
            data.with_columns(event)
            if local
            else data.with_event(outcome.status, outcome.event_code, "_event")
        )
    rows = data if local else data.df
    if method == "cox":
        return cox(
            rows, time=outcome.time, event="_event", covariates=terms, ties=ties,
            reference=reference, entry=outcome.entry,
        )  # fmt: skip
    if outcome.entry is not None:
        return finegray(
            rows, time=outcome.time, event=outcome.status, cause=outcome.event_code,
            covariates=terms, reference=reference, entry=outcome.entry,
        )  # fmt: skip
    return finegray(
        rows, time=outcome.time, event=outcome.status, cause=outcome.event_code,
        covariates=terms, reference=reference,
    )  # fmt: skip


def interaction_test(
    task: Task, frame: Any, modifier_levels: list[str], ties: str
) -> InteractionTest:
    """Test exposure x modifier: LRT of Cox fits with/without the products, else joint Wald.

    Both fits use the same rows (complete for every variable of the larger model).
    """
    assert task.modifier is not None
    modifier = task.modifier
    if len(modifier_levels) < 2:
        raise ModelError(f"{_describe(task.key)}: {modifier.column!r} has a single level.")
    full = interaction_model(task, frame, ties)
    terms = product_terms(full)
    use_lrt = modifier.test == "lrt" and task.key.method == "cox"
    notes = full.warnings
    if use_lrt:  # same covariates without the products: the same complete rows
        reduced = fit_model(
            task.key, frame, task.outcome, task.exposure, _with_modifier(task), ties
        )
        result = lrtest(reduced.result, full.result)
        statistic, df, p = float(result.statistic), int(result.df), float(result.p)
        notes += reduced.warnings
    else:
        statistic, df, p = wald_test(full.result, terms)
    test: Literal["lrt", "wald"] = "lrt" if use_lrt else "wald"
    return InteractionTest(
        interaction_key(task), modifier.column, test, terms, statistic, df, p, notes
    )


def interaction_model(task: Task, frame: Any, ties: str) -> Fit:
    """The model of an interaction test: exposure, covariates, modifier and their products."""
    assert task.modifier is not None
    product = f"{task.exposure.column}:{task.modifier.column}"
    return fit_model(
        task.key, frame, task.outcome, task.exposure, _with_modifier(task), ties, (product,)
    )


def product_terms(fit: Fit) -> tuple[str, ...]:
    """The exposure × modifier product terms of an interaction model."""
    return tuple(t for t in fit.result.summary.index if ":" in t)


def interaction_key(task: Task) -> FitKey:
    assert task.modifier is not None
    return FitKey(**{**task.key.__dict__, "subgroup": f"{task.modifier.column} interaction"})


def _with_modifier(task: Task) -> tuple[str, ...]:
    assert task.modifier is not None
    return tuple(dict.fromkeys([*task.covariates, task.modifier.column]))


def wald_test(result: Any, terms: tuple[str, ...] | list[str]) -> tuple[float, int, float]:
    """Joint Wald chi-square of ``terms`` = b' V^-1 b, df = len(terms) (e.g. Wald 1943)."""
    names = list(terms)
    coef = result.summary.loc[names, "coef"].to_numpy(dtype=float)
    vcov = result.vcov.loc[names, names].to_numpy(dtype=float)
    statistic = float(coef @ np.linalg.solve(vcov, coef))
    return statistic, len(names), float(stats.chi2.sf(statistic, len(names)))


def _describe(key: FitKey) -> str:
    return (
        f"{key.method} fit of outcome {key.outcome!r} on {key.exposure!r}, {key.model}, "
        f"analysis {key.analysis!r}, subgroup {key.subgroup!r}"
    )
