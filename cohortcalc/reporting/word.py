"""Word (.docx) tables as journals print them: three horizontal rules (above and below the
header, below the body; no vertical lines), columns sized to their content, the first column
left-aligned with indented levels under bold group labels, the title above and the footnotes
below as paragraphs, and a landscape section for a table too wide for a portrait page.

Column widths are measured with the metrics of DejaVu Sans (bundled with matplotlib), which is
wider than the Arial/Liberation Sans the document asks for, so a width that fits the measured
text also fits the printed text: no number, "HR (95% CI)" or word breaks across lines.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from cohortcalc.reporting.table import Table

FONT = "Arial"
BODY_PT = 9.0
NOTE_PT = 8.0
CELL_PADDING_PT = 10.8  # Word's default left + right cell margins (0.075 in each)
PORTRAIT_TEXT_PT = 6.5 * 72  # US Letter / A4 with 1-inch margins
LANDSCAPE_TEXT_PT = 9.0 * 72
LABEL_MAX_PT = 2.6 * 72  # longer first-column labels wrap at spaces
TEXT_MAX_PT = 1.0 * 72  # so do longer texts in other text columns
INDENT_PT = 9.0
NBSP = "\u00a0"


@lru_cache(maxsize=2)
def _font(bold: bool) -> Any:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold" if bold else "normal")
    )
    return FT2Font(path)


def text_width_pt(text: str, size_pt: float = BODY_PT, bold: bool = False) -> float:
    """Width of ``text`` set in ``size_pt`` points: the sum of the glyph advances of DejaVu
    Sans (no kerning, so never less than the set width)."""
    return size_pt * sum(_advance(ch, bold) for ch in text.replace(NBSP, " "))


@lru_cache(maxsize=4096)
def _advance(char: str, bold: bool) -> float:
    """A glyph's advance width per point of type size."""
    font = _font(bold)
    font.set_size(100.0, 72)
    font.set_text(char, 0.0)
    return font.get_width_height()[0] / 64.0 / 100.0 if char != " " else _space(bold)


def _space(bold: bool) -> float:
    font = _font(bold)
    font.set_size(100.0, 72)
    font.set_text("x x", 0.0)
    wide = font.get_width_height()[0]
    font.set_text("xx", 0.0)
    return (wide - font.get_width_height()[0]) / 64.0 / 100.0


def _export() -> Any:
    from cohortcalc.reporting import export

    return export


def text_columns(table: Table) -> set[int]:
    """The columns holding words (see ``export.text_columns``)."""
    return _export().text_columns(table)


def header_text(name: object) -> str:
    """A header with "(95% CI)" unbroken (see ``export.header_text``)."""
    return _export().header_text(name)


def _longest_word(text: str, size_pt: float, bold: bool) -> float:
    return max((text_width_pt(w, size_pt, bold) for w in text.split(" ")), default=0.0)


def column_widths_pt(table: Table, size_pt: float = BODY_PT) -> list[float]:
    """Each column's width: data cells never break (numbers and intervals are one unit), the
    label column wraps only between words beyond ``LABEL_MAX_PT``, headers wrap between words."""
    widths = []
    rows = [[str(v) for v in row] for row in table.frame.itertuples(index=False)]
    groups = set(table.group_rows)
    words = text_columns(table)
    for position, header in enumerate(table.frame.columns):
        title = header_text(header)
        full = text_width_pt(title, size_pt, bold=True)
        head = max(_longest_word(title, size_pt, bold=True), 0.55 * full)  # at most ~2 lines
        if position == 0 or position in words:
            bold = [i in groups and position == 0 for i in range(len(rows))]
            cells = [_label_width(r[position], b, size_pt) for r, b in zip(rows, bold, strict=True)]
            floor = [_label_floor(r[position], b, size_pt) for r, b in zip(rows, bold, strict=True)]
            many = len(table.frame.columns) > 8
            cap = LABEL_MAX_PT if position == 0 and not many else TEXT_MAX_PT
            body = max(min(max(cells, default=0.0), cap), max(floor, default=0.0))
        else:
            body = max((text_width_pt(r[position], size_pt) for r in rows), default=0.0)
        widths.append(max(body, head) + CELL_PADDING_PT + 1.0)
    return widths


def _label_width(label: str, bold: bool, size_pt: float) -> float:
    level, text = split_indent(label)
    return INDENT_PT * level + text_width_pt(text, size_pt, bold)


def _label_floor(label: str, bold: bool, size_pt: float) -> float:
    level, text = split_indent(label)
    return INDENT_PT * level + _longest_word(text, size_pt, bold)


def split_indent(label: str) -> tuple[int, str]:
    """A row label's indent level (two leading spaces each) and its text."""
    stripped = label.lstrip(" ")
    return (len(label) - len(stripped)) // 2, stripped


def layout(table: Table) -> tuple[bool, float, list[float]]:
    """(landscape, font size, column widths in points) that fit the table on a page: portrait
    at 9 then 8 pt, else landscape at 9, 8, then 7 pt; wider still, landscape at 7 pt with the
    columns scaled to the page (the only case where a cell wraps)."""
    tries = [(False, BODY_PT), (False, 8.0), (True, BODY_PT), (True, 8.0), (True, 7.0)]
    for landscape, size in tries:
        widths = column_widths_pt(table, size)
        if sum(widths) <= (LANDSCAPE_TEXT_PT if landscape else PORTRAIT_TEXT_PT):
            return landscape, size, widths
    scale = LANDSCAPE_TEXT_PT / sum(widths)  # too wide for any page: cells must wrap
    return True, 7.0, [w * scale for w in widths]


def word_document(tables: Sequence[Table]) -> Any:
    """One Word document holding ``tables`` in order, each in its own portrait or landscape
    section (a new page per table)."""
    from docx import Document
    from docx.enum.section import WD_SECTION

    document = Document()
    _base_style(document)
    for index, table in enumerate(tables):
        landscape, size, widths = layout(table)
        new = index > 0
        section = document.add_section(WD_SECTION.NEW_PAGE) if new else document.sections[0]
        _orient(section, landscape)
        _add_table(document, table, size, widths)
    return document


def write_word(tables: Sequence[Table], path: str | Path) -> Path:
    """Save ``word_document(tables)`` to ``path``, byte-identical for the same tables (the
    zip entries get a fixed date instead of the clock's)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    word_document(tables).save(buffer)
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, source.read(entry.filename))
    return path


def _base_style(document: Any) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    style = document.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(BODY_PT)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    style.paragraph_format.space_after = Pt(0)
    for section in document.sections:
        _orient(section, False)


def _orient(section: Any, landscape: bool) -> None:
    from docx.enum.section import WD_ORIENT
    from docx.shared import Inches

    short, long = Inches(8.5), Inches(11)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (long, short) if landscape else (short, long)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Inches(1))


def _add_table(document: Any, table: Table, size: float, widths: list[float]) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    title = document.add_paragraph()
    title.paragraph_format.space_after = Pt(6)
    title.paragraph_format.keep_with_next = True
    title.add_run(table.title).bold = True
    columns = list(table.frame.columns)
    rows = [[str(v) for v in row] for row in table.frame.itertuples(index=False)]
    grid = document.add_table(rows=1 + len(rows), cols=len(columns))
    grid.alignment = WD_TABLE_ALIGNMENT.LEFT
    grid.autofit = False
    _fixed_layout(grid, widths)
    groups = set(table.group_rows)
    words = text_columns(table)
    for position, name in enumerate(columns):
        cell = grid.rows[0].cells[position]
        left = position == 0 or position in words
        _write(cell, header_text(name), size, bold=True, left=left)
    for i, values in enumerate(rows, start=1):
        cells = grid.rows[i].cells
        level, label = split_indent(values[0])
        _write(cells[0], label, size, bold=(i - 1) in groups, left=True)
        cells[0].paragraphs[0].paragraph_format.left_indent = Pt(INDENT_PT * level)
        for position, value in enumerate(values[1:], start=1):
            if position in words:  # words wrap between words, left-aligned
                _write(cells[position], value, size, bold=False, left=True)
            else:  # a number or an interval never breaks
                _write(cells[position], value.replace(" ", NBSP), size, bold=False, left=False)
    for index, row in enumerate(grid.rows):
        _keep_row_together(row, header=index == 0)
    _rules(grid, len(columns))
    for note in table.footnotes:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_before = Pt(2)
        paragraph.add_run(note).font.size = Pt(NOTE_PT)
    document.add_paragraph().alignment = WD_ALIGN_PARAGRAPH.LEFT


def _write(cell: Any, text: str, size: float, bold: bool, left: bool) -> None:
    from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    paragraph = cell.paragraphs[0]
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)
    paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT if left else WD_ALIGN_PARAGRAPH.CENTER
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.BOTTOM


def _fixed_layout(grid: Any, widths: list[float]) -> None:
    """Fixed layout with explicit grid and cell widths (Word honours tcW only with both)."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    properties = grid._tbl.tblPr
    fixed = OxmlElement("w:tblLayout")
    fixed.set(qn("w:type"), "fixed")
    properties.append(fixed)
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = Pt(width)
        for cell in column.cells:
            cell.width = Pt(width)


def _keep_row_together(row: Any, header: bool = False) -> None:
    """A row never splits across pages; the header row repeats on every page."""
    from docx.oxml import OxmlElement

    properties = row._tr.get_or_add_trPr()
    properties.append(OxmlElement("w:cantSplit"))
    if header:
        properties.append(OxmlElement("w:tblHeader"))


def _rules(grid: Any, n_columns: int) -> None:
    """The three rules: heavy above the header, light below it, heavy below the body."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    properties = grid._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        element = OxmlElement(f"w:{edge}")
        if edge in ("top", "bottom"):
            element.set(qn("w:val"), "single")
            element.set(qn("w:sz"), "12")  # eighths of a point: 1.5 pt
            element.set(qn("w:space"), "0")
            element.set(qn("w:color"), "000000")
        else:
            element.set(qn("w:val"), "nil")
        borders.append(element)
    properties.append(borders)
    for cell in grid.rows[0].cells[:n_columns]:
        cell_borders = OxmlElement("w:tcBorders")
        bottom = OxmlElement("w:bottom")
        for key, value in (("val", "single"), ("sz", "6"), ("space", "0"), ("color", "000000")):
            bottom.set(qn(f"w:{key}"), value)
        cell_borders.append(bottom)
        cell._tc.get_or_add_tcPr().append(cell_borders)
