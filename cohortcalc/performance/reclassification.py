"""``cc.reclassification``: net reclassification and integrated discrimination improvement.

Survival-adapted NRI (Pencina, D'Agostino & Steyerberg 2011, Stat Med 30:11, eqs. 7–8): the
event status by the horizon t is unknown for rows censored before t, so each group of rows
(moved up, moved down, or a cell of the reclassification table) contributes its size times
its Kaplan–Meier risk 1 − S_g(t) to the events and times S_g(t) to the non-events — or, with
a competing event, its Aalen–Johansen cumulative incidence F_g(t) of the cause:

    NRI_events = [n_up·F_up − n_down·F_down] / (n·F),
    NRI_nonevents = [n_down·(1 − F_down) − n_up·(1 − F_up)] / (n·(1 − F)).

Categorical NRI moves between the risk categories cut at ``thresholds``; the continuous
("> 0") NRI counts any increase or decrease. Kerr et al. (2014, Epidemiology 25:114): report
the two components, not only their sum. IDI (Pencina et al. 2008) with IPCW means: events by
t weighted 1/G(T−), rows event-free at t 1/G(t) (``ipcw.py``). CIs: percentile bootstrap of
rows, seeded; every replicate reuses one sort of the times (weights are resample counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.errors import ModelError
from cohortcalc.performance.ipcw import ipcw_weights
from cohortcalc.performance.scores import read_outcome

MEASURES = (
    "nri_events",
    "nri_nonevents",
    "nri",
    "continuous_nri_events",
    "continuous_nri_nonevents",
    "continuous_nri",
    "idi",
)


@dataclass(frozen=True, eq=False)
class ReclassificationResult:
    """``table``: each measure (index) with its estimate and bootstrap lower/upper;
    ``events``/``nonevents``: the reclassification tables (base categories as rows, new as
    columns) of expected events and non-events by the horizon (KM/AJ-weighted cell counts);
    ``counts``: the rows per cell."""

    table: pd.DataFrame
    events: pd.DataFrame
    nonevents: pd.DataFrame
    counts: pd.DataFrame
    horizon: float
    thresholds: tuple[float, ...]
    n_boot: int
    seed: int
    method: str


@dataclass(frozen=True)
class _Prepared:
    """Rows sorted by time once, with their time group, cause/any-event flags and the
    base/new risks and categories (in the sorted order)."""

    group: np.ndarray
    n_groups: int
    cause: np.ndarray
    event: np.ndarray
    last_group: int
    base: np.ndarray
    new: np.ndarray
    base_category: np.ndarray
    new_category: np.ndarray
    n_categories: int
    time: np.ndarray
    status: np.ndarray
    horizon: float


def reclassification(
    base: Any,
    new: Any,
    frame: Any,
    *,
    time: str,
    event: str,
    horizon: float,
    thresholds: Sequence[float],
    cause: Any = None,
    censor_code: Any = 0,
    n_boot: int = 200,
    seed: int = 1,
    conf_level: float = 0.95,
) -> ReclassificationResult:
    """NRI (categorical at ``thresholds``, and continuous) with its event and non-event
    components, and IDI, of the ``new`` risks over the ``base`` risks by ``horizon``.

    ``base``/``new``: predicted risks by the horizon (a column name, an array, or a
    ``cc.predict`` result for that one time). Raises ``ModelError`` for thresholds outside
    (0, 1) or unsorted, risks outside [0, 1] or missing, a horizon beyond follow-up.
    """
    cuts = tuple(float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64)))
    if not cuts or any(not 0 < t < 1 for t in cuts) or list(cuts) != sorted(set(cuts)):
        raise ModelError(
            f"thresholds={thresholds!r} must be increasing risks strictly between 0 and 1 "
            "(e.g. [0.075, 0.20])."
        )
    prepared = _prepare(base, new, frame, time, event, horizon, cuts, cause, censor_code)
    estimate = _measures(prepared, np.ones(prepared.group.shape[0]))
    lower, upper = _bootstrap(prepared, n_boot, seed, conf_level)
    table = pd.DataFrame(
        {"estimate": estimate, "lower": lower, "upper": upper},
        index=pd.Index(MEASURES, name="measure"),
    )
    events, nonevents, counts = _tables(prepared, cuts)
    competing = "Aalen–Johansen" if cause is not None else "Kaplan–Meier"
    return ReclassificationResult(
        table=table,
        events=events,
        nonevents=nonevents,
        counts=counts,
        horizon=float(horizon),
        thresholds=cuts,
        n_boot=n_boot,
        seed=seed,
        method=(
            f"NRI weighted by {competing} risk within groups (Pencina 2011); IDI with IPCW "
            f"means; percentile bootstrap CI ({n_boot} replicates, seed {seed})"
        ),
    )


def _bootstrap(
    prepared: _Prepared, n_boot: int, seed: int, conf_level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of every measure over ``n_boot`` resamples of the rows (each a
    vector of resample counts used as case weights; NaN without replicates)."""
    if n_boot <= 0:
        return np.full(len(MEASURES), np.nan), np.full(len(MEASURES), np.nan)
    rng = np.random.default_rng(seed)
    n = prepared.group.shape[0]
    replicates = np.array(
        [
            _measures(prepared, np.bincount(rng.integers(0, n, n), minlength=n).astype(float))
            for _ in range(n_boot)
        ]
    )
    alpha = (1.0 - conf_level) / 2.0
    lower, upper = np.nanquantile(replicates, [alpha, 1.0 - alpha], axis=0)
    return lower, upper


def _prepare(
    base: Any,
    new: Any,
    frame: Any,
    time: str,
    event: str,
    horizon: float,
    cuts: tuple[float, ...],
    cause: Any,
    censor_code: Any,
) -> _Prepared:
    outcome = read_outcome(frame, None, time, event, None, None, None, None, cause, censor_code)
    from cohortcalc.performance.score import _finite_times

    stop = np.where(outcome.competing, _finite_times(frame, time), outcome.stop)
    if not outcome.complete.all():
        raise ModelError("the outcome has missing values; drop those rows first.")
    if not np.isfinite(horizon) or horizon <= 0 or horizon > stop.max():
        raise ModelError(
            f"horizon {horizon!r} must be > 0 and within follow-up (last time {stop.max():g})."
        )
    risks = [
        _risks(value, name, frame, stop.shape[0]) for value, name in ((base, "base"), (new, "new"))
    ]
    order = np.argsort(stop, kind="stable")
    distinct, group = np.unique(stop[order], return_inverse=True)
    status = np.where(outcome.status, 1, np.where(outcome.competing, 2, 0))[order]
    base_risk, new_risk = risks[0][order], risks[1][order]
    return _Prepared(
        group=group,
        n_groups=distinct.shape[0],
        cause=status == 1,
        event=status != 0,
        last_group=int(np.searchsorted(distinct, horizon, side="right") - 1),
        base=base_risk,
        new=new_risk,
        base_category=np.searchsorted(cuts, base_risk, side="right"),
        new_category=np.searchsorted(cuts, new_risk, side="right"),
        n_categories=len(cuts) + 1,
        time=stop[order],
        status=status,
        horizon=float(horizon),
    )


def _risks(value: Any, name: str, frame: Any, n: int) -> np.ndarray:
    if isinstance(value, str):
        from cohortcalc.frames import to_polars

        value = to_polars(frame, columns=[value])[value].cast(float).fill_null(np.nan).to_numpy()
    risk = np.asarray(getattr(value, "risk", value), dtype=np.float64).reshape(-1)
    if risk.shape[0] != n:
        raise ModelError(f"{name} risks have {risk.shape[0]} values for {n} rows.")
    bad = ~np.isfinite(risk) | (risk < 0) | (risk > 1)
    if bad.any():
        raise ModelError(
            f"{name} risks must be probabilities in [0, 1]; row {int(np.argmax(bad))} has "
            f"{risk[np.argmax(bad)]!r}. Drop rows with missing predictions first."
        )
    return risk


def incidence_by_group(
    prepared: _Prepared, labels: np.ndarray, n_labels: int, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per label: the (weighted) row count and the KM risk 1 − S(t), or the Aalen–Johansen
    cumulative incidence of the cause, at the horizon."""
    key = labels * prepared.n_groups + prepared.group
    size = n_labels * prepared.n_groups
    exits = np.bincount(key, weight, size).reshape(n_labels, prepared.n_groups)
    cause = np.bincount(key, weight * prepared.cause, size).reshape(n_labels, -1)
    events = np.bincount(key, weight * prepared.event, size).reshape(n_labels, -1)
    at_risk = np.cumsum(exits[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, events / at_risk, 0.0)
        cause_hazard = np.where(at_risk > 0, cause / at_risk, 0.0)
    survival = np.cumprod(1.0 - hazard, axis=1)
    before = np.hstack([np.ones((n_labels, 1)), survival[:, :-1]])
    upto = prepared.last_group + 1
    incidence = np.sum(before[:, :upto] * cause_hazard[:, :upto], axis=1)
    return exits.sum(axis=1), incidence


def _nri(prepared: _Prepared, moved: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(events, non-events) components for a move code per row: 0 down, 1 same, 2 up."""
    size, risk = incidence_by_group(prepared, moved, 3, weight)
    total, overall = incidence_by_group(prepared, np.zeros_like(moved), 1, weight)
    events = (size[2] * risk[2] - size[0] * risk[0]) / (total[0] * overall[0])
    nonevents = (size[0] * (1 - risk[0]) - size[2] * (1 - risk[2])) / (total[0] * (1 - overall[0]))
    return float(events), float(nonevents)


def _measures(prepared: _Prepared, weight: np.ndarray) -> np.ndarray:
    """All measures for rows weighted by ``weight`` (1, or bootstrap resample counts)."""
    categorical = 1 + np.sign(prepared.new_category - prepared.base_category)
    continuous = 1 + np.sign(prepared.new - prepared.base).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        up_events, down_nonevents = _nri(prepared, categorical.astype(np.int64), weight)
        c_events, c_nonevents = _nri(prepared, continuous, weight)
    return np.array(
        [
            up_events,
            down_nonevents,
            up_events + down_nonevents,
            c_events,
            c_nonevents,
            c_events + c_nonevents,
            _idi(prepared, weight),
        ]
    )


def _idi(prepared: _Prepared, weight: np.ndarray) -> float:
    """IPCW difference of mean risks among events minus among non-events (new − base)."""
    ipcw = ipcw_weights(prepared.time, prepared.status, 1, prepared.horizon, weight)
    w = ipcw.weight * weight
    events, nonevents = w * ipcw.case, w * (ipcw.other | ipcw.event_free)
    difference = prepared.new - prepared.base
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(events @ difference / events.sum() - nonevents @ difference / nonevents.sum())


def _tables(prepared: _Prepared, cuts: tuple[float, ...]) -> tuple[pd.DataFrame, ...]:
    k = prepared.n_categories
    edges = [0.0, *cuts, 1.0]
    names = [
        f"[{edges[i]:g}, {edges[i + 1]:g})" if i < k - 1 else f"[{edges[i]:g}, 1]" for i in range(k)
    ]
    cell = prepared.base_category * k + prepared.new_category
    size, risk = incidence_by_group(prepared, cell, k * k, np.ones(cell.shape[0]))
    risk = np.nan_to_num(risk)
    index = pd.Index(names, name="base \\ new")

    def frame(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(values.reshape(k, k), index=index, columns=names)

    return frame(size * risk), frame(size * (1 - risk)), frame(size)
