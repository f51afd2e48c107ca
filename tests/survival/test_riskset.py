"""The array engine against a direct (quadratic) evaluation of the partial likelihood, and its
internal paths against each other (lookup table vs search, BLAS vs rank-one, 1 vs 2 threads)."""

from __future__ import annotations

import numpy as np
import pytest

from cohortcalc.survival import _kernels
from cohortcalc.survival.riskset import (
    CoxLikelihood,
    prepare_risk_sets,
    risk_set_sums,
    score_residuals_by_cluster,
)


def direct_partial_likelihood(x, time, event, beta, *, strata, entry, weights, efron):
    """log-lik, score, information summed over risk sets built row by row (Efron 1977)."""
    p = x.shape[1]
    risk = weights * np.exp(x @ beta)
    loglik, score, info = 0.0, np.zeros(p), np.zeros((p, p))
    for s in np.unique(strata):
        for t in np.unique(time[event & (strata == s)]):
            at_risk = (strata == s) & (entry < t) & (time >= t)
            dead = at_risk & event & (time == t)
            m, dw = dead.sum(), weights[dead].sum()
            s0, s1 = risk[at_risk].sum(), risk[at_risk] @ x[at_risk]
            s2 = (x[at_risk] * risk[at_risk, None]).T @ x[at_risk]
            d0, d1 = risk[dead].sum(), risk[dead] @ x[dead]
            d2 = (x[dead] * risk[dead, None]).T @ x[dead]
            loglik += weights[dead] @ (x[dead] @ beta)
            score += weights[dead] @ x[dead]
            terms = m if efron else 1
            for j in range(terms):
                c = j / m if efron else 0.0
                den = s0 - c * d0
                mean = (s1 - c * d1) / den
                loglik -= dw / terms * np.log(den)
                score -= dw / terms * mean
                info += dw / terms * ((s2 - c * d2) / den - np.outer(mean, mean))
    return loglik, score, info


def example(n: int, seed: int, *, delayed: bool, distinct: int):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.normal(2, 1, n)])
    time = rng.integers(1, distinct + 1, n).astype(float)
    entry = np.where(rng.random(n) < 0.5, rng.integers(0, distinct, n), 0).astype(float)
    entry = np.minimum(entry, time - 1) if delayed else np.full(n, -np.inf)
    return {
        "x": x,
        "time": time,
        "event": rng.random(n) < 0.5,
        "strata": rng.integers(0, 2, n),
        "entry": entry,
        "weights": rng.uniform(0.5, 2.0, n),
    }


@pytest.mark.parametrize("efron", [True, False])
@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("distinct", [4, 200])  # big tied blocks (BLAS) and small ones
def test_engine_equals_direct_evaluation(efron: bool, delayed: bool, distinct: int) -> None:
    d = example(400, 1, delayed=delayed, distinct=distinct)
    beta = np.array([0.3, -0.4, 0.2])
    expected = direct_partial_likelihood(
        d["x"],
        d["time"],
        d["event"],
        beta,
        strata=d["strata"],
        entry=d["entry"],
        weights=d["weights"],
        efron=efron,
    )
    index = prepare_risk_sets(
        d["time"],
        d["event"],
        strata=d["strata"],
        entry=d["entry"] if delayed else None,
        weights=d["weights"],
    )
    likelihood = CoxLikelihood.build(d["x"].copy(), index, efron=efron)
    loglik, score, info = likelihood(beta)
    assert loglik == pytest.approx(expected[0], rel=1e-12)
    np.testing.assert_allclose(score, expected[1], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(info, expected[2], rtol=1e-10, atol=1e-10)


def test_lookup_table_and_binary_search_give_the_same_bins() -> None:
    d = example(500, 2, delayed=True, distinct=50)
    integer = prepare_risk_sets(d["time"], d["event"], strata=d["strata"], entry=d["entry"])
    scaled = prepare_risk_sets(  # x 0.5: not integers, so the search path
        d["time"] * 0.5, d["event"], strata=d["strata"], entry=d["entry"] * 0.5
    )
    np.testing.assert_array_equal(integer.rows, scaled.rows)
    np.testing.assert_array_equal(integer.stop_bin, scaled.stop_bin)
    np.testing.assert_array_equal(integer.entry_bin, scaled.entry_bin)
    np.testing.assert_array_equal(integer.bin_time * 0.5, scaled.bin_time)


def test_huge_integral_times_take_the_search_path_with_the_same_bins() -> None:
    """A whole-number time beyond int64 (1e19) must not overflow the lookup-table range."""
    d = example(300, 1, delayed=False, distinct=40)
    last = int(np.argmax(d["time"]))
    huge = d["time"].copy()
    huge[last] = 1e19  # still the largest time: the risk sets are unchanged
    assert _kernels.integer_range(huge)[0] is False
    plain = prepare_risk_sets(d["time"], d["event"])
    moved = prepare_risk_sets(huge, d["event"])
    np.testing.assert_array_equal(plain.rows, moved.rows)
    np.testing.assert_array_equal(plain.stop_bin, moved.stop_bin)
    assert (plain.bin_time[:-1] == moved.bin_time[:-1]).all()


def test_rows_never_at_risk_are_left_out() -> None:
    time = np.array([1.0, 2.0, 3.0, 0.5, 5.0])
    event = np.array([False, True, True, False, False])
    entry = np.array([0.0, 0.0, 0.0, 0.0, 3.5])  # row 4 enters after the last event time
    index = prepare_risk_sets(time, event, entry=entry)
    assert sorted(index.rows.tolist()) == [1, 2]  # rows 0 and 3 leave before the first event
    np.testing.assert_array_equal(index.bin_time, [2.0, 3.0])


def test_thread_count_does_not_change_the_sums() -> None:
    d = example(3000, 3, delayed=True, distinct=30)
    index = prepare_risk_sets(d["time"], d["event"], strata=d["strata"], entry=d["entry"])
    likelihood = CoxLikelihood.build(d["x"].copy(), index, efron=True)
    beta = np.array([0.1, 0.2, -0.3])
    entry_bin = index.entry_bin
    one = _kernels.bin_sums(
        likelihood.matrix,
        beta,
        index.bin_start,
        index.bin_events_end,
        entry_bin,
        index.weights,
        True,
        1,
    )
    two = _kernels.bin_sums(
        likelihood.matrix,
        beta,
        index.bin_start,
        index.bin_events_end,
        entry_bin,
        index.weights,
        True,
        2,
    )
    np.testing.assert_array_equal(one[0], two[0])
    via_api = risk_set_sums(likelihood.matrix, beta, index, events=True)
    np.testing.assert_array_equal(via_api[1], one[1])


@pytest.mark.parametrize("efron", [True, False])
def test_score_residuals_sum_to_the_score(efron: bool) -> None:
    d = example(600, 4, delayed=True, distinct=40)
    index = prepare_risk_sets(
        d["time"], d["event"], strata=d["strata"], entry=d["entry"], weights=d["weights"]
    )
    likelihood = CoxLikelihood.build(d["x"].copy(), index, efron=efron)
    beta = np.array([0.2, -0.1, 0.05])
    _, score, _ = likelihood(beta)
    clusters = np.arange(600) % 7
    by_cluster = score_residuals_by_cluster(likelihood, beta, clusters, 7)
    np.testing.assert_allclose(by_cluster.sum(axis=0), score, rtol=1e-10, atol=1e-10)


def test_information_is_the_derivative_of_the_score() -> None:
    d = example(500, 5, delayed=False, distinct=20)
    index = prepare_risk_sets(d["time"], d["event"], strata=d["strata"], weights=d["weights"])
    likelihood = CoxLikelihood.build(d["x"].copy(), index, efron=True)
    beta, h = np.array([0.3, 0.1, -0.2]), 1e-6
    _, _, info = likelihood(beta)
    for k in range(3):
        step = np.eye(3)[k] * h
        numeric = (likelihood(beta + step)[1] - likelihood(beta - step)[1]) / (2 * h)
        np.testing.assert_allclose(-numeric, info[:, k], rtol=1e-6, atol=1e-8)
