"""Kaplan–Meier and cumulative-incidence curves with numbers at risk aligned under the time
axis, optionally one panel per stratum (``facet``). Built on ``matplotlib.figure.Figure`` (no
pyplot state) in the shared style of ``reporting.style``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.forest import forest_plot, forest_rows
from cohortcalc.reporting.format import (
    format_count,
    level_label,
    stratum_heading,
    suppressed_label,
    variable_label,
)
from cohortcalc.reporting.style import (
    FIGURE_STYLE,
    LINE_STYLES,
    OKABE_ITO,
    figure_width,
    palette,
    readable,
    save_figure,
)
from cohortcalc.reporting.tables import CAC_LEVELS

__all__ = [
    "OKABE_ITO",
    "at_risk",
    "forest_plot",
    "forest_rows",
    "plot_cumulative_incidence",
    "plot_survival",
    "save_figure",
]

_CURVE_COLUMNS = {
    "time", "n_risk", "n_event", "n_competing", "n_censor", "survival", "cif", "std_err",
    "lower", "upper",
}  # fmt: skip


def plot_survival(curves: pd.DataFrame, **options: Any) -> Figure:
    """Kaplan–Meier curves from ``cc.kaplan_meier(...)`` with a number-at-risk table.

    Options: ``by`` (grouping columns; default: every non-estimate column but ``facet``),
    ``facet`` (one panel per value of this column, side by side, shared y axis), ``time_unit``
    ("years"), ``xlabel``, ``ylabel`` ("Survival, %"), ``title``, ``at_risk_times`` (default:
    the axis ticks), ``ci`` (True: shaded pointwise bands), ``min_cell`` (numbers at risk
    below it print as "<min_cell"), ``max_time`` (end the curves there, e.g. where few remain
    at risk; Pocock et al., Lancet 2002;359:1686), ``labels`` (variable display names),
    ``width`` (inches), ``start`` (where the time axis and the curves begin: 0 on follow-up
    time, the first entry on the age or calendar scale).
    """
    options.setdefault("ylabel", "Survival, %")
    return _curve_figure(curves, "survival", **options)


def plot_cumulative_incidence(curves: pd.DataFrame, **options: Any) -> Figure:
    """Cumulative-incidence curves from ``cc.cumulative_incidence(...)``, same options as
    ``plot_survival`` (default ``ylabel`` "Cumulative incidence, %")."""
    options.setdefault("ylabel", "Cumulative incidence, %")
    return _curve_figure(curves, "cif", **options)


def _groups(curves: pd.DataFrame, by: Sequence[str] | str) -> tuple[list[str], list]:
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by if c not in curves.columns]
    if missing:
        raise CohortcalcError(f"grouping column(s) {missing} not in the curve table.")
    if not by:
        return by, [()]
    keys = list(dict.fromkeys(curves[by].itertuples(index=False, name=None)))
    if len(by) == 1 and {str(k[0]) for k in keys} <= set(CAC_LEVELS):
        keys.sort(key=lambda k: CAC_LEVELS.index(str(k[0])))
    elif all(isinstance(v, bool | np.bool_) for k in keys for v in k):
        keys.sort()  # without before with, as the tables order them
    return by, keys


def _subset(curves: pd.DataFrame, by: list[str], key: tuple) -> pd.DataFrame:
    mask = np.ones(len(curves), dtype=bool)
    for column, value in zip(by, key, strict=True):
        mask &= (curves[column] == value).to_numpy()
    return curves.loc[mask].sort_values("time")


def at_risk(curve: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
    """Number still under observation at each of ``times``, read off a curve table.

    At t it is n_risk at the last tabulated time before t minus everyone who left then
    (events, competing events, censored); at or before the first time it is that row's n_risk.
    """
    exits = curve["n_event"] + curve["n_censor"] + curve.get("n_competing", 0)
    remaining = (curve["n_risk"] - exits).to_numpy()
    position = np.searchsorted(curve["time"].to_numpy(), np.asarray(times), side="left")
    first = int(curve["n_risk"].iloc[0]) if len(curve) else 0
    return np.where(position == 0, first, remaining[np.maximum(position - 1, 0)])


def _curve_figure(
    curves: pd.DataFrame,
    value: str,
    *,
    by: Sequence[str] | str | None = None,
    facet: str | None = None,
    time_unit: str = "years",
    xlabel: str | None = None,
    ylabel: str = "",
    title: str | None = None,
    at_risk_times: Sequence[float] | None = None,
    ci: bool = True,
    min_cell: int | None = None,
    max_time: float | None = None,
    labels: dict[str, str] | None = None,
    width: float | str = "single",
    risk_label: Callable[[tuple, float, int], str] | None = None,
    risk_rows: Sequence[str] = ("at risk",),
    start: float = 0.0,
) -> Figure:
    if value not in curves.columns:
        raise CohortcalcError(f"curve table has no {value!r} column; columns: {list(curves)}.")
    if facet is not None and facet not in curves.columns:
        raise CohortcalcError(f"facet column {facet!r} not in the curve table {list(curves)}.")
    unknown = [r for r in risk_rows if r not in RISK_ROWS]
    if unknown or not risk_rows:
        raise CohortcalcError(f"risk_rows {list(risk_rows)}: choose from {list(RISK_ROWS)}.")
    if by is None:
        by = [c for c in curves.columns if c not in _CURVE_COLUMNS and c != facet]
    by, keys = _groups(curves, by)
    panels = [()] if facet is None else _groups(curves, facet)[1]
    if max_time is not None:
        curves = curves.loc[curves["time"] <= max_time]
    horizon = float(max_time if max_time is not None else curves["time"].max())
    times = risk_times(horizon, at_risk_times, start)
    lines = len(keys) * len(risk_rows) + (len(risk_rows) - 1)
    table_height = 0.13 * lines + 0.3
    inches = figure_width(width)
    names = [_group_name(by, key, labels) for key in keys]
    with mpl.rc_context(FIGURE_STYLE):
        size = (inches * len(panels), 2.4 + table_height)
        figure = Figure(figsize=size, layout="constrained")
        grid = figure.add_gridspec(2, len(panels), height_ratios=[2.4, table_height])
        first = None
        for column, panel in enumerate(panels):
            axes = figure.add_subplot(grid[0, column], sharey=first)
            table_axes = figure.add_subplot(grid[1, column], sharex=axes)
            first = first or axes
            subset = curves if facet is None else _subset(curves, [facet], panel)
            texts = (risk_label or _small_cells(min_cell), _small_cells(min_cell))
            _panel(
                axes,
                table_axes,
                subset,
                value,
                (by, keys, names),
                times,
                ci,
                texts,
                risk_rows,
                start,
            )
            _style_curve_axes(
                axes, horizon, times, xlabel or f"Time since baseline, {time_unit}", start
            )
            if facet is not None:
                axes.set_title(_group_name([facet], panel, labels))
        first.set_ylim(*_value_limits(curves, value, ci))
        first.set_ylabel(ylabel)
        if by:  # above the plotting area, outside it: it never covers a curve or a band
            handles, _ = first.get_legend_handles_labels()
            legend = first.legend(
                handles, names, loc="lower left", bbox_to_anchor=(0.0, 1.02), borderaxespad=0.0,
                ncols=_legend_columns(names, size[0]), frameon=False, handlelength=2.2,
                title=", ".join(variable_label(b, labels) for b in by), alignment="left",
            )  # fmt: skip
            legend.set_in_layout(True)
        if title:
            figure.suptitle(_wrap(title, size[0], 8), x=0.01, ha="left", fontsize=8)
    return figure


RISK_ROWS = {
    "at risk": "Number at risk",
    "events": "Cumulative events",
    "censored": "Cumulative censored",
}
"""The rows a risk table can show under the curves (as ggsurvfit's ``add_risktable``)."""


def _group_name(by: Sequence[str], key: tuple, labels: dict[str, str] | None) -> str:
    """A group as a reader reads it: "1–100", "With CKD", "Female"."""
    if len(key) == 1 and isinstance(key[0], bool | np.bool_):
        return stratum_heading(by[0], bool(key[0]), labels)
    return ", ".join(level_label(v) for v in key) or "All"


def _legend_columns(names: list[str], width_in: float) -> int:
    """Legend columns: as many entries per row as fit in the width (about 14 characters per
    inch of 6.5-point text, plus the line sample), balanced over the rows needed."""
    per_entry = max(len(n) for n in names) / 14.0 + 0.5
    fit = max(1, min(len(names), int((width_in - 0.4) // per_entry)))
    rows = -(-len(names) // fit)
    return -(-len(names) // rows)


def _wrap(text: str, width_in: float, size_pt: float) -> str:
    """``text`` broken into lines no wider than the figure (average glyph 0.55 em)."""
    per_line = max(10, int(width_in * 72 / (0.55 * size_pt)))
    return "\n".join(textwrap.wrap(text, per_line))


def _small_cells(min_cell: int | None) -> Callable[[tuple, float, int], str]:
    """Numbers at risk from 1 to ``min_cell - 1`` as "<min_cell", the others in full."""

    def text(key: tuple, time: float, n: int) -> str:
        small = min_cell is not None and 0 < n < min_cell
        return suppressed_label(min_cell) if small else format_count(n)

    return text


def _panel(axes, table_axes, curves, value, groups, times, ci, texts, risk_rows, origin) -> None:
    """One panel: a curve per group with its confidence band, and the risk table below;
    ``texts``: how numbers at risk and other counts print."""
    by, keys, names = groups
    colours = palette(len(keys))
    start = 1.0 if value == "survival" else 0.0
    blocks: dict[str, list[list[str]]] = {row: [] for row in risk_rows}
    for index, key in enumerate(keys):
        curve = _subset(curves, by, key)
        if len(curve):
            style = LINE_STYLES[index % len(LINE_STYLES)]
            _draw_curve(axes, curve, value, start, colours[index], style, names[index], ci, origin)
        for row in risk_rows:
            numbers = _risk_numbers(curve, times, row)
            text = texts[0] if row == "at risk" else texts[1]
            pairs = zip(times, numbers, strict=True)
            blocks[row].append([text(key, float(t), int(n)) for t, n in pairs])
    _risk_table(table_axes, times, blocks, names, colours)


def _risk_numbers(curve: pd.DataFrame, times: np.ndarray, row: str) -> np.ndarray:
    """Numbers at risk at each time, or events / censored from 0 up to each time."""
    if not len(curve):
        return np.zeros(len(times), dtype=int)
    if row == "at risk":
        return at_risk(curve, times)
    column = "n_event" if row == "events" else "n_censor"
    cumulative = curve[column].cumsum().to_numpy()
    position = np.searchsorted(curve["time"].to_numpy(), np.asarray(times), side="right")
    return np.where(position == 0, 0, cumulative[np.maximum(position - 1, 0)])


def _draw_curve(axes, curve, value, start, colour, style, name, ci, origin=0.0) -> None:
    time = np.concatenate([[origin], curve["time"].to_numpy()])
    estimate = np.concatenate([[start], curve[value].to_numpy()])
    axes.step(time, estimate, where="post", color=colour, linestyle=style, label=name)
    if ci:
        lower = np.concatenate([[start], curve["lower"].to_numpy()])
        upper = np.concatenate([[start], curve["upper"].to_numpy()])
        axes.fill_between(time, lower, upper, step="post", color=colour, alpha=0.15, lw=0)


def risk_times(
    horizon: float, given: Sequence[float] | None = None, start: float = 0.0
) -> np.ndarray:
    """The times of the numbers at risk: ``given``, else the axis ticks from ``start`` (0, or
    the first entry on the age scale) to ``horizon``."""
    if given is not None:
        return np.asarray(sorted(given), dtype=float)
    locator = MaxNLocator(nbins=5, integer=True, steps=[1, 2, 2.5, 5, 10])
    ticks = locator.tick_values(start, horizon)
    return ticks[(ticks >= start) & (ticks <= horizon)]


def _style_curve_axes(axes, horizon, times, xlabel, start=0.0) -> None:
    axes.set_xlim(start, start + (horizon - start) * 1.01)
    axes.set_xticks(times)
    axes.tick_params(labelbottom=True)
    axes.set_xlabel(xlabel)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0, symbol=""))
    axes.grid(axis="y", linewidth=0.3, alpha=0.5)


def _value_limits(curves: pd.DataFrame, value: str, ci: bool) -> tuple[float, float]:
    """y range from the data of every panel: CIF from 0 up, survival down from 100%."""
    if value == "cif":
        top = np.nanmax(curves["upper" if ci else "cif"].to_numpy(), initial=0.01)
        return 0.0, min(1.0, 1.05 * top)
    bottom = np.nanmin(curves["lower" if ci else "survival"].to_numpy(), initial=0.9)
    return max(0.0, bottom - 0.02), 1.005


def _risk_table(axes, times, blocks: dict[str, list[list[str]]], names, colours) -> None:
    """The risk table: one block per kind of count, one row per group, each number centred
    under its time tick on the same baseline as its row label, in a colour dark enough to
    read (WCAG contrast >= 4.5 on white)."""
    ink = [readable(c) for c in colours]
    labels, label_colours, y = [], [], 0
    rows = sum(len(b) for b in blocks.values()) + len(blocks) - 1
    for index, (kind, block) in enumerate(blocks.items()):
        if index:  # a sub-heading row for every block after the first
            labels.append(RISK_ROWS[kind])
            label_colours.append("#000000")
            y += 1
        for name, line, colour in zip(names, block, ink, strict=True):
            for t, text in zip(times, line, strict=True):
                axes.text(t, rows - 1 - y, text, ha="center", va="center_baseline", fontsize=6,
                          color=colour)  # fmt: skip
            labels.append(name)
            label_colours.append(colour)
            y += 1
    axes.set_ylim(-0.6, rows - 0.4)
    axes.set_yticks(range(rows - 1, -1, -1), labels=labels)
    for label, colour in zip(axes.get_yticklabels(), label_colours, strict=True):
        label.set_color(colour)
        label.set_fontweight("bold" if colour == "#000000" else "normal")
    axes.tick_params(axis="y", length=0, labelsize=6, pad=14)  # clear of the t = 0 numbers
    axes.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(RISK_ROWS[next(iter(blocks))], loc="left", fontsize=6.5, pad=2)
