"""`cc.finegray`: the Fine–Gray subdistribution hazards model on any frame.

Fine & Gray (1999, JASA 94:496) with `cmprsk::crr`'s conventions: Kaplan–Meier censoring
distribution G evaluated just before each time, Breslow ties, and crr's sandwich variance
(which includes the term for the estimated G). Extensions crr lacks: `strata` gives each
stratum its own baseline subdistribution hazard and its own G (Zhou, Latouche, Rocha & Fine
2011, Biometrics 67:661); `weights` are case weights, acting as replication counts (in the
likelihood, in G and in the variance), so integer weights equal replicated rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame
from cohortcalc.survival import _finegray_kernels as kernels
from cohortcalc.survival import finegray_riskset as engine
from cohortcalc.survival.cox import _case_weights, _positive_times, group_codes
from cohortcalc.survival.design import Design, build_design
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.newton import NewtonResult, newton_raphson
from cohortcalc.survival.results import coefficient_table, vcov_frame

Columns = dict[str, np.ndarray]
Levels = dict[str, tuple[str, ...]]


def finegray(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    censor_code: Any = 0,
    strata: str | Sequence[str] | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
    entry: str | None = None,
) -> FineGrayResult:
    """Fit the Fine–Gray model for `cause` of the coded `event` column.

    `event` holds `censor_code` for censored rows, `cause` for the event of interest and any
    other value for competing events. Rows with a missing value in a used column are dropped
    (counted in `n_dropped`), as crr's `na.omit`. Raises `ModelError` for times ≤ 0, a cause
    that never occurs, no uncensored rows, bad weights, or a term without events.
    `entry` (delayed entry, e.g. the age scale) uses Geskus' weights as R `finegray()` +
    `coxph` (`cohortcalc.survival.finegray_entry`).
    """
    if entry is not None:
        return _with_entry(frame, time, event, cause, covariates, censor_code, strata, weights,
                           reference, entry)  # fmt: skip
    if is_spark_frame(frame):  # registry scale: the same estimate computed in Spark
        arguments = {k: v for k, v in locals().items() if k != "entry"}  # entry is None here
        return import_module("cohortcalc.spark").finegray(**arguments)
    strata_names = [strata] if isinstance(strata, str) else list(strata or [])
    read: list[_Outcome] = []

    def bin_order(columns: Columns, levels: Levels) -> np.ndarray:
        outcome = _Outcome.read(
            columns, levels, time, event, cause, censor_code, weights, strata_names
        )
        read.append(outcome)
        return outcome.bins.rows

    # the matrix is built once, already in the engine's bin order (as cc.cox does)
    design = build_design(
        frame,
        covariates,
        reference=reference,
        columns=(time, event, weights, *strata_names),
        row_order=bin_order,
    )
    counts, codes, binned = read[0].counts, read[0].codes, read[0].bins
    _check_terms_have_events(design, binned.status, cause)
    data = engine.prepare_ordered(binned, design.matrix)
    terms = design.terms
    fit = newton_raphson(lambda beta: _objective(data, beta), terms)
    beta = _last_newton_step(fit)
    loglik, information, meat = engine.sandwich(data, beta)
    bread = _inverse(information, fit.variance)
    vcov = bread @ meat @ bread
    vcov = (vcov + vcov.T) / 2
    return FineGrayResult(
        summary=coefficient_table(beta, vcov, terms),
        vcov=vcov_frame(vcov, terms),
        terms=terms,
        time=time,
        event=event,
        cause=cause,
        competing=codes,
        censor_code=censor_code,
        n=design.n,
        n_events=int(counts[engine.CAUSE]),
        n_competing=int(counts[engine.COMPETING]),
        n_censored=int(counts[engine.CENSORED]),
        n_dropped=design.n_dropped,
        loglik=loglik,
        loglik_null=fit.loglik_init,
        converged=fit.converged,
        iterations=fit.iterations,
        strata=", ".join(strata_names) or None,
        n_strata=len(data.strata),
        weights=weights,
        reference=dict(design.reference),
    )


def _with_entry(frame, time, event, cause, covariates, censor_code, strata, weights, reference,
                entry) -> FineGrayResult:  # fmt: skip
    if strata is not None or weights is not None or is_spark_frame(frame):
        raise ModelError(
            "Fine–Gray with entry= supports neither strata, weights nor Spark frames yet; "
            "drop them or fit on follow-up time."
        )
    from cohortcalc.survival.finegray_entry import finegray_with_entry

    return finegray_with_entry(frame, time, event, cause, covariates, entry, censor_code,
                               reference)  # fmt: skip


def _objective(data: engine.FineGrayData, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Newton's objective; overflow on a wild trial step is the driver's to handle (halving)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return engine.loglik_score_information(data, beta)


def _last_newton_step(fit: NewtonResult) -> np.ndarray:
    """One more Newton step from the converged β with the score and information the driver
    already evaluated there: the log-likelihood stop (R's, relative change ≤ 1e-9) can leave
    β ~1e-7 short, crr stops on the gradient. Skipped unless the step is tiny (a term
    running to infinity keeps the driver's value and its warning)."""
    step = fit.variance @ fit.score
    small = np.all(np.abs(step) <= 1e-5 * np.maximum(np.abs(fit.beta), 1.0))
    return fit.beta + step if fit.converged and small else fit.beta


def _inverse(information: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """I⁻¹ for the bread of the sandwich (Fine & Gray 1999, §3)."""
    try:
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return fallback


@dataclass(frozen=True)
class _Outcome:
    """The rows' count of each status (censored, cause, competing), the competing codes
    observed and the rows' bins (`engine.layout`)."""

    counts: np.ndarray
    codes: tuple[object, ...]
    bins: engine.Bins

    @classmethod
    def read(
        cls,
        columns: Columns,
        levels: Levels,
        time: str,
        event: str,
        cause: Any,
        censor_code: Any,
        weights: str | None,
        strata: Sequence[str],
    ) -> _Outcome:
        times = _positive_times(columns, levels, time)
        status, counts, codes = _status(columns, levels, event, cause, censor_code)
        case_weights = _case_weights(columns, levels, weights)
        stratum_codes = (
            group_codes(columns, levels, strata) if strata else np.zeros(times.size, np.int64)
        )
        return cls(counts, codes, engine.layout(times, status, case_weights, stratum_codes))


def refuse_equal_codes(cause: Any, censor_code: Any) -> None:
    """``cause`` and ``censor_code`` must name different codes (1 and 1.0 or "1" are one code)."""
    if cause == censor_code or str(cause) == str(censor_code):
        raise ModelError(
            f"cause {cause!r} and censor_code {censor_code!r} are the same code; they must differ."
        )


def _status(
    columns: Columns, levels: Levels, event: str, cause: Any, censor_code: Any
) -> tuple[np.ndarray, np.ndarray, tuple[object, ...]]:
    """0/1/2 (censored/cause/competing) codes, their counts and the competing values seen."""
    refuse_equal_codes(cause, censor_code)
    values = columns[event]
    if event in levels:
        labels = np.asarray(levels[event], dtype=object)
        codes = [_code_of(labels, cause), _code_of(labels, censor_code)]
    else:
        try:
            codes = [float(cause), float(censor_code)]
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"event column {event!r} is numeric but cause={cause!r} / censor_code="
                f"{censor_code!r} are not numbers; codes present: {_present(values, None)}."
            ) from exc
    status, counts = kernels.status_codes(np.asarray(values, dtype=np.float64), *codes)
    if counts[engine.CENSORED] == status.size:
        raise ModelError(
            f"every row is censored ({event} = {censor_code!r}); there is nothing to estimate. "
            "Check the event coding or the population."
        )
    if counts[engine.CAUSE] == 0:
        raise ModelError(
            f"cause {cause!r} never occurs in column {event!r} (codes present: "
            f"{_present(values, levels.get(event))}); give the code of the event of interest."
        )
    other = values[status == engine.COMPETING]  # hashing the few competing rows, no sort of N
    if event in levels:
        present = set(pd.unique(other).tolist())
        competing = tuple(lv for k, lv in enumerate(levels[event]) if k in present)
    else:
        competing = tuple(_plain(v) for v in np.sort(pd.unique(other)))
    return status, counts, competing


def _present(values: np.ndarray, levels: tuple[str, ...] | None) -> list[object]:
    """The codes present in an event column, for messages (text: in level order)."""
    if levels is not None:
        present = set(np.unique(values).tolist())
        return [level for k, level in enumerate(levels) if k in present]
    return [_plain(v) for v in np.sort(pd.unique(values))]


def _code_of(labels: np.ndarray, code: Any) -> float:
    """The integer code of a text level (NaN, matching no row, if the level is absent)."""
    where = np.flatnonzero(labels == str(code))
    return float(where[0]) if where.size else np.nan


def _plain(value: float) -> object:
    return int(value) if float(value).is_integer() else float(value)


def _check_terms_have_events(design: Design, status: np.ndarray, cause: Any) -> None:
    """A level, or a side of a 0/1 term, without events of the cause has an infinite sHR."""
    is_cause = status == engine.CAUSE
    for term, columns in design.assign.items():
        if term in design.levels:  # a factor: events in every level, reference included
            dummies = design.matrix[np.ix_(is_cause, list(columns))]
            counts = [int(np.sum(dummies.sum(axis=1) == 0)), *dummies.sum(axis=0).astype(int)]
            names = [f"{term}[{level}]" for level in design.levels[term]]
        else:
            column = design.matrix[:, columns[0]] if len(columns) == 1 else None
            if column is None or not _is_binary(column):
                continue
            counts = [int(np.sum(is_cause & (column == 0))), int(np.sum(is_cause & (column == 1)))]
            names = [f"{term} = 0", f"{term} = 1"]
        empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
        if empty:
            raise ModelError(
                f"no events of cause {cause!r} in {empty}: the subdistribution hazard ratio of "
                f"{term!r} is infinite (monotone likelihood). Merge the level with a neighbour, "
                "choose another reference, or drop the term."
            )


def _is_binary(column: np.ndarray) -> bool:
    """All values 0 or 1 (a cheap look at the first rows rules out most continuous columns)."""
    head = column[:1000]
    return bool(np.all((head == 0) | (head == 1)) and np.all((column == 0) | (column == 1)))
