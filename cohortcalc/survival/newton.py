"""Newton–Raphson for partial likelihoods, step for step as R's ``coxph`` (survival coxfit6.c).

Start at ``init`` (zeros); each step solves I(β)·δ = U(β) by Cholesky. Converged when the
relative change of the log-likelihood is <= ``eps`` (1e-9). A step that lowers the likelihood
(or makes it non-finite) is pulled back toward the last good β: after h failures in a row the
trial point is (β_trial + h·β_good)/(h + 1); so does a trial step on which a compiled kernel
divides by zero (every e^{xβ} of a risk set underflowed). At the end, a coefficient whose
remaining Newton step is still large relative to itself is named as possibly infinite
(monotone likelihood), as R's ``coxph.fit`` does with ``toler.inf`` ("Loglik converged before
variable ..."); when the iterations ran out the same terms are named in the warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from cohortcalc.errors import ConvergenceWarning, ModelError, ModelWarning

Objective = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
"""β -> (log-likelihood, score vector, information matrix)."""

CHOLESKY_TOLERANCE = float(np.finfo(float).eps ** 0.75)  # R coxph.control toler.chol


@dataclass(frozen=True)
class NewtonResult:
    """Outcome of ``newton_raphson``: the estimate and everything evaluated at it."""

    beta: np.ndarray
    loglik: float
    loglik_init: float
    score: np.ndarray
    information: np.ndarray
    variance: np.ndarray
    score_test: float
    iterations: int
    converged: bool


def newton_raphson(
    objective: Objective,
    terms: Sequence[str],
    *,
    init: np.ndarray | None = None,
    max_iter: int = 20,
    eps: float = 1e-9,
    toler_inf: float | None = None,
) -> NewtonResult:
    """Maximise ``objective`` from ``init``; warn (naming the terms) if it does not settle.

    Raises ``ModelError`` naming the terms if the information at ``init`` is singular
    (collinear covariates, or a covariate that does not vary within the risk sets).
    """
    p = len(terms)
    beta = np.zeros(p) if init is None else np.asarray(init, dtype=np.float64).copy()
    loglik_init, score, info = objective(beta)
    factor = _cholesky_or_raise(info, terms)
    step = scipy.linalg.cho_solve(factor, score)
    score_test = float(score @ step)
    best_loglik = loglik_init
    trial = beta + step
    halving = 0
    converged = False
    iterations = 0
    new_loglik = loglik_init
    for iterations in range(1, max_iter + 1):
        new_loglik, score, info = _evaluate(objective, trial)
        factor = _cholesky(info)
        finite = (
            np.isfinite(new_loglik)
            and np.all(np.isfinite(score))
            and np.all(np.isfinite(info))
            and factor is not None
        )
        if finite and abs(1.0 - best_loglik / new_loglik) <= eps:
            beta, converged = trial, True
            break
        if iterations == max_iter:
            break
        if not finite or new_loglik < best_loglik:
            halving += 1
            trial = (trial + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            best_loglik = new_loglik
            beta = trial
            trial = trial + scipy.linalg.cho_solve(factor, score)
    if not converged:
        new_loglik, score, info = _evaluate(objective, beta)
        factor = _cholesky(info)
    variance = _inverse(factor, info)
    infinite = _infinite_terms(beta, score, variance, terms, eps, toler_inf)
    if not converged:
        running = (
            f"the log-likelihood keeps rising as the coefficient(s) of {infinite} grow "
            "(monotone likelihood): they may be infinite. Check for separation (a level "
            "without events, or a covariate that separates events from non-events); do not "
            "report these hazard ratios"
            if infinite
            else f"estimates of {_largest_terms(beta, terms)} may be infinite or unreliable. "
            "Check for separation (a level without events) or rescale covariates"
        )
        warnings.warn(
            f"Newton-Raphson did not converge in {max_iter} iterations (relative log-likelihood "
            f"change > {eps:g}); {running}.",
            ConvergenceWarning,
            stacklevel=3,
        )
    elif infinite:
        warnings.warn(
            f"the log-likelihood converged before the coefficient(s) of {infinite}; they may be "
            "infinite (monotone likelihood, e.g. a level with no events or a covariate that "
            "separates events from non-events). Do not report these hazard ratios; merge "
            "levels or drop the term.",
            ModelWarning,
            stacklevel=3,
        )
    return NewtonResult(
        beta=beta,
        loglik=float(new_loglik),
        loglik_init=float(loglik_init),
        score=score,
        information=info,
        variance=variance,
        score_test=score_test,
        iterations=iterations,
        converged=converged,
    )


def _evaluate(objective: Objective, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """``objective(beta)``; a division by zero in a compiled kernel (a risk set whose weights
    e^{xβ} all underflow on a wild trial step) counts as a non-finite value: the step halves."""
    try:
        return objective(beta)
    except ZeroDivisionError:
        nan = np.full(beta.shape[0], np.nan)
        return float("nan"), nan, np.outer(nan, nan)


def _cholesky(info: np.ndarray) -> tuple[np.ndarray, bool] | None:
    try:
        return scipy.linalg.cho_factor(info, lower=False, check_finite=True)
    except (np.linalg.LinAlgError, ValueError):
        return None


def _inverse(factor: tuple[np.ndarray, bool] | None, info: np.ndarray) -> np.ndarray:
    if factor is None:
        return np.full_like(info, np.nan)
    inverse = scipy.linalg.cho_solve(factor, np.eye(info.shape[0]))
    return (inverse + inverse.T) / 2.0


def singular_terms(info: np.ndarray, terms: Sequence[str]) -> list[str]:
    """Terms whose pivot in a Cholesky of the correlation-scaled information is ~0 (R cholesky2).

    In a set of collinear columns the later ones are named, as R sets their coefficients NA.
    """
    diag = np.diag(info).copy()
    bad = [terms[i] for i in np.flatnonzero(~(diag > 0))]
    scale = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 0.0)
    work = info * np.outer(scale, scale)
    p = len(terms)
    for i in range(p):
        if terms[i] in bad:
            continue
        pivot = work[i, i] - sum(work[k, i] ** 2 for k in range(i) if work[k, k] > 0)
        if pivot < CHOLESKY_TOLERANCE:
            bad.append(terms[i])
            work[i, :] = 0.0
            continue
        root = np.sqrt(pivot)
        work[i, i] = root
        for j in range(i + 1, p):
            work[i, j] = (
                work[i, j] - sum(work[k, i] * work[k, j] for k in range(i) if work[k, k] > 0)
            ) / root
    return bad


def _cholesky_or_raise(info: np.ndarray, terms: Sequence[str]) -> tuple[np.ndarray, bool]:
    bad = singular_terms(info, terms) if np.all(np.isfinite(info)) else list(terms)
    factor = _cholesky(info) if not bad else None
    if factor is None:
        raise ModelError(
            f"the information matrix is singular: term(s) {bad or list(terms)} are collinear "
            "with other terms or do not vary within the risk sets. Remove or merge them."
        )
    return factor


def _largest_terms(beta: np.ndarray, terms: Sequence[str]) -> list[str]:
    order = np.argsort(-np.abs(beta))
    return [terms[i] for i in order[: min(3, len(terms))]]


def _infinite_terms(
    beta: np.ndarray,
    score: np.ndarray,
    variance: np.ndarray,
    terms: Sequence[str],
    eps: float,
    toler_inf: float | None,
) -> list[str]:
    """R coxph.fit: |U·V| > eps and > toler.inf·|β| flags a coefficient that may be infinite
    (the remaining Newton step is still large relative to the coefficient itself)."""
    toler = np.sqrt(eps) if toler_inf is None else toler_inf
    with np.errstate(invalid="ignore"):
        remaining = np.abs(score @ variance)
        flagged = ~np.isfinite(score) | ((remaining > eps) & (remaining > toler * np.abs(beta)))
    return [terms[i] for i in np.flatnonzero(flagged)]
