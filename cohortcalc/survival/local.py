"""The local engine: any in-memory frame read into arrays, sums by the compiled kernels.

Implements ``engine.Engine`` (see there for the steps of a fit): ``cox_rows`` and
``finegray_rows`` read the columns through Polars (``design.read_design``), count what the
checks need, and on ``sums()`` lay the rows out in bin order (an O(N) counting sort) and build
the design matrix once, already in that order (``CodedFrame.assemble``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.survival import _finegray_kernels
from cohortcalc.survival import finegray_riskset as fg_engine
from cohortcalc.survival.checks import refuse_non_numeric_codes
from cohortcalc.survival.design import CodedFrame, Design, read_design
from cohortcalc.survival.engine import (
    CoxCounts,
    CoxRequest,
    DesignInfo,
    FineGrayCounts,
    FineGrayRequest,
)
from cohortcalc.survival.riskset import CoxLikelihood, prepare_risk_sets


def group_codes(columns: dict[str, np.ndarray], levels: dict, names: Sequence[str]) -> np.ndarray:
    """Integer codes 0..G-1 of the combinations of the given columns."""
    arrays = [columns[name] for name in names]
    if len(arrays) == 1 and names[0] in levels:
        codes = arrays[0]
        return np.unique(codes, return_inverse=True)[1] if codes.size else codes
    stacked = np.column_stack(arrays)
    return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


class _LocalRows:
    """What both models share: the coded frame, its design info and the row lookups."""

    def __init__(self, coded: CodedFrame, numeric_roles: Sequence[str | None]) -> None:
        self.coded = coded
        self.design = DesignInfo(
            coded.terms, coded.assign, coded.levels, coded.n_used, coded.n_dropped, coded.splines
        )
        levels = coded.column_levels
        self.text_columns = frozenset(n for n in numeric_roles if n is not None and n in levels)
        self._masks: dict[str, Any] = {}

    def first_row(self, check: str) -> int:
        return int(np.argmax(self._mask(check)))

    def _mask(self, check: str) -> np.ndarray:
        if check.startswith("non_finite:"):
            return ~np.isfinite(self.coded.columns[check.split(":", 1)[1]])
        return self._masks[check]()

    def _factor_sides(self, is_event: np.ndarray, binary_terms: bool) -> Iterator[tuple]:
        """Per factor main effect (and, if asked, per single 0/1 column term): (term, side
        names, events per side, rows per side)."""
        coded, levels = self.coded, self.coded.levels
        for term, cols in coded.assign.items():
            if term in levels:
                codes, size = coded.codes(term), len(levels[term])
                names = tuple(f"{term}[{lv}]" for lv in levels[term])
                events = np.bincount(codes[is_event], minlength=size)
                rows = np.bincount(codes, minlength=size)
            elif binary_terms and len(cols) == 1:
                column = coded.column(cols[0])
                if not _is_binary(column):
                    continue
                names = (f"{term} = 0", f"{term} = 1")
                ones = column == 1
                events = np.array([np.sum(is_event & ~ones), np.sum(is_event & ones)])
                rows = np.array([column.size - np.sum(ones), np.sum(ones)])
            else:
                continue
            yield term, names, tuple(int(e) for e in events), tuple(int(r) for r in rows)


class LocalCoxRows(_LocalRows):
    """``engine.CoxRows`` over arrays."""

    def __init__(self, coded: CodedFrame, request: CoxRequest) -> None:
        super().__init__(coded, [request.time, request.entry, request.weights])
        self.request = request
        columns, levels = coded.columns, coded.column_levels
        event_levels = levels.get(request.event)
        self.event_text = (
            tuple(event_levels)
            if event_levels is not None and not set(event_levels) <= {"False", "True"}
            else ()
        )
        if event_levels is not None and not self.event_text:
            self.event = np.asarray(event_levels, dtype=object)[columns[request.event]] == "True"
            self._event_codes = self.event.astype(np.float64)
        else:
            self._event_codes = columns[request.event]
            self.event = self._event_codes == 1
        self._cluster_codes: np.ndarray | None = None

    def counts(self) -> CoxCounts:
        r, columns = self.request, self.coded.columns
        if self.event_text:
            return CoxCounts(self.design.n, 0, 0, 0, 0, 0, 0, 0, 0, event_text=self.event_text)
        time = columns[r.time]
        entry = columns[r.entry] if r.entry else None
        weights = columns[r.weights] if r.weights else None
        self._masks = {
            "bad_time": lambda: time <= 0,
            "bad_event": lambda: ~((self._event_codes == 0) | (self._event_codes == 1)),
            "negative_entry": lambda: entry < 0,
            "late_entry": lambda: entry >= time,
            "bad_weight": lambda: weights <= 0,
        }
        non_finite = {
            name: columns[name].size - int(np.count_nonzero(np.isfinite(columns[name])))
            for name in (r.time, r.entry, r.weights)
            if name is not None
        }
        n_clusters = 0
        if r.cluster is not None:
            self._cluster_codes = group_codes(columns, self.coded.column_levels, [r.cluster])
            n_clusters = int(self._cluster_codes.max()) + 1 if self._cluster_codes.size else 0
        levels = tuple(
            (term, (f"{names[0]} (reference)", *names[1:]), events)
            for term, names, events, _ in self._factor_sides(self.event, binary_terms=False)
        )
        n_events = int(np.count_nonzero(self.event))
        zeros = int(np.count_nonzero(self._event_codes == 0))
        return CoxCounts(
            n_rows=self.design.n,
            n_events=n_events,
            bad_time=int(np.count_nonzero(time <= 0)),
            bad_event=self.design.n - n_events - zeros,
            negative_entry=0 if entry is None else int(np.sum(entry < 0)),
            late_entry=0 if entry is None else int(np.sum(entry >= time)),
            bad_weight=0 if weights is None else int(np.sum(weights <= 0)),
            fractional_weights=0 if weights is None else int(np.sum(weights != np.floor(weights))),
            n_clusters=n_clusters,
            non_finite=non_finite,
            level_events=levels,
        )

    def examples(self, check: str) -> list[Any]:
        values = self._event_codes[self._mask(check)]
        return sorted(set(np.unique(values).tolist()))[:5]

    def sums(self) -> CoxLikelihood:
        r, columns = self.request, self.coded.columns
        index = prepare_risk_sets(
            columns[r.time],
            self.event,
            strata=group_codes(columns, self.coded.column_levels, r.strata) if r.strata else None,
            entry=columns[r.entry] if r.entry else None,
            weights=columns[r.weights] if r.weights else None,
        )
        self.assembled = self.coded.assemble(index.rows)  # built once, already in bin order
        likelihood = CoxLikelihood.from_ordered(self.assembled.matrix, index, efron=r.efron)
        return dataclasses.replace(likelihood, cluster=self._cluster_codes)

    def fit_data(self, sums: CoxLikelihood, beta: np.ndarray) -> CoxFitData:
        """The arrays ``cc.ph_test`` needs (kept, not copied)."""
        r, columns = self.request, self.coded.columns
        entry = columns[r.entry] if r.entry else None
        return CoxFitData(
            sums, columns[r.time], entry, self.event, beta, self.coded.assign, self.assembled
        )


@dataclass(frozen=True)
class CoxFitData:
    """The arrays a local Cox fit was computed from, kept (not copied) for ``ph_test``;
    ``design`` (its levels and columns) lets ``cc.predict`` code new rows as the fit did."""

    likelihood: CoxLikelihood
    time: np.ndarray
    entry: np.ndarray | None
    event: np.ndarray
    beta: np.ndarray
    assign: dict[str, tuple[int, ...]]
    design: Design | None = None

    @property
    def index(self) -> Any:
        return self.likelihood.index


@contextmanager
def cox_rows(frame: Any, request: CoxRequest) -> Iterator[LocalCoxRows]:
    """The rows of a Cox fit, read from any local frame (``engine.Engine.cox_rows``)."""
    yield LocalCoxRows(read_design(frame, request.spec, request.columns), request)


class LocalFineGrayRows(_LocalRows):
    """``engine.FineGrayRows`` over arrays."""

    def __init__(self, coded: CodedFrame, request: FineGrayRequest) -> None:
        super().__init__(coded, [request.time, request.weights])
        self.request = request

    def counts(self) -> FineGrayCounts:
        r, columns = self.request, self.coded.columns
        values, levels = columns[r.event], self.coded.column_levels.get(r.event)
        if levels is not None:
            labels = np.asarray(levels, dtype=object)
            status_codes = [_code_of(labels, r.cause), _code_of(labels, r.censor_code)]
        else:
            try:
                status_codes = [float(r.cause), float(r.censor_code)]
            except (TypeError, ValueError):
                refuse_non_numeric_codes(r, _present(values, levels))
                raise
        status, counted = _finegray_kernels.status_codes(
            np.asarray(values, dtype=np.float64), *status_codes
        )
        self.status = status
        other = values[status == fg_engine.COMPETING]  # hashing the few competing rows
        if levels is not None:
            present = set(pd.unique(other).tolist())
            competing = tuple(lv for k, lv in enumerate(levels) if k in present)
        else:
            competing = tuple(_plain(v) for v in np.sort(pd.unique(other)))
        # the codes present are only named in an error: no pass over the rows otherwise
        codes = _present(values, levels) if counted[fg_engine.CAUSE] == 0 else ()
        time = columns[r.time]
        weights = columns[r.weights] if r.weights else None
        self._masks = {"bad_time": lambda: time <= 0, "bad_weight": lambda: weights <= 0}
        is_cause = status == fg_engine.CAUSE
        return FineGrayCounts(
            n_rows=self.design.n,
            bad_time=int(np.sum(time <= 0)),
            bad_weight=0 if weights is None else int(np.sum(weights <= 0)),
            n_cause=int(counted[fg_engine.CAUSE]),
            n_competing=int(counted[fg_engine.COMPETING]),
            n_censored=int(counted[fg_engine.CENSORED]),
            codes=tuple(codes),
            competing=competing,
            non_finite={n: int(np.sum(~np.isfinite(columns[n]))) for n in (r.time, r.weights) if n},
            sides=tuple(self._factor_sides(is_cause, binary_terms=True)),
        )

    def examples(self, check: str) -> list[Any]:
        return []

    def sums(self) -> fg_engine.FineGrayData:
        r, columns = self.request, self.coded.columns
        time = columns[r.time]
        strata = (
            group_codes(columns, self.coded.column_levels, r.strata)
            if r.strata
            else np.zeros(time.size, np.int64)
        )
        weights = columns[r.weights] if r.weights else None
        self.bins = fg_engine.layout(time, self.status, weights, strata)
        self.assembled = self.coded.assemble(self.bins.rows)  # built once, in bin order
        matrix, w = self.assembled.matrix, self.bins.weights
        self.center = (w @ matrix) / w.sum()  # before prepare_ordered centres it in place
        return fg_engine.prepare_ordered(self.bins, matrix)

    def fit_data(self, data: fg_engine.FineGrayData, beta: np.ndarray) -> FineGrayFitData:
        """The arrays ``cc.predict`` needs (kept, not copied)."""
        return FineGrayFitData(
            data, beta, self.assembled, self.center, self.bins, self.request.strata
        )


@dataclass(frozen=True)
class FineGrayFitData:
    """The arrays a local Fine–Gray fit was computed from (not copied), for ``cc.predict``:
    the engine data (x centred in place at ``center``), β, the design and the bins."""

    data: fg_engine.FineGrayData
    beta: np.ndarray
    design: Design
    center: np.ndarray
    bins: fg_engine.Bins
    strata: tuple[str, ...]


@contextmanager
def finegray_rows(frame: Any, request: FineGrayRequest) -> Iterator[LocalFineGrayRows]:
    """The rows of a Fine–Gray fit, read from any local frame."""
    yield LocalFineGrayRows(read_design(frame, request.spec, request.columns), request)


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


def _is_binary(column: np.ndarray) -> bool:
    """All values 0 or 1 (a cheap look at the first rows rules out most continuous columns)."""
    head = column[:1000]
    return bool(np.all((head == 0) | (head == 1)) and np.all((column == 0) | (column == 1)))
