"""Compiled products of the imputation models (numba, cached), for ``models.py`` and
``chained.py``.

Single-threaded loops rather than BLAS: the chains already run in parallel processes, a
multi-threaded BLAS on a shared machine slows the tall-skinny products of these models
by 50x, and a fixed summation order keeps imputations byte-reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cohortcalc._sums import add_outer_rows


@njit(cache=True)
def weighted_gram(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Xᵀ diag(w) X, each element summed over the rows in order (row i adds (w_i x_ia) x_ib),
    rows with w_i = 0 skipped; rows are taken eight at a time (``_sums.add_outer_rows``)."""
    n, q = x.shape
    out = np.zeros((q, q))
    wx = np.empty((8, q))
    xx = np.empty((8, q))
    i = 0
    while i < n:
        k = 0
        while k < 8 and i < n:
            if w[i] != 0.0:
                for a in range(q):
                    wx[k, a] = w[i] * x[i, a]
                    xx[k, a] = x[i, a]
                k += 1
            i += 1
        add_outer_rows(out, wx, xx, k)
    for a in range(q):
        for b in range(a):
            out[a, b] = out[b, a]
    return out


@njit(cache=True)
def gram_rows(x: np.ndarray, first: int, last: int) -> np.ndarray:
    """Rows first..last-1 of XᵀX: element (r, b) is the sum over the rows of x_ir x_ib in row
    order, bit for bit what ``weighted_gram(x, 1)`` holds there (a product of two numbers
    does not depend on their order)."""
    n, q = x.shape
    out = np.zeros((last - first, q))
    for i in range(n):
        for r in range(first, last):
            xr = x[i, r]
            for b in range(q):
                out[r - first, b] += xr * x[i, b]
    return out


@njit(cache=True)
def transpose_times(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Xᵀ Y for Y of shape (n, k); each element summed over the rows in order (one column of
    Y at a time: the loop over X's columns then runs over contiguous memory)."""
    n, q = x.shape
    k = y.shape[1]
    out = np.zeros((k, q))
    for c in range(k):
        for i in range(n):
            yc = y[i, c]
            for a in range(q):
                out[c, a] += x[i, a] * yc
    return out.T.copy()


@njit(cache=True)
def times(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """X B for B of shape (q, k)."""
    n, q = x.shape
    k = beta.shape[1]
    out = np.zeros((n, k))
    for i in range(n):
        for c in range(k):
            total = 0.0
            for a in range(q):
                total += x[i, a] * beta[a, c]
            out[i, c] = total
    return out


@njit(cache=True)
def logit_score(
    x: np.ndarray, beta: np.ndarray, codes: np.ndarray, w: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """A multinomial logit at β (q × K-1; category 0 the reference) in one pass over the rows:
    the weighted log-likelihood, the score Xᵀ diag(w) (Y - P) and P (categories 1..K-1)."""
    n, q = x.shape
    k = beta.shape[1]
    prob = np.empty((n, k))
    score = np.zeros((k, q))  # category by category: the loop over X's columns is contiguous
    exp_eta = np.empty(k + 1)
    loglik = 0.0
    for i in range(n):
        top = 0.0
        exp_eta[0] = 0.0
        for c in range(k):
            total = 0.0
            for a in range(q):
                total += x[i, a] * beta[a, c]
            exp_eta[c + 1] = total
            top = max(top, total)
        denominator = 0.0
        for c in range(k + 1):
            exp_eta[c] = np.exp(exp_eta[c] - top)
            denominator += exp_eta[c]
        loglik += w[i] * np.log(max(exp_eta[codes[i]] / denominator, 1e-300))
        for c in range(k):
            p = exp_eta[c + 1] / denominator
            prob[i, c] = p
            residual = w[i] * ((1.0 if codes[i] == c + 1 else 0.0) - p)
            for a in range(q):
                score[c, a] += x[i, a] * residual
    return loglik, score.T.copy(), prob
