"""The pooled tasks of a run with ``missing_data:``: each fitted on every completed data set,
the data sets spread over worker processes, and pooled by Rubin's rules.

The first completed data set is fitted in this process with full results (they supply N,
events and the fit data the tables read). The others are fitted in the processes that ran
the imputation chains (``processes.worker_pool``), each returning only what pooling reads — the
``Estimates`` of every fit (coefficients, variance, complete-data df) and its warnings — so
nothing large crosses between processes and the result is the same for any number of workers.

Fits become ``PooledFit``s (pooled HRs, t-based CIs; p for trend is the pooled test of the
ordinal score); an interaction task becomes the D1 test (Li, Raghunathan & Rubin 1991) of its
exposure × modifier product terms in the pooled interaction model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.analysis.fitting import (
    Fit,
    FitKey,
    InteractionTest,
    Task,
    fit_and_trend,
    interaction_key,
    interaction_model,
    level_rows,
    product_terms,
    trend_column,
)
from cohortcalc.analysis.populations import AnalysisFrames
from cohortcalc.analysis.spec import Spec
from cohortcalc.errors import ModelError
from cohortcalc.imputation.estimates import Estimates, extract
from cohortcalc.imputation.pooled_tests import d1_test
from cohortcalc.imputation.pooling import PooledResult, pool

#: One fitted model of a task on one data set: (fit, trend fit or None); a subgroup task has
#: one per level, in the order of ``levels``.
_Fitted = list[tuple[Fit, Fit | None]]


@dataclass(frozen=True)
class _Light:
    """What pooling needs of one fit made in a worker process."""

    estimates: Estimates
    trend: Estimates | None
    warnings: tuple[str, ...]


def fit_pooled(
    completed: Sequence[AnalysisFrames],
    tasks: Sequence[Task],
    levels: Mapping[str, list[str]],
    ties: str,
    pool: Executor | None,
    progress: Callable[[float], None] | None = None,
) -> list[list[Fit | InteractionTest]]:
    """Per task (in order), its pooled fits (one, or one per subgroup level) or its pooled
    interaction test; ``completed``: each completed data set's analysis frames (a worker
    process of ``pool`` gets the main frame and rebuilds the rest; None: all fitted here);
    ``progress`` gets the share of data sets fitted after each."""
    m = len(completed)
    tell = progress or (lambda share: None)
    if pool is None:
        first = _fit_dataset(completed[0], tasks, levels, ties)
        rest: list[list[list[_Light]]] = []
        for frames in completed[1:]:
            tell((len(rest) + 1) / m)  # data sets fitted so far
            rest.append(_light(_fit_dataset(frames, tasks, levels, ties)))
    else:
        futures = [
            pool.submit(_light_dataset, f.spec, f.main, tuple(tasks), dict(levels), ties)
            for f in completed[1:]
        ]
        first = _fit_dataset(completed[0], tasks, levels, ties)  # meanwhile, here
        for finished, _ in enumerate(as_completed(futures), 2):
            tell(finished / m)
        rest = [f.result() for f in futures]
    tell(1.0)
    return [
        _pooled(task, fitted, [r[i] for r in rest])
        for i, (task, fitted) in enumerate(zip(tasks, first, strict=True))
    ]


def _fit_dataset(
    frames: AnalysisFrames, tasks: Sequence[Task], levels: Mapping[str, list[str]], ties: str
) -> list[_Fitted]:
    """Every task's models on one completed data set."""
    out = []
    for task in tasks:
        frame = frames.get(task.key.analysis, task.outcome)
        if task.modifier is not None:
            out.append([(interaction_model(task, frame, ties), None)])
        elif task.subgroup_by is None:
            out.append([fit_and_trend(task.key, frame, task, ties)])
        else:
            column, fitted = task.subgroup_by, []
            for level in levels[column]:
                rows, value = level_rows(frame, column, level)
                key = FitKey(**{**task.key.__dict__, "subgroup": f"{column}={level}"})
                fit, trend = fit_and_trend(key, rows, task, ties)
                fitted.append((replace(fit, subgroup_value=value), trend))
            out.append(fitted)
    return out


def _light_dataset(
    spec: Spec,
    main: pl.DataFrame,
    tasks: Sequence[Task],
    levels: Mapping[str, list[str]],
    ties: str,
) -> list[list[_Light]]:
    """In a worker process: one completed data set's fits (from its main analysis frame),
    reduced to what pooling reads."""
    return _light(_fit_dataset(AnalysisFrames(spec, main), tasks, levels, ties))


def _light(fitted: list[_Fitted]) -> list[list[_Light]]:
    return [
        [
            _Light(
                extract(fit.result, None),
                extract(trend.result, None) if trend is not None else None,
                fit.warnings + (trend.warnings if trend is not None else ()),
            )
            for fit, trend in models
        ]
        for models in fitted
    ]


def _pooled(task: Task, first: _Fitted, rest: list[list[_Light]]) -> list[Fit | InteractionTest]:
    """One task's fits (or test) pooled over the first data set's full fits and the rest."""
    if task.modifier is not None:
        return [_interaction(task, first[0][0], [r[0] for r in rest])]
    out: list[Fit | InteractionTest] = []
    for k, (fit, trend) in enumerate(first):
        others = [r[k] for r in rest]
        notes = _notes(fit.warnings + (trend.warnings if trend else ()), others)
        pooled = PooledFit(pool([fit.result, *(o.estimates for o in others)]), fit.result)
        p_trend = None
        if trend is not None:
            trends = [trend.result, *(o.trend for o in others)]
            p_trend = float(pool(trends).summary.loc[trend_column(task.exposure), "p"])
        out.append(replace(fit, result=pooled, warnings=notes, p_trend=p_trend))
    return out


def _interaction(task: Task, full: Fit, rest: list[_Light]) -> InteractionTest:
    """D1 of the product terms in the interaction model pooled over the data sets."""
    assert task.modifier is not None
    terms = product_terms(full)
    if not terms:
        raise ModelError(
            f"interaction of {task.key.exposure!r} with {task.modifier.column!r}: the model has "
            "no product terms to test."
        )
    pooled = pool([full.result, *(o.estimates for o in rest)])
    test = d1_test(pooled, list(terms))
    return InteractionTest(
        interaction_key(task), task.modifier.column, "d1", terms, test.statistic, test.df1,
        test.p, _notes(full.warnings, rest), df2=test.df2,
    )  # fmt: skip


def _notes(first: tuple[str, ...], rest: list[_Light]) -> tuple[str, ...]:
    """Every data set's warnings, once each, in order of first appearance."""
    return tuple(dict.fromkeys([*first, *(w for o in rest for w in o.warnings)]))


@dataclass(frozen=True, eq=False)
class PooledFit:
    """A pooled result that reads like a ``CoxResult``/``FineGrayResult`` for the tables:
    ``summary`` (coef, se, hr, hr_lower, hr_upper, z, p; plus df and fmi), ``coef`` (Q̄),
    ``vcov`` (T), ``conf_level``; every other attribute (n, n_events, ties, the fit data)
    is the first completed data set's fit (n and events are the same in each: outcomes and
    rows are never imputed); ``pooled`` is the full ``PooledResult``."""

    pooled: PooledResult
    first: Any = field(repr=False)

    @property
    def summary(self) -> pd.DataFrame:
        s = self.pooled.summary
        return pd.DataFrame(
            {
                "coef": s["estimate"],
                "se": s["se"],
                "hr": s["hr"],
                "hr_lower": s["hr_lower"],
                "hr_upper": s["hr_upper"],
                "z": s["statistic"],
                "p": s["p"],
                "df": s["df"],
                "fmi": s["fmi"],
            },
            index=s.index,
        )

    @property
    def coef(self) -> pd.Series:
        """The pooled coefficients Q̄ (log hazard ratios)."""
        return self.pooled.summary["estimate"].rename("coef")

    @property
    def vcov(self) -> pd.DataFrame:
        terms = list(self.pooled.terms)
        return pd.DataFrame(self.pooled.total, index=terms, columns=terms)

    @property
    def conf_level(self) -> float:
        return self.pooled.conf_level

    def scaled_estimates(self, terms: Sequence[str], scale: float) -> pd.DataFrame:
        """coef, se, hr, hr_lower, hr_upper, p of ``terms`` per ``scale`` units (e.g. an SD):
        the t-based limits scale with the log HR; p is unchanged."""
        s = self.summary.loc[list(terms)]
        return pd.DataFrame(
            {
                "coef": s["coef"] * scale,
                "se": s["se"] * scale,
                "hr": s["hr"] ** scale,
                "hr_lower": s["hr_lower"] ** scale,
                "hr_upper": s["hr_upper"] ** scale,
                "p": s["p"],
            },
            index=s.index,
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("pooled", "first"):
            raise AttributeError(name)
        return getattr(self.first, name)
