"""The outcome and the risk scores a performance measure compares, read from a frame.

A fit brings its own outcome columns and is turned into its linear predictor on the rows of
the frame (coded as the fit coded its own rows); a column name is read as it is; an array
is taken as given. Rows with a missing value are marked, not dropped, so several scores are
compared on the same rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import ModelError
from cohortcalc.frames import to_polars
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.newdata import code_new_rows
from cohortcalc.survival.results import CoxResult


@dataclass(frozen=True)
class Outcome:
    """Per row: exit time, event flag (of the cause), entry (or None), case weight, stratum
    code, cluster (or None); ``complete`` marks rows without a missing outcome value.
    With a cause, competing events are censored at +inf (Wolbers 2009)."""

    stop: np.ndarray
    status: np.ndarray
    entry: np.ndarray | None
    weights: np.ndarray
    stratum: np.ndarray
    cluster: np.ndarray | None
    complete: np.ndarray
    competing: np.ndarray

    def subset(self, rows: np.ndarray) -> Outcome:
        return Outcome(
            self.stop[rows],
            self.status[rows],
            None if self.entry is None else self.entry[rows],
            self.weights[rows],
            self.stratum[rows],
            None if self.cluster is None else self.cluster[rows],
            self.complete[rows],
            self.competing[rows],
        )

    def stratum_rows(self) -> Iterator[np.ndarray]:
        if self.stratum.size == 0 or self.stratum.min() == self.stratum.max():
            yield np.arange(self.stratum.shape[0])
            return
        codes = np.unique(self.stratum, return_inverse=True)[1]
        order = np.argsort(codes, kind="stable")
        edges = np.searchsorted(codes[order], np.arange(codes.max() + 2))
        for first, last in itertools.pairwise(edges):
            yield order[first:last]


def read_outcome(
    frame: Any,
    model: Any,
    time: str | None,
    event: str | None,
    entry: str | None,
    strata: str | Sequence[str] | None,
    weights: str | None,
    cluster: str | None,
    cause: Any,
    censor_code: Any,
) -> Outcome:
    """The outcome columns: given by name, or those of the fit ``model``."""
    if isinstance(model, CoxResult):
        time, event = time or model.time, event or model.event
        entry = entry or model.entry
        strata = strata if strata is not None else model.strata
        weights = weights or model.weights
        cluster = cluster or model.cluster  # as R: the fit's cluster() groups the dfbetas
    elif isinstance(model, FineGrayResult):
        time, event = time or model.time, event or model.event
        if cause is None:
            cause, censor_code = model.cause, model.censor_code
    if time is None or event is None:
        raise ModelError("give time= and event= (the outcome columns) for a score column.")
    names = [] if strata is None else [strata] if isinstance(strata, str) else list(strata)
    columns = [time, event, entry, weights, cluster, *names]
    data = to_polars(frame, columns=[c for c in columns if c is not None])
    complete = ~np.any(
        np.column_stack([data[c].is_null().to_numpy() for c in data.columns]), axis=1
    )
    stop = _numeric(data, time, complete)
    status, competing = _status(data[event], event, cause, censor_code, complete)
    stop = np.where(competing, np.inf, stop)
    start = None if entry is None else _numeric(data, entry, complete)
    w = np.ones(data.height) if weights is None else _numeric(data, weights, complete)
    if np.any(w[complete] <= 0):
        raise ModelError(f"weights column {weights!r} has values <= 0; weights must be > 0.")
    stratum = np.zeros(data.height, dtype=np.int64)
    if names:
        joined = data.select(
            pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in names], separator="|")
        ).to_series()
        stratum = np.unique(joined.to_numpy(), return_inverse=True)[1].astype(np.int64)
    groups = None if cluster is None else data[cluster].cast(pl.String).to_numpy()
    return Outcome(stop, status, start, w, stratum, groups, complete, competing)


def _numeric(data: pl.DataFrame, name: str, complete: np.ndarray) -> np.ndarray:
    series = data[name]
    if not series.dtype.is_numeric():
        raise ModelError(f"column {name!r} has type {series.dtype}; it must be numeric.")
    values = series.cast(pl.Float64).fill_null(np.nan).to_numpy()
    bad = complete & ~np.isfinite(values)
    if bad.any():
        raise ModelError(
            f"column {name!r} has NaN or infinite values (first at row {int(np.argmax(bad))})."
        )
    return values


def _status(
    series: pl.Series, name: str, cause: Any, censor_code: Any, complete: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(event of interest, competing event) flags."""
    if cause is None:
        values = series.cast(pl.Float64).fill_null(0.0).to_numpy()
        bad = complete & (values != 0) & (values != 1)
        if bad.any():
            raise ModelError(
                f"event column {name!r} has codes other than 0/1 (first at row "
                f"{int(np.argmax(bad))}); give cause= (and censor_code=) for competing risks."
            )
        return values == 1, np.zeros(values.shape[0], dtype=bool)
    if series.dtype.is_numeric():
        is_cause, is_censored = _equal(series, cause), _equal(series, censor_code)
    else:
        text = series.cast(pl.String).to_numpy()
        is_cause, is_censored = text == str(cause), text == str(censor_code)
    if not np.any(is_cause & complete):
        raise ModelError(f"cause {cause!r} never occurs in column {name!r}.")
    return is_cause & complete, ~is_cause & ~is_censored & complete


def _equal(series: pl.Series, code: Any) -> np.ndarray:
    try:
        value = float(code)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"code {code!r} is not a number but column {series.name!r} is.") from exc
    return series.cast(pl.Float64).fill_null(np.nan).to_numpy() == value


def risk_scores(
    models: list[Any], frame: Any, outcome: Outcome
) -> tuple[list[str], list[np.ndarray]]:
    """Labels and per-row scores (NaN where a value is missing) of each model."""
    labels: list[str] = []
    scores: list[np.ndarray] = []
    n = outcome.stop.shape[0]
    for k, model in enumerate(models):
        if isinstance(model, str):
            data = to_polars(frame, columns=[model])
            if not data[model].dtype.is_numeric():
                raise ModelError(f"score column {model!r} has type {data[model].dtype}.")
            label, score = model, data[model].cast(pl.Float64).fill_null(np.nan).to_numpy()
        elif isinstance(model, CoxResult | FineGrayResult):
            label, score = _fit_label(model), linear_predictor(model, frame)
        else:
            score = np.asarray(model, dtype=np.float64).reshape(-1)
            label = f"score {k + 1}"
            if score.shape[0] != n:
                raise ModelError(f"score {k + 1} has {score.shape[0]} values for {n} rows.")
        labels.append(label if label not in labels else f"{label} #{k + 1}")
        scores.append(score)
    return labels, scores


def linear_predictor(fit: Any, frame: Any) -> np.ndarray:
    """x·β of each row of ``frame`` for a Cox or Fine–Gray fit (NaN where x is missing)."""
    data = getattr(fit, "fit_data", None)
    design = getattr(data, "design", None)
    if design is None:
        raise ModelError(
            "this fit keeps no design (a Spark fit); refit on a local frame, or pass its "
            "linear predictor as a score column."
        )
    rows = code_new_rows(frame, design, fit.terms, ())
    return rows.matrix @ fit.coef.to_numpy()


def _fit_label(fit: Any) -> str:
    kind = "cox" if isinstance(fit, CoxResult) else "finegray"
    return f"{kind}({' + '.join(fit.terms)})"
