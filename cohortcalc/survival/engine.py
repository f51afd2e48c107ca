"""The engine interface: what the model layer asks of the rows, whoever holds them.

The model layer (``cox.py``, ``finegray.py``; names, coding, checks, Newton driver, variances,
results) is written once. It asks an *engine* to read the frame and to supply sums; the local
engine (``local.py``) reads any frame into arrays and sums with the compiled kernels; another
engine (``cohortcalc.spark``) keeps the rows where they are and computes each sum as one
aggregation. An engine is a module with ``cox_rows(frame, request)`` and
``finegray_rows(frame, request)`` (context managers yielding ``CoxRows`` / ``FineGrayRows``),
and ``kaplan_meier``, ``cumulative_incidence``, ``incidence_rates`` over the same arguments as
the public functions (they need counts per distinct time only). ``engine_for(frame)`` picks
the engine registered for the frame's kind (``frames.register_engine``), else the local one.

The steps of a fit, and who does each:

1. model layer: ``terms.design_spec`` parses the covariates into a ``DesignSpec``;
2. engine: ``*_rows`` reads the columns, drops rows with a missing value, codes the covariates
   with ``terms.order_levels`` / ``terms.design_columns`` (the names and levels are the model
   layer's) and exposes ``design`` (``DesignInfo``) and ``counts()``;
3. model layer: ``checks.refuse_*`` decide from the counts (asking ``first_row`` / ``examples``
   only to word an error);
4. engine: ``sums()`` bins the rows by (stratum, distinct time) and returns ``CoxSums`` /
   ``FineGraySums``: the per-bin sums at any β, O(bins × p²) numbers per call;
5. model layer: ``newton.newton_raphson`` over ``riskset.partial_likelihood`` (Cox) or
   ``finegray_riskset.loglik_score_information`` (Fine–Gray), then the variance: robust Cox
   from ``CoxSums.score_products`` (Σ over clusters of UᵀU), crr's sandwich from
   ``FineGraySums.score_products``.

A new estimator plugs in at step 5 with what ``sums()`` already supplies (e.g. the baseline
hazard: ``riskset.baseline_terms(sums, beta, efron)`` gives per bin the time, stratum, event
count and weight, S0 and S1/S0 from either engine), or adds one method to these protocols and
implements it in both engines. A new kind of term (a spline basis) is a ``terms.Basis`` named
in ``terms.BASES``: both engines then fit its knots once from the rows used and form its
columns (``design.read_design`` locally, ``spark.design.read_design`` on Spark).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cohortcalc.frames import registered_engine

if TYPE_CHECKING:
    from cohortcalc.survival.riskset import RiskSetIndex
    from cohortcalc.survival.splines import SplineTerm
    from cohortcalc.survival.terms import DesignSpec


@dataclass(frozen=True)
class CoxRequest:
    """What ``cc.cox`` asks of an engine: the parsed covariates and the column roles."""

    spec: DesignSpec
    time: str
    event: str
    entry: str | None = None
    weights: str | None = None
    strata: tuple[str, ...] = ()
    cluster: str | None = None
    efron: bool = True

    @property
    def columns(self) -> list[str]:
        """The non-covariate columns read (time, event, entry, weights, strata, cluster)."""
        names = [self.time, self.event, self.entry, self.weights, *self.strata, self.cluster]
        return [c for c in dict.fromkeys(names) if c is not None]


@dataclass(frozen=True)
class FineGrayRequest:
    """What ``cc.finegray`` asks of an engine."""

    spec: DesignSpec
    time: str
    event: str
    cause: Any
    censor_code: Any = 0
    weights: str | None = None
    strata: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        names = [self.time, self.event, self.weights, *self.strata]
        return [c for c in dict.fromkeys(names) if c is not None]


@dataclass(frozen=True)
class DesignInfo:
    """The design as the results need it: column labels (``terms``), R's ``assign``, the
    levels (reference first) of coded covariates, the rows used and dropped, and each
    ``rcs(...)`` term's fitted spline."""

    terms: tuple[str, ...]
    assign: dict[str, tuple[int, ...]]
    levels: dict[str, tuple[str, ...]]
    n: int
    n_dropped: int
    splines: dict[str, SplineTerm] = field(default_factory=dict)  # rcs term -> its knots

    @property
    def reference(self) -> dict[str, str]:
        return {name: lv[0] for name, lv in self.levels.items()}


@dataclass(frozen=True)
class CoxCounts:
    """Row counts for the Cox checks (over the rows used; ``non_finite`` per numeric role
    column; ``level_events``: per factor main effect (term, level names reference first,
    events per level))."""

    n_rows: int
    n_events: int
    bad_time: int
    bad_event: int
    negative_entry: int
    late_entry: int
    bad_weight: int
    fractional_weights: int
    n_clusters: int
    event_text: tuple[str, ...] = ()
    non_finite: dict[str, int] = field(default_factory=dict)
    level_events: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class FineGrayCounts:
    """Row counts for the Fine–Gray checks; ``codes``: the event codes present (sorted, text
    in level order); ``sides``: per factor or 0/1 term (term, side names, events of the cause
    per side, rows per side)."""

    n_rows: int
    bad_time: int
    bad_weight: int
    n_cause: int
    n_competing: int
    n_censored: int
    codes: tuple[Any, ...]
    competing: tuple[Any, ...]
    non_finite: dict[str, int] = field(default_factory=dict)
    sides: tuple[tuple[str, tuple[str, ...], tuple[int, ...], tuple[int, ...]], ...] = ()


class Rows(Protocol):
    """Rows read by an engine: what the checks may ask beyond the counts."""

    design: DesignInfo
    text_columns: frozenset[str]

    def first_row(self, check: str) -> int:
        """The first row (of the rows used, from 0) failing ``check`` (a counts field name, or
        ``non_finite:<column>``)."""
        ...

    def examples(self, check: str) -> list[Any]:
        """Up to 5 distinct offending values of ``check``, sorted."""
        ...


class CoxSums(Protocol):
    """Per-bin risk-set sums of a Cox fit at any β; rows are centred at ``center``.

    ``index`` holds the per-bin arrays (``bin_time``, ``stratum_start``, ``n_deaths``,
    ``death_weight``; per-row fields only from the local engine). ``bin_sums`` returns
    ``(by_exit, events_only)``, each n_bins × (p+1)², as ``riskset.risk_set_sums``.
    ``score_products`` returns Σ_clusters UᵀU (p × p) of the weighted score residuals summed
    within cluster (per row if no cluster), from the per-bin ``hazards`` and ``cumulative``
    terms of ``_kernels.hazard_terms`` (see ``riskset.robust_meat``)."""

    index: RiskSetIndex
    center: np.ndarray
    event_sum: np.ndarray

    def bin_sums(self, beta: np.ndarray, *, events: bool) -> tuple[np.ndarray, np.ndarray]: ...

    def score_products(
        self, beta: np.ndarray, hazards: np.ndarray, cumulative: np.ndarray
    ) -> np.ndarray: ...


class FineGraySums(Protocol):
    """Per-bin sums of a Fine–Gray fit: bins by (stratum, time), ``strata`` their ranges,
    ``g_before`` G(t-), ``n_cause``/``n_censored``/``n_at_risk`` weighted counts, ``cause_x``
    Σ_cause w(x - c). ``bin_moments(β)``: per bin Σ w·e^{xβ}·a aᵀ over all rows and over the
    competing rows divided by G(Tᵢ-); ``score_products(β, scalars, vectors)``: Σ wᵢUᵢUᵢᵀ from
    ``finegray_riskset.residual_bin_terms``."""

    strata: tuple[tuple[int, int], ...]
    g_before: np.ndarray
    n_cause: np.ndarray
    n_censored: np.ndarray
    n_at_risk: np.ndarray
    cause_x: np.ndarray

    @property
    def n_bins(self) -> int: ...

    def bin_moments(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def score_products(
        self, beta: np.ndarray, scalars: np.ndarray, vectors: np.ndarray
    ) -> np.ndarray: ...


class CoxRows(Rows, Protocol):
    def counts(self) -> CoxCounts: ...

    def sums(self) -> CoxSums: ...

    def fit_data(self, sums: CoxSums, beta: np.ndarray) -> Any:
        """The arrays ``cc.ph_test`` needs, or None where the rows are not held (Spark)."""
        ...


class FineGrayRows(Rows, Protocol):
    def counts(self) -> FineGrayCounts: ...

    def sums(self) -> FineGraySums: ...

    def fit_data(self, sums: FineGraySums, beta: np.ndarray) -> Any:
        """The arrays ``cc.predict`` needs, or None where the rows are not held (Spark)."""
        ...


class Engine(Protocol):
    def cox_rows(self, frame: Any, request: CoxRequest) -> AbstractContextManager[CoxRows]: ...

    def finegray_rows(
        self, frame: Any, request: FineGrayRequest
    ) -> AbstractContextManager[FineGrayRows]: ...


def engine_for(frame: Any) -> ModuleType | None:
    """The engine registered for ``frame``'s kind, or None for the local engine."""
    name = registered_engine(frame)
    return None if name is None else import_module(name)


def as_tuple(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """None, one column name or several, as a tuple."""
    if names is None:
        return ()
    return (names,) if isinstance(names, str) else tuple(names)
