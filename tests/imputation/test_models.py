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


def test_weighted_gram_adds_rows_in_order_bit_for_bit() -> None:
    """The compiled Xᵀ diag(w) X (rows taken eight at a time) equals, bit for bit, the sum
    over rows one at a time in order, (w_i x_ia) x_ib added to each element; zero weights
    skipped; every remainder of the eight-row blocks."""
    from cohortcalc.imputation._kernels import weighted_gram

    rng = np.random.default_rng(5)
    for n in (1, 7, 8, 9, 37):
        x = rng.standard_normal((n, 4)) * 10.0 ** rng.integers(-3, 4, size=(n, 4))
        w = rng.random(n)
        w[::3] = 0.0
        expected = np.zeros((4, 4))
        for i in range(n):
            for a in range(4):
                for b in range(4):
                    if w[i] != 0.0:
                        expected[a, b] += (w[i] * x[i, a]) * x[i, b]
        got = weighted_gram(x, w)
        assert np.array_equal(got[np.triu_indices(4)], expected[np.triu_indices(4)])
        assert np.array_equal(got, got.T)


def test_models_do_not_depend_on_the_units_of_a_predictor() -> None:
    """The same predictor in units 10⁴ times larger: the multinomial draws the same codes and
    flags nothing (its information was too ill-conditioned to invert before predictors were
    put on the SD scale), PMM neither calls it collinear; a predictor constant in the observed
    rows is left out of the fit instead of making XᵀX singular."""
    rng = np.random.default_rng(8)
    n = 3000
    x = rng.normal(size=(n, 2))
    eta = np.column_stack([0.8 * x[:, 0], -0.5 * x[:, 1] + 0.3])
    p = np.exp(np.column_stack([np.zeros(n), eta]))
    codes = (rng.random(n)[:, None] > np.cumsum(p / p.sum(1, keepdims=True), 1)).sum(1)
    observed = rng.random(n) > 0.2
    design = np.column_stack([np.ones(n), x, np.where(observed, 0.0, rng.random(n) < 0.5)])
    big = design * np.array([1.0, 1e4, 1.0, 1.0])
    draws = []
    for d in (design, big):
        draw = models.multinomial(codes[observed], 3, d[observed], d[~observed],
                                  np.random.default_rng(2))  # fmt: skip
        assert draw.problem is None
        draws.append(draw.values)
    assert np.array_equal(draws[0], draws[1])
    y = x[:, 0] * 2.0 + rng.normal(size=n)
    pmm = models.pmm(y[observed], big[observed], big[~observed], np.random.default_rng(2))
    assert pmm.problem is None and np.isin(pmm.values, y[observed]).all()


def _logit_data(seed: int, n: int = 2000):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    eta = np.column_stack([np.zeros(n), x @ [0.2, 1.0, -0.5, 0.0], x @ [-0.4, 0.3, 0.8, 1.5]])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    codes = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    return x, codes, np.ones(n)


def test_newton_from_a_previous_fit_reaches_the_same_maximum(monkeypatch) -> None:
    """Started from the fit on slightly different data (as in the next chained-equations
    iteration), Newton keeps that information matrix and evaluates it once, at the end; the
    estimate equals the fit from zero to 1e-6 of a standard error. Given an information 10x
    too small (steps 10x too long, the log-likelihood falls), it evaluates anew and still
    arrives there."""
    x, codes, w = _logit_data(3)
    x_before = x.copy()
    x_before[::5, 1] += 0.3  # the previous iteration's values of a re-imputed predictor
    beta0, info0, converged = models._newton(x_before, codes, w, 3, None)
    assert converged
    cold, cold_info, _ = models._newton(x, codes, w, 3, None)
    se = np.sqrt(np.diag(np.linalg.inv(cold_info))).reshape(cold.shape, order="F")
    evaluations = []
    information = models._information
    monkeypatch.setattr(models, "_information", lambda *a: evaluations.append(1) or information(*a))
    warm, _, converged = models._newton(
        x, codes, w, 3, models.Logit(beta0, info0, np.ones(4, bool), np.ones(4), len(codes))
    )
    assert converged and len(evaluations) == 1
    assert np.all(np.abs(warm - cold) <= 1e-6 * se)
    evaluations.clear()
    wrong, _, converged = models._newton(
        x, codes, w, 3, models.Logit(beta0, info0 / 10, np.ones(4, bool), np.ones(4), len(codes))
    )
    assert converged and len(evaluations) >= 2
    assert np.all(np.abs(wrong - cold) <= 1e-6 * se)


def test_pmm_gram_kept_by_the_chains_equals_the_gram_recomputed() -> None:
    """A PMM target's XᵀX, updated column block by column block as its predictors are
    re-imputed, is bit for bit the XᵀX of the updated matrix."""
    from cohortcalc.imputation._kernels import gram_rows, weighted_gram
    from cohortcalc.imputation.chained import Variable, _Design, block

    rng = np.random.default_rng(4)
    n = 301
    miss = rng.random(n) < 0.3
    values = {"a": rng.normal(size=n) * 1e3, "b": rng.integers(0, 3, n).astype(float)}
    y = Variable("y", np.where(miss, np.nan, rng.normal(size=n)), "pmm", predictors=("a", "b"))
    variables = {"a": Variable("a", values["a"], ""), "b": Variable("b", values["b"], "", 3)}
    blocks = {k: block(v, values[k]) for k, v in variables.items()}
    design = _Design(y, blocks, miss)
    for name, new in (("b", rng.integers(0, 3, n).astype(float)), ("a", rng.normal(size=n))):
        design.update(name, block(variables[name], new))
    expected = weighted_gram(design.observed, np.ones(len(design.observed)))
    assert design.gram is not None and np.array_equal(design.gram, expected)
    assert np.array_equal(gram_rows(design.observed, 1, 3), expected[1:3])
