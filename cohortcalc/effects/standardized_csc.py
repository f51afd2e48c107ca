"""Standardised cumulative incidence from two cause-specific Cox fits (the cause and its
competing event), with its influence function, as ``riskRegression::ate`` on a ``CSC`` fit.

For row i with exposure set to a, dΛ_ci = r_ci dΛ0c (c = 1 the cause, 2 the competing event)
over the union grid of both fits' event times, S_i(u−) = Π_{v<u} (1 − dΛ_1i(v) − dΛ_2i(v))
(product limit, as ``predict.CauseSpecificCox``) and F_i(t) = Σ_{u≤t} S_i(u−) dΛ_1i(u). A
perturbation of the hazards moves F_i(t) by Σ_v W_ci(v) δdΛ_ci(v) with
W_1i(v) = S_i(v−) − R_i(v), W_2i(v) = −R_i(v), R_i(v) = (F_i(t) − F_i(v)) / (1 − dΛ_i(v));
δdΛ_ci = r_ci (δdΛ0c + dΛ0c (x_ci − c)ᵀ δβ_c), and the influence of dΛ0c and β̂_c is the one of
``standardized_cox.py`` (Breslow/Efron martingale terms, score residuals). Var = Σ IF²/n².
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from cohortcalc.effects.standardized_cox import _check_follow_up, _matching_rows, _Pieces
from cohortcalc.errors import ModelError

_CHUNK_CELLS = 4_000_000  # rows x grid times held at once (32 MB per array)


def csc_standardized(
    fit: Any,
    competing: Any,
    data: pl.DataFrame,
    exposure: str,
    levels: list[Any],
    horizons: tuple[float, ...],
) -> tuple[tuple[np.ndarray, np.ndarray], int, str]:
    """(risk levels x times, covariance times x levels x levels), rows used, method text."""
    from cohortcalc.effects.standardized import coded, set_exposure

    _check_pair(fit, competing)
    causes, settings, used = [], [], None
    for model in (fit, competing):
        rows = coded(model, model.fit_data.design, data, ())
        mine = _matching_rows(model, model.fit_data, data, rows.missing)
        if used is not None and not np.array_equal(mine, used):
            raise ModelError(
                "the two cause-specific fits used different rows of the frame (a covariate "
                "missing in one only); fit both on the same complete rows."
            )
        used = mine
        pieces = _Pieces.build(model, rows.matrix[mine], np.zeros(int(mine.sum()), np.int64))
        _check_follow_up(model, model.fit_data, pieces.base, pieces.stratum, horizons)
        causes.append(pieces)
        per_level = []
        for level in levels:
            matrix = coded(model, model.fit_data.design, set_exposure(data, exposure, level), ())
            shifted = matrix.matrix[mine] - pieces.base.center
            per_level.append((shifted, np.exp(shifted @ model.fit_data.beta)))
        settings.append(per_level)
    if np.any(fit.fit_data.event & competing.fit_data.event):
        raise ModelError(
            f"rows are events in both {fit.event!r} and {competing.event!r}; the competing "
            "fit's event must be the other cause (each row has at most one first event)."
        )
    n = causes[0].n
    risk = np.empty((len(levels), len(horizons)))
    influence = np.empty((len(horizons), n, len(levels)))
    for a in range(len(levels)):
        pair = [settings[0][a], settings[1][a]]
        risk[a], influence[:, :, a] = _influence(causes, pair, horizons)
    cov = np.einsum("kia,kib->kab", influence, influence) / n**2
    method = (
        f"g-computation from cause-specific Cox fits of {fit.event!r} and {competing.event!r} "
        f"({fit.ties}); product-limit cumulative incidence and influence-function SEs as "
        "riskRegression::ate on a CSC fit"
    )
    return (risk, cov), n, method


def _check_pair(fit: Any, competing: Any) -> None:
    from cohortcalc.survival.results import CoxResult

    if not isinstance(competing, CoxResult):
        raise ModelError(
            f"competing= must be a cc.cox fit of the competing event, not "
            f"{type(competing).__name__}."
        )
    if competing.time != fit.time or competing.fit_data is None:
        raise ModelError(
            f"the competing fit's time {competing.time!r} is not the fit's {fit.time!r}; fit "
            "both causes on the same time column and rows."
        )
    for model in (fit, competing):
        if model.strata or model.entry or model.weights or model.cluster:
            raise ModelError(
                f"cause-specific fit of {model.event!r}: strata, entry, weights and cluster "
                "are not handled for a standardised cumulative incidence; refit without them."
            )


def _influence(
    causes: list[_Pieces], settings: list[tuple[np.ndarray, np.ndarray]], horizons: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """F_a(t) per horizon and the horizons x rows influence values (module docstring), all
    horizons from one pass over the rows: on the grid of both causes' event times,
    Σ_i W_ci(v) r_ci and Σ_v W_ci(v) r_ci dΛ0c(v) split into prefix sums and a product with
    F_i(t), the only part that depends on t."""
    n, top = causes[0].n, max(horizons)
    times = [p.base.time[p.base.time <= top] for p in causes]
    grid = np.union1d(*times)
    if grid.shape[0] == 0:  # every time before the first event: no risk, no variance
        return np.zeros(len(horizons)), np.zeros((len(horizons), n))
    jumps = []
    for pieces, own in zip(causes, times, strict=True):
        jump = np.zeros(grid.shape[0])
        jump[np.searchsorted(grid, own)] = np.diff(pieces.base.cumhaz[: own.shape[0]], prepend=0)
        jumps.append(jump)
    ends = np.searchsorted(grid, np.asarray(horizons), side="right")  # grid times ≤ t
    sums = _GridSums.zeros(len(horizons), grid.shape[0], [s[0].shape[1] for s in settings])
    risk = np.empty((n, len(horizons)))
    step = max(1, _CHUNK_CELLS // max(grid.shape[0], 1))
    for first in range(0, n, step):
        rows = slice(first, first + step)
        risk[rows] = sums.add(grid, jumps, [(s[0][rows], s[1][rows]) for s in settings], ends)
    mean = risk.mean(axis=0)
    influence = (risk - mean).T
    later = np.arange(grid.shape[0])[None, :] < ends[:, None]  # v ≤ t, horizons x grid
    for c, pieces in enumerate(causes):
        weight = np.where(later, sums.prefix[c][None, :] - sums.product[c] + sums.own[c], 0.0) / n
        positions = np.searchsorted(grid, times[c])
        for k, horizon in enumerate(horizons):
            on_bins = weight[k, positions[times[c] <= horizon]]
            influence[k] += _cause_term(pieces, on_bins, sums.slope[c][k] / n, horizon)
    return mean, influence


@dataclass
class _GridSums:
    """Sums over rows on the grid, accumulated chunk by chunk: Σ r_1 S(v−) (``prefix[0]``;
    0 for the competing cause), Σ F(v) r_c/(1 − dΛ) (``own``), Σ F(t_k) r_c/(1 − dΛ(v))
    (``product``, horizons x grid) and the slopes B_c (horizons x p_c)."""

    prefix: list[np.ndarray]
    own: list[np.ndarray]
    product: list[np.ndarray]
    slope: list[np.ndarray]

    @classmethod
    def zeros(cls, n_times: int, n_grid: int, widths: list[int]) -> _GridSums:
        return cls(
            prefix=[np.zeros(n_grid), np.zeros(n_grid)],
            own=[np.zeros(n_grid), np.zeros(n_grid)],
            product=[np.zeros((n_times, n_grid)), np.zeros((n_times, n_grid))],
            slope=[np.zeros((n_times, width)) for width in widths],
        )

    def add(
        self,
        grid: np.ndarray,
        jumps: list[np.ndarray],
        rows: list[tuple[np.ndarray, np.ndarray]],
        ends: np.ndarray,
    ) -> np.ndarray:
        """Add a chunk of rows; returns their F_i(t) (rows x horizons)."""
        score = [rows[0][1], rows[1][1]]
        hazard = [np.outer(score[c], jumps[c]) for c in (0, 1)]
        total = hazard[0] + hazard[1]
        if np.any(total >= 1.0):
            when = grid[np.flatnonzero((total >= 1.0).any(axis=0))[0]]
            raise ModelError(
                f"at time {when:g} some rows' hazard jumps of the two causes sum to 1 or more "
                "(a small risk set late in follow-up), so the product-limit cumulative "
                f"incidence is not a probability from there; choose times before {when:g}."
            )
        survival = np.cumprod(1.0 - total, axis=1)
        before = np.hstack([np.ones((survival.shape[0], 1)), survival[:, :-1]])
        incidence = np.cumsum(before * hazard[0], axis=1)
        at = np.maximum(ends - 1, 0)
        risk = np.where(ends > 0, incidence[:, at], 0.0)  # rows x horizons
        self.prefix[0] += np.einsum("i,iv->v", score[0], before)
        gained = _sums_up_to(before * jumps[0], at)
        for c in (0, 1):
            ratio = 1.0 / (1.0 - total)
            self.own[c] += np.einsum("i,iv->v", score[c], incidence * ratio)
            self.product[c] += np.einsum("ik,iv->kv", risk * score[c][:, None], ratio)
            per_jump = _sums_up_to(ratio * jumps[c], at)
            weighted_jump = _sums_up_to(incidence * ratio * jumps[c], at)
            g = (gained if c == 0 else 0.0) - risk * per_jump + weighted_jump
            g = np.where(ends > 0, g, 0.0) * score[c][:, None]
            self.slope[c] += np.einsum("ik,ij->kj", g, rows[c][0])
        return risk


def _sums_up_to(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Row sums of ``values[:, :at[k] + 1]`` for each k (``at`` non-decreasing)."""
    order = np.argsort(at, kind="stable")
    bounds = np.unique(at[order])
    pieces = np.add.reduceat(values, np.concatenate([[0], bounds[:-1] + 1]), axis=1)
    totals = np.cumsum(pieces, axis=1)
    return totals[:, np.searchsorted(bounds, at)]


def _cause_term(pieces: _Pieces, on_bins: np.ndarray, slope: np.ndarray, horizon: float) -> Any:
    """Σ_k A(k) IF_j(dΛ0(k)) + slopeᵀ ψβ_j for one cause, over its bins ≤ horizon."""
    base, n, k = pieces.base, pieces.n, on_bins.shape[0]
    variance_step = np.diff(base.cumvar[:k], prepend=0.0)
    xbar_step = np.diff(base.cumxbar[:k], axis=0, prepend=np.zeros((1, base.cumxbar.shape[1])))
    cumulative = np.cumsum(on_bins * variance_step)
    upto = np.minimum(pieces.exit_bin, k - 1)
    own = np.clip(pieces.exit_bin, 0, max(k - 1, 0))
    died = pieces.event & (pieces.time <= horizon) & (pieces.exit_bin >= 0) & (k > 0)
    event_part = np.where(
        died,
        on_bins[own] * (pieces.per_event[own] + pieces.score * pieces.per_event_score[own])
        if k
        else 0.0,
        0.0,
    )
    at_risk = np.where(upto >= 0, cumulative[np.maximum(upto, 0)], 0.0) if k else 0.0
    drift = on_bins @ xbar_step if k else np.zeros(slope.shape[0])
    beta_part = np.einsum("ij,j->i", pieces.psi_beta, slope - drift)
    return n * (event_part - pieces.score * at_risk) + beta_part
