"""Disclosure control over a set of published counts linked by additive relations.

A reader who sees some counts and knows that parts add up to totals can solve for a hidden
count. ``audit`` asks, for each hidden count, the range it could take given everything shown
(a pair of linear programs over the unknowns: the hidden counts, bounded as their labels say,
and the counts never published, >= 0), the linear-programming audit of Cox (1980, "Suppression
methodology and statistical disclosure control", JASA 75:377-385, section 3) and of
tau-ARGUS. ``protect`` hides the small counts (1 to threshold - 1), then, while the audit
finds one pinned to a single value, hides the cheapest published count that shares a
relation with it (published in the fewest places, then the smallest), until none is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from cohortcalc.errors import CohortcalcError

Relation = tuple[str, ...]
"""``(part, ..., part, total)``: the parts add up to the total."""


@dataclass(frozen=True)
class Protection:
    """Which counts to hide: ``primary`` (small) and ``complementary`` (hidden to protect them),
    and the range of each primary count a reader can deduce from what is shown."""

    primary: frozenset[str]
    complementary: frozenset[str]
    ranges: Mapping[str, tuple[float, float]]

    @property
    def hidden(self) -> frozenset[str]:
        """Every count to hide."""
        return self.primary | self.complementary


def audit(
    counts: Mapping[str, int],
    relations: tuple[Relation, ...] | list[Relation],
    shown: set[str] | frozenset[str],
    small: set[str] | frozenset[str],
    threshold: int,
) -> dict[str, tuple[float, float]]:
    """The range of each ``small`` count (printed "<threshold", so known to be 1 to
    threshold - 1) that a reader can deduce from the ``shown`` counts and the ``relations``.

    Every count not shown is an unknown >= 0 (the small ones within their label's bounds); each
    relation is an equation. A range of width 0 means the count can be recovered exactly.
    """
    unknown = sorted(set(counts) - set(shown))
    index = {cid: i for i, cid in enumerate(unknown)}
    rows, rhs = [], []
    for relation in relations:
        *parts, total = relation
        row = np.zeros(len(unknown))
        constant = 0.0
        for cid, sign in [*((p, 1.0) for p in parts), (total, -1.0)]:
            if cid in index:
                row[index[cid]] += sign
            else:
                constant += sign * counts[cid]
        if np.any(row):
            rows.append(row)
            rhs.append(-constant)
    bounds = [(1.0, threshold - 1.0) if cid in small else (0.0, None) for cid in unknown]
    ranges: dict[str, tuple[float, float]] = {}
    a_eq = np.array(rows) if rows else None
    b_eq = np.array(rhs) if rows else None
    for cid in sorted(small):
        if cid in shown:
            raise CohortcalcError(f"count {cid!r} is both small (hidden) and shown.")
        objective = np.zeros(len(unknown))
        objective[index[cid]] = 1.0
        ends = []
        for sign in (1.0, -1.0):
            result = linprog(sign * objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            if result.status == 3:  # unbounded: no limit above
                ends.append(np.inf)
                continue
            if not result.success:
                raise CohortcalcError(
                    f"disclosure audit: the published counts are inconsistent ({result.message})."
                )
            ends.append(sign * result.fun)
        ranges[cid] = (ends[0], ends[1])
    return ranges


def protect(
    counts: Mapping[str, int],
    relations: tuple[Relation, ...] | list[Relation],
    places: Mapping[str, int],
    threshold: int = 11,
) -> Protection:
    """Hide every published count from 1 to ``threshold - 1``, and as few others as the audit
    needs so that no hidden small count can be recovered exactly.

    ``places`` maps each published count to the number of places it is printed (the cost of
    hiding it); counts absent from ``places`` are never published.
    """
    if threshold < 2:
        raise CohortcalcError(f"suppression threshold must be >= 2, got {threshold}.")
    unknown = sorted({cid for r in relations for cid in r} - set(counts))
    if unknown:
        raise CohortcalcError(f"relations refer to unknown counts {unknown[:5]}.")
    published = {cid for cid in places if cid in counts}
    small = frozenset(cid for cid in published if 0 < counts[cid] < threshold)
    complementary: set[str] = set()
    members: dict[str, set[str]] = {}
    for relation in relations:
        for cid in relation:
            members.setdefault(cid, set()).update(relation)
    while True:
        shown = published - small - complementary
        ranges = audit(counts, relations, shown, small, threshold)
        exposed = sorted(cid for cid, (lo, hi) in ranges.items() if hi - lo < 0.5)
        if not exposed:
            return Protection(small, frozenset(complementary), ranges)
        complementary.add(_cheapest_neighbour(exposed[0], members, shown, counts, places))


def _cheapest_neighbour(
    cid: str,
    members: Mapping[str, set[str]],
    shown: set[str],
    counts: Mapping[str, int],
    places: Mapping[str, int],
) -> str:
    """The cheapest shown count nearest to ``cid`` through shared relations (breadth first)."""
    seen, frontier = {cid}, {cid}
    while frontier:
        near = {other for c in frontier for other in members.get(c, ())} - seen
        candidates = sorted(
            (c for c in near if c in shown),
            key=lambda c: (counts[c] == 0, places[c], counts[c], c),
        )
        if candidates:
            return candidates[0]
        seen |= near
        frontier = near
    raise CohortcalcError(f"cannot protect count {cid!r}: no shown count is related to it.")
