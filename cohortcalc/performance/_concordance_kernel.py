"""Compiled pass of ``concordance.py``: pair counts and per-row influence in O(n log n).

Rows are visited from the longest time to the shortest (censored before events at a tied
time, as R ``concordance``); a Fenwick tree over the ranks of the score holds the weights of
the rows still at risk, a second one the time-weighted events already seen. An event at t is
compared with every row at risk after it (time > t, or censored at t): larger, smaller or
equal score. Each row's influence (R ``concordancefit``'s ``influence``: its share of the
concordant, discordant, tied-x, tied-y and tied-xy counts) collects its part as the event
and, as the longer-lived row, the events that came before it (Therneau & Watson 2017).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _add(tree: np.ndarray, node: np.ndarray, rank: int, value: float) -> None:
    node[rank] += value
    i = rank + 1
    while i < tree.shape[0]:
        tree[i] += value
        i += i & (-i)


@njit(cache=True)
def _below(tree: np.ndarray, rank: int) -> float:
    """Σ of the weights at ranks < rank."""
    total = 0.0
    i = rank
    while i > 0:
        total += tree[i]
        i -= i & (-i)
    return total


@njit(cache=True)
def _split(tree: np.ndarray, node: np.ndarray, total: float, rank: int) -> tuple[float, ...]:
    """(weight above rank, below rank, at rank)."""
    below = _below(tree, rank)
    equal = node[rank]
    return total - below - equal, below, equal


@njit(cache=True)
def concordance_pass(
    stop: np.ndarray,
    status: np.ndarray,
    rank: np.ndarray,
    weight: np.ndarray,
    event_weight: np.ndarray,
    by_stop: np.ndarray,
    start: np.ndarray,
    by_start: np.ndarray,
    n_ranks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (concordant, discordant, tied x, tied y, tied xy) and the n x 5 influence.

    ``by_stop``: rows by time descending, censored first at a tie, then by rank;
    ``event_weight[i]``: the time weight of row i's event time; ``start``/``by_start`` (rows
    by entry descending) are empty unless rows have delayed entry (R ``concordance4``:
    a row leaves the risk set once its entry is at or after the event time)."""
    n = stop.shape[0]
    counts = np.zeros(5)
    influence = np.zeros((n, 5))
    at_risk = np.zeros(n_ranks + 1)
    at_risk_node = np.zeros(n_ranks)
    events = np.zeros(n_ranks + 1)
    events_node = np.zeros(n_ranks)
    at_risk_total = 0.0
    events_total = 0.0
    counting = start.shape[0] == n
    left = 0  # next row (by entry) to leave the risk set
    i = 0
    while i < n:
        row = by_stop[i]
        if status[row] == 0:
            above, below, equal = _split(events, events_node, events_total, rank[row])
            influence[row, 0] -= below
            influence[row, 1] -= above
            influence[row, 2] -= equal
            _add(at_risk, at_risk_node, rank[row], weight[row])
            at_risk_total += weight[row]
            i += 1
            continue
        t = stop[row]
        if counting:
            while left < n and start[by_start[left]] >= t:
                gone = by_start[left]
                above, below, equal = _split(events, events_node, events_total, rank[gone])
                influence[gone, 0] += below
                influence[gone, 1] += above
                influence[gone, 2] += equal
                _add(at_risk, at_risk_node, rank[gone], -weight[gone])
                at_risk_total -= weight[gone]
                left += 1
        end = i
        while end < n and stop[by_stop[end]] == t:
            end += 1
        time_weight = event_weight[row]
        tied_y = 0.0  # weight of the events at t seen so far
        group_start = i
        group_weight = 0.0  # weight of the events at t with the current score seen so far
        for j in range(i, end):
            event = by_stop[j]
            w = weight[event]
            counts[3] += w * tied_y * (1.0 if counting else time_weight)
            tied_y += w
            if rank[event] != rank[by_stop[group_start]]:
                _tied_xy(influence, by_stop, weight, group_start, j, group_weight, time_weight)
                group_start, group_weight = j, 0.0
            counts[4] += w * group_weight * time_weight
            group_weight += w
            above, below, equal = _split(at_risk, at_risk_node, at_risk_total, rank[event])
            counts[0] += w * above * time_weight
            counts[1] += w * below * time_weight
            counts[2] += w * equal * time_weight
            influence[event, 0] += above * time_weight
            influence[event, 1] += below * time_weight
            influence[event, 2] += equal * time_weight
            _add(events, events_node, rank[event], time_weight * w)
            events_total += time_weight * w
        _tied_xy(influence, by_stop, weight, group_start, end, group_weight, time_weight)
        for j in range(i, end):
            event = by_stop[j]
            above, below, equal = _split(events, events_node, events_total, rank[event])
            influence[event, 0] -= below
            influence[event, 1] -= above
            influence[event, 2] -= equal
            influence[event, 3] += (tied_y - weight[event]) * time_weight
            _add(at_risk, at_risk_node, rank[event], weight[event])
            at_risk_total += weight[event]
        i = end
    remaining = by_start[left:] if counting else by_stop
    for row in remaining:
        above, below, equal = _split(events, events_node, events_total, rank[row])
        influence[row, 0] += below
        influence[row, 1] += above
        influence[row, 2] += equal
    counts[3] -= counts[4]
    return counts, influence


@njit(cache=True)
def _tied_xy(
    influence: np.ndarray,
    by_stop: np.ndarray,
    weight: np.ndarray,
    first: int,
    end: int,
    group_weight: float,
    time_weight: float,
) -> None:
    """Events at one time with one score: each is tied on x and y with the others."""
    for k in range(first, end):
        row = by_stop[k]
        share = (group_weight - weight[row]) * time_weight
        influence[row, 4] += share
        influence[row, 3] -= share
