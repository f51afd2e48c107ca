"""What ``cc.pool`` reads from one completed-data analysis: estimates, variance, complete-data df.

Cox and Fine–Gray fits give their coefficients (log hazard ratios) and variance matrix, with
complete-data degrees of freedom events − coefficients, as ``mice`` takes for ``coxph``
(``mice:::get.dfcom``). A table of ``cc.incidence_rates`` gives log rates with variance
1/events (delta method for a Poisson count), df infinite. Anything else with ``estimate`` and
``variance`` (or ``se``) attributes — a C-statistic from another module, say — is pooled too,
on the scale its ``pooling_scale`` attribute names ("identity", "log" or "logit"; logit is
the usual one for a C-statistic, delta-method variance var(C) / (C(1 − C))²).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cohortcalc.errors import ModelError

SCALES = ("identity", "log", "logit")


@dataclass(frozen=True)
class Estimates:
    """One analysis's estimates on the pooling scale, their variance matrix and its df."""

    terms: tuple[str, ...]
    estimate: np.ndarray
    variance: np.ndarray
    dfcom: float
    scale: str
    kind: str  # "cox", "finegray", "rates", "estimate": how the pooled table is labelled
    per: float = 1.0  # rates: the multiplier of the reported rate (per 1000 person-years)


def extract(fit: Any, scale: str | None) -> Estimates:
    """The ``Estimates`` of one fit; ``ModelError`` naming the type when it cannot be pooled."""
    from cohortcalc.survival.finegray_result import FineGrayResult
    from cohortcalc.survival.results import CoxResult

    if isinstance(fit, Estimates):  # already extracted (e.g. in a worker process)
        return fit
    if isinstance(fit, CoxResult | FineGrayResult):
        terms = tuple(fit.summary.index)
        kind = "cox" if isinstance(fit, CoxResult) else "finegray"
        if not fit.converged:
            raise ModelError(
                f"a {kind} fit did not converge; its coefficients cannot be pooled. Check the "
                "completed data set (separation, too few events) before pooling."
            )
        return Estimates(
            terms,
            fit.summary["coef"].to_numpy(dtype=np.float64),
            fit.vcov.loc[list(terms), list(terms)].to_numpy(dtype=np.float64),
            float(max(fit.n_events - len(terms), 1)),
            "log",
            kind,
        )
    if isinstance(fit, pd.DataFrame):
        return _rates(fit)
    return _generic(fit, scale)


def _rates(table: pd.DataFrame) -> Estimates:
    needed = {"events", "person_years", "rate"}
    if not needed <= set(table.columns):
        raise ModelError(
            f"a DataFrame given to pool() must be a cc.incidence_rates table (columns "
            f"{sorted(needed)}); it has {list(table.columns)}."
        )
    events = table["events"].to_numpy(dtype=np.float64)
    person_years = table["person_years"].to_numpy(dtype=np.float64)
    by = [c for c in table.columns if c not in {"events", "person_years", "rate", "lower", "upper"}]
    terms = (
        tuple(" / ".join(str(v) for v in row) for row in table[by].itertuples(index=False))
        if by
        else ("overall",)
    )
    if np.any(events <= 0):
        where = [t for t, e in zip(terms, events, strict=True) if e <= 0]
        raise ModelError(
            f"incidence rate group(s) {where} have no events in a completed data set; a log "
            "rate is undefined there. Merge groups or report them without pooling."
        )
    per = float(table["rate"].iloc[0] * person_years[0] / events[0])
    return Estimates(
        terms, np.log(events / person_years), np.diag(1.0 / events), np.inf, "log", "rates", per
    )


def _generic(fit: Any, scale: str | None) -> Estimates:
    if not hasattr(fit, "estimate") or not (hasattr(fit, "variance") or hasattr(fit, "se")):
        raise ModelError(
            f"pool() cannot read a {type(fit).__name__}: pass CoxResult, FineGrayResult, "
            "cc.incidence_rates tables, or objects with 'estimate' and 'variance' (or 'se')."
        )
    estimate = np.atleast_1d(np.asarray(fit.estimate, dtype=np.float64))
    if hasattr(fit, "variance"):
        variance = np.asarray(fit.variance, dtype=np.float64)
        variance = np.atleast_1d(variance) if variance.ndim == 0 else variance
    else:
        variance = np.atleast_1d(np.asarray(fit.se, dtype=np.float64)) ** 2
    variance = np.diag(variance) if variance.ndim <= 1 else variance
    variance = variance.reshape(len(estimate), len(estimate))
    scale = scale or getattr(fit, "pooling_scale", "identity")
    if scale not in SCALES:
        raise ModelError(f"pooling scale {scale!r} is not one of {SCALES}.")
    if scale == "log":
        if np.any(estimate <= 0):
            raise ModelError(f"a log-scale pooled estimate must be > 0; got {estimate}.")
        gradient = 1.0 / estimate
        estimate = np.log(estimate)
    elif scale == "logit":
        if np.any((estimate <= 0) | (estimate >= 1)):
            raise ModelError(f"a logit-scale pooled estimate must be in (0, 1); got {estimate}.")
        gradient = 1.0 / (estimate * (1.0 - estimate))
        estimate = np.log(estimate / (1.0 - estimate))
    else:
        gradient = np.ones_like(estimate)
    variance = variance * np.outer(gradient, gradient)
    terms = getattr(fit, "terms", None)
    terms = tuple(str(t) for t in terms) if terms is not None else _default_terms(len(estimate))
    dfcom = float(getattr(fit, "dfcom", np.inf))
    return Estimates(terms, estimate, variance, dfcom, scale, "estimate")


def _default_terms(p: int) -> tuple[str, ...]:
    return ("estimate",) if p == 1 else tuple(f"estimate[{j}]" for j in range(p))


def stack(fits: Sequence[Any], scale: str | None) -> list[Estimates]:
    """Extract every fit and check they estimate the same terms on the same scale."""
    extracted = [extract(fit, scale) for fit in fits]
    first = extracted[0]
    for i, other in enumerate(extracted[1:], start=2):
        if other.terms != first.terms or other.kind != first.kind or other.scale != first.scale:
            raise ModelError(
                f"analysis {i} estimates {other.kind} terms {list(other.terms)} but analysis 1 "
                f"{first.kind} terms {list(first.terms)}; pool the same model fitted to each "
                "completed data set (a category absent from one data set changes the terms: "
                "fix its reference and levels)."
            )
    return extracted
