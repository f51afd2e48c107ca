"""Standardised cumulative incidence from a Fine–Gray fit, with a seeded bootstrap.

F_a(t) = (1/n) Σ_i F1(t | a, x_i), F1 from ``cc.predict`` (``cmprsk::predict.crr``). The
covariance of the levels' risks at each time is that of ``n_boot`` replicates: rows resampled
with replacement, the Fine–Gray model refitted (its censoring weights re-estimated) and the
risks standardised over the resampled rows (Efron & Tibshirani 1993, ch. 6).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.errors import CohortcalcError, CohortcalcWarning, ModelError


def finegray_standardized(
    fit: Any,
    data: pl.DataFrame,
    exposure: str,
    levels: list[Any],
    horizons: tuple[float, ...],
    n_boot: int,
    seed: int,
) -> tuple[tuple[np.ndarray, np.ndarray], int, str]:
    """(risk levels x times, covariance times x levels x levels), rows used, method text."""
    if fit.weights is not None:
        raise ModelError(
            f"cc.standardized_risk does not handle a Fine–Gray fit with weights={fit.weights!r}"
            " (the bootstrap would resample unweighted rows); refit without weights."
        )
    if n_boot < 0 or n_boot == 1:
        raise ModelError(f"n_boot={n_boot}: use 0 (no interval) or at least 2 (e.g. 200).")
    used = _complete_rows(fit, data)
    if used.height != fit.n:
        raise ModelError(
            f"frame has {used.height} complete rows where the Fine–Gray fit used {fit.n}; pass "
            "the frame the fit was fitted on: the standardised risk averages over its rows."
        )
    risk = _standardize(fit, used, exposure, levels, horizons)
    cov = np.full((len(horizons), len(levels), len(levels)), np.nan)
    if n_boot:
        cov = _bootstrap_cov(fit, used, exposure, levels, horizons, n_boot, seed)
    method = (
        "g-computation from the Fine–Gray fit (cumulative incidence as cmprsk::predict.crr); "
        + (
            f"bootstrap covariance ({n_boot} refits, seed {seed})"
            if n_boot
            else "no interval (n_boot = 0)"
        )
    )
    return (risk, cov), used.height, method


def _complete_rows(fit: Any, data: pl.DataFrame) -> pl.DataFrame:
    design = fit.fit_data.design
    sources = {f for term in design.assign for f in term.split(":")}
    needed = [fit.time, fit.event, *sources, *fit.fit_data.strata]
    absent = [name for name in needed if name not in data.columns]
    if absent:
        raise ModelError(f"frame has no column(s) {absent}; pass the frame the fit was fitted on.")
    return data.drop_nulls(needed)


def _standardize(
    fit: Any, data: pl.DataFrame, exposure: str, levels: list[Any], horizons: tuple[float, ...]
) -> np.ndarray:
    from cohortcalc.effects.standardized import set_exposure
    from cohortcalc.survival.predict import predict

    return np.stack(
        [
            np.mean(predict(fit, set_exposure(data, exposure, a), horizons, n_boot=0).risk, axis=0)
            for a in levels
        ]
    )


def _bootstrap_cov(
    fit: Any,
    data: pl.DataFrame,
    exposure: str,
    levels: list[Any],
    horizons: tuple[float, ...],
    n_boot: int,
    seed: int,
) -> np.ndarray:
    from cohortcalc.survival.finegray import finegray

    design = fit.fit_data.design
    covariates = [
        ":".join(f"C({f})" if f in design.levels else f for f in term.split(":"))
        for term in design.assign
    ]
    strata = list(fit.fit_data.strata) or None
    rng = np.random.default_rng(seed)
    replicates = []
    for _ in range(n_boot):
        sample = data[rng.integers(0, data.height, data.height)]
        try:
            refit = finegray(
                sample,
                time=fit.time,
                event=fit.event,
                cause=fit.cause,
                covariates=covariates,
                censor_code=fit.censor_code,
                strata=strata,
                reference=dict(fit.reference),
            )
        except CohortcalcError:
            continue
        if refit.terms != fit.terms:
            raise ModelError(f"a bootstrap refit has terms {refit.terms}, not {fit.terms}.")
        try:
            replicates.append(_standardize(refit, sample, exposure, levels, horizons))
        except CohortcalcError:
            continue
    if len(replicates) < 2:
        raise ModelError("fewer than two bootstrap refits succeeded; no interval.")
    if len(replicates) < n_boot:
        warnings.warn(
            f"{n_boot - len(replicates)} of {n_boot} bootstrap refits failed (a level without "
            "events, or a time beyond a replicate's follow-up) and were left out.",
            CohortcalcWarning,
            stacklevel=5,
        )
    values = np.stack(replicates)  # replicates x levels x times
    centred = values - values.mean(axis=0)
    return np.einsum("rat,rbt->tab", centred, centred) / (len(replicates) - 1)
