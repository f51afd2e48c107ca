"""The exposure–response figure of a spline HR curve: ``cc.plot_hr_curve``.

Curve with its pointwise CI band on a log HR axis, a dashed line at HR = 1 and the reference
value marked, the Wald p-values, and a histogram of the exposure under it; the look (palette,
sizes, column width) is ``reporting.style``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from cohortcalc.effects.curves import HrCurve
from cohortcalc.errors import ModelError
from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, OKABE_ITO
from cohortcalc.survival.results import format_p

_LOG_TICKS = (0.1, 0.2, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 16, 32, 64)


def plot_hr_curve(
    curve: HrCurve,
    exposure: Any = None,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    ticks: Mapping[float, str] | None = None,
    width: float = COLUMN_WIDTH_IN,
) -> Figure:
    """Figure of ``curve`` (from ``cc.hr_curve``); ``exposure`` (the column's values in the
    fit, any array-like) adds a histogram below. ``ticks`` maps exposure values to labels,
    e.g. ``{np.log1p(c): str(c) for c in (0, 10, 100, 1000)}`` to label log(CAC + 1) as CAC."""
    table = curve.table.sort_values("value")
    if len(table) < 2:
        raise ModelError("plot_hr_curve needs a curve at 2+ values; call cc.hr_curve without at=.")
    values = None if exposure is None else np.asarray(exposure, dtype=np.float64).reshape(-1)
    if values is not None:
        values = values[np.isfinite(values)]
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(figsize=(width, width * 0.85), layout="constrained")
        if values is not None and values.size:
            grid = figure.add_gridspec(2, 1, height_ratios=[4, 1], hspace=0.02)
            axes = figure.add_subplot(grid[0])
            histogram = figure.add_subplot(grid[1], sharex=axes)
            _histogram(histogram, values, table["value"].to_numpy())
            bottom = histogram
            axes.tick_params(labelbottom=False)
        else:
            axes = figure.add_subplot(1, 1, 1)
            bottom = axes
        colour = OKABE_ITO["blue"]
        x = table["value"].to_numpy()
        axes.fill_between(x, table["hr_lower"], table["hr_upper"], color=colour, alpha=0.2, lw=0)
        axes.plot(x, table["hr"], color=colour)
        axes.axhline(1.0, color="0.4", lw=0.6, linestyle="--")
        axes.plot([curve.reference], [1.0], marker="o", ms=3, color="black", zorder=3)
        axes.set_yscale("log")
        _log_ticks(axes, table)
        axes.set_ylabel(ylabel or f"{curve.ratio} ({100 * curve.conf_level:g}% CI)")
        axes.text(
            0.03,
            0.97,
            f"p overall {_p_text(curve.association.p)}\n"
            f"p non-linear {_p_text(curve.nonlinearity.p)}",
            transform=axes.transAxes,
            va="top",
            ha="left",
        )
        bottom.set_xlabel(xlabel or curve.column)
        axes.set_xlim(float(x.min()), float(x.max()))
        if ticks:
            inside = {v: t for v, t in ticks.items() if x.min() <= v <= x.max()}
            bottom.set_xticks(list(inside), labels=list(inside.values()))
    return figure


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {format_p(p)}"


def _histogram(axes, values: np.ndarray, curve_values: np.ndarray) -> None:
    shown = values[(values >= curve_values.min()) & (values <= curve_values.max())]
    axes.hist(shown, bins=40, color="0.55", edgecolor="white", linewidth=0.3)
    axes.set_yticks([])
    axes.spines["left"].set_visible(False)
    axes.set_ylabel("n", rotation=0, labelpad=6, va="center")


def _log_ticks(axes, table) -> None:
    low = min(float(table["hr_lower"].min()), 1.0)
    high = max(float(table["hr_upper"].max()), 1.0)
    chosen = [t for t in _LOG_TICKS if low / 1.05 <= t <= high * 1.05]
    while len(chosen) > 6:
        chosen = chosen[::2] if 1 in chosen[::2] else chosen[1::2]
    axes.set_ylim(low / 1.1, high * 1.1)
    axes.set_yticks(chosen, labels=[f"{t:g}" for t in chosen])
    axes.minorticks_off()
