"""The frozen table object every table builder returns and every exporter reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

Cell = tuple[int, str]
"""A display cell: (row position in ``Table.frame``, column name)."""


@dataclass(frozen=True)
class CountGrid:
    """Where a table's counts are, and which sums a reader could use to back-calculate them.

    ``counts`` maps a cell id to its count. ``location`` maps the id of a count that is printed
    to its display cell; ids without a location are implicit (e.g. the "no" count of a yes/no
    row, readable as total minus "yes"). ``dependents`` maps an id to other display cells that
    would reveal the count (a percentage, a rate). Each entry of ``margins`` is a tuple of ids
    ``(part, ..., part, total)`` whose parts add up to the total. ``conditions`` says, for a
    count id, which rows of the frame the table was built from it counts: a tuple of
    ``(column, value)`` (``value`` None: missing; ``NOT_MISSING``: present), so a run can find
    the same count in every output and hide it everywhere (``analysis.disclosure``).
    ``formats`` gives the text around a count printed inside words, e.g. "With CKD (n = {})";
    ``quoted`` lists counts printed in the footnotes; ``shares`` maps a count to the cells
    whose percentage uses it as denominator (hidden with it: "123 (—)").
    """

    counts: Mapping[str, int]
    location: Mapping[str, Cell]
    dependents: Mapping[str, tuple[Cell, ...]] = field(default_factory=dict)
    margins: tuple[tuple[str, ...], ...] = ()
    conditions: Mapping[str, tuple[tuple[str, Any], ...]] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    quoted: tuple[str, ...] = ()
    shares: Mapping[str, tuple[Cell, ...]] = field(default_factory=dict)


NOT_MISSING = ("not missing",)
"""A condition value: the column is present (not null, not NaN)."""


@dataclass(frozen=True)
class Table:
    """A paper-ready table.

    ``frame`` holds the display strings (what exporters write; column names are the headers).
    ``values`` is the traceability record: one row per number behind a display cell, with
    columns ``row``, ``column``, ``quantity``, ``value`` and ``source`` (which fit, term or count
    the number came from). ``footnotes`` state methods and definitions. ``counts`` locates the
    counts for small-cell suppression; ``suppressed_below`` is the threshold once applied.
    ``group_rows`` are the positions of group-label rows (printed bold, levels indented below).
    """

    title: str
    frame: pd.DataFrame
    footnotes: tuple[str, ...]
    values: pd.DataFrame
    counts: CountGrid | None = None
    suppressed_below: int | None = None
    group_rows: tuple[int, ...] = ()

    def cell(self, row: int, column: str) -> str:
        """The display string at row position ``row`` and column ``column``."""
        return str(self.frame.iloc[row][column])

    def trace(self, row: int, column: str) -> pd.DataFrame:
        """The numbers (with their sources) behind the display cell at ``row``, ``column``."""
        mask = (self.values["row"] == row) & (self.values["column"] == column)
        return self.values.loc[mask].reset_index(drop=True)


VALUE_COLUMNS = ["row", "column", "quantity", "value", "source"]


def values_frame(records: list[tuple[int, str, str, float, str]]) -> pd.DataFrame:
    """The ``Table.values`` frame from (row, column, quantity, value, source) records."""
    frame = pd.DataFrame.from_records(records, columns=VALUE_COLUMNS)
    return frame.astype({"row": "int64", "value": "float64"})


PERCENT = re.compile(r" \(\d[\d.,]*%\)")


def without_percent(text: str) -> str:
    """A "count (percent)" cell with its percentage hidden: "780 (52.0%)" -> "780 (—)"."""
    return PERCENT.sub(" (—)", text)
