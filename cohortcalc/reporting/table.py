"""The frozen table object every table builder returns and every exporter reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    ``(part, ..., part, total)`` whose parts add up to the total.
    """

    counts: Mapping[str, int]
    location: Mapping[str, Cell]
    dependents: Mapping[str, tuple[Cell, ...]] = field(default_factory=dict)
    margins: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Table:
    """A paper-ready table.

    ``frame`` holds the display strings (what exporters write; column names are the headers).
    ``values`` is the traceability record: one row per number behind a display cell, with
    columns ``row``, ``column``, ``quantity``, ``value`` and ``source`` (which fit, term or count
    the number came from). ``footnotes`` state methods and definitions. ``counts`` locates the
    counts for small-cell suppression; ``suppressed_below`` is the threshold once applied.
    """

    title: str
    frame: pd.DataFrame
    footnotes: tuple[str, ...]
    values: pd.DataFrame
    counts: CountGrid | None = None
    suppressed_below: int | None = None

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
