"""Aalen–Johansen cumulative incidence and its infinitesimal-jackknife variance.

R's survfitci.c steps every subject's influence vector through every distinct time (O(N·T)).
Here the same quantities are summed in closed form: a subject's influence on F_k(t) depends only
on when it entered, when it left and how, so Σ_i w_i² U_i(t)² is a handful of cumulative sums
over the distinct times (Aalen & Johansen 1978; Therneau, survival "methods" vignette).
"""

from __future__ import annotations

import numpy as np


def aalen_johansen(
    at_risk: np.ndarray,
    events: np.ndarray,
    at_risk_sq: np.ndarray | None = None,
    events_sq: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CIFs and their infinitesimal-jackknife variances for one group (times sorted).

    ``at_risk[m]`` is the (weighted) number at risk at the m-th distinct time, ``events[m, k]``
    the (weighted) events of type k there; ``*_sq`` the same sums of squared case weights
    (default: unit weights). Right-censored data, everyone starting event-free. A subject's
    influence on F_k(t) depends only on its exit time and status: G_k(t) while at risk and
    α + β·F_k(t) after exit, so Σ_i w_i² U_i(t)² is a sum of cumulative sums over times;
    O(T·K) with no N×T matrix (the recursion of R's survfitci.c, summed in closed form).
    """
    at_risk_sq = at_risk if at_risk_sq is None else at_risk_sq
    events_sq = events if events_sq is None else events_sq
    n = at_risk.astype(float)
    total = events.sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = total / n
        cause_hazard = events / n[:, None]
        jump = np.where(total > 0, hazard / (n * (1.0 - hazard)), 0.0)
    survival = np.cumprod(1.0 - hazard)
    surv_before = np.concatenate([[1.0], survival[:-1]])
    cif = np.cumsum(surv_before[:, None] * cause_hazard, axis=0)
    cum_jump = np.cumsum(jump)
    jump_before = np.concatenate([[0.0], cum_jump[:-1]])
    increment = surv_before[:, None] * cause_hazard * (jump_before - 1 / n)[:, None]
    at_risk_part = np.cumsum(increment, axis=0)
    still_at_risk = np.concatenate([at_risk_sq[1:], [0.0]])
    total_sq = events_sq.sum(axis=1)
    censored = at_risk_sq - still_at_risk - total_sq  # squared weights of censored exits
    v_event = jump_before - 1.0 / n
    v_censor = np.where(censored > 0, cum_jump, 0.0)
    own = (surv_before / n)[:, None]
    base_event = at_risk_part - v_event[:, None] * cif
    base_censor = at_risk_part - v_censor[:, None] * cif
    sq = (
        censored[:, None] * base_censor**2
        + total_sq[:, None] * base_event**2
        + events_sq * (2 * base_event * own + own**2)
    )
    cross = censored[:, None] * base_censor * v_censor[:, None] + v_event[:, None] * (
        total_sq[:, None] * base_event + events_sq * own
    )
    slope = censored * v_censor**2 + total_sq * v_event**2
    variance = (
        still_at_risk[:, None] * at_risk_part**2
        + np.cumsum(sq, axis=0)
        + 2 * cif * np.cumsum(cross, axis=0)
        + cif**2 * np.cumsum(slope, axis=0)[:, None]
    )
    return cif, variance


@np.errstate(divide="ignore", invalid="ignore")  # inf/NaN only after an emptied risk set
def aalen_johansen_truncated(
    entry_index: np.ndarray,
    exit_index: np.ndarray,
    status: np.ndarray,
    weights: np.ndarray,
    n_times: int,
    n_causes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """CIFs and infinitesimal-jackknife variances with delayed entry, for one group.

    Per subject: ``entry_index`` the first distinct exit time after its entry, ``exit_index``
    its exit time, ``status`` 0 (censored) or 1..K (cause), ``weights`` its case weight. While
    at risk the influence on F_k(t) is G_k(t) − a_i F_k(t) − γ_ik (a_i, γ_ik fixed at entry);
    after exit it is α_ik + β_i F_k(t). Both square-sum to cumulative sums over times.
    """
    squared = weights**2
    entered = np.bincount(entry_index, weights, n_times)
    exited = np.bincount(exit_index, weights, n_times)
    n = np.cumsum(entered) - np.concatenate([[0.0], np.cumsum(exited)[:-1]])
    is_event = status > 0
    events = np.stack(
        [np.bincount(exit_index, weights * (status == k + 1), n_times) for k in range(n_causes)],
        axis=1,
    )
    total = events.sum(axis=1)
    hazard = total / n
    cause_hazard = events / n[:, None]
    jump = np.where(total > 0, hazard / (n * (1.0 - hazard)), 0.0)
    surv_before = np.concatenate([[1.0], np.cumprod(1.0 - hazard)[:-1]])
    cif = np.cumsum(surv_before[:, None] * cause_hazard, axis=0)
    cum_jump = np.cumsum(jump)
    jump_before = np.concatenate([[0.0], cum_jump[:-1]])
    at_risk_part = np.cumsum(
        surv_before[:, None] * cause_hazard * (jump_before - 1 / n)[:, None], 0
    )

    def before(values: np.ndarray, index: np.ndarray) -> np.ndarray:
        """values[index − 1], 0 where index is 0."""
        return np.concatenate([np.zeros((1, *values.shape[1:])), values])[index]

    def risk_sum(values: np.ndarray) -> np.ndarray:
        """Σ values over subjects at risk after each time (entered by m, exit after m)."""
        return _cumulative_by(entry_index, values, n_times) - _cumulative_by(
            exit_index, values, n_times
        )

    offset = before(cum_jump, entry_index)
    gamma = before(at_risk_part, entry_index) - offset[:, None] * before(cif, entry_index)
    own_jump = np.where(is_event, jump_before[exit_index] - 1 / n[exit_index], cum_jump[exit_index])
    beta = own_jump - offset
    own = np.zeros((status.size, n_causes))
    own[is_event, status[is_event] - 1] = (surv_before / n)[exit_index[is_event]]
    cif_exit = cif[exit_index]
    alpha = at_risk_part[exit_index] - offset[:, None] * cif_exit - gamma + own
    alpha -= beta[:, None] * cif_exit
    w2, w2a = squared[:, None], (squared * offset)[:, None]
    variance = (
        at_risk_part**2 * risk_sum(squared)[:, None]
        + cif**2 * risk_sum(squared * offset**2)[:, None]
        + risk_sum(w2 * gamma**2)
        - 2 * at_risk_part * cif * risk_sum(squared * offset)[:, None]
        - 2 * at_risk_part * risk_sum(w2 * gamma)
        + 2 * cif * risk_sum(w2a * gamma)
        + _cumulative_by(exit_index, w2 * alpha**2, n_times)
        + 2 * cif * _cumulative_by(exit_index, w2 * alpha * beta[:, None], n_times)
        + cif**2 * _cumulative_by(exit_index, squared * beta**2, n_times)[:, None]
    )
    emptied = surv_before == 0  # after everyone at risk has had an event, nothing moves again
    if emptied.any():
        last = int(np.argmax(emptied)) - 1
        cif[emptied], variance[emptied] = cif[last], variance[last]
    return cif, variance


def _cumulative_by(index: np.ndarray, values: np.ndarray, n_times: int) -> np.ndarray:
    """Cumulative sum over times of ``values`` binned at ``index`` (columns kept)."""
    if values.ndim == 1:
        return np.cumsum(np.bincount(index, values, n_times))
    columns = [np.bincount(index, values[:, k], n_times) for k in range(values.shape[1])]
    return np.cumsum(np.stack(columns, axis=1), axis=0)
