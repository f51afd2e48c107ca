"""Disclosure control as one pass over every output of a run.

Each printed count (a table cell, an N or events of ``estimates``, a number at risk under a
curve) is identified by the set of participants it counts, so the same count printed in
two outputs is one count: hidden in one, hidden in all. Counts are linked by the relations
that hold between sets (the levels of a column partition a group; a flow step's remaining
plus excluded is the previous step), including relations between outputs, and
``reporting.disclosure.protect`` hides the small counts and as few others as its linear
programming audit needs so that none can be recovered by adding and subtracting what is
shown. Limits: counts of nested populations that differ by a few participants (e.g. a
model's complete cases vs everyone) are separate sets with no stated relation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import polars as pl

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.disclosure import Protection, protect
from cohortcalc.reporting.format import MISSING_VALUE, suppressed_label
from cohortcalc.reporting.suppression import COMPLEMENT_LABEL, suppress_footnote
from cohortcalc.reporting.table import NOT_MISSING, Table, without_percent

Condition = tuple[str, Any]
AT_LEAST = "at least"
"""A condition value ``(AT_LEAST, t)``: the column is >= t (a number at risk at time t)."""
BEFORE = "before"
"""A condition value ``(BEFORE, t)``: the column is < t (entered before t, delayed entry)."""


def _expression(column: str, value: Any, dtype: pl.DataType) -> pl.Expr:
    """The rows where ``column`` meets ``value`` (see ``Condition``)."""
    col = pl.col(column)
    if value is None or value == NOT_MISSING:
        missing = col.is_null() | col.is_nan() if dtype.is_float() else col.is_null()
        return missing if value is None else ~missing
    if isinstance(value, tuple) and value[0] == AT_LEAST:
        return col >= value[1]
    if isinstance(value, tuple) and value[0] == BEFORE:
        return col < value[1]
    if isinstance(value, bool):
        return col.cast(pl.Boolean) == value
    return col.cast(pl.String) == str(value)


@dataclass
class CountSpace:
    """Every count of a run, keyed by the set of rows it counts, with the relations between
    them. ``cell`` registers a count (and the relations to its parents); ``show`` marks one as
    printed in one more place. ``unlinked`` lists the counts whose stated rows did not check
    out (kept as counts of their own; none are expected)."""

    id_column: str | None
    counts: dict[str, int] = field(default_factory=dict)
    relations: set[tuple[str, ...]] = field(default_factory=set)
    places: Counter = field(default_factory=Counter)
    unlinked: list[str] = field(default_factory=list)
    _done: set[tuple[str, tuple[str, str]]] = field(default_factory=set)
    _frames: dict[int, tuple[pl.DataFrame, str]] = field(default_factory=dict)

    def _frame_key(self, frame: pl.DataFrame) -> str:
        """``_key`` of a whole frame, remembered (frames are registered many times)."""
        known = self._frames.get(id(frame))
        if known is None or known[0] is not frame:
            known = self._frames[id(frame)] = (frame, self._key(frame))
        return known[1]

    def _hashes(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Two independent 32-bit hashes per row (of the participant id, else of the row)."""
        if self.id_column is not None and self.id_column in rows.columns:
            base = rows.get_column(self.id_column)
            first, second = base.hash(seed=11), base.hash(seed=29)
        else:
            first, second = rows.hash_rows(seed=11), rows.hash_rows(seed=29)
        mask = (1 << 32) - 1
        return pl.DataFrame({"_h1": first & mask, "_h2": second & mask})

    def _key(self, rows: pl.DataFrame) -> str:
        """A set's id: its size and two sums of 32-bit hashes of its members (the same set
        gives the same id in any order; different sets collide with probability ~2^-64)."""
        sums = self._hashes(rows).sum().row(0) if rows.height else (0, 0)
        return f"{rows.height}:{sums[0]:x}:{sums[1]:x}"

    def _rows(self, frame: pl.DataFrame, where: Iterable[Condition]) -> pl.DataFrame:
        where = list(where)
        if not where:
            return frame
        schema = frame.schema
        return frame.filter(pl.all_horizontal([_expression(c, v, schema[c]) for c, v in where]))

    def cell(
        self, frame: pl.DataFrame, where: tuple[Condition, ...], expect: int | None = None
    ) -> str:
        """The id of the count of ``frame`` rows meeting ``where`` (registered with its
        relations to the counts with one condition fewer)."""
        rows = self._rows(frame, where)
        cid = self._frame_key(frame) if not where else self._key(rows)
        if expect is not None and expect != rows.height:
            raise CohortcalcError(
                f"disclosure control: a table prints {expect} for {where!r} but the rows "
                f"number {rows.height}; the table and the run's frames disagree (a bug)."
            )
        self.counts[cid] = rows.height
        self.counts[self._frame_key(frame)] = frame.height
        for index, (column, value) in enumerate(where):
            if value == NOT_MISSING or (
                isinstance(value, tuple) and value[0] in (AT_LEAST, BEFORE)
            ):
                continue
            parent = tuple(w for i, w in enumerate(where) if i != index)
            self._partition(frame, parent, column)
        return cid

    def _partition(self, frame: pl.DataFrame, parent: tuple[Condition, ...], column: str) -> None:
        """The relations within ``parent``: missing plus present ``column`` make the whole,
        and (for a column that is not a float) its levels make the present."""
        marker = (self._frame_key(frame), (repr(parent), column))
        if marker in self._done:
            return
        self._done.add(marker)
        rows = self._rows(frame, parent)
        dtype = rows.schema[column]
        whole = self._key(rows)
        self.counts[whole] = rows.height
        missing = rows.filter(_expression(column, None, dtype))
        present = rows.filter(_expression(column, NOT_MISSING, dtype))
        for part in (missing, present):
            self.counts[self._key(part)] = part.height
        self.relations.add((self._key(missing), self._key(present), whole))
        if not dtype.is_float() and present.height:
            sums = (
                pl.concat([present.select(column), self._hashes(present)], how="horizontal")
                .group_by(column)
                .agg(pl.len(), pl.col("_h1").sum(), pl.col("_h2").sum())
                .sort(column)
            )
            parts = []
            for _, size, first, second in sums.iter_rows():
                parts.append(f"{size}:{first:x}:{second:x}")
                self.counts[parts[-1]] = size
            self.relations.add((*parts, self._key(present)))
        if parent:
            self.cell(frame, parent)

    def counts_to(self, frame: pl.DataFrame, where: tuple[Condition, ...], value: int) -> bool:
        """Whether the rows of ``frame`` meeting ``where`` number ``value`` (a table's
        description of a count is trusted only when it checks out)."""
        missing = [c for c, _ in where if c not in frame.columns]
        return not missing and self._rows(frame, where).height == value

    def relate(self, parts: Iterable[str], total: str) -> None:
        """A relation given by the caller (e.g. a flow step)."""
        self.relations.add((*parts, total))

    def named(self, name: str, value: int) -> str:
        """A count known only by name (e.g. an earlier flow step), not as a set of rows."""
        self.counts[name] = int(value)
        return name

    def show(self, cid: str) -> None:
        """``cid`` is printed in one more place."""
        self.places[cid] += 1

    def protect(self, threshold: int) -> Protection:
        """Which counts to hide (``reporting.disclosure.protect`` over the whole run)."""
        return protect(self.counts, sorted(self.relations), dict(self.places), threshold)


def register_table(
    space: CountSpace,
    name: str,
    table: Table,
    frame: pl.DataFrame | Mapping[str, pl.DataFrame] | None,
) -> dict[str, str]:
    """Register every count of ``table``, built from ``frame`` (or, per count id, from
    ``frame[id]``); counts without conditions are known by name. ``{local id: run id}``."""
    grid = table.counts
    if grid is None:
        return {}
    ids = {}
    for local, value in grid.counts.items():
        source = frame.get(local) if isinstance(frame, Mapping) else frame
        where = grid.conditions.get(local)
        if source is not None and where is not None and space.counts_to(source, where, value):
            ids[local] = space.cell(source, where, expect=value)
        else:  # rows we cannot name (e.g. an earlier flow step): a count of its own
            ids[local] = space.named(f"{name}:{local}", value)
            if where is not None:
                space.unlinked.append(ids[local])
    for margin in grid.margins:
        *parts, total = (ids[cid] for cid in margin)
        space.relate(parts, total)
    for local in (*grid.location, *grid.quoted):
        space.show(ids[local])
    return ids


def hide(
    table: Table,
    ids: Mapping[str, str],
    protection: Protection,
    threshold: int,
    hidden_values: frozenset[int] = frozenset(),
) -> Table:
    """A copy of ``table`` with the hidden counts printed "<threshold" (small) or "[c]"
    (complementary), the numbers computed from them as "—", and a footnote saying so.
    Counts quoted in footnotes print as "<threshold" when small and as "[c]" when equal to
    one of ``hidden_values`` (the complementary counts of the run)."""
    grid = table.counts
    frame = table.frame.copy()
    masked: set[tuple[int, str]] = set()
    if grid is not None:
        for local, cid in ids.items():
            if cid not in protection.hidden or local not in grid.location:
                continue
            row, column = grid.location[local]
            small = cid in protection.primary
            label = suppressed_label(threshold) if small else COMPLEMENT_LABEL
            template = grid.formats.get(local)
            text = template.format(label) if template else label
            frame.iloc[row, frame.columns.get_loc(column)] = text
            masked.add((row, column))
            for cell in grid.dependents.get(local, ()):
                if cell not in masked:
                    frame.iloc[cell[0], frame.columns.get_loc(cell[1])] = MISSING_VALUE
                    masked.add(cell)
        for local, cid in ids.items():  # percentages whose denominator is hidden
            if cid not in protection.hidden:
                continue
            for row, column in grid.shares.get(local, ()):
                if (row, column) not in masked:
                    position = frame.columns.get_loc(column)
                    frame.iloc[row, position] = without_percent(str(frame.iloc[row, position]))
    cells = zip(table.values["row"], table.values["column"], strict=True)
    keep = pd.Series([cell not in masked for cell in cells], index=table.values.index)
    note = (
        f'Counts from 1 to {threshold - 1} are shown as "{suppressed_label(threshold)}"; counts '
        f"that would allow them to be back-calculated, here or in another table of this report, "
        f'are shown as "{COMPLEMENT_LABEL}"; rates and percentages computed from hidden counts '
        f'are shown as "{MISSING_VALUE}".'
    )
    footnotes = tuple(suppress_footnote(n, threshold, 1, hidden_values) for n in table.footnotes)
    if masked or footnotes != table.footnotes:  # the rule is in the methods; here if it bit
        footnotes = (*footnotes, note)
    return replace(
        table,
        frame=frame,
        values=table.values.loc[keep].reset_index(drop=True),
        footnotes=footnotes,
        counts=None,
        suppressed_below=threshold,
    )
