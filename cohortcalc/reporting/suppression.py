"""Small-cell suppression for data-sharing rules.

Primary suppression hides every count from 1 to ``threshold - 1`` (zero is not disclosive under
the usual rules, e.g. CMS cell-size suppression policy: 1-10). Secondary (complementary)
suppression then hides, in every margin (parts adding up to a printed total) that has exactly
one hidden member, the smallest other non-zero part, or the total when no part is left, and
repeats until no margin has a lone hidden cell (the classic heuristic of Cox 1980, "Suppression
methodology and statistical disclosure control", JASA 75:377-385).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

import pandas as pd

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.format import MISSING_VALUE, suppressed_label
from cohortcalc.reporting.table import CountGrid, Table, without_percent


def suppressed_cells(
    counts: Mapping[str, int],
    margins: tuple[tuple[str, ...], ...],
    threshold: int = 11,
    suppress_zero: bool = False,
) -> frozenset[str]:
    """Ids of the counts to hide: primary (``0 < count < threshold``) plus complementary ones.

    Each margin is ``(part, ..., part, total)``; ids not in ``counts`` are an error.
    """
    if threshold < 1:
        raise CohortcalcError(f"suppression threshold must be >= 1, got {threshold}.")
    unknown = sorted({cid for margin in margins for cid in margin} - set(counts))
    if unknown:
        raise CohortcalcError(f"suppression margins refer to unknown count cells {unknown}.")
    lower = 0 if suppress_zero else 1
    hidden = {cid for cid, n in counts.items() if lower <= n < threshold}
    changed = bool(hidden)
    while changed:
        changed = False
        for margin in margins:
            members = [cid for cid in margin if cid in hidden]
            if len(members) != 1:
                continue
            hidden.add(_complement(margin, hidden, counts))
            changed = True
    return frozenset(hidden)


def _complement(margin: tuple[str, ...], hidden: set[str], counts: Mapping[str, int]) -> str:
    parts, total = margin[:-1], margin[-1]
    visible = [cid for cid in parts if cid not in hidden]
    nonzero = [cid for cid in visible if counts[cid] > 0]
    candidates = nonzero or visible
    if candidates:
        return min(candidates, key=lambda cid: (counts[cid], cid))
    return total


COMPLEMENT_LABEL = "[c]"
"""How a complementary cell prints: "[c]", "confidential", as the UK ONS marks it; a cell of
147 hidden to protect a cell of 3 must not print as "<11", which would be false."""


_ITEM = r"\d[\d,]*(?: \([^)]*\))?"
_FOOTNOTE_COUNTS = re.compile(rf"\b((?:n|events|competing events) = )({_ITEM}(?: / {_ITEM})*)")


def suppress_footnote(
    note: str, threshold: int, lower: int, also: frozenset[int] = frozenset()
) -> str:
    """Small counts quoted in a footnote ("events = 8", "n = 12 (Yes) / 7 (No)") print as
    "<threshold", and counts equal to a value in ``also`` (hidden elsewhere) as "[c]"."""

    def small(item: str) -> str:
        number, _, label = item.partition(" ")
        value = int(number.replace(",", ""))
        shown = suppressed_label(threshold) if lower <= value < threshold else number
        shown = COMPLEMENT_LABEL if value in also and shown == number else shown
        return f"{shown} {label}" if label else shown

    def each(match: re.Match[str]) -> str:
        return match.group(1) + " / ".join(small(v) for v in match.group(2).split(" / "))

    return _FOOTNOTE_COUNTS.sub(each, note)


def suppress_small_cells(
    table: Table,
    threshold: int = 11,
    suppress_zero: bool = False,
    complement_label: str = COMPLEMENT_LABEL,
) -> Table:
    """A copy of ``table`` in which every count below ``threshold`` prints as "<threshold".

    Complementary cells that would let a reader back-calculate a hidden count (through a row
    or column total, or the "no" of a yes/no row) are hidden too and print as
    ``complement_label`` (pass "<11" to print them like the small cells); percentages and
    rates computed from a hidden count print as "—". The traceability record drops the
    hidden numbers, so nothing exported from the copy reveals them.
    """
    if table.counts is None:
        raise CohortcalcError(
            f"table {table.title!r} carries no count layout; build it with cc.hr_table or "
            "cc.table_one to suppress small cells."
        )
    grid: CountGrid = table.counts
    hidden = suppressed_cells(grid.counts, grid.margins, threshold, suppress_zero)
    frame = table.frame.copy()
    masked: set[tuple[int, str]] = set()
    label = suppressed_label(threshold)
    lower = 0 if suppress_zero else 1
    for cid in sorted(hidden):
        if cid in grid.location:
            row, column = grid.location[cid]
            small = lower <= grid.counts[cid] < threshold
            text = label if small else complement_label
            template = grid.formats.get(cid)
            text = template.format(text) if template else text
            frame.iloc[row, frame.columns.get_loc(column)] = text
            masked.add((row, column))
        for row, column in grid.dependents.get(cid, ()):
            if (row, column) not in masked:
                frame.iloc[row, frame.columns.get_loc(column)] = MISSING_VALUE
                masked.add((row, column))
    for cid in sorted(hidden):  # percentages whose denominator is hidden
        for row, column in grid.shares.get(cid, ()):
            if (row, column) not in masked:
                position = frame.columns.get_loc(column)
                frame.iloc[row, position] = without_percent(str(frame.iloc[row, position]))
    cells = zip(table.values["row"], table.values["column"], strict=True)
    keep = [(r, c) not in masked for r, c in cells]
    values = table.values.loc[pd.Series(keep, index=table.values.index)].reset_index(drop=True)
    smallest = "0" if suppress_zero else "1"
    note = (
        f'Counts from {smallest} to {threshold - 1} are shown as "{label}"; cells that would '
        f'allow them to be back-calculated are shown as "{complement_label}"; rates and '
        f'percentages computed from hidden counts are shown as "{MISSING_VALUE}".'
    )
    footnotes = tuple(suppress_footnote(n, threshold, lower) for n in table.footnotes)
    return replace(
        table,
        frame=frame,
        values=values,
        footnotes=(*footnotes, note),
        counts=None,
        suppressed_below=threshold,
    )
