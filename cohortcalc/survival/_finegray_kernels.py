"""Compiled row passes of the Fine–Gray engine (numba, cached). Called only from
``finegray_riskset.py``, on rows sorted by (stratum, time) and split into chunks whose
boundaries fall between bins, so no two threads ever write the same bin.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def risk_bins(
    x: np.ndarray,
    beta: np.ndarray,
    weights: np.ndarray,
    row_bin: np.ndarray,
    inverse_g: np.ndarray,
    chunk_start: np.ndarray,
    n_bins: int,
    first_moment: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rᵢ = wᵢe^{xᵢβ}; per bin Σ rᵢ(1, xᵢ) over all rows and Σ rᵢ(1, xᵢ)/G(Tᵢ-) over the
    competing ones (`inverse_g` is 0 for the others). Width 1 + p, or 1 without x."""
    n, p = x.shape
    width = 1 + p if first_moment else 1
    risk = np.empty(n)
    every = np.zeros((n_bins, width))
    competing = np.zeros((n_bins, width))
    for c in prange(chunk_start.shape[0] - 1):
        for i in range(chunk_start[c], chunk_start[c + 1]):
            eta = 0.0
            for j in range(p):
                eta += x[i, j] * beta[j]
            r = weights[i] * math.exp(eta)
            risk[i] = r
            b = row_bin[i]
            every[b, 0] += r
            rc = r * inverse_g[i]
            if rc != 0.0:
                competing[b, 0] += rc
            if first_moment:
                for j in range(p):
                    every[b, 1 + j] += r * x[i, j]
                    if rc != 0.0:
                        competing[b, 1 + j] += rc * x[i, j]
    return risk, every, competing


@njit(cache=True, parallel=True)
def residual_cross_products(
    x: np.ndarray,
    weights: np.ndarray,
    status: np.ndarray,
    row_bin: np.ndarray,
    exp_eta: np.ndarray,
    competing: np.ndarray,
    per_bin_scalars: np.ndarray,
    per_bin_vectors: np.ndarray,
    chunk_start: np.ndarray,
) -> np.ndarray:
    """Σ wᵢUᵢUᵢᵀ with Uᵢ = xᵢαᵢ + per-bin terms (see `finegray_riskset.sandwich_meat`).

    per_bin_scalars[:, 0:2] = Λ(t), Σ_{s>t}G(s-)dΛ(s); per_bin_vectors[k] stacks x̄, the
    cumulative Σ dΛ x̄, Σ_{s>t} G dΛ x̄, q/Y and the censoring compensator, each (bins, p).
    `status` is 0 censored, 1 cause, 2 competing; `competing` is e^{xβ}/G(Tᵢ-) or 0.
    """
    p = x.shape[1]
    n_chunks = chunk_start.shape[0] - 1
    partial = np.zeros((n_chunks, p, p))
    xbar, cum_x, after_x, q_over_y, compensator = (
        per_bin_vectors[0],
        per_bin_vectors[1],
        per_bin_vectors[2],
        per_bin_vectors[3],
        per_bin_vectors[4],
    )
    for c in prange(n_chunks):
        u = np.empty(p)
        for i in range(chunk_start[c], chunk_start[c + 1]):
            b = row_bin[i]
            cause = 1.0 if status[i] == 1 else 0.0
            censored = 1.0 if status[i] == 0 else 0.0
            e = exp_eta[i]
            g = competing[i]
            alpha = cause - e * per_bin_scalars[b, 0] - g * per_bin_scalars[b, 1]
            for j in range(p):
                u[j] = (
                    x[i, j] * alpha
                    - cause * xbar[b, j]
                    + e * cum_x[b, j]
                    + g * after_x[b, j]
                    + censored * q_over_y[b, j]
                    - compensator[b, j]
                )
            w = weights[i]
            for j in range(p):
                wu = w * u[j]
                for k in range(j, p):
                    partial[c, j, k] += wu * u[k]
    out = partial.sum(axis=0)
    for j in range(p):
        for k in range(j):
            out[j, k] = out[k, j]
    return out
