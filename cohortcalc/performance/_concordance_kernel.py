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
    """Add ``value`` at ``rank``; slot 0 of the Fenwick array holds the total."""
    node[rank] += value
    tree[0] += value
    i = rank + 1
    while i < tree.shape[0]:
        tree[i] += value
        i += i & (-i)


@njit(cache=True)
def _split(tree: np.ndarray, node: np.ndarray, rank: int) -> tuple[float, float, float]:
    """(weight above rank, below rank, at rank)."""
    below = 0.0
    i = rank
    while i > 0:
        below += tree[i]
        i -= i & (-i)
    equal = node[rank]
    return tree[0] - below - equal, below, equal


@njit(cache=True)
def _as_longer(influence: np.ndarray, row: int, rank: int, events: tuple, sign: float) -> None:
    """Add (sign +1) or remove (−1) the time-weighted events now in the events tree to the
    row's counts as the longer-lived member of a pair: concordant when the event's score is
    lower. Removing at entry and adding at exit leaves the events that came in between."""
    above, below, equal = _split(events[0], events[1], rank)
    influence[row, 0] += sign * below
    influence[row, 1] += sign * above
    influence[row, 2] += sign * equal


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
    at_risk = (np.zeros(n_ranks + 1), np.zeros(n_ranks))
    events = (np.zeros(n_ranks + 1), np.zeros(n_ranks))
    counting = start.shape[0] == n
    left = 0  # next row (by entry) to leave the risk set
    i = 0
    while i < n:
        row = by_stop[i]
        if status[row] == 0:
            _as_longer(influence, row, rank[row], events, -1.0)
            _add(at_risk[0], at_risk[1], rank[row], weight[row])
            i += 1
            continue
        t = stop[row]
        while counting and left < n and start[by_start[left]] >= t:
            gone = by_start[left]
            _as_longer(influence, gone, rank[gone], events, 1.0)
            _add(at_risk[0], at_risk[1], rank[gone], -weight[gone])
            left += 1
        end = i
        while end < n and stop[by_stop[end]] == t:
            end += 1
        _events_at(
            counts,
            influence,
            by_stop,
            rank,
            weight,
            event_weight[row],
            i,
            end,
            at_risk,
            events,
            counting,
        )
        i = end
    remaining = by_start[left:] if counting else by_stop
    for row in remaining:
        _as_longer(influence, row, rank[row], events, 1.0)
    counts[3] -= counts[4]
    return counts, influence


@njit(cache=True)
def _events_at(
    counts: np.ndarray,
    influence: np.ndarray,
    by_stop: np.ndarray,
    rank: np.ndarray,
    weight: np.ndarray,
    time_weight: float,
    first: int,
    end: int,
    at_risk: tuple,
    events: tuple,
    counting: bool,
) -> None:
    """The events tied at one time (rows by_stop[first:end]): compare each with the rows at
    risk after it, count ties in time and in (time, score), then add them to the trees."""
    tied_y = 0.0  # weight of the events at t seen so far
    group_start = first
    group_weight = 0.0  # weight of the events at t with the current score seen so far
    for j in range(first, end):
        event = by_stop[j]
        w = weight[event]
        counts[3] += w * tied_y * (1.0 if counting else time_weight)  # as R (concordance4)
        tied_y += w
        if rank[event] != rank[by_stop[group_start]]:
            _tied_xy(influence, by_stop, weight, group_start, j, group_weight, time_weight)
            group_start, group_weight = j, 0.0
        counts[4] += w * group_weight * time_weight
        group_weight += w
        above, below, equal = _split(at_risk[0], at_risk[1], rank[event])
        counts[0] += w * above * time_weight
        counts[1] += w * below * time_weight
        counts[2] += w * equal * time_weight
        influence[event, 0] += above * time_weight
        influence[event, 1] += below * time_weight
        influence[event, 2] += equal * time_weight
        _add(events[0], events[1], rank[event], time_weight * w)
    _tied_xy(influence, by_stop, weight, group_start, end, group_weight, time_weight)
    for j in range(first, end):
        event = by_stop[j]
        _as_longer(influence, event, rank[event], events, -1.0)
        influence[event, 3] += (tied_y - weight[event]) * time_weight
        _add(at_risk[0], at_risk[1], rank[event], weight[event])


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
