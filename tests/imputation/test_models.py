"""The imputation models on arrays: parameter draws and calibrated category draws."""

from __future__ import annotations

import numpy as np

from cohortcalc.imputation import models


def test_parameter_draws_have_the_stacked_covariance() -> None:
    """vec(β*) by category (column-major) has covariance V̂; 4 sampling SDs of a covariance."""
    rng = np.random.default_rng(1)
    q, k, draws = 3, 2, 4000
    a = rng.normal(size=(q * k, q * k))
    covariance = a @ a.T / (q * k) + np.diag(np.arange(1.0, q * k + 1))
    beta = rng.normal(size=(q, k))
    chol = np.linalg.cholesky(covariance)
    sample = np.array(
        [models.draw_parameters(beta, chol, rng).reshape(-1, order="F") for _ in range(draws)]
    )
    np.testing.assert_allclose(sample.mean(axis=0), beta.reshape(-1, order="F"),
                               atol=4 * np.sqrt(np.diag(covariance).max() / draws))  # fmt: skip
    observed = np.cov(sample, rowvar=False)
    variances = np.diag(covariance)
    sampling_sd = np.sqrt((np.outer(variances, variances) + covariance**2) / draws)
    assert np.all(np.abs(observed - covariance) <= 4 * sampling_sd)


def test_multinomial_draws_follow_the_true_category_probabilities() -> None:
    """Categories b, c vs a with logits 0.3 + x and -0.5 + 2x: the imputed shares of each
    category among missing rows with x > 0.5 match the mean true probability, within 4 SDs
    of the imputed share over 40 imputations."""
    rng = np.random.default_rng(7)
    n = 4000
    x = rng.normal(size=n)
    eta = np.column_stack([np.zeros(n), 0.3 + x, -0.5 + 2 * x])
    prob = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    codes = (rng.random(n)[:, None] > prob.cumsum(axis=1)).sum(axis=1)
    missing = rng.random(n) < 0.4
    design = np.column_stack([np.ones(n), x])
    high = x[missing] > 0.5
    shares = []
    for _ in range(40):
        draw = models.multinomial(codes[~missing], 3, design[~missing], design[missing], rng)
        assert draw.problem is None
        shares.append(np.bincount(draw.values[high], minlength=3) / high.sum())
    shares = np.array(shares)
    expected = prob[missing][high].mean(axis=0)
    assert np.all(np.abs(shares.mean(axis=0) - expected) <= 4 * shares.std(axis=0, ddof=1))
