"""Cox proportional hazards regression on any frame: ``cc.cox``.

This layer knows frames, column names and dummy coding; the numbers come from the array engine
in ``riskset.py`` and the Newton driver in ``newton.py`` — the split of R's ``coxph`` /
``coxph.fit``. Robust variance: Lin & Wei (1989) sandwich from score residuals summed within
cluster, as R's ``cluster()`` (Therneau & Grambsch 2000, sec. 7.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import numpy as np

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame
from cohortcalc.survival.design import Design, build_design
from cohortcalc.survival.newton import newton_raphson
from cohortcalc.survival.results import CoxResult, cox_result
from cohortcalc.survival.riskset import (
    CoxLikelihood,
    RiskSetIndex,
    prepare_risk_sets,
    score_residuals_by_cluster,
)

TIES = ("efron", "breslow")


@dataclass(frozen=True)
class CoxFitData:
    """The arrays a fit was computed from, kept (not copied) for ``ph_test``; ``design``
    (its levels and columns) lets ``cc.predict`` code new rows as the fit did."""

    likelihood: CoxLikelihood
    time: np.ndarray
    entry: np.ndarray | None
    event: np.ndarray
    beta: np.ndarray
    assign: dict[str, tuple[int, ...]]
    design: Design | None = None

    @property
    def index(self) -> RiskSetIndex:
        return self.likelihood.index


def cox(
    frame: Any,
    time: str,
    event: str,
    covariates: Sequence[str] | str,
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
) -> CoxResult:
    """Fit a Cox model; the numbers of R ``coxph(Surv([entry,] time, event) ~ ..., ties=)``.

    ``event`` must be boolean or coded 0/1 (1 = event); for a multi-state status column pass
    a derived 0/1 column (e.g. MI vs. censored-or-competing for a cause-specific model).
    ``entry`` gives delayed entry or counting-process (start, stop] rows. ``cluster`` gives
    the robust (sandwich) variance, used in ``summary``; ``weights`` are case weights.
    Rows with a missing value in any used column are dropped and counted.
    """
    if is_spark_frame(frame):  # registry scale: the same fit computed in Spark
        return import_module("cohortcalc.spark").cox(**locals())
    if ties not in TIES:
        raise ModelError(f"ties={ties!r} is not supported; use one of {TIES}.")
    strata_names = [strata] if isinstance(strata, str) else list(strata or [])
    extra = [time, event, entry, weights, *strata_names, cluster]
    prepared: list[_Outcome] = []

    def bin_order(columns: dict[str, np.ndarray], levels: dict[str, tuple[str, ...]]) -> np.ndarray:
        outcome = _Outcome.read(columns, levels, time, event, entry, weights, strata_names)
        prepared.append(outcome)
        return outcome.index.rows

    # the matrix is built once, already in the engine's bin order (no second copy)
    design = build_design(
        frame, covariates, reference=reference, columns=extra, row_order=bin_order
    )
    outcome = prepared[0]
    index = outcome.index
    time_values, event_values = outcome.time, outcome.event
    entry_values, weight_values = outcome.entry, outcome.weights
    _check_events_per_level(design, index.event)
    likelihood = CoxLikelihood.from_ordered(design.matrix, index, efron=ties == "efron")
    fit = newton_raphson(likelihood, design.terms)
    variance, n_clusters = fit.variance, None
    # as R: non-integer (sampling) weights without a cluster get the per-row robust variance
    per_row = (
        cluster is None
        and weight_values is not None
        and bool(np.any(weight_values != np.floor(weight_values)))
    )
    if cluster is not None or per_row:
        codes = (
            np.arange(design.n)
            if per_row
            else group_codes(design.columns, design.column_levels, [cluster])
        )
        n_clusters = int(codes.max()) + 1
        scores = score_residuals_by_cluster(likelihood, fit.beta, codes, n_clusters)
        variance = fit.variance @ (scores.T @ scores) @ fit.variance
    labels = dict(ties=ties, time=time, event=event, entry=entry, cluster=cluster, weights=weights)
    return cox_result(
        fit,
        design,
        variance=variance,
        robust=n_clusters is not None,
        n_events=int(event_values.sum()),
        n_clusters=n_clusters,
        labels={**labels, "strata": tuple(strata_names) or None},
        fit_data=CoxFitData(
            likelihood, time_values, entry_values, event_values, fit.beta, design.assign, design
        ),
    )


@dataclass(frozen=True)
class _Outcome:
    """The checked time, event, entry, weight and stratum arrays, and their risk-set index."""

    time: np.ndarray
    event: np.ndarray
    entry: np.ndarray | None
    weights: np.ndarray | None
    index: RiskSetIndex

    @classmethod
    def read(
        cls,
        columns: dict[str, np.ndarray],
        levels: dict[str, tuple[str, ...]],
        time: str,
        event: str,
        entry: str | None,
        weights: str | None,
        strata: Sequence[str],
    ) -> _Outcome:
        time_values = _positive_times(columns, levels, time)
        event_values = _event_indicator(columns, levels, event)
        entry_values = _entry_times(columns, levels, entry, time, time_values)
        weight_values = _case_weights(columns, levels, weights)
        if not event_values.any():
            raise ModelError(
                f"no events: every row has {event} = 0 (all censored), so a Cox model has "
                "nothing to estimate. Check the event coding or the population."
            )
        index = prepare_risk_sets(
            time_values,
            event_values,
            strata=group_codes(columns, levels, strata) if strata else None,
            entry=entry_values,
            weights=weight_values,
        )
        return cls(time_values, event_values, entry_values, weight_values, index)


def _numeric(columns: dict[str, np.ndarray], levels: dict, name: str) -> np.ndarray:
    if name in levels:
        raise ModelError(f"column {name!r} must be numeric; it holds text or categories.")
    return columns[name]


def _first_row(mask: np.ndarray) -> str:
    return f"{int(mask.sum())} row(s), first at row {int(np.argmax(mask))} of the rows used"


def _positive_times(columns: dict[str, np.ndarray], levels: dict, time: str) -> np.ndarray:
    values = _numeric(columns, levels, time)
    bad = values <= 0
    if bad.any():
        raise ModelError(
            f"time column {time!r} has values <= 0 in {_first_row(bad)}; follow-up time must be "
            "positive (an event on the entry day is usually coded as 0.5 day)."
        )
    return values


def _event_indicator(columns: dict[str, np.ndarray], levels: dict, event: str) -> np.ndarray:
    values = columns[event]
    event_levels = levels.get(event)
    if event_levels is not None:
        if not set(event_levels) <= {"False", "True"}:
            raise ModelError(
                f"event column {event!r} holds text {list(event_levels)[:5]}; code it as "
                "boolean or 0/1 (1 = event)."
            )
        return np.asarray(event_levels, dtype=object)[values] == "True"
    valid = (values == 0) | (values == 1)
    if not valid.all():
        codes = sorted(set(np.unique(values[~valid]).tolist()))[:5]
        raise ModelError(
            f"event column {event!r} has codes {codes} besides 0/1; a Cox model needs 1 = event, "
            f"0 = censored. Map the codes first (cause-specific: ({event} == 1)); for "
            "competing risks see cc.finegray."
        )
    return values == 1


def _entry_times(
    columns: dict[str, np.ndarray],
    levels: dict,
    entry: str | None,
    time: str,
    exit_times: np.ndarray,
) -> np.ndarray | None:
    if entry is None:
        return None
    values = _numeric(columns, levels, entry)
    negative = values < 0
    if negative.any():
        raise ModelError(f"entry column {entry!r} has negative values in {_first_row(negative)}.")
    late = values >= exit_times
    if late.any():
        raise ModelError(
            f"entry {entry!r} is not before exit {time!r} in {_first_row(late)}; each row must "
            "cover an interval (entry, exit] of positive length. Drop or fix those rows."
        )
    return values


def _case_weights(
    columns: dict[str, np.ndarray], levels: dict, weights: str | None
) -> np.ndarray | None:
    if weights is None:
        return None
    values = _numeric(columns, levels, weights)
    bad = values <= 0
    if bad.any():
        raise ModelError(
            f"weights column {weights!r} has values <= 0 in {_first_row(bad)}; case weights "
            "must be positive (drop rows instead of giving them weight 0)."
        )
    return values


def group_codes(columns: dict[str, np.ndarray], levels: dict, names: Sequence[str]) -> np.ndarray:
    """Integer codes 0..G-1 of the combinations of the given columns."""
    arrays = [columns[name] for name in names]
    if len(arrays) == 1 and names[0] in levels:
        codes = arrays[0]
        return np.unique(codes, return_inverse=True)[1] if codes.size else codes
    stacked = np.column_stack(arrays)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _check_events_per_level(design: Design, event: np.ndarray) -> None:
    """A level (or a reference level) without events has an infinite hazard ratio: refuse it.
    ``event`` is aligned with the matrix rows."""
    for term, cols in design.assign.items():
        if ":" in term or term not in design.levels:
            continue
        dummies = design.matrix[np.ix_(event, list(cols))]
        per_level = dummies.sum(axis=0)
        empty = [design.terms[j] for j, count in zip(cols, per_level, strict=True) if count == 0]
        if dummies.shape[0] and (dummies.sum(axis=1) == 0).sum() == 0:
            empty.insert(0, f"{term}[{design.levels[term][0]}] (reference)")
        if empty:
            raise ModelError(
                f"no events in {empty}: the hazard ratio against that level is infinite. "
                f"Merge the level with a neighbour or choose another reference for {term!r}."
            )
