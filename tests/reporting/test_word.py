"""Word tables as journals print them, checked in the document's XML."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from matplotlib import font_manager
from PIL import ImageFont

from cohortcalc.reporting.export import export_table
from cohortcalc.reporting.table_one import table_one
from cohortcalc.reporting.tables import hr_table
from cohortcalc.reporting.word import CELL_PADDING_PT, write_word


@pytest.fixture(scope="module")
def by_ckd(cohort, fake_models):
    fits = {name: {True: fit, False: fit} for name, fit in fake_models.items()}
    return hr_table(
        cohort, models=fits, time="mi_years", event="mi_status", modifier="ckd",
        p_trend={name: {True: 0.01, False: 0.2} for name in fits},
        interaction_p=dict.fromkeys(fits, 0.03),
    )  # fmt: skip


def _border(element, edge: str) -> str | None:
    found = element.find(qn(f"w:{edge}"))
    return None if found is None else found.get(qn("w:val"))


def test_three_rules_and_no_vertical_lines(by_ckd, tmp_path):
    document = Document(str(export_table(by_ckd, tmp_path / "t.docx")))
    grid = document.tables[0]
    assert grid.style is None or grid.style.name != "Table Grid"
    borders = grid._tbl.tblPr.find(qn("w:tblBorders"))
    assert _border(borders, "top") == "single" and _border(borders, "bottom") == "single"
    for edge in ("left", "right", "insideV", "insideH"):
        assert _border(borders, edge) == "nil"
    for cell in grid.rows[0].cells:  # the rule under the header
        assert _border(cell._tc.tcPr.find(qn("w:tcBorders")), "bottom") == "single"
    for row in grid.rows[1:]:
        for cell in row.cells:
            assert cell._tc.tcPr.find(qn("w:tcBorders")) is None


def test_title_above_footnotes_below_group_rows_bold_levels_indented(by_ckd, tmp_path):
    document = Document(str(export_table(by_ckd, tmp_path / "t.docx")))
    body = list(document.element.body.iterchildren())
    kinds = [child.tag.split("}")[1] for child in body]
    table_at = kinds.index("tbl")
    assert body[0].xpath("string(.)") == by_ckd.title and table_at == 1
    after = [p.xpath("string(.)") for p in body[table_at + 1 :] if p.tag.endswith("}p")]
    assert all(note in after for note in by_ckd.footnotes)
    grid = document.tables[0]
    heading = grid.rows[1].cells[0].paragraphs[0]
    assert heading.text.startswith("With CKD (n = ") and heading.runs[0].bold
    level = grid.rows[2].cells[0].paragraphs[0]
    assert level.text == "0" and level.paragraph_format.left_indent.pt == 9
    assert not level.runs[0].bold
    assert level.alignment == WD_ALIGN_PARAGRAPH.LEFT
    assert grid.rows[2].cells[5].paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.CENTER


def test_columns_are_wide_enough_that_nothing_breaks(by_ckd, tmp_path):
    # measured again with Pillow's FreeType (not the code's FT2Font); the cells of a column
    # must fit its width less Word's cell margins, so no number or interval wraps
    document = Document(str(export_table(by_ckd, tmp_path / "t.docx")))
    grid = document.tables[0]
    assert grid._tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
    regular = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    for position, column in enumerate(grid.columns):
        width_pt = column.width.pt
        for row in grid.rows[1:]:
            cell = row.cells[position]
            assert cell.width.pt == pytest.approx(width_pt, abs=0.05)
            paragraph = cell.paragraphs[0]
            if position == 0 or not paragraph.text:
                continue  # labels may wrap between words
            size = paragraph.runs[0].font.size.pt
            font = ImageFont.truetype(regular, size=int(size * 100))
            needed = font.getlength(paragraph.text.replace("\u00a0", " ")) / 100
            assert needed <= width_pt - CELL_PADDING_PT, paragraph.text
            assert " " not in paragraph.text  # non-breaking spaces inside "1.98 (1.54–2.55)"


def test_one_document_per_run_with_landscape_sections_for_wide_tables(cohort, by_ckd, tmp_path):
    narrow = table_one(cohort, variables=["age", "sex"], overall=False)
    wide = table_one(cohort, variables=["age", "sex", "race_ethnicity"], compare="both")
    extra = {f"Extra column {i}": "123,456 (78.9%)" for i in range(2)}
    wide = type(wide)(wide.title, wide.frame.assign(**extra), wide.footnotes, wide.values)
    path = write_word([narrow, by_ckd, wide], tmp_path / "all.docx")
    document = Document(str(path))
    assert [t.rows[0].cells[0].text for t in document.tables] == [
        "Characteristic",
        by_ckd.frame.columns[0],
        "Characteristic",
    ]
    orientation = [s.orientation for s in document.sections]
    assert orientation[0] == WD_ORIENT.PORTRAIT and orientation[-1] == WD_ORIENT.LANDSCAPE
    widest = document.sections[-1]
    assert widest.page_width > widest.page_height
    text_width = (widest.page_width - widest.left_margin - widest.right_margin) / 12700
    assert sum(c.width.pt for c in document.tables[-1].columns) <= text_width + 0.5


def test_the_headline_spec_asks_for_word_and_latex():
    import yaml

    for path in ("analyses/cac_mi_ckd.yaml", "cohortcalc/analyses/cac_mi_ckd.yaml"):
        spec = yaml.safe_load(Path(path).read_text())
        assert {"docx", "tex"} <= set(spec["outputs"]["table_formats"])
        assert "pdf" in spec["outputs"]["figure_formats"]


def test_the_same_tables_give_the_same_bytes(by_ckd, tmp_path, monkeypatch):
    import time

    first = write_word([by_ckd], tmp_path / "a.docx").read_bytes()
    later = time.struct_time((2031, 7, 1, 12, 30, 0, 1, 182, 0))  # another day: zip dates
    monkeypatch.setattr(time, "localtime", lambda *args: later)
    assert write_word([by_ckd], tmp_path / "b.docx").read_bytes() == first
