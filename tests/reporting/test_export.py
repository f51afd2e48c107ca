"""Exports parse back to the same cells in every format."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest
from docx import Document

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.export import export_table, latex_escape, render_table
from cohortcalc.reporting.suppression import suppress_small_cells
from cohortcalc.reporting.table_one import table_one
from cohortcalc.reporting.tables import hr_table


@pytest.fixture(scope="module")
def table(cohort, fake_models):
    built = hr_table(
        cohort, models=fake_models, time="mi_years", event="mi_status",
        p_trend={"Model 1": 1e-6, "Model 2": 0.04},
    )  # fmt: skip
    return suppress_small_cells(built)


def _cells(table) -> list[list[str]]:
    return [[str(v) for v in row] for row in table.frame.itertuples(index=False)]


def test_csv_round_trip(table):
    text = render_table(table, "csv")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(table.frame.columns)
    assert parsed[1:] == _cells(table)  # nothing else: footnotes live in the display formats
    assert not any(line.startswith("#") for line in text.splitlines())


def test_markdown_is_a_pipe_table(table):
    text = render_table(table, "markdown")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == len(table.frame) + 2
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in rows}
    assert widths == {len(table.frame.columns) + 1}
    assert "<0.001" in text and table.title in text


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.stack: list[str] = []
        self.caption = ""

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("td", "th"):
            self.rows[-1][-1] += data
        elif self.stack and self.stack[-1] == "caption":
            self.caption += data


def test_html_parses_to_the_same_cells(table):
    parser = _Cells()
    parser.feed(render_table(table, "html"))
    parser.close()
    assert parser.stack == []
    assert parser.caption == table.title
    assert [c.replace("\u00a0", " ") for c in parser.rows[0]] == list(table.frame.columns)
    assert parser.rows[1 : 1 + len(table.frame)] == _cells(table)
    assert [r[0] for r in parser.rows[1 + len(table.frame) :]] == list(table.footnotes)


def _balanced_braces(text: str) -> bool:
    depth = 0
    for match in re.finditer(r"\\[{}]|[{}]", text):
        token = match.group()
        if token.startswith("\\"):
            continue
        depth += 1 if token == "{" else -1
        if depth < 0:
            return False
    return depth == 0


def test_latex_balances_and_escapes(table):
    text = render_table(table, "latex")
    assert _balanced_braces(text)
    environments = re.findall(r"\\(begin|end)\{(\w+)\}", text)
    stack = []
    for kind, name in environments:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack.pop() == name
    assert stack == []
    body = text.split(r"\midrule")[1].split(r"\bottomrule")[0]
    for line in body.strip().splitlines():
        assert len(re.findall(r"(?<!\\)&", line)) == len(table.frame.columns) - 1
    body_text = "\n".join(line for line in text.splitlines() if not line.startswith("% "))
    outside_math = re.sub(r"\$\\[a-z]+\$", "", body_text)
    assert re.search(r"(?<!\\)[%_#$]", outside_math) is None
    assert r"\textless{}0.001" in text and "--" in text


def test_latex_escape_specials():
    assert (
        latex_escape("a_b & 50% <11 {x} ~") == r"a\_b \& 50\% \textless{}11 \{x\} \textasciitilde{}"
    )


def test_docx_opens_with_python_docx(table, tmp_path):
    path = export_table(table, tmp_path / "hr.docx")
    document = Document(str(path))
    assert len(document.tables) == 1
    grid = document.tables[0]
    unbroken = [c.text.replace("\u00a0", " ") for c in grid.rows[0].cells]
    assert unbroken == list(table.frame.columns)
    cells = [[c.text.replace("\u00a0", " ") for c in row.cells] for row in grid.rows[1:]]
    assert cells == _cells(table)
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == table.title
    assert all(note in texts for note in table.footnotes)


def test_every_suffix_writes_a_file(table, tmp_path):
    for suffix in (".csv", ".md", ".html", ".tex", ".docx"):
        path = export_table(table, tmp_path / f"t{suffix}")
        assert path.stat().st_size > 200
    with pytest.raises(CohortcalcError, match="unknown table format"):
        export_table(table, tmp_path / "t.xls")


def test_category_levels_stay_indented_in_every_format(cohort, tmp_path):
    table = table_one(cohort, variables=["smoking"])
    level_row = list(table.frame["Characteristic"]).index("  Never")
    assert "\u00a0\u00a0\u00a0Never |" in render_table(table, "markdown")
    assert '<th scope="row" style="padding-left:1.5em">Never</th>' in render_table(table, "html")
    assert r"\quad Never &" in render_table(table, "latex")
    document = Document(str(export_table(table, tmp_path / "t1.docx")))
    cell = document.tables[0].rows[1 + level_row].cells[0]
    assert cell.text == "Never"
    assert cell.paragraphs[0].paragraph_format.left_indent.pt == 9


def test_csv_reads_back_with_pandas(table, tmp_path):
    import pandas as pd

    path = export_table(table, tmp_path / "hr.csv")
    frame = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    assert frame.equals(table.frame.astype(str))
