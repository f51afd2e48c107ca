"""The look shared by every figure: palette, line styles, font sizes, column width, and the
writer that saves a figure as PNG, PDF and SVG at 300 dpi.

Colours are the Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008, "Color Universal
Design"); line styles differ too, so figures survive greyscale printing. Sizes suit a journal
column of 3.5 in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from cohortcalc.errors import CohortcalcError

OKABE_ITO = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish_green": "#009E73",
    "orange": "#E69F00",
    "reddish_purple": "#CC79A7",
    "sky_blue": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
ORDERED_FOUR = ("blue", "bluish_green", "orange", "vermillion")
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)))
COLUMN_WIDTH_IN = 3.5
FIGURE_STYLE = {
    "font.size": 7,
    "axes.labelsize": 7.5,
    "axes.titlesize": 8,
    "xtick.labelsize": 6.5,
    "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 6.5,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def palette(n: int) -> list[str]:
    """``n`` Okabe–Ito colours; four ordered groups get blue → green → orange → vermillion."""
    if n == 4:
        return [OKABE_ITO[name] for name in ORDERED_FOUR]
    if n > len(OKABE_ITO):
        raise CohortcalcError(f"{n} groups is more than the {len(OKABE_ITO)} palette colours.")
    return list(OKABE_ITO.values())[:n]


def save_figure(
    figure: Figure, path: str | Path, formats: Sequence[str] = ("png", "pdf", "svg"), dpi: int = 300
) -> list[Path]:
    """Write ``figure`` once per format (``path`` without suffix, or with one to write just
    that format) at ``dpi``; fonts stay text in SVG and embed as TrueType in PDF."""
    path = Path(path)
    if path.suffix:
        formats, path = [path.suffix.lstrip(".")], path.with_suffix("")
    unknown = [f for f in formats if f not in ("png", "pdf", "svg")]
    if unknown:
        raise CohortcalcError(f"{path}: unsupported figure format(s) {unknown}; use png, pdf, svg.")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "cohortcalc"}):
        for fmt in formats:
            target = path.with_suffix(f".{fmt}")
            figure.savefig(
                target, dpi=dpi, format=fmt, bbox_inches="tight", metadata=_metadata(fmt)
            )
            written.append(target)
    return written


def _metadata(fmt: str) -> dict[str, Any]:
    """No creation dates, so the same figure gives the same file."""
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    if fmt == "svg":
        return {"Date": None}
    return {}
