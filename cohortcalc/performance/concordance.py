"""``cc.concordance``: Harrell's C with its standard error, the variants of R ``concordance()``.

A pair is comparable when the shorter time is an event; it is concordant when the row with
the shorter time has the higher risk score. C = (concordant + tied-score/2) / comparable,
summed over strata. ``timewt`` weighs the pairs of each event time t as R (Therneau & Watson
2017): "n" 1 (Harrell 1982), "S" S(t−)·W/n(t) (Schemper), "S/G" S(t−)·W/(G(t−)·n(t)),
"n/G2" 1/G(t−)² (Uno et al. 2011, with ``tau``); G is the censoring Kaplan–Meier whose
deaths at a tied time leave the risk set first. The variance is R's infinitesimal jackknife
(Σ dfbeta²), jointly for several scores on the same rows, as ``concordance(fit1, fit2)``.
With ``cause``, Wolbers et al. (2009, Epidemiology 20:555): rows with a competing event stay
comparable forever (their time is set past every other).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame
from cohortcalc.performance import _concordance_kernel as kernel
from cohortcalc.performance.scores import Outcome, read_outcome, risk_scores
from cohortcalc.survival.finegray_result import FineGrayResult

TIME_WEIGHTS = ("n", "S", "S/G", "n/G2")
COUNTS = ("concordant", "discordant", "tied_x", "tied_y", "tied_xy")


@dataclass(frozen=True, eq=False)
class ConcordanceResult:
    """C of each model (``table``: concordance, se, lower, upper and the pair counts), their
    joint variance ``vcov`` and, for two or more models, ``contrast``: each model's C minus
    the first model's, with its SE from the joint variance, CI, z and p."""

    table: pd.DataFrame
    vcov: pd.DataFrame
    contrast: pd.DataFrame | None
    timewt: str
    tau: float | None
    n: int
    n_dropped: int
    cause: Any = None

    def __str__(self) -> str:
        lines = [
            f"Concordance (timewt = {self.timewt!r}"
            + (f", truncated at tau = {self.tau:g}" if self.tau is not None else "")
            + (f", cause = {self.cause!r} (Wolbers 2009)" if self.cause is not None else "")
            + f"); n = {self.n}"
            + (f" ({self.n_dropped} rows dropped for missing values)" if self.n_dropped else ""),
            self.table[["concordance", "se", "lower", "upper"]].to_string(float_format="%.4f"),
        ]
        if self.contrast is not None:
            lines.append(self.contrast.to_string(float_format="%.4f"))
        lines.append("Higher score = higher risk (shorter time); SE: infinitesimal jackknife.")
        return "\n".join(lines)


def concordance(
    models: Any,
    frame: Any,
    *,
    time: str | None = None,
    event: str | None = None,
    entry: str | None = None,
    strata: str | Sequence[str] | None = None,
    weights: str | None = None,
    cluster: str | None = None,
    cause: Any = None,
    censor_code: Any = 0,
    timewt: str = "n",
    tau: float | None = None,
    higher_is_risk: bool = True,
    conf_level: float = 0.95,
) -> ConcordanceResult:
    """C of one model or of several on the same rows of ``frame``, and their differences.

    ``models``: a ``cc.cox`` / ``cc.finegray`` fit, a score column name, or a list of them.
    A fit brings its own time, event, entry, strata and weights (override them by name);
    a score column needs ``time`` and ``event``. ``higher_is_risk`` (default True) says a
    higher score means a shorter time (R's ``reverse = TRUE``), as for a linear predictor.
    """
    _check_options(frame, timewt, tau)
    items = list(models) if isinstance(models, list | tuple) else [models]
    if not items:
        raise ModelError("no model or score column given.")
    if cause is None and isinstance(items[0], FineGrayResult):  # the fit's cause, Wolbers C
        cause, censor_code = items[0].cause, items[0].censor_code
    outcome = read_outcome(
        frame, items[0], time, event, entry, strata, weights, cluster, cause, censor_code
    )
    if outcome.entry is not None and timewt != "n":
        raise ModelError(
            f"timewt={timewt!r} is not defined for (entry, exit] rows (R refuses 'S/G' and "
            "'n/G2' and fails on 'S'); use timewt='n', or drop entry= for a cohort followed "
            "from time 0."
        )
    labels, scores = risk_scores(items, frame, outcome)
    keep = outcome.complete & np.all(np.isfinite(scores), axis=0)
    if keep.sum() < 2 or not outcome.status[keep].any():
        raise ModelError("fewer than two complete rows or no events: C is not defined.")
    kept = outcome if keep.all() else outcome.subset(keep)
    counts, dfbetas = [], []
    for label, score in zip(labels, scores, strict=True):
        values = score[keep]
        if np.ptp(values) == 0:
            raise ModelError(
                f"score {label!r} has no variance (every row {values[0]:g}); it cannot rank "
                "anyone. Check the column or the model."
            )
        count, dfbeta = _one_score(kept, -values if higher_is_risk else values, timewt, tau)
        counts.append(count)
        dfbetas.append(dfbeta)
    return _result(labels, counts, dfbetas, outcome, keep, timewt, tau, cause, conf_level)


def _check_options(frame: Any, timewt: str, tau: float | None) -> None:
    if is_spark_frame(frame):
        raise ModelError(
            "cc.concordance runs on a local frame: select the outcome and score columns and "
            "pass .toPandas() of them (the pass is O(n log n); 1e6 rows take seconds)."
        )
    if timewt not in TIME_WEIGHTS:
        raise ModelError(f"timewt={timewt!r} is not supported; use one of {TIME_WEIGHTS}.")
    if tau is not None and not (np.isfinite(tau) and tau > 0):
        raise ModelError(f"tau={tau!r} must be a time > 0.")


def _one_score(
    outcome: Outcome, score: np.ndarray, timewt: str, tau: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Pair counts (5) and per-row dfbeta of C for one score (larger = longer time)."""
    n = score.shape[0]
    counts = np.zeros(5)
    influence = np.zeros((n, 5))
    for rows in outcome.stratum_rows():
        part = outcome if rows.shape[0] == n else outcome.subset(rows)
        if not part.status.any():
            continue
        ranks = np.unique(score[rows], return_inverse=True)[1].astype(np.int64)
        stop = part.stop
        # one integer sort key: time descending, censored first at a tie, then score rank
        time_rank = np.unique(stop, return_inverse=True)[1].astype(np.int64)
        key = ((time_rank.max() - time_rank) * 2 + part.status) * (ranks.max() + 1) + ranks
        by_stop = np.argsort(key, kind="stable").astype(np.int64)
        start = part.entry if part.entry is not None else np.zeros(0)
        by_start = np.argsort(-start, kind="stable").astype(np.int64)
        event_weight = _time_weights(part, timewt, tau)
        c, infl = kernel.concordance_pass(
            stop,
            part.status.astype(np.int64),
            ranks,
            part.weights,
            event_weight,
            by_stop,
            start,
            by_start,
            int(ranks.max()) + 1,
        )
        counts += c
        influence[rows] = infl
    comparable = counts[:3].sum()
    if comparable == 0:
        raise ModelError("no comparable pairs (every event is later than every other row).")
    somers = (counts[0] - counts[1]) / comparable
    dfbeta = outcome.weights * (
        (influence[:, 0] - influence[:, 1]) / comparable
        - somers / comparable * influence[:, :3].sum(axis=1)
    )
    return counts, dfbeta / 2.0


def _time_weights(outcome: Outcome, timewt: str, tau: float | None) -> np.ndarray:
    """Per row, the weight of its event time (R ``concordancefit``'s ``timewt``, from S(t−),
    G(t−) and the weighted number at risk n(t) within the stratum)."""
    stop, status, w = outcome.stop, outcome.status, outcome.weights
    times = np.unique(stop[status])
    weight = np.ones(times.shape[0])
    if timewt != "n" and status.sum() >= 2:
        order = np.argsort(stop, kind="stable")
        sorted_stop = stop[order]
        later = np.cumsum(w[order][::-1])[::-1]  # Σ w with time ≥ sorted_stop[k]
        at_risk = later[np.searchsorted(sorted_stop, times, side="left")]
        deaths = np.bincount(np.searchsorted(times, stop[status]), w[status], times.shape[0])
        survival = np.cumprod(np.r_[1.0, 1.0 - deaths / at_risk])[:-1]
        total = w.sum()
        if timewt == "S":
            weight = total * survival / at_risk
        else:
            censoring = _censoring_before(stop, status, w, times)
            weight = (
                total * survival / (censoring * at_risk) if timewt == "S/G" else censoring**-2.0
            )
    if tau is not None:
        weight = np.where(times > tau, 0.0, weight)
    per_row = np.zeros(stop.shape[0])
    per_row[status] = weight[np.searchsorted(times, stop[status])]
    return per_row


def _censoring_before(
    stop: np.ndarray, status: np.ndarray, w: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """G(t−) at each event time: the censoring Kaplan–Meier, deaths at a tied time leaving
    the risk set before the censorings (factor 1 − c(s)/(n(s) − d(s)))."""
    all_times, where = np.unique(stop, return_inverse=True)
    censored = np.bincount(where, w * ~status, all_times.shape[0])
    died = np.bincount(where, w * status, all_times.shape[0])
    at_risk = np.cumsum((censored + died)[::-1])[::-1]
    factor = np.where(censored > 0, 1.0 - censored / np.maximum(at_risk - died, 1e-300), 1.0)
    before = np.cumprod(np.r_[1.0, factor])[:-1]
    return before[np.searchsorted(all_times, times)]


def _result(
    labels: list[str],
    counts: list[np.ndarray],
    dfbetas: list[np.ndarray],
    outcome: Outcome,
    keep: np.ndarray,
    timewt: str,
    tau: float | None,
    cause: Any,
    conf_level: float,
) -> ConcordanceResult:
    influence = np.column_stack(dfbetas)
    if outcome.cluster is not None:
        codes = np.unique(outcome.cluster[keep], return_inverse=True)[1]
        influence = np.column_stack([np.bincount(codes, column) for column in influence.T]).reshape(
            -1, influence.shape[1]
        )
    vcov = influence.T @ influence
    z = stats.norm.ppf(0.5 + conf_level / 2.0)
    c = np.array([(k[0] + k[2] / 2.0) / k[:3].sum() for k in counts])
    se = np.sqrt(np.diag(vcov))
    table = pd.DataFrame(
        {"concordance": c, "se": se, "lower": c - z * se, "upper": c + z * se},
        index=pd.Index(labels, name="model"),
    )
    table[list(COUNTS)] = np.vstack(counts)
    contrast = None
    if len(labels) > 1:
        diff = c[1:] - c[0]
        var = np.diag(vcov)[1:] + vcov[0, 0] - 2.0 * vcov[0, 1:]
        diff_se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            zval = diff / diff_se
        contrast = pd.DataFrame(
            {
                "difference": diff,
                "se": diff_se,
                "lower": diff - z * diff_se,
                "upper": diff + z * diff_se,
                "z": zval,
                "p": 2.0 * stats.norm.sf(np.abs(zval)),
            },
            index=pd.Index([f"{label} - {labels[0]}" for label in labels[1:]], name="contrast"),
        )
    return ConcordanceResult(
        table=table,
        vcov=pd.DataFrame(vcov, index=labels, columns=labels),
        contrast=contrast,
        timewt=timewt,
        tau=tau,
        n=int(keep.sum()),
        n_dropped=int((~keep).sum()),
        cause=cause,
    )
