"""`cc.finegray`: the Fine–Gray subdistribution hazards model on any frame.

Fine & Gray (1999, JASA 94:496) with `cmprsk::crr`'s conventions: Kaplan–Meier censoring
distribution G evaluated just before each time, Breslow ties, and crr's sandwich variance
(which includes the term for the estimated G). Extensions crr lacks: `strata` gives each
stratum its own baseline subdistribution hazard and its own G (Zhou, Latouche, Rocha & Fine
2011, Biometrics 67:661); `weights` are case weights, acting as replication counts (in the
likelihood, in G and in the variance), so integer weights equal replicated rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cohortcalc.errors import ModelError
from cohortcalc.frames import is_spark_frame
from cohortcalc.survival import finegray_riskset as fg_engine
from cohortcalc.survival import local
from cohortcalc.survival.checks import (
    refuse_equal_codes,
    refuse_finegray_rows,
    refuse_text_columns,
)
from cohortcalc.survival.engine import FineGrayRequest, as_tuple, engine_for
from cohortcalc.survival.finegray_result import FineGrayResult
from cohortcalc.survival.newton import NewtonResult, newton_raphson
from cohortcalc.survival.results import coefficient_table, vcov_frame
from cohortcalc.survival.terms import design_spec


def finegray(
    frame: Any,
    time: str,
    event: str,
    cause: Any,
    covariates: Sequence[str] | str,
    censor_code: Any = 0,
    strata: str | Sequence[str] | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
    entry: str | None = None,
) -> FineGrayResult:
    """Fit the Fine–Gray model for `cause` of the coded `event` column.

    `event` holds `censor_code` for censored rows, `cause` for the event of interest and any
    other value for competing events. Rows with a missing value in a used column are dropped
    (counted in `n_dropped`), as crr's `na.omit`. Raises `ModelError` for times ≤ 0, a cause
    that never occurs or occurs once, no uncensored rows, bad weights, or a term without
    events. Any frame: a PySpark frame is summed in Spark (``survival/engine.py``).
    `entry` (delayed entry, e.g. the age scale) uses Geskus' weights as R `finegray()` +
    `coxph` (`cohortcalc.survival.finegray_entry`).
    """
    refuse_equal_codes(cause, censor_code)
    if entry is not None:
        return _with_entry(frame, time, event, cause, covariates, censor_code, strata, weights,
                           reference, entry)  # fmt: skip
    request = FineGrayRequest(
        spec=design_spec(covariates, reference),
        time=time,
        event=event,
        cause=cause,
        censor_code=censor_code,
        weights=weights,
        strata=as_tuple(strata),
    )
    engine = engine_for(frame) or local
    with engine.finegray_rows(frame, request) as rows:
        refuse_text_columns(rows, [(time, "time"), (weights, "weights")])
        counts = rows.counts()
        refuse_finegray_rows(request, rows, counts)
        data = rows.sums()
        terms = rows.design.terms
        fit = newton_raphson(lambda beta: _objective(data, beta), terms)
        beta = _last_newton_step(fit)
        loglik, information, meat = fg_engine.sandwich(data, beta)
        fit_data = rows.fit_data(data, beta)
    bread = _inverse(information, fit.variance)
    vcov = bread @ meat @ bread
    vcov = (vcov + vcov.T) / 2
    design = rows.design
    return FineGrayResult(
        summary=coefficient_table(beta, vcov, terms),
        vcov=vcov_frame(vcov, terms),
        terms=terms,
        time=time,
        event=event,
        cause=cause,
        competing=counts.competing,
        censor_code=censor_code,
        n=design.n,
        n_events=counts.n_cause,
        n_competing=counts.n_competing,
        n_censored=counts.n_censored,
        n_dropped=design.n_dropped,
        loglik=loglik,
        loglik_null=fit.loglik_init,
        converged=fit.converged,
        iterations=fit.iterations,
        strata=", ".join(request.strata) or None,
        n_strata=len(data.strata),
        weights=weights,
        reference=dict(design.reference),
        fit_data=fit_data,
        splines=dict(design.splines),
    )


def _with_entry(frame, time, event, cause, covariates, censor_code, strata, weights, reference,
                entry) -> FineGrayResult:  # fmt: skip
    if strata is not None or weights is not None or is_spark_frame(frame):
        raise ModelError(
            "Fine–Gray with entry= supports neither strata, weights nor Spark frames yet; "
            "drop them or fit on follow-up time."
        )
    from cohortcalc.survival.finegray_entry import finegray_with_entry

    return finegray_with_entry(frame, time, event, cause, covariates, entry, censor_code,
                               reference)  # fmt: skip


def _objective(data: Any, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Newton's objective; overflow on a wild trial step is the driver's to handle (halving)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return fg_engine.loglik_score_information(data, beta)


def _last_newton_step(fit: NewtonResult) -> np.ndarray:
    """One more Newton step from the converged β with the score and information the driver
    already evaluated there: the log-likelihood stop (R's, relative change ≤ 1e-9) can leave
    β ~1e-7 short, crr stops on the gradient. Skipped unless the step is tiny (a term
    running to infinity keeps the driver's value and its warning)."""
    step = fit.variance @ fit.score
    small = np.all(np.abs(step) <= 1e-5 * np.maximum(np.abs(fit.beta), 1.0))
    return fit.beta + step if fit.converged and small else fit.beta


def _inverse(information: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """I⁻¹ for the bread of the sandwich (Fine & Gray 1999, §3)."""
    try:
        return np.linalg.inv(information)
    except np.linalg.LinAlgError:
        return fallback
