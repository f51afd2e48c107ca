"""Compiled products of the imputation models (numba, cached). Called only from ``models.py``.

Single-threaded loops rather than BLAS: the chains already run in parallel processes, a
multi-threaded BLAS on a shared machine slows the tall-skinny products of these models
by 50x, and a fixed summation order keeps imputations byte-reproducible.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def weighted_gram(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Xᵀ diag(w) X."""
    n, q = x.shape
    out = np.zeros((q, q))
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        for a in range(q):
            xa = wi * x[i, a]
            for b in range(a, q):
                out[a, b] += xa * x[i, b]
    for a in range(q):
        for b in range(a):
            out[a, b] = out[b, a]
    return out


@njit(cache=True)
def transpose_times(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Xᵀ Y for Y of shape (n, k)."""
    n, q = x.shape
    k = y.shape[1]
    out = np.zeros((q, k))
    for i in range(n):
        for a in range(q):
            xa = x[i, a]
            for c in range(k):
                out[a, c] += xa * y[i, c]
    return out


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
