"""Forest plots of hazard ratios across subgroups, read from fitted results."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.format import format_count, format_ratio_ci
from cohortcalc.reporting.style import FIGURE_STYLE, OKABE_ITO, figure_width


def forest_rows(
    fits: Mapping[str, Any], term: str, group: str | None = None, unit: float = 1.0
) -> pd.DataFrame:
    """One forest-plot row per fit: ``label, group, hr, hr_lower, hr_upper, n, n_events`` read
    from ``fit.summary.loc[term]`` (raised to ``unit``, e.g. an SD, when given)."""
    records = []
    for label, fit in fits.items():
        if term not in fit.summary.index:
            raise CohortcalcError(f"{label}: term {term!r} not in {list(fit.summary.index)}.")
        line = fit.summary.loc[term]
        records.append(
            {
                "label": label,
                "group": group,
                "hr": line["hr"] ** unit,
                "hr_lower": line["hr_lower"] ** unit,
                "hr_upper": line["hr_upper"] ** unit,
                "n": getattr(fit, "n", None),
                "n_events": getattr(fit, "n_events", None),
            }
        )
    return pd.DataFrame.from_records(records)


def forest_plot(
    rows: pd.DataFrame,
    *,
    xlabel: str = "Hazard ratio (95% CI)",
    estimate_header: str = "HR (95% CI)",
    title: str | None = None,
    subtitle: str | None = None,
    notes: Mapping[str, str] | None = None,
    section_notes: Mapping[tuple[str, str], str] | None = None,
    width: float | str = "double",
) -> Figure:
    """A forest plot of ``rows`` (from ``forest_rows``; columns label, hr, hr_lower, hr_upper,
    optional group, section, n, n_events, n_text, events_text): text columns for the label,
    N and events, the estimates on a log axis (ticks 0.5, 1, 2, 4, 8, ...) with a line at 1,
    and "HR (95% CI)" as text. ``group`` rows sit under a bold heading, ``section`` rows
    under an indented sub-heading; ``notes`` maps a group and ``section_notes`` a (group,
    section) to text added to its heading (e.g. "p for interaction = 0.03"). ``subtitle``
    names the model; ``n_text``/``events_text`` override the printed counts (disclosure).
    """
    required = {"label", "hr", "hr_lower", "hr_upper"}
    if not required <= set(rows.columns):
        raise CohortcalcError(f"forest_plot needs columns {sorted(required)}; got {list(rows)}.")
    lines = _forest_lines(rows, notes or {}, section_notes or {})
    counts = "n" in rows.columns or "n_text" in rows.columns
    inches = figure_width(width)
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(figsize=(inches, 0.75 + 0.16 * (len(lines) + 1)), layout="constrained")
        ratios = [2.3, 0.55, 0.55, 2.0, 1.25] if counts else [2.3, 2.0, 1.25]
        grid = figure.add_gridspec(1, len(ratios), width_ratios=ratios, wspace=0.0)
        label_axes = figure.add_subplot(grid[0])
        count_axes = (
            [figure.add_subplot(grid[i], sharey=label_axes) for i in (1, 2)] if counts else []
        )
        axes = figure.add_subplot(grid[-2], sharey=label_axes)
        text_axes = figure.add_subplot(grid[-1], sharey=label_axes)
        top = len(lines)
        for position, (label, record, style) in zip(range(top - 1, -1, -1), lines, strict=True):
            _line_text(label_axes, position, label, style)
            if record is None:
                continue
            for column, count_ax in zip(("n", "events"), count_axes, strict=False):
                count_ax.text(0.5, position, _count(record, column), va="center", ha="center")
            axes.plot([record["hr_lower"], record["hr_upper"]], [position] * 2, color="black",
                      lw=0.9)  # fmt: skip
            axes.plot(record["hr"], position, marker="s", ms=3.5, color=OKABE_ITO["blue"])
            text = format_ratio_ci(record["hr"], record["hr_lower"], record["hr_upper"])
            text_axes.text(0.05, position, text, va="center")
        headers = [(label_axes, 0.0, "left", "Subgroup")]
        headers += [
            (ax, 0.5, "center", h) for ax, h in zip(count_axes, ("N", "Events"), strict=True)
        ]
        headers += [(text_axes, 0.05, "left", estimate_header)]
        for ax, x, align, header in headers:
            ax.text(x, top - 0.2, header, va="bottom", ha=align, fontweight="bold")
        for side in (label_axes, text_axes, *count_axes):
            side.set_xlim(0, 1)
            side.set_axis_off()
        axes.axvline(1.0, color="0.4", lw=0.6, linestyle="--")
        axes.set_xscale("log")
        axes.set_ylim(-0.7, top + 0.5)
        axes.tick_params(axis="y", left=False, labelleft=False)
        axes.spines["left"].set_visible(False)
        axes.set_xlabel(xlabel)
        _log_ticks(axes, rows)
        heading = "\n".join(t for t in (title, subtitle) if t)
        if heading:
            figure.suptitle(_wrap(heading, inches, 8), x=0.01, ha="left", fontsize=8)
    return figure


def _count(record: pd.Series, column: str) -> str:
    text = record.get(f"{column}_text") if column == "events" else record.get("n_text")
    if isinstance(text, str):
        return text
    value = record.get("n" if column == "n" else "n_events")
    return "" if value is None or pd.isna(value) else format_count(value)


def _line_text(axes, position: float, label: str, style: str) -> None:
    indent = {"group": 0.0, "section": 0.04, "row": 0.08, "plain": 0.0}[style]
    weight = "bold" if style == "group" else "normal"
    slant = "italic" if style == "section" else "normal"
    axes.text(indent, position, label, va="center", fontweight=weight, fontstyle=slant)


def _wrap(text: str, width_in: float, size_pt: float) -> str:
    per_line = max(10, int(width_in * 72 / (0.55 * size_pt)))
    return "\n".join(line for part in text.split("\n") for line in textwrap.wrap(part, per_line))


def _forest_lines(
    rows: pd.DataFrame, notes: Mapping[str, str], section_notes: Mapping[tuple[str, str], str]
) -> list:
    """(text, record or None, style) per line: group headings, section headings, rows."""
    lines: list = []
    group_column = rows["group"] if "group" in rows else pd.Series([None] * len(rows))
    sections = rows["section"] if "section" in rows else pd.Series([None] * len(rows))
    current, current_section = object(), object()
    for (_, record), group, section in zip(rows.iterrows(), group_column, sections, strict=True):
        grouped = group is not None and not pd.isna(group)
        if grouped and group != current:
            header = f"{group}" + (f" ({notes[group]})" if group in notes else "")
            lines.append((header, None, "group"))
            current, current_section = group, object()
        has_section = section is not None and not pd.isna(section)
        if has_section and section != current_section:
            note = section_notes.get((group, section))
            lines.append((f"{section}" + (f" ({note})" if note else ""), None, "section"))
            current_section = section
        style = "row" if has_section or grouped else "plain"
        lines.append((str(record["label"]), record, style))
    return lines


def _log_ticks(axes, rows: pd.DataFrame) -> None:
    """Ticks at powers of two (0.5, 1, 2, 4, 8, ...) spanning the intervals and 1."""
    low = min(float(rows["hr_lower"].min()), 1.0)
    high = max(float(rows["hr_upper"].max()), 1.0)
    first, last = int(np.floor(np.log2(low))), int(np.ceil(np.log2(high)))
    first, last = min(first, -1), max(last, 1)
    ticks = [2.0**k for k in range(first, last + 1)]
    while len(ticks) > 8:
        ticks = ticks[::2] if 1.0 in ticks[::2] else ticks[1::2]
    axes.set_xlim(min(low / 1.15, ticks[0]), max(high * 1.15, ticks[-1]))
    axes.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    axes.minorticks_off()
