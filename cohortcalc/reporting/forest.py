"""Forest plots of hazard ratios across subgroups, read from fitted results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.format import format_ratio_ci
from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, OKABE_ITO


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
    notes: Mapping[str, str] | None = None,
    width: float = COLUMN_WIDTH_IN,
) -> Figure:
    """A forest plot of ``rows`` (from ``forest_rows``; columns label, hr, hr_lower, hr_upper,
    optional group): labels, estimates on a log axis with a line at 1, and "HR (95% CI)" text.
    ``notes`` maps a group to text printed on its header (e.g. "p for interaction = 0.03").
    """
    required = {"label", "hr", "hr_lower", "hr_upper"}
    if not required <= set(rows.columns):
        raise CohortcalcError(f"forest_plot needs columns {sorted(required)}; got {list(rows)}.")
    lines = _forest_lines(rows, notes or {})
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(figsize=(width, 0.6 + 0.17 * len(lines)), layout="constrained")
        grid = figure.add_gridspec(1, 3, width_ratios=[1.35, 1.25, 0.95], wspace=0.0)
        label_axes = figure.add_subplot(grid[0])
        axes = figure.add_subplot(grid[1], sharey=label_axes)
        text_axes = figure.add_subplot(grid[2], sharey=label_axes)
        y = np.arange(len(lines))[::-1]
        for position, (label, record, is_header) in zip(y, lines, strict=True):
            weight = "bold" if is_header else "normal"
            indent = 0.0 if is_header or not label.startswith("  ") else 0.08
            label_axes.text(indent, position, label.strip(), va="center", fontweight=weight)
            if record is None:
                continue
            axes.plot(
                [record["hr_lower"], record["hr_upper"]], [position] * 2, color="black", lw=0.9
            )
            axes.plot(record["hr"], position, marker="s", ms=3.5, color=OKABE_ITO["blue"])
            text = format_ratio_ci(record["hr"], record["hr_lower"], record["hr_upper"])
            text_axes.text(0.05, position, text, va="center")
        text_axes.text(0.05, len(lines) - 0.2, estimate_header, va="bottom", fontweight="bold")
        for side in (label_axes, text_axes):
            side.set_xlim(0, 1)
            side.set_axis_off()
        axes.axvline(1.0, color="0.4", lw=0.6, linestyle="--")
        axes.set_xscale("log")
        axes.set_ylim(-0.7, len(lines) + 0.3)
        axes.tick_params(axis="y", left=False, labelleft=False)
        axes.spines["left"].set_visible(False)
        axes.set_xlabel(xlabel)
        _log_ticks(axes, rows)
        if title:
            figure.suptitle(title, x=0.02, ha="left", fontsize=8)
    return figure


def _forest_lines(rows: pd.DataFrame, notes: Mapping[str, str]) -> list:
    lines: list = []
    group_column = rows["group"] if "group" in rows else pd.Series([None] * len(rows))
    current = object()
    for (_, record), group in zip(rows.iterrows(), group_column, strict=True):
        if group is not None and not pd.isna(group) and group != current:
            header = f"{group}" + (f" ({notes[group]})" if group in notes else "")
            lines.append((header, None, True))
            current = group
        indent = "  " if group is not None and not pd.isna(group) else ""
        lines.append((f"{indent}{record['label']}", record, False))
    return lines


def _log_ticks(axes, rows: pd.DataFrame) -> None:
    low = min(float(rows["hr_lower"].min()), 1.0)
    high = max(float(rows["hr_upper"].max()), 1.0)
    candidates = [0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 16, 32, 64]
    ticks = [t for t in candidates if low / 1.1 <= t <= high * 1.1]
    while len(ticks) > 5:
        ticks = ticks[::2] if 1 in ticks[::2] else ticks[1::2]
    axes.set_xlim(low / 1.15, high * 1.15)
    axes.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    axes.minorticks_off()
