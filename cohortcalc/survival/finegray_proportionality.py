"""Proportional subdistribution hazards: the Schoenfeld-type residual test of a Fine–Gray fit.

The numbers of R ``cox.zph`` (KM transform, ``terms = TRUE``) on the Fine–Gray model as R fits
it, ``coxph(Surv(fgstart, fgstop, fgstatus) ~ ., weights = fgwt)`` on ``finegray()`` rows —
without building those rows. At an event time t the weighted risk set is every row with
entry < t ≤ exit, plus each subject with a competing event at Tᵢ < t weighted
P(t−)/P(Tᵢ−) (P the censoring, times the entry distribution with delayed entry: Geskus 2011,
as ``finegray_entry``); so every risk-set sum is A(t) + P(t−)·B(t), two cumulative sums.
The score test of adding x·g(t) terms, g = 1 − KM(t−) of those rows, centred over the
events, is Grambsch & Therneau (1994), evaluated at the fitted β (Breslow ties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from scipy import stats

from cohortcalc.survival.design import build_design
from cohortcalc.survival.finegray_entry import _complete, _status_codes, _weight_points


def finegray_ph_test(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    beta: Sequence[float] | pd.Series,
    entry: str | None = None,
    censor_code: Any = 0,
    reference: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Table indexed by model term plus ``"GLOBAL"``: ``chisq``, ``df``, ``p``, at ``beta``
    (the Fine–Gray coefficients: a Series indexed by term, e.g. ``fit.coef``, or in the
    order of the model's terms)."""
    terms = [covariates] if isinstance(covariates, str) else list(covariates)
    columns = list(dict.fromkeys(part for term in terms for part in term.split(":")))
    used = list(dict.fromkeys([c for c in (entry, time, event) if c] + columns))
    data = _complete(frame.select(used) if isinstance(frame, pl.DataFrame) else frame, used)
    design = build_design(data, terms, reference=reference)
    stop = data.get_column(time).cast(pl.Float64).to_numpy()
    start = (
        data.get_column(entry).cast(pl.Float64).to_numpy()
        if entry is not None
        else np.zeros_like(stop)
    )
    status = _status_codes(data.get_column(event), cause, censor_code, event)
    if isinstance(beta, pd.Series):
        beta = beta.loc[list(design.terms)]
    score, information = _score_and_information(
        design.matrix, np.asarray(beta, dtype=float), start, stop, status
    )
    p = design.matrix.shape[1]
    rows: dict[str, tuple[float, int]] = {}
    for term, index in design.assign.items():
        rows[term] = (_statistic(score, information, list(index), p), len(index))
    rows["GLOBAL"] = (_statistic(score, information, list(range(p)), p), p)
    table = pd.DataFrame(
        {"chisq": [c for c, _ in rows.values()], "df": [d for _, d in rows.values()]},
        index=pd.Index(list(rows), name="term"),
    )
    table["p"] = stats.chi2.sf(table["chisq"].to_numpy(), table["df"].to_numpy())
    return table


def _statistic(score: np.ndarray, information: np.ndarray, columns: list[int], p: int) -> float:
    keep = list(range(p)) + [p + j for j in columns]
    u = np.concatenate([np.zeros(p), score[columns]])
    return float(u @ np.linalg.solve(information[np.ix_(keep, keep)], u))


def _score_and_information(
    matrix: np.ndarray, beta: np.ndarray, start: np.ndarray, stop: np.ndarray, status: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n, p = matrix.shape
    risk = np.exp(matrix @ beta)
    moments = np.concatenate(
        [risk[:, None], risk[:, None] * matrix,
         (risk[:, None, None] * matrix[:, :, None] * matrix[:, None, :]).reshape(n, p * p)],
        axis=1,
    )  # fmt: skip
    times = np.unique(stop[status == 1])
    deaths = np.bincount(np.searchsorted(times, stop[status == 1]), minlength=times.size)
    event_x = np.zeros((times.size, p))
    np.add.at(event_x, np.searchsorted(times, stop[status == 1]), matrix[status == 1])
    weight_now, weight_own = _competing_weights(start, stop, status, times)
    at_risk = _at_risk(moments, start, stop, times)
    competing = status == 2
    order = np.argsort(stop[competing], kind="stable")
    scaled = moments[competing][order] / weight_own[order, None]
    before = np.searchsorted(stop[competing][order], times, side="left")
    cumulative = np.vstack([np.zeros(moments.shape[1]), np.cumsum(scaled, axis=0)])
    sums = at_risk + weight_now[:, None] * cumulative[before]
    mean = sums[:, 1 : 1 + p] / sums[:, :1]
    variance = sums[:, 1 + p :].reshape(-1, p, p) / sums[:, 0, None, None] - (
        mean[:, :, None] * mean[:, None, :]
    )
    g = _km_transform(start, stop, status, times, before)
    g = g - np.sum(deaths * g) / deaths.sum()
    score = g @ (event_x - deaths[:, None] * mean)
    blocks = [np.einsum("t,tij->ij", deaths * g**k, variance) for k in range(3)]
    information = np.block([[blocks[0], blocks[1]], [blocks[1].T, blocks[2]]])
    return score, (information + information.T) / 2.0


def _competing_weights(
    start: np.ndarray, stop: np.ndarray, status: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(t−) at each event time and P(Tᵢ−) of each competing subject, on R's grid."""
    distinct = np.unique(np.concatenate([start, stop]))
    points, values = _weight_points(start, stop, status)
    bounds = np.append(distinct[points.astype(np.int64) - 1], stop.max())
    weight = np.concatenate([[1.0], values])
    now = weight[np.searchsorted(bounds, times, side="left")]
    own = weight[np.searchsorted(bounds, stop[status == 2], side="left")]
    return now, own


def _at_risk(
    moments: np.ndarray, start: np.ndarray, stop: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """Σ over rows with start < t ≤ stop = Σ(stop ≥ t) − Σ(start ≥ t), at each t."""

    def from_(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        tail = np.vstack(
            [np.cumsum(moments[order][::-1], axis=0)[::-1], np.zeros(moments.shape[1])]
        )
        return tail[np.searchsorted(values[order], times, side="left")]

    return from_(stop) - from_(start)


def _km_transform(
    start: np.ndarray, stop: np.ndarray, status: np.ndarray, times: np.ndarray, before: np.ndarray
) -> np.ndarray:
    """1 − S(t−), S the unweighted KM of R's rows: at t, the rows with start < t ≤ stop and
    the competing subjects with Tᵢ < t (``before`` of them), cause events as deaths."""
    n_risk = (
        stop.size
        - np.searchsorted(np.sort(stop), times, side="left")
        - (start.size - np.searchsorted(np.sort(start), times, side="left"))
        + before
    )
    deaths = np.bincount(np.searchsorted(times, stop[status == 1]), minlength=times.size)
    survival_after = np.cumprod(1.0 - deaths / n_risk)
    return 1.0 - np.concatenate([[1.0], survival_after[:-1]])
