"""Fine–Gray with delayed entry (left truncation): ``cc.finegray(..., entry=...)``.

Geskus (2011, Biometrics 67:39), eq. 11: a subject with a competing event at Tᵢ stays in the
risk set at t > Tᵢ with weight G(t−)H(t−) / G(Tᵢ−)H(Tᵢ−), G the Kaplan–Meier censoring
survival in counting-process form and H the reverse-time Kaplan–Meier of the entry times (the
probability of having entered). Computed exactly as R ``survival::finegray`` (3.5): times
are indexed over the distinct entry and exit times, events precede censorings at a tied time,
and a competing subject's row is continued over the intervals between weight changes that
hold an event of the cause. The weighted data are then fitted by ``cc.cox`` with
counting-process rows, Breslow ties and the robust variance clustered on the subject, i.e.
R ``coxph(Surv(fgstart, fgstop, fgstatus) ~ ., weights = fgwt, cluster = id,
ties = "breslow")``. That sandwich variance treats G and H as known (crr's variance, used
without entry, adds a term for the estimated G).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.survival.cox import cox
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.inputs import load_columns
from cohortcalc.survival.results import CoxResult

START, STOP, STATUS, WEIGHT, SUBJECT = "fg_start", "fg_stop", "fg_status", "fg_weight", "fg_id"


def finegray_with_entry(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    entry: str,
    censor_code: Any = 0,
    reference: Mapping[str, Any] | None = None,
) -> FineGrayResult:
    """Fine–Gray subdistribution hazards with delayed entry at ``entry`` (Geskus 2011)."""
    fit, data, status, n_dropped = _weighted_fit(
        frame, time, event, cause, covariates, entry, censor_code, reference
    )
    competing = data.get_column(event).filter(pl.Series(status == 2)).unique().sort()
    return FineGrayResult(
        summary=fit.summary,
        vcov=fit.vcov,
        terms=fit.terms,
        time=time,
        event=event,
        cause=cause,
        competing=tuple(competing.to_list()),
        censor_code=censor_code,
        n=data.height,
        n_events=int(np.sum(status == 1)),
        n_competing=int(np.sum(status == 2)),
        n_censored=int(np.sum(status == 0)),
        loglik=fit.loglik,
        loglik_null=fit.loglik_null,
        converged=fit.converged,
        iterations=fit.iterations,
        n_dropped=n_dropped,
        reference=dict(fit.reference),
    )


def finegray_weighted_cox(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    entry: str | None = None,
    censor_code: Any = 0,
    reference: Mapping[str, Any] | None = None,
) -> CoxResult:
    """The Fine–Gray model as R fits it: ``finegray()`` rows and the weighted ``coxph`` fit
    (entry 0 when ``entry`` is None), e.g. for ``cc.ph_test`` — R ``cox.zph`` of that fit,
    the Schoenfeld-type residual test of proportional subdistribution hazards."""
    if entry is None:
        frame = _polars(frame, time, event, covariates).with_columns(
            pl.lit(0.0).alias(f"{START}_zero")
        )
        entry = f"{START}_zero"
    return _weighted_fit(frame, time, event, cause, covariates, entry, censor_code, reference)[0]


def _polars(frame: Any, time: str, event: str, covariates: Sequence[str] | str) -> pl.DataFrame:
    terms = [covariates] if isinstance(covariates, str) else list(covariates)
    columns = list(dict.fromkeys(part for term in terms for part in term.split(":")))
    used = list(dict.fromkeys([time, event, *columns]))
    return frame.select(used) if isinstance(frame, pl.DataFrame) else load_columns(frame, used)


def _weighted_fit(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    entry: str,
    censor_code: Any,
    reference: Mapping[str, Any] | None,
) -> tuple[CoxResult, pl.DataFrame, np.ndarray, int]:
    """The weighted Cox fit, the complete rows, their 0/1/2 status and the rows dropped."""
    terms = [covariates] if isinstance(covariates, str) else list(covariates)
    columns = list(dict.fromkeys(part for term in terms for part in term.split(":")))
    used = list(dict.fromkeys([entry, time, event, *columns]))
    raw = load_columns(frame, used) if not isinstance(frame, pl.DataFrame) else frame.select(used)
    data = _complete(raw, used)
    start = data.get_column(entry).cast(pl.Float64).to_numpy()
    stop = data.get_column(time).cast(pl.Float64).to_numpy()
    status = _status_codes(data.get_column(event), cause, censor_code, event)
    if np.any(start < 0) or np.any(stop <= start):
        raise ModelError(
            f"entry {entry!r} must be >= 0 and before exit {time!r} in every row "
            f"({int(np.sum(stop <= start))} row(s) are not); fix or drop them."
        )
    kept = data.drop([c for c in (entry, time, event) if c not in columns])
    fit = cox(
        _expand(kept, start, stop, status), time=STOP, event=STATUS, covariates=terms,
        ties="breslow", entry=START, weights=WEIGHT, cluster=SUBJECT, reference=reference,
    )  # fmt: skip
    return fit, data, status, raw.height - data.height


def _complete(data: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    data = data.drop_nulls(columns)
    floats = [c for c in columns if data.schema[c].is_float()]
    if floats:
        data = data.filter(pl.all_horizontal([pl.col(c).is_not_nan() for c in floats]))
    if data.height == 0:
        raise ModelError("no complete rows to fit the Fine–Gray model.")
    return data


def _status_codes(values: pl.Series, cause: Any, censor_code: Any, event: str) -> np.ndarray:
    """0 censored, 1 the cause, 2 any other (competing) code."""
    text = values.cast(pl.String).to_numpy()
    is_cause, is_censored = text == str(cause), text == str(censor_code)
    if values.dtype.is_numeric():
        number = values.cast(pl.Float64).to_numpy()
        is_cause, is_censored = number == float(cause), number == float(censor_code)
    if not is_cause.any():
        raise ModelError(f"cause {cause!r} never occurs in column {event!r}.")
    return np.where(is_cause, 1, np.where(is_censored, 0, 2)).astype(np.int8)


def _kaplan_meier(
    at: np.ndarray, lower: np.ndarray, upper: np.ndarray, event_times: np.ndarray
) -> np.ndarray:
    """KM survival just after each of ``at`` for rows at risk on (lower, upper] whose events
    happen at ``event_times`` (one per event row)."""
    lower, upper = np.sort(lower), np.sort(upper)
    n_risk = np.searchsorted(lower, at, side="left") - np.searchsorted(upper, at, side="left")
    events = np.searchsorted(np.sort(event_times), at, side="right") - np.searchsorted(
        np.sort(event_times), at, side="left"
    )
    return np.cumprod(1.0 - events / n_risk)


def _weight_points(
    start: np.ndarray, stop: np.ndarray, status: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Times (as indices into the distinct times) where G·H changes, and G·H after each."""
    distinct = np.unique(np.concatenate([start, stop]))
    first = np.searchsorted(distinct, start) + 1.0  # R's findInterval: 1-based positions
    last = np.searchsorted(distinct, stop) + 1.0 - 0.2 * (status != 0)  # events first
    censored = status == 0
    censor_times = np.unique(last[censored])
    after_g = _kaplan_meier(censor_times, first, last, last[censored])
    if not np.any(start > stop.min()):  # no delayed entry: G alone, as R
        return censor_times, after_g
    # entry distribution: reverse-time KM on (-last, -first] with an event at -first
    entry_times = np.unique(first)[::-1]
    reverse = _kaplan_meier(-entry_times, -last, -first, -first)[::-1]  # ascending entries
    entered = np.append(reverse[1:], 1.0)  # R: c(rev(surv)[-1], 1)
    points = np.unique(np.concatenate([entry_times, censor_times]))
    h_part = entered[np.searchsorted(entry_times[::-1], points, side="right") - 1]
    g_index = np.searchsorted(censor_times, points, side="right")
    g_part = np.concatenate([[1.0], after_g])[g_index]
    return points, h_part * g_part


def _expand(
    data: pl.DataFrame, start: np.ndarray, stop: np.ndarray, status: np.ndarray
) -> pl.DataFrame:
    """The weighted counting-process rows of R ``finegray()`` (one stratum, no case weights)."""
    distinct = np.unique(np.concatenate([start, stop]))
    points, values = _weight_points(start, stop, status)
    bounds = np.append(distinct[points.astype(np.int64) - 1], stop.max())  # real times
    weight = np.concatenate([[1.0], values])  # interval k = (bounds[k-1], bounds[k]]
    events = np.unique(stop[status == 1])
    kept = np.unique(np.searchsorted(bounds, events, side="left"))  # intervals with events
    n = data.height
    competing = np.flatnonzero(status == 2)
    own = np.searchsorted(bounds, stop[competing], side="left")  # interval holding Tᵢ
    end = stop.copy()
    end[competing] = bounds[own]  # R extends the row to the end of its interval, weight 1
    first_later = np.searchsorted(kept, own, side="right")
    extra = len(kept) - first_later
    rows = np.repeat(competing, extra)
    position = np.arange(extra.sum()) - np.repeat(np.cumsum(extra) - extra, extra)
    interval = kept[np.repeat(first_later, extra) + position]
    base = pl.DataFrame(
        {START: start, STOP: end, STATUS: (status == 1).astype(np.int8),
         WEIGHT: np.ones(n), SUBJECT: np.arange(n)}
    )  # fmt: skip
    later = pl.DataFrame(
        {START: bounds[interval - 1], STOP: bounds[interval], STATUS: np.zeros(rows.size, np.int8),
         WEIGHT: weight[interval] / weight[np.repeat(own, extra)], SUBJECT: rows}
    )  # fmt: skip
    return pl.concat(
        [pl.concat([data, base], how="horizontal"),
         pl.concat([data[rows], later], how="horizontal")]
    )  # fmt: skip
