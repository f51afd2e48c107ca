"""Every refusal and warning of the regression models, once, for every engine.

An engine reads the rows and reports counts (``engine.CoxCounts``, ``engine.FineGrayCounts``);
the functions here decide from those counts and word the message. Where a message points at a
row, the engine is asked for the first such row (``Rows.first_row``) only on that error path,
so a Polars frame and a Spark frame give the same text. "Row k" counts the rows used (after
rows with a missing value were dropped), from 0, in the frame's order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from cohortcalc.errors import ModelError, ModelWarning
from cohortcalc.survival.engine import CoxCounts, CoxRequest, FineGrayCounts, FineGrayRequest, Rows
from cohortcalc.survival.terms import refuse_non_finite

FEW_CLUSTERS = 30
"""Below this many clusters the sandwich variance is biased downward and Wald tests based on it
are too liberal (Cameron & Miller 2015, J Hum Resour 50:317, sec. VI; Mancl & DeRouen 2001)."""

MIN_SANDWICH_EVENTS = 2
"""The Fine–Gray variance is crr's sandwich: with one event of the cause (or one row on a side
of a 0/1 term) it rests on a single residual and is meaningless."""


def where(rows: Rows, check: str, count: int) -> str:
    """``"n row(s), first at row k of the rows used"`` for a failed check."""
    return f"{count} row(s), first at row {rows.first_row(check)} of the rows used"


def refuse_text_columns(rows: Rows, roles: Sequence[tuple[str | None, str]]) -> None:
    """Time, entry and weights columns must be numeric (``roles``: (column, role) pairs)."""
    for name, role in roles:
        if name is not None and name in rows.text_columns:
            raise ModelError(
                f"{role} column {name!r} must be numeric; it holds text or categories."
            )


def refuse_non_finite_columns(rows: Rows, names: Sequence[str | None], counts: Any) -> None:
    """NaN or infinite times, entry times or weights (``counts.non_finite``: per column)."""
    for name in names:
        if name is not None and counts.non_finite.get(name):
            refuse_non_finite(name, counts.non_finite[name], rows.first_row(f"non_finite:{name}"))


def refuse_times(rows: Rows, time: str, counts: CoxCounts | FineGrayCounts) -> None:
    """Follow-up time must be > 0."""
    if counts.bad_time:
        raise ModelError(
            f"time column {time!r} has values <= 0 in {where(rows, 'bad_time', counts.bad_time)}; "
            "follow-up time must be positive (an event on the entry day is usually coded as "
            "0.5 day)."
        )


def refuse_weights(rows: Rows, weights: str | None, counts: CoxCounts | FineGrayCounts) -> None:
    """Case weights must be > 0."""
    if weights is not None and counts.bad_weight:
        raise ModelError(
            f"weights column {weights!r} has values <= 0 in "
            f"{where(rows, 'bad_weight', counts.bad_weight)}; case weights must be positive (drop "
            "rows instead of giving them weight 0)."
        )


def refuse_cox_rows(request: CoxRequest, rows: Rows, counts: CoxCounts) -> None:
    """The Cox refusals, in order: times, event coding, entry, weights, no events, a level
    without events (an infinite hazard ratio), fewer than 2 clusters."""
    time, event, entry = request.time, request.event, request.entry
    refuse_non_finite_columns(rows, [time, entry, request.weights], counts)
    refuse_times(rows, time, counts)
    if counts.event_text:
        raise ModelError(
            f"event column {event!r} holds text {list(counts.event_text)[:5]}; code it as "
            "boolean or 0/1 (1 = event)."
        )
    if counts.bad_event:
        raise ModelError(
            f"event column {event!r} has codes {rows.examples('bad_event')} besides 0/1 in "
            f"{where(rows, 'bad_event', counts.bad_event)}; a Cox model needs 1 = event, "
            f"0 = censored. Map the codes first (cause-specific: ({event} == 1)); for competing "
            "risks see cc.finegray."
        )
    if entry is not None and counts.negative_entry:
        raise ModelError(
            f"entry column {entry!r} has negative values in "
            f"{where(rows, 'negative_entry', counts.negative_entry)}."
        )
    if entry is not None and counts.late_entry:
        raise ModelError(
            f"entry {entry!r} is not before exit {time!r} in "
            f"{where(rows, 'late_entry', counts.late_entry)}; each row must cover an interval "
            "(entry, exit] of positive length. Drop or fix those rows."
        )
    refuse_weights(rows, request.weights, counts)
    if not counts.n_events:
        raise ModelError(
            f"no events: every row has {event} = 0 (all censored), so a Cox model has nothing "
            "to estimate. Check the event coding or the population."
        )
    for term, names, events in counts.level_events:
        empty = [name for name, count in zip(names, events, strict=True) if count == 0]
        if empty:
            raise ModelError(
                f"no events in {empty}: the hazard ratio against that level is infinite. "
                f"Merge the level with a neighbour or choose another reference for {term!r}."
            )
    if request.cluster is not None:
        check_clusters(request.cluster, counts.n_clusters)


def check_clusters(cluster: str, n_clusters: int) -> None:
    """Refuse a sandwich variance from fewer than 2 clusters; warn below ``FEW_CLUSTERS``."""
    if n_clusters < 2:
        raise ModelError(
            f"cluster column {cluster!r} has {n_clusters} cluster(s): a robust (sandwich) "
            "variance needs at least 2 (with 1 it is 0, giving a zero-width CI). Drop cluster= "
            "for the model-based variance, or cluster by a finer unit."
        )
    if n_clusters < FEW_CLUSTERS:
        warnings.warn(
            f"only {n_clusters} clusters of {cluster!r}: with fewer than about {FEW_CLUSTERS} "
            "clusters the robust (sandwich) variance is biased downward and its confidence "
            "intervals are too narrow. Compare with the model-based SE (fit.naive_vcov) and "
            "report the larger, or cluster by a finer unit.",
            ModelWarning,
            stacklevel=4,
        )


def refuse_equal_codes(cause: Any, censor_code: Any) -> None:
    """``cause`` and ``censor_code`` must name different codes (1 and 1.0 or "1" are one code)."""
    if cause == censor_code or str(cause) == str(censor_code):
        raise ModelError(
            f"cause {cause!r} and censor_code {censor_code!r} are the same code; they must differ."
        )


def refuse_non_numeric_codes(request: FineGrayRequest, codes: Sequence[Any]) -> None:
    """A numeric event column needs numeric ``cause`` and ``censor_code``."""
    try:
        float(request.cause), float(request.censor_code)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"event column {request.event!r} is numeric but cause={request.cause!r} / "
            f"censor_code={request.censor_code!r} are not numbers; codes present: {list(codes)}."
        ) from exc


def refuse_finegray_rows(request: FineGrayRequest, rows: Rows, counts: FineGrayCounts) -> None:
    """The Fine–Gray refusals: times, weights, nothing uncensored, a cause that never occurs,
    too few events of the cause for crr's sandwich variance, and a level or side of a 0/1 term
    without events of the cause (an infinite subdistribution hazard ratio) or with one row."""
    cause, event = request.cause, request.event
    refuse_non_finite_columns(rows, [request.time, request.weights], counts)
    refuse_times(rows, request.time, counts)
    refuse_weights(rows, request.weights, counts)
    if counts.n_censored == counts.n_rows:
        raise ModelError(
            f"every row is censored ({event} = {request.censor_code!r}); there is nothing to "
            "estimate. Check the event coding or the population."
        )
    if counts.n_cause == 0:
        raise ModelError(
            f"cause {cause!r} never occurs in column {event!r} (codes present: "
            f"{list(counts.codes)}); give the code of the event of interest."
        )
    if counts.n_cause < MIN_SANDWICH_EVENTS:
        raise ModelError(
            f"only {counts.n_cause} event of cause {cause!r} in column {event!r}: the "
            "Fine–Gray (sandwich) variance cannot be estimated from a single event. Widen the "
            "population or the follow-up, or report the cumulative incidence only."
        )
    for term, names, events, sizes in counts.sides:
        empty = [name for name, count in zip(names, events, strict=True) if count == 0]
        if empty:
            raise ModelError(
                f"no events of cause {cause!r} in {empty}: the subdistribution hazard ratio of "
                f"{term!r} is infinite (monotone likelihood). Merge the level with a neighbour, "
                "choose another reference, or drop the term."
            )
        single = [name for name, size in zip(names, sizes, strict=True) if size < 2]
        if single:
            raise ModelError(
                f"{single} has a single row: the sandwich variance of the subdistribution "
                f"hazard ratio of {term!r} would rest on one person's residual. Merge the level "
                "with a neighbour or drop the term."
            )
