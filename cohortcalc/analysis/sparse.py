"""Sparse cells: a hazard ratio whose level or reference level has fewer than the spec's
``sparse_events_threshold`` events (default 10) is marked "†" and footnoted, not printed as
if it were solid (few events make the estimate unstable and its Wald interval too narrow;
e.g. Peduzzi et al., J Clin Epidemiol 1995;48:1503)."""

from __future__ import annotations

from dataclasses import replace

from cohortcalc.reporting.table import Table

MARK = "†"
REFERENCE_CELL = "1.00 (reference)"


def mark_sparse_cells(table: Table, threshold: int) -> Table:
    """``table`` (an HR table, before suppression) with its sparse HRs marked and footnoted."""
    if threshold <= 0 or table.counts is None:
        return table
    columns = [c for c in table.frame.columns if str(c).endswith("HR (95% CI)")]
    events = {
        cell[0]: table.counts.counts[key]
        for key, cell in table.counts.location.items()
        if cell[1] == "Events"
    }
    if not columns or not events:
        return table
    frame = table.frame.copy()
    marked, reference_events = 0, None
    for row in range(len(frame)):
        cells = [str(frame.iloc[row][c]) for c in columns]
        if row not in events:
            continue
        if REFERENCE_CELL in cells:
            reference_events = events[row]
            continue
        if events[row] >= threshold and (reference_events is None or reference_events >= threshold):
            continue
        for column, text in zip(columns, cells, strict=True):
            if text and text != "—":
                frame.iloc[row, frame.columns.get_loc(column)] = f"{text} {MARK}"
                marked += 1
    if not marked:
        return table
    note = (
        f"{MARK} Fewer than {threshold} events in this level or in its reference level: the "
        "hazard ratio is imprecise and its confidence interval may be too narrow (sparse cell)."
    )
    return replace(table, frame=frame, footnotes=(*table.footnotes, note))
