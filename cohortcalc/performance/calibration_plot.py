"""The calibration plot: observed (KM/AJ, with its CI) against mean predicted risk per group,
the line of identity, in the package's figure style (``reporting/style.py``)."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, OKABE_ITO


def plot_calibration(
    result: Any,
    *,
    title: str | None = None,
    percent: bool = True,
    width: float = COLUMN_WIDTH_IN,
    time_unit: str = "",
) -> Figure:
    """Observed vs predicted risk by the horizon, one point per group with its CI; the
    footnote gives the horizon (in ``time_unit``), the GND test, O/E and the calibration
    slope."""
    table = result.table
    scale = 100.0 if percent else 1.0
    unit = " (%)" if percent else ""
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(figsize=(width, width))
        axes = figure.add_subplot()
        top = scale * max(table["upper"].max(), table["predicted"].max()) * 1.08
        axes.plot(
            [0, top],
            [0, top],
            color=OKABE_ITO["black"],
            linestyle="--",
            linewidth=0.7,
            label="Ideal",
        )
        axes.errorbar(
            scale * table["predicted"],
            scale * table["observed"],
            yerr=[
                scale * (table["observed"] - table["lower"]),
                scale * (table["upper"] - table["observed"]),
            ],
            fmt="o",
            markersize=3.5,
            color=OKABE_ITO["blue"],
            ecolor=OKABE_ITO["blue"],
            elinewidth=0.8,
            capsize=1.5,
            label="Observed (95% CI)",
        )
        axes.set_xlim(0, top)
        axes.set_ylim(0, top)
        axes.set_aspect("equal")
        kind = "cumulative incidence" if result.cause is not None else "Kaplan–Meier"
        axes.set_xlabel(f"Mean predicted risk{unit}")
        axes.set_ylabel(f"Observed risk, {kind}{unit}")
        if title:
            axes.set_title(title)
        axes.legend(frameon=False, loc="upper left")
        large, slope = result.in_the_large, result.slope
        figure.text(
            0.01,
            -0.02,
            f"Risk by {result.horizon:g}{' ' + time_unit if time_unit else ''}; "
            f"{len(table)} groups. GND χ² = {result.gnd}. "
            f"O/E = {large['o_e_ratio']:.2f} ({large['o_e_lower']:.2f}–{large['o_e_upper']:.2f}); "
            f"slope = {slope['slope']:.2f} ({slope['lower']:.2f}–{slope['upper']:.2f}).",
            fontsize=5.5,
            ha="left",
            va="top",
            wrap=True,
        )
    return figure
