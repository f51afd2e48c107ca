"""Write a ``Table`` as CSV, Markdown, HTML, LaTeX or Word (.docx).

Every writer prints the same display strings (``Table.frame``), the title and the footnotes,
so a number reads identically in every format.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Callable
from pathlib import Path

from cohortcalc.errors import CohortcalcError
from cohortcalc.reporting.table import Table
from cohortcalc.reporting.word import LANDSCAPE_TEXT_PT, PORTRAIT_TEXT_PT, layout, write_word

FORMATS = {".csv": "csv", ".md": "markdown", ".html": "html", ".tex": "latex", ".docx": "docx"}


def render_table(table: Table, fmt: str) -> str:
    """The table as text: ``fmt`` is "csv", "markdown", "html" or "latex"."""
    renderers: dict[str, Callable[[Table], str]] = {
        "csv": _csv,
        "markdown": _markdown,
        "html": _html,
        "latex": _latex,
    }
    if fmt not in renderers:
        raise CohortcalcError(f"unknown text format {fmt!r}; use one of {sorted(renderers)}.")
    return renderers[fmt](table)


def export_table(table: Table, path: str | Path) -> Path:
    """Write ``table`` to ``path``; the suffix chooses the format (.csv .md .html .tex .docx)."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise CohortcalcError(
            f"{path}: unknown table format {path.suffix!r}; use one of {sorted(FORMATS)}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "docx":
        write_word([table], path)
    else:
        path.write_text(render_table(table, fmt), encoding="utf-8")
    return path


_NUMERIC = re.compile(r"^(|[<>]?[−\-–]?[\d,.]+.*|—|\[c\]|1\.00 \(reference\))$")


def text_columns(table: Table) -> set[int]:
    """Positions of the columns (after the first) holding words, not numbers: left-aligned."""
    columns = set()
    for position, name in enumerate(table.frame.columns):
        cells = [str(v) for v in table.frame[name]]
        if position and not all(_NUMERIC.match(c) for c in cells):
            columns.add(position)
    return columns


def header_text(name: object) -> str:
    """A column header with "(95% CI)" kept on one line."""
    return str(name).replace("95% CI", "95%\u00a0CI")


def _rows(table: Table) -> list[list[str]]:
    return [[str(v) for v in row] for row in table.frame.itertuples(index=False)]


def _indent(label: str) -> tuple[int, str]:
    """A row label's indent level (two leading spaces each, e.g. a category's levels) and text."""
    stripped = label.lstrip(" ")
    return (len(label) - len(stripped)) // 2, stripped


def _csv(table: Table) -> str:
    """Header and rows as RFC 4180 CSV, nothing else: the title and footnotes live in the
    display formats (a comment line is not CSV and breaks R's read.csv)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(table.frame.columns))
    writer.writerows(_rows(table))
    return buffer.getvalue()


def _markdown(table: Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    header = [cell(str(c)) for c in table.frame.columns]
    lines = [f"**{cell(table.title)}**", "", "| " + " | ".join(header) + " |"]
    aligns = ["---"] + ["--:"] * (len(header) - 1)
    lines.append("| " + " | ".join(aligns) + " |")
    groups = set(table.group_rows)
    for i, (first, *rest) in enumerate(_rows(table)):
        level, label = _indent(first)
        label = f"**{cell(label)}**" if i in groups else cell(label)
        row = ["\u00a0" * (3 * level) + label, *(cell(v) if v else " " for v in rest)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.extend(f"{i}. {note}" for i, note in enumerate(table.footnotes, start=1))
    return "\n".join(lines) + "\n"


def _html(table: Table) -> str:
    esc = html.escape
    out = ['<table class="cohortcalc-table">', f"  <caption>{esc(table.title)}</caption>"]
    out.append("  <thead>")
    header = "".join(f"<th>{esc(header_text(c))}</th>" for c in table.frame.columns)
    words = text_columns(table)
    out.append(f"    <tr>{header}</tr>")
    out.append("  </thead>")
    out.append("  <tbody>")
    groups = set(table.group_rows)
    for i, row in enumerate(_rows(table)):
        level, label = _indent(row[0])
        style = f' style="padding-left:{1.5 * level:g}em"' if level else ""
        style += ' class="group"' if i in groups else ""
        cells = [f'<th scope="row"{style}>{esc(label)}</th>'] + [
            f'<td class="text">{esc(v)}</td>' if i in words else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row[1:], start=1)
        ]
        out.append("    <tr>" + "".join(cells) + "</tr>")
    out.append("  </tbody>")
    if table.footnotes:
        span = len(table.frame.columns)
        out.append("  <tfoot>")
        for note in table.footnotes:
            out.append(f'    <tr><td colspan="{span}">{esc(note)}</td></tr>')
        out.append("  </tfoot>")
    out.append("</table>")
    return "\n".join(out) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "–": "--",
    "—": "---",
    "±": r"$\pm$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "²": r"\textsuperscript{2}",
    '"': r"\textquotedbl{}",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX special characters escaped (and a few symbols as math)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex(table: Table) -> str:
    """A booktabs table float (needs ``booktabs``; a table too wide for a portrait text block
    is a ``sidewaystable`` from ``rotating``, scaled down by ``graphicx`` if wider still)."""
    columns = list(table.frame.columns)
    words = text_columns(table)
    spec = "l" + "".join("l" if i in words else "c" for i in range(1, len(columns)))
    landscape, size, widths = layout(table)
    environment = "sidewaystable" if landscape else "table"
    block = LANDSCAPE_TEXT_PT if landscape else PORTRAIT_TEXT_PT
    scale = sum(widths) * 8.0 / size > block  # measured at ``size`` pt; \footnotesize is 8 pt
    groups = set(table.group_rows)
    lines = [
        "% needs \\usepackage{booktabs}" + (", rotating, graphicx" if landscape else ""),
        rf"\begin{{{environment}}}" + ("" if landscape else "[htbp]"),
        r"\centering",
        r"\footnotesize",
        rf"\caption{{{latex_escape(table.title)}}}",
        *([r"\resizebox{\linewidth}{!}{%"] if scale else []),
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(str(c)) for c in columns) + r" \\",
        r"\midrule",
    ]
    for i, (first, *rest) in enumerate(_rows(table)):
        level, label = _indent(first)
        text = latex_escape(label)
        text = rf"\textbf{{{text}}}" if i in groups else text
        row = [r"\quad " * level + text, *(latex_escape(v) for v in rest)]
        lines.append(" & ".join(row) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}" + ("}" if scale else ""))
    if table.footnotes:
        lines.append(r"\par\smallskip")
        lines.append(r"\begin{minipage}{\linewidth}\scriptsize")
        lines.extend(latex_escape(note) + r"\par" for note in table.footnotes)
        lines.append(r"\end{minipage}")
    lines.append(rf"\end{{{environment}}}")
    return "\n".join(lines) + "\n"
