"""Cox proportional hazards regression on any frame: ``cc.cox``.

This layer knows frames, column names and dummy coding; the numbers come from the array engine
in ``riskset.py`` and the Newton driver in ``newton.py`` — the split of R's ``coxph`` /
``coxph.fit``. Robust variance: Lin & Wei (1989) sandwich from score residuals summed within
cluster, as R's ``cluster()`` (Therneau & Grambsch 2000, sec. 7.2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cohortcalc.errors import ModelError
from cohortcalc.survival import local
from cohortcalc.survival.checks import refuse_cox_rows, refuse_text_columns
from cohortcalc.survival.engine import CoxRequest, as_tuple, engine_for
from cohortcalc.survival.local import group_codes
from cohortcalc.survival.newton import newton_raphson
from cohortcalc.survival.results import CoxResult, cox_result
from cohortcalc.survival.riskset import baseline_terms, partial_likelihood, robust_meat
from cohortcalc.survival.terms import design_spec

TIES = ("efron", "breslow")
__all__ = ["TIES", "cox", "group_codes"]  # group_codes: kept importable here (cc.predict)


def cox(
    frame: Any,
    time: str,
    event: str,
    covariates: Sequence[str] | str,
    ties: str = "efron",
    strata: str | Sequence[str] | None = None,
    cluster: str | None = None,
    entry: str | None = None,
    weights: str | None = None,
    reference: Mapping[str, Any] | None = None,
) -> CoxResult:
    """Fit a Cox model; the numbers of R ``coxph(Surv([entry,] time, event) ~ ..., ties=)``.

    ``event`` must be boolean or coded 0/1 (1 = event); for a multi-state status column pass
    a derived 0/1 column (e.g. MI vs. censored-or-competing for a cause-specific model).
    ``entry`` gives delayed entry or counting-process (start, stop] rows. ``cluster`` gives
    the robust (sandwich) variance, used in ``summary``; ``weights`` are case weights.
    Rows with a missing value in any used column are dropped and counted. Any frame: a
    PySpark frame is summed in Spark (``survival/engine.py``), with the same checks and numbers.
    """
    if ties not in TIES:
        raise ModelError(f"ties={ties!r} is not supported; use one of {TIES}.")
    request = CoxRequest(
        spec=design_spec(covariates, reference),
        time=time,
        event=event,
        entry=entry,
        weights=weights,
        strata=as_tuple(strata),
        cluster=cluster,
        efron=ties == "efron",
    )
    engine = engine_for(frame) or local
    with engine.cox_rows(frame, request) as rows:
        refuse_text_columns(rows, [(time, "time"), (entry, "entry"), (weights, "weights")])
        counts = rows.counts()
        refuse_cox_rows(request, rows, counts)
        sums = rows.sums()
        design = rows.design
        fit = newton_raphson(
            lambda beta: partial_likelihood(sums, beta, efron=request.efron), design.terms
        )
        # as R: non-integer (sampling) weights without a cluster get the per-row robust variance
        per_row = cluster is None and weights is not None and counts.fractional_weights > 0
        variance, n_clusters = fit.variance, None
        if cluster is not None or per_row:
            n_clusters = design.n if per_row else counts.n_clusters
            meat = robust_meat(sums, fit.beta, efron=request.efron)
            variance = fit.variance @ meat @ fit.variance
        fit_data = rows.fit_data(sums, fit.beta)
        # rows that stay in the engine (Spark) are gone after the fit: keep the baseline now
        baseline = (
            None if fit_data is not None else baseline_terms(sums, fit.beta, efron=request.efron)
        )
    labels = dict(ties=ties, time=time, event=event, entry=entry, cluster=cluster, weights=weights)
    return cox_result(
        fit,
        design,
        variance=variance,
        robust=n_clusters is not None,
        n_events=counts.n_events,
        n_clusters=n_clusters,
        labels={**labels, "strata": request.strata or None},
        fit_data=fit_data,
        baseline=baseline,
    )
