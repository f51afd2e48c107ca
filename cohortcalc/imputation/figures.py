"""Diagnostic figures of an imputation: trace plots and imputed vs observed distributions.

As ``mice``'s ``plot(imp)`` and ``densityplot(imp)`` (van Buuren 2018, sec. 6.5–6.6): the
chains' means and SDs of the imputed values should mix without trend across iterations, and
imputed values should look plausible next to the observed ones (under MAR they may differ).
``matplotlib`` Figures in the shared style of ``reporting.style``; no pyplot state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _chosen(imputations: Any, variables: Sequence[str] | None) -> list[str]:
    from cohortcalc.errors import ModelError

    names = list(imputations.variables) if variables is None else list(variables)
    unknown = [v for v in names if v not in imputations.variables]
    if unknown or not names:
        raise ModelError(
            f"variable(s) {unknown or names} were not imputed; choose from "
            f"{list(imputations.variables)}."
        )
    return names


def plot_imputation_trace(imputations: Any, variables: Sequence[str] | None = None) -> Any:
    """Mean and SD of each variable's imputed values by iteration, one line per imputation."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, palette

    names = _chosen(imputations, variables)
    trace = imputations.trace
    colours = palette(min(imputations.m, 8))
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(figsize=(2 * COLUMN_WIDTH_IN, 1.5 * len(names) + 0.4), layout="constrained")
        axes = figure.subplots(len(names), 2, squeeze=False, sharex=True)
        for row, name in enumerate(names):
            rows = trace[trace["variable"] == name]
            for chain, group in rows.groupby("imputation"):
                colour = colours[(int(chain) - 1) % len(colours)]
                for col, stat in enumerate(("mean", "sd")):
                    axes[row, col].plot(group["iteration"], group[stat], color=colour, lw=0.8)
            categorical = imputations.methods[name] != "pmm"
            unit = " (category code)" if categorical else ""
            axes[row, 0].set_ylabel(f"{name}\nmean{unit}")
            axes[row, 1].set_ylabel(f"SD{unit}")
        for col in range(2):
            axes[-1, col].set_xlabel("Iteration")
        figure.suptitle(
            f"Convergence of the chained equations (m = {imputations.m} imputations)",
            fontsize=FIGURE_STYLE["axes.titlesize"],
        )
    return figure


def plot_imputed_vs_observed(imputations: Any, variables: Sequence[str] | None = None) -> Any:
    """Observed vs imputed distributions: densities (continuous; observed thick, each
    imputation thin) or category shares (categorical; observed vs all imputations)."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from cohortcalc.reporting.style import COLUMN_WIDTH_IN, FIGURE_STYLE, OKABE_ITO

    names = _chosen(imputations, variables)
    columns = min(len(names), 3)
    rows = -(-len(names) // columns)
    observed_colour, imputed_colour = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
    with mpl.rc_context(FIGURE_STYLE):
        figure = Figure(
            figsize=(COLUMN_WIDTH_IN * columns * 0.9, 1.9 * rows + 0.4), layout="constrained"
        )
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, name in zip(axes, names, strict=False):
            observed, imputed = imputations.observed[name], imputations.imputed[name]
            if imputations.methods[name] == "pmm":
                _densities(ax, observed, imputed, observed_colour, imputed_colour)
            else:
                levels = imputations.levels[name]
                _shares(ax, levels, observed, imputed, observed_colour, imputed_colour)
            fraction = imputations.missing.loc[name, "fraction_missing"]
            ax.set_title(f"{name} ({100 * fraction:.1f}% imputed)")
        for ax in axes[len(names) :]:
            ax.set_visible(False)
        handles = [
            mpl.lines.Line2D([], [], color=observed_colour, lw=1.6, label="observed"),
            mpl.lines.Line2D([], [], color=imputed_colour, lw=0.8, label="imputed"),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    return figure


def _densities(ax: Any, observed: np.ndarray, imputed: np.ndarray, obs_c: str, imp_c: str) -> None:
    from scipy.stats import gaussian_kde

    everything = np.concatenate([observed, imputed.ravel()])
    low, high = everything.min(), everything.max()
    grid = np.linspace(low, high, 256) if high > low else np.array([low - 1, low, low + 1])
    for values in imputed:
        if len(values) > 2 and np.ptp(values) > 0:
            ax.plot(grid, gaussian_kde(values)(grid), color=imp_c, lw=0.6, alpha=0.7)
    if np.ptp(observed) > 0:
        ax.plot(grid, gaussian_kde(observed)(grid), color=obs_c, lw=1.6)
    ax.set_ylabel("Density")


def _shares(
    ax: Any,
    levels: Sequence[Any],
    observed: np.ndarray,
    imputed: np.ndarray,
    obs_c: str,
    imp_c: str,
) -> None:
    positions = np.arange(len(levels))
    obs_share = [np.mean(observed == level) for level in levels]
    ax.bar(positions - 0.2, obs_share, width=0.4, color=obs_c)
    per_imputation = np.array([[np.mean(row == level) for level in levels] for row in imputed])
    ax.bar(positions + 0.2, per_imputation.mean(axis=0), width=0.4, color=imp_c, alpha=0.8)
    for share in per_imputation:
        ax.plot(positions + 0.2, share, "o", color="black", ms=1.5)
    ax.set_xticks(positions, [str(level) for level in levels])
    ax.set_ylabel("Share")
