"""The per-variable imputation models of chained equations: arrays in, imputed values out.

Each draws its parameters from their approximate posterior before imputing, so between-
imputation variance reflects parameter uncertainty ("proper" imputation, Rubin 1987 p. 167):
- ``pmm``: Bayesian linear regression draw (β*, σ*), then predictive mean matching: each
  missing row's β*-prediction is matched to the ``donors`` nearest β̂-predictions of observed
  rows and takes one donor's observed value (type-1 matching; van Buuren 2018, Flexible
  Imputation of Missing Data, 2nd ed., sec. 3.4, algorithm 3.3). Imputes observed values only.
- ``logistic`` / ``multinomial``: (multinomial) logit fitted by Newton–Raphson on the data
  augmented with 2·p·K pseudo-rows of total weight p + 1 (White, Daniel & Royston 2010,
  Comput Stat Data Anal 54:2267), which keeps the estimates finite under perfect prediction;
  β* ~ N(β̂, V̂), categories drawn from the predicted probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cohortcalc.imputation import _kernels

RIDGE = 1e-5  # relative ridge on XᵀX (as mice's estimice), for near-collinear predictors
SEPARATION_LIMIT = 10.0  # |β_j · sd(x_j)| above this: a category is (nearly) perfectly predicted
MAX_STEPS = 100  # Newton steps of a logit fit (those reusing an information matrix included)
REUSE_STEPS = 8  # consecutive steps one information matrix may serve
TOLERANCE = 1e-10  # converged: the next step's predicted gain <= this x |log-likelihood|


@dataclass(frozen=True)
class Logit:
    """A fitted (multinomial) logit: β̂ (q × K-1, per SD of each predictor) and its
    information matrix, where a next fit starts; ``columns``: which columns of the model
    matrix it used (``varying``), ``units`` their SDs (1 for the intercept), ``rows`` the
    number of rows it was fitted on."""

    beta: np.ndarray
    information: np.ndarray
    columns: np.ndarray
    units: np.ndarray
    rows: int


@dataclass(frozen=True)
class Draw:
    """Imputed values for the missing rows and, when the model was suspect, why."""

    values: np.ndarray
    problem: str | None = None
    estimate: Logit | None = None  # a converged logit: where the next iteration starts


def pmm(
    y: np.ndarray,
    x_obs: np.ndarray,
    x_mis: np.ndarray,
    rng: np.random.Generator,
    donors: int = 5,
    xtx: np.ndarray | None = None,
) -> Draw:
    """Predictive mean matching of the missing rows (``x_mis``) on the observed (``y``, ``x_obs``);
    ``x_*`` include the intercept column; ``xtx``: x_obsᵀx_obs where the caller keeps it (the
    chains update only the columns of re-imputed predictors)."""
    keep = varying(x_obs)
    if not keep.all():
        x_obs, x_mis = x_obs[:, keep], x_mis[:, keep]
        xtx = None if xtx is None else xtx[np.ix_(keep, keep)]
    n_obs, q = x_obs.shape
    xtx = _kernels.weighted_gram(x_obs, np.ones(n_obs)) if xtx is None else xtx.copy()
    xtx[np.diag_indices(q)] += RIDGE * np.diag(xtx)
    v = np.linalg.inv(xtx)
    v = (v + v.T) / 2.0
    coef = v @ _kernels.transpose_times(x_obs, y[:, None])[:, 0]
    predicted_obs = _kernels.times(x_obs, coef[:, None])[:, 0]
    residual = y - predicted_obs
    df = max(n_obs - q, 1)
    sigma = np.sqrt(np.sum(residual * residual) / rng.chisquare(df))
    beta = coef + sigma * (np.linalg.cholesky(v) @ rng.standard_normal(q))
    problem = None
    scale = np.sqrt(np.diag(xtx))
    if np.linalg.cond(xtx / np.outer(scale, scale)) > 1e12:  # on the correlation scale:
        # predictors in large units (Agatston scores) are not collinear for that
        problem = "predictors are (nearly) collinear; a ridge penalty kept the model estimable"
    predicted_mis = _kernels.times(x_mis, beta[:, None])[:, 0]
    return Draw(match_donors(predicted_obs, y, predicted_mis, rng, donors), problem)


def varying(x_obs: np.ndarray) -> np.ndarray:
    """Which columns to fit: the intercept and the predictors that vary among the observed
    rows. A predictor constant there (a rare flag set only where the variable is missing)
    has no estimable coefficient and is left out of this fit, as mice's ``remove.lindep``
    does."""
    predictors = x_obs[:, 1:]
    return np.concatenate([[True], predictors.min(axis=0) < predictors.max(axis=0)])


def match_donors(
    predicted_obs: np.ndarray,
    y_obs: np.ndarray,
    predicted_mis: np.ndarray,
    rng: np.random.Generator,
    donors: int,
) -> np.ndarray:
    """For each missing row, the observed value of one of the ``donors`` observed rows whose
    predictions are nearest its own, chosen with equal probability (ties broken by order)."""
    donors = min(donors, len(y_obs))
    order = np.argsort(predicted_obs, kind="stable")
    sorted_pred = predicted_obs[order]
    position = np.searchsorted(sorted_pred, predicted_mis)
    width = min(2 * donors, len(order))
    start = np.clip(position - donors, 0, len(order) - width)
    window = start[:, None] + np.arange(width)[None, :]
    distance = np.abs(sorted_pred[window] - predicted_mis[:, None])
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :donors]
    pick = nearest[np.arange(len(predicted_mis)), rng.integers(0, donors, len(predicted_mis))]
    return y_obs[order[window[np.arange(len(predicted_mis)), pick]]]


def multinomial(
    codes: np.ndarray,
    n_levels: int,
    x_obs: np.ndarray,
    x_mis: np.ndarray,
    rng: np.random.Generator,
    start: Logit | None = None,
) -> Draw:
    """Draw category codes 0..n_levels-1 for the missing rows (logistic when n_levels = 2);
    ``start``: the previous iteration's fit (its information then serves the Newton steps,
    and one information matrix is evaluated instead of four).

    The predictors are divided by their SDs first (the same model; β is on that scale, as is
    ``start``): predictors in large units (Agatston scores) otherwise leave an information
    matrix too ill-conditioned to invert, though nothing is collinear."""
    fit, converged = logit(codes, n_levels, x_obs, start)
    beta, info = fit.beta, fit.information
    x_mis = x_mis[:, fit.columns] / fit.units
    q = beta.shape[0]
    problem = None if converged else f"the (multinomial) logit did not converge ({MAX_STEPS} steps)"
    try:
        chol = np.linalg.cholesky(np.linalg.inv(info))
    except np.linalg.LinAlgError:
        chol = None
        problem = (
            "the (multinomial) logit's information matrix is singular; imputed from the "
            "observed category shares, ignoring the predictors"
        )
    if chol is None:
        return Draw(_unconditional(codes, n_levels, len(x_mis), rng), problem)
    draw = draw_parameters(beta, chol, rng)
    if problem is None:  # β is per SD already
        scaled = np.abs(beta[1:, :]) if q > 1 else np.zeros((0, 1))
        if scaled.size and scaled.max() > SEPARATION_LIMIT:
            problem = (
                "a predictor (nearly) perfectly separates its categories (|coefficient x SD| = "
                f"{scaled.max():.3g}); augmentation kept it finite"
            )
    probabilities = _softmax(_kernels.times(x_mis, draw))
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(x_mis))
    imputed = np.minimum((u[:, None] > cumulative).sum(axis=1), n_levels - 1)
    return Draw(imputed, problem, fit if converged else None)


def logit(
    codes: np.ndarray, n_levels: int, x_obs: np.ndarray, start: Logit | None = None
) -> tuple[Logit, bool]:
    """The (multinomial) logit of ``codes`` on ``x_obs`` (intercept first) as ``multinomial``
    fits it: predictors constant in these rows left out, the others per SD, the data
    augmented; and whether Newton converged. ``start`` serves if it used the same columns."""
    keep = varying(x_obs)
    x = x_obs[:, keep] if not keep.all() else x_obs
    if start is not None and not np.array_equal(start.columns, keep):
        start = None  # another predictor is constant in these rows now
    elif start is not None and start.rows != len(codes):  # information is a sum over rows
        start = replace(start, information=start.information * (len(codes) / start.rows))
    units = np.concatenate([[1.0], x[:, 1:].std(axis=0)])
    x_aug, y_aug, w_aug = _augment(x / units, codes, n_levels)
    beta, info, converged = _newton(x_aug, y_aug, w_aug, n_levels, start)
    return Logit(beta, info, keep, units, len(codes)), converged


def draw_parameters(beta: np.ndarray, chol: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """β* ~ N(β̂, V̂) for a q × (K-1) β̂ whose V̂ = chol cholᵀ stacks the parameters category
    by category (column-major), as ``_newton``'s information does."""
    return beta + (chol @ rng.standard_normal(chol.shape[0])).reshape(beta.shape, order="F")


def _unconditional(codes, n_levels, n, rng) -> np.ndarray:
    """Fallback when a logit cannot be fitted: draws from the observed category shares."""
    shares = np.bincount(codes, minlength=n_levels) / len(codes)
    return rng.choice(n_levels, size=n, p=shares)


def _augment(x: np.ndarray, codes: np.ndarray, n_levels: int):
    """White, Daniel & Royston (2010) pseudo-rows: each predictor at mean ± sd/2 (within its
    range, others at their means), once per category, total weight p + 1."""
    predictors = x[:, 1:]
    p = predictors.shape[1]
    if p == 0:
        return x, codes, np.ones(len(codes))
    mean, sd = predictors.mean(axis=0), predictors.std(axis=0, ddof=1)
    rows = np.repeat(mean[None, :], 2 * p * n_levels, axis=0)
    offsets = np.tile([0.5, -0.5], n_levels)
    for j in range(p):
        block = slice(2 * n_levels * j, 2 * n_levels * (j + 1))
        rows[block, j] += offsets * sd[j]
    rows = np.clip(rows, predictors.min(axis=0), predictors.max(axis=0))
    pseudo_codes = np.tile(np.repeat(np.arange(n_levels), 2), p)
    weight = (p + 1) / len(rows)
    x_aug = np.vstack([x, np.column_stack([np.ones(len(rows)), rows])])
    return (
        x_aug,
        np.concatenate([codes, pseudo_codes]),
        np.concatenate([np.ones(len(codes)), np.full(len(rows), weight)]),
    )


def _softmax(eta: np.ndarray) -> np.ndarray:
    """Category probabilities from linear predictors of categories 1..K-1 (0 the reference)."""
    full = np.column_stack([np.zeros(len(eta)), eta])
    full -= full.max(axis=1, keepdims=True)
    exp = np.exp(full)
    return exp / exp.sum(axis=1, keepdims=True)


def _newton(x: np.ndarray, codes: np.ndarray, w: np.ndarray, n_levels: int, start: Logit | None):
    """Weighted (multinomial) logit MLE: β̂ (q × K-1), its information ((q·(K-1))², parameters
    category by category), converged.

    Newton–Raphson that keeps an information matrix H for up to ``REUSE_STEPS`` steps (once
    a step with a new H predicts a gain ½ sᵀH⁻¹s ≤ 1, or from the previous fit), evaluating
    it anew when a step with a kept H lowers the log-likelihood: the chord or simplified
    Newton method (Ortega & Rheinboldt 1970, Iterative Solution of Nonlinear Equations,
    sec. 7.1). In chained equations each fit
    starts from the previous iteration's β̂ and H on data changed a little: a few score
    evaluations, O(n·q·K), replace the O(n·q²·K²) information evaluations that dominated.
    Converged when, with H evaluated at β, the next step's predicted gain is at most
    ``TOLERANCE``·|log-likelihood|; that step is taken and H (at β) returned."""
    q, k = x.shape[1], n_levels - 1
    beta = np.zeros((q, k)) if start is None else start.beta.copy()
    info = None if start is None else start.information
    fresh, reused = False, 0  # info evaluated at this β; steps made with it since
    before: tuple[np.ndarray, float] | None = None  # (β, loglik) before a reused-H step
    for _ in range(MAX_STEPS):
        loglik, score_matrix, prob = _kernels.logit_score(x, beta, codes, w)
        if before is not None and loglik < before[1]:  # the reused H overshot: back, evaluate
            beta, before, info = before[0], None, None
            continue
        if info is None or (not fresh and reused >= REUSE_STEPS):
            info, fresh, reused = _information(x, prob, w), True, 0
        score = score_matrix.reshape(-1, order="F")
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            if not fresh:
                info = None
                continue
            return beta, info, False
        gain = 0.5 * float(score @ step)
        if gain <= TOLERANCE * (abs(loglik) + 1e-10):
            if fresh:
                return beta + step.reshape((q, k), order="F"), info, True
            info = None  # confirm with the information at this β
            continue
        before = (beta, loglik) if not fresh else None
        beta = beta + step.reshape((q, k), order="F")
        if fresh and gain > 1.0:
            info = None  # far from the maximum: a new H at the next β
        else:
            fresh, reused = False, reused + 1
    return beta, _information(x, _kernels.logit_score(x, beta, codes, w)[2], w), False


def _information(x: np.ndarray, prob: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fisher information of the multinomial logit, parameters stacked category by category."""
    q, k = x.shape[1], prob.shape[1]
    info = np.empty((q * k, q * k))
    for a in range(k):
        for b in range(a, k):
            weight = w * prob[:, a] * ((a == b) - prob[:, b])
            block = _kernels.weighted_gram(x, weight)
            info[a * q : (a + 1) * q, b * q : (b + 1) * q] = block
            info[b * q : (b + 1) * q, a * q : (a + 1) * q] = block.T
    return info
