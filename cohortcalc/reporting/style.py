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
JOURNAL_WIDTHS_IN = {"single": 3.5, "double": 7.0}
"""Figure widths of a journal page: one column (about 89 mm) or the full width (about 178
mm), as JACC and Circulation ask (their artwork guidelines: 3.5 in / 7 in)."""
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


FIGURE_FORMATS = ("png", "pdf", "svg", "tiff")


def figure_width(width: float | str) -> float:
    """A width in inches: a number, or "single" / "double" (``JOURNAL_WIDTHS_IN``)."""
    if isinstance(width, str):
        if width not in JOURNAL_WIDTHS_IN:
            raise CohortcalcError(f"figure width {width!r}: use a number of inches, 'single' "
                                  "or 'double'.")  # fmt: skip
        return JOURNAL_WIDTHS_IN[width]
    return float(width)


def save_figure(
    figure: Figure, path: str | Path, formats: Sequence[str] = ("png", "pdf", "svg"), dpi: int = 300
) -> list[Path]:
    """Write ``figure`` once per format (``path`` without suffix, or with one to write just
    that format): PNG and TIFF (LZW) at ``dpi`` (300 for halftones, 600 for line art), PDF
    and SVG as vectors with the fonts embedded (TrueType in PDF, glyph outlines in SVG)."""
    path = Path(path)
    if path.suffix:
        formats, path = [path.suffix.lstrip(".")], path.with_suffix("")
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if unknown:
        raise CohortcalcError(
            f"{path}: unsupported figure format(s) {unknown}; use {', '.join(FIGURE_FORMATS)}."
        )
    if dpi < 72:
        raise CohortcalcError(f"{path}: dpi {dpi} is too low for print; use 300 or 600.")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context({"svg.fonttype": "path", "pdf.fonttype": 42, "svg.hashsalt": "cohortcalc"}):
        for fmt in formats:
            target = path.with_suffix(f".{fmt}")
            extra: dict[str, Any] = (
                {"metadata": _metadata(fmt)}
                if fmt != "tiff"
                else {"pil_kwargs": {"compression": "tiff_lzw"}}
            )
            figure.savefig(target, dpi=dpi, format=fmt, bbox_inches="tight", **extra)
            written.append(target)
    return written


def readable(colour: str, background: str = "#FFFFFF", ratio: float = 4.5) -> str:
    """``colour`` darkened until text in it has a WCAG 2 contrast of at least ``ratio`` on
    ``background`` (4.5:1 for normal text, WCAG 2.1 success criterion 1.4.3)."""
    from matplotlib.colors import to_hex, to_rgb

    rgb = to_rgb(colour)
    back = relative_luminance(to_rgb(background))
    while contrast(relative_luminance(rgb), back) < ratio:
        rgb = tuple(0.9 * c for c in rgb)
    return to_hex(rgb).upper()


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (channels 0-1)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: float, second: float) -> float:
    """WCAG 2 contrast ratio of two relative luminances."""
    light, dark = max(first, second), min(first, second)
    return (light + 0.05) / (dark + 0.05)


def _metadata(fmt: str) -> dict[str, Any]:
    """No creation dates, so the same figure gives the same file."""
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None}
    if fmt == "svg":
        return {"Date": None}
    return {}
