"""The figure of a standardised risk: a curve per exposure level with its pointwise band and,
beside it, the risk difference against the reference level with its band (``reporting.style``
look: Okabe–Ito colours, distinct line styles, a journal column per panel).
"""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.format import level_label, variable_label
from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, LINE_STYLES, palette


def plot_standardized_risk(
    result: Any,
    *,
    difference: bool = True,
    time_unit: str = "years",
    ylabel: str = "Standardised risk, %",
    labels: dict[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Risk curves by exposure level (steps through ``result.times``, from 0 at time 0) with
    their bands; with ``difference`` a second panel of the risk difference against the
    reference level. Curves need a grid of times: pass e.g. ``np.linspace(0.25, 10, 40)``; each
    value holds until the next grid time, so a fine grid draws the curve closely."""
    if len(result.times) < 2:
        raise CohortcalcError(
            "a standardised-risk curve needs several times; call cc.standardized_risk with a "
            "grid of times (e.g. numpy.linspace(0.25, 10, 40)) to plot it."
        )
    colours = palette(len(result.levels))
    exposure = variable_label(result.exposure, labels)
    with mpl.rc_context(FIGURE_STYLE):
        panels = 2 if difference else 1
        figure = Figure(figsize=(COLUMN_WIDTH_IN * panels, 2.6), layout="constrained")
        axes = figure.subplots(1, panels, squeeze=False)[0]
        for index, level in enumerate(result.levels):
            rows = result.risk.loc[result.risk["level"] == level]
            _band(axes[0], rows, "risk", colours[index], index, level_label(level))
        axes[0].set_ylim(0.0, min(1.0, 1.05 * float(np.nanmax(result.risk["upper"]))) or 1.0)
        _style(axes[0], result, time_unit, ylabel)
        legend = axes[0].legend(title=exposure, loc="upper left", handlelength=2.2)
        legend.get_frame().set_linewidth(0)
        if difference:
            for index, level in enumerate(result.levels[1:], start=1):
                rows = result.contrasts.loc[result.contrasts["level"] == level]
                rows = rows.rename(
                    columns={"difference_lower": "lower", "difference_upper": "upper"}
                )
                name = f"{level_label(level)} vs {level_label(result.reference)}"
                _band(axes[1], rows, "difference", colours[index], index, name)
            axes[1].axhline(0.0, color="0.4", linewidth=0.6)
            _style(axes[1], result, time_unit, "Risk difference, percentage points")
            legend = axes[1].legend(loc="upper left", handlelength=2.2)
            legend.get_frame().set_linewidth(0)
        if title:
            figure.suptitle(title, x=0.02, ha="left", fontsize=8)
    return figure


def _band(axes: Any, rows: Any, value: str, colour: str, index: int, name: str) -> None:
    """A step curve from 0 at time 0 through the rows' times, and its pointwise band."""
    time = np.concatenate([[0.0], rows["time"].to_numpy()])
    estimate = np.concatenate([[0.0], rows[value].to_numpy()])
    style = LINE_STYLES[index % len(LINE_STYLES)]
    axes.step(time, estimate, where="post", color=colour, linestyle=style, label=name)
    lower = np.concatenate([[0.0], rows["lower"].to_numpy()])
    upper = np.concatenate([[0.0], rows["upper"].to_numpy()])
    if np.isfinite(lower).any():
        axes.fill_between(time, lower, upper, step="post", color=colour, alpha=0.15, lw=0)


def _style(axes: Any, result: Any, time_unit: str, ylabel: str) -> None:
    axes.set_xlim(0.0, max(result.times) * 1.01)
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 2.5, 5, 10]))
    axes.set_xlabel(f"Time since baseline, {time_unit}")
    axes.set_ylabel(ylabel)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0, symbol=""))
    axes.grid(axis="y", linewidth=0.3, alpha=0.5)
