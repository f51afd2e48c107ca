"""Hypothesis tests for survival data: log-rank, log-rank trend, Gray's test, likelihood ratio.

Each test collapses the data to counts per (stratum, group, distinct time) with one group-by
and returns a frozen ``HypothesisTest``. Conventions follow R: ``survival::survdiff`` (its
``rho`` weights included), ``cmprsk::cuminc(...)$Tests`` and ``anova()`` for nested ``coxph``
fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from scipy.stats import chi2

from cohortcalc.errors import ModelError
from cohortcalc.survival.inputs import (
    check_binary_event,
    check_cause,
    check_times,
    load_columns,
)


@dataclass(frozen=True)
class HypothesisTest:
    """A chi-square test: ``statistic``, ``df``, ``p``, the method, and a per-group table."""

    method: str
    statistic: float
    df: int
    p: float
    table: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def __str__(self) -> str:
        lines = [
            self.method,
            f"  chi-square = {self.statistic:.4f} on {self.df} df, p = {self.p:.4g}",
        ]
        if not self.table.empty:
            lines.append(self.table.to_string())
        return "\n".join(lines)


def _levels(frame: Any, data: pl.DataFrame, column: str) -> list[Any]:
    """Group levels in their natural order: categorical order if the column has one, else sorted."""
    native = getattr(frame, "dtypes", None)
    if isinstance(frame, pd.DataFrame) and isinstance(native[column], pd.CategoricalDtype):
        present = set(data[column].unique().to_list())
        return [level for level in frame[column].cat.categories if level in present]
    if isinstance(data[column].dtype, pl.Enum):
        present = set(data[column].unique().to_list())
        return [level for level in data[column].dtype.categories if level in present]
    return data[column].unique().sort().to_list()


def _event_counts(
    data: pl.DataFrame,
    time: str,
    group: str,
    levels: list[Any],
    strata: str | None,
    codes: list[Any],
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Per stratum: at-risk counts (times × groups) and event counts per code (times × groups).

    One Polars group-by over (stratum, time, group); the dense arrays are built from its rows.
    """
    keys = [strata] if strata else []
    table = data.group_by([*keys, time, group]).agg(
        pl.len().alias("__n"),
        *[(pl.col("__e") == code).sum().alias(f"__c{i}") for i, code in enumerate(codes)],
    )
    mapping = {level: i for i, level in enumerate(levels)}
    table = table.with_columns(
        pl.col(group).replace_strict(mapping, return_dtype=pl.Int64).alias("__g")
    )
    out = []
    for part in table.partition_by(strata, maintain_order=False) if strata else [table]:
        times, time_index = np.unique(part[time].to_numpy(), return_inverse=True)
        cells = time_index * len(levels) + part["__g"].to_numpy()
        size = times.size * len(levels)
        columns = ["__n", *[f"__c{i}" for i in range(len(codes))]]
        dense = [
            np.bincount(cells, weights=part[c].to_numpy(), minlength=size).reshape(times.size, -1)
            for c in columns
        ]
        at_risk = np.cumsum(dense[0][::-1], axis=0)[::-1]
        out.append((at_risk, dense[1:]))
    return out


def _logrank_parts(
    frame: Any, time: str, event: str, group: str, strata: str | None, rho: float
) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Levels, n per group, observed, expected and the hypergeometric variance (survdiff).

    With ``rho`` ≠ 0 each time is weighted by S(t−)^rho, S the pooled Kaplan–Meier of the
    stratum (Harrington & Fleming 1982); observed and expected are weighted too, as survdiff.
    """
    data = load_columns(frame, [time, event, group, strata])
    check_times(data, time)
    data = check_binary_event(data, event).rename({event: "__e"} if event != "__e" else {})
    levels = _levels(frame, data, group)
    if len(levels) < 2:
        raise ModelError(f"group column {group!r} has only {levels}; a test needs ≥ 2 groups.")
    k = len(levels)
    observed, expected, variance = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for at_risk, (deaths,) in _event_counts(data, time, group, levels, strata, [1]):
        total_risk = at_risk.sum(axis=1)
        total_deaths = deaths.sum(axis=1)
        km = np.cumprod(1 - total_deaths / total_risk)
        weight = np.concatenate([[1.0], km[:-1]]) ** rho
        keep = total_deaths > 0
        n, d, share = total_risk[keep], total_deaths[keep], at_risk[keep] / total_risk[keep, None]
        weight = weight[keep]
        observed += (weight[:, None] * deaths[keep]).sum(axis=0)
        expected += (weight[:, None] * d[:, None] * share).sum(axis=0)
        factor = weight**2 * np.where(n > 1, d * (n - d) / np.maximum(n - 1, 1), 0.0)
        variance += np.einsum("t,ti,ij->ij", factor, share, np.eye(k)) - np.einsum(
            "t,ti,tj->ij", factor, share, share
        )
    counts = data[group].value_counts()
    sizes = np.array([counts.filter(pl.col(group) == lv)["count"][0] for lv in levels])
    return levels, sizes, observed, expected, variance


def logrank(
    frame: Any,
    time: str,
    event: str,
    group: str,
    strata: str | None = None,
    rho: float = 0.0,
) -> HypothesisTest:
    """Log-rank test of equal survival across groups (Mantel 1966), as R ``survdiff``.

    chi-square = (O−E)ᵀ V⁻ (O−E) over all groups but the first, V the hypergeometric variance
    summed over distinct event times (and over ``strata`` if given); df = groups with E > 0 − 1.
    ``rho`` = 1 gives the Peto–Peto–Prentice weighting (G-rho family, as survdiff's ``rho``).
    The result's ``table`` lists n, observed and expected events per group.
    """
    levels, sizes, observed, expected, variance = _logrank_parts(
        frame, time, event, group, strata, rho
    )
    used = expected > 0  # as survdiff: groups with no expected events drop out
    if used.sum() < 2:
        raise ModelError(
            f"fewer than two groups of {group!r} have anyone at risk at an event time "
            "(are there any events?); the log-rank test is undefined."
        )
    diff = (observed - expected)[used][1:]
    try:
        statistic = float(diff @ np.linalg.solve(variance[np.ix_(used, used)][1:, 1:], diff))
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            f"the log-rank variance for groups of {group!r} is singular (no event time has "
            "survivors at risk); the test is undefined."
        ) from exc
    df = int(used.sum()) - 1
    table = pd.DataFrame(
        {
            "n": sizes,
            "observed": observed,
            "expected": expected,
            "o_minus_e_sq_over_e": (observed - expected) ** 2 / np.where(used, expected, np.nan),
        },
        index=pd.Index(levels, name=group),
    )
    method = f"Log-rank test (survdiff, rho = {rho:g})" + (
        f", stratified by {strata}" if strata else ""
    )
    return HypothesisTest(method, statistic, df, float(chi2.sf(statistic, df)), table)


def trend_test(
    frame: Any,
    time: str,
    event: str,
    group: str,
    scores: Sequence[float] | Mapping[Any, float] | None = None,
    strata: str | None = None,
) -> HypothesisTest:
    """Log-rank test for trend across ordered groups (Peto & Peto 1972; Collett 2015 §2.6).

    chi-square = (sᵀ(O−E))² / sᵀVs on 1 df, V the survdiff variance matrix. ``scores`` default
    to 1..k in the group order (a categorical column's order, else sorted values); give a list
    in that order or a mapping level → score.
    """
    levels, sizes, observed, expected, variance = _logrank_parts(
        frame, time, event, group, strata, 0.0
    )
    if scores is None:
        weights = np.arange(1, len(levels) + 1, dtype=float)
    elif isinstance(scores, Mapping):
        missing = [lv for lv in levels if lv not in scores]
        if missing:
            raise ModelError(f"scores have no value for level(s) {missing} of {group!r}.")
        weights = np.array([scores[lv] for lv in levels], dtype=float)
    else:
        weights = np.asarray(scores, dtype=float)
        if weights.size != len(levels):
            raise ModelError(
                f"{weights.size} scores given for {len(levels)} levels {levels} of {group!r}."
            )
    denominator = float(weights @ variance @ weights)
    if not denominator > 0:
        raise ModelError(f"the trend variance is zero: the scores for {group!r} are constant.")
    statistic = float(weights @ (observed - expected)) ** 2 / denominator
    table = pd.DataFrame(
        {"score": weights, "n": sizes, "observed": observed, "expected": expected},
        index=pd.Index(levels, name=group),
    )
    return HypothesisTest(
        "Log-rank test for trend", statistic, 1, float(chi2.sf(statistic, 1)), table
    )


def gray_test(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    group: str,
    censor_code: Any = 0,
    strata: str | None = None,
    rho: float = 0.0,
) -> HypothesisTest:
    """Gray's K-sample test of equal cumulative incidence of ``cause`` (Gray 1988, Ann Stat).

    As ``cmprsk::cuminc(time, event, group, strata, rho)$Tests``: scores and their variance
    from Gray's crstm routine, accumulated over distinct times with NumPy (times × groups);
    chi-square = sᵀV⁻¹s on (groups − 1) df, scores and variances summed over ``strata``.
    """
    data = load_columns(frame, [time, event, group, strata])
    check_times(data, time)
    codes = check_cause(data, event, cause, censor_code)
    levels = _levels(frame, data, group)
    if len(levels) < 2:
        raise ModelError(f"group column {group!r} has only {levels}; a test needs ≥ 2 groups.")
    data = data.with_columns(
        pl.when(pl.col(event) == cause)
        .then(1)
        .when(pl.col(event).is_in(codes))
        .then(2)
        .otherwise(0)
        .alias("__e")
    )
    k = len(levels)
    score, variance = np.zeros(k - 1), np.zeros((k - 1, k - 1))
    for at_risk, (cause_events, other_events) in _event_counts(
        data, time, group, levels, strata, [1, 2]
    ):
        keep = (cause_events + other_events).sum(axis=1) > 0
        part_score, part_variance = _gray_score(
            at_risk[keep], cause_events[keep], other_events[keep], rho
        )
        score += part_score[:-1]
        variance += part_variance[:-1, :-1]
    if np.linalg.matrix_rank(variance) < k - 1:
        raise ModelError(
            f"Gray's test variance is singular for groups of {group!r} (a group without "
            f"events of cause {cause!r}?); merge or drop groups."
        )
    statistic = float(score @ np.linalg.solve(variance, score))
    method = f"Gray's test of equal cumulative incidence, cause {cause!r} (rho = {rho:g})"
    return HypothesisTest(method, statistic, k - 1, float(chi2.sf(statistic, k - 1)))


def _gray_score(
    at_risk: np.ndarray, cause_events: np.ndarray, other_events: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Score vector and variance matrix (all groups) for one stratum; rows are event times."""
    with np.errstate(divide="ignore", invalid="ignore"):
        present = at_risk > 0
        step = np.where(present, (at_risk - cause_events - other_events) / at_risk, 1.0)
        km = np.cumprod(step, axis=0)
        km_before = np.vstack([np.ones((1, km.shape[1])), km[:-1]])
        cif = np.cumsum(np.where(present, km_before * cause_events / at_risk, 0.0), axis=0)
        cif_before = np.vstack([np.zeros((1, cif.shape[1])), cif[:-1]])
        weight_risk = np.where(present, at_risk / km_before, 0.0)
        total_weight = weight_risk.sum(axis=1)
        q_total = np.where(present, at_risk * (1 - cif_before) / km_before, 0.0).sum(axis=1)
        n_cause = cause_events.sum(axis=1)
        pooled = np.cumsum(n_cause / total_weight)
        pooled_before = np.concatenate([[0.0], pooled[:-1]])
        fb = (1 - pooled_before) ** rho
        a = fb[:, None, None] * (
            np.einsum("ti,ij->tij", weight_risk, np.eye(km.shape[1]))
            - np.einsum("ti,tj->tij", weight_risk, weight_risk) / total_weight[:, None, None]
        )
        c = np.cumsum(a * (n_cause / (total_weight * (1 - pooled_before)))[:, None, None], axis=0)
        expected_share = np.where(
            present, at_risk * (1 - cif_before) / (km_before * q_total[:, None]), 0
        )
        score = (fb[:, None] * (cause_events - n_cause[:, None] * expected_share)).sum(axis=0)
        # variance, part 1: events of the cause (groups at risk)
        t4 = np.where(km > 0, 1 - (1 - pooled[:, None]) / km, 1.0)
        t5 = np.where(
            n_cause[:, None] > 1,
            1 - (n_cause[:, None] - 1) / (total_weight[:, None] * km_before - 1),
            1.0,
        )
        t3 = np.where(
            present & (n_cause[:, None] > 0),
            t5 * km_before * n_cause[:, None] / (total_weight[:, None] * at_risk),
            0.0,
        )
        b = a - t4[:, None, :] * c
        v3 = (t4**2 * t3).sum(axis=0)
        v2 = np.einsum("tik,tk->ik", b, t4 * t3)
        v = np.einsum("tik,tjk,tk->ij", b, b, t3)
        # part 2: competing events
        t4 = np.where(km > 0, (1 - pooled[:, None]) / km, 0.0)
        t5 = np.where(other_events > 1, 1 - (other_events - 1) / (at_risk - 1), 1.0)
        t3 = np.where(
            (km > 0) & (other_events > 0), t5 * km_before**2 * other_events / at_risk**2, 0.0
        )
        w = t4**2 * t3
        v3 += w.sum(axis=0)
        v2 -= np.einsum("tik,tk->ik", c, w)
        v += np.einsum("tik,tjk,tk->ij", c, c, w)
    final = c[-1]
    v += np.einsum("ik,jk,k->ij", final, final, v3) + final @ v2.T + v2 @ final.T
    return score, v


def lrtest(fit_a: Any, fit_b: Any) -> HypothesisTest:
    """Likelihood-ratio test between two nested Cox fits, as R ``anova(fit_a, fit_b)``.

    chi-square = 2 |loglik_b − loglik_a| on the difference in the number of terms. Both fits
    must use the same rows (same n and number of events) and the smaller model's terms must
    all appear in the larger one.
    """
    for name, fit in (("fit_a", fit_a), ("fit_b", fit_b)):
        if not all(hasattr(fit, attr) for attr in ("loglik", "terms", "n", "n_events")):
            raise ModelError(f"{name} is not a Cox fit (needs loglik, terms, n, n_events).")
    if (fit_a.n, fit_a.n_events) != (fit_b.n, fit_b.n_events):
        raise ModelError(
            f"the fits are not on the same data: n = {fit_a.n} vs {fit_b.n}, events = "
            f"{fit_a.n_events} vs {fit_b.n_events}; refit both on the same complete cases."
        )
    small, large = sorted((fit_a, fit_b), key=lambda fit: len(fit.terms))
    df = len(large.terms) - len(small.terms)
    extra = [t for t in small.terms if t not in set(large.terms)]
    if df == 0 or extra:
        raise ModelError(
            "the fits are not nested: the smaller model's terms must be a strict subset of the "
            f"larger's (terms only in the smaller: {extra}; difference in terms: {df})."
        )
    statistic = 2.0 * (_final_loglik(large) - _final_loglik(small))
    method = f"Likelihood-ratio test: {list(large.terms)} vs {list(small.terms)}"
    return HypothesisTest(method, statistic, df, float(chi2.sf(statistic, df)))


def _final_loglik(fit: Any) -> float:
    """The final partial log-likelihood (last element if a sequence is stored)."""
    return float(np.atleast_1d(np.asarray(fit.loglik, dtype=float))[-1])
